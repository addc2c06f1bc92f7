"""Server-side browser sessions with idle and absolute timeouts.

The cookie carries a random token; the database keeps only its digest, so a copy of the
database cannot be replayed as cookies. Each session has its own CSRF token that
state-changing requests must echo in the ``X-CSRF-Token`` header.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from panacea.db.base import utcnow
from panacea.identity.models import User, UserSession
from panacea.identity.secrets_digest import digest, new_secret

SESSION_COOKIE = "panacea_session"
CSRF_HEADER = "X-CSRF-Token"
# Writing last_seen_at on every request would turn reads into writes; a minute is precise enough.
TOUCH_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True)
class SessionTimeouts:
    idle: timedelta
    absolute: timedelta


def create_session(
    session: Session,
    *,
    user: User,
    assurance: str,
    client_address: str = "",
    user_agent: str = "",
) -> tuple[UserSession, str]:
    """Open a session for ``user``; return the row and the cookie value (shown only here)."""
    token = new_secret()
    row = UserSession(
        token_digest=digest(token),
        user_id=user.id,
        csrf_token=new_secret(24),
        assurance=assurance,
        mfa_at=utcnow() if assurance == "mfa" else None,
        client_address=client_address[:64],
        user_agent=user_agent[:300],
    )
    session.add(row)
    session.flush()
    return row, token


def resolve_session(
    session: Session, token: str, *, timeouts: SessionTimeouts, now: datetime | None = None
) -> tuple[UserSession, User] | None:
    """The live session for a cookie value, or None if unknown, revoked, expired or disabled."""
    now = now or utcnow()
    found = session.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.token_digest == digest(token))
    ).one_or_none()
    if found is None:
        return None
    row, user = found
    if row.revoked_at is not None or user.disabled:
        return None
    if now - row.last_seen_at > timeouts.idle or now - row.created_at > timeouts.absolute:
        row.revoked_at = now
        return None
    if now - row.last_seen_at > TOUCH_INTERVAL:
        row.last_seen_at = now
    return row, user


def mark_second_factor(row: UserSession) -> None:
    """Record that the session passed a second factor."""
    row.assurance = "mfa"
    row.mfa_at = utcnow()


def revoke_session(row: UserSession) -> None:
    """End one session (logout)."""
    row.revoked_at = utcnow()


def rotate_session(session: Session, row: UserSession, *, user: User) -> tuple[UserSession, str]:
    """Replace ``row`` by a new session of the same user and revoke it; return row and cookie.

    For a change of privilege (second factor passed): the session token must change with it
    (OWASP ASVS 4.0 V3.2.1, session fixation), so a cookie planted or seen before the step-up
    never carries the higher assurance. The new session keeps assurance, address, user agent
    and ``created_at`` (the absolute timeout still counts from the sign-in); it gets a new CSRF
    token. The caller raises the assurance of the new row (``mark_second_factor``).
    """
    new_row, token = create_session(
        session,
        user=user,
        assurance=row.assurance,
        client_address=row.client_address,
        user_agent=row.user_agent,
    )
    new_row.created_at = row.created_at
    new_row.mfa_at = row.mfa_at
    revoke_session(row)
    session.flush()
    return new_row, token


def revoke_user_sessions(session: Session, user_id: int) -> int:
    """End every live session of a user (disabled account, leaver, MFA reset); return count."""
    result = session.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)
