"""The dynamic engine: keeps the last solution and recomputes only what an event touches.

It holds the attack graph, every node's own draws, the packed fixed-point state of the Monte
Carlo worlds and the derivation ranks of that state (:mod:`panacea.risk.ranks`). An event
changes the own probability of some nodes (a finding's status, a KEV or EPSS update, a shared
sighting) or pins a node (evidence). Only those nodes' draws are redrawn. Where a changed node
lost worlds, what held only through them is withdrawn, guided by the ranks, touching only what
loses something (:mod:`panacea.risk.withdrawal`), then derived forward again where it still
holds another way; where worlds were gained, the changed nodes are derived forward. Evidence
changes the graph's shape: the nodes downstream that held in the worlds the pinned node lost
are cleared and derived again (delete and re-derive). Everything upstream or beside keeps its
state. Because draws are keyed by node label (common
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
from panacea.risk.exploits import exploit_probabilities, one_of
from panacea.risk.fixpoint import Structure, fixed_point, over_shares, popcount, structure
from panacea.risk.inputs import IntelReport, RiskInputs, combine_reports
from panacea.risk.ranks import Ranks, places
from panacea.risk.withdrawal import withdraw


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
        self._disabled: set[int] = set()  # findings no longer exploitable
        self._base = self.built.graph
        self.graph = self._base
        self.coins = draw(self.graph, self.words, options.seed)
        self.ranks = Ranks.empty(self.graph.size, self.words)
        self.state = np.empty_like(self.coins)

        def solve(columns: slice) -> None:  # worlds are independent: a share per thread
            ranks = self.ranks.columns(columns)
            self.state[:, columns], _ = fixed_point(self.graph, self.coins[:, columns], ranks=ranks)

        structure(self.graph)  # computed once, before the threads share it
        over_shares(solve, self.words)
        self._place = places(structure(self._base))
        members = self.graph.exploits
        # by the row of each modelled finding in ``members``: its own chance (kept up to
        # date) and the exploit node it is one of
        self._row = {f: i for i, f in enumerate(members.findings.tolist())}
        self._chances = members.chances.copy()
        self._owner = np.repeat(members.nodes, np.diff(members.indptr))
        self._findings = {f.id: f for f in inputs.findings}
        self._assets = {a.id: a for a in inputs.assets}
        self._findings_of_cve: dict[str, list[int]] = {}
        for f in inputs.findings:
            self._findings_of_cve.setdefault(f.cve, []).append(f.id)

    def modelled_findings(self) -> frozenset[int]:
        """Findings with an exploit action in the graph (others have no path to use them)."""
        return frozenset(self._row)

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
        return self._recompute(nodes, lost, reshaped=isinstance(event, Evidence))

    def _changes(self, event: Event) -> dict[int, float]:
        if isinstance(event, FindingStatusChanged):
            return self._finding_status(event)
        if isinstance(event, KevChanged | EpssChanged):
            return self._vulnerability(event)
        if isinstance(event, IntelSighting):
            return self._intel(event)
        return self._evidence(event)

    def _finding_status(self, event: FindingStatusChanged) -> dict[int, float]:
        row = self._row.get(event.finding_id)
        if row is None:
            raise RiskModelError(
                f"finding {event.finding_id} is not in the model: rebuild the engine"
            )
        node = int(self._owner[row])
        if event.exploitable:
            self._disabled.discard(event.finding_id)
        else:
            self._disabled.add(event.finding_id)
        return {node: self._chance(node)}

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
        """New own probabilities of the exploits of ``cve``'s findings, where they moved."""
        findings = [self._findings[f] for f in self._findings_of_cve.get(cve, []) if f in self._row]
        self._chances[[self._row[f.id] for f in findings]] = exploit_probabilities(
            findings,
            [self._assets[f.asset] for f in findings],
            self.inputs.vulnerabilities.get(cve),
            self.options.parameters,
            intel=self.inputs.intel_confidence(cve),
        )
        current = self._base.probability
        nodes = set(self._owner[[self._row[f.id] for f in findings]].tolist())
        chances = {n: self._chance(n) for n in sorted(nodes)}
        return {n: p for n, p in chances.items() if p != current[n]}

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

    def _chance(self, node: int) -> float:
        """Exploit ``node``'s own chance: that one of its exploitable findings succeeds (as
        a full build over the findings still exploitable gives it)."""
        members = self.graph.exploits
        span = members.span(node)
        enabled = [f not in self._disabled for f in members.findings[span].tolist()]
        chances = self._chances[span][enabled]
        return one_of(chances)

    # recomputation ----------------------------------------------------------------------
    def _recompute(
        self, changed: NDArray[np.int64], lost: NDArray[np.uint64], *, reshaped: bool
    ) -> int:
        """Bring the state to the new least fixed point after ``changed`` nodes' coins moved;
        ``lost``: the worlds where some of them went from 1 to 0.

        There, what held only through the lost successes is removed first: withdrawn with the
        derivation ranks (:mod:`panacea.risk.withdrawal`), or, when the graph was ``reshaped``
        (evidence took a node's parents away, so ranks may refer to support it no longer
        has), cleared wherever it lies downstream (delete). Then the removed nodes and what
        the changed nodes may newly reach are derived forward. Worlds that only grew keep
        everything they had. Returns how many nodes were set to be derived again.
        """
        shape = structure(self.graph)
        graph, coins = self.graph, self.coins

        def share(columns: slice) -> NDArray[np.int64]:
            """Redo one share of the worlds (views of the state and ranks, changed in place)."""
            state, ranks, mine = (
                self.state[:, columns],
                self.ranks.columns(columns),
                coins[:, columns],
            )
            gone = changed[:0]
            if lost[columns].any() and reshaped:
                gone = _clear_downstream(shape, state, lost[columns], changed)
            elif lost[columns].any():
                gone = withdraw(graph, shape, self._place, mine, state, ranks, changed)
            entries = changed[graph.need[changed] == 0]
            state[entries] = mine[entries]
            ranks.planes[:, entries] = 0
            dirty = distinct(np.concatenate([changed, gone, shape.children_of(changed)]))
            fixed_point(graph, mine, start=state, dirty=dirty, ranks=ranks)
            return dirty

        return int(distinct(np.concatenate(over_shares(share, self.words))).size)

    def full(self) -> NDArray[np.uint64]:
        """The state a full recomputation gives (for checks)."""
        state, _ = fixed_point(self.graph, self.coins)
        return state


def _clear_downstream(
    shape: Structure,
    state: NDArray[np.uint64],
    lost: NDArray[np.uint64],
    changed: NDArray[np.int64],
) -> NDArray[np.int64]:
    """Clear the worlds of ``lost`` in every node downstream of ``changed`` by way of nodes
    that held in one of them (whatever may have held only through the change); those nodes.
    Entries keep their worlds (they hold by their own coin): earlier pins are still listed as
    their former parents' children, so the search may meet them."""
    held: NDArray[np.bool_] = np.asarray((state & lost).any(axis=1))
    suspect = shape.downstream(changed, state.shape[0], through=held)
    state[suspect[~shape.entries[suspect]]] &= ~lost
    return suspect
