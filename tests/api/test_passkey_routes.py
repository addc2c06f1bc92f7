"""Passkeys over HTTP: a full registration and second-factor sign-in with the software
authenticator, and each refusal as a browser (or an attacker's client) would meet it."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from panacea.identity.audit_records import PLATFORM_CHAIN, AuditEntry, chain_of
from panacea.identity.models import PasskeyCredential, UserSession
from panacea.identity.roles import Role
from panacea.identity.secrets_digest import digest
from panacea.identity.sessions import CSRF_HEADER, SESSION_COOKIE
from tests.api.conftest import ApiWorld
from tests.identity.software_authenticator import (
    FLAG_AT,
    FLAG_UP,
    SoftwareAuthenticator,
    b64url,
)

BASE = "/api/v1/auth/passkeys"
ORIGIN = "http://localhost:8000"


def post(client: TestClient, path: str, body: dict[str, Any] | None = None) -> httpx2.Response:
    return client.post(f"{BASE}{path}", json=body if body is not None else {})


def register(
    client: TestClient, key: SoftwareAuthenticator, name: str = "laptop", **overrides: Any
) -> httpx2.Response:
    options = post(client, "/register/options")
    assert options.status_code == 200, options.text
    credential = key.create(options.json(), **overrides)
    return post(client, "/register/verify", {"name": name, "credential": credential})


def assertion(client: TestClient, key: SoftwareAuthenticator, **overrides: Any) -> dict[str, Any]:
    options = post(client, "/authenticate/options")
    assert options.status_code == 200, options.text
    return key.get(options.json(), **overrides)


def verify(client: TestClient, credential: dict[str, Any]) -> httpx2.Response:
    return post(client, "/authenticate/verify", {"credential": credential})


def client_with(world: ApiWorld, token: str, csrf: str) -> TestClient:
    client = TestClient(world.client.app, base_url=ORIGIN)
    client.cookies.set(SESSION_COOKIE, token)
    client.headers[CSRF_HEADER] = csrf
    return client


def audit(world: ApiWorld, action: str, chain: str = PLATFORM_CHAIN) -> list[AuditEntry]:
    """The entries of ``action`` in ``chain`` (the platform's: the record of authentication)."""
    with world.sessions() as s:
        stmt = (
            select(AuditEntry)
            .where(AuditEntry.action == action, AuditEntry.chain == chain)
            .order_by(AuditEntry.seq)
        )
        return list(s.execute(stmt).scalars())


def audit_of_org(world: ApiWorld, org: int) -> list[AuditEntry]:
    with world.sessions() as s:
        stmt = select(AuditEntry).where(AuditEntry.chain == chain_of(org)).order_by(AuditEntry.seq)
        return list(s.execute(stmt).scalars())


def assert_refused(response: httpx2.Response, status: int, detail: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert detail in response.json()["detail"], response.json()


def test_register_then_pass_the_second_factor_over_http(api_world: ApiWorld) -> None:
    org = api_world.organisation("Hospital A")
    user = api_world.user("lead@a.example", {org: Role.SECURITY_LEAD})
    browser = api_world.session_client(user, assurance="password")
    old_token = browser.cookies[SESSION_COOKIE]
    # A security lead needs the second factor: the organisation is closed to this session.
    assert browser.get(f"/api/v1/orgs/{org}").status_code == 403

    key = SoftwareAuthenticator(origin=ORIGIN)
    options = post(browser, "/register/options")
    assert options.status_code == 200
    assert options.json()["rp"] == {"id": "localhost", "name": "PANACEA"}
    assert options.json()["authenticatorSelection"]["userVerification"] == "required"
    created = post(
        browser, "/register/verify", {"name": "YubiKey 5", "credential": key.create(options.json())}
    )
    assert created.status_code == 201, created.text
    passkey = created.json()
    assert (passkey["name"], passkey["sign_count"], passkey["transports"]) == (
        "YubiKey 5",
        0,
        ["hybrid", "internal"],
    )

    request = post(browser, "/authenticate/options").json()
    assert request["userVerification"] == "required"
    assert [c["id"] for c in request["allowCredentials"]] == [b64url(key.credential_id)]
    answer = verify(browser, key.get(request))
    assert answer.status_code == 200, answer.text
    assert answer.json()["assurance"] == "mfa"
    new_token = answer.cookies[SESSION_COOKIE]
    set_cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in set_cookie
    assert "samesite=lax" in set_cookie
    assert new_token != old_token

    with api_world.sessions() as s:
        rows = {r.token_digest: r for r in s.execute(select(UserSession)).scalars()}
        assert rows[digest(old_token)].revoked_at is not None
        assert rows[digest(new_token)].assurance == "mfa"
        assert rows[digest(new_token)].csrf_token == answer.json()["csrf_token"]

    # The old cookie is dead; the new one opens the organisation.
    stale = client_with(api_world, old_token, "whatever")
    assert stale.get(BASE).status_code == 401
    signed_in = client_with(api_world, new_token, answer.json()["csrf_token"])
    assert signed_in.get(f"/api/v1/orgs/{org}").status_code == 200
    listed = signed_in.get(BASE)
    assert listed.status_code == 200
    [item] = listed.json()["items"]
    assert (item["id"], item["sign_count"]) == (passkey["id"], 1)
    assert item["last_used_at"] is not None

    deleted = signed_in.delete(f"{BASE}/{passkey['id']}")
    assert deleted.status_code == 204
    assert signed_in.get(BASE).json()["items"] == []
    actions = [(e.action, e.outcome) for e in audit(api_world, "passkey.registered")]
    actions += [(e.action, e.outcome) for e in audit(api_world, "passkey.authenticated")]
    actions += [(e.action, e.outcome) for e in audit(api_world, "passkey.deleted")]
    assert actions == [
        ("passkey.registered", "success"),
        ("passkey.authenticated", "success"),
        ("passkey.deleted", "success"),
    ]
    # The second factor completes a sign-in: the organisation's log shows it, and only it.
    [platform] = audit(api_world, "passkey.authenticated")
    org_log = [(e.action, e.details.get("platform_seq")) for e in audit_of_org(api_world, org)]
    assert org_log == [("passkey.authenticated", platform.seq)]


@pytest.mark.parametrize(
    ("overrides", "detail"),
    [
        ({"flags": FLAG_UP | FLAG_AT}, "User verification is required"),
        ({"origin": "https://localhost.evil.example"}, "Unexpected client data origin"),
        ({"rp_id": "evil.example"}, "Unexpected RP ID hash"),
    ],
    ids=["no-user-verification", "wrong-origin", "wrong-rp-id"],
)
def test_registration_is_refused(
    api_world: ApiWorld, overrides: dict[str, Any], detail: str
) -> None:
    user = api_world.user("alice@a.example", {})
    browser = api_world.session_client(user, assurance="password")
    response = register(browser, SoftwareAuthenticator(origin=ORIGIN), **overrides)
    assert_refused(response, 422, "response did not verify")
    [entry] = audit(api_world, "passkey.registered")
    assert entry.outcome == "failure"
    assert detail in entry.details["error"]
    assert browser.get(BASE).json()["items"] == []


@pytest.mark.parametrize(
    ("overrides", "detail"),
    [
        ({"flags": FLAG_UP}, "User verification is required"),
        ({"origin": "https://localhost.evil.example"}, "Unexpected client data origin"),
        ({"rp_id": "evil.example"}, "Unexpected RP ID hash"),
    ],
    ids=["no-user-verification", "wrong-origin", "wrong-rp-id"],
)
def test_authentication_is_refused(
    api_world: ApiWorld, overrides: dict[str, Any], detail: str
) -> None:
    user = api_world.user("alice@a.example", {})
    browser = api_world.session_client(user, assurance="password")
    key = SoftwareAuthenticator(origin=ORIGIN)
    assert register(browser, key).status_code == 201
    response = verify(browser, assertion(browser, key, **overrides))
    assert_refused(response, 401, "assertion did not verify")
    assert SESSION_COOKIE not in response.cookies
    [entry] = audit(api_world, "passkey.authenticated")
    assert entry.outcome == "failure"
    assert detail in entry.details["error"]
    with api_world.sessions() as s:
        [row] = s.execute(select(UserSession)).scalars()
        assert (row.assurance, row.revoked_at) == ("password", None)


def test_a_replayed_challenge_is_refused(api_world: ApiWorld) -> None:
    user = api_world.user("alice@a.example", {})
    browser = api_world.session_client(user, assurance="password")
    key = SoftwareAuthenticator(origin=ORIGIN)
    assert register(browser, key).status_code == 201

    # An answer that fails spends the challenge too: the right answer after it is refused.
    options = post(browser, "/authenticate/options").json()
    assert_refused(verify(browser, key.get(options, flags=FLAG_UP)), 401, "did not verify")
    assert_refused(verify(browser, key.get(options)), 401, "no pending authentication challenge")

    # An assertion captured from one session does not pass another session's challenge.
    captured = assertion(browser, key)
    other = api_world.session_client(user, assurance="password")
    post(other, "/authenticate/options")
    response = verify(other, captured)
    assert_refused(response, 401, "assertion did not verify")
    assert "challenge" in audit(api_world, "passkey.authenticated")[-1].details["error"]


def test_a_replayed_registration_response_is_refused(api_world: ApiWorld) -> None:
    # Before enrolment (password session may register): the second post finds no challenge.
    user = api_world.user("alice@a.example", {})
    browser = api_world.session_client(user, assurance="password")
    key = SoftwareAuthenticator(origin=ORIGIN)
    options = post(browser, "/register/options").json()
    bad = {"name": "laptop", "credential": key.create(options, flags=FLAG_UP | FLAG_AT)}
    good = {"name": "laptop", "credential": key.create(options)}
    assert_refused(post(browser, "/register/verify", bad), 422, "response did not verify")
    assert_refused(post(browser, "/register/verify", good), 422, "no pending registration")


def test_a_counter_that_does_not_increase_is_refused(api_world: ApiWorld) -> None:
    user = api_world.user("alice@a.example", {})
    browser = api_world.session_client(user, assurance="password")
    key = SoftwareAuthenticator(origin=ORIGIN)
    passkey_id = register(browser, key).json()["id"]
    first = verify(browser, assertion(browser, key))
    assert first.status_code == 200  # counter now 1
    # Sign in again with the password, then a clone of the key still at counter 1 answers.
    again = api_world.session_client(user, assurance="password")
    response = verify(again, assertion(again, key, sign_count=1))
    assert_refused(response, 401, "possible cloned authenticator")
    entry = audit(api_world, "passkey.authenticated")[-1]
    assert (entry.outcome, entry.target) == ("failure", f"passkey:{passkey_id}")
    assert (entry.details["stored_sign_count"], entry.details["received_sign_count"]) == (1, 1)
    with api_world.sessions() as s:
        stored = s.get(PasskeyCredential, passkey_id)
        assert stored is not None
        assert stored.sign_count == 1


def pass_second_factor(
    world: ApiWorld, browser: TestClient, key: SoftwareAuthenticator
) -> TestClient:
    """Pass the passkey step; return a client holding the new cookie and CSRF token."""
    answer = verify(browser, assertion(browser, key))
    assert answer.status_code == 200, answer.text
    return client_with(world, answer.cookies[SESSION_COOKIE], answer.json()["csrf_token"])


def test_another_users_credential_is_refused(api_world: ApiWorld) -> None:
    alice = api_world.user("alice@a.example", {})
    mallory = api_world.user("mallory@a.example", {})
    alices = api_world.session_client(alice, assurance="password")
    mallorys = api_world.session_client(mallory, assurance="password")
    alices_key = SoftwareAuthenticator(origin=ORIGIN)
    alices_passkey = register(alices, alices_key).json()["id"]
    mallorys_key = SoftwareAuthenticator(origin=ORIGIN)
    mallorys_passkey = register(mallorys, mallorys_key).json()["id"]
    # Mallory knows Alice's password and answers Alice's challenge with her own passkey.
    response = verify(alices, assertion(alices, mallorys_key, honour_allow=False))
    assert_refused(response, 401, "unknown credential")
    # Nor may Alice see or delete Mallory's passkey: it does not exist for her.
    alice_mfa = pass_second_factor(api_world, alices, alices_key)
    assert [p["id"] for p in alice_mfa.get(BASE).json()["items"]] == [alices_passkey]
    assert_refused(alice_mfa.delete(f"{BASE}/{mallorys_passkey}"), 404, "no passkey")
    mallory_mfa = pass_second_factor(api_world, mallorys, mallorys_key)
    assert [p["id"] for p in mallory_mfa.get(BASE).json()["items"]] == [mallorys_passkey]


def test_deleting_needs_the_second_factor(api_world: ApiWorld) -> None:
    user = api_world.user("alice@a.example", {})
    browser = api_world.session_client(user, assurance="password")
    key = SoftwareAuthenticator(origin=ORIGIN)
    passkey_id = register(browser, key).json()["id"]
    assert_refused(browser.delete(f"{BASE}/{passkey_id}"), 403, "second factor")
    assert_refused(browser.delete(f"{BASE}/{passkey_id + 1}"), 404, "no passkey")


def test_csrf_token_is_required(api_world: ApiWorld) -> None:
    user = api_world.user("alice@a.example", {})
    browser = api_world.session_client(user, assurance="password")
    del browser.headers[CSRF_HEADER]
    assert_refused(post(browser, "/register/options"), 403, "CSRF")


def test_malformed_credentials_are_422_not_500(api_world: ApiWorld) -> None:
    user = api_world.user("alice@a.example", {})
    browser = api_world.session_client(user, assurance="password")
    options = post(browser, "/register/options").json()
    credential = SoftwareAuthenticator(origin=ORIGIN).create(options)
    credential["response"]["attestationObject"] = b64url(b"\xa1\x63fmt\x64none")
    response = post(browser, "/register/verify", {"name": "x", "credential": credential})
    assert_refused(response, 422, "response did not verify")
    response = post(browser, "/register/verify", {"name": "x", "credential": {"id": "+/"}})
    assert response.status_code == 422
    assert response.json()["type"] == "urn:panacea:problem:validation-error"
