"""Status changes and risk acceptances made by a person, with their audit entries.

The API routes and the dashboard both change findings through these two functions, so a
change looks the same in the audit log whichever way it was made. The caller has checked the
permission (``findings:triage`` or ``risk:accept``) and validated the input.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from panacea.findings import views
from panacea.findings.errors import FindingError
from panacea.findings.models import Finding
from panacea.findings.schemas import AcceptanceIn, StatusChangeIn
from panacea.findings.service import set_status
from panacea.findings.vocabulary import FindingStatus
from panacea.identity.audit import append
from panacea.identity.principal import OrgAccess


def _old_status(session: Session, access: OrgAccess, finding_id: int) -> str:
    finding = views.finding_in(session, access.organisation_id, finding_id)
    if finding is None:
        raise FindingError(f"unknown finding {finding_id}")
    return finding.status


def change_status(
    session: Session, access: OrgAccess, finding_id: int, change: StatusChangeIn
) -> Finding:
    """Set a finding's status (never ``accepted``) and append ``finding.status_changed``.

    Raises FindingError for a finding of another organisation or a refused change.
    """
    old = _old_status(session, access, finding_id)
    finding = set_status(
        session,
        access.organisation_id,
        finding_id,
        FindingStatus(change.status.value),
        reason=change.reason,
        actor=access.principal.actor,
    )
    append(
        session,
        access.event(
            "finding.status_changed",
            target=f"finding:{finding.id}",
            cve=finding.cve_id,
            old=old,
            new=finding.status,
            reason=change.reason,
        ),
    )
    return finding


def accept_risk(
    session: Session, access: OrgAccess, finding_id: int, acceptance: AcceptanceIn
) -> Finding:
    """Accept a finding's risk (approver, reason, expiry) and append ``risk.accepted``.

    Raises FindingError for a finding of another organisation or a refused acceptance.
    """
    old = _old_status(session, access, finding_id)
    finding = set_status(
        session,
        access.organisation_id,
        finding_id,
        FindingStatus.ACCEPTED,
        reason=acceptance.reason,
        actor=access.principal.actor,
        approver=acceptance.approver,
        expires=acceptance.expires,
    )
    append(
        session,
        access.event(
            "risk.accepted",
            target=f"finding:{finding.id}",
            cve=finding.cve_id,
            old=old,
            new=finding.status,
            reason=acceptance.reason,
            approver=acceptance.approver,
            expires=acceptance.expires.isoformat(),
        ),
    )
    return finding
