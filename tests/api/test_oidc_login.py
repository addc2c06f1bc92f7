"""Acceptance: OpenID Connect login against a small provider started in the test.

The provider (tests/identity/oidc_provider.py) serves discovery, JWKS, authorization and
token endpoints over HTTP on 127.0.0.1; PANACEA runs in a TestClient and reaches the provider
with its real HTTP client. The test plays the browser: PANACEA's /login, the provider's
/authorize, PANACEA's /callback.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from panacea.api.app import API_PREFIX, create_app
from panacea.config import Settings
from panacea.identity.actors import Actor
from panacea.identity.audit_records import AuditEntry
from panacea.identity.leavers import disable_user
from panacea.identity.models import GroupRoleMapping
from panacea.identity.oidc_router import PENDING_LOGIN_COOKIE
from panacea.identity.roles import Role
from panacea.identity.sessions import SESSION_COOKIE
from tests.api.conftest import ApiWorld
from tests.identity.oidc_provider import OidcTestProvider, browse, running_provider

ORG = "Hôpital Saint-Test"
LOGIN = f"{API_PREFIX}/auth/oidc/login"


@pytest.fixture(scope="module")
def provider_server() -> Iterator[OidcTestProvider]:
    with running_provider() as p:
        yield p


@pytest.fixture
def provider(provider_server: OidcTestProvider) -> OidcTestProvider:
    provider_server.reset()
    return provider_server


@pytest.fixture
def api_settings(db_url: str, tmp_path: Path, provider: OidcTestProvider) -> Settings:
    return Settings(
        database_url=db_url,
        demo_mode=True,
        data_dir=tmp_path,
        oidc_issuer=provider.issuer,
        oidc_client_id=provider.client_id,
        oidc_client_secret=provider.client_secret,
        oidc_organisation=ORG,
        oidc_timeout_seconds=5.0,
    )


@pytest.fixture
def org_id(api_world: ApiWorld) -> int:
    org = api_world.organisation(ORG)
    with api_world.sessions.begin() as s:
        s.add(GroupRoleMapping(organisation_id=org, group_name="panacea-analysts", role="analyst"))
        s.add(
            GroupRoleMapping(organisation_id=org, group_name="panacea-leads", role="security_lead")
        )
    return org


def sso_login(
    browser: TestClient, *, tamper: Callable[[str], str] = lambda url: url
) -> httpx2.Response:
    """PANACEA's /login, the provider's /authorize (real HTTP), PANACEA's /callback."""
    start = browser.get(LOGIN, follow_redirects=False)
    assert start.status_code == 302, start.text
    callback = browse(tamper(start.headers["location"]))
    assert callback.startswith("http://localhost:8000/api/v1/auth/oidc/callback?")
    return browser.get(callback, follow_redirects=False)


def _sso_audit(world: ApiWorld) -> list[AuditEntry]:
    with world.sessions() as s:
        return list(
            s.execute(
                select(AuditEntry)
                .where(AuditEntry.action == "auth.sso.login")
                .order_by(AuditEntry.id)
            ).scalars()
        )


def _roles(browser: TestClient) -> dict[str, str | None]:
    response = browser.get(f"{API_PREFIX}/orgs")
    assert response.status_code == 200, response.text
    return {o["name"]: o["role"] for o in response.json()["items"]}


def test_an_oidc_login_signs_in_with_the_role_of_the_group(
    api_world: ApiWorld, provider: OidcTestProvider, org_id: int
) -> None:
    browser = api_world.anonymous_client()
    start = browser.get(LOGIN, follow_redirects=False)
    assert start.status_code == 302
    assert start.headers["location"].startswith(f"{provider.issuer}/authorize?")
    pending_cookie = start.headers["set-cookie"].lower()
    assert PENDING_LOGIN_COOKIE in pending_cookie
    for attribute in ("httponly", "samesite=lax", "path=/api/v1/auth/oidc", "max-age=600"):
        assert attribute in pending_cookie

    done = browser.get(browse(start.headers["location"]), follow_redirects=False)

    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/"
    assert browser.cookies.get(SESSION_COOKIE)
    assert browser.cookies.get(PENDING_LOGIN_COOKIE) is None  # single use
    assert _roles(browser) == {ORG: "analyst"}
    me = browser.get(f"{API_PREFIX}/auth/me")
    assert me.status_code == 200, me.text
    assert me.json()["csrf_token"]
    [entry] = _sso_audit(api_world)
    assert (entry.outcome, entry.organisation_id, entry.via) == ("success", org_id, "sso")
    assert entry.details["role"] == "analyst"
    assert entry.details["assurance"] == "sso"
    # The provider saw PKCE and authenticated the client.
    assert provider.token_requests[-1]["auth_method"] == "client_secret_basic"
    assert len(provider.token_requests[-1]["code_verifier"]) == 86


def test_a_group_mapping_change_applies_at_the_next_login(
    api_world: ApiWorld, provider: OidcTestProvider, org_id: int
) -> None:
    first = api_world.anonymous_client()
    assert sso_login(first).status_code == 303
    assert _roles(first) == {ORG: "analyst"}

    with api_world.sessions.begin() as s:
        s.execute(
            update(GroupRoleMapping)
            .where(GroupRoleMapping.group_name == "panacea-analysts")
            .values(role=Role.SECURITY_LEAD.value)
        )
    second = api_world.anonymous_client()
    assert sso_login(second).status_code == 303
    assert _roles(second) == {ORG: "security_lead"}

    # The person leaves the mapped group: refused (fail closed), and the SSO role is gone.
    provider.user.groups = ["cafeteria"]
    third = api_world.anonymous_client()
    refused = sso_login(third)
    assert refused.status_code == 403
    assert refused.json()["type"] == "urn:panacea:problem:sso-refused"
    assert third.cookies.get(SESSION_COOKIE) is None
    assert _roles(second) == {}
    outcomes = [(e.outcome, e.details.get("role")) for e in _sso_audit(api_world)]
    assert outcomes == [("success", "analyst"), ("success", "security_lead"), ("failure", None)]


def _swap_challenge(url: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query["code_challenge"] = "A" * 43
    return parts._replace(query=urlencode(query)).geturl()


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        ("wrong nonce", "nonce claim is wrong"),
        ("bad signature", "signature does not verify"),
        ("wrong audience", "aud claim is wrong"),
        ("expired", "expired"),
        ("PKCE mismatch", "invalid_grant"),
    ],
)
def test_a_spoiled_login_is_refused_and_audited(
    api_world: ApiWorld, provider: OidcTestProvider, org_id: int, spoil: str, reason: str
) -> None:
    now = int(time.time())
    tamper: Callable[[str], str] = lambda url: url  # noqa: E731
    if spoil == "wrong nonce":
        provider.id_token_overrides = {"nonce": "replayed-nonce"}
    elif spoil == "bad signature":
        provider.sign_with_foreign_key = True
    elif spoil == "wrong audience":
        provider.id_token_overrides = {"aud": "another-application"}
    elif spoil == "expired":
        provider.id_token_overrides = {"exp": now - 300, "iat": now - 600}
    else:
        tamper = _swap_challenge
    browser = api_world.anonymous_client()

    refused = sso_login(browser, tamper=tamper)

    assert refused.status_code == 401, refused.text
    assert refused.json()["type"] == "urn:panacea:problem:sso-login-failed"
    assert browser.cookies.get(SESSION_COOKIE) is None
    assert browser.get(f"{API_PREFIX}/orgs").status_code == 401
    [entry] = _sso_audit(api_world)
    assert (entry.outcome, entry.organisation_id) == ("failure", org_id)
    assert reason in entry.details["reason"]


def test_a_callback_in_another_browser_is_refused(
    api_world: ApiWorld, provider: OidcTestProvider, org_id: int
) -> None:
    """Login CSRF: an attacker's callback URL opened by a victim has no pending login."""
    attacker = api_world.anonymous_client()
    start = attacker.get(LOGIN, follow_redirects=False)
    callback = browse(start.headers["location"])
    victim = api_world.anonymous_client()
    refused = victim.get(callback, follow_redirects=False)
    assert refused.status_code == 401
    assert victim.cookies.get(SESSION_COOKIE) is None
    assert provider.token_requests == []  # the code was never redeemed


def test_a_callback_with_another_state_is_refused(
    api_world: ApiWorld, provider: OidcTestProvider, org_id: int
) -> None:
    browser = api_world.anonymous_client()
    first = browser.get(LOGIN, follow_redirects=False)
    callback = browse(first.headers["location"])
    browser.get(LOGIN, follow_redirects=False)  # a second login replaces the pending one
    refused = browser.get(callback, follow_redirects=False)
    assert refused.status_code == 401
    assert "state" in refused.json()["detail"]


def test_an_error_from_the_provider_is_refused_and_audited(
    api_world: ApiWorld, org_id: int
) -> None:
    browser = api_world.anonymous_client()
    browser.get(LOGIN, follow_redirects=False)
    refused = browser.get(
        f"{API_PREFIX}/auth/oidc/callback?error=access_denied", follow_redirects=False
    )
    assert refused.status_code == 401
    assert "access_denied" in _sso_audit(api_world)[-1].details["reason"]


@pytest.mark.parametrize(("amr", "status"), [(["pwd", "mfa"], 200), (["pwd"], 403)])
def test_a_second_factor_at_the_provider_satisfies_a_role_that_needs_one(
    api_world: ApiWorld,
    provider: OidcTestProvider,
    org_id: int,
    amr: list[str],
    status: int,
) -> None:
    provider.user.groups = ["panacea-leads"]  # security_lead: second factor required
    provider.user.amr = amr
    browser = api_world.anonymous_client()
    assert sso_login(browser).status_code == 303
    response = browser.get(f"{API_PREFIX}/orgs/{org_id}")
    assert response.status_code == status, response.text
    if status == 403:
        assert response.json()["type"] == "urn:panacea:problem:mfa-required"


def test_a_disabled_user_is_signed_out_and_cannot_sign_in_again(
    api_world: ApiWorld, provider: OidcTestProvider, org_id: int
) -> None:
    browser = api_world.anonymous_client()
    assert sso_login(browser).status_code == 303
    assert browser.get(f"{API_PREFIX}/orgs").status_code == 200
    with api_world.sessions.begin() as s:
        user_id = _sso_audit(api_world)[-1].actor_user_id
        assert user_id is not None
        disable_user(s, user_id, actor=Actor(user_id=None, name="ops", via="cli"))
    assert browser.get(f"{API_PREFIX}/orgs").status_code == 401
    again = api_world.anonymous_client()
    refused = sso_login(again)
    assert refused.status_code == 403
    assert "disabled" in refused.json()["detail"]
    assert again.cookies.get(SESSION_COOKIE) is None


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_single_sign_on_answers_404_when_not_configured(db_url: str, tmp_path: Path) -> None:
    app = create_app(Settings(database_url=db_url, demo_mode=True, data_dir=tmp_path))
    with TestClient(app, base_url="http://localhost:8000") as client:
        response = client.get(LOGIN, follow_redirects=False)
    assert response.status_code == 404
    assert response.json()["type"] == "urn:panacea:problem:sso-not-configured"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_unreachable_provider_answers_502(db_url: str, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings(
        database_url=db_url,
        demo_mode=True,
        data_dir=tmp_path,
        oidc_issuer=f"http://127.0.0.1:{port}",
        oidc_client_id="panacea",
        oidc_client_secret="x",
        oidc_organisation=ORG,
        oidc_timeout_seconds=2.0,
    )
    with TestClient(create_app(settings), base_url="http://localhost:8000") as client:
        response = client.get(LOGIN, follow_redirects=False)
    assert response.status_code == 502
    assert response.json()["type"] == "urn:panacea:problem:sso-provider-unavailable"
