"""Login: the password step, the second-factor step (TOTP, recovery code), logout.

Two transactions take part in an attempt:

- the *guard* transaction, a session of its own from the app's session factory, decides: it
  checks the throttle (:mod:`panacea.identity.throttle`), verifies the credential and, on a
  failure, records it and its audit entry and commits -- so the failure survives the request's
  rollback (NIST SP 800-63B section 5.2.2 and the audit trail both need it). What a success
  spends (a TOTP step, a recovery code) is committed there too, with its own audit entry, so
  a code can never be used twice even if the request fails afterwards;
- the *request* transaction (the caller's session) then records the success: a new session
  row, the success audit entry, a rehash of the password.

The guard does its work before the request transaction writes anything, so the two never wait
on each other (SQLite has one writer at a time; on PostgreSQL they touch different rows).

Nothing here reveals whether an account exists: an unknown e-mail, an account without a
password (single sign-on only), a disabled account and a wrong password all give the same
AuthenticationError after the same argon2 work, and all count against the same throttle key.

Sessions are always new at login and at each step-up (OWASP ASVS V3.2.1, session fixation):
a cookie the browser had before is revoked, never upgraded.

Sign-ins and sign-outs are audited on the platform chain (a person signs in, not an
organisation); a successful one is also copied to the chain of each organisation the person
is a member of (:func:`audit_sign_in`), whose auditors see only their own chain. Refusals stay
on the platform chain only: the e-mail of a refused attempt is a claim, not an identity, and
copying it would let anyone write into a hospital's log by typing a member's address.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from panacea.db.base import utcnow
from panacea.identity import recovery_codes, throttle, totp
from panacea.identity.audit import AuditEvent, append
from panacea.identity.audit_records import AuditEntry
from panacea.identity.errors import (
    AuthenticationError,
    IdentityError,
    MfaRequiredError,
    PermissionDeniedError,
)
from panacea.identity.memberships import member_organisation_ids, mfa_roles
from panacea.identity.models import Membership, PasskeyCredential, User, UserSession
from panacea.identity.passwords import (
    hash_password,
    needs_rehash,
    spend_verify_time,
    verify_password,
)
from panacea.identity.roles import Role
from panacea.identity.secrets_digest import digest
from panacea.identity.sessions import create_session, mark_second_factor, rotate_session
from panacea.inventory.organisation import Organisation

LOGIN = "auth.login"
SECOND_FACTOR = "auth.mfa"
LOGOUT = "auth.logout"
TOTP_ENROLLED = "mfa.totp.enrolled"
TOTP_CONFIRMED = "mfa.totp.confirmed"
RECOVERY_CODE_USED = "mfa.recovery_code.used"
# Longest e-mail (RFC 5321 path limit) kept in audit entries of unknown accounts.
_EMAIL_AUDIT_LIMIT = 320

SecondFactorMethod = Literal["totp", "recovery_code"]


@dataclass(frozen=True)
class Attempt:
    """Where an attempt comes from (for throttling, the session row and the audit log)."""

    client_address: str = ""
    user_agent: str = ""


@dataclass(frozen=True)
class MfaStatus:
    """What the user must do after the password.

    ``required``: a membership's role is in its organisation's ``mfa_roles``, or the user has
    a second factor (then it is always asked). ``methods``: what can be used now ("totp",
    "passkey", "recovery_code"). ``enrolment_required``: required, but nothing is enrolled.
    """

    required: bool
    methods: tuple[str, ...]
    enrolment_required: bool


@dataclass(frozen=True)
class SignedIn:
    """A new session: its row, its cookie value (shown only here) and what remains to do."""

    user: User
    session_row: UserSession
    token: str
    mfa: MfaStatus


@dataclass(frozen=True)
class SteppedUp:
    """The session that replaced the caller's after a second factor."""

    session_row: UserSession
    token: str
    recovery_codes_remaining: int


@dataclass(frozen=True)
class TotpConfirmed:
    """A confirmed TOTP authenticator: the stepped-up session and the recovery codes (once)."""

    session_row: UserSession
    token: str
    recovery_codes: list[str]


@dataclass(frozen=True)
class MembershipView:
    organisation_id: int
    organisation_name: str
    role: str


@dataclass(frozen=True)
class AccountOverview:
    """The caller's own account, as GET /auth/me shows it."""

    user: User
    memberships: tuple[MembershipView, ...]
    mfa: MfaStatus


def stored_email(email: str) -> str:
    """The form e-mails are stored in (see panacea.identity.users.normalise_email)."""
    return email.strip().lower()


def find_user(session: Session, email: str) -> User | None:
    """The account of ``email``, or None."""
    return session.execute(
        select(User).where(User.email == stored_email(email))
    ).scalar_one_or_none()


def mfa_status(session: Session, user_id: int) -> MfaStatus:
    """The second-factor situation of a user (see MfaStatus)."""
    by_role = False
    organisation_ids = session.execute(
        select(Membership.organisation_id, Membership.role).where(Membership.user_id == user_id)
    ).all()
    for organisation_id, role in organisation_ids:
        if Role(role) in mfa_roles(session, organisation_id):
            by_role = True
            break
    methods: list[str] = []
    if totp.has_confirmed_totp(session, user_id):
        methods.append("totp")
    passkey = select(PasskeyCredential.id).where(PasskeyCredential.user_id == user_id).limit(1)
    if session.execute(passkey).first() is not None:
        methods.append("passkey")
    if methods and recovery_codes.remaining(session, user_id):
        methods.append("recovery_code")
    return MfaStatus(
        required=by_role or bool(methods),
        methods=tuple(methods),
        enrolment_required=by_role and not methods,
    )


def _failure_reason(user: User | None, password: str) -> str | None:
    """Why ``password`` does not sign ``user`` in, or None if it does; always one argon2 verify."""
    if user is None:
        spend_verify_time(password)
        return "unknown account"
    if user.password_hash is None:
        spend_verify_time(password)
        return "no password (single sign-on account)"
    matches = verify_password(user.password_hash, password)
    if user.disabled:
        return "account disabled"
    return None if matches else "wrong password"


def _login_event(
    *,
    outcome: str,
    email: str,
    user_id: int | None,
    attempt: Attempt,
    via: str = "password",
    action: str = LOGIN,
    **details: object,
) -> AuditEvent:
    return AuditEvent(
        action=action,
        organisation_id=None,
        actor_user_id=user_id,
        actor=email[:_EMAIL_AUDIT_LIMIT],
        via=via,
        outcome=outcome,
        target=f"user:{user_id}" if user_id is not None else "",
        client_address=attempt.client_address,
        details=dict(details),
    )


def audit_sign_in(session: Session, event: AuditEvent, *, at: datetime | None = None) -> AuditEntry:
    """Append a successful sign-in or sign-out ``event`` (a platform event about user
    ``event.actor_user_id``) to the platform chain, then a copy of it to the chain of each
    organisation the user is a member of, all in ``session``'s transaction; return the
    platform entry.

    A copy is the same event in the organisation's chain, naming its platform entry
    (``details["platform_seq"]``). Chains are appended to in one order (platform, then
    organisations by id), so two sign-ins never wait for each other's chain heads in a cycle.
    """
    entry = append(session, event, at=at)
    if event.actor_user_id is None:
        return entry
    for organisation_id in member_organisation_ids(session, event.actor_user_id):
        copy = dataclasses.replace(
            event,
            organisation_id=organisation_id,
            details={**event.details, "platform_seq": entry.seq},
        )
        append(session, copy, at=entry.at)
    return entry


def _refuse(
    guard: Session,
    *,
    key: str,
    email: str,
    user_id: int | None,
    attempt: Attempt,
    now: datetime,
    action: str,
    via: str,
    reason: str,
    message: str = "invalid credentials",
) -> AuthenticationError:
    """Count and audit a failed attempt in the guard transaction, commit it; return the error."""
    failures = throttle.record_failure(guard, key=key, address=attempt.client_address, now=now)
    append(
        guard,
        _login_event(
            outcome="failure",
            email=email,
            user_id=user_id,
            attempt=attempt,
            via=via,
            action=action,
            reason=reason,
            consecutive_failures=failures,
        ),
        at=now,
    )
    guard.commit()
    return AuthenticationError(message)


def _revoke_previous(session: Session, token: str | None, now: datetime) -> None:
    """Revoke the session a browser presented at login, if live (it is never reused)."""
    if not token:
        return
    row = session.execute(
        select(UserSession).where(UserSession.token_digest == digest(token))
    ).scalar_one_or_none()
    if row is not None and row.revoked_at is None:
        row.revoked_at = now


def login(
    session: Session,
    guard: sessionmaker[Session],
    *,
    email: str,
    password: str,
    attempt: Attempt,
    previous_token: str | None = None,
    now: datetime | None = None,
) -> SignedIn:
    """The password step: verify, then open a new session of assurance "password".

    ``guard`` makes the guard transaction (see the module docstring). Raises ThrottledError
    (nothing verified) or AuthenticationError (recorded, audited, committed in the guard).
    A successful login of a user who needs no second factor resets the account's throttle;
    one who does needs the second factor to reset it, so a known password does not buy
    fresh guesses at the code. The password is rehashed when the parameters changed.
    """
    now = now or utcnow()
    key = throttle.account_key(email)
    with guard() as g:
        throttle.check(g, key=key, address=attempt.client_address, now=now)
        user = find_user(g, email)
        reason = _failure_reason(user, password)
        if user is None or reason is not None:
            raise _refuse(
                g,
                key=key,
                email=throttle.normalise_email(email),
                user_id=None if user is None else user.id,
                attempt=attempt,
                now=now,
                action=LOGIN,
                via="password",
                reason=reason or "unknown account",
            )
        status = mfa_status(g, user.id)
        if not status.required:
            throttle.reset(g, key=key)
        g.commit()
        user_id = user.id
    signed = session.get(User, user_id)
    assert signed is not None  # just read by the guard; users are disabled, not deleted
    rehashed = signed.password_hash is not None and needs_rehash(signed.password_hash)
    if rehashed:
        signed.password_hash = hash_password(password)
    if not status.required:
        signed.last_login_at = now
    _revoke_previous(session, previous_token, now)
    row, token = create_session(
        session,
        user=signed,
        assurance="password",
        client_address=attempt.client_address,
        user_agent=attempt.user_agent,
    )
    audit_sign_in(
        session,
        _login_event(
            outcome="success",
            email=signed.email,
            user_id=signed.id,
            attempt=attempt,
            session_id=row.id,
            mfa_required=status.required,
            rehashed=rehashed,
        ),
        at=now,
    )
    return SignedIn(user=signed, session_row=row, token=token, mfa=status)


def _live_session(session: Session, session_id: int | None) -> tuple[UserSession, User]:
    if session_id is None:
        raise PermissionDeniedError(
            "a second factor is verified in a signed-in browser session, not with an API token"
        )
    row = session.get(UserSession, session_id)
    user = None if row is None else session.get(User, row.user_id)
    if row is None or user is None or row.revoked_at is not None or user.disabled:
        raise AuthenticationError("the session has ended")
    return row, user


def _step_up(
    session: Session, session_id: int, *, attempt: Attempt, method: str, now: datetime
) -> tuple[UserSession, str, User]:
    """Replace the caller's session by a new one of assurance "mfa" and audit it."""
    row, user = _live_session(session, session_id)
    new_row, token = rotate_session(session, row, user=user)
    mark_second_factor(new_row)
    user.last_login_at = now
    audit_sign_in(
        session,
        _login_event(
            outcome="success",
            email=user.email,
            user_id=user.id,
            attempt=attempt,
            via=method,
            action=SECOND_FACTOR,
            method=method,
            session_id=new_row.id,
        ),
        at=now,
    )
    return new_row, token, user


def verify_second_factor(
    session: Session,
    guard: sessionmaker[Session],
    *,
    session_id: int | None,
    method: SecondFactorMethod,
    code: str,
    attempt: Attempt,
    now: datetime | None = None,
) -> SteppedUp:
    """The second-factor step: verify a TOTP or recovery code, then rotate the session to "mfa".

    Throttled and counted exactly like passwords (same account and address counters). A used
    TOTP step or recovery code is spent in the guard transaction, with the recovery code's own
    audit entry. Raises ThrottledError, AuthenticationError ("invalid code"), or
    PermissionDeniedError for a caller without a browser session.
    """
    now = now or utcnow()
    with guard() as g:
        _, user = _live_session(g, session_id)
        key = throttle.account_key(user.email)
        throttle.check(g, key=key, address=attempt.client_address, now=now)
        if method == "totp":
            ok = totp.verify(g, user.id, code, now=now)
        else:
            ok = recovery_codes.consume(g, user.id, code, now=now)
        if not ok:
            raise _refuse(
                g,
                key=key,
                email=user.email,
                user_id=user.id,
                attempt=attempt,
                now=now,
                action=SECOND_FACTOR,
                via=method,
                reason=f"wrong {method.replace('_', ' ')}",
                message="invalid code",
            )
        left = recovery_codes.remaining(g, user.id)
        if method == "recovery_code":
            append(
                g,
                _login_event(
                    outcome="success",
                    email=user.email,
                    user_id=user.id,
                    attempt=attempt,
                    via=method,
                    action=RECOVERY_CODE_USED,
                    remaining=left,
                ),
                at=now,
            )
        throttle.reset(g, key=key)
        g.commit()
    assert session_id is not None  # _live_session refused None
    new_row, token, _ = _step_up(session, session_id, attempt=attempt, method=method, now=now)
    return SteppedUp(session_row=new_row, token=token, recovery_codes_remaining=left)


def begin_totp_enrolment(
    session: Session,
    *,
    session_id: int | None,
    attempt: Attempt,
    now: datetime | None = None,
) -> totp.TotpEnrolment:
    """Start enrolling a TOTP authenticator for the caller; return what the app needs (once).

    The first second factor may be bound from a password session (bootstrap); when the user
    already has one (a passkey), the session must have passed it (NIST SP 800-63B section
    6.1.2.1), else MfaRequiredError. ConflictError if a TOTP is already confirmed.
    """
    now = now or utcnow()
    row, user = _live_session(session, session_id)
    status = mfa_status(session, user.id)
    if "totp" not in status.methods and status.methods and row.assurance != "mfa":
        raise MfaRequiredError(
            "this account already has a second factor: verify it before adding a TOTP app"
        )
    enrolment = totp.begin_enrolment(session, user, now=now)
    append(
        session,
        _login_event(
            outcome="success",
            email=user.email,
            user_id=user.id,
            attempt=attempt,
            via="session",
            action=TOTP_ENROLLED,
            credential_id=enrolment.credential_id,
        ),
        at=now,
    )
    return enrolment


def confirm_totp(
    session: Session,
    guard: sessionmaker[Session],
    *,
    session_id: int | None,
    code: str,
    attempt: Attempt,
    now: datetime | None = None,
) -> TotpConfirmed:
    """Confirm the pending TOTP enrolment with a first code; issue recovery codes; step up.

    The confirmation, its audit entry and the recovery codes commit together in the guard
    transaction; a wrong code counts as a failed attempt (throttled like passwords, so a
    stolen password cannot brute-force a pending enrolment). The code proves possession of
    the new authenticator, so the session is rotated to "mfa". Raises ThrottledError,
    AuthenticationError ("invalid code") or IdentityError (no pending or an expired enrolment).
    """
    now = now or utcnow()
    with guard() as g:
        _, user = _live_session(g, session_id)
        key = throttle.account_key(user.email)
        throttle.check(g, key=key, address=attempt.client_address, now=now)
        try:
            credential = totp.confirm(g, user.id, code, now=now)
        except totp.InvalidTotpCodeError:
            raise _refuse(
                g,
                key=key,
                email=user.email,
                user_id=user.id,
                attempt=attempt,
                now=now,
                action=TOTP_CONFIRMED,
                via="session",
                reason="wrong code",
                message="invalid code",
            ) from None
        codes = recovery_codes.issue(g, user.id)
        append(
            g,
            _login_event(
                outcome="success",
                email=user.email,
                user_id=user.id,
                attempt=attempt,
                via="session",
                action=TOTP_CONFIRMED,
                credential_id=credential.id,
                recovery_codes_issued=len(codes),
            ),
            at=now,
        )
        throttle.reset(g, key=key)
        g.commit()
    assert session_id is not None  # _live_session refused None
    new_row, token, _ = _step_up(session, session_id, attempt=attempt, method="totp", now=now)
    return TotpConfirmed(session_row=new_row, token=token, recovery_codes=codes)


def logout(session: Session, *, session_id: int | None, attempt: Attempt) -> None:
    """End the caller's session and audit it. PermissionDeniedError for an API token."""
    row, user = _live_session(session, session_id)
    row.revoked_at = utcnow()
    audit_sign_in(
        session,
        _login_event(
            outcome="success",
            email=user.email,
            user_id=user.id,
            attempt=attempt,
            via="session",
            action=LOGOUT,
            session_id=row.id,
        ),
    )


def account_overview(session: Session, user_id: int) -> AccountOverview:
    """The caller's account, memberships (ordered by organisation name) and MFA status."""
    user = session.get(User, user_id)
    if user is None:
        raise IdentityError(f"user {user_id} does not exist")
    rows = session.execute(
        select(Organisation.id, Organisation.name, Membership.role)
        .join(Membership, Membership.organisation_id == Organisation.id)
        .where(Membership.user_id == user_id)
        .order_by(Organisation.name, Organisation.id)
    ).all()
    return AccountOverview(
        user=user,
        memberships=tuple(MembershipView(i, n, r) for i, n, r in rows),
        mfa=mfa_status(session, user_id),
    )


def csrf_token_of(session: Session, session_id: int | None) -> str | None:
    """The CSRF token of a browser session (None for an API token)."""
    if session_id is None:
        return None
    row = session.get(UserSession, session_id)
    return None if row is None else row.csrf_token
