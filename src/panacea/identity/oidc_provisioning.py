"""Single sign-on, PANACEA's side: from a verified identity to a session.

Rules (docs/security.md, "Single sign-on"):

- The account is found by (issuer, subject) in ``OidcIdentity``. On a first login it is
  linked to the local account with the same e-mail only if the provider says the e-mail is
  verified (``email_verified``), otherwise refused; without such an account one is created
  (no password: it signs in only through the provider).
- The groups claim is mapped through the ``GroupRoleMapping`` rows of the SSO organisation
  (``PANACEA_OIDC_ORGANISATION``). Several mapped groups give the most privileged role in
  :data:`ROLE_PRECEDENCE`. No mapped group: the login is refused and audited (fail closed),
  and the memberships single sign-on had given are removed.
- The SSO membership (``Membership.from_sso``) is refreshed at every login: a changed
  mapping or group applies at once. A membership granted by hand (``from_sso`` false) is the
  local administrator's and is left as it is. An SSO membership in another organisation than
  the SSO organisation is stale (the provider no longer asserts it) and is removed.
- A disabled account cannot sign in, whatever the provider says.
- The session's assurance is "mfa" when the ID token shows a second factor (``amr``/``acr``,
  :meth:`VerifiedIdentity.assurance`), else "sso": roles that require a second factor then
  ask for a local one (TOTP or passkey).

Every outcome is audited as ``auth.sso.login`` (success or failure) in the SSO
organisation's chain, in the caller's transaction: the caller commits refusals too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from panacea.db.base import utcnow
from panacea.identity.audit import AuditEvent, append
from panacea.identity.errors import IdentityError
from panacea.identity.models import GroupRoleMapping, Membership, OidcIdentity, User, UserSession
from panacea.identity.oidc import OidcClient, OidcConfig, VerifiedIdentity
from panacea.identity.oidc_errors import OidcError, OidcLoginError, OidcProviderError
from panacea.identity.oidc_state import unseal
from panacea.identity.roles import Role
from panacea.identity.secrets_digest import digest
from panacea.identity.sessions import create_session, revoke_session
from panacea.identity.users import normalise_email
from panacea.inventory.organisation import Organisation

# "Most privileged" when several groups map: the administrator first, then the roles that
# change risk decisions, those that change the inventory, and the read-only ones last.
ROLE_PRECEDENCE: tuple[Role, ...] = (
    Role.ADMIN,
    Role.SECURITY_LEAD,
    Role.ANALYST,
    Role.IT_OPERATOR,
    Role.BIOMED_ENGINEER,
    Role.AUDITOR,
    Role.VIEWER,
)
SSO_LOGIN = "auth.sso.login"


@dataclass(frozen=True)
class SsoSession:
    """A successful single sign-on: the session cookie value is shown only here."""

    user_id: int
    email: str
    organisation_id: int
    role: Role
    assurance: str
    session_token: str
    csrf_token: str


@dataclass(frozen=True)
class SsoRefusal:
    """A refused single sign-on (already audited). ``reason`` is safe to show the user."""

    status: int
    slug: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def role_for_groups(groups: Iterable[str], mappings: Iterable[tuple[str, str]]) -> Role | None:
    """The most privileged role (:data:`ROLE_PRECEDENCE`) any of ``groups`` maps to.

    ``mappings`` are (group name, role) pairs; group names match exactly (case-sensitive, as
    providers compare them). A mapping to an unknown role grants nothing. None if no group maps.
    """
    held = set(groups)
    roles = {role for group, role in mappings if group in held}
    for role in ROLE_PRECEDENCE:
        if role.value in roles:
            return role
    return None


def complete_login(
    session: Session,
    client: OidcClient,
    *,
    sealing_key: bytes,
    sealed: str | None,
    state: str | None,
    code: str | None,
    error: str | None = None,
    client_address: str = "",
    user_agent: str = "",
    previous_token: str | None = None,
) -> SsoSession | SsoRefusal:
    """Handle the provider's callback: check it, then :func:`sign_in`.

    ``sealed`` is the pending-login cookie; ``state``, ``code`` and ``error`` the callback's
    query parameters; ``previous_token`` the session cookie the browser had, if any. Network
    calls happen before the database is touched. Never raises for a refused login: the
    refusal is audited in ``session`` and returned, for the caller to commit and render.
    """
    try:
        pending = unseal(sealed or "", sealing_key)
        if error:
            raise OidcLoginError(f"the identity provider refused the login: {error[:100]}")
        if not state or not code:
            raise OidcLoginError("the callback lacks the state or the code parameter")
        identity = client.redeem(pending, state=state, code=code)
    except OidcError as e:
        status, slug = (502, "sso-provider-unavailable")
        if isinstance(e, OidcLoginError):
            status, slug = (401, "sso-login-failed")
        elif not isinstance(e, OidcProviderError):
            status, slug = (503, "sso-not-configured")
        organisation_id = _organisation_id(session, client.config.organisation)
        return _refuse(
            session,
            status,
            slug,
            str(e),
            organisation_id=organisation_id,
            client_address=client_address,
        )
    return sign_in(
        session,
        client.config,
        identity,
        client_address=client_address,
        user_agent=user_agent,
        previous_token=previous_token,
    )


def sign_in(
    session: Session,
    config: OidcConfig,
    identity: VerifiedIdentity,
    *,
    client_address: str = "",
    user_agent: str = "",
    previous_token: str | None = None,
) -> SsoSession | SsoRefusal:
    """Provision the account and its SSO membership for ``identity``; open a session.

    The session the browser presented (``previous_token``), if live, is revoked: a sign-in
    always gets a new session (session fixation, OWASP ASVS 4.0 V3.2.1). Returns an
    SsoRefusal (audited) if the SSO organisation does not exist, the account is disabled, an
    e-mail cannot be linked, or no group maps to a role.
    """
    organisation_id = _organisation_id(session, config.organisation)
    who: dict[str, Any] = {
        "issuer": identity.issuer,
        "subject": identity.subject,
        "email": identity.email,
        "groups": list(identity.groups)[:50],
    }

    def refuse(
        status: int, slug: str, reason: str, user: User | None = None, **extra: Any
    ) -> SsoRefusal:
        return _refuse(
            session,
            status,
            slug,
            reason,
            organisation_id=organisation_id,
            client_address=client_address,
            user=user,
            **who,
            **extra,
        )

    if organisation_id is None:
        return refuse(
            503,
            "sso-not-configured",
            f"the SSO organisation {config.organisation!r} does not exist",
        )
    user, link_problem = _account_of(session, identity)
    if link_problem is not None:
        # Not the account's owner acting (that is what could not be established).
        local = user.id if user is not None else None
        return refuse(403, "sso-refused", link_problem, local_account=local)
    if user is not None and user.disabled:
        return refuse(403, "sso-refused", "this account is disabled in PANACEA", user)
    role = role_for_groups(identity.groups, _mappings(session, organisation_id))
    if role is None:
        removed = _remove_sso_memberships(session, user, keep=None) if user else []
        return refuse(
            403,
            "sso-refused",
            "none of your identity provider groups gives a role in PANACEA",
            user,
            memberships_removed=removed,
        )
    created = user is None
    if user is None or _identity_row(session, identity) is None:
        try:
            user = _link(session, identity, user)
        except (IntegrityError, IdentityError) as e:
            return refuse(409, "sso-refused", f"the account could not be created: {e}", user)
    removed = _remove_sso_memberships(session, user, keep=organisation_id)
    effective, change = _refresh_membership(session, user, organisation_id, role)
    assurance = identity.assurance(config.mfa_acr_values)
    _revoke_presented(session, previous_token)
    row, token = create_session(
        session,
        user=user,
        assurance=assurance,
        client_address=client_address,
        user_agent=user_agent,
    )
    user.last_login_at = utcnow()
    append(
        session,
        AuditEvent(
            action=SSO_LOGIN,
            organisation_id=organisation_id,
            actor_user_id=user.id,
            actor=user.email,
            via="sso",
            target=f"user:{user.id}",
            client_address=client_address,
            details={
                **who,
                "account": "created" if created else "existing",
                "mapped_role": role.value,
                "role": effective.value,
                "membership": change,
                "memberships_removed": removed,
                "assurance": assurance,
                "session_id": row.id,
            },
        ),
    )
    return SsoSession(
        user_id=user.id,
        email=user.email,
        organisation_id=organisation_id,
        role=effective,
        assurance=assurance,
        session_token=token,
        csrf_token=row.csrf_token,
    )


# --- steps ------------------------------------------------------------------------------------


def _revoke_presented(session: Session, token: str | None) -> None:
    if not token:
        return
    row = session.execute(
        select(UserSession).where(UserSession.token_digest == digest(token))
    ).scalar_one_or_none()
    if row is not None and row.revoked_at is None:
        revoke_session(row)


def _organisation_id(session: Session, name: str) -> int | None:
    return session.execute(
        select(Organisation.id).where(Organisation.name == name)
    ).scalar_one_or_none()


def _mappings(session: Session, organisation_id: int) -> list[tuple[str, str]]:
    rows = session.execute(
        select(GroupRoleMapping.group_name, GroupRoleMapping.role).where(
            GroupRoleMapping.organisation_id == organisation_id
        )
    )
    return list(rows)


def _identity_row(session: Session, identity: VerifiedIdentity) -> OidcIdentity | None:
    return session.execute(
        select(OidcIdentity).where(
            OidcIdentity.issuer == identity.issuer, OidcIdentity.subject == identity.subject
        )
    ).scalar_one_or_none()


def _account_of(session: Session, identity: VerifiedIdentity) -> tuple[User | None, str | None]:
    """The account of ``identity`` (None: to be created) or why it cannot be linked."""
    linked = _identity_row(session, identity)
    if linked is not None:
        return session.get(User, linked.user_id), None
    if identity.email is None:
        return None, "the identity provider sent no e-mail address (add the 'email' claim)"
    try:
        address = normalise_email(identity.email)
    except IdentityError:
        return None, "the identity provider's e-mail address is not valid"
    existing = session.execute(
        select(User).where(func.lower(User.email) == address)
    ).scalar_one_or_none()
    if existing is not None and not identity.email_verified:
        # Linking on an unverified address would let anyone who can set their e-mail at the
        # provider take over the local account of that address.
        return existing, (
            "an account with this e-mail exists, but the identity provider does not say the "
            "e-mail is verified: it cannot be linked"
        )
    return existing, None


def _link(session: Session, identity: VerifiedIdentity, user: User | None) -> User:
    """Create the account if needed and link (issuer, subject) to it (one savepoint)."""
    with session.begin_nested():
        if user is None:
            assert identity.email is not None  # _account_of refused otherwise
            user = User(email=normalise_email(identity.email), display_name=identity.name)
            session.add(user)
            session.flush()
        session.add(OidcIdentity(issuer=identity.issuer, subject=identity.subject, user_id=user.id))
        session.flush()
    return user


def _remove_sso_memberships(session: Session, user: User, *, keep: int | None) -> list[int]:
    """Delete the user's SSO memberships except in organisation ``keep``; return their orgs."""
    rows = session.execute(
        select(Membership).where(Membership.user_id == user.id, Membership.from_sso.is_(True))
    ).scalars()
    removed = []
    for membership in rows:
        if membership.organisation_id != keep:
            removed.append(membership.organisation_id)
            session.delete(membership)
    session.flush()
    return sorted(removed)


def _refresh_membership(
    session: Session, user: User, organisation_id: int, role: Role
) -> tuple[Role, str]:
    """Apply the mapped role; return the effective role and what changed."""
    membership = session.execute(
        select(Membership).where(
            Membership.user_id == user.id, Membership.organisation_id == organisation_id
        )
    ).scalar_one_or_none()
    if membership is None:
        session.add(
            Membership(
                user_id=user.id, organisation_id=organisation_id, role=role.value, from_sso=True
            )
        )
        session.flush()
        return role, "created"
    if not membership.from_sso:
        return Role(membership.role), "local membership kept"
    if membership.role == role.value:
        return role, "unchanged"
    previous = membership.role
    membership.role = role.value
    return role, f"role {previous} -> {role.value}"


def _refuse(
    session: Session,
    status: int,
    slug: str,
    reason: str,
    *,
    organisation_id: int | None,
    client_address: str,
    user: User | None = None,
    **details: Any,
) -> SsoRefusal:
    append(
        session,
        AuditEvent(
            action=SSO_LOGIN,
            organisation_id=organisation_id,
            actor_user_id=user.id if user is not None else None,
            actor=user.email if user is not None else str(details.get("email") or ""),
            via="sso",
            outcome="failure",
            target=f"user:{user.id}" if user is not None else "",
            client_address=client_address,
            details={"reason": reason, **details},
        ),
    )
    return SsoRefusal(status=status, slug=slug, reason=reason, details=details)
