"""Scenarios as readable steps: what, where, which CVE, how likely, on what evidence."""

from __future__ import annotations

from dataclasses import dataclass

from panacea.risk.attack_graph import AttackGraph, NodeKind
from panacea.risk.inputs import EvidenceRecord, IntelRecord, RiskInputs
from panacea.risk.paths import Scenario

_ACTIONS = {
    NodeKind.ENTRY: "entry",
    NodeKind.EXPLOIT: "exploit",
    NodeKind.PHISH: "phish",
    NodeKind.HUMAN: "lure",
    NodeKind.LOGON: "logon",
    NodeKind.HARVEST: "steal_credentials",
}


@dataclass(frozen=True)
class Step:
    action: str
    asset: str | None
    asset_id: int | None
    cve: str | None
    account: str | None
    probability: float
    evidence: str
    text: str
    # an exploit's other flaws: the findings on the asset with the same way in and effects,
    # of which ``cve`` is the likeliest (any one of them is enough)
    other_cves: tuple[str, ...] = ()


# other flaws of an exploit named in its evidence text (all are in ``Step.other_cves``)
_NAMED_OTHERS = 3


@dataclass(frozen=True)
class ExplainedScenario:
    probability: float
    steps: tuple[Step, ...]


class Explainer:
    """Turns scenario node lists into steps, with the evidence behind each one."""

    def __init__(self, graph: AttackGraph, inputs: RiskInputs) -> None:
        self.graph = graph
        self.assets = {a.id: a.name for a in inputs.assets}
        self.findings = {f.id: f for f in inputs.findings}
        self.vulnerabilities = inputs.vulnerabilities
        self.intel = inputs.intel
        self.reported: dict[int, list[EvidenceRecord]] = {}
        for record in inputs.evidence:
            self.reported.setdefault(record.asset, []).append(record)

    def scenario(self, scenario: Scenario) -> ExplainedScenario:
        return ExplainedScenario(
            scenario.probability, tuple(self.step(n) for n in scenario.actions)
        )

    def step(self, node: int) -> Step:
        g = self.graph
        kind = NodeKind(int(g.kind[node]))
        asset_id = int(g.asset_of[node]) if g.asset_of[node] >= 0 else None
        asset = self.assets.get(asset_id) if asset_id is not None else None
        lead = g.exploits.lead(node)
        cve = None if lead is None else self.findings[lead].cve
        parts = g.labels[node].split(":")
        account = parts[1] if kind in {NodeKind.LOGON, NodeKind.HARVEST} else None
        evidence = self._evidence(lead)
        p = float(g.probability[node])
        reported = self.reported.get(asset_id, []) if asset_id is not None else []
        if kind is NodeKind.CODE_EXEC_USER and reported and g.need[node] == 0:
            # a node pinned by evidence: the compromise is reported, not derived
            evidence = "; ".join(_cited_indicator(r) for r in reported)
            return Step(
                "reported_compromise",
                asset,
                asset_id,
                None,
                None,
                p,
                evidence,
                f"{asset} reported compromised ({evidence})",
            )
        others = self._other_cves(node, cve) if lead is not None else ()
        if others:
            named = ", ".join(others[:_NAMED_OTHERS])
            more = len(others) - _NAMED_OTHERS
            evidence += f"; or {named}" + (f" (+{more} more)" if more > 0 else "")
        return Step(
            _ACTIONS.get(kind, kind.name.lower()),
            asset,
            asset_id,
            cve,
            account,
            p,
            evidence,
            self._text(kind, asset, cve, account, g.entry_of.get(node), evidence),
            others,
        )

    def _other_cves(self, node: int, cve: str | None) -> tuple[str, ...]:
        """The CVEs of the exploit's other findings, in order of first finding."""
        cves = [self.findings[f].cve for f in self.graph.exploits.of(node).tolist()]
        return tuple(c for c in dict.fromkeys(cves) if c != cve)

    def _evidence(self, lead: int | None) -> str:
        """What backs a step: for an exploit, its ``lead`` finding (with KEV, EPSS and shared
        reports of its CVE); otherwise the model."""
        if lead is None:
            return "model"
        finding = self.findings[lead]
        notes = [f"{finding.confidence} finding #{finding.id}"]
        vuln = self.vulnerabilities.get(finding.cve)
        if vuln is not None and vuln.kev:
            notes.append("on CISA KEV")
        if vuln is not None and vuln.epss is not None:
            notes.append(f"EPSS {vuln.epss:.3f}")
        intel = self.intel.get(finding.cve)
        if intel is not None and intel.reports:
            notes.append(_cited_report(intel))
        return "; ".join(notes)

    @staticmethod
    def _text(
        kind: NodeKind,
        asset: str | None,
        cve: str | None,
        account: str | None,
        profile: str | None,
        evidence: str,
    ) -> str:
        if kind is NodeKind.ENTRY:
            return f"attacker profile: {profile}"
        if kind is NodeKind.EXPLOIT:
            return f"exploit {cve} on {asset} ({evidence})"
        if kind is NodeKind.LOGON:
            return f"log on to {asset} as {account}"
        if kind is NodeKind.HARVEST:
            return f"steal the credentials of {account} from {asset}"
        if kind is NodeKind.HUMAN:
            return f"a user of {asset} opens a malicious message"
        if kind is NodeKind.PHISH:
            return f"the payload runs on {asset}"
        return f"{kind.name.lower()} {asset or ''}".strip()


def _cited_report(intel: IntelRecord) -> str:
    """``exploited per shared report incident--... by [org-1a2b3c4d] (+1 more)``."""
    first = intel.reports[0]
    more = len(intel.reports) - 1
    text = f"exploited per shared report {first.report_id} by {first.source}"
    return text + (f" (+{more} more)" if more else "")


def _cited_indicator(record: EvidenceRecord) -> str:
    return f"indicator {record.matched} in shared report {record.report_id} by {record.source}"
