"""Leavers: disabling an account ends every way it could still act, at once.

:func:`disable_user` is the one function that disables an account (the API, the ``panacea
users`` CLI and any future provisioning call it). Sessions and API tokens are revoked in the
same transaction as the flag, so a cookie or bearer token in use answers 401 from the next
request on; :func:`panacea.identity.sessions.resolve_session` and
:func:`panacea.identity.tokens.resolve_token` also refuse a disabled account's credentials,
and the revocation keeps them dead should the account be re-enabled (NIST SP 800-53 AC-2(3)
disable accounts; ASVS 4.0 V3.3.1 sessions invalidated). Single sign-on refuses a disabled
account whatever the identity provider says (:mod:`panacea.identity.oidc_provisioning`).

The account stays (its audit trail and the objects it owns refer to it); memberships are
kept so that re-enabling restores them, but give nothing while it is disabled.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from panacea.identity.accounts import audit_account, check_authority
from panacea.identity.actors import Actor
from panacea.identity.errors import PermissionDeniedError
from panacea.identity.models import Membership
from panacea.identity.roles import Role
from panacea.identity.sessions import revoke_user_sessions
from panacea.identity.tokens import revoke_user_tokens
from panacea.identity.users import ensure_another_admin, require_account, require_member

USER_DISABLED = "user.disabled"


@dataclass(frozen=True)
class DisabledUser:
    """What :func:`disable_user` did."""

    user_id: int
    email: str
    # True if the account was disabled already (credentials are revoked again anyway).
    already_disabled: bool
    sessions_revoked: int
    tokens_revoked: int


def disable_user(
    session: Session,
    user_id: int,
    *,
    actor: Actor,
    organisation_id: int | None = None,
    reason: str = "",
) -> DisabledUser:
    """Disable the account, revoke all its sessions and API tokens; audit ``user.disabled``.

    ``organisation_id`` is the organisation an API caller acts in (already authorised for
    ``users:manage`` there): the user must be a member of it (NotFoundError), and the caller
    must manage users in every other organisation of the user (PermissionDeniedError); the
    CLI operator (``actor.is_operator``) needs none. Nobody disables their own account
    (PermissionDeniedError), and no organisation loses its last enabled administrator
    (ConflictError). Audited in every organisation of the user (else the platform chain), in
    the caller's transaction; the caller commits.
    """
    user = require_account(session, user_id)
    if not actor.is_operator:
        if organisation_id is None:
            raise PermissionDeniedError("disabling an account needs the organisation acted in")
        require_member(session, organisation_id, user_id)
        check_authority(session, actor, user, organisation_id)
    if actor.user_id == user_id:
        raise PermissionDeniedError("you cannot disable your own account")
    already = user.disabled
    if not already:
        for org in _administered(session, user_id):
            ensure_another_admin(session, org, user_id)
    user.disabled = True
    sessions = revoke_user_sessions(session, user_id)
    tokens = revoke_user_tokens(session, user_id)
    session.flush()
    details: dict[str, int | str] = {"sessions_revoked": sessions, "tokens_revoked": tokens}
    if reason.strip():
        details["reason"] = reason.strip()[:500]
    if already:
        details["already_disabled"] = "yes"
    audit_account(session, actor, user, USER_DISABLED, **details)
    return DisabledUser(
        user_id=user_id,
        email=user.email,
        already_disabled=already,
        sessions_revoked=sessions,
        tokens_revoked=tokens,
    )


def _administered(session: Session, user_id: int) -> list[int]:
    """Organisations where the user is an administrator (each must keep another one)."""
    return list(
        session.execute(
            select(Membership.organisation_id)
            .where(Membership.user_id == user_id, Membership.role == Role.ADMIN.value)
            .order_by(Membership.organisation_id)
        ).scalars()
    )
