"""User administration services: accounts, memberships, roles, resets, audit, the last admin."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from panacea.db.base import utcnow
from panacea.db.engine import create_db_engine
from panacea.identity import accounts, users
from panacea.identity.actors import Actor
from panacea.identity.audit_records import AuditEntry
from panacea.identity.errors import (
    ConflictError,
    IdentityError,
    NotFoundError,
    PasswordPolicyError,
    PermissionDeniedError,
)
from panacea.identity.models import (
    Membership,
    PasskeyCredential,
    RecoveryCode,
    TotpCredential,
    User,
    UserSession,
)
from panacea.identity.passwords import cheap_hashing_for_tests_only, verify_password
from panacea.identity.roles import Permission, Role
from panacea.identity.sessions import create_session
from panacea.identity.tokens import create_token
from panacea.identity.user_views import list_accounts, list_users, member_view
from panacea.inventory.organisation import Organisation

OPERATOR = Actor(user_id=None, name="root@server", via="cli")


@pytest.fixture(autouse=True)
def cheap_hashing() -> Iterator[None]:
    with cheap_hashing_for_tests_only():
        yield


@pytest.fixture
def db(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as session:
        yield session
        session.rollback()


def _org(db: Session, name: str) -> int:
    org = Organisation(name=name)
    db.add(org)
    db.flush()
    return org.id


def _member(db: Session, org_id: int, email: str, role: Role) -> User:
    user, _ = users.create_user(db, email=email, actor=OPERATOR, organisation_id=org_id)
    users.add_membership(db, org_id, user, role=role, actor=OPERATOR)
    return user


def _actor(user: User) -> Actor:
    return Actor(user_id=user.id, name=user.email, via="session")


def _actions(db: Session, org_id: int | None) -> list[tuple[str, dict[str, object]]]:
    rows = db.execute(
        select(AuditEntry.action, AuditEntry.details)
        .where(
            AuditEntry.organisation_id == org_id
            if org_id is not None
            else AuditEntry.organisation_id.is_(None)
        )
        .order_by(AuditEntry.id)
    )
    return [(a, d) for a, d in rows]


def test_new_member_gets_a_one_time_password_to_replace(db: Session) -> None:
    org = _org(db, "Hospital A")
    added = users.add_member(
        db, org, email="  Nurse.Lead@Hospital-A.example ", role=Role.ANALYST, actor=OPERATOR
    )
    assert added.created
    assert added.initial_password is not None
    assert len(added.initial_password) >= 24
    user = db.get(User, added.member.user_id)
    assert user is not None
    assert user.email == "nurse.lead@hospital-a.example"
    assert user.password_hash is not None
    assert verify_password(user.password_hash, added.initial_password)
    assert added.member.password_change_required
    assert added.member.role == "analyst"
    actions = _actions(db, org)
    assert [a for a, _ in actions] == ["user.created", "membership.added"]
    assert actions[0][1]["password"] == "generated"
    assert added.initial_password not in repr(actions)


def test_existing_account_is_added_without_a_password(db: Session) -> None:
    a, b = _org(db, "Hospital A"), _org(db, "Hospital B")
    _member(db, a, "shared@region.example", Role.VIEWER)
    added = users.add_member(
        db, b, email="SHARED@region.example", role=Role.AUDITOR, actor=OPERATOR
    )
    assert not added.created
    assert added.initial_password is None
    assert added.member.role == "auditor"
    with pytest.raises(ConflictError, match="already a member"):
        users.add_member(db, b, email="shared@region.example", role=Role.VIEWER, actor=OPERATOR)
    with pytest.raises(ConflictError, match="already exists"):
        users.create_user(db, email="Shared@Region.example", actor=OPERATOR)


def test_chosen_password_must_pass_the_policy_and_needs_no_change(db: Session) -> None:
    with pytest.raises(PasswordPolicyError, match="too short"):
        users.create_user(db, email="short@h.example", actor=OPERATOR, password="tiny")
    user, generated = users.create_user(
        db, email="own@h.example", actor=OPERATOR, password="correct horse battery staple"
    )
    assert generated is None
    assert user.password_changed_at is not None
    assert _actions(db, None)[-1][1]["password"] == "chosen"


@pytest.mark.parametrize(
    "email",
    [
        "",
        "no-at-sign",
        "two@@h.example",
        "@h.example",
        "a@localhost",
        "a b@h.example",
        "a@h.ex\nample",
        "a<b>@h.example",
    ],
)
def test_malformed_emails_are_refused(email: str) -> None:
    with pytest.raises(IdentityError, match="not an e-mail address"):
        users.normalise_email(email)


def test_role_change_is_audited_with_old_and_new(db: Session) -> None:
    org = _org(db, "Hospital A")
    admin = _member(db, org, "admin@a.example", Role.ADMIN)
    analyst = _member(db, org, "analyst@a.example", Role.ANALYST)
    view = users.set_role(db, org, analyst.id, Role.SECURITY_LEAD, actor=_actor(admin))
    assert view.role == "security_lead"
    assert view.mfa_required  # the default policy asks the security lead for MFA
    action, details = _actions(db, org)[-1]
    assert action == "role.changed"
    assert details == {"old": "analyst", "new": "security_lead"}
    # The same role again changes nothing and records nothing.
    before = len(_actions(db, org))
    users.set_role(db, org, analyst.id, Role.SECURITY_LEAD, actor=_actor(admin))
    assert len(_actions(db, org)) == before


def test_last_admin_cannot_be_demoted_removed_or_replaced_by_a_disabled_one(db: Session) -> None:
    org = _org(db, "Hospital A")
    admin = _member(db, org, "admin@a.example", Role.ADMIN)
    with pytest.raises(ConflictError, match="last administrator"):
        users.set_role(db, org, admin.id, Role.VIEWER, actor=_actor(admin))
    with pytest.raises(ConflictError, match="last administrator"):
        users.remove_member(db, org, admin.id, actor=_actor(admin))
    second = _member(db, org, "second@a.example", Role.ADMIN)
    second.disabled = True  # a disabled admin administers nothing
    with pytest.raises(ConflictError, match="last administrator"):
        users.set_role(db, org, admin.id, Role.VIEWER, actor=_actor(admin))
    second.disabled = False
    assert users.set_role(db, org, admin.id, Role.VIEWER, actor=_actor(second)).role == "viewer"
    with pytest.raises(ConflictError, match="last administrator"):
        users.remove_member(db, org, second.id, actor=_actor(second))


def test_removal_ends_the_membership_and_its_tokens_only_there(db: Session) -> None:
    a, b = _org(db, "Hospital A"), _org(db, "Hospital B")
    admin = _member(db, a, "admin@a.example", Role.ADMIN)
    user = _member(db, a, "both@region.example", Role.ANALYST)
    users.add_membership(db, b, user, role=Role.ANALYST, actor=OPERATOR)
    day = timedelta(days=1)
    token_a, _ = create_token(
        db,
        user=user,
        organisation_id=a,
        name="ci",
        scopes=[Permission.FINDINGS_READ],
        lifetime=day,
        max_lifetime=day,
    )
    token_b, _ = create_token(
        db,
        user=user,
        organisation_id=b,
        name="ci",
        scopes=[Permission.FINDINGS_READ],
        lifetime=day,
        max_lifetime=day,
    )
    users.remove_member(db, a, user.id, actor=_actor(admin))
    db.flush()
    db.refresh(token_a)
    db.refresh(token_b)
    assert token_a.revoked_at is not None
    assert token_b.revoked_at is None
    with pytest.raises(NotFoundError):
        member_view(db, a, user.id)
    assert member_view(db, b, user.id).role == "analyst"
    action, details = _actions(db, a)[-1]
    assert (action, details["tokens_revoked"]) == ("membership.removed", 1)
    with pytest.raises(NotFoundError):
        users.remove_member(db, a, user.id, actor=_actor(admin))


def test_roles_from_single_sign_on_are_not_changed_by_hand(db: Session) -> None:
    org = _org(db, "Hospital A")
    admin = _member(db, org, "admin@a.example", Role.ADMIN)
    sso = _member(db, org, "sso@a.example", Role.ANALYST)
    membership = db.execute(select(Membership).where(Membership.user_id == sso.id)).scalar_one()
    membership.from_sso = True
    with pytest.raises(ConflictError, match="group mapping"):
        users.set_role(db, org, sso.id, Role.ADMIN, actor=_actor(admin))


def test_break_glass_eligibility_is_set_by_someone_else(db: Session) -> None:
    org = _org(db, "Hospital A")
    admin = _member(db, org, "admin@a.example", Role.ADMIN)
    nurse = _member(db, org, "nurse@a.example", Role.ANALYST)
    with pytest.raises(PermissionDeniedError, match="your own"):
        users.set_break_glass_eligible(db, org, admin.id, True, actor=_actor(admin))
    view = users.set_break_glass_eligible(db, org, nurse.id, True, actor=_actor(admin))
    assert view.break_glass_eligible
    assert _actions(db, org)[-1] == ("break_glass.eligibility_changed", {"eligible": True})


def _enrol_factors(db: Session, user: User) -> None:
    db.add_all(
        [
            TotpCredential(user_id=user.id, secret_encrypted=b"sealed", confirmed_at=utcnow()),
            RecoveryCode(user_id=user.id, code_hash="h1"),
            RecoveryCode(user_id=user.id, code_hash="h2"),
            PasskeyCredential(user_id=user.id, credential_id=b"cred-1", public_key=b"k"),
        ]
    )
    create_session(db, user=user, assurance="mfa")
    db.flush()


def test_mfa_reset_removes_every_factor_and_session_and_is_audited_everywhere(
    db: Session,
) -> None:
    a, b = _org(db, "Hospital A"), _org(db, "Hospital B")
    admin = _member(db, a, "admin@a.example", Role.ADMIN)
    lead = _member(db, a, "lead@a.example", Role.SECURITY_LEAD)
    _enrol_factors(db, lead)
    assert member_view(db, a, lead.id).mfa_methods == ("totp", "passkey")
    removed = accounts.reset_member_mfa(db, a, lead.id, actor=_actor(admin))
    assert removed == {"totp": 1, "recovery_codes": 2, "passkeys": 1, "sessions_revoked": 1}
    assert member_view(db, a, lead.id).mfa_methods == ()
    live = db.execute(
        select(UserSession).where(UserSession.user_id == lead.id, UserSession.revoked_at.is_(None))
    ).all()
    assert live == []
    assert _actions(db, a)[-1][0] == "user.mfa_reset"
    assert _actions(db, b) == []


def test_account_wide_changes_need_authority_in_every_organisation_of_the_user(
    db: Session,
) -> None:
    a, b = _org(db, "Hospital A"), _org(db, "Hospital B")
    admin_a = _member(db, a, "admin@a.example", Role.ADMIN)
    shared = _member(db, a, "shared@region.example", Role.ANALYST)
    users.add_membership(db, b, shared, role=Role.ANALYST, actor=OPERATOR)
    _enrol_factors(db, shared)
    with pytest.raises(PermissionDeniedError, match="do not administer"):
        accounts.reset_member_mfa(db, a, shared.id, actor=_actor(admin_a))
    # A token bound to A never has authority in B, even if its owner administers B.
    users.add_membership(db, b, admin_a, role=Role.ADMIN, actor=OPERATOR)
    token_actor = Actor(user_id=admin_a.id, name="t", via="token", token_organisation_id=a)
    with pytest.raises(PermissionDeniedError):
        accounts.reset_member_mfa(db, a, shared.id, actor=token_actor)
    accounts.reset_member_mfa(db, a, shared.id, actor=_actor(admin_a))
    assert _actions(db, a)[-1][0] == "user.mfa_reset"
    assert _actions(db, b)[-1][0] == "user.mfa_reset"


def test_another_organisations_user_is_not_found(db: Session) -> None:
    a, b = _org(db, "Hospital A"), _org(db, "Hospital B")
    admin = _member(db, a, "admin@a.example", Role.ADMIN)
    outsider = _member(db, b, "outsider@b.example", Role.ANALYST)
    for change in (
        lambda: users.set_role(db, a, outsider.id, Role.VIEWER, actor=_actor(admin)),
        lambda: users.set_break_glass_eligible(db, a, outsider.id, True, actor=_actor(admin)),
        lambda: users.remove_member(db, a, outsider.id, actor=_actor(admin)),
        lambda: accounts.reset_member_mfa(db, a, outsider.id, actor=_actor(admin)),
    ):
        with pytest.raises(NotFoundError, match=f"no user {outsider.id} in organisation {a}"):
            change()
    assert [m.email for m in list_users(db, a)] == ["admin@a.example"]


def test_password_reset_issues_a_new_password_and_ends_sessions(db: Session) -> None:
    org = _org(db, "Hospital A")
    user, _ = users.create_user(
        db, email="forgot@a.example", actor=OPERATOR, password="correct horse battery staple"
    )
    users.add_membership(db, org, user, role=Role.VIEWER, actor=OPERATOR)
    create_session(db, user=user, assurance="password")
    password = accounts.reset_password(db, user, actor=OPERATOR)
    assert user.password_hash is not None
    assert verify_password(user.password_hash, password)
    assert not verify_password(user.password_hash, "correct horse battery staple")
    assert member_view(db, org, user.id).password_change_required
    action, details = _actions(db, org)[-1]
    assert (action, details["sessions_revoked"]) == ("user.password_reset", 1)


def test_demo_admin_is_created_once(db: Session) -> None:
    org = _org(db, "Demo General Hospital")
    email, password = users.ensure_demo_admin(db, org)
    assert email == users.DEMO_ADMIN_EMAIL
    assert password is not None
    view = member_view(db, org, users.user_by_email(db, email).id)
    assert view.role == "admin"
    assert view.password_change_required
    assert users.ensure_demo_admin(db, org) == (email, None)
    other = _org(db, "Second Demo")
    assert users.ensure_demo_admin(db, other) == (email, None)
    assert member_view(db, other, view.user_id).role == "admin"


def test_lists_are_scoped_and_paged(db: Session) -> None:
    a, b = _org(db, "Hospital A"), _org(db, "Hospital B")
    created = [_member(db, a, f"u{i}@a.example", Role.VIEWER) for i in range(5)]
    _member(db, b, "other@b.example", Role.VIEWER)
    first = list_users(db, a, limit=2)
    rest = list_users(db, a, after=first[-1].user_id)
    assert [m.user_id for m in first + rest] == [u.id for u in created]
    everyone = list_accounts(db)
    assert [x.email for x in everyone][-1] == "u4@a.example"
    assert ("Hospital B", "viewer") in next(
        x.memberships for x in everyone if x.email == "other@b.example"
    )


def test_two_admins_demoting_each_other_at_once_leave_one(postgres_url: str) -> None:
    """The last-admin check locks the admin memberships: the second demotion waits, re-reads."""
    engine = create_db_engine(postgres_url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    try:
        with sessions.begin() as s:
            org = _org(s, "Hospital A")
            first = _member(s, org, "first@a.example", Role.ADMIN).id
            second = _member(s, org, "second@a.example", Role.ADMIN).id
        outcome: list[BaseException | None] = []

        def demote_second() -> None:
            with sessions() as s:
                try:
                    users.set_role(s, org, second, Role.VIEWER, actor=OPERATOR)
                    s.commit()
                    outcome.append(None)
                except ConflictError as e:
                    outcome.append(e)

        with sessions() as s:
            users.set_role(s, org, first, Role.VIEWER, actor=OPERATOR)  # holds the row locks
            racer = threading.Thread(target=demote_second)
            racer.start()
            racer.join(timeout=1.0)
            assert racer.is_alive(), "the second demotion did not wait for the first"
            s.commit()
        racer.join(timeout=30.0)
        assert not racer.is_alive()
        assert len(outcome) == 1
        assert isinstance(outcome[0], ConflictError)
        with sessions() as s:
            assert member_view(s, org, second).role == "admin"
    finally:
        engine.dispose()
