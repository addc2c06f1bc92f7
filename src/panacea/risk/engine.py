"""The dynamic engine: keeps the last solution and recomputes only what an event touches.

It holds the attack graph, every node's own draws and the packed fixed-point state of the
Monte Carlo worlds. An event changes the own probability of some nodes (a finding's status, a
KEV or EPSS update, a shared sighting) or pins a node (evidence). Only those nodes' draws are
redrawn; in the worlds where a changed node lost its success, the nodes downstream that held
there are cleared and derived again (delete and re-derive), and everywhere else the state only
grows; everything upstream or beside keeps its state. Because draws are keyed by node label (common
random numbers), the result is bit-for-bit the one a full recomputation gives, which the tests
check after random event sequences. Changes of structure (a rule, an asset, a new finding) are
rebuilt in full.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from panacea.risk.assessment import AssessmentOptions
from panacea.risk.construction import build_attack_graph
from panacea.risk.distinct import distinct
from panacea.risk.draws import draw, draw_rows
from panacea.risk.errors import RiskModelError
from panacea.risk.evidence import pin
from panacea.risk.exploits import exploit_probability
from panacea.risk.fixpoint import fixed_point, over_shares, popcount, structure
from panacea.risk.inputs import IntelReport, RiskInputs, combine_reports


@dataclass(frozen=True)
class FindingStatusChanged:
    finding_id: int
    exploitable: bool  # open/accepted: True; mitigated/resolved/false positive: False


@dataclass(frozen=True)
class KevChanged:
    cve: str
    kev: bool


@dataclass(frozen=True)
class EpssChanged:
    cve: str
    epss: float | None


@dataclass(frozen=True)
class Evidence:
    """An observed compromise (confidence 1) or an alert pins a node, e.g. code_exec of an asset."""

    label: str
    confidence: float


@dataclass(frozen=True)
class IntelSighting:
    """A peer reported that ``cve`` is exploited (docs/risk-model.md, "Shared intelligence").

    Emitted by :mod:`panacea.sharing.intel` for each received report; ``confidence`` is what
    the documented rule gives the report, ``source`` its publisher's pseudonym and
    ``report_id`` its STIX id (explanations cite both). A report already applied is replaced,
    not counted twice.
    """

    cve: str
    confidence: float
    source: str
    report_id: str
    name: str = ""


Event = FindingStatusChanged | KevChanged | EpssChanged | IntelSighting | Evidence


class RiskEngine:
    """One organisation's live risk picture under a fixed set of options."""

    def __init__(self, inputs: RiskInputs, options: AssessmentOptions) -> None:
        self.options = options
        self.inputs = inputs
        self.built = build_attack_graph(inputs, options.parameters, entries=options.entries)
        self.words = -(-options.trials // 64)
        self._pinned: dict[int, float] = {}
        self._disabled: set[int] = set()
        self._base = self.built.graph
        self.graph = self._base
        self.coins = draw(self.graph, self.words, options.seed)
        self.state, _ = fixed_point(self.graph, self.coins)
        self._exploit_nodes = {int(f): i for i, f in enumerate(self.graph.finding_of) if f >= 0}
        self._findings = {f.id: f for f in inputs.findings}
        self._assets = {a.id: a for a in inputs.assets}
        self._findings_of_cve: dict[str, list[int]] = {}
        for f in inputs.findings:
            self._findings_of_cve.setdefault(f.cve, []).append(f.id)

    def modelled_findings(self) -> frozenset[int]:
        """Findings with an exploit action in the graph (others have no path to use them)."""
        return frozenset(self._exploit_nodes)

    # results ----------------------------------------------------------------------------
    def probability(self, node: int) -> float:
        return float(popcount(self.state[node : node + 1])[0]) / (self.words * 64)

    def probabilities(self) -> NDArray[np.float64]:
        result: NDArray[np.float64] = popcount(self.state) / (self.words * 64)
        return result

    def service_probabilities(self) -> dict[int, float]:
        return {s: self.probability(n) for s, n in self.built.service_nodes.items()}

    # events -----------------------------------------------------------------------------
    def apply(self, event: Event) -> int:
        """Apply ``event``; return how many nodes were recomputed."""
        changed = self._changes(event)
        if not changed:
            return 0
        nodes = np.fromiter(changed, dtype=np.int64)
        if isinstance(event, Evidence):
            self.graph = pin(self._base, self._pinned)  # a new shape: the node lost its parents
            before = self.state[nodes].copy()
        else:
            probability = self._base.probability.copy()
            probability[nodes] = list(changed.values())
            self._base = self._base.with_probability(probability)
            if self._pinned:  # same shape as the pinned graph: keep its pins over the change
                pins = np.fromiter(self._pinned, dtype=np.int64)
                probability[pins] = list(self._pinned.values())
                self.graph = self.graph.with_probability(probability)
            else:
                self.graph = self._base
            before = self.coins[nodes].copy()
        self.coins[nodes] = draw_rows(self.graph, nodes, self.words, self.options.seed)
        # With the same uniforms a higher probability only adds worlds and a lower one only
        # removes them; a pinned node now holds exactly where its new coin does. The worlds
        # where a changed node held (or could hold) before and cannot now are the ones to redo.
        lost = np.bitwise_or.reduce(before & ~self.coins[nodes], axis=0)
        return self._recompute(nodes, lost)

    def _changes(self, event: Event) -> dict[int, float]:
        if isinstance(event, FindingStatusChanged):
            return self._finding_status(event)
        if isinstance(event, KevChanged | EpssChanged):
            return self._vulnerability(event)
        if isinstance(event, IntelSighting):
            return self._intel(event)
        return self._evidence(event)

    def _finding_status(self, event: FindingStatusChanged) -> dict[int, float]:
        node = self._exploit_nodes.get(event.finding_id)
        if node is None:
            raise RiskModelError(
                f"finding {event.finding_id} is not in the model: rebuild the engine"
            )
        if event.exploitable:
            self._disabled.discard(node)
            return {node: self._exploit_probability(event.finding_id)}
        self._disabled.add(node)
        return {node: 0.0}

    def _vulnerability(self, event: KevChanged | EpssChanged) -> dict[int, float]:
        vuln = self.inputs.vulnerabilities.get(event.cve)
        if vuln is None:
            return {}
        if isinstance(event, KevChanged):
            vuln = dataclasses.replace(vuln, kev=event.kev)
        else:
            vuln = dataclasses.replace(vuln, epss=event.epss)
        vulnerabilities = {**self.inputs.vulnerabilities, event.cve: vuln}
        self.inputs = dataclasses.replace(self.inputs, vulnerabilities=vulnerabilities)
        return self._refreshed(event.cve)

    def _refreshed(self, cve: str) -> dict[int, float]:
        """New own probabilities of the (enabled) exploits of ``cve``'s findings."""
        findings = self._findings_of_cve.get(cve, [])
        return {
            self._exploit_nodes[f]: self._exploit_probability(f)
            for f in findings
            if f in self._exploit_nodes and self._exploit_nodes[f] not in self._disabled
        }

    def _intel(self, event: IntelSighting) -> dict[int, float]:
        if not 0.0 <= event.confidence <= 1.0:
            raise RiskModelError(
                f"intel on {event.cve} has confidence {event.confidence}, not a probability"
            )
        known = self.inputs.intel.get(event.cve)
        report = IntelReport(event.report_id, event.source, event.confidence, event.name)
        record = combine_reports(event.cve, [*(known.reports if known else ()), report])
        self.inputs = dataclasses.replace(
            self.inputs, intel={**self.inputs.intel, event.cve: record}
        )
        return self._refreshed(event.cve)

    def _evidence(self, event: Evidence) -> dict[int, float]:
        node = self.graph.index.get(event.label)
        if node is None:
            raise RiskModelError(f"evidence names {event.label!r}, which is not in the model")
        self._pinned[node] = event.confidence
        return {node: event.confidence}

    def _exploit_probability(self, finding_id: int) -> float:
        finding = self._findings[finding_id]
        asset = self._assets[finding.asset]
        vuln = self.inputs.vulnerabilities.get(finding.cve)
        return exploit_probability(
            finding,
            asset,
            vuln,
            self.options.parameters,
            intel=self.inputs.intel_confidence(finding.cve),
        )

    # recomputation ----------------------------------------------------------------------
    def _recompute(self, changed: NDArray[np.int64], lost: NDArray[np.uint64]) -> int:
        """Bring the state to the new least fixed point after ``changed`` nodes' coins moved.

        In the worlds of ``lost`` (where some coin went from 1 to 0), whatever held downstream
        of the change may have held only through it: those nodes' bits are cleared there
        (delete) and derived again (re-derive). A node that held in none of those worlds
        cannot lose anything and is left alone, as is every world where coins only grew.
        """
        shape = structure(self.graph)
        graph, coins = self.graph, self.coins

        def share(columns: slice) -> NDArray[np.int64]:
            """Redo one share of the worlds (a view of the state, changed in place)."""
            state, gone = self.state[:, columns], lost[columns]
            if gone.any():
                # the nodes downstream of the change by way of nodes that held in a lost world
                held: NDArray[np.bool_] = np.asarray((state & gone).any(axis=1))
                suspect = shape.downstream(changed, graph.size, through=held)
                state[suspect] &= ~gone
            else:  # worlds were only gained here: nothing to clear, no need to look for it
                suspect = distinct(changed)
            entries = suspect[graph.need[suspect] == 0]
            state[entries] = coins[entries, columns]
            dirty = distinct(np.concatenate([suspect, shape.children_of(changed)]))
            fixed_point(graph, coins[:, columns], start=state, dirty=dirty)
            return dirty

        return int(distinct(np.concatenate(over_shares(share, self.words))).size)

    def full(self) -> NDArray[np.uint64]:
        """The state a full recomputation gives (for checks)."""
        state, _ = fixed_point(self.graph, self.coins)
        return state
