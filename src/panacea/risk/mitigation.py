"""Mitigations as edits to the risk model, what they cost, and the plans made of them.

A mitigation is a function ``RiskInputs -> RiskInputs`` (DESIGN.md, Mitigation): patching
removes findings, blocking or narrowing edits a reachability rule, segmentation moves an asset
to another zone, MFA, EDR and application allow-listing change an account or an asset, training
lowers a staff group's phishing susceptibility, disabling an endpoint removes it with its
findings. ``apply`` performs them; the planners (``budget.budget_plan``, ``cut.cut_plan``)
choose them. Costs and efforts are documented in docs/mitigation.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from panacea.inventory.vocabulary import MitigationKind
from panacea.risk.errors import RiskModelError
from panacea.risk.impact import RiskClass, RiskMatrix, loss_if_disrupted
from panacea.risk.inputs import AssetRecord, RiskInputs, RuleRecord, ZoneRecord
from panacea.risk.ports import port_ranges

# Default (cost, effort in person-days) of one unit of each kind: a finding patched, an asset
# covered for a year, an account enrolled, a person trained, an asset moved, a rule edited,
# an endpoint switched off. The inventory's mitigation_costs rows override them.
DEFAULT_COSTS: dict[MitigationKind, tuple[float, float]] = {
    MitigationKind.PATCH: (400.0, 0.5),
    MitigationKind.EDR: (60.0, 0.1),
    MitigationKind.ALLOWLISTING: (150.0, 0.5),
    MitigationKind.MFA: (30.0, 0.05),
    MitigationKind.TRAINING: (25.0, 0.05),
    MitigationKind.MOVE_ZONE: (5000.0, 3.0),
    MitigationKind.BLOCK_RULE: (500.0, 0.5),
    MitigationKind.NARROW_RULE: (300.0, 0.25),
    MitigationKind.DISABLE_ENDPOINT: (200.0, 0.25),
}
# Patching an asset whose vendor must approve the patch (validation, a field engineer's visit)
# costs this many times more, in money and in effort.
VENDOR_APPROVAL_FACTOR = 3.0
# Training halves a group's phishing susceptibility by default (configurable per plan).
TRAINING_FACTOR = 0.5
# Mitigations that remove something from the model: only these can cut an attack path.
REMOVALS = frozenset(
    {
        MitigationKind.PATCH,
        MitigationKind.BLOCK_RULE,
        MitigationKind.NARROW_RULE,
        MitigationKind.MOVE_ZONE,
        MitigationKind.DISABLE_ENDPOINT,
    }
)
CONTROL_OF = {MitigationKind.EDR: "edr", MitigationKind.ALLOWLISTING: "application_allowlisting"}


@dataclass(frozen=True)
class Mitigation:
    """One edit of the model, done on each of ``subjects`` (ids), which are by kind:

    patch: assets (``cve`` says which vulnerability); block_rule, narrow_rule: a rule
    (``port``: the port narrowed away); move_zone: an asset (``zone``: the destination,
    created isolated if no zone has that name); edr, allowlisting: assets; mfa: an account;
    training: a staff group (``factor``: susceptibility multiplier); disable_endpoint:
    endpoints. Several subjects make a fleet-wide measure (a patch rolled out to every
    workstation of a zone); its cost is the sum of its members' costs.
    """

    kind: MitigationKind
    subjects: tuple[int, ...]
    target: str
    cost: float
    effort_days: float
    cve: str | None = None
    port: int | None = None
    zone: str | None = None
    factor: float = 1.0
    flags: frozenset[str] = field(default_factory=frozenset)

    @property
    def key(self) -> tuple[str, tuple[int, ...], str | None, int | None, str | None]:
        """What the mitigation does, whatever it costs (two candidates with one key are one)."""
        return (self.kind.value, self.subjects, self.cve, self.port, self.zone)


@dataclass(frozen=True)
class CurvePoint:
    """The state of a plan after its first mitigations: cumulative cost and the risk left.

    ``rosi`` is the return of the step that led here: (risk reduced - cost) / cost.
    """

    cost: float
    risk: float
    risk_classes: dict[str, int]
    mitigation: Mitigation | None
    rosi: float | None


@dataclass(frozen=True)
class Plan:
    """Chosen mitigations and what they buy: total risk is the services' expected annual loss.

    ``rosi`` = (risk_before - risk_after - total_cost) / total_cost (None if nothing is spent).
    """

    mitigations: tuple[Mitigation, ...]
    total_cost: float
    total_effort_days: float
    risk_before: float
    risk_after: float
    curve: tuple[CurvePoint, ...]
    rosi: float | None
    candidates: int
    service: str | None = None


def rosi(reduction: float, cost: float) -> float | None:
    """Return on security investment, (reduction - cost) / cost; None for a free step."""
    return (reduction - cost) / cost if cost > 0 else None


def curve_point(
    inputs: RiskInputs,
    probability: dict[int, float],
    matrix: RiskMatrix,
    spent: float,
    picks: Sequence[Mitigation],
    previous_risk: float | None,
) -> CurvePoint:
    """The point reached after ``picks`` (cumulative cost ``spent``), given each service's
    probability of disruption then; the step's ROSI is against ``previous_risk``."""
    classes = {c.label: 0 for c in RiskClass}
    risk = 0.0
    for service in inputs.services:
        p = probability[service.id]
        classes[matrix.classify(service.patient_safety, p).label] += 1
        risk += p * loss_if_disrupted(service)
    if not picks or previous_risk is None:
        return CurvePoint(spent, risk, classes, None, None)
    return CurvePoint(spent, risk, classes, picks[-1], rosi(previous_risk - risk, picks[-1].cost))


def plan_of(
    picks: Sequence[Mitigation],
    curve: Sequence[CurvePoint],
    considered: int,
    service: str | None = None,
) -> Plan:
    """The plan of ``picks`` whose curve (first point: nothing done) is ``curve``."""
    before, after = curve[0].risk, curve[-1].risk
    total = sum(m.cost for m in picks)
    return Plan(
        mitigations=tuple(picks),
        total_cost=total,
        total_effort_days=sum(m.effort_days for m in picks),
        risk_before=before,
        risk_after=after,
        curve=tuple(curve),
        rosi=rosi(before - after, total),
        candidates=considered,
        service=service,
    )


# costs ----------------------------------------------------------------------------------
def price(
    inputs: RiskInputs,
    kind: MitigationKind,
    names: Sequence[str],
    *,
    units: float = 1.0,
    vendor: bool = False,
) -> tuple[float, float]:
    """(cost, effort in person-days) of a mitigation of ``kind`` on the target called ``names``.

    A mitigation_costs row whose target is one of ``names`` (most specific first) gives the
    total as is; otherwise a ``*`` row, or DEFAULT_COSTS, gives the price of one unit, times
    ``units`` and times VENDOR_APPROVAL_FACTOR for a patch that needs the ``vendor``'s approval.
    """
    rows = {(r.kind, r.target): r for r in inputs.mitigation_costs}
    for name in names:
        row = rows.get((kind.value, name))
        if row is not None:
            return row.cost, row.effort_days
    star = rows.get((kind.value, "*"))
    cost, effort = (star.cost, star.effort_days) if star else DEFAULT_COSTS[kind]
    factor = units * (VENDOR_APPROVAL_FACTOR if vendor else 1.0)
    return cost * factor, effort * factor


# applying -------------------------------------------------------------------------------
def apply(inputs: RiskInputs, mitigations: Iterable[Mitigation]) -> RiskInputs:
    """The inputs with every mitigation applied, in order.

    Raises RiskModelError if a mitigation names something the inputs do not have (an asset,
    rule, account, staff group or endpoint id, or a port the rule does not allow).
    """
    for mitigation in mitigations:
        if not mitigation.subjects:
            raise RiskModelError(f"{mitigation.kind.value} {mitigation.target!r} has no subject")
        for subject in mitigation.subjects:
            inputs = _EDITS[mitigation.kind](inputs, mitigation, subject)
    return inputs


def _missing(m: Mitigation, what: str, subject: int) -> RiskModelError:
    return RiskModelError(f"{m.kind.value} {m.target!r}: no {what} with id {subject}")


def _asset(inputs: RiskInputs, m: Mitigation, subject: int) -> AssetRecord:
    for asset in inputs.assets:
        if asset.id == subject:
            return asset
    raise _missing(m, "asset", subject)


def _rule(inputs: RiskInputs, m: Mitigation, subject: int) -> RuleRecord:
    for rule in inputs.rules:
        if rule.id == subject:
            return rule
    raise _missing(m, "reachability rule", subject)


def _replace_asset(inputs: RiskInputs, asset: AssetRecord) -> RiskInputs:
    assets = tuple(asset if a.id == asset.id else a for a in inputs.assets)
    return dataclasses.replace(inputs, assets=assets)


def _patch(inputs: RiskInputs, m: Mitigation, subject: int) -> RiskInputs:
    _asset(inputs, m, subject)
    findings = tuple(f for f in inputs.findings if not (f.asset == subject and f.cve == m.cve))
    return dataclasses.replace(inputs, findings=findings)


def _block_rule(inputs: RiskInputs, m: Mitigation, subject: int) -> RiskInputs:
    _rule(inputs, m, subject)
    return dataclasses.replace(inputs, rules=tuple(r for r in inputs.rules if r.id != subject))


def ports_without(ports: str, port: int) -> str:
    """The port set ``ports`` (``*`` or ``22,8000-8100``) less ``port``; "" if nothing is left.

    Raises RiskModelError if ``port`` is not in the set.
    """
    ranges = port_ranges(ports)
    if not any(low <= port <= high for low, high in ranges):
        raise RiskModelError(f"port {port} is not among the rule's ports {ports!r}")
    parts: list[str] = []
    for low, high in ranges:
        pieces = [(low, port - 1), (port + 1, high)] if low <= port <= high else [(low, high)]
        parts += [str(a) if a == b else f"{a}-{b}" for a, b in pieces if a <= b]
    return ",".join(parts)


def _narrow_rule(inputs: RiskInputs, m: Mitigation, subject: int) -> RiskInputs:
    rule = _rule(inputs, m, subject)
    if m.port is None:
        raise RiskModelError(f"narrow_rule {m.target!r} names no port")
    try:
        ports = ports_without(rule.ports, m.port)
    except RiskModelError as e:
        raise RiskModelError(f"narrow_rule {m.target!r}: {e}") from e
    rules = tuple(
        dataclasses.replace(r, ports=ports) if r.id == rule.id else r
        for r in inputs.rules
        if r.id != rule.id or ports
    )
    return dataclasses.replace(inputs, rules=rules)


def _move_zone(inputs: RiskInputs, m: Mitigation, subject: int) -> RiskInputs:
    asset = _asset(inputs, m, subject)
    if not m.zone:
        raise RiskModelError(f"move_zone {m.target!r} names no destination zone")
    zone = next((z for z in inputs.zones if z.name == m.zone), None)
    if zone is None:
        zone = ZoneRecord(  # a new id; not negative, which the model reads as "no zone"
            id=max(0, *(z.id for z in inputs.zones)) + 1,
            name=m.zone,
            kind="medical_devices" if asset.kind == "medical_device" else "other",
            isolated=True,
        )
        inputs = dataclasses.replace(inputs, zones=(*inputs.zones, zone))
    return _replace_asset(inputs, dataclasses.replace(asset, zone=zone.id))


def _control(inputs: RiskInputs, m: Mitigation, subject: int) -> RiskInputs:
    asset = _asset(inputs, m, subject)
    controls = asset.controls | {CONTROL_OF[m.kind]}
    return _replace_asset(inputs, dataclasses.replace(asset, controls=controls))


def _mfa(inputs: RiskInputs, m: Mitigation, subject: int) -> RiskInputs:
    if not any(a.id == subject for a in inputs.accounts):
        raise _missing(m, "account", subject)
    accounts = tuple(
        dataclasses.replace(a, mfa=True) if a.id == subject else a for a in inputs.accounts
    )
    return dataclasses.replace(inputs, accounts=accounts)


def _training(inputs: RiskInputs, m: Mitigation, subject: int) -> RiskInputs:
    if not any(g.id == subject for g in inputs.staff_groups):
        raise _missing(m, "staff group", subject)
    if not 0.0 <= m.factor <= 1.0:
        raise RiskModelError(f"training {m.target!r}: factor {m.factor} is not in [0, 1]")
    groups = tuple(
        dataclasses.replace(g, susceptibility=g.susceptibility * m.factor) if g.id == subject else g
        for g in inputs.staff_groups
    )
    return dataclasses.replace(inputs, staff_groups=groups)


def _disable_endpoint(inputs: RiskInputs, m: Mitigation, subject: int) -> RiskInputs:
    if not any(e.id == subject for e in inputs.endpoints):
        raise _missing(m, "open endpoint", subject)
    return dataclasses.replace(
        inputs,
        endpoints=tuple(e for e in inputs.endpoints if e.id != subject),
        findings=tuple(f for f in inputs.findings if f.endpoint != subject),
    )


_EDITS = {
    MitigationKind.PATCH: _patch,
    MitigationKind.BLOCK_RULE: _block_rule,
    MitigationKind.NARROW_RULE: _narrow_rule,
    MitigationKind.MOVE_ZONE: _move_zone,
    MitigationKind.MFA: _mfa,
    MitigationKind.EDR: _control,
    MitigationKind.ALLOWLISTING: _control,
    MitigationKind.TRAINING: _training,
    MitigationKind.DISABLE_ENDPOINT: _disable_endpoint,
}
