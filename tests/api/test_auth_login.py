"""POST /auth/login, /auth/logout, GET /auth/me over HTTP: cookies, CSRF, same answers."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from panacea.api.app import create_app
from panacea.config import Settings
from panacea.identity.audit_records import PLATFORM_CHAIN, AuditEntry
from panacea.identity.models import User, UserSession
from panacea.identity.roles import Permission, Role
from panacea.identity.secrets_digest import digest
from panacea.identity.sessions import SESSION_COOKIE
from panacea.identity.tokens import create_token
from tests.api.conftest import ApiWorld

LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"
LOGOUT = "/api/v1/auth/logout"
PASSWORD = "grey heron over the river"
WRONG = "grey heron over the lake"

pytestmark = pytest.mark.usefixtures("cheap_hashing")


def analyst(world: ApiWorld, email: str = "analyst@stmary.example") -> tuple[int, int]:
    org = world.organisation("St Mary's")
    user = world.user(email, {org: Role.ANALYST})
    world.give_password(user, PASSWORD)
    return org, user


def cookie_attributes(response: httpx2.Response) -> dict[str, str]:
    """The attributes of the session cookie set by ``response`` (names lower-cased)."""
    [header] = [
        h for h in response.headers.get_list("set-cookie") if h.startswith(f"{SESSION_COOKIE}=")
    ]
    first, *rest = (part.strip() for part in header.split(";"))
    attributes = {"value": first.partition("=")[2]}
    for part in rest:
        name, _, value = part.partition("=")
        attributes[name.lower()] = value
    return attributes


def audit(world: ApiWorld, action: str, chain: str = PLATFORM_CHAIN) -> list[AuditEntry]:
    """The entries of ``action`` in ``chain`` (the platform's: the record of authentication)."""
    with world.sessions() as s:
        return list(
            s.execute(
                select(AuditEntry)
                .where(AuditEntry.action == action, AuditEntry.chain == chain)
                .order_by(AuditEntry.id)
            )
            .scalars()
            .all()
        )


def test_login_sets_a_safe_cookie_and_answers_what_follows(api_world: ApiWorld) -> None:
    org, user_id = analyst(api_world)
    client = api_world.anonymous_client()
    response = client.post(LOGIN, json={"email": "analyst@stmary.example", "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"] == {
        "id": user_id,
        "email": "analyst@stmary.example",
        "display_name": "analyst",
    }
    assert body["assurance"] == "password"
    assert body["mfa_required"] is False
    assert body["mfa_methods"] == []
    assert body["enrolment_required"] is False
    cookie = cookie_attributes(response)
    assert "httponly" in cookie
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/"
    assert "secure" not in cookie  # public_url is http here
    assert "max-age" not in cookie
    assert "expires" not in cookie
    assert response.headers["cache-control"] == "no-store"
    with api_world.sessions() as s:
        row = s.execute(
            select(UserSession).where(UserSession.token_digest == digest(cookie["value"]))
        ).scalar_one()
        assert row.csrf_token == body["csrf_token"]
        assert row.assurance == "password"
    # The cookie authenticates; reading needs no CSRF header.
    me = client.get(ME)
    assert me.status_code == 200, me.text
    assert me.json()["memberships"] == [
        {"organisation_id": org, "organisation_name": "St Mary's", "role": "analyst"}
    ]
    assert me.json()["csrf_token"] == body["csrf_token"]
    assert me.json()["assurance"] == "password"
    assert me.json()["via"] == "session"


def test_cookie_is_secure_when_served_over_https(api_world: ApiWorld, tmp_path: Path) -> None:
    analyst(api_world)
    settings = Settings(
        database_url=api_world.settings.database_url,
        demo_mode=True,
        data_dir=tmp_path,
        public_url="https://panacea.stmary.example",
    )
    app = create_app(settings, sessions=api_world.sessions)
    with TestClient(app, base_url="https://panacea.stmary.example") as client:
        response = client.post(
            LOGIN,
            json={"email": "analyst@stmary.example", "password": PASSWORD},
            headers={"Origin": "https://panacea.stmary.example"},
        )
        assert response.status_code == 200, response.text
        cookie = cookie_attributes(response)
        assert "secure" in cookie
        assert "httponly" in cookie
        assert cookie["samesite"].lower() == "lax"


def test_unknown_account_answers_exactly_like_a_wrong_password(api_world: ApiWorld) -> None:
    analyst(api_world)
    api_world.user("nopassword@stmary.example", {})
    client = api_world.anonymous_client()
    answers = []
    for email, password in [
        ("analyst@stmary.example", WRONG),
        ("nobody@stmary.example", WRONG),
        ("nopassword@stmary.example", PASSWORD),
    ]:
        response = client.post(LOGIN, json={"email": email, "password": password})
        headers = {k: v for k, v in response.headers.items() if k not in {"date", "x-request-id"}}
        answers.append((response.status_code, headers, response.content))
    assert answers[0][0] == 401
    assert json.loads(answers[0][2]) == {
        "type": "urn:panacea:problem:authentication-failed",
        "title": "Unauthorized",
        "status": 401,
        "detail": "invalid credentials",
        "instance": LOGIN,
    }
    assert answers[1] == answers[0]
    assert answers[2] == answers[0]
    assert "set-cookie" not in answers[0][1]


def test_failed_login_is_audited_although_the_request_failed(api_world: ApiWorld) -> None:
    _, user_id = analyst(api_world)
    client = api_world.anonymous_client()
    client.headers["User-Agent"] = "pytest-browser"
    assert (
        client.post(LOGIN, json={"email": "analyst@stmary.example", "password": WRONG}).status_code
        == 401
    )
    assert (
        client.post(LOGIN, json={"email": "ghost@stmary.example", "password": WRONG}).status_code
        == 401
    )
    known, unknown = audit(api_world, "auth.login")
    assert (known.outcome, known.actor_user_id, known.chain) == ("failure", user_id, "platform")
    assert known.details == {"reason": "wrong password", "consecutive_failures": 1}
    assert (unknown.outcome, unknown.actor_user_id) == ("failure", None)
    assert unknown.actor == "ghost@stmary.example"
    assert unknown.details == {"reason": "unknown account", "consecutive_failures": 1}
    assert known.client_address == "testclient"
    for entry in (known, unknown):
        assert WRONG not in json.dumps(entry.details)


def test_login_csrf_form_posts_and_foreign_origins_are_refused(api_world: ApiWorld) -> None:
    analyst(api_world)
    client = api_world.anonymous_client()
    form = client.post(LOGIN, data={"email": "analyst@stmary.example", "password": PASSWORD})
    assert form.status_code == 415
    assert form.json()["type"] == "urn:panacea:problem:unsupported-media-type"
    plain = client.post(
        LOGIN,
        content=json.dumps({"email": "analyst@stmary.example", "password": PASSWORD}),
        headers={"Content-Type": "text/plain"},
    )
    assert plain.status_code == 415
    foreign = client.post(
        LOGIN,
        json={"email": "analyst@stmary.example", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    assert foreign.json()["type"] == "urn:panacea:problem:origin-refused"
    assert "set-cookie" not in foreign.headers
    # None of these reached the password check: nothing was counted or audited.
    assert audit(api_world, "auth.login") == []
    own = client.post(
        LOGIN,
        json={"email": "analyst@stmary.example", "password": PASSWORD},
        headers={"Origin": "http://localhost:8000", "Content-Type": "application/json"},
    )
    assert own.status_code == 200, own.text


def test_logout_needs_the_csrf_token_then_ends_the_session(api_world: ApiWorld) -> None:
    analyst(api_world)
    client = api_world.anonymous_client()
    login = client.post(LOGIN, json={"email": "analyst@stmary.example", "password": PASSWORD})
    token = cookie_attributes(login)["value"]
    refused = client.post(LOGOUT)
    assert refused.status_code == 403
    assert refused.json()["type"] == "urn:panacea:problem:csrf"
    wrong = client.post(LOGOUT, headers={"X-CSRF-Token": "not-the-token"})
    assert wrong.status_code == 403
    assert client.get(ME).status_code == 200  # still signed in
    out = client.post(LOGOUT, headers={"X-CSRF-Token": login.json()["csrf_token"]})
    assert out.status_code == 204
    cleared = cookie_attributes(out)
    assert cleared["value"] in ("", '""')
    assert cleared["max-age"] == "0"
    assert "httponly" in cleared
    # The old cookie is dead even if a browser (or a thief) kept it.
    replay = api_world.anonymous_client()
    replay.cookies.set(SESSION_COOKIE, token)
    assert replay.get(ME).status_code == 401
    [entry] = audit(api_world, "auth.logout")
    assert entry.outcome == "success"


def test_the_organisation_audit_log_shows_its_members_signing_in_and_out(
    api_world: ApiWorld,
) -> None:
    org, user_id = analyst(api_world)
    auditor = api_world.session_client(
        api_world.user("auditor@stmary.example", {org: Role.AUDITOR})
    )
    client = api_world.anonymous_client()
    wrong = client.post(LOGIN, json={"email": "analyst@stmary.example", "password": "wrong"})
    assert wrong.status_code == 401
    login = client.post(LOGIN, json={"email": "analyst@stmary.example", "password": PASSWORD})
    assert login.status_code == 200, login.text
    out = client.post(LOGOUT, headers={"X-CSRF-Token": login.json()["csrf_token"]})
    assert out.status_code == 204
    log = auditor.get(f"/api/v1/orgs/{org}/audit", params={"action": "auth.*"})
    assert log.status_code == 200, log.text
    seen = [(i["action"], i["outcome"], i["actor"]) for i in log.json()["items"]]
    assert sorted(seen) == [
        ("auth.login", "success", "analyst@stmary.example"),
        ("auth.logout", "success", "analyst@stmary.example"),
    ]
    assert all(i["target"] == f"user:{user_id}" for i in log.json()["items"])
    verified = auditor.get(f"/api/v1/orgs/{org}/audit/verify").json()
    assert verified["ok"] is True, verified


def test_login_always_issues_a_new_session(api_world: ApiWorld) -> None:
    analyst(api_world)
    client = api_world.anonymous_client()
    first = client.post(LOGIN, json={"email": "analyst@stmary.example", "password": PASSWORD})
    first_token = cookie_attributes(first)["value"]
    # Signing in again from the same browser: a new session, the presented one revoked.
    second = client.post(LOGIN, json={"email": "analyst@stmary.example", "password": PASSWORD})
    second_token = cookie_attributes(second)["value"]
    assert second_token != first_token
    assert second.json()["csrf_token"] != first.json()["csrf_token"]
    stale = api_world.anonymous_client()
    stale.cookies.set(SESSION_COOKIE, first_token)
    assert stale.get(ME).status_code == 401
    # A planted cookie (fixation) is never upgraded: the victim's login replaces it.
    planted = api_world.anonymous_client()
    planted.cookies.set(SESSION_COOKIE, second_token)
    third = planted.post(LOGIN, json={"email": "analyst@stmary.example", "password": PASSWORD})
    assert cookie_attributes(third)["value"] not in (first_token, second_token)
    assert client.get(ME).status_code == 401  # the planted (second) session is revoked


def test_me_with_an_api_token_has_no_csrf_token(api_world: ApiWorld) -> None:
    org, user_id = analyst(api_world)
    with api_world.sessions.begin() as s:
        user = s.get(User, user_id)
        assert user is not None
        _, secret = create_token(
            s,
            user=user,
            organisation_id=org,
            name="ci",
            scopes=[Permission.ORGANISATION_READ],
            lifetime=timedelta(days=1),
            max_lifetime=timedelta(days=2),
        )
    me = api_world.anonymous_client().get(ME, headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200, me.text
    assert me.json()["via"] == "token"
    assert me.json()["assurance"] == "token"
    assert me.json()["csrf_token"] is None
    # Logout is for browser sessions.
    out = api_world.anonymous_client().post(LOGOUT, headers={"Authorization": f"Bearer {secret}"})
    assert out.status_code == 403


def test_unauthenticated_me_and_logout(api_world: ApiWorld) -> None:
    client = api_world.anonymous_client()
    assert client.get(ME).status_code == 401
    assert client.post(LOGOUT).status_code == 401
