"""Managing API tokens from the API: issue, list, revoke, with the rules of who may do what.

- A token's scopes are a subset of what its creator may do in the organisation now: the
  permissions of the creator's own role (never a break-glass elevation, which is temporary
  while a token is not), and, when the creator is itself a token, of that token's scopes.
  Anything more is refused (PermissionDeniedError), so a token never widens access.
- Members see and revoke their own tokens; members who manage users (administrators) see and
  revoke every token of the organisation. Another member's token, or another organisation's,
  answers NotFoundError, as if it did not exist.
- The secret is returned once by :func:`issue_token` and stored only as a digest
  (:func:`panacea.identity.tokens.create_token`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from panacea.db.base import utcnow
from panacea.identity.audit import append
from panacea.identity.errors import NotFoundError, PermissionDeniedError
from panacea.identity.models import ApiToken, User
from panacea.identity.principal import OrgAccess
from panacea.identity.rbac import allows, permissions_of
from panacea.identity.roles import Permission
from panacea.identity.tokens import create_token, revoke_token

TokenStatus = Literal["active", "expired", "revoked"]


@dataclass(frozen=True)
class TokenView:
    """A token as lists show it: never the secret, only its public prefix."""

    id: int
    name: str
    prefix: str
    scopes: tuple[str, ...]
    owner_id: int
    owner_email: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    status: TokenStatus


def grantable_scopes(access: OrgAccess) -> frozenset[Permission]:
    """The scopes the caller may put on a new token in this organisation."""
    allowed = permissions_of(access.base_role)
    if access.principal.scopes is not None:
        allowed &= access.principal.scopes
    return allowed


def manages_all_tokens(access: OrgAccess) -> bool:
    """True if the caller sees and revokes every token of the organisation (``users:manage``)."""
    permission = Permission.USERS_MANAGE
    by_role = allows(access.role, permission) or allows(access.base_role, permission)
    scopes = access.principal.scopes
    return by_role and (scopes is None or permission in scopes)


def issue_token(
    session: Session,
    access: OrgAccess,
    *,
    name: str,
    scopes: Iterable[Permission],
    lifetime: timedelta,
    max_lifetime: timedelta,
) -> tuple[TokenView, str]:
    """Create a token of the caller in the organisation; return it and its secret (once).

    Raises PermissionDeniedError for scopes beyond :func:`grantable_scopes`, IdentityError
    for an empty name, no scope, or a lifetime outside (0, ``max_lifetime``]. Audited
    (``token.created``).
    """
    wanted = frozenset(Permission(s) for s in scopes)
    beyond = wanted - grantable_scopes(access)
    if beyond:
        raise PermissionDeniedError(
            f"a token cannot have scopes you do not hold in organisation "
            f"{access.organisation_id}: {', '.join(sorted(p.value for p in beyond))}"
        )
    user = session.get(User, access.principal.user_id)
    if user is None:  # the principal was resolved in this transaction
        raise NotFoundError(f"no user {access.principal.user_id}")
    row, secret = create_token(
        session,
        user=user,
        organisation_id=access.organisation_id,
        name=name,
        scopes=wanted,
        lifetime=lifetime,
        max_lifetime=max_lifetime,
    )
    append(
        session,
        access.event(
            "token.created",
            target=f"token:{row.id}",
            name=row.name,
            prefix=row.prefix,
            scopes=row.scopes,
            expires_at=row.expires_at.isoformat(),
        ),
    )
    return _view(row, user.email), secret


def list_tokens(
    session: Session, access: OrgAccess, *, after: int | None = None, limit: int | None = None
) -> list[TokenView]:
    """The caller's tokens (every token of the organisation for administrators), by id."""
    stmt = (
        select(ApiToken, User.email)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.organisation_id == access.organisation_id)
        .order_by(ApiToken.id)
    )
    if not manages_all_tokens(access):
        stmt = stmt.where(ApiToken.user_id == access.principal.user_id)
    if after is not None:
        stmt = stmt.where(ApiToken.id > after)
    if limit is not None:
        stmt = stmt.limit(limit)
    now = utcnow()
    return [_view(t, email, now) for t, email in session.execute(stmt)]


def revoke(session: Session, access: OrgAccess, token_id: int) -> TokenView:
    """Revoke one token (the caller's own, or any of the organisation for administrators).

    Raises NotFoundError for an unknown token, another organisation's, or another member's
    when the caller is not an administrator. Audited (``token.revoked``); revoking a revoked
    token changes nothing and is not audited again.
    """
    token = session.get(ApiToken, token_id)
    visible = (
        token is not None
        and token.organisation_id == access.organisation_id
        and (token.user_id == access.principal.user_id or manages_all_tokens(access))
    )
    if token is None or not visible:
        raise NotFoundError(f"no API token {token_id}")
    already = token.revoked_at is not None
    token = revoke_token(session, token_id=token_id, organisation_id=access.organisation_id)
    if not already:
        append(
            session,
            access.event(
                "token.revoked",
                target=f"token:{token.id}",
                name=token.name,
                prefix=token.prefix,
                owner_user_id=token.user_id,
            ),
        )
    owner = session.get(User, token.user_id)
    return _view(token, owner.email if owner is not None else "")


def _view(token: ApiToken, owner_email: str, now: datetime | None = None) -> TokenView:
    now = now or utcnow()
    status: TokenStatus
    if token.revoked_at is not None:
        status = "revoked"
    elif token.expires_at <= now:
        status = "expired"
    else:
        status = "active"
    return TokenView(
        id=token.id,
        name=token.name,
        prefix=token.prefix,
        scopes=tuple(token.scopes),
        owner_id=token.user_id,
        owner_email=owner_email,
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        last_used_at=token.last_used_at,
        status=status,
    )
