"""One mitigation as an edit of a built graph: what the budget planner evaluates, fast.

An edit lowers own probabilities (0 removes an action), removes edges into OR nodes and
rewires AND nodes (``effects.Rewiring``). Applied to the graph of the inputs, it gives the
graph of the edited inputs up to nodes that can no longer hold, so both have the same
probabilities; the tests check this against ``build_attack_graph(apply(inputs, [m]))``.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from panacea.inventory.vocabulary import MitigationKind
from panacea.risk.attack_graph import AttackGraph, Gate, NodeKind
from panacea.risk.construction import BuiltGraph
from panacea.risk.distinct import distinct
from panacea.risk.effects import Effects
from panacea.risk.exploits import exploit_probability, one_of
from panacea.risk.inputs import RiskInputs
from panacea.risk.mitigation import CONTROL_OF, Mitigation, apply
from panacea.risk.parameters import RiskParameters


@dataclass(frozen=True)
class GraphEdit:
    """New own probabilities (0 removes the action), edges (parent, child) out and in."""

    probability: dict[int, float] = field(default_factory=dict)
    removed_edges: frozenset[tuple[int, int]] = frozenset()
    added_edges: frozenset[tuple[int, int]] = frozenset()

    def touches(self, graph: AttackGraph, live: NDArray[np.bool_]) -> bool:
        """Whether the edit lowers or removes something on a live node or edge."""
        lowered = any(live[n] and p < graph.probability[n] for n, p in self.probability.items())
        return lowered or any(live[u] and live[v] for u, v in self.removed_edges)


def single_edits(
    inputs: RiskInputs,
    built: BuiltGraph,
    params: RiskParameters,
    mitigations: Sequence[Mitigation],
    effects: Effects,
) -> list[GraphEdit]:
    """The edit of each mitigation on its own (``effects`` are those of ``mitigations``)."""
    probability: list[dict[int, float]] = [{} for _ in mitigations]
    removed: list[set[tuple[int, int]]] = [set() for _ in mitigations]
    added: list[set[tuple[int, int]]] = [set() for _ in mitigations]
    for removal in effects.removals:
        for i in frozenset.intersection(*removal.clauses):
            if removal.parent is None:
                probability[i][removal.node] = 0.0
            else:
                removed[i].add((removal.parent, removal.node))
    for rewiring in effects.rewirings:
        removed[rewiring.mitigation].add((rewiring.old, rewiring.node))
        added[rewiring.mitigation].add((rewiring.new, rewiring.node))
    for node, i, p in _fewer_findings(built.graph, effects):
        probability[i].setdefault(node, p)
    changes = _ProbabilityChanges(inputs, built.graph, params)
    for i, m in enumerate(mitigations):
        for node, p in changes.of(m).items():
            probability[i].setdefault(node, p)  # a removal (0) wins over a lower chance
    return [
        GraphEdit(p, frozenset(r), frozenset(a))
        for p, r, a in zip(probability, removed, added, strict=True)
    ]


def _fewer_findings(graph: AttackGraph, effects: Effects) -> Iterator[tuple[int, int, float]]:
    """(exploit node, mitigation, new chance) where the mitigation removes some of the
    exploit's findings but not all: the chance that one of the others succeeds.

    An exploit's removal has one clause per finding, in the order of ``Members``."""
    members = graph.exploits
    for removal in (*effects.removals, *effects.partial):
        span = members.span(removal.node)
        size = span.stop - span.start
        if removal.parent is not None or size < 2 or len(removal.clauses) != size:
            continue  # not an exploit of several findings
        chances = members.chances[span]
        for i in frozenset.union(*removal.clauses) - frozenset.intersection(*removal.clauses):
            left = np.array([i not in clause for clause in removal.clauses])
            rest = chances[left]
            yield removal.node, i, one_of(rest)


class _ProbabilityChanges:
    """Own probabilities that EDR, allow-listing, MFA, training (and moves) lower."""

    def __init__(self, inputs: RiskInputs, graph: AttackGraph, params: RiskParameters) -> None:
        self.inputs, self.graph, self.params = inputs, graph, params
        self.assets = {a.id: a for a in inputs.assets}
        self.exploits_of: dict[int, list[int]] = defaultdict(list)
        for node in graph.exploits.nodes.tolist():
            self.exploits_of[int(graph.asset_of[node])].append(node)
        self.findings = {f.id: f for f in inputs.findings}

    def of(self, m: Mitigation) -> dict[int, float]:
        if m.kind in CONTROL_OF:
            return self._control(m)
        if m.kind is MitigationKind.MFA:
            return self._scaled(self._logons(m.subjects[0]), self.params.mfa_factor)
        if m.kind in {MitigationKind.TRAINING, MitigationKind.MOVE_ZONE}:
            return self._humans(apply(self.inputs, [m]))
        return {}

    def _scaled(self, nodes: list[int], factor: float) -> dict[int, float]:
        return {n: float(self.graph.probability[n]) * factor for n in nodes}

    def _control(self, m: Mitigation) -> dict[int, float]:
        edr = m.kind is MitigationKind.EDR
        factor = self.params.edr_factor if edr else self.params.allowlisting_factor
        out = {}
        for asset_id in m.subjects:
            asset = self.assets[asset_id]
            protected = dataclasses.replace(asset, controls=asset.controls | {CONTROL_OF[m.kind]})
            members = self.graph.exploits
            for node in self.exploits_of[asset_id]:
                chances = np.array(
                    [
                        exploit_probability(
                            finding,
                            protected,
                            self.inputs.vulnerabilities.get(finding.cve),
                            self.params,
                            intel=self.inputs.intel_confidence(finding.cve),
                        )
                        for finding in map(self.findings.__getitem__, members.of(node).tolist())
                    ]
                )
                p = one_of(chances)
                if p != self.graph.probability[node]:
                    out[node] = p
            phish = self.graph.index.get(f"phish:{self.assets[asset_id].name}")
            out.update(self._scaled([phish] if phish is not None else [], factor))
            if edr:  # credential theft from the host is harder too
                harvest = self._of_kind(NodeKind.HARVEST, asset_id)
                out.update(self._scaled(harvest, self.params.edr_factor))
        return out

    def _of_kind(self, kind: NodeKind, asset_id: int) -> list[int]:
        g = self.graph
        return [int(n) for n in np.flatnonzero((g.kind == kind) & (g.asset_of == asset_id))]

    def _logons(self, account_id: int) -> list[int]:
        name = next(a.name for a in self.inputs.accounts if a.id == account_id)
        prefix = f"logon:{name}:"
        g = self.graph
        return [
            int(n)
            for n in np.flatnonzero(g.kind == NodeKind.LOGON)
            if g.labels[n].startswith(prefix)
        ]

    def _humans(self, after: RiskInputs) -> dict[int, float]:
        """human(asset) nodes whose chance differs in ``after`` (construction._phishing)."""
        chances = human_chances(after, self.params)
        out = {}
        for asset in self.inputs.assets:
            node = self.graph.index.get(f"human:{asset.name}")
            if node is None:
                continue
            p = chances.get(asset.id, 0.0)
            if p < self.graph.probability[node]:
                out[node] = p
        return out


def human_chances(inputs: RiskInputs, params: RiskParameters) -> dict[int, float]:
    """Asset id -> chance a phishing campaign lures one of its users (the most susceptible)."""
    susceptibility = {g.id: g.susceptibility for g in inputs.staff_groups}
    in_zone: dict[int, list[int]] = defaultdict(list)
    for a in inputs.assets:
        if a.zone is not None:
            in_zone[a.zone].append(a.id)
    users: dict[int, float] = {}
    for ws in inputs.workstations:
        targets = [ws.asset] if ws.asset is not None else in_zone[ws.zone or -1]
        for asset in targets:
            users[asset] = max(users.get(asset, 0.0), susceptibility[ws.owner])
    return {a: s * params.phishing_campaign_reach for a, s in users.items()}


def apply_edit(graph: AttackGraph, edit: GraphEdit) -> AttackGraph:
    """``graph`` with ``edit`` done: same nodes, new own probabilities and parents."""
    probability = graph.probability.copy()
    for node, p in edit.probability.items():
        probability[node] = p
    if not edit.removed_edges and not edit.added_edges:
        return graph.with_probability(probability)
    n = graph.size
    child = np.repeat(np.arange(n, dtype=np.int64), np.diff(graph.indptr))
    codes = child * n + graph.parents  # sorted by child, then parent, as the CSR wants
    removed = np.fromiter((v * n + u for u, v in edit.removed_edges), dtype=np.int64)
    added = np.fromiter((v * n + u for u, v in edit.added_edges), dtype=np.int64)
    codes = distinct(np.concatenate([codes[~np.isin(codes, removed)], added]))
    parents = (codes % n).astype(np.int32)
    counts = np.bincount(codes // n, minlength=n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    need = np.where((graph.gate == Gate.AND) & (counts > 0), counts, graph.need)
    return AttackGraph(
        graph.kind,
        graph.gate,
        need.astype(np.int32),
        probability,
        indptr,
        parents,
        graph.labels,
        graph.asset_of,
        graph.exploits,
        graph.entry_of,
        graph.index,
    )
