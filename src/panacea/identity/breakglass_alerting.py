"""Alerting the security leads of a break-glass grant, after its transaction committed.

The alert goes by e-mail (:mod:`panacea.identity.alerts`) to the organisation's security leads
and its policy's alert address, and by syslog (:mod:`panacea.identity.siem`) to the SIEM. How
each channel fared is stored in the grant's ``details["alerts"]`` and audited, so a mail
server that was down is visible in the review queue and the log, never a silent gap.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from panacea.config import Settings
from panacea.identity.alerts import (
    AlertDeliveryError,
    BreakGlassAlert,
    MailRelay,
    email_message,
    send_email,
)
from panacea.identity.audit import AuditEvent, append
from panacea.identity.models import BreakGlassGrant, Membership, SecurityPolicy, User
from panacea.identity.roles import Role
from panacea.identity.siem import send_syslog
from panacea.inventory.organisation import Organisation

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "panacea"


@dataclass(frozen=True, kw_only=True)
class AlertOutcome:
    """How one channel fared in delivering a grant's alert."""

    channel: Literal["email", "syslog"]
    status: Literal["sent", "failed", "skipped"]
    detail: str

    def as_json(self) -> dict[str, str]:
        return {"channel": self.channel, "status": self.status, "detail": self.detail}


def alert_recipients(session: Session, organisation_id: int) -> list[str]:
    """E-mail addresses to alert: the organisation's security leads and its alert address."""
    leads = session.execute(
        select(User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(
            Membership.organisation_id == organisation_id,
            Membership.role == Role.SECURITY_LEAD.value,
            User.disabled.is_(False),
        )
    ).scalars()
    extra = session.execute(
        select(SecurityPolicy.alert_email).where(SecurityPolicy.organisation_id == organisation_id)
    ).scalar_one_or_none()
    unique = {e.lower(): e for e in [*leads, *([extra] if extra else [])]}
    return sorted(unique.values(), key=str.lower)


def grant_alert(session: Session, grant_id: int) -> BreakGlassAlert | None:
    """The alert describing a grant, or None if the grant does not exist (rolled back)."""
    grant = session.get(BreakGlassGrant, grant_id)
    if grant is None:
        return None
    user = session.get(User, grant.user_id)
    organisation = session.get(Organisation, grant.organisation_id)
    details: dict[str, Any] = grant.details or {}
    return BreakGlassAlert(
        grant_id=grant.id,
        organisation_id=grant.organisation_id,
        organisation_name=organisation.name if organisation else f"#{grant.organisation_id}",
        user_email=user.email if user else str(details.get("requester_email", "?")),
        user_name=(user.display_name or user.email) if user else "?",
        role=grant.role,
        reason=grant.reason,
        granted_at=grant.granted_at,
        expires_at=grant.expires_at,
        client_address=str(details.get("client_address", "")),
    )


def _send_email(settings: Settings, alert: BreakGlassAlert, recipients: list[str]) -> AlertOutcome:
    relay = MailRelay.from_settings(settings)
    if relay is None:
        log.warning(
            "break-glass grant %s: no e-mail alert, PANACEA_SMTP_HOST unset", alert.grant_id
        )
        return AlertOutcome(channel="email", status="skipped", detail="PANACEA_SMTP_HOST not set")
    try:
        message = email_message(alert, sender=relay.sender, recipients=recipients)
        send_email(relay, message, recipients=recipients)
    except AlertDeliveryError as e:
        log.error("break-glass grant %s: e-mail alert failed: %s", alert.grant_id, e)
        return AlertOutcome(channel="email", status="failed", detail=str(e))
    return AlertOutcome(channel="email", status="sent", detail=", ".join(recipients))


def _send_syslog(settings: Settings, alert: BreakGlassAlert) -> AlertOutcome:
    try:
        sent = send_syslog(settings, alert.syslog_payload, msgid="BREAK_GLASS")
    except AlertDeliveryError as e:
        log.error("break-glass grant %s: syslog alert failed: %s", alert.grant_id, e)
        return AlertOutcome(channel="syslog", status="failed", detail=str(e))
    if not sent:
        return AlertOutcome(
            channel="syslog", status="skipped", detail="PANACEA_SYSLOG_HOST not set"
        )
    return AlertOutcome(channel="syslog", status="sent", detail=str(settings.syslog_host))


def deliver_grant_alert(
    sessions: sessionmaker[Session], settings: Settings, grant_id: int
) -> list[AlertOutcome]:
    """Alert the security leads of a committed grant; record how each channel fared.

    Runs after the grant's transaction committed (a background task of the request), with
    no transaction open while the network is waited on. Never raises: a failed delivery is
    logged, stored in the grant's ``details["alerts"]`` and audited
    (``break_glass.alert_failed``); the grant stands either way.
    """
    try:
        with sessions.begin() as session:
            alert = grant_alert(session, grant_id)
            recipients = alert_recipients(session, alert.organisation_id) if alert else []
    except SQLAlchemyError:
        log.exception("break-glass grant %s: could not read it to send its alert", grant_id)
        return []
    if alert is None:
        log.error("break-glass grant %s vanished before its alert was sent", grant_id)
        return []
    outcomes = [_send_email(settings, alert, recipients), _send_syslog(settings, alert)]
    try:
        with sessions.begin() as session:
            _record_outcomes(session, alert, outcomes)
    except SQLAlchemyError:
        log.exception("break-glass grant %s: could not record alert outcomes", grant_id)
    return outcomes


def _record_outcomes(
    session: Session, alert: BreakGlassAlert, outcomes: list[AlertOutcome]
) -> None:
    grant = session.get(BreakGlassGrant, alert.grant_id)
    if grant is None:
        return
    # A new dict: the JSON column notices reassignment, not in-place mutation.
    grant.details = {**(grant.details or {}), "alerts": [o.as_json() for o in outcomes]}
    # A channel that is not configured is no failure if another one reached someone.
    failed = any(o.status == "failed" for o in outcomes) or all(
        o.status != "sent" for o in outcomes
    )
    append(
        session,
        AuditEvent(
            action="break_glass.alert_failed" if failed else "break_glass.alert_sent",
            organisation_id=alert.organisation_id,
            actor=SYSTEM_ACTOR,
            via="system",
            outcome="failure" if failed else "success",
            target=f"break_glass:{alert.grant_id}",
            break_glass_grant_id=alert.grant_id,
            details={"alerts": [o.as_json() for o in outcomes]},
        ),
    )
