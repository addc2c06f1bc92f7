"""What the risk model reads from storage, loaded in a few bulk queries into plain records."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from panacea.findings.models import Finding
from panacea.inventory.assets import Asset, Endpoint
from panacea.inventory.clinical import (
    ClinicalService,
    RedundancyGroup,
    ServiceAssetDependency,
    ServiceDependency,
)
from panacea.inventory.network import ReachabilityRule, Zone
from panacea.inventory.overrides import MitigationCost
from panacea.inventory.people import Account, AccountLogon, StaffGroup, StaffWorkstation
from panacea.risk.collector import paused_collector
from panacea.sharing.intel_records import IntelEvidenceRecord, IntelSightingRecord
from panacea.vulndb.models import Vulnerability

# Statuses under which a vulnerability is still there to exploit (an accepted risk is a risk).
EXPLOITABLE_STATUSES = ("open", "accepted")


@dataclass(frozen=True)
class ZoneRecord:
    id: int
    name: str
    kind: str
    isolated: bool


@dataclass(frozen=True)
class RuleRecord:
    id: int
    from_zone: int
    to_zone: int
    protocol: str
    ports: str


@dataclass(frozen=True)
class AssetRecord:
    id: int
    name: str
    kind: str
    zone: int | None
    remote_access_zone: int | None
    controls: frozenset[str]
    patchable: str


@dataclass(frozen=True)
class EndpointRecord:
    id: int
    asset: int
    port: int
    protocol: str


class FindingRecord(NamedTuple):
    """A finding to model (a tuple: a hospital has hundreds of thousands of them)."""

    id: int
    asset: int
    endpoint: int | None
    component: int | None
    cve: str
    confidence: str


@dataclass(frozen=True)
class VulnerabilityRecord:
    cve: str
    vector: str | None
    cwes: frozenset[str]
    kev: bool
    epss: float | None


@dataclass(frozen=True)
class AccountRecord:
    id: int
    name: str
    kind: str
    mfa: bool


@dataclass(frozen=True)
class PlacementRecord:
    """An account's logon, or a staff group's workstation: one asset or a whole zone."""

    owner: int
    asset: int | None
    zone: int | None
    level: str


@dataclass(frozen=True)
class StaffGroupRecord:
    id: int
    name: str
    susceptibility: float
    size: int = 1


@dataclass(frozen=True)
class ServiceRecord:
    id: int
    key: str
    name: str
    patient_safety: str
    cost_per_hour: float
    recovery_hours: float
    records_at_stake: int
    cost_per_record: float


@dataclass(frozen=True)
class DependencyRecord:
    service: int
    asset: int
    needs: str
    group: int | None


@dataclass(frozen=True)
class MitigationCostRecord:
    """The organisation's own cost of a mitigation kind, for one target or ``*`` (all)."""

    kind: str
    target: str
    cost: float
    effort_days: float


@dataclass(frozen=True)
class IntelReport:
    """A peer's report that a CVE is exploited (from :mod:`panacea.sharing.intel`).

    ``source`` is how explanations cite it: a pseudonym of the publisher, never its name.
    """

    report_id: str
    source: str
    confidence: float
    name: str = ""


@dataclass(frozen=True)
class IntelRecord:
    """What shared intelligence says of one CVE: ``confidence`` that it is exploited.

    Reports are taken as independent witnesses: ``confidence = 1 - prod(1 - c_i)``
    (:func:`combine_reports`); ``reports`` are the strongest first (explanations cite them).
    """

    cve: str
    confidence: float
    reports: tuple[IntelReport, ...]


def combine_reports(cve: str, reports: Iterable[IntelReport]) -> IntelRecord:
    """The intel of ``cve`` from its reports (one per report id: the latest given wins)."""
    by_id = {r.report_id: r for r in reports}
    ordered = tuple(sorted(by_id.values(), key=lambda r: (-r.confidence, r.report_id)))
    miss = 1.0
    for report in ordered:
        miss *= 1.0 - min(1.0, max(0.0, report.confidence))
    return IntelRecord(cve, 1.0 - miss, ordered)


@dataclass(frozen=True)
class EvidenceRecord:
    """A received indicator that names an asset: evidence that the asset is compromised
    (its ``code_exec:user`` node is pinned to ``confidence``)."""

    asset: int
    confidence: float
    matched: str
    report_id: str
    source: str


@dataclass(frozen=True)
class RiskInputs:
    organisation_id: int
    zones: tuple[ZoneRecord, ...]
    rules: tuple[RuleRecord, ...]
    assets: tuple[AssetRecord, ...]
    endpoints: tuple[EndpointRecord, ...]
    findings: tuple[FindingRecord, ...]
    vulnerabilities: dict[str, VulnerabilityRecord]
    accounts: tuple[AccountRecord, ...]
    logons: tuple[PlacementRecord, ...]
    staff_groups: tuple[StaffGroupRecord, ...]
    workstations: tuple[PlacementRecord, ...]
    services: tuple[ServiceRecord, ...]
    dependencies: tuple[DependencyRecord, ...]
    groups: dict[int, tuple[int, str]]  # redundancy group id -> (k, name)
    service_dependencies: tuple[tuple[int, int], ...]
    mitigation_costs: tuple[MitigationCostRecord, ...] = ()
    # Shared intelligence (docs/risk-model.md, "Shared intelligence"): CVE -> exploitation
    # reports received from peers, and indicators received that name the organisation's assets.
    intel: dict[str, IntelRecord] = field(default_factory=dict)
    evidence: tuple[EvidenceRecord, ...] = ()

    def intel_confidence(self, cve: str) -> float:
        """The combined confidence of peers' reports that ``cve`` is exploited (0 if none)."""
        record = self.intel.get(cve)
        return record.confidence if record is not None else 0.0


def _vector(v: Vulnerability) -> str | None:
    return v.cvss_v31_vector or v.cvss_v30_vector or v.cvss_v40_vector


def load_inputs(session: Session, organisation_id: int) -> RiskInputs:
    """Everything the risk model needs about one organisation, from the database.

    With the cyclic garbage collector paused (``collector``): the records are hundreds of
    thousands of tuples, which it would otherwise rescan again and again (it halves the load of
    200,000 findings).
    """
    with paused_collector():
        return _load_inputs(session, organisation_id)


def _load_inputs(session: Session, organisation_id: int) -> RiskInputs:
    org = organisation_id
    # column queries go through the Core connection: rows come back as plain tuples, without
    # the ORM's per-row bookkeeping (a third of the load of 200,000 findings); they do not
    # flush the session by themselves, so flush what the caller added first
    session.flush()
    connection = session.connection()

    def rows(entity: type) -> list:  # type: ignore[type-arg]
        return list(session.scalars(select(entity).where(entity.organisation_id == org)))  # type: ignore[attr-defined]

    findings = connection.execute(
        select(
            Finding.id,
            Finding.asset_id,
            Finding.endpoint_id,
            Finding.component_id,
            Finding.cve_id,
            Finding.confidence,
        )
        .join(Endpoint, Endpoint.id == Finding.endpoint_id, isouter=True)
        .where(
            Finding.organisation_id == org,
            Finding.status.in_(EXPLOITABLE_STATUSES),
            (Finding.endpoint_id.is_(None)) | (Endpoint.state == "open"),
        )
    ).all()  # one fetch; row by row, loading 200,566 findings took 0.53-0.56 s, not 0.44-0.47
    finding_records = tuple(map(FindingRecord._make, findings))
    cves = sorted({f.cve for f in finding_records})
    vulnerabilities: dict[str, VulnerabilityRecord] = {}
    for start in range(0, len(cves), 5000):
        for v in session.scalars(
            select(Vulnerability).where(Vulnerability.cve_id.in_(cves[start : start + 5000]))
        ):
            vulnerabilities[v.cve_id] = VulnerabilityRecord(
                v.cve_id, _vector(v), frozenset(v.cwes or ()), v.kev, v.epss
            )
    reports: dict[str, list[IntelReport]] = {}
    for start in range(0, len(cves), 5000):
        for row in session.scalars(
            select(IntelSightingRecord).where(
                IntelSightingRecord.organisation_id == org,
                IntelSightingRecord.cve.in_(cves[start : start + 5000]),
            )
        ):
            reports.setdefault(row.cve, []).append(
                IntelReport(row.report_id, row.source, row.confidence, row.report_name)
            )
    evidence = tuple(
        EvidenceRecord(e.asset_id, e.confidence, e.matched, e.report_id, e.source)
        for e in session.scalars(
            select(IntelEvidenceRecord)
            .where(IntelEvidenceRecord.organisation_id == org)
            .order_by(IntelEvidenceRecord.id)
        )
    )
    endpoints = connection.execute(
        select(Endpoint.id, Endpoint.asset_id, Endpoint.port, Endpoint.protocol).where(
            Endpoint.organisation_id == org, Endpoint.state == "open"
        )
    ).all()
    return RiskInputs(
        organisation_id=org,
        zones=tuple(ZoneRecord(z.id, z.name, z.kind, z.isolated) for z in rows(Zone)),
        rules=tuple(
            RuleRecord(r.id, r.from_zone_id, r.to_zone_id, r.protocol, r.ports)
            for r in rows(ReachabilityRule)
        ),
        assets=tuple(
            AssetRecord(i, name, kind, zone, remote, frozenset(controls or ()), patchable)
            for i, name, kind, zone, remote, controls, patchable in connection.execute(
                select(
                    Asset.id,
                    Asset.name,
                    Asset.kind,
                    Asset.zone_id,
                    Asset.remote_access_zone_id,
                    Asset.controls,
                    Asset.patchable,
                )
                .where(Asset.organisation_id == org)
                .order_by(Asset.id)
            ).all()
        ),
        endpoints=tuple(EndpointRecord(*e) for e in endpoints),
        findings=finding_records,
        vulnerabilities=vulnerabilities,
        accounts=tuple(AccountRecord(a.id, a.name, a.kind, a.mfa) for a in rows(Account)),
        logons=tuple(
            PlacementRecord(*x)
            for x in connection.execute(
                select(
                    AccountLogon.account_id,
                    AccountLogon.asset_id,
                    AccountLogon.zone_id,
                    AccountLogon.level,
                ).where(AccountLogon.organisation_id == org)
            ).all()
        ),
        staff_groups=tuple(
            StaffGroupRecord(g.id, g.name, g.phishing_susceptibility, g.size)
            for g in rows(StaffGroup)
        ),
        workstations=tuple(
            PlacementRecord(group, asset, zone, "user")
            for group, asset, zone in connection.execute(
                select(
                    StaffWorkstation.staff_group_id,
                    StaffWorkstation.asset_id,
                    StaffWorkstation.zone_id,
                ).where(StaffWorkstation.organisation_id == org)
            ).all()
        ),
        services=tuple(
            ServiceRecord(
                s.id,
                s.key,
                s.name,
                s.patient_safety,
                s.cost_per_hour,
                s.recovery_hours,
                s.records_at_stake,
                s.cost_per_record,
            )
            for s in rows(ClinicalService)
        ),
        dependencies=tuple(
            DependencyRecord(d.service_id, d.asset_id, d.needs, d.redundancy_group_id)
            for d in rows(ServiceAssetDependency)
        ),
        groups={g.id: (g.k, g.name) for g in rows(RedundancyGroup)},
        service_dependencies=tuple(
            (d.service_id, d.depends_on_id) for d in rows(ServiceDependency)
        ),
        mitigation_costs=tuple(
            MitigationCostRecord(c.kind, c.target, c.cost, c.effort_days)
            for c in rows(MitigationCost)
        ),
        intel={cve: combine_reports(cve, found) for cve, found in sorted(reports.items())},
        evidence=evidence,
    )
