"""Break-glass: emergency elevation, granted at once, time-limited, alerted, reviewed afterwards.

HIPAA requires an emergency access procedure (45 CFR 164.312(a)(2)(ii)); NIST SP 800-53
AC-2(2) asks that emergency accounts lapse on their own, and AU-6 that their use be reviewed.
Here a member designated in advance (``Membership.break_glass_eligible``) gives a reason and
passes a fresh second factor; the organisation's ``SecurityPolicy.break_glass_role`` is added
to their own role for ``break_glass_hours`` at once, with no approver in the way. Everything
done meanwhile carries the grant's id in the audit log (``OrgAccess.event``), the security
leads are alerted after commit (:mod:`panacea.identity.breakglass_alerting`), and once the
grant has ended someone other than the requester records whether it was justified.

A grant is live while ``ended_at`` is null and ``expires_at`` is in the future; expiry needs
no job, the time alone ends it. Every function takes ``now`` so tests can move the clock.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, or_, select, update
from sqlalchemy.orm import Session

from panacea.db.base import utcnow
from panacea.identity.audit import append
from panacea.identity.errors import IdentityError, NotFoundError, PermissionDeniedError
from panacea.identity.memberships import active_grant
from panacea.identity.models import BreakGlassGrant, Membership, SecurityPolicy, UserSession
from panacea.identity.principal import OrgAccess
from panacea.identity.rbac import allows
from panacea.identity.roles import Permission, Role

# A second factor passed at login hours ago does not prove who is at the keyboard now; the
# elevation asks for one passed within this window (NIST SP 800-63B section 7.2,
# reauthentication).
STEP_UP_WINDOW = timedelta(minutes=5)
# Several application servers stamp mfa_at with their own clocks; a factor "passed" slightly in
# the future is skew, one passed a minute ahead is not trusted.
CLOCK_SKEW = timedelta(seconds=30)
MIN_REASON_CHARS = 20
MIN_REASON_WORDS = 3
MAX_REASON_CHARS = 2000
MAX_NOTES_CHARS = 4000
# A policy may shorten the grant, never make it a standing privilege.
MAX_GRANT_HOURS = 24.0
REVIEW_OUTCOMES: frozenset[str] = frozenset({"justified", "unjustified"})
# Set on every API response made under a live grant (by ``require``), so that the UI and any
# proxy log show the elevation.
BREAK_GLASS_HEADER = "X-Panacea-Break-Glass"


class BreakGlassError(IdentityError):
    """A break-glass request, end or review the platform refuses; the message says why."""


class SessionRequiredError(BreakGlassError):
    """Only a person in a browser session may break the glass, never an API token."""


class NotEligibleError(BreakGlassError):
    """The member was not designated in advance for break-glass in this organisation."""


class StepUpRequiredError(BreakGlassError):
    """The session has not passed a second factor within :data:`STEP_UP_WINDOW`."""


class ReasonRejectedError(BreakGlassError):
    """The reason (or review notes) is missing, too short or too long."""


class NotRequesterError(BreakGlassError):
    """Only the requester may end a grant early."""


class SelfReviewError(BreakGlassError):
    """The requester may not review their own grant."""


class BreakGlassConflictError(BreakGlassError):
    """The grant's state forbids it: already active, already ended, not ended yet, reviewed."""


@dataclass(frozen=True, kw_only=True)
class BreakGlassPolicy:
    """What an organisation grants: which role, for how long."""

    role: Role
    duration: timedelta


def policy_of(session: Session, organisation_id: int) -> BreakGlassPolicy:
    """The organisation's break-glass policy (defaults: security_lead for 4 hours).

    Raises BreakGlassError if the stored policy names an unknown role or ``admin``, or a
    duration outside (0, MAX_GRANT_HOURS]: a broken policy refuses, it does not grant
    something else (the policy routes refuse to store such values in the first place).
    """
    row = session.execute(
        select(SecurityPolicy).where(SecurityPolicy.organisation_id == organisation_id)
    ).scalar_one_or_none()
    if row is None:
        return BreakGlassPolicy(role=Role.SECURITY_LEAD, duration=timedelta(hours=4))
    try:
        role = Role(row.break_glass_role)
    except ValueError as e:
        raise BreakGlassError(
            f"security policy of organisation {organisation_id}: "
            f"break_glass_role {row.break_glass_role!r} is not a role"
        ) from e
    if role is Role.ADMIN:
        # What an administrator creates (accounts, tokens, policy) would outlast the grant.
        raise BreakGlassError(
            f"security policy of organisation {organisation_id}: break-glass cannot elevate "
            "to admin"
        )
    if not 0 < row.break_glass_hours <= MAX_GRANT_HOURS:
        raise BreakGlassError(
            f"security policy of organisation {organisation_id}: break_glass_hours "
            f"{row.break_glass_hours} is outside (0, {MAX_GRANT_HOURS}]"
        )
    return BreakGlassPolicy(role=role, duration=timedelta(hours=row.break_glass_hours))


def checked_reason(reason: str) -> str:
    """The reason with its whitespace folded. Raises ReasonRejectedError if it says nothing.

    "Meaningful" is approximated: at least MIN_REASON_CHARS characters and MIN_REASON_WORDS
    different words containing a letter, so "emergency", "urgent urgent urgent" or
    "xxxxxxxxxxxxxxxxxxxxxxx" are refused.
    """
    text = " ".join(reason.split())
    words = {w.lower() for w in text.split(" ") if any(c.isalpha() for c in w)}
    if len(text) < MIN_REASON_CHARS or len(words) < MIN_REASON_WORDS:
        raise ReasonRejectedError(
            f"reason: say what the emergency is, in at least {MIN_REASON_CHARS} characters and "
            f"{MIN_REASON_WORDS} different words (got {len(text)} characters, {len(words)})"
        )
    if len(text) > MAX_REASON_CHARS:
        raise ReasonRejectedError(
            f"reason: at most {MAX_REASON_CHARS} characters (got {len(text)})"
        )
    return text


def is_live(grant: BreakGlassGrant, now: datetime) -> bool:
    """True while the grant elevates: not ended, not expired."""
    return grant.ended_at is None and grant.expires_at > now


def break_glass_header(grant: BreakGlassGrant) -> str:
    """The value of :data:`BREAK_GLASS_HEADER` for a live ``grant``."""
    return f"active; expires={grant.expires_at.strftime('%Y-%m-%dT%H:%M:%SZ')}"


def _locked_membership(
    session: Session, *, user_id: int, organisation_id: int
) -> Membership | None:
    # "One live grant at a time" is a check-then-insert, so two requests must not interleave.
    # A no-op UPDATE locks the member's row on PostgreSQL and takes SQLite's write lock (which
    # ignores SELECT ... FOR UPDATE, and whose driver begins a transaction only at the first
    # write): a second request waits here until the first commits, then sees its grant.
    of_member = (Membership.user_id == user_id, Membership.organisation_id == organisation_id)
    session.execute(
        update(Membership)
        .where(*of_member)
        .values(break_glass_eligible=Membership.break_glass_eligible)
        .execution_options(synchronize_session=False)
    )
    # Re-read under the lock: the designation may have been withdrawn a moment ago.
    return session.execute(
        select(Membership).where(*of_member).execution_options(populate_existing=True)
    ).scalar_one_or_none()


def _check_step_up(session: Session, session_id: int, now: datetime) -> None:
    row = session.get(UserSession, session_id)
    passed = row.mfa_at if row is not None else None
    if passed is None or not -CLOCK_SKEW <= now - passed <= STEP_UP_WINDOW:
        minutes = int(STEP_UP_WINDOW.total_seconds() // 60)
        raise StepUpRequiredError(
            f"break-glass needs a second factor passed in the last {minutes} minutes: "
            "verify TOTP or a passkey again, then repeat the request"
        )


def request_break_glass(
    session: Session, *, access: OrgAccess, reason: str, now: datetime | None = None
) -> BreakGlassGrant:
    """Grant the organisation's break-glass role to the caller at once; audit it.

    The caller must be a browser session (not a token), designated in advance, with a second
    factor passed within STEP_UP_WINDOW, give a meaningful reason, and hold no live grant.
    Raises SessionRequiredError, NotEligibleError, StepUpRequiredError, ReasonRejectedError,
    BreakGlassConflictError, or BreakGlassError for a broken policy. The caller commits, then
    alerts (:func:`panacea.identity.breakglass_alerting.deliver_grant_alert`).
    """
    now = now or utcnow()
    principal = access.principal
    org_id = access.organisation_id
    if principal.via != "session" or principal.session_id is None:
        raise SessionRequiredError(
            "break-glass is requested by a person in a browser session, not by an API token"
        )
    member = _locked_membership(session, user_id=principal.user_id, organisation_id=org_id)
    if member is None or not member.break_glass_eligible:
        raise NotEligibleError(
            f"{principal.email} is not designated for break-glass in organisation {org_id}"
        )
    _check_step_up(session, principal.session_id, now)
    text = checked_reason(reason)
    policy = policy_of(session, org_id)
    if policy.role == Role(member.role):
        raise BreakGlassConflictError(
            f"{principal.email} already holds {policy.role.value}: break-glass adds nothing"
        )
    current = active_grant(session, user_id=principal.user_id, organisation_id=org_id, now=now)
    if current is not None:
        raise BreakGlassConflictError(
            f"break-glass grant {current.id} is already active until "
            f"{current.expires_at.isoformat()}; end it before requesting another"
        )
    grant = BreakGlassGrant(
        organisation_id=org_id,
        user_id=principal.user_id,
        role=policy.role.value,
        reason=text,
        granted_at=now,
        expires_at=now + policy.duration,
        details={
            "requester_email": principal.email,
            "base_role": member.role,
            "session_id": principal.session_id,
            "client_address": principal.client_address,
        },
    )
    session.add(grant)
    session.flush()
    event = access.event(
        "break_glass.granted",
        target=f"break_glass:{grant.id}",
        reason=text,
        role=grant.role,
        base_role=member.role,
        expires_at=grant.expires_at.isoformat(),
    )
    # The grant's own record carries its id, like everything done under it.
    append(session, dataclasses.replace(event, break_glass_grant_id=grant.id))
    return grant


def record_refusal(
    session: Session, *, access: OrgAccess, reason: str, error: BreakGlassError
) -> None:
    """Audit a refused break-glass request (an ineligible member trying is worth knowing)."""
    append(
        session,
        access.event(
            "break_glass.refused",
            outcome="denied",
            error=type(error).__name__,
            message=str(error),
            reason=reason[:MAX_REASON_CHARS],
        ),
    )


def _grant_in(session: Session, *, organisation_id: int, grant_id: int) -> BreakGlassGrant:
    grant = session.execute(
        select(BreakGlassGrant)
        .where(BreakGlassGrant.id == grant_id, BreakGlassGrant.organisation_id == organisation_id)
        .with_for_update()
    ).scalar_one_or_none()
    if grant is None:
        raise NotFoundError(f"no break-glass grant {grant_id} in organisation {organisation_id}")
    return grant


def end_break_glass(
    session: Session, *, access: OrgAccess, grant_id: int, now: datetime | None = None
) -> BreakGlassGrant:
    """End the caller's own live grant early; audit it.

    Raises NotFoundError (no such grant in the organisation), NotRequesterError,
    BreakGlassConflictError (already ended or expired).
    """
    now = now or utcnow()
    grant = _grant_in(session, organisation_id=access.organisation_id, grant_id=grant_id)
    if grant.user_id != access.principal.user_id:
        raise NotRequesterError(f"only its requester may end break-glass grant {grant.id}")
    if not is_live(grant, now):
        raise BreakGlassConflictError(f"break-glass grant {grant.id} has already ended")
    grant.ended_at = now
    append(
        session,
        access.event(
            "break_glass.ended",
            target=f"break_glass:{grant.id}",
            unused_seconds=int((grant.expires_at - now).total_seconds()),
        ),
    )
    return grant


def pending_reviews(
    organisation_id: int, *, now: datetime | None = None
) -> Select[BreakGlassGrant]:
    """The query of the organisation's grants that ended or expired and await review."""
    now = now or utcnow()
    return select(BreakGlassGrant).where(
        BreakGlassGrant.organisation_id == organisation_id,
        BreakGlassGrant.reviewed_at.is_(None),
        or_(BreakGlassGrant.ended_at.is_not(None), BreakGlassGrant.expires_at <= now),
    )


def checked_notes(outcome: str, notes: str) -> str:
    """Review notes, stripped. Raises ReasonRejectedError if an unjustified verdict has none."""
    if outcome not in REVIEW_OUTCOMES:
        raise ReasonRejectedError(f"outcome: {outcome!r} is not one of {sorted(REVIEW_OUTCOMES)}")
    text = notes.strip()
    if outcome == "unjustified" and not text:
        raise ReasonRejectedError("notes: say why the break-glass use was unjustified")
    if len(text) > MAX_NOTES_CHARS:
        raise ReasonRejectedError(f"notes: at most {MAX_NOTES_CHARS} characters (got {len(text)})")
    return text


def review(
    session: Session,
    *,
    access: OrgAccess,
    grant_id: int,
    outcome: str,
    notes: str = "",
    now: datetime | None = None,
) -> BreakGlassGrant:
    """Record the review of an ended grant by someone other than its requester; audit it.

    The reviewer's own role (not one held through break-glass) must allow
    ``break_glass:review``. Raises NotFoundError, SelfReviewError, PermissionDeniedError,
    ReasonRejectedError (bad outcome or notes), BreakGlassConflictError (still live, or
    already reviewed).
    """
    now = now or utcnow()
    grant = _grant_in(session, organisation_id=access.organisation_id, grant_id=grant_id)
    if grant.user_id == access.principal.user_id:
        raise SelfReviewError(f"break-glass grant {grant.id} must be reviewed by someone else")
    if not allows(access.base_role, Permission.BREAK_GLASS_REVIEW):
        # Oversight of emergency access must not itself rest on emergency access.
        raise PermissionDeniedError(
            f"reviewing break-glass needs a role holding {Permission.BREAK_GLASS_REVIEW.value} "
            f"without elevation; {access.base_role.value} does not"
        )
    text = checked_notes(outcome, notes)
    if is_live(grant, now):
        raise BreakGlassConflictError(
            f"break-glass grant {grant.id} is still active; review it once it has ended"
        )
    if grant.reviewed_at is not None:
        raise BreakGlassConflictError(f"break-glass grant {grant.id} was already reviewed")
    grant.reviewed_by_id = access.principal.user_id
    grant.reviewed_at = now
    grant.review_outcome = outcome
    grant.review_notes = text
    append(
        session,
        access.event(
            "break_glass.reviewed",
            target=f"break_glass:{grant.id}",
            review_outcome=outcome,
            notes=text,
            requester_user_id=grant.user_id,
        ),
    )
    return grant
