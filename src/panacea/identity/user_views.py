"""Read-only views of accounts and memberships, for the API, the CLI and the web pages.

Every query here is scoped: :func:`list_users` and :func:`member_view` only ever see the
members of the organisation they are given, so another organisation's users never appear.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from panacea.identity.errors import NotFoundError
from panacea.identity.memberships import mfa_roles
from panacea.identity.models import Membership, PasskeyCredential, TotpCredential, User
from panacea.identity.roles import Role
from panacea.inventory.organisation import Organisation

MfaMethod = Literal["totp", "passkey"]


@dataclass(frozen=True)
class MemberView:
    """A member of one organisation, as an administrator sees them."""

    user_id: int
    email: str
    display_name: str
    role: str
    break_glass_eligible: bool
    from_sso: bool
    disabled: bool
    # Second factors the user has enrolled: "totp" (confirmed), "passkey".
    mfa_methods: tuple[MfaMethod, ...]
    # The organisation's policy asks this role for a second factor.
    mfa_required: bool
    # The password was set by someone else (initial or reset) and must be replaced.
    password_change_required: bool
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True)
class AccountView:
    """An account across the platform (operator's view), with its memberships."""

    user_id: int
    email: str
    display_name: str
    disabled: bool
    mfa_methods: tuple[MfaMethod, ...]
    password_change_required: bool
    # (organisation name, role) pairs, ordered by organisation name.
    memberships: tuple[tuple[str, str], ...]


def password_change_required(user: User) -> bool:
    """True if the user's password was issued by someone else and not yet replaced.

    Convention: an issued password (initial or reset) leaves ``password_changed_at`` empty;
    :func:`panacea.identity.passwords.set_password` (the user's own choice) fills it.
    """
    return user.password_hash is not None and user.password_changed_at is None


def mfa_methods_of(session: Session, user_ids: Iterable[int]) -> dict[int, tuple[MfaMethod, ...]]:
    """The enrolled second factors of each user (users without any are absent)."""
    ids = sorted(set(user_ids))
    methods: dict[int, list[MfaMethod]] = {}
    if not ids:
        return {}
    totp = select(TotpCredential.user_id).where(
        TotpCredential.user_id.in_(ids), TotpCredential.confirmed_at.is_not(None)
    )
    for user_id in session.execute(totp).scalars():
        methods.setdefault(user_id, []).append("totp")
    passkeys = (
        select(PasskeyCredential.user_id).where(PasskeyCredential.user_id.in_(ids)).distinct()
    )
    for user_id in session.execute(passkeys).scalars():
        methods.setdefault(user_id, []).append("passkey")
    return {user_id: tuple(found) for user_id, found in methods.items()}


def list_users(
    session: Session, organisation_id: int, *, after: int | None = None, limit: int | None = None
) -> list[MemberView]:
    """Members of the organisation ordered by user id, those after ``after``, at most ``limit``."""
    stmt = (
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.organisation_id == organisation_id)
        .order_by(User.id)
    )
    if after is not None:
        stmt = stmt.where(User.id > after)
    if limit is not None:
        stmt = stmt.limit(limit)
    rows = session.execute(stmt).all()
    methods = mfa_methods_of(session, (user.id for _, user in rows))
    required = mfa_roles(session, organisation_id)
    return [_member(m, u, methods.get(u.id, ()), required) for m, u in rows]


def member_view(session: Session, organisation_id: int, user_id: int) -> MemberView:
    """One member of the organisation. Raises NotFoundError if the user is not a member."""
    found = session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.organisation_id == organisation_id, User.id == user_id)
    ).one_or_none()
    if found is None:
        raise NotFoundError(f"no user {user_id} in organisation {organisation_id}")
    membership, user = found
    methods = mfa_methods_of(session, [user.id]).get(user.id, ())
    return _member(membership, user, methods, mfa_roles(session, organisation_id))


def list_accounts(session: Session) -> list[AccountView]:
    """Every account of the platform with its memberships, ordered by e-mail."""
    users = session.execute(select(User).order_by(User.email)).scalars().all()
    methods = mfa_methods_of(session, (u.id for u in users))
    held: dict[int, list[tuple[str, str]]] = {}
    pairs = session.execute(
        select(Membership.user_id, Organisation.name, Membership.role)
        .join(Organisation, Organisation.id == Membership.organisation_id)
        .order_by(Organisation.name)
    )
    for user_id, organisation, role in pairs:
        held.setdefault(user_id, []).append((organisation, role))
    return [
        AccountView(
            user_id=u.id,
            email=u.email,
            display_name=u.display_name,
            disabled=u.disabled,
            mfa_methods=methods.get(u.id, ()),
            password_change_required=password_change_required(u),
            memberships=tuple(held.get(u.id, ())),
        )
        for u in users
    ]


def _member(
    membership: Membership,
    user: User,
    methods: tuple[MfaMethod, ...],
    required: frozenset[Role],
) -> MemberView:
    return MemberView(
        user_id=user.id,
        email=user.email,
        display_name=user.display_name,
        role=membership.role,
        break_glass_eligible=membership.break_glass_eligible,
        from_sso=membership.from_sso,
        disabled=user.disabled,
        mfa_methods=methods,
        mfa_required=Role(membership.role) in required,
        password_change_required=password_change_required(user),
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )
