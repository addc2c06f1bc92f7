"""The mitigations worth considering: those that touch an attack path to a clinical service.

Every possible edit is listed per kind and priced: patch each vulnerability of each asset that
may be patched, block each rule or narrow it by each port it lets through to an open endpoint,
move each medical or IoT device with a modelled finding to a new isolated zone, EDR and
application allow-listing on each asset without them, MFA on each account without it, training
for each staff group, and switching off each endpoint that carries a modelled finding.
Workstations are managed as fleets, so a patch, a control or an endpoint switched off on
workstations is one candidate per zone, rolled out to every workstation of the zone that needs
it (its cost is the sum over them). Assets that may not be patched (``patchable: no``) get no
patch: a device gets segmentation, any asset compensating controls.

A candidate is kept only if it removes or lowers something *live*: a node that holds when every
action succeeds (so its probability is not 0) and from which some service can be reached.
Removal-type mitigations that matter only together (two rules letting the same port through)
are kept when they take part in removing a live element at all.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from panacea.inventory.vocabulary import MitigationKind
from panacea.risk.attack_graph import AttackGraph, NodeKind
from panacea.risk.construction import BuiltGraph, build_attack_graph
from panacea.risk.distinct import distinct
from panacea.risk.edits import GraphEdit, single_edits
from panacea.risk.effects import Effects, removal_effects
from panacea.risk.fixpoint import fixed_point
from panacea.risk.inputs import RiskInputs
from panacea.risk.mitigation import CONTROL_OF, REMOVALS, TRAINING_FACTOR, Mitigation, price
from panacea.risk.parameters import ENTRY_PROFILES, RiskParameters
from panacea.risk.ports import allows, port_ranges

PATCH, BLOCK, NARROW = MitigationKind.PATCH, MitigationKind.BLOCK_RULE, MitigationKind.NARROW_RULE
MOVE, MFA, TRAINING = MitigationKind.MOVE_ZONE, MitigationKind.MFA, MitigationKind.TRAINING
DISABLE = MitigationKind.DISABLE_ENDPOINT
MOVABLE_KINDS = frozenset({"medical_device", "iot"})
# Single-word state with every draw succeeding: the least fixed point over all actions.
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


@dataclass(frozen=True)
class CandidateSet:
    """Candidates on one model: the graph, each mitigation's edit, the removals' clauses."""

    built: BuiltGraph
    mitigations: tuple[Mitigation, ...]
    edits: tuple[GraphEdit, ...]
    effects: Effects
    live: NDArray[np.bool_]

    def restricted(self, keep: Sequence[int]) -> CandidateSet:
        """The candidates ``keep`` (indices) alone, renumbered in that order."""
        return CandidateSet(
            self.built,
            tuple(self.mitigations[i] for i in keep),
            tuple(self.edits[i] for i in keep),
            self.effects.restricted(keep),
            self.live,
        )


def candidates(
    inputs: RiskInputs,
    params: RiskParameters,
    entries: tuple[str, ...] = ENTRY_PROFILES,
    *,
    training_factor: float = TRAINING_FACTOR,
) -> list[Mitigation]:
    """The mitigations that touch an attack path to a service from ``entries``, priced."""
    return list(candidate_set(inputs, params, entries, training_factor=training_factor).mitigations)


def candidate_set(
    inputs: RiskInputs,
    params: RiskParameters,
    entries: tuple[str, ...],
    *,
    training_factor: float = TRAINING_FACTOR,
) -> CandidateSet:
    """``candidates`` with the graph and edits the planners work on."""
    built = build_attack_graph(inputs, params, entries=entries)
    live = live_nodes(built)
    everything = list(_possible(inputs, built.graph, training_factor))
    effects = removal_effects(inputs, built, everything)
    edits = single_edits(inputs, built, params, everything, effects)
    useful = _in_live_removals(effects, live)
    keep = [
        i
        for i, (m, edit) in enumerate(zip(everything, edits, strict=True))
        if (i in useful if m.kind in REMOVALS else edit.touches(built.graph, live))
    ]
    # a mitigation's own edit does not depend on the others, so it is kept as computed
    return CandidateSet(built, tuple(everything), tuple(edits), effects, live).restricted(keep)


def held_nodes(built: BuiltGraph) -> NDArray[np.bool_]:
    """Nodes that hold when every action with a chance succeeds (probability not 0)."""
    graph = built.graph
    coins = np.where(graph.probability > 0, _ALL, np.uint64(0)).astype(np.uint64)[:, None]
    state, _ = fixed_point(graph, coins)
    held: NDArray[np.bool_] = state[:, 0] != 0
    return held


def live_nodes(built: BuiltGraph) -> NDArray[np.bool_]:
    """Nodes that hold when every action with a chance succeeds, and lead to some service."""
    return held_nodes(built) & ancestors(built.graph, list(built.service_nodes.values()))


def ancestors(graph: AttackGraph, targets: list[int]) -> NDArray[np.bool_]:
    """Nodes from which some target can be reached (the targets included)."""
    seen = np.zeros(graph.size, dtype=bool)
    frontier = distinct(np.asarray(targets, dtype=np.int64))
    seen[frontier] = True
    while frontier.size:
        starts, ends = graph.indptr[frontier], graph.indptr[frontier + 1]
        parents = np.concatenate([graph.parents[s:e] for s, e in zip(starts, ends, strict=True)])
        frontier = distinct(parents[~seen[parents]])
        seen[frontier] = True
    return seen


def _in_live_removals(effects: Effects, live: NDArray[np.bool_]) -> set[int]:
    out: set[int] = set()
    for r in (*effects.removals, *effects.partial):  # partial: lowers an exploit's chance
        if live[r.node] and (r.parent is None or live[r.parent]):
            out.update(*r.clauses)
    out.update(w.mitigation for w in effects.rewirings if live[w.node] and live[w.old])
    return out


# what could be done, kind by kind -------------------------------------------------------
def _possible(inputs: RiskInputs, graph: AttackGraph, training: float) -> Iterator[Mitigation]:
    yield from _patches(inputs, graph)
    yield from _rules(inputs)
    yield from _moves(inputs, graph)
    yield from _controls(inputs)
    yield from _accounts(inputs)
    yield from _trainings(inputs, training)
    yield from _endpoints(inputs, graph)


@dataclass(frozen=True)
class _Member:
    """One subject of a mitigation, with the names its cost may be listed under."""

    subject: int
    names: tuple[str, ...]
    vendor_approval: bool = False


def _priced(
    inputs: RiskInputs, m: Mitigation, members: list[_Member], *, units: float = 1.0
) -> Mitigation:
    """``m`` on ``members``, costing the sum of their prices (see ``mitigation.price``)."""
    cost = effort = 0.0
    for member in members:
        c, e = price(inputs, m.kind, member.names, units=units, vendor=member.vendor_approval)
        cost, effort = cost + c, effort + e
    subjects = tuple(member.subject for member in members)
    return dataclasses.replace(m, subjects=subjects, cost=cost, effort_days=effort)


def _fleets(
    inputs: RiskInputs, items: Sequence[tuple[int, tuple[object, ...], _Member]]
) -> Iterator[tuple[str | None, list[_Member]]]:
    """Members grouped by key; a workstation's key also has its zone, so that a measure is
    rolled out to every workstation of a zone at once (as workstation fleets are managed).

    ``items`` are (asset id, key, member); yields (zone name of a fleet or None, members).
    """
    assets = {a.id: a for a in inputs.assets}
    zones = {z.id: z.name for z in inputs.zones}
    groups: dict[tuple[object, ...], list[_Member]] = {}
    group: tuple[object, ...]
    for asset_id, key, member in items:
        asset = assets[asset_id]
        if asset.kind == "workstation" and asset.zone is not None:
            group = (key, "fleet", zones[asset.zone])
        else:
            group = (key, "asset", asset_id)
        groups.setdefault(group, []).append(member)
    for (_key, scope, where), members in groups.items():
        yield (str(where) if scope == "fleet" and len(members) > 1 else None), members


def _patches(inputs: RiskInputs, graph: AttackGraph) -> Iterator[Mitigation]:
    modelled = set(graph.exploits.findings.tolist())
    assets = {a.id: a for a in inputs.assets}
    items = []
    for asset_id, cve in sorted({(f.asset, f.cve) for f in inputs.findings if f.id in modelled}):
        asset = assets[asset_id]
        if asset.patchable == "no":
            continue  # the owner may not patch it: segmentation and controls instead
        vendor = asset.patchable == "vendor_approval"
        names = (f"{cve} on {asset.name}", asset.name, cve)
        items.append((asset_id, (cve,), _Member(asset_id, names, vendor)))
    for zone, members in _fleets(inputs, items):
        cve = members[0].names[2]
        target = f"{cve} on {len(members)} workstations in {zone}" if zone else members[0].names[0]
        flags = frozenset({"vendor_approval"} if any(m.vendor_approval for m in members) else ())
        yield _priced(inputs, Mitigation(PATCH, (), target, 0, 0, cve=cve, flags=flags), members)


def _rules(inputs: RiskInputs) -> Iterator[Mitigation]:
    zones = {z.id: z.name for z in inputs.zones}
    zone_of = {a.id: a.zone for a in inputs.assets}
    for rule in inputs.rules:
        pair = f"{zones[rule.from_zone]}->{zones[rule.to_zone]}"
        target = f"{pair} {rule.protocol}/{rule.ports}"
        member = [_Member(rule.id, (target, pair))]
        yield _priced(inputs, Mitigation(BLOCK, (), target, 0, 0), member)
        ranges = port_ranges(rule.ports)
        if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
            continue  # narrowing away the only port is blocking
        ports = {
            e.port
            for e in inputs.endpoints
            if zone_of.get(e.asset) == rule.to_zone
            and allows(rule.protocol, rule.ports, e.protocol, e.port)
        }
        for port in sorted(ports):
            target = f"{pair} {rule.protocol}/{port}"
            member = [_Member(rule.id, (target, pair))]
            yield _priced(inputs, Mitigation(NARROW, (), target, 0, 0, port=port), member)


def _moves(inputs: RiskInputs, graph: AttackGraph) -> Iterator[Mitigation]:
    exploited = {int(graph.asset_of[n]) for n in np.flatnonzero(graph.kind == NodeKind.EXPLOIT)}
    names = {z.name for z in inputs.zones}
    for asset in inputs.assets:
        if asset.kind in MOVABLE_KINDS and asset.zone is not None and asset.id in exploited:
            zone = f"isolated-{asset.name}"
            while zone in names:
                zone += "-1"
            move = Mitigation(MOVE, (), asset.name, 0, 0, zone=zone)
            yield _priced(inputs, move, [_Member(asset.id, (asset.name,))])


def _controls(inputs: RiskInputs) -> Iterator[Mitigation]:
    for kind, control in CONTROL_OF.items():
        items = [
            (a.id, (), _Member(a.id, (a.name,))) for a in inputs.assets if control not in a.controls
        ]
        for zone, members in _fleets(inputs, items):
            target = f"{len(members)} workstations in {zone}" if zone else members[0].names[0]
            yield _priced(inputs, Mitigation(kind, (), target, 0, 0), members)


def _accounts(inputs: RiskInputs) -> Iterator[Mitigation]:
    for account in inputs.accounts:
        if not account.mfa:
            member = [_Member(account.id, (account.name,))]
            yield _priced(inputs, Mitigation(MFA, (), account.name, 0, 0), member)


def _trainings(inputs: RiskInputs, factor: float) -> Iterator[Mitigation]:
    for group in inputs.staff_groups:
        if group.susceptibility > 0:
            training = Mitigation(TRAINING, (), group.name, 0, 0, factor=factor)
            member = [_Member(group.id, (group.name,))]
            yield _priced(inputs, training, member, units=max(1, group.size))


def _endpoints(inputs: RiskInputs, graph: AttackGraph) -> Iterator[Mitigation]:
    """Endpoints that carry a modelled finding: vulnerable services to switch off."""
    modelled = set(graph.exploits.findings.tolist())
    vulnerable = {f.endpoint for f in inputs.findings if f.id in modelled}
    names = {a.id: a.name for a in inputs.assets}
    items = [
        (
            e.asset,
            (e.protocol, e.port),
            _Member(e.id, (f"{names[e.asset]} {e.protocol}/{e.port}", names[e.asset])),
        )
        for e in inputs.endpoints
        if e.id in vulnerable
    ]
    for zone, members in _fleets(inputs, items):
        port = members[0].names[0].rsplit(" ", 1)[1]
        target = f"{port} on {len(members)} workstations in {zone}" if zone else members[0].names[0]
        yield _priced(inputs, Mitigation(DISABLE, (), target, 0, 0), members)
