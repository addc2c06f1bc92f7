"""The dynamic engine: keeps the last solution and recomputes only what an event touches.

It holds the attack graph, every node's own draws and the packed fixed-point state of the
Monte Carlo worlds. An event changes the own probability of some nodes (a finding's status, a
KEV or EPSS update, a shared sighting) or pins a node (evidence). Only those nodes' draws are
redrawn, and only their downstream cone is reset and brought back to its least fixed point;
everything upstream or beside keeps its state. Because draws are keyed by node label (common
random numbers), the result is bit-for-bit the one a full recomputation gives, which the tests
check after random event sequences. Changes of structure (a rule, an asset, a new finding) are
rebuilt in full.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from panacea.risk.assessment import AssessmentOptions
from panacea.risk.attack_graph import AttackGraph, Gate
from panacea.risk.construction import build_attack_graph, exploit_probability
from panacea.risk.errors import RiskModelError
from panacea.risk.evidence import pin
from panacea.risk.inputs import IntelReport, RiskInputs, combine_reports
from panacea.risk.simulate import _draw, fixed_point

MAX_PASSES = 10_000


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
        self.coins = _draw(self.graph, self.words, options.seed, coupled=True)
        self.state, _ = fixed_point(self.graph, self.coins)
        self._exploit_nodes = {int(f): i for i, f in enumerate(self.graph.finding_of) if f >= 0}

    def modelled_findings(self) -> frozenset[int]:
        """Findings with an exploit action in the graph (others have no path to use them)."""
        return frozenset(self._exploit_nodes)

    # results ----------------------------------------------------------------------------
    def probability(self, node: int) -> float:
        bits = np.unpackbits(self.state[node].view(np.uint8))
        return float(bits.sum()) / (self.words * 64)

    def probabilities(self) -> NDArray[np.float64]:
        counts = np.unpackbits(self.state.view(np.uint8), axis=1).sum(axis=1)
        result: NDArray[np.float64] = counts / (self.words * 64)
        return result

    def service_probabilities(self) -> dict[int, float]:
        return {s: self.probability(n) for s, n in self.built.service_nodes.items()}

    # events -----------------------------------------------------------------------------
    def apply(self, event: Event) -> int:
        """Apply ``event``; return how many nodes were recomputed."""
        changed = self._changes(event)
        if not changed:
            return 0
        if not isinstance(event, Evidence):
            probability = self._base.probability.copy()
            for node, p in changed.items():
                probability[node] = p
            self._base = self._base.with_probability(probability)
        self.graph = pin(self._base, self._pinned) if self._pinned else self._base
        nodes = np.fromiter(changed, dtype=np.int64)
        old = self.coins[nodes].copy()
        self.coins[nodes] = _draw_rows(self.graph, nodes, self.words, self.options.seed)
        # With the same uniforms, a higher probability only adds worlds: the old fixed point is
        # below the new one, and iterating upward from it reaches the new least fixed point.
        grows = bool(np.array_equal(old & self.coins[nodes], old)) and not self._repinned(event)
        return self._recompute(nodes, reset=not grows)

    def _repinned(self, event: Event) -> bool:
        # pinning drops a node's parents: its state no longer follows them, so start afresh
        return isinstance(event, Evidence)

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
        findings = [f.id for f in self.inputs.findings if f.cve == cve]
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
        finding = next(f for f in self.inputs.findings if f.id == finding_id)
        asset = next(a for a in self.inputs.assets if a.id == finding.asset)
        vuln = self.inputs.vulnerabilities.get(finding.cve)
        return exploit_probability(
            finding,
            asset,
            vuln,
            self.options.parameters,
            intel=self.inputs.intel_confidence(finding.cve),
        )

    # recomputation ----------------------------------------------------------------------
    def _recompute(self, changed: NDArray[np.int64], *, reset: bool) -> int:
        cone = downstream(self.graph, changed)
        if reset and cone.size * 2 > self.graph.size:
            # most of the graph is downstream: the bucketed full solver is faster than a cone
            self.state, _ = fixed_point(self.graph, self.coins)
            return int(cone.size)
        if reset:
            self.state[cone] = 0
        entries = cone[self.graph.need[cone] == 0]
        self.state[entries] = self.coins[entries]
        self.state = _refix(self.graph, self.coins, self.state, cone)
        return int(cone.size)

    def full(self) -> NDArray[np.uint64]:
        """The state a full recomputation gives (for checks)."""
        state, _ = fixed_point(self.graph, self.coins)
        return state


def _draw_rows(
    graph: AttackGraph, nodes: NDArray[np.int64], words: int, seed: int
) -> NDArray[np.uint64]:
    sub = dataclasses.replace(
        graph,
        probability=graph.probability[nodes],
        labels=tuple(graph.labels[n] for n in nodes),
    )
    return _draw(sub, words, seed, coupled=True)


def children_matrix(graph: AttackGraph) -> sparse.csr_matrix:
    """Sparse (parent -> child) adjacency."""
    child = np.repeat(np.arange(graph.size), np.diff(graph.indptr))
    data = np.ones(child.size, dtype=np.int8)
    return sparse.csr_matrix((data, (graph.parents, child)), shape=(graph.size, graph.size))


def downstream(graph: AttackGraph, start: NDArray[np.int64]) -> NDArray[np.int64]:
    """Every node reachable from ``start`` (included), by frontier expansion over the CSR."""
    children = children_matrix(graph)
    seen = np.zeros(graph.size, dtype=bool)
    seen[start] = True
    frontier = np.unique(start)
    while frontier.size:
        reached = children[frontier].indices
        new = np.unique(reached[~seen[reached]])
        seen[new] = True
        frontier = new
    return np.flatnonzero(seen)


def _refix(
    graph: AttackGraph,
    coins: NDArray[np.uint64],
    state: NDArray[np.uint64],
    cone: NDArray[np.int64],
) -> NDArray[np.uint64]:
    """Least fixed point of the nodes of ``cone``, the rest of ``state`` held fixed."""
    counts = np.diff(graph.indptr)[cone]
    nodes = cone[counts > 0]
    counts = counts[counts > 0]
    if nodes.size == 0:
        return state
    starts_in_parents = graph.indptr[nodes]
    offsets = np.zeros(nodes.size, dtype=np.int64)
    np.cumsum(counts[:-1], out=offsets[1:])
    positions = np.arange(int(counts.sum())) - np.repeat(offsets, counts)
    parents = graph.parents[np.repeat(starts_in_parents, counts) + positions]
    gate = graph.gate[nodes]
    for _ in range(MAX_PASSES):
        gathered = state[parents]
        new = np.where(
            (gate == Gate.AND)[:, None],
            np.bitwise_and.reduceat(gathered, offsets, axis=0),
            np.bitwise_or.reduceat(gathered, offsets, axis=0),
        )
        for row in np.flatnonzero(gate == Gate.THRESHOLD):
            members = parents[offsets[row] : offsets[row] + counts[row]]
            bits = np.unpackbits(state[members].view(np.uint8), axis=1, bitorder="little")
            held = bits.sum(axis=0) >= graph.need[nodes[row]]
            new[row] = np.packbits(held, bitorder="little").view(np.uint64)
        new &= coins[nodes]
        if np.array_equal(new, state[nodes]):
            return state
        state[nodes] = new
    raise RiskModelError(f"no fixed point after {MAX_PASSES} passes")
