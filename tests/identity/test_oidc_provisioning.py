"""From a verified identity to an account, an SSO membership and a session (both databases)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from panacea.identity.audit_records import AuditEntry
from panacea.identity.models import (
    GroupRoleMapping,
    Membership,
    OidcIdentity,
    User,
    UserSession,
)
from panacea.identity.oidc import OidcConfig, VerifiedIdentity
from panacea.identity.oidc_provisioning import (
    SsoRefusal,
    SsoSession,
    role_for_groups,
    sign_in,
)
from panacea.identity.roles import Role
from panacea.identity.secrets_digest import digest
from panacea.inventory.organisation import Organisation

ISSUER = "https://idp.hospital.example/realms/staff"
ORG = "Hôpital Saint-Test"
CONFIG = OidcConfig(
    issuer=ISSUER,
    client_id="panacea",
    client_secret="s",
    redirect_uri="https://panacea.example/api/v1/auth/oidc/callback",
    organisation=ORG,
)


def _identity(**changes: Any) -> VerifiedIdentity:
    values: dict[str, Any] = {
        "issuer": ISSUER,
        "subject": "sub-1",
        "email": "Claire.Dupont@Hospital.example",
        "email_verified": True,
        "name": "Claire Dupont",
        "groups": ("panacea-analysts",),
    }
    values.update(changes)
    return VerifiedIdentity(**values)


@pytest.fixture
def org_id(factory: sessionmaker[Session]) -> int:
    with factory.begin() as s:
        org = Organisation(name=ORG)
        s.add(org)
        s.flush()
        for group, role in [
            ("panacea-analysts", Role.ANALYST),
            ("panacea-leads", Role.SECURITY_LEAD),
            ("panacea-viewers", Role.VIEWER),
            ("panacea-admins", Role.ADMIN),
        ]:
            s.add(GroupRoleMapping(organisation_id=org.id, group_name=group, role=role.value))
        return org.id


def _sign_in(factory: sessionmaker[Session], identity: VerifiedIdentity) -> SsoSession | SsoRefusal:
    with factory.begin() as s:
        return sign_in(s, CONFIG, identity, client_address="10.0.0.7", user_agent="pytest")


def _logins(factory: sessionmaker[Session]) -> list[AuditEntry]:
    with factory() as s:
        return list(
            s.execute(
                select(AuditEntry)
                .where(AuditEntry.action == "auth.sso.login")
                .order_by(AuditEntry.id)
            ).scalars()
        )


def _membership(factory: sessionmaker[Session], user_id: int, org_id: int) -> Membership | None:
    with factory() as s:
        return s.execute(
            select(Membership).where(
                Membership.user_id == user_id, Membership.organisation_id == org_id
            )
        ).scalar_one_or_none()


def test_several_groups_give_the_most_privileged_role() -> None:
    mappings = [("a", "viewer"), ("b", "analyst"), ("c", "security_lead"), ("d", "not-a-role")]
    assert role_for_groups(["a", "b"], mappings) is Role.ANALYST
    assert role_for_groups(["c", "a", "b"], mappings) is Role.SECURITY_LEAD
    assert role_for_groups(["d"], mappings) is None
    assert role_for_groups(["A"], mappings) is None  # exact, case-sensitive
    assert role_for_groups([], mappings) is None


def test_a_first_login_creates_the_account_membership_and_session(
    factory: sessionmaker[Session], org_id: int
) -> None:
    outcome = _sign_in(factory, _identity(groups=("panacea-viewers", "panacea-analysts", "x")))
    assert isinstance(outcome, SsoSession)
    assert outcome.role is Role.ANALYST
    assert outcome.assurance == "sso"
    with factory() as s:
        user = s.get(User, outcome.user_id)
        assert user is not None
        assert user.email == "claire.dupont@hospital.example"
        assert user.password_hash is None
        assert user.last_login_at is not None
        link = s.execute(select(OidcIdentity)).scalar_one()
        assert (link.issuer, link.subject, link.user_id) == (ISSUER, "sub-1", user.id)
        row = s.execute(
            select(UserSession).where(UserSession.token_digest == digest(outcome.session_token))
        ).scalar_one()
        assert (row.user_id, row.assurance, row.client_address) == (user.id, "sso", "10.0.0.7")
    membership = _membership(factory, outcome.user_id, org_id)
    assert membership is not None
    assert (membership.role, membership.from_sso) == ("analyst", True)
    [entry] = _logins(factory)
    assert (entry.outcome, entry.organisation_id, entry.actor_user_id) == (
        "success",
        org_id,
        user.id,
    )
    assert entry.details["account"] == "created"
    assert entry.details["membership"] == "created"


def test_a_second_factor_at_the_provider_gives_an_mfa_session(
    factory: sessionmaker[Session], org_id: int
) -> None:
    outcome = _sign_in(factory, _identity(amr=("pwd", "mfa")))
    assert isinstance(outcome, SsoSession)
    assert outcome.assurance == "mfa"


def test_the_role_follows_the_groups_at_every_login(
    factory: sessionmaker[Session], org_id: int
) -> None:
    first = _sign_in(factory, _identity(groups=("panacea-analysts",)))
    second = _sign_in(factory, _identity(groups=("panacea-leads",)))
    assert isinstance(first, SsoSession)
    assert isinstance(second, SsoSession)
    assert first.user_id == second.user_id
    assert second.role is Role.SECURITY_LEAD
    membership = _membership(factory, second.user_id, org_id)
    assert membership is not None
    assert membership.role == "security_lead"
    assert _logins(factory)[-1].details["membership"] == "role analyst -> security_lead"


def test_no_mapped_group_refuses_and_removes_the_sso_membership(
    factory: sessionmaker[Session], org_id: int
) -> None:
    first = _sign_in(factory, _identity())
    assert isinstance(first, SsoSession)
    refused = _sign_in(factory, _identity(groups=("cafeteria",)))
    assert isinstance(refused, SsoRefusal)
    assert (refused.status, refused.slug) == (403, "sso-refused")
    assert _membership(factory, first.user_id, org_id) is None
    entry = _logins(factory)[-1]
    assert entry.outcome == "failure"
    assert entry.actor_user_id == first.user_id
    assert entry.details["memberships_removed"] == [org_id]
    assert entry.details["groups"] == ["cafeteria"]


def test_an_unknown_person_without_a_mapped_group_gets_no_account(
    factory: sessionmaker[Session], org_id: int
) -> None:
    refused = _sign_in(factory, _identity(groups=()))
    assert isinstance(refused, SsoRefusal)
    with factory() as s:
        assert s.execute(select(User)).first() is None
        assert s.execute(select(OidcIdentity)).first() is None
    assert _logins(factory)[-1].outcome == "failure"


def test_a_disabled_account_cannot_sign_in(factory: sessionmaker[Session], org_id: int) -> None:
    first = _sign_in(factory, _identity())
    assert isinstance(first, SsoSession)
    with factory.begin() as s:
        user = s.get(User, first.user_id)
        assert user is not None
        user.disabled = True
    refused = _sign_in(factory, _identity())
    assert isinstance(refused, SsoRefusal)
    assert "disabled" in refused.reason
    with factory() as s:
        sessions = s.execute(select(UserSession).where(UserSession.user_id == first.user_id))
        assert len(sessions.all()) == 1  # only the first login's


def test_a_verified_email_links_the_existing_local_account(
    factory: sessionmaker[Session], org_id: int
) -> None:
    with factory.begin() as s:
        local = User(email="claire.dupont@hospital.example", display_name="Claire")
        s.add(local)
        s.flush()
        local_id = local.id
    outcome = _sign_in(factory, _identity())
    assert isinstance(outcome, SsoSession)
    assert outcome.user_id == local_id
    assert _logins(factory)[-1].details["account"] == "existing"


def test_an_unverified_email_is_not_linked(factory: sessionmaker[Session], org_id: int) -> None:
    with factory.begin() as s:
        s.add(User(email="claire.dupont@hospital.example"))
    refused = _sign_in(factory, _identity(email_verified=False))
    assert isinstance(refused, SsoRefusal)
    assert "not say the e-mail is verified" in refused.reason
    with factory() as s:
        assert s.execute(select(OidcIdentity)).first() is None
    entry = _logins(factory)[-1]
    assert entry.actor_user_id is None  # not established to be the account's owner


def test_an_identity_without_email_is_refused(factory: sessionmaker[Session], org_id: int) -> None:
    refused = _sign_in(factory, _identity(email=None))
    assert isinstance(refused, SsoRefusal)
    assert "e-mail" in refused.reason


def test_a_local_membership_is_left_to_the_local_administrator(
    factory: sessionmaker[Session], org_id: int
) -> None:
    with factory.begin() as s:
        user = User(email="claire.dupont@hospital.example")
        s.add(user)
        s.flush()
        s.add(Membership(user_id=user.id, organisation_id=org_id, role="auditor"))
        user_id = user.id
    outcome = _sign_in(factory, _identity(groups=("panacea-admins",)))
    assert isinstance(outcome, SsoSession)
    assert outcome.role is Role.AUDITOR
    membership = _membership(factory, user_id, org_id)
    assert membership is not None
    assert (membership.role, membership.from_sso) == ("auditor", False)
    # Without a mapped group the login is refused but the local membership stays.
    assert isinstance(_sign_in(factory, _identity(groups=())), SsoRefusal)
    assert _membership(factory, user_id, org_id) is not None


def test_an_sso_membership_elsewhere_is_removed_as_stale(
    factory: sessionmaker[Session], org_id: int
) -> None:
    first = _sign_in(factory, _identity())
    assert isinstance(first, SsoSession)
    with factory.begin() as s:
        other = Organisation(name="Clinique Ailleurs")
        s.add(other)
        s.flush()
        s.add(
            Membership(
                user_id=first.user_id, organisation_id=other.id, role="viewer", from_sso=True
            )
        )
        other_id = other.id
    assert isinstance(_sign_in(factory, _identity()), SsoSession)
    assert _membership(factory, first.user_id, other_id) is None
    assert _logins(factory)[-1].details["memberships_removed"] == [other_id]


def test_a_missing_sso_organisation_is_refused_and_audited_on_the_platform_chain(
    factory: sessionmaker[Session],
) -> None:
    refused = _sign_in(factory, _identity())
    assert isinstance(refused, SsoRefusal)
    assert refused.status == 503
    entry = _logins(factory)[-1]
    assert (entry.organisation_id, entry.outcome) == (None, "failure")


def test_a_new_login_revokes_the_session_the_browser_presented(
    factory: sessionmaker[Session], org_id: int
) -> None:
    first = _sign_in(factory, _identity())
    assert isinstance(first, SsoSession)
    with factory.begin() as s:
        second = sign_in(s, CONFIG, _identity(), previous_token=first.session_token)
    assert isinstance(second, SsoSession)
    with factory() as s:
        old = s.execute(
            select(UserSession).where(UserSession.token_digest == digest(first.session_token))
        ).scalar_one()
        assert old.revoked_at is not None
