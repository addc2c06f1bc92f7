"""disable_user: the flag, every session and token revoked, the audit, and its guards."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from panacea.identity.actors import Actor
from panacea.identity.audit_records import AuditEntry
from panacea.identity.errors import ConflictError, NotFoundError, PermissionDeniedError
from panacea.identity.leavers import disable_user
from panacea.identity.models import ApiToken, Membership, User, UserSession
from panacea.identity.roles import Permission, Role
from panacea.identity.sessions import create_session
from panacea.identity.tokens import create_token
from panacea.inventory.organisation import Organisation

OPERATOR = Actor(user_id=None, name="ops@server", via="cli")


def _org(s: Session, name: str) -> int:
    org = Organisation(name=name)
    s.add(org)
    s.flush()
    return org.id


def _user(s: Session, email: str, roles: dict[int, Role]) -> User:
    user = User(email=email)
    s.add(user)
    s.flush()
    for org_id, role in roles.items():
        s.add(Membership(user_id=user.id, organisation_id=org_id, role=role.value))
    s.flush()
    return user


def _credentials(s: Session, user: User, org_id: int) -> None:
    for _ in range(2):
        create_session(s, user=user, assurance="password")
    create_token(
        s,
        user=user,
        organisation_id=org_id,
        name="scanner",
        scopes=[Permission.INVENTORY_READ],
        lifetime=timedelta(days=1),
        max_lifetime=timedelta(days=365),
    )


def test_disabling_revokes_every_session_and_token_and_is_audited_everywhere(
    factory: sessionmaker[Session],
) -> None:
    with factory.begin() as s:
        a, b = _org(s, "Hôpital A"), _org(s, "Hôpital B")
        _user(s, "admin-a@h.example", {a: Role.ADMIN})
        _user(s, "admin-b@h.example", {b: Role.ADMIN})
        leaver = _user(s, "leaver@h.example", {a: Role.ANALYST, b: Role.VIEWER})
        _credentials(s, leaver, a)
        leaver_id = leaver.id
    with factory.begin() as s:
        done = disable_user(s, leaver_id, actor=OPERATOR, reason="left the hospital")
    assert (done.sessions_revoked, done.tokens_revoked, done.already_disabled) == (2, 1, False)
    with factory() as s:
        user = s.get(User, leaver_id)
        assert user is not None
        assert user.disabled
        live_sessions = s.execute(
            select(UserSession).where(
                UserSession.user_id == leaver_id, UserSession.revoked_at.is_(None)
            )
        ).all()
        live_tokens = s.execute(
            select(ApiToken).where(ApiToken.user_id == leaver_id, ApiToken.revoked_at.is_(None))
        ).all()
        assert live_sessions == []
        assert live_tokens == []
        entries = s.execute(
            select(AuditEntry).where(AuditEntry.action == "user.disabled").order_by(AuditEntry.id)
        ).scalars()
        audited = [(e.organisation_id, e.target, e.actor, e.details["reason"]) for e in entries]
    target = f"user:{leaver_id}"
    assert audited == [
        (a, target, "ops@server", "left the hospital"),
        (b, target, "ops@server", "left the hospital"),
    ]


def test_disabling_twice_says_so_and_revokes_what_appeared_since(
    factory: sessionmaker[Session],
) -> None:
    with factory.begin() as s:
        org = _org(s, "Hôpital A")
        user = _user(s, "leaver@h.example", {org: Role.ANALYST})
        user_id = user.id
    with factory.begin() as s:
        disable_user(s, user_id, actor=OPERATOR)
    with factory.begin() as s:
        again_user = s.get(User, user_id)
        assert again_user is not None
        create_session(s, user=again_user, assurance="password")
    with factory.begin() as s:
        again = disable_user(s, user_id, actor=OPERATOR)
    assert (again.already_disabled, again.sessions_revoked) == (True, 1)


def test_the_last_administrator_cannot_be_disabled(factory: sessionmaker[Session]) -> None:
    with factory.begin() as s:
        org = _org(s, "Hôpital A")
        admin_id = _user(s, "only-admin@h.example", {org: Role.ADMIN}).id
    with factory.begin() as s, pytest.raises(ConflictError, match="last administrator"):
        disable_user(s, admin_id, actor=OPERATOR)
    with factory() as s:
        user = s.get(User, admin_id)
        assert user is not None
        assert not user.disabled


def test_an_api_caller_needs_authority_and_cannot_disable_themselves(
    factory: sessionmaker[Session],
) -> None:
    with factory.begin() as s:
        a, b = _org(s, "Hôpital A"), _org(s, "Hôpital B")
        admin = _user(s, "admin-a@h.example", {a: Role.ADMIN})
        _user(s, "admin-a2@h.example", {a: Role.ADMIN})
        _user(s, "admin-b@h.example", {b: Role.ADMIN})
        both = _user(s, "both@h.example", {a: Role.ANALYST, b: Role.ANALYST})
        only_a = _user(s, "only-a@h.example", {a: Role.ANALYST})
        outsider = _user(s, "outsider@h.example", {b: Role.ANALYST})
        admin_id, both_id, only_a_id = admin.id, both.id, only_a.id
        outsider_id = outsider.id
    actor = Actor(user_id=admin_id, name="admin-a@h.example", via="session")
    with factory.begin() as s, pytest.raises(PermissionDeniedError, match="do not administer"):
        disable_user(s, both_id, actor=actor, organisation_id=a)
    with factory.begin() as s, pytest.raises(NotFoundError):
        disable_user(s, outsider_id, actor=actor, organisation_id=a)
    with factory.begin() as s, pytest.raises(PermissionDeniedError, match="organisation"):
        disable_user(s, only_a_id, actor=actor)
    with factory.begin() as s, pytest.raises(PermissionDeniedError, match="your own"):
        disable_user(s, admin_id, actor=actor, organisation_id=a)
    with factory.begin() as s:
        assert not disable_user(s, only_a_id, actor=actor, organisation_id=a).already_disabled
