"""Read-side views of findings, joined with their asset and the vulnerability knowledge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from panacea.findings.models import Finding
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
