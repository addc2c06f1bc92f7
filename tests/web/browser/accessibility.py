"""axe-core (through axe-playwright-python) on the page as it is: serious and critical findings.

axe's impacts are minor, moderate, serious and critical; the acceptance bar is "no serious or
critical violation". Failures print every offending rule with its nodes and axe's help link,
so the fix can be made from the CI log alone.
"""

from __future__ import annotations

from typing import Any

from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from playwright.sync_api import Page

BLOCKING = frozenset({"serious", "critical"})
_AXE = Axe()


def blocking_violations(page: Page) -> list[dict[str, Any]]:
    """axe's violations of impact serious or critical on the page's current DOM."""
    results = _AXE.run(page)
    violations: list[dict[str, Any]] = results.response["violations"]
    return [v for v in violations if v.get("impact") in BLOCKING]


def describe(violations: list[dict[str, Any]]) -> str:
    """One paragraph per violation: rule, impact, help, link, then each node's target and HTML."""
    lines: list[str] = []
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']} <{v['helpUrl']}>")
        for node in v["nodes"][:10]:
            target = " ".join(str(t) for t in node["target"])
            lines.append(f"    {target}: {node['html'][:200]}")
            summary = node.get("failureSummary", "").replace("\n", " ")
            if summary:
                lines.append(f"      {summary[:300]}")
        if len(v["nodes"]) > 10:
            lines.append(f"    ... and {len(v['nodes']) - 10} more nodes")
    return "\n".join(lines)
