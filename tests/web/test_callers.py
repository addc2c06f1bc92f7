"""Who a page's caller is, and re-checking the session on a page's later events."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from panacea.api.context import AppContext
from panacea.db.base import utcnow
from panacea.identity.models import Membership, User, UserSession
from panacea.identity.roles import Permission, Role
from panacea.identity.sessions import create_session
from panacea.web.callers import (
    Standing,
    WebCaller,
    WebSessionEndedError,
    resolve_caller,
    session_is_live,
)
from tests.api.conftest import ApiWorld


def _context(world: ApiWorld) -> AppContext:
    context = world.client.app.state.panacea  # type: ignore[attr-defined]
    assert isinstance(context, AppContext)
    return context


def _session(world: ApiWorld, user_id: int, assurance: str = "mfa") -> str:
    with world.sessions.begin() as s:
        user = s.get(User, user_id)
        assert user is not None
        _, token = create_session(s, user=user, assurance=assurance)
        return token


def _caller(world: ApiWorld, token: str, hint: int | None = None) -> WebCaller | Standing:
    with world.sessions() as db:
        found = resolve_caller(db, _context(world), token, organisation_hint=hint)
        db.commit()
        return found


def test_standings_from_no_cookie_to_signed_in(api_world: ApiWorld) -> None:
    org = api_world.organisation("St Anne")
    assert _caller(api_world, "") is Standing.ANONYMOUS
    assert _caller(api_world, "unknown-token") is Standing.ANONYMOUS
    orphan = api_world.user("orphan@example.org", {})
    assert _caller(api_world, _session(api_world, orphan)) is Standing.NO_ORGANISATION
    auditor = api_world.user("audit@example.org", {org: Role.AUDITOR})
    # Auditors must pass a second factor (default policy).
    assert _caller(api_world, _session(api_world, auditor, "password")) is Standing.SECOND_FACTOR
    caller = _caller(api_world, _session(api_world, auditor))
    assert isinstance(caller, WebCaller)
    assert caller.role is Role.AUDITOR
    assert caller.allows(Permission.AUDIT_READ)
    assert not caller.allows(Permission.RISK_ASSESS)
    assert caller.access.organisation_id == org
    assert caller.access.break_glass_grant_id is None
    assert "session_token" not in repr(caller)


def test_a_later_event_rechecks_session_and_permission(api_world: ApiWorld) -> None:
    org = api_world.organisation("St Mark")
    user = api_world.user("analyst@stmark.example", {org: Role.ANALYST})
    token = _session(api_world, user)
    caller = _caller(api_world, token)
    assert isinstance(caller, WebCaller)
    with caller.transaction(Permission.RISK_ASSESS) as db:
        assert db.get(User, user) is not None
    # Demoted while the page was open: the next state change is refused, nothing written.
    with api_world.sessions.begin() as s:
        member = s.scalars(select(Membership).where(Membership.user_id == user)).one()
        member.role = Role.VIEWER.value
    with pytest.raises(WebSessionEndedError, match="no longer holds risk:assess"):  # noqa: SIM117
        with caller.transaction(Permission.RISK_ASSESS):
            raise AssertionError("must not run")
    with caller.transaction() as db:  # reading still allowed
        assert db.get(User, user) is not None
    # Signed out elsewhere: every event is refused.
    with api_world.sessions.begin() as s:
        for row in s.scalars(select(UserSession).where(UserSession.user_id == user)):
            row.revoked_at = utcnow()
    with pytest.raises(WebSessionEndedError, match="has ended"), caller.transaction():
        raise AssertionError("must not run")


def test_the_periodic_check_does_not_count_as_activity(api_world: ApiWorld) -> None:
    org = api_world.organisation("St Ives")
    user = api_world.user("v@stives.example", {org: Role.VIEWER})
    token = _session(api_world, user)
    earlier = utcnow() - timedelta(minutes=5)
    with api_world.sessions.begin() as s:
        row = s.scalars(select(UserSession).where(UserSession.user_id == user)).one()
        row.last_seen_at = earlier
    assert session_is_live(_context(api_world), token)
    with api_world.sessions() as s:
        row = s.scalars(select(UserSession).where(UserSession.user_id == user)).one()
        assert row.last_seen_at == earlier  # untouched: an open tab does not keep it alive
    idle = timedelta(minutes=api_world.settings.session_idle_minutes + 1)
    with api_world.sessions.begin() as s:
        row = s.scalars(select(UserSession).where(UserSession.user_id == user)).one()
        row.last_seen_at = utcnow() - idle
    assert not session_is_live(_context(api_world), token)
