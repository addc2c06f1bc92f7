"""The board report: top risks, their scenarios, the plan and the trend, as Markdown or HTML.

Self-contained: the HTML has its styles inline and draws the trend as inline SVG, so it can be
mailed or archived as one file. Every figure comes from the assessment and plan documents.
"""

from __future__ import annotations

from html import escape
from typing import Any

from sqlalchemy.orm import Session

from panacea.risk.assessment import AssessmentOptions
from panacea.risk.planning import plan_document, plan_organisation
from panacea.risk.service import assess_and_record
from panacea.risk.snapshot import RiskSnapshot, list_snapshots


def board_report(
    session: Session,
    organisation_id: int,
    organisation: str,
    options: AssessmentOptions,
    *,
    budget: float,
    html: bool,
) -> str:
    """Assess (storing a snapshot), plan within ``budget``, and render the board report."""
    assessment = assess_and_record(session, organisation_id, options).document
    plan = plan_document(
        plan_organisation(session, organisation_id, options, budget=budget),
        organisation=organisation,
        options=options,
        budget=budget,
    )
    snapshots = list_snapshots(session, organisation_id)
    render = html_report if html else markdown_report
    return render(organisation, assessment, plan, snapshots)


def _money(value: float) -> str:
    return f"{value:,.0f}"


def _trend_points(snapshots: list[RiskSnapshot]) -> list[tuple[str, float]]:
    return [(s.generated_at.date().isoformat(), s.total_expected_loss) for s in snapshots]


def markdown_report(
    organisation: str,
    assessment: dict[str, Any],
    plan: dict[str, Any],
    snapshots: list[RiskSnapshot],
) -> str:
    """The report as Markdown."""
    lines = [
        f"# Cyber risk to clinical services: {organisation}",
        "",
        f"Assessed {assessment['generated_at']} for attacker profiles "
        f"{', '.join(assessment['entries'])}; probabilities over one year "
        f"({assessment['trials']} simulated scenarios).",
        "",
        f"Expected annual loss: **{_money(assessment['total_expected_loss'])}**.",
        "",
        "## Top risks",
        "",
        "| service | patient safety | risk class | probability | expected loss |",
        "|---|---|---|---|---|",
    ]
    for s in assessment["services"]:
        lines.append(
            f"| {s['name']} | {s['patient_safety']} | {s['risk_class']} | "
            f"{s['probability']:.2f} | {_money(s['expected_loss'])} |"
        )
    lines += ["", "## How the top services would be attacked", ""]
    for s in assessment["services"][:3]:
        lines.append(f"### {s['name']}")
        for path in s["top_paths"][:1]:
            lines.append(f"All steps succeed with probability {path['probability']:.2f}:")
            lines += [f"{i}. {step['text']}" for i, step in enumerate(path["steps"], 1)]
        lines.append("")
    lines += [
        "## The plan",
        "",
        f"{len(plan['mitigations'])} measures costing {_money(plan['total_cost'])} lower the "
        f"expected annual loss from {_money(plan['risk_before'])} to "
        f"{_money(plan['risk_after'])}.",
        "",
        "| # | measure | target | cost |",
        "|---|---|---|---|",
    ]
    for i, m in enumerate(plan["mitigations"], 1):
        lines.append(f"| {i} | {m['kind']} | {m['target']} | {_money(m['cost'])} |")
    lines += ["", "## Trend", "", "| date | expected annual loss |", "|---|---|"]
    lines += [f"| {day} | {_money(loss)} |" for day, loss in _trend_points(snapshots)]
    return "\n".join(lines) + "\n"


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;color:#1a1a1a}"
    "table{border-collapse:collapse;width:100%}td,th{border:1px solid #999;padding:.3rem .5rem;"
    "text-align:left}.critical{font-weight:bold;text-decoration:underline}"
)


def _svg_trend(points: list[tuple[str, float]]) -> str:
    if len(points) < 2:
        return ""
    top = max(loss for _, loss in points) or 1.0
    step = 560 / (len(points) - 1)
    coords = " ".join(
        f"{20 + i * step:.1f},{180 - 160 * loss / top:.1f}" for i, (_, loss) in enumerate(points)
    )
    return (
        '<svg role="img" aria-label="expected annual loss over time" width="600" height="200">'
        f'<polyline fill="none" stroke="#1f4e9c" stroke-width="3" points="{coords}"/></svg>'
    )


def html_report(
    organisation: str,
    assessment: dict[str, Any],
    plan: dict[str, Any],
    snapshots: list[RiskSnapshot],
) -> str:
    """The report as one self-contained HTML page (the Markdown's content, and a trend chart)."""
    rows = "".join(
        f"<tr><td>{escape(s['name'])}</td><td>{escape(s['patient_safety'])}</td>"
        f'<td class="{escape(s["risk_class"])}">{escape(s["risk_class"])}</td>'
        f"<td>{s['probability']:.2f}</td><td>{_money(s['expected_loss'])}</td></tr>"
        for s in assessment["services"]
    )
    scenarios = "".join(
        f"<h3>{escape(s['name'])}</h3><p>All steps succeed with probability "
        f"{path['probability']:.2f}:</p><ol>"
        + "".join(f"<li>{escape(step['text'])}</li>" for step in path["steps"])
        + "</ol>"
        for s in assessment["services"][:3]
        for path in s["top_paths"][:1]
    )
    measures = "".join(
        f"<tr><td>{i}</td><td>{escape(m['kind'])}</td><td>{escape(str(m['target']))}</td>"
        f"<td>{_money(m['cost'])}</td></tr>"
        for i, m in enumerate(plan["mitigations"], 1)
    )
    trend = _trend_points(snapshots)
    trend_rows = "".join(f"<tr><td>{d}</td><td>{_money(v)}</td></tr>" for d, v in trend)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Cyber risk: '
        f"{escape(organisation)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>Cyber risk to clinical services: {escape(organisation)}</h1>"
        f"<p>Assessed {escape(assessment['generated_at'])}; attacker profiles "
        f"{escape(', '.join(assessment['entries']))}; expected annual loss "
        f"<strong>{_money(assessment['total_expected_loss'])}</strong>.</p>"
        "<h2>Top risks</h2><table><tr><th>service</th><th>patient safety</th><th>risk class</th>"
        f"<th>probability</th><th>expected loss</th></tr>{rows}</table>"
        f"<h2>How the top services would be attacked</h2>{scenarios}"
        f"<h2>The plan</h2><p>{len(plan['mitigations'])} measures costing "
        f"{_money(plan['total_cost'])} lower the expected annual loss from "
        f"{_money(plan['risk_before'])} to {_money(plan['risk_after'])}.</p>"
        "<table><tr><th>#</th><th>measure</th><th>target</th><th>cost</th></tr>"
        f"{measures}</table><h2>Trend</h2>{_svg_trend(trend)}"
        "<table><tr><th>date</th><th>expected annual loss</th></tr>"
        f"{trend_rows}</table></body></html>\n"
    )
