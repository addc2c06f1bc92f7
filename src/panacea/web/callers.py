"""Who is looking at a dashboard page: the database session behind the cookie, and the role.

The dashboard uses the API's own sessions (:mod:`panacea.identity.sessions`): the HttpOnly
``panacea_session`` cookie, set by the JSON sign-in routes, is resolved here exactly as
``panacea.api.deps`` resolves it, and the role in the chosen organisation is computed the same
way (membership, break-glass elevation, the organisation's MFA roles, the permission matrix).

The organisation shown is, in order: the ``org`` query parameter, the ``panacea_org`` cookie
(set by the organisation switcher; it is only a preference, membership is checked every time),
the caller's first organisation by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from sqlalchemy.orm import Session

from panacea.api.context import AppContext
from panacea.errors import PanaceaError
from panacea.identity.authentication import account_overview
from panacea.identity.memberships import active_grant, mfa_roles
from panacea.identity.models import BreakGlassGrant, User, UserSession
from panacea.identity.principal import OrgAccess, Principal
from panacea.identity.rbac import permissions_of
from panacea.identity.roles import Permission, Role
from panacea.identity.sessions import resolve_session

ORG_COOKIE = "panacea_org"
ORG_PARAMETER = "org"


class WebSessionEndedError(PanaceaError):
    """The browser session behind an open page ended (logout, expiry, revocation, demotion)."""


class Standing(Enum):
    """How far a browser got: what a page must do before it can show anything."""

    ANONYMOUS = "anonymous"  # no live session: sign in
    SECOND_FACTOR = "second_factor"  # signed in, but the role needs a second factor first
    NO_ORGANISATION = "no_organisation"  # signed in, member of nothing
    SIGNED_IN = "signed_in"


@dataclass(frozen=True)
class Membership:
    """One organisation the caller may switch to."""

    organisation_id: int
    organisation_name: str
    role: Role


@dataclass(frozen=True)
class BreakGlassState:
    """A live break-glass elevation of the caller in the organisation shown."""

    grant_id: int
    role: Role
    expires_at: datetime
    reason: str


@dataclass(frozen=True)
class WebCaller:
    """A signed-in person looking at one organisation, as every dashboard page sees them.

    ``role`` is the effective role (the break-glass role while elevated); ``permissions`` is
    the union of what ``role`` and ``base_role`` hold (elevation adds, never removes), as
    ``panacea.api.deps.require`` decides.
    """

    user_id: int
    email: str
    display_name: str
    session_id: int
    assurance: str
    client_address: str
    organisation_id: int
    organisation_name: str
    role: Role
    base_role: Role
    permissions: frozenset[Permission]
    break_glass: BreakGlassState | None
    memberships: tuple[Membership, ...]
    context: AppContext = field(repr=False, compare=False)
    # The cookie value, kept in server memory only to re-check the session on later events.
    session_token: str = field(repr=False, compare=False)

    def allows(self, permission: Permission) -> bool:
        """True if the caller holds ``permission`` in the organisation shown."""
        return permission in self.permissions

    @property
    def principal(self) -> Principal:
        return Principal(
            user_id=self.user_id,
            email=self.email,
            via="session",
            session_id=self.session_id,
            assurance=self.assurance,
            client_address=self.client_address,
        )

    @property
    def access(self) -> OrgAccess:
        """The caller's access as API routes see it: ``access.event(...)`` builds audit events."""
        return OrgAccess(
            principal=self.principal,
            organisation_id=self.organisation_id,
            role=self.role,
            base_role=self.base_role,
            break_glass_grant_id=self.break_glass.grant_id if self.break_glass else None,
        )

    @contextmanager
    def transaction(self, permission: Permission | None = None) -> Iterator[Session]:
        """One database transaction for an event of an open page, committed at the end.

        The session is resolved again first (it may have ended since the page was built; a
        live one is touched, as an API request touches it) and so is the role: if the session
        ended, or the caller no longer holds ``permission`` in this organisation, raises
        WebSessionEndedError and nothing is written. Rolled back on any exception.
        """
        with self.context.sessions() as db:
            try:
                fresh = resolve_caller(
                    db,
                    self.context,
                    self.session_token,
                    client_address=self.client_address,
                    organisation_hint=self.organisation_id,
                )
                if not isinstance(fresh, WebCaller) or fresh.organisation_id != (
                    self.organisation_id
                ):
                    raise WebSessionEndedError(
                        f"the session of {self.email} in organisation {self.organisation_id} "
                        "has ended: sign in again"
                    )
                if permission is not None and not fresh.allows(permission):
                    raise WebSessionEndedError(
                        f"{self.email} no longer holds {permission.value} in organisation "
                        f"{self.organisation_id}"
                    )
                yield db
                db.commit()
            except BaseException:
                db.rollback()
                raise

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A database session for reads. Closed at the end without a commit, so nothing it
        might change is kept; objects read stay usable (detached, their attributes loaded)."""
        with self.context.sessions() as db:
            yield db


def _memberships(db: Session, user_id: int) -> tuple[Membership, ...]:
    overview = account_overview(db, user_id)
    return tuple(
        Membership(m.organisation_id, m.organisation_name, Role(m.role))
        for m in overview.memberships
    )


def _chosen(memberships: tuple[Membership, ...], hint: int | None) -> Membership | None:
    for m in memberships:
        if m.organisation_id == hint:
            return m
    return memberships[0] if memberships else None


def resolve_caller(
    db: Session,
    context: AppContext,
    token: str | None,
    *,
    client_address: str = "",
    organisation_hint: int | None = None,
) -> WebCaller | Standing:
    """The caller behind a session cookie value, or how far they are from being one.

    ``organisation_hint`` picks the organisation among the caller's memberships (ignored if
    they are not a member: the first organisation by name is shown instead, never another
    organisation's data). Touches the session like an API request (the caller commits).
    """
    if not token:
        return Standing.ANONYMOUS
    found = resolve_session(db, token, timeouts=context.timeouts)
    if found is None:
        return Standing.ANONYMOUS
    row, user = found
    memberships = _memberships(db, user.id)
    chosen = _chosen(memberships, organisation_hint)
    if chosen is None:
        return Standing.NO_ORGANISATION
    grant = active_grant(db, user_id=user.id, organisation_id=chosen.organisation_id)
    role = Role(grant.role) if grant is not None else chosen.role
    # As panacea.api.deps.require: either role needing MFA asks for it from a session.
    if {role, chosen.role} & mfa_roles(db, chosen.organisation_id) and row.assurance != "mfa":
        return Standing.SECOND_FACTOR
    return _caller(row, user, chosen, grant, role, memberships, context, token, client_address)


def _caller(
    row: UserSession,
    user: User,
    chosen: Membership,
    grant: BreakGlassGrant | None,
    role: Role,
    memberships: tuple[Membership, ...],
    context: AppContext,
    token: str,
    client_address: str,
) -> WebCaller:
    return WebCaller(
        user_id=user.id,
        email=user.email,
        display_name=user.display_name or user.email,
        session_id=row.id,
        assurance=row.assurance,
        client_address=client_address,
        organisation_id=chosen.organisation_id,
        organisation_name=chosen.organisation_name,
        role=role,
        base_role=chosen.role,
        permissions=permissions_of(role) | permissions_of(chosen.role),
        break_glass=(
            BreakGlassState(grant.id, Role(grant.role), grant.expires_at, grant.reason)
            if grant is not None
            else None
        ),
        memberships=memberships,
        context=context,
        session_token=token,
    )


def session_is_live(context: AppContext, token: str) -> bool:
    """Whether the session of ``token`` is still live, without counting as activity.

    The periodic check of an open page must not keep an idle session alive, so the
    transaction (which would touch ``last_seen_at``) is rolled back.
    """
    with context.sessions() as db:
        try:
            return resolve_session(db, token, timeouts=context.timeouts) is not None
        finally:
            db.rollback()
