"""The data of the findings table, and the two changes a person makes to a finding.

The filters are the API's (``findings.views.findings_query``: status, severity, CVSS, KEV,
asset, CVE, confidence) plus a minimum EPSS and an asset-name search. Triage and risk
acceptance go through ``findings.service.set_status`` and append the same audit entries as
the API routes (``finding.status_changed``, ``risk.accepted``) in the same transaction.

Sorting (timings at 20,000 assets / 43,000 findings in docs/dashboard.md): ``id`` is the
primary key, ``cve`` and ``status`` are indexed; ``asset`` (the asset's name), ``cvss``,
``epss``, ``kev``, ``confidence`` and ``last_seen`` are sorted by the database over the
organisation's filtered findings (a top-N heap sort with LIMIT; every row joins its asset and
its vulnerability by primary key).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Select, func
from sqlalchemy.orm import Session, aliased

from panacea.findings import triage, views
from panacea.findings.errors import FindingError
from panacea.findings.models import Finding, FindingStatusChange
from panacea.findings.schemas import AcceptanceIn, StatusChangeIn
from panacea.findings.views import newest_score
from panacea.findings.vocabulary import Confidence, FindingStatus, severity_of
from panacea.identity.principal import OrgAccess
from panacea.inventory.assets import Asset
from panacea.vulndb.models import Vulnerability
from panacea.web.table_paging import TablePage, TableRequest

FINDING_SORTS = ("id", "cve", "status", "asset", "cvss", "epss", "kev", "confidence", "last_seen")
# Statuses a triage sets; ``accepted`` is the acceptance form's (it needs risk:accept).
TRIAGE_STATUSES = (
    FindingStatus.OPEN,
    FindingStatus.MITIGATED,
    FindingStatus.FALSE_POSITIVE,
    FindingStatus.RESOLVED,
)


class FindingChangeError(FindingError):
    """A status change or risk acceptance the dashboard refuses; the message says why."""


@dataclass(frozen=True)
class FindingQuery:
    """The findings table's filters; empty or None means any."""

    statuses: frozenset[FindingStatus] = frozenset()
    kev_only: bool = False
    min_cvss: float | None = None
    min_epss: float | None = None
    confidence: Confidence | None = None
    asset_id: int | None = None
    asset_search: str | None = None
    cve: str | None = None

    def views_filter(self) -> views.FindingFilter:
        return views.FindingFilter(
            statuses=self.statuses,
            min_cvss=self.min_cvss,
            kev_only=self.kev_only,
            asset_id=self.asset_id,
            confidence=self.confidence,
        )


_vuln = aliased(Vulnerability, name="shown_vulnerability")


def _filtered(organisation_id: int, query: FindingQuery) -> Select[Any]:
    """The findings matching ``query`` joined with their asset and (if known) vulnerability.

    ``views.findings_query`` may join ``Vulnerability`` itself (for its knowledge filters);
    the columns shown come from an alias, so the two joins never collide.
    """
    stmt = (
        views.findings_query(organisation_id, query.views_filter())
        .join(Asset, Asset.id == Finding.asset_id)
        .outerjoin(_vuln, _vuln.cve_id == Finding.cve_id)
    )
    if query.min_epss is not None:
        stmt = stmt.where(_vuln.epss >= query.min_epss)
    if query.cve:
        # Part of an identifier ("2021-44228" finds CVE-2021-44228).
        stmt = stmt.where(Finding.cve_id.contains(query.cve.upper(), autoescape=True))
    if query.asset_search:
        needle = query.asset_search.lower()
        stmt = stmt.where(func.lower(Asset.name).contains(needle, autoescape=True))
    return stmt


def _sort_column(sort: str) -> Any:
    return {
        "id": Finding.id,
        "cve": Finding.cve_id,
        "status": Finding.status,
        "asset": Asset.name,
        "cvss": func.coalesce(newest_score(_vuln), -1.0),
        "epss": func.coalesce(_vuln.epss, -1.0),
        "kev": func.coalesce(_vuln.kev, False),
        "confidence": Finding.confidence,
        "last_seen": Finding.last_seen,
    }[sort]


def finding_page(
    session: Session, organisation_id: int, query: FindingQuery, request: TableRequest
) -> TablePage:
    """One page of the organisation's findings matching ``query``."""
    base = _filtered(organisation_id, query)
    total = session.scalar(base.with_only_columns(func.count(Finding.id)).order_by(None)) or 0
    if request.offset >= total > 0:  # a filter shrank the set: show its last page
        last = (total - 1) // request.size + 1
        request = TableRequest(last, request.size, request.sort, request.descending)
    column = _sort_column(request.sort)
    stmt = base.with_only_columns(
        Finding, Asset.name, newest_score(_vuln), _vuln.kev, _vuln.epss
    ).order_by(
        column.desc() if request.descending else column.asc(),
        Finding.id.desc() if request.descending else Finding.id.asc(),
    )
    rows = session.execute(stmt.limit(request.size).offset(request.offset)).all()
    return TablePage(
        [_row(f, asset, cvss, kev, epss) for f, asset, cvss, kev, epss in rows],
        int(total),
        request,
    )


def _row(
    f: Finding, asset: str, cvss: float | None, kev: bool | None, epss: float | None
) -> dict[str, Any]:
    severity = severity_of(cvss)
    return {
        "id": f.id,
        "cve": f.cve_id,
        "asset_id": f.asset_id,
        "asset": asset,
        "locus": f.locus,
        "status": f.status,
        "confidence": f.confidence,
        "cvss": cvss,
        "severity": severity.value if severity is not None else "",
        "kev": "KEV" if kev else "",
        "epss": epss,
        "last_seen": f.last_seen.date().isoformat(),
        "approver": f.approver or "",
        "accepted_until": f.accepted_until.date().isoformat() if f.accepted_until else "",
    }


@dataclass(frozen=True)
class FindingHistory:
    """One finding's details and its status changes, newest first."""

    detail: views.FindingDetail
    changes: list[dict[str, Any]]


def finding_history(
    session: Session, organisation_id: int, finding_id: int, *, limit: int = 50
) -> FindingHistory | None:
    """Finding ``finding_id`` of the organisation with its newest ``limit`` changes, or None."""
    finding = views.finding_in(session, organisation_id, finding_id)
    if finding is None:
        return None
    changes = session.scalars(
        views.status_history_query(organisation_id, finding_id)
        .order_by(FindingStatusChange.id.desc())
        .limit(limit)
    )
    return FindingHistory(
        views.describe_findings(session, [finding])[0],
        [
            {
                "id": c.id,
                "at": c.at.isoformat(timespec="seconds"),
                "old": c.old_status,
                "new": c.new_status,
                "reason": c.reason,
                "actor": c.actor,
            }
            for c in changes
        ],
    )


def _validation_message(error: ValidationError) -> str:
    parts = []
    for problem in error.errors():
        where = ".".join(str(p) for p in problem["loc"]) or "input"
        parts.append(f"{where}: {problem['msg']}")
    return "; ".join(parts)


def change_status(
    session: Session, access: OrgAccess, finding_id: int, status: str, reason: str
) -> Finding:
    """Triage: set finding ``finding_id``'s status (not ``accepted``), as the API route does.

    Validates as the route (``StatusChangeIn``), changes through ``set_status`` and appends
    ``finding.status_changed`` in the caller's transaction. The caller checks
    ``findings:triage`` (``WebCaller.transaction``). Raises FindingChangeError (bad input) or
    FindingError (unknown finding, refused change).
    """
    try:
        change = StatusChangeIn.model_validate({"status": status, "reason": reason})
    except ValidationError as e:
        raise FindingChangeError(_validation_message(e)) from e
    return triage.change_status(session, access, finding_id, change)


def accept_risk(
    session: Session,
    access: OrgAccess,
    finding_id: int,
    *,
    approver: str,
    reason: str,
    expires: str | datetime,
) -> Finding:
    """Accept finding ``finding_id``'s risk until ``expires``, as the API route does.

    ``expires`` is an ISO date or date-time (a date means midnight UTC) and must be in the
    future. Appends ``risk.accepted``; the caller checks ``risk:accept``. Raises
    FindingChangeError (bad input) or FindingError (unknown finding, refused acceptance).
    """
    try:
        acceptance = AcceptanceIn.model_validate(
            {"approver": approver, "reason": reason, "expires": expires}
        )
    except ValidationError as e:
        raise FindingChangeError(_validation_message(e)) from e
    return triage.accept_risk(session, access, finding_id, acceptance)


def query_of(values: Mapping[str, Any]) -> FindingQuery:
    """A FindingQuery from the filter controls' values (as the page holds them), validated."""
    statuses = frozenset(
        FindingStatus(s) for s in values.get("statuses") or () if s in set(FindingStatus)
    )
    confidence = values.get("confidence")
    return FindingQuery(
        statuses=statuses,
        kev_only=values.get("kev_only") is True,
        min_cvss=_bounded(values.get("min_cvss"), 0.0, 10.0),
        min_epss=_bounded(values.get("min_epss"), 0.0, 1.0),
        confidence=Confidence(confidence) if confidence in set(Confidence) else None,
        asset_id=_positive(values.get("asset_id")),
        asset_search=_text(values.get("asset_search")),
        cve=_text(values.get("cve")),
    )


def _bounded(value: Any, low: float, high: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return min(max(float(value), low), high) if value > low else None


def _positive(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 < value < 2**31 else None


def _text(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:200]
