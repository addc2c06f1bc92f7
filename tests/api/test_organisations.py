"""Organisation routes: membership decides what a caller sees; others answer 404."""

from __future__ import annotations

import base64

from panacea.identity.roles import Role
from tests.api.conftest import ApiWorld


def test_lists_only_own_organisations_and_hides_others(api_world: ApiWorld) -> None:
    a = api_world.organisation("Hospital A")
    b = api_world.organisation("Hospital B")
    alice = api_world.user("alice@a.example", {a: Role.ANALYST})
    client = api_world.session_client(alice)

    listed = client.get("/api/v1/orgs").json()
    assert [o["name"] for o in listed["items"]] == ["Hospital A"]
    assert listed["items"][0]["role"] == "analyst"
    assert client.get(f"/api/v1/orgs/{a}").status_code == 200
    foreign = client.get(f"/api/v1/orgs/{b}")
    assert foreign.status_code == 404
    assert foreign.headers["content-type"] == "application/problem+json"
    assert client.get("/api/v1/orgs/999999").json()["status"] == 404


def test_unauthenticated_is_401_problem(api_world: ApiWorld) -> None:
    response = api_world.client.get("/api/v1/orgs")
    assert response.status_code == 401
    assert response.json()["type"] == "urn:panacea:problem:unauthenticated"


def test_role_needing_mfa_is_refused_without_it(api_world: ApiWorld) -> None:
    a = api_world.organisation("Hospital A")
    lead = api_world.user("lead@a.example", {a: Role.SECURITY_LEAD})
    client = api_world.session_client(lead, assurance="password")
    response = client.get(f"/api/v1/orgs/{a}")
    assert response.status_code == 403
    assert response.json()["type"] == "urn:panacea:problem:mfa-required"


def test_pagination_walks_every_organisation_once(api_world: ApiWorld) -> None:
    orgs = [api_world.organisation(f"H{i}") for i in range(7)]
    user = api_world.user("many@x.example", dict.fromkeys(orgs, Role.VIEWER))
    client = api_world.session_client(user)
    seen: list[int] = []
    url: str | None = "/api/v1/orgs?limit=3"
    while url:
        page = client.get(url).json()
        seen += [o["id"] for o in page["items"]]
        url = f"/api/v1/orgs?limit=3&cursor={page['next']}" if page["next"] else None
    assert seen == sorted(orgs)
    assert client.get("/api/v1/orgs?cursor=%%%").status_code == 422  # not the cursor alphabet
    assert client.get("/api/v1/orgs?cursor=bm90LWpzb24").status_code == 400  # not one of ours
    # Well-formed cursors whose key does not fit the id column: 400, not a database error.
    for key in ('"abc"', str(10**20)):
        forged = base64.urlsafe_b64encode(f'{{"k":{key}}}'.encode()).decode().rstrip("=")
        assert client.get(f"/api/v1/orgs?cursor={forged}").status_code == 400


def test_security_headers_and_body_limit(api_world: ApiWorld) -> None:
    response = api_world.client.get("/api/v1/health")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "strict-transport-security" not in response.headers  # plain http here
    big = api_world.client.post("/api/v1/orgs", content=b"x" * 2_000_000)
    assert big.status_code == 413
