"""API tokens: scoped, bound to one organisation, shown once, revocable, expiring."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from panacea.db.base import utcnow
from panacea.identity.audit_records import AuditEntry
from panacea.identity.models import ApiToken
from panacea.identity.roles import Role
from panacea.identity.secrets_digest import digest
from tests.api.conftest import ApiWorld

API = "/api/v1"


def _bearer(world: ApiWorld, secret: str) -> TestClient:
    client = TestClient(world.client.app, base_url="http://localhost:8000")
    client.headers["Authorization"] = f"Bearer {secret}"
    return client


def _create(
    client: TestClient, org_id: int, scopes: list[str], **extra: object
) -> dict[str, object]:
    response = client.post(
        f"{API}/orgs/{org_id}/tokens", json={"name": "ci export", "scopes": scopes, **extra}
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def test_a_token_works_in_scope_only_in_its_organisation_until_revoked(api_world: ApiWorld) -> None:
    a, b = api_world.organisation("Hospital A"), api_world.organisation("Hospital B")
    admin = api_world.user("admin@a.example", {a: Role.ADMIN, b: Role.ADMIN})
    client = api_world.session_client(admin)
    created = _create(client, a, ["organisation:read", "users:read"])
    secret = str(created["secret"])
    token = created["token"]
    assert isinstance(token, dict)
    assert secret.startswith("pnc_")
    assert token["status"] == "active"
    assert token["scopes"] == ["organisation:read", "users:read"]
    # Stored as a digest only; the expiry defaults to 90 days.
    with api_world.sessions() as s:
        row = s.get(ApiToken, token["id"])
        assert row is not None
        assert row.token_digest == digest(secret)
        assert secret not in (row.prefix, row.token_digest)
        assert abs(row.expires_at - (utcnow() + timedelta(days=90))) < timedelta(minutes=1)
    bearer = _bearer(api_world, secret)
    assert bearer.get(f"{API}/orgs/{a}").status_code == 200
    assert bearer.get(f"{API}/orgs/{a}/users").status_code == 200
    outside = bearer.get(f"{API}/orgs/{a}/tokens")
    assert outside.status_code == 403
    assert outside.json()["type"].endswith("permission-denied")
    # Its owner administers B too, but the token is bound to A.
    assert bearer.get(f"{API}/orgs/{b}").status_code == 404
    assert bearer.get(f"{API}/orgs/{b}/users").status_code == 404
    assert client.delete(f"{API}/orgs/{a}/tokens/{token['id']}").status_code == 204
    assert bearer.get(f"{API}/orgs/{a}").status_code == 401
    listed = client.get(f"{API}/orgs/{a}/tokens").json()["items"]
    assert [t["status"] for t in listed] == ["revoked"]
    with api_world.sessions() as s:
        actions = s.execute(
            select(AuditEntry.action).where(AuditEntry.organisation_id == a)
        ).scalars()
        assert {"token.created", "token.used", "token.revoked"} <= set(actions)


def test_an_expired_token_is_refused(api_world: ApiWorld) -> None:
    a = api_world.organisation("Hospital A")
    analyst = api_world.user("analyst@a.example", {a: Role.ANALYST})
    created = _create(api_world.session_client(analyst), a, ["findings:read"], expires_in_days=1)
    bearer = _bearer(api_world, str(created["secret"]))
    assert bearer.get(f"{API}/orgs/{a}").status_code == 403  # valid token, scope lacks it
    token = created["token"]
    assert isinstance(token, dict)
    with api_world.sessions.begin() as s:
        row = s.get(ApiToken, token["id"])
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
    assert bearer.get(f"{API}/orgs/{a}").status_code == 401


def test_scopes_never_exceed_the_creators_role_or_token(api_world: ApiWorld) -> None:
    a = api_world.organisation("Hospital A")
    analyst = api_world.user("analyst@a.example", {a: Role.ANALYST})
    client = api_world.session_client(analyst)
    refused = client.post(
        f"{API}/orgs/{a}/tokens", json={"name": "x", "scopes": ["findings:read", "users:manage"]}
    )
    assert refused.status_code == 403
    assert "users:manage" in refused.json()["detail"]
    # A token that may manage tokens can only hand out what it holds itself.
    parent = _create(client, a, ["tokens:manage", "organisation:read"])
    bearer = _bearer(api_world, str(parent["secret"]))
    wider = bearer.post(f"{API}/orgs/{a}/tokens", json={"name": "y", "scopes": ["findings:read"]})
    assert wider.status_code == 403
    narrower = bearer.post(
        f"{API}/orgs/{a}/tokens", json={"name": "y", "scopes": ["organisation:read"]}
    )
    assert narrower.status_code == 201
    too_long = client.post(
        f"{API}/orgs/{a}/tokens",
        json={"name": "z", "scopes": ["findings:read"], "expires_in_days": 366},
    )
    assert too_long.status_code == 422
    assert "lifetime" in too_long.json()["detail"]
    blank = client.post(f"{API}/orgs/{a}/tokens", json={"name": "  ", "scopes": ["findings:read"]})
    assert blank.status_code == 422


def test_members_see_their_own_tokens_and_admins_all(api_world: ApiWorld) -> None:
    a, b = api_world.organisation("Hospital A"), api_world.organisation("Hospital B")
    admin = api_world.user("admin@a.example", {a: Role.ADMIN})
    analyst = api_world.user("analyst@a.example", {a: Role.ANALYST})
    other = api_world.user("other@a.example", {a: Role.IT_OPERATOR})
    outsider = api_world.user("outsider@b.example", {b: Role.ADMIN})
    admin_client = api_world.session_client(admin)
    analyst_client = api_world.session_client(analyst)
    mine = _create(analyst_client, a, ["findings:read"])["token"]
    theirs = _create(api_world.session_client(other), a, ["inventory:read"])["token"]
    foreign = _create(api_world.session_client(outsider), b, ["inventory:read"])["token"]
    assert isinstance(mine, dict)
    assert isinstance(theirs, dict)
    assert isinstance(foreign, dict)
    own = analyst_client.get(f"{API}/orgs/{a}/tokens").json()["items"]
    assert [t["id"] for t in own] == [mine["id"]]
    every = admin_client.get(f"{API}/orgs/{a}/tokens?limit=1")
    first = every.json()
    rest = admin_client.get(f"{API}/orgs/{a}/tokens?cursor={first['next']}").json()
    assert [t["id"] for t in first["items"] + rest["items"]] == [mine["id"], theirs["id"]]
    assert rest["next"] is None
    # Another member's token and another organisation's answer 404.
    assert analyst_client.delete(f"{API}/orgs/{a}/tokens/{theirs['id']}").status_code == 404
    assert admin_client.delete(f"{API}/orgs/{a}/tokens/{foreign['id']}").status_code == 404
    assert admin_client.delete(f"{API}/orgs/{a}/tokens/{theirs['id']}").status_code == 204
    assert analyst_client.delete(f"{API}/orgs/{a}/tokens/{mine['id']}").status_code == 204
    assert analyst_client.delete(f"{API}/orgs/{a}/tokens/999999").status_code == 404
    # Roles without tokens:manage (auditor, viewer) cannot list tokens.
    auditor = api_world.user("auditor@a.example", {a: Role.AUDITOR})
    assert api_world.session_client(auditor).get(f"{API}/orgs/{a}/tokens").status_code == 403
