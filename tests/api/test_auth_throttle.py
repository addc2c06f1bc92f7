"""Throttling over HTTP: 429 with Retry-After, before the password is looked at."""

from __future__ import annotations

import pytest

from panacea.identity.roles import Role
from tests.api.conftest import ApiWorld

LOGIN = "/api/v1/auth/login"
PASSWORD = "grey heron over the river"
WRONG = "grey heron over the lake"

pytestmark = pytest.mark.usefixtures("cheap_hashing")


@pytest.mark.parametrize("email", ["analyst@stmary.example", "nobody@stmary.example"])
def test_sixth_attempt_waits_and_says_so(email: str, api_world: ApiWorld) -> None:
    org = api_world.organisation("St Mary's")
    api_world.give_password(api_world.user("analyst@stmary.example", {org: Role.ANALYST}), PASSWORD)
    client = api_world.anonymous_client()
    for _ in range(5):
        assert client.post(LOGIN, json={"email": email, "password": WRONG}).status_code == 401
    # The 6th, even with the right password, is refused unseen: 2 s after the 5th failure.
    throttled = client.post(LOGIN, json={"email": email, "password": PASSWORD})
    assert throttled.status_code == 429
    # The five requests took well under a second here; allow for a slow machine.
    assert throttled.headers["Retry-After"] in {"1", "2"}
    body = throttled.json()
    assert body["type"] == "urn:panacea:problem:throttled"
    assert (
        body["detail"] == f"too many failed attempts; retry in {throttled.headers['Retry-After']} s"
    )
    assert "set-cookie" not in throttled.headers


def test_known_and_unknown_accounts_throttle_alike(api_world: ApiWorld) -> None:
    org = api_world.organisation("St Mary's")
    api_world.give_password(api_world.user("analyst@stmary.example", {org: Role.ANALYST}), PASSWORD)
    client = api_world.anonymous_client()
    answers = {}
    for email in ("analyst@stmary.example", "nobody@stmary.example"):
        statuses = [
            client.post(LOGIN, json={"email": email, "password": WRONG}).status_code
            for _ in range(6)
        ]
        answers[email] = statuses
    assert answers["analyst@stmary.example"] == [401] * 5 + [429]
    assert answers["nobody@stmary.example"] == answers["analyst@stmary.example"]


def test_address_cap_over_http(api_world: ApiWorld) -> None:
    org = api_world.organisation("St Mary's")
    api_world.give_password(api_world.user("analyst@stmary.example", {org: Role.ANALYST}), PASSWORD)
    client = api_world.anonymous_client()
    # 100 failures on 100 different e-mails (no account reaches its own limit).
    for i in range(100):
        response = client.post(LOGIN, json={"email": f"guess{i}@stmary.example", "password": WRONG})
        assert response.status_code == 401, (i, response.text)
    capped = client.post(LOGIN, json={"email": "analyst@stmary.example", "password": PASSWORD})
    assert capped.status_code == 429
    # The first failure leaves the window an hour after it happened (a few seconds ago).
    assert 3500 <= int(capped.headers["Retry-After"]) <= 3600
