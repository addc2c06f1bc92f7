"""User administration: accounts, memberships, roles and break-glass designation.

Account-wide changes (disabling, second-factor and password resets) are in
:mod:`panacea.identity.accounts`. Every function that changes something appends its audit
entry in the caller's transaction (through the :class:`~panacea.identity.actors.Actor` it is
given), so a change and its record commit or roll back together.

Rules this module enforces, whoever calls it (API or CLI):

- An organisation never loses its last enabled administrator: demoting, removing or
  disabling them raises ConflictError (the check locks the organisation's admin memberships,
  so two administrators demoting each other concurrently cannot both succeed).
- A password issued by someone else (initial or reset) is generated here, shown once, and
  marked as to be replaced (:func:`~panacea.identity.user_views.password_change_required`).
- Nobody designates themselves for break-glass elevation.
- A role that comes from the identity provider's group claim is not changed by hand: the
  next single sign-on would overwrite it (change the group mapping instead).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from panacea.db.base import utcnow
from panacea.identity.actors import Actor
from panacea.identity.audit import append
from panacea.identity.errors import (
    ConflictError,
    IdentityError,
    NotFoundError,
    PermissionDeniedError,
)
from panacea.identity.memberships import membership_of
from panacea.identity.models import ApiToken, Membership, User
from panacea.identity.passwords import check_password_policy, hash_password, set_password
from panacea.identity.roles import Role
from panacea.identity.user_views import MemberView, member_view
from panacea.inventory.organisation import Organisation

# RFC 5321 section 4.5.3.1: local part at most 64 octets, a path at most 256 (so an address
# of at most 254 characters); the column holds 320 as the older RFC 3696 erratum allowed.
MAX_EMAIL_LENGTH = 254
MAX_LOCAL_PART = 64
# 18 random bytes = 24 URL-safe characters (144 bits): far above the 12-character policy.
GENERATED_PASSWORD_BYTES = 18
DEMO_ADMIN_EMAIL = "admin@demo-hospital.example"


@dataclass(frozen=True)
class NewMember:
    """The outcome of adding a member: the member, and the initial password if created."""

    member: MemberView
    # Shown once, to be handed to the user; None when an existing account was added.
    initial_password: str | None

    @property
    def created(self) -> bool:
        return self.initial_password is not None


def normalise_email(email: str) -> str:
    """The stored form of an e-mail address (trimmed, lower case). Raises IdentityError.

    Lower-casing the local part is stricter than RFC 5321 (which lets a server treat it as
    case-sensitive) but no hospital mail system does, and it keeps one account per person.
    """
    value = email.strip().lower()
    local, at, domain = value.rpartition("@")
    valid = (
        at == "@"
        and 0 < len(local) <= MAX_LOCAL_PART
        and "." in domain.strip(".")
        and len(value) <= MAX_EMAIL_LENGTH
        and value.isprintable()
        and not any(c.isspace() or c in '<>()[],;:\\"' for c in value)
        and "@" not in local
    )
    if not valid:
        raise IdentityError(f"{email!r} is not an e-mail address like name@hospital.example")
    return value


def generate_password() -> str:
    """A random password for a new or reset account (shown once, to be replaced)."""
    return secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)


def issue_password(user: User) -> str:
    """Give ``user`` a random password to be replaced at first sign-in; return it (once).

    ``password_changed_at`` is cleared: the password is known to whoever issued it.
    """
    password = generate_password()
    # A generated password always passes; checking anyway keeps one policy for every path.
    check_password_policy(password, email=user.email, display_name=user.display_name)
    user.password_hash = hash_password(password)
    user.password_changed_at = None
    return password


def user_by_email(session: Session, email: str) -> User:
    """The account with this e-mail. Raises NotFoundError (or IdentityError if malformed)."""
    address = normalise_email(email)
    user = session.execute(select(User).where(User.email == address)).scalar_one_or_none()
    if user is None:
        raise NotFoundError(f"no user {address}")
    return user


def create_user(
    session: Session,
    *,
    email: str,
    actor: Actor,
    display_name: str = "",
    password: str | None = None,
    organisation_id: int | None = None,
) -> tuple[User, str | None]:
    """Create a local account; return it and the generated password (None if ``password``).

    A given ``password`` is the user's own choice and must pass the policy
    (PasswordPolicyError otherwise); without one a random password is generated, returned
    once, and must be replaced at first sign-in. The creation is audited in the chain of
    ``organisation_id`` (the platform chain if None). Raises ConflictError if the e-mail is
    taken.
    """
    address = normalise_email(email)
    if session.execute(select(User.id).where(User.email == address)).first() is not None:
        raise ConflictError(f"a user with e-mail {address} already exists")
    name = display_name.strip()[:200]
    if password is not None:  # refuse before anything is written
        check_password_policy(password, email=address, display_name=name)
    user = User(email=address, display_name=name)
    session.add(user)
    session.flush()
    generated = None
    if password is not None:
        set_password(session, user, password)
    else:
        generated = issue_password(user)
    append(
        session,
        actor.event(
            "user.created",
            organisation_id=organisation_id,
            target=f"user:{user.id}",
            email=address,
            password="chosen" if generated is None else "generated",
        ),
    )
    session.flush()
    return user, generated


def add_membership(
    session: Session,
    organisation_id: int,
    user: User,
    *,
    role: Role,
    actor: Actor,
    break_glass_eligible: bool = False,
) -> Membership:
    """Make ``user`` a member with ``role``. Raises ConflictError if already a member."""
    _require_organisation(session, organisation_id)
    if membership_of(session, user_id=user.id, organisation_id=organisation_id) is not None:
        raise ConflictError(f"{user.email} is already a member of organisation {organisation_id}")
    membership = Membership(
        organisation_id=organisation_id,
        user_id=user.id,
        role=Role(role).value,
        break_glass_eligible=break_glass_eligible,
    )
    session.add(membership)
    session.flush()
    append(
        session,
        actor.event(
            "membership.added",
            organisation_id=organisation_id,
            target=f"user:{user.id}",
            email=user.email,
            role=membership.role,
            break_glass_eligible=break_glass_eligible,
        ),
    )
    return membership


def add_member(
    session: Session,
    organisation_id: int,
    *,
    email: str,
    role: Role,
    actor: Actor,
    display_name: str = "",
    break_glass_eligible: bool = False,
) -> NewMember:
    """Add the account with ``email`` to the organisation, creating it if there is none.

    A created account gets a generated password, returned once in ``initial_password``.
    Raises ConflictError if the user is already a member.
    """
    _require_organisation(session, organisation_id)
    address = normalise_email(email)
    user = session.execute(select(User).where(User.email == address)).scalar_one_or_none()
    password = None
    if user is None:
        user, password = create_user(
            session,
            email=address,
            actor=actor,
            display_name=display_name,
            organisation_id=organisation_id,
        )
    add_membership(
        session,
        organisation_id,
        user,
        role=role,
        actor=actor,
        break_glass_eligible=break_glass_eligible,
    )
    return NewMember(member_view(session, organisation_id, user.id), password)


def set_role(
    session: Session, organisation_id: int, user_id: int, role: Role, *, actor: Actor
) -> MemberView:
    """Change a member's role (audited ``role.changed`` with old and new).

    Raises NotFoundError for a non-member, ConflictError when demoting the last
    administrator or changing a role that single sign-on assigns.
    """
    membership = require_member(session, organisation_id, user_id)
    old, new = Role(membership.role), Role(role)
    if old is new:
        return member_view(session, organisation_id, user_id)
    if membership.from_sso:
        raise ConflictError(
            f"user {user_id}'s role in organisation {organisation_id} comes from the identity "
            "provider's groups; change the group mapping instead"
        )
    if old is Role.ADMIN:
        ensure_another_admin(session, organisation_id, user_id)
    membership.role = new.value
    append(
        session,
        actor.event(
            "role.changed",
            organisation_id=organisation_id,
            target=f"user:{user_id}",
            old=old.value,
            new=new.value,
        ),
    )
    return member_view(session, organisation_id, user_id)


def set_break_glass_eligible(
    session: Session, organisation_id: int, user_id: int, eligible: bool, *, actor: Actor
) -> MemberView:
    """Designate (or not) a member for break-glass elevation. Audited.

    Nobody designates themselves (a second person decides who may elevate in an emergency):
    PermissionDeniedError. Raises NotFoundError for a non-member.
    """
    membership = require_member(session, organisation_id, user_id)
    if actor.user_id == user_id:
        raise PermissionDeniedError("you cannot change your own break-glass eligibility")
    if membership.break_glass_eligible != eligible:
        membership.break_glass_eligible = eligible
        append(
            session,
            actor.event(
                "break_glass.eligibility_changed",
                organisation_id=organisation_id,
                target=f"user:{user_id}",
                eligible=eligible,
            ),
        )
    return member_view(session, organisation_id, user_id)


def remove_member(session: Session, organisation_id: int, user_id: int, *, actor: Actor) -> None:
    """End a membership and revoke the user's API tokens of that organisation. Audited.

    Raises NotFoundError for a non-member, ConflictError for the last administrator.
    """
    membership = require_member(session, organisation_id, user_id)
    if Role(membership.role) is Role.ADMIN:
        ensure_another_admin(session, organisation_id, user_id)
    tokens = _revoke_tokens_in(session, organisation_id, user_id)
    role = membership.role
    session.delete(membership)
    session.flush()
    append(
        session,
        actor.event(
            "membership.removed",
            organisation_id=organisation_id,
            target=f"user:{user_id}",
            role=role,
            tokens_revoked=tokens,
        ),
    )


def grant(
    session: Session, organisation_id: int, *, email: str, role: Role, actor: Actor
) -> MemberView:
    """Give an existing account ``role`` in the organisation (adding it if not a member)."""
    user = user_by_email(session, email)
    if membership_of(session, user_id=user.id, organisation_id=organisation_id) is None:
        add_membership(session, organisation_id, user, role=role, actor=actor)
        return member_view(session, organisation_id, user.id)
    return set_role(session, organisation_id, user.id, role, actor=actor)


def ensure_demo_admin(session: Session, organisation_id: int) -> tuple[str, str | None]:
    """The demo hospital's first administrator: ``(email, password)``, password shown once.

    Creates :data:`DEMO_ADMIN_EMAIL` with a random password (to be replaced at first
    sign-in) and makes it an administrator of the organisation. If the account already
    exists the password is None (it was printed when it was created; ``panacea users
    reset-password`` issues a new one); a missing membership is added either way.
    """
    actor = Actor(user_id=None, name="panacea demo", via="cli")
    existing = session.execute(
        select(User).where(User.email == DEMO_ADMIN_EMAIL)
    ).scalar_one_or_none()
    password = None
    if existing is None:
        user, password = create_user(
            session,
            email=DEMO_ADMIN_EMAIL,
            actor=actor,
            display_name="Demo administrator",
            organisation_id=organisation_id,
        )
    else:
        user = existing
    if membership_of(session, user_id=user.id, organisation_id=organisation_id) is None:
        add_membership(session, organisation_id, user, role=Role.ADMIN, actor=actor)
    return DEMO_ADMIN_EMAIL, password


# --- lookups and rules shared with panacea.identity.accounts --------------------------------


def _require_organisation(session: Session, organisation_id: int) -> None:
    if session.get(Organisation, organisation_id) is None:
        raise NotFoundError(f"no organisation {organisation_id}")


def require_account(session: Session, user_id: int) -> User:
    """The account with this id. Raises NotFoundError."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user {user_id}")
    return user


def require_member(session: Session, organisation_id: int, user_id: int) -> Membership:
    """The user's membership of the organisation. Raises NotFoundError for a non-member."""
    membership = membership_of(session, user_id=user_id, organisation_id=organisation_id)
    if membership is None:
        raise NotFoundError(f"no user {user_id} in organisation {organisation_id}")
    return membership


def ensure_another_admin(session: Session, organisation_id: int, leaving_user_id: int) -> None:
    """Raise ConflictError unless an enabled admin other than ``leaving_user_id`` remains."""
    # Lock the organisation's admin memberships (PostgreSQL; SQLite serialises writers): a
    # concurrent demotion waits, then re-reads the rows and sees this one's outcome.
    rows = session.execute(
        select(Membership.user_id, User.disabled)
        .join(User, User.id == Membership.user_id)
        .where(Membership.organisation_id == organisation_id, Membership.role == Role.ADMIN.value)
        .order_by(Membership.id)
        .with_for_update(of=Membership)
    )
    if not any(uid != leaving_user_id and not disabled for uid, disabled in rows):
        raise ConflictError(
            f"user {leaving_user_id} is the last administrator of organisation "
            f"{organisation_id}: make another member admin first"
        )


def _revoke_tokens_in(session: Session, organisation_id: int, user_id: int) -> int:
    result = session.execute(
        update(ApiToken)
        .where(
            ApiToken.organisation_id == organisation_id,
            ApiToken.user_id == user_id,
            ApiToken.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)
