"""Read-side views of findings, joined with their asset and the vulnerability knowledge."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from panacea.findings.models import Finding, FindingStatusChange
from panacea.findings.vocabulary import (
    SEVERITY_BOUNDS,
    Confidence,
    FindingStatus,
    Severity,
    severity_of,
)
from panacea.inventory.assets import Asset
from panacea.vulndb.models import Vulnerability


@dataclass(frozen=True)
class FindingView:
    id: int
    cve: str
    asset_id: int
    asset: str
    locus: str
    status: str
    confidence: str
    source: str
    cvss: float | None
    kev: bool
    epss: float | None
    evidence: str
    first_seen: datetime
    last_seen: datetime
    approver: str | None
    accepted_until: datetime | None


def list_findings(
    session: Session, organisation_id: int, *, statuses: frozenset[str] | None = None
) -> list[FindingView]:
    """Findings of the organisation, optionally only those with one of ``statuses``."""
    score = func.coalesce(
        Vulnerability.cvss_v40_score, Vulnerability.cvss_v31_score, Vulnerability.cvss_v30_score
    )
    query = (
        select(Finding, Asset.name, score, Vulnerability.kev, Vulnerability.epss)
        .join(Asset, Asset.id == Finding.asset_id)
        .outerjoin(Vulnerability, Vulnerability.cve_id == Finding.cve_id)
        .where(Finding.organisation_id == organisation_id)
        .order_by(Asset.name, Finding.cve_id, Finding.id)
    )
    if statuses is not None:
        query = query.where(Finding.status.in_(sorted(statuses)))
    return [
        FindingView(
            id=f.id,
            cve=f.cve_id,
            asset_id=f.asset_id,
            asset=asset,
            locus=f.locus,
            status=f.status,
            confidence=f.confidence,
            source=f.source,
            cvss=cvss,
            kev=bool(kev),
            epss=epss,
            evidence=f.evidence,
            first_seen=f.first_seen,
            last_seen=f.last_seen,
            approver=f.approver,
            accepted_until=f.accepted_until,
        )
        for f, asset, cvss, kev, epss in session.execute(query)
    ]


@dataclass(frozen=True)
class CveCount:
    cve: str
    assets: int
    kev: bool
    cvss: float | None


def open_findings_by_cve(session: Session, organisation_id: int) -> list[CveCount]:
    """Open findings grouped by CVE: how many assets each CVE touches, KEV first."""
    score = func.coalesce(
        Vulnerability.cvss_v40_score, Vulnerability.cvss_v31_score, Vulnerability.cvss_v30_score
    )
    rows = session.execute(
        select(
            Finding.cve_id,
            func.count(func.distinct(Finding.asset_id)),
            func.coalesce(Vulnerability.kev, False),
            score,
        )
        .outerjoin(Vulnerability, Vulnerability.cve_id == Finding.cve_id)
        .where(Finding.organisation_id == organisation_id, Finding.status == "open")
        .group_by(Finding.cve_id, Vulnerability.kev, score)
    )
    counts = [CveCount(cve, int(n), bool(kev), cvss) for cve, n, kev, cvss in rows]
    return sorted(counts, key=lambda c: (not c.kev, -(c.cvss or 0.0), -c.assets, c.cve))


# --- statements and lookups for the API ----------------------------------------------------
# Every statement is scoped to one organisation; the API pages them by finding id.


# The score a finding is ranked by: the newest CVSS version NVD gives (as in list_findings).
def newest_score(vulnerability: type[Vulnerability] = Vulnerability) -> ColumnElement[float]:
    """The score a finding is ranked by everywhere: the newest CVSS version NVD gives (of
    ``vulnerability``, the entity or an alias of it)."""
    return func.coalesce(
        vulnerability.cvss_v40_score, vulnerability.cvss_v31_score, vulnerability.cvss_v30_score
    )


@dataclass(frozen=True)
class FindingFilter:
    """Filters of the findings list; an empty or None filter means any."""

    statuses: frozenset[FindingStatus] = frozenset()
    severities: frozenset[Severity] = frozenset()
    min_cvss: float | None = None
    kev_only: bool = False
    asset_id: int | None = None
    cve: str | None = None
    confidence: Confidence | None = None


def findings_query(organisation_id: int, filters: FindingFilter) -> Select[Finding]:
    """The organisation's findings matching ``filters``."""
    stmt = select(Finding).where(Finding.organisation_id == organisation_id)
    if filters.statuses:
        stmt = stmt.where(Finding.status.in_(sorted(s.value for s in filters.statuses)))
    if filters.asset_id is not None:
        stmt = stmt.where(Finding.asset_id == filters.asset_id)
    if filters.cve is not None:
        stmt = stmt.where(Finding.cve_id == filters.cve.upper())
    if filters.confidence is not None:
        stmt = stmt.where(Finding.confidence == filters.confidence.value)
    score = newest_score()
    knowledge: list[ColumnElement[bool]] = []
    if filters.kev_only:
        knowledge.append(Vulnerability.kev.is_(True))
    if filters.min_cvss is not None:
        knowledge.append(score >= filters.min_cvss)
    if filters.severities:
        bands = [SEVERITY_BOUNDS[s] for s in sorted(filters.severities)]
        knowledge.append(or_(*(and_(score >= low, score < high) for low, high in bands)))
    if knowledge:
        # A finding whose CVE the feeds do not know matches no knowledge filter.
        stmt = stmt.join(Vulnerability, Vulnerability.cve_id == Finding.cve_id).where(*knowledge)
    return stmt


def finding_in(session: Session, organisation_id: int, finding_id: int) -> Finding | None:
    """Finding ``finding_id`` if the organisation owns it, else None."""
    return session.scalar(
        select(Finding).where(Finding.id == finding_id, Finding.organisation_id == organisation_id)
    )


@dataclass(frozen=True)
class FindingDetail:
    """A finding with its asset's name and what the feeds say of its CVE."""

    id: int
    cve: str
    asset_id: int
    asset: str
    locus: str
    endpoint_id: int | None
    component_id: int | None
    status: str
    status_reason: str
    confidence: str
    source: str
    evidence: str
    matched_cpe: str | None
    cvss: float | None
    severity: Severity | None
    kev: bool
    epss: float | None
    first_seen: datetime
    last_seen: datetime
    approver: str | None
    accepted_until: datetime | None


def describe_findings(session: Session, findings: Sequence[Finding]) -> list[FindingDetail]:
    """The details of ``findings``, in their order (two queries for the whole list)."""
    asset_ids = sorted({f.asset_id for f in findings})
    cves = sorted({f.cve_id for f in findings})
    names: dict[int, str] = {}
    known: dict[str, tuple[float | None, bool, float | None]] = {}
    if asset_ids:
        rows = session.execute(select(Asset.id, Asset.name).where(Asset.id.in_(asset_ids)))
        names = dict(rows.all())
    if cves:
        for cve, score, kev, epss in session.execute(
            select(
                Vulnerability.cve_id, newest_score(), Vulnerability.kev, Vulnerability.epss
            ).where(Vulnerability.cve_id.in_(cves))
        ):
            known[cve] = (score, bool(kev), epss)
    return [_detail(f, names.get(f.asset_id, ""), known.get(f.cve_id)) for f in findings]


def _detail(
    f: Finding, asset: str, knowledge: tuple[float | None, bool, float | None] | None
) -> FindingDetail:
    cvss, kev, epss = knowledge or (None, False, None)
    return FindingDetail(
        id=f.id,
        cve=f.cve_id,
        asset_id=f.asset_id,
        asset=asset,
        locus=f.locus,
        endpoint_id=f.endpoint_id,
        component_id=f.component_id,
        status=f.status,
        status_reason=f.status_reason,
        confidence=f.confidence,
        source=f.source,
        evidence=f.evidence,
        matched_cpe=f.matched_cpe,
        cvss=cvss,
        severity=severity_of(cvss),
        kev=kev,
        epss=epss,
        first_seen=f.first_seen,
        last_seen=f.last_seen,
        approver=f.approver,
        accepted_until=f.accepted_until,
    )


def status_history_query(organisation_id: int, finding_id: int) -> Select[FindingStatusChange]:
    """The status changes of one of the organisation's findings."""
    return select(FindingStatusChange).where(
        FindingStatusChange.organisation_id == organisation_id,
        FindingStatusChange.finding_id == finding_id,
    )
