"""What mitigations do to a built attack graph, without building it again.

Removal-type mitigations (patch, block or narrow a rule, move to an isolated zone, disable an
endpoint) remove actions and edges. Several may be needed together: an edge net(A) ->
reach(B, port) goes only when every rule that lets the port through is blocked or narrowed.
So each removable element carries clauses: it is gone once every clause holds one chosen
mitigation. The cut planner turns these into MILP constraints; the budget planner turns the
elements one mitigation removes on its own into a ``GraphEdit``, with the lower probabilities
that EDR, allow-listing, MFA and training give. Node labels and formulas follow
construction.py; the tests compare every edit with the graph rebuilt from edited inputs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from panacea.inventory.vocabulary import MitigationKind
from panacea.risk.attack_graph import AttackGraph, Gate, NodeKind
from panacea.risk.construction import BuiltGraph
from panacea.risk.errors import RiskModelError
from panacea.risk.inputs import AssetRecord, PlacementRecord, RiskInputs
from panacea.risk.mitigation import Mitigation
from panacea.risk.ports import allows

Clause = frozenset[int]  # indices of mitigations, any one of which is enough


@dataclass(frozen=True)
class Removal:
    """Node ``node`` (``parent`` None) or edge ``parent -> node``, gone when all clauses hold."""

    node: int
    parent: int | None
    clauses: tuple[Clause, ...]


@dataclass(frozen=True)
class Rewiring:
    """Mitigation ``mitigation`` makes AND node ``node`` need ``new`` instead of ``old``.

    An asset moved to an isolated zone keeps its adjacent-network (AV:A) flaws, but the only
    one left on its network is whoever already runs code on the asset itself.
    """

    node: int
    old: int
    new: int
    mitigation: int


@dataclass(frozen=True)
class Effects:
    removals: tuple[Removal, ...]
    rewirings: tuple[Rewiring, ...]
    # exploits that the mitigations cannot remove, only some of their findings (a clause
    # per finding, empty for those no mitigation removes): they lower its chance
    partial: tuple[Removal, ...] = ()

    def restricted(self, keep: Sequence[int]) -> Effects:
        """The effects of the mitigations ``keep`` alone, renumbered in that order."""
        number = {old: new for new, old in enumerate(keep)}
        removals, partial = [], []
        for r in (*self.removals, *self.partial):
            clauses = tuple(frozenset(number[i] for i in c if i in number) for c in r.clauses)
            if all(clauses):
                removals.append(Removal(r.node, r.parent, clauses))
            elif any(clauses):
                partial.append(Removal(r.node, r.parent, clauses))
        rewirings = tuple(
            Rewiring(w.node, w.old, w.new, number[w.mitigation])
            for w in self.rewirings
            if w.mitigation in number
        )
        return Effects(tuple(removals), rewirings, tuple(partial))


class _Model:
    """Look-ups over one set of inputs and its graph, by the labels of construction.py."""

    def __init__(self, inputs: RiskInputs, graph: AttackGraph) -> None:
        self.inputs = inputs
        self.graph = graph
        self.assets = {a.id: a for a in inputs.assets}
        self.zones = {z.id: z for z in inputs.zones}
        self.endpoints_of: dict[int, list[int]] = defaultdict(list)
        for e in inputs.endpoints:
            self.endpoints_of[e.asset].append(e.id)
        self.endpoint = {e.id: e for e in inputs.endpoints}
        self.findings = {f.id: f for f in inputs.findings}

    def node(self, label: str) -> int | None:
        return self.graph.index.get(label)

    def parents(self, node: int) -> list[int]:
        g = self.graph
        return [int(p) for p in g.parents[g.indptr[node] : g.indptr[node + 1]]]

    def zone_name(self, asset: AssetRecord) -> str | None:
        return None if asset.zone is None else self.zones[asset.zone].name

    def reach_of_endpoint(self, endpoint_id: int) -> int | None:
        e = self.endpoint[endpoint_id]
        zone = self.zone_name(self.assets[e.asset])
        return None if zone is None else self.node(f"reach:{zone}:{e.protocol}/{e.port}")

    def exposures(self, asset: AssetRecord) -> list[int]:
        """The OR nodes through which the asset's open ports are reached."""
        labels = [f"exposed:{asset.name}", f"exposed_os:{asset.name}"]
        labels += [f"logon_port:{level}:{asset.name}" for level in ("user", "admin")]
        return [n for n in map(self.node, labels) if n is not None]

    def exploits(self) -> Iterator[tuple[int, list[int]]]:
        """Each exploit node and its findings (ids, in the order of ``Members``)."""
        members = self.graph.exploits
        for node in members.nodes.tolist():
            yield node, members.of(node).tolist()


def _key(m: Mitigation, subject: int) -> tuple[object, ...] | None:
    """How the removal functions below look a mitigation up."""
    return {
        MitigationKind.MOVE_ZONE: ("move", subject),
        MitigationKind.PATCH: ("patch", subject, m.cve),
        MitigationKind.NARROW_RULE: ("narrow", subject, m.port),
        MitigationKind.BLOCK_RULE: ("block", subject),
        MitigationKind.DISABLE_ENDPOINT: ("disable", subject),
    }.get(m.kind)


class _Index:
    """Which mitigation (by index) does what, for the removal kinds."""

    def __init__(self, mitigations: Sequence[Mitigation]) -> None:
        self.by_key: dict[tuple[object, ...], int] = {}
        for i, m in enumerate(mitigations):
            for subject in m.subjects:
                key = _key(m, subject)
                if key is not None:
                    self.by_key[key] = i

    def clause(self, *keys: tuple[object, ...]) -> Clause:
        return frozenset(self.by_key[k] for k in keys if k in self.by_key)


def removal_effects(
    inputs: RiskInputs, built: BuiltGraph, mitigations: Sequence[Mitigation]
) -> Effects:
    """The elements of ``built`` that the removal-type ``mitigations`` can remove, and how.

    Raises RiskModelError for a move to an existing zone or of several assets (only moves
    of one asset to a new, isolated zone are modelled here; ``apply`` does any move).
    """
    for m in mitigations:
        existing = any(z.name == m.zone for z in inputs.zones)
        if m.kind is MitigationKind.MOVE_ZONE and (existing or len(m.subjects) != 1):
            raise RiskModelError(
                f"move_zone {m.target!r}: only one asset's move to a new zone is planned"
            )
    model, index = _Model(inputs, built.graph), _Index(mitigations)
    exploits = _exploit_removals(model, index)
    removals = [
        *exploits,
        *_exposure_removals(model, index),
        *_rule_removals(model, index),
        *_move_removals(model, index, mitigations),
    ]
    kept = tuple(r for r in removals if r.clauses and all(r.clauses))
    for r in kept:  # an AND node loses an action, never a precondition (see Rewiring)
        if r.parent is not None and built.graph.gate[r.node] != Gate.OR:
            raise RiskModelError(f"internal: removing an edge into {built.graph.labels[r.node]}")
    partial = tuple(r for r in exploits if any(r.clauses) and not all(r.clauses))
    return Effects(kept, tuple(_rewirings(model, index)), partial)


def _exploit_removals(model: _Model, index: _Index) -> list[Removal]:
    """An exploit goes once each of its findings does: one clause per finding, in order."""
    out = []
    for node, findings in model.exploits():
        direct = any(model.graph.kind[p] == NodeKind.REACH for p in model.parents(node))
        clauses = []
        for f in map(model.findings.__getitem__, findings):
            keys: list[tuple[object, ...]] = [("patch", f.asset, f.cve)]
            if f.endpoint is not None:
                keys.append(("disable", f.endpoint))
            if direct:  # its endpoint's port is reached in the asset's zone: gone with the zone
                keys.append(("move", f.asset))
            clauses.append(index.clause(*keys))
        out.append(Removal(node, None, tuple(clauses)))
    return out


def _exposure_removals(model: _Model, index: _Index) -> list[Removal]:
    """Edges reach(zone, port) -> the asset's exposures: gone with every endpoint on that port."""
    out = []
    for asset in model.inputs.assets:
        by_reach: dict[int, list[int]] = defaultdict(list)
        for endpoint_id in model.endpoints_of[asset.id]:
            reach = model.reach_of_endpoint(endpoint_id)
            if reach is not None:
                by_reach[reach].append(endpoint_id)
        for exposure in model.exposures(asset):
            for parent in model.parents(exposure):
                clauses = tuple(
                    index.clause(("move", asset.id), ("disable", e))
                    for e in by_reach.get(parent, ())
                )
                if clauses:
                    out.append(Removal(exposure, parent, clauses))
    return out


def _rule_removals(model: _Model, index: _Index) -> list[Removal]:
    """Edges net(A) -> reach(B, port): gone when no rule from A to B lets the port through."""
    out = []
    seen: set[int] = set()
    for endpoint_id, e in model.endpoint.items():
        reach = model.reach_of_endpoint(endpoint_id)
        if reach is None or reach in seen:
            continue
        seen.add(reach)
        to_zone = model.assets[e.asset].zone
        for parent in model.parents(reach):
            rules = [
                r
                for r in model.inputs.rules
                if r.to_zone == to_zone
                and r.from_zone != to_zone
                and model.node(f"net:{model.zones[r.from_zone].name}") == parent
                and allows(r.protocol, r.ports, e.protocol, e.port)
            ]
            clauses = tuple(index.clause(("block", r.id), ("narrow", r.id, e.port)) for r in rules)
            if clauses:
                out.append(Removal(reach, parent, clauses))
    return out


def _move_removals(
    model: _Model, index: _Index, mitigations: Sequence[Mitigation]
) -> list[Removal]:
    """The pivot into the old zone, and what zone-wide placements put on the moved asset."""
    out = []
    accounts = {a.id: a.name for a in model.inputs.accounts}
    for i, m in enumerate(mitigations):
        if m.kind is not MitigationKind.MOVE_ZONE:
            continue
        asset, alone = model.assets[m.subjects[0]], (frozenset({i}),)
        user = model.node(f"code_exec:user:{asset.name}")
        pivot = model.node(f"net:{model.zone_name(asset)}")
        if pivot is not None and user is not None:
            out.append(Removal(pivot, user, alone))
        human = model.node(f"human:{asset.name}")
        if human is not None and not any(w.asset == asset.id for w in model.inputs.workstations):
            out.append(Removal(human, None, alone))
        access = model.node(f"access:{asset.name}")
        for owner in zone_only_owners(model.inputs.logons, asset):
            name = accounts[owner]
            for label in (f"logon:{name}:{asset.name}", f"harvest:{name}:{asset.name}"):
                node = model.node(label)
                if node is not None:
                    out.append(Removal(node, None, alone))
            credential = model.node(f"credential:{name}")
            if access is not None and credential is not None:
                out.append(Removal(access, credential, alone))
    return out


def zone_only_owners(placements: Sequence[PlacementRecord], asset: AssetRecord) -> set[int]:
    """Owners placed on the asset only through its zone (a move takes them off it)."""
    direct = {p.owner for p in placements if p.asset == asset.id}
    zone = {p.owner for p in placements if p.asset is None and p.zone == asset.zone}
    return zone - direct


def _rewirings(model: _Model, index: _Index) -> list[Rewiring]:
    out = []
    for node, _findings in model.exploits():
        asset = model.assets[int(model.graph.asset_of[node])]
        i = index.by_key.get(("move", asset.id))
        net = model.node(f"net:{model.zone_name(asset)}")
        user = model.node(f"code_exec:user:{asset.name}")
        if i is None or net is None or user is None or net not in model.parents(node):
            continue
        out.append(Rewiring(node, net, user, i))
    return out
