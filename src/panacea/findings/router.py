"""Findings routes: the filtered list, one finding and its history, triage and risk acceptance.

Every status change goes through ``findings.service.set_status`` (the CLI's path too) and is
audited in the same transaction. Accepting a risk is its own route: it needs ``risk:accept``,
which triage roles do not hold (the approver of a risk is not whoever found it convenient).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from panacea.api.deps import Db, require
from panacea.api.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, paginate
from panacea.api.problems import ProblemError
from panacea.findings import triage, views
from panacea.findings.models import Finding, FindingStatusChange
from panacea.findings.schemas import AcceptanceIn, FindingOut, StatusChangeIn, StatusChangeOut
from panacea.findings.vocabulary import Confidence, FindingStatus, Severity
from panacea.identity.principal import OrgAccess
from panacea.identity.roles import Permission

router = APIRouter(prefix="/orgs/{org_id}/findings", tags=["findings"])

Reader = Annotated[OrgAccess, Depends(require(Permission.FINDINGS_READ))]
Triager = Annotated[OrgAccess, Depends(require(Permission.FINDINGS_TRIAGE))]
Acceptor = Annotated[OrgAccess, Depends(require(Permission.RISK_ACCEPT))]
FindingId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _finding(db: Db, access: OrgAccess, finding_id: int) -> Finding:
    finding = views.finding_in(db, access.organisation_id, finding_id)
    if finding is None:
        raise ProblemError(404, f"no finding {finding_id}", slug="not-found")
    return finding


def _out(db: Db, finding: Finding) -> FindingOut:
    return FindingOut.of(views.describe_findings(db, [finding])[0])


@router.get("", summary="Findings, filtered by status, severity, KEV, asset, CVE or confidence")
def list_findings(
    access: Reader,
    db: Db,
    status: Annotated[list[FindingStatus] | None, Query(max_length=5)] = None,
    severity: Annotated[list[Severity] | None, Query(max_length=5)] = None,
    min_cvss: Annotated[float | None, Query(ge=0.0, le=10.0)] = None,
    kev: Annotated[bool, Query(description="Only CVEs on the CISA KEV catalogue")] = False,
    asset_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    cve: Annotated[str | None, Query(pattern=r"^[Cc][Vv][Ee]-\d{4}-\d{4,7}$")] = None,
    confidence: Confidence | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[FindingOut]:
    filters = views.FindingFilter(
        statuses=frozenset(status or ()),
        severities=frozenset(severity or ()),
        min_cvss=min_cvss,
        kev_only=kev,
        asset_id=asset_id,
        cve=cve,
        confidence=confidence,
    )
    stmt = views.findings_query(access.organisation_id, filters)
    page = paginate(db, stmt, Finding.id, cursor=cursor, limit=limit, convert=_finding_row)
    details = views.describe_findings(db, page.items)
    return Page[FindingOut](items=[FindingOut.of(d) for d in details], next=page.next)


def _finding_row(row: Finding) -> Finding:
    """Keep the row: the page is described in bulk (two queries, not two per finding)."""
    return row


@router.get("/{finding_id}", summary="One finding")
def get_finding(access: Reader, db: Db, finding_id: FindingId) -> FindingOut:
    return _out(db, _finding(db, access, finding_id))


@router.get("/{finding_id}/history", summary="Status changes of one finding, oldest first")
def finding_history(
    access: Reader,
    db: Db,
    finding_id: FindingId,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[StatusChangeOut]:
    _finding(db, access, finding_id)
    stmt = views.status_history_query(access.organisation_id, finding_id)
    return paginate(
        db, stmt, FindingStatusChange.id, cursor=cursor, limit=limit, convert=StatusChangeOut.of
    )


@router.post("/{finding_id}/status", summary="Triage: set a finding's status, with a reason")
def change_status(
    access: Triager, db: Db, finding_id: FindingId, change: StatusChangeIn
) -> FindingOut:
    _finding(db, access, finding_id)
    finding = triage.change_status(db, access, finding_id, change)
    return _out(db, finding)


@router.post(
    "/{finding_id}/acceptance",
    summary="Accept a finding's risk: approver, reason and an expiry in the future",
)
def accept_risk(
    access: Acceptor, db: Db, finding_id: FindingId, acceptance: AcceptanceIn
) -> FindingOut:
    _finding(db, access, finding_id)
    finding = triage.accept_risk(db, access, finding_id, acceptance)
    return _out(db, finding)
