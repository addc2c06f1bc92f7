"""Account-wide changes: disabling an account, resetting its second factors or its password.

An account is not owned by one organisation: these changes reach every organisation the user
belongs to. So an API caller needs ``users:manage`` in each of them (an administrator of one
hospital must not lock a user out of another): otherwise PermissionDeniedError, and the
caller removes the membership of their own organisation instead. The platform operator (the
CLI) has authority everywhere. Each change is audited in every organisation of the user (the
platform chain if there is none), in the caller's transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from panacea.identity.actors import Actor
from panacea.identity.audit import append
from panacea.identity.errors import PermissionDeniedError
from panacea.identity.memberships import member_organisation_ids
from panacea.identity.models import (
    Membership,
    PasskeyCredential,
    RecoveryCode,
    TotpCredential,
    User,
)
from panacea.identity.rbac import allows
from panacea.identity.roles import Permission, Role
from panacea.identity.sessions import revoke_user_sessions
from panacea.identity.users import issue_password, require_account, require_member


def reset_mfa(session: Session, user: User, *, actor: Actor) -> dict[str, int]:
    """Delete every second factor of the account and end its sessions; return the counts.

    Removes the TOTP credential, the recovery codes and the passkeys; the user enrols again
    at the next sign-in. Audited (``user.mfa_reset``). The caller has checked authority
    (:func:`reset_member_mfa` does).
    """
    removed = {
        "totp": _delete(session, TotpCredential, user.id),
        "recovery_codes": _delete(session, RecoveryCode, user.id),
        "passkeys": _delete(session, PasskeyCredential, user.id),
        "sessions_revoked": revoke_user_sessions(session, user.id),
    }
    audit_account(session, actor, user, "user.mfa_reset", **removed)
    return removed


def reset_member_mfa(
    session: Session, organisation_id: int, user_id: int, *, actor: Actor
) -> dict[str, int]:
    """:func:`reset_mfa` for a member of the organisation.

    Raises NotFoundError for a non-member, PermissionDeniedError for the actor's own account
    (another administrator resets it: a stolen session must not be able to swap the second
    factor for the thief's) or if the user also belongs to an organisation the actor does
    not administer.
    """
    require_member(session, organisation_id, user_id)
    if actor.user_id == user_id:
        raise PermissionDeniedError(
            "you cannot reset your own second factors; ask another administrator"
        )
    user = require_account(session, user_id)
    check_authority(session, actor, user, organisation_id)
    return reset_mfa(session, user, actor=actor)


def reset_password(session: Session, user: User, *, actor: Actor) -> str:
    """Give the account a new random password (returned once) and end its sessions.

    The password must be replaced at the next sign-in. Audited (``user.password_reset``).
    Only the operator's CLI calls this: no API route lets an administrator learn another
    user's password.
    """
    password = issue_password(user)
    sessions = revoke_user_sessions(session, user.id)
    audit_account(session, actor, user, "user.password_reset", sessions_revoked=sessions)
    return password


def check_authority(session: Session, actor: Actor, user: User, organisation_id: int) -> None:
    """Raise PermissionDeniedError unless the actor manages users wherever ``user`` belongs.

    ``organisation_id`` is the organisation the caller acts in (already authorised). An API
    token is bound to one organisation, so it has authority only over users of that one.
    """
    if actor.is_operator:
        return
    others = set(member_organisation_ids(session, user.id)) - {organisation_id}
    if not others:
        return
    managed: set[int] = set()
    if actor.token_organisation_id is None and actor.user_id is not None:
        held = session.execute(
            select(Membership.organisation_id, Membership.role).where(
                Membership.user_id == actor.user_id
            )
        )
        managed = {org for org, role in held if allows(Role(role), Permission.USERS_MANAGE)}
    if not others <= managed:
        raise PermissionDeniedError(
            f"user {user.id} also belongs to organisations you do not administer; "
            "remove their membership of this one instead"
        )


def audit_account(session: Session, actor: Actor, user: User, action: str, **details: Any) -> None:
    """Audit an account-wide change in each organisation of the user (else the platform)."""
    organisations: list[int | None] = list(member_organisation_ids(session, user.id)) or [None]
    for organisation_id in organisations:
        append(
            session,
            actor.event(
                action,
                organisation_id=organisation_id,
                target=f"user:{user.id}",
                email=user.email,
                **details,
            ),
        )


def _delete(
    session: Session,
    model: type[TotpCredential | RecoveryCode | PasskeyCredential],
    user_id: int,
) -> int:
    result = session.execute(delete(model).where(model.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)
