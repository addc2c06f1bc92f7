"""Named API tokens for machine clients: scoped, expiring, stored hashed, shown once."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from panacea.db.base import utcnow
from panacea.identity.errors import IdentityError, NotFoundError
from panacea.identity.models import ApiToken, User
from panacea.identity.roles import Permission
from panacea.identity.secrets_digest import digest, new_secret

TOKEN_PREFIX = "pnc_"  # noqa: S105 - a public marker, not a secret


def create_token(
    session: Session,
    *,
    user: User,
    organisation_id: int,
    name: str,
    scopes: Iterable[Permission],
    lifetime: timedelta,
    max_lifetime: timedelta,
) -> tuple[ApiToken, str]:
    """Create a token; return the row and the secret (never retrievable again).

    Raises IdentityError for an empty name, no scopes, or a lifetime outside (0, max].
    """
    scope_list = sorted({Permission(s).value for s in scopes})
    if not name.strip():
        raise IdentityError("a token needs a name")
    if not scope_list:
        raise IdentityError("a token needs at least one scope")
    if not timedelta(0) < lifetime <= max_lifetime:
        raise IdentityError(f"token lifetime must be between 1 second and {max_lifetime}")
    prefix = new_secret(6)[:8]
    secret = f"{TOKEN_PREFIX}{prefix}_{new_secret()}"
    row = ApiToken(
        organisation_id=organisation_id,
        user_id=user.id,
        name=name.strip()[:100],
        prefix=prefix,
        token_digest=digest(secret),
        scopes=scope_list,
        expires_at=utcnow() + lifetime,
    )
    session.add(row)
    session.flush()
    return row, secret


def resolve_token(
    session: Session, secret: str, *, now: datetime | None = None
) -> tuple[ApiToken, User] | None:
    """The live token for a bearer secret, or None if unknown, revoked, expired or disabled."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    now = now or utcnow()
    found = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_digest == digest(secret))
    ).one_or_none()
    if found is None:
        return None
    token, user = found
    if token.revoked_at is not None or token.expires_at <= now or user.disabled:
        return None
    return token, user


def revoke_token(session: Session, *, token_id: int, organisation_id: int) -> ApiToken:
    """Revoke a token of the organisation. Raises NotFoundError for another organisation's."""
    token = session.get(ApiToken, token_id)
    if token is None or token.organisation_id != organisation_id:
        raise NotFoundError(f"no API token {token_id}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    return token


def revoke_user_tokens(session: Session, user_id: int) -> int:
    """Revoke every live token of a user (disabled account, leaver); return the count."""
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)
