"""Recording findings and changing their status.

Automation (matching, scanners, importers) records and resolves findings through
``record_finding`` and ``resolve_automatically``; people change status through ``set_status``.
A status a person chose is never overridden by automation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from panacea.db.base import utcnow
from panacea.findings.errors import FindingError
from panacea.findings.models import Finding, FindingStatusChange
from panacea.findings.vocabulary import Confidence, FindingStatus

# Statuses automation may move between; a person's choice is kept whatever automation sees.
_AUTOMATIC_STATUSES = {FindingStatus.OPEN.value, FindingStatus.RESOLVED.value}


@dataclass(frozen=True)
class FindingLocus:
    """Where on an asset a finding sits."""

    asset_id: int
    endpoint_id: int | None = None
    component_id: int | None = None

    @property
    def key(self) -> str:
        if self.endpoint_id is not None:
            return f"endpoint:{self.endpoint_id}"
        if self.component_id is not None:
            return f"component:{self.component_id}"
        return "asset"


def record_finding(
    session: Session,
    organisation_id: int,
    locus: FindingLocus,
    cve_id: str,
    *,
    confidence: Confidence,
    source: str,
    evidence: str = "",
    matched_cpe: str | None = None,
    seen_at: datetime | None = None,
) -> tuple[Finding, bool]:
    """Create or refresh the finding of ``cve_id`` at ``locus``; return (finding, created).

    A finding resolved by automation reopens when seen again; ``confirmed`` confidence is never
    downgraded to ``potential``.
    """
    finding = session.scalar(
        select(Finding).where(
            Finding.asset_id == locus.asset_id,
            Finding.cve_id == cve_id,
            Finding.locus == locus.key,
        )
    )
    if finding is None:
        finding = Finding(
            **new_finding_values(
                organisation_id,
                locus,
                cve_id,
                confidence=confidence,
                source=source,
                evidence=evidence,
                matched_cpe=matched_cpe,
                seen_at=seen_at,
            )
        )
        session.add(finding)
        session.flush()
        return finding, True
    refresh_finding(
        session,
        finding,
        confidence=confidence,
        source=source,
        evidence=evidence,
        matched_cpe=matched_cpe,
        seen_at=seen_at,
    )
    return finding, False


def new_finding_values(
    organisation_id: int,
    locus: FindingLocus,
    cve_id: str,
    *,
    confidence: Confidence,
    source: str,
    evidence: str = "",
    matched_cpe: str | None = None,
    seen_at: datetime | None = None,
) -> dict[str, Any]:
    """The column values of a new, open finding of ``cve_id`` at ``locus``.

    ``record_finding`` builds its rows from these; bulk callers that looked the loci up
    themselves insert them with one ``executemany`` (the other columns take their defaults).
    """
    now = seen_at or utcnow()
    return {
        "organisation_id": organisation_id,
        "asset_id": locus.asset_id,
        "endpoint_id": locus.endpoint_id,
        "component_id": locus.component_id,
        "cve_id": cve_id,
        "locus": locus.key,
        "confidence": confidence.value,
        "source": source,
        "evidence": evidence,
        "matched_cpe": matched_cpe,
        "status": FindingStatus.OPEN.value,
        "first_seen": now,
        "last_seen": now,
    }


def refresh_finding(
    session: Session,
    finding: Finding,
    *,
    confidence: Confidence,
    source: str,
    evidence: str = "",
    matched_cpe: str | None = None,
    seen_at: datetime | None = None,
) -> None:
    """Apply a new sighting to an existing ``finding``, by the rules of ``record_finding``."""
    finding.last_seen = seen_at or utcnow()
    if confidence is Confidence.CONFIRMED and finding.confidence != Confidence.CONFIRMED.value:
        finding.confidence = confidence.value
        finding.source = source
        finding.evidence = evidence or finding.evidence
    elif finding.confidence == confidence.value:
        finding.evidence = evidence or finding.evidence
        finding.matched_cpe = matched_cpe or finding.matched_cpe
    if finding.status == FindingStatus.RESOLVED.value and not finding.status_by_person:
        _change(session, finding, FindingStatus.OPEN, "seen again", actor="system")


def resolve_automatically(session: Session, finding: Finding, reason: str) -> bool:
    """Mark ``finding`` resolved because automation no longer sees it; return True if it changed.

    Does nothing when a person set the status (e.g. accepted) or it is already resolved.
    """
    if finding.status_by_person or finding.status not in _AUTOMATIC_STATUSES:
        return False
    if finding.status == FindingStatus.RESOLVED.value:
        return False
    _change(session, finding, FindingStatus.RESOLVED, reason, actor="system")
    return True


def set_status(
    session: Session,
    organisation_id: int,
    finding_id: int,
    status: FindingStatus,
    *,
    reason: str,
    actor: str,
    approver: str | None = None,
    expires: datetime | None = None,
    now: datetime | None = None,
) -> Finding:
    """A person sets the status of a finding.

    ``accepted`` needs an approver, a reason and an expiry in the future. Raises FindingError
    for an unknown finding (or one of another organisation) and for a change that is not allowed.
    """
    finding = session.scalar(
        select(Finding).where(Finding.id == finding_id, Finding.organisation_id == organisation_id)
    )
    if finding is None:
        raise FindingError(f"unknown finding {finding_id}")
    if not reason.strip():
        raise FindingError("a status change needs a reason")
    if status is FindingStatus.ACCEPTED:
        moment = now or utcnow()
        if not approver or not approver.strip():
            raise FindingError("accepting a risk needs an approver (--approver)")
        if expires is None:
            raise FindingError("accepting a risk needs an expiry date (--expires)")
        if expires <= moment:
            raise FindingError(f"expiry {expires.date().isoformat()} is not in the future")
        finding.approver = approver
        finding.accepted_until = expires
    else:
        finding.approver = None
        finding.accepted_until = None
    _change(session, finding, status, reason, actor=actor)
    finding.status_by_person = True
    return finding


def organisation_of(session: Session, finding_id: int) -> int:
    """The organisation id owning finding ``finding_id``; raise FindingError if there is none."""
    organisation_id = session.scalar(
        select(Finding.organisation_id).where(Finding.id == finding_id)
    )
    if organisation_id is None:
        raise FindingError(f"unknown finding {finding_id}")
    return organisation_id


def reopen_expired_acceptances(
    session: Session, organisation_id: int, *, now: datetime | None = None
) -> int:
    """Reopen every accepted finding whose acceptance expired; return how many."""
    moment = now or utcnow()
    expired = session.scalars(
        select(Finding).where(
            Finding.organisation_id == organisation_id,
            Finding.status == FindingStatus.ACCEPTED.value,
            Finding.accepted_until <= moment,
        )
    ).all()
    for finding in expired:
        _change(session, finding, FindingStatus.OPEN, "risk acceptance expired", actor="system")
        finding.status_by_person = False
        finding.accepted_until = None
    return len(expired)


def _change(
    session: Session, finding: Finding, status: FindingStatus, reason: str, *, actor: str
) -> None:
    session.add(
        FindingStatusChange(
            organisation_id=finding.organisation_id,
            finding_id=finding.id,
            old_status=finding.status,
            new_status=status.value,
            reason=reason,
            actor=actor,
        )
    )
    finding.status = status.value
    finding.status_reason = reason
