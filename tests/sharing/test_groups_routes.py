"""Sharing-group routes: 404 for non-members, roles, invitations through the API."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from panacea.identity.roles import Role
from tests.api import conftest as api_conftest
from tests.api.conftest import ApiWorld

# The API fixtures of tests/api, used here as they are.
api_settings = api_conftest.api_settings
api_world = api_conftest.api_world

BASE = "/api/v1/orgs"


def _lead(api: ApiWorld, org_id: int, email: str, role: Role = Role.SECURITY_LEAD) -> TestClient:
    return api.session_client(api.user(email, {org_id: role}))


def _group(client: TestClient, org_id: int, name: str = "Regional ISAC") -> int:
    response = client.post(f"{BASE}/{org_id}/sharing-groups", json={"name": name})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_group_life_through_the_api(api_world: ApiWorld) -> None:
    api = api_world
    marco, nord, river = (
        api.organisation("Ospedale San Marco"),
        api.organisation("Klinikum Nordstadt"),
        api.organisation("Riverside General"),
    )
    owner = _lead(api, marco, "ciso@sanmarco.example")
    invitee = _lead(api, nord, "isb@nordstadt.example")
    outsider = _lead(api, river, "ciso@riverside.example")

    group_id = _group(owner, marco)
    invited = owner.post(
        f"{BASE}/{marco}/sharing-groups/{group_id}/invitations", json={"organisation_id": nord}
    )
    assert invited.status_code == 201, invited.text
    invitation = invited.json()
    assert invitation["organisation_name"] == "Klinikum Nordstadt"

    # The invitee sees the invitation (name and owner), not the members.
    received = invitee.get(f"{BASE}/{nord}/sharing-invitations").json()["items"]
    assert [(i["group_name"], i["owner_name"]) for i in received] == [
        ("Regional ISAC", "Ospedale San Marco")
    ]
    assert invitee.get(f"{BASE}/{nord}/sharing-groups/{group_id}/members").status_code == 404

    accepted = invitee.post(f"{BASE}/{nord}/sharing-invitations/{invitation['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["member_count"] == 2

    members = invitee.get(f"{BASE}/{nord}/sharing-groups/{group_id}/members").json()
    assert [(m["name"], m["owner"]) for m in members["items"]] == [
        ("Ospedale San Marco", True),
        ("Klinikum Nordstadt", False),
    ]
    assert [g["id"] for g in invitee.get(f"{BASE}/{nord}/sharing-groups").json()["items"]] == [
        group_id
    ]

    # The outsider: nothing, exactly as for a group that does not exist.
    for path in (f"sharing-groups/{group_id}", f"sharing-groups/{group_id}/members"):
        seen = outsider.get(f"{BASE}/{river}/{path}")
        never = outsider.get(f"{BASE}/{river}/{path.replace(str(group_id), '777777')}")
        assert seen.status_code == never.status_code == 404
        assert seen.json()["detail"].replace(str(group_id), "N") == never.json()["detail"].replace(
            "777777", "N"
        )
    assert outsider.get(f"{BASE}/{river}/sharing-groups").json()["items"] == []
    # Asking with another organisation's id in the path is a 404 too.
    assert outsider.get(f"{BASE}/{marco}/sharing-groups/{group_id}").status_code == 404

    # A member that is not the owner cannot invite; it can leave.
    refused = invitee.post(
        f"{BASE}/{nord}/sharing-groups/{group_id}/invitations", json={"organisation_id": river}
    )
    assert refused.status_code == 403
    left = invitee.delete(f"{BASE}/{nord}/sharing-groups/{group_id}/members/{nord}")
    assert left.status_code == 204
    assert invitee.get(f"{BASE}/{nord}/sharing-groups/{group_id}").status_code == 404
    # The owner cannot leave its own group.
    assert (
        owner.delete(f"{BASE}/{marco}/sharing-groups/{group_id}/members/{marco}").status_code == 409
    )


def test_decline_and_revoke(api_world: ApiWorld) -> None:
    api = api_world
    marco, nord = api.organisation("Ospedale San Marco"), api.organisation("Klinikum Nordstadt")
    owner = _lead(api, marco, "ciso@sanmarco.example")
    invitee = _lead(api, nord, "isb@nordstadt.example")
    group_id = _group(owner, marco)
    url = f"{BASE}/{marco}/sharing-groups/{group_id}/invitations"
    first = owner.post(url, json={"organisation_id": nord}).json()
    assert owner.post(url, json={"organisation_id": nord}).status_code == 409
    assert [i["id"] for i in owner.get(url).json()["items"]] == [first["id"]]
    assert (
        invitee.post(f"{BASE}/{nord}/sharing-invitations/{first['id']}/decline").status_code == 204
    )
    assert owner.get(url).json()["items"] == []
    second = owner.post(url, json={"organisation_id": nord}).json()
    assert owner.delete(f"{url}/{second['id']}").status_code == 204
    accept = invitee.post(f"{BASE}/{nord}/sharing-invitations/{second['id']}/accept")
    assert accept.status_code == 404


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("role", [Role.VIEWER, Role.IT_OPERATOR, Role.AUDITOR])
def test_roles_without_publish_cannot_create_or_join(api_world: ApiWorld, role: Role) -> None:
    api = api_world
    marco, nord = api.organisation("Ospedale San Marco"), api.organisation("Klinikum Nordstadt")
    owner = _lead(api, marco, "ciso@sanmarco.example")
    group_id = _group(owner, marco)
    invitation = owner.post(
        f"{BASE}/{marco}/sharing-groups/{group_id}/invitations", json={"organisation_id": nord}
    ).json()
    weak = _lead(api, nord, f"{role.value}@nordstadt.example", role)
    created = weak.post(f"{BASE}/{nord}/sharing-groups", json={"name": "Mine"})
    assert created.status_code == 403
    joined = weak.post(f"{BASE}/{nord}/sharing-invitations/{invitation['id']}/accept")
    assert joined.status_code == 403


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "body",
    [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 201}, {"name": "ok", "extra": 1}],
)
def test_invalid_bodies_are_422(api_world: ApiWorld, body: dict[str, object]) -> None:
    marco = api_world.organisation("Ospedale San Marco")
    owner = _lead(api_world, marco, "ciso@sanmarco.example")
    assert owner.post(f"{BASE}/{marco}/sharing-groups", json=body).status_code == 422


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_member_list_pages(api_world: ApiWorld) -> None:
    api = api_world
    marco = api.organisation("Ospedale San Marco")
    owner = _lead(api, marco, "ciso@sanmarco.example")
    group_id = _group(owner, marco)
    others = [api.organisation(f"Hospital {i}") for i in range(3)]
    for org in others:
        invitation = owner.post(
            f"{BASE}/{marco}/sharing-groups/{group_id}/invitations", json={"organisation_id": org}
        ).json()
        member = _lead(api, org, f"lead@{org}.example")
        assert (
            member.post(f"{BASE}/{org}/sharing-invitations/{invitation['id']}/accept").status_code
            == 200
        )
    url = f"{BASE}/{marco}/sharing-groups/{group_id}/members"
    first = owner.get(url, params={"limit": 2}).json()
    rest = owner.get(url, params={"limit": 2, "cursor": first["next"]}).json()
    assert rest["next"] is None
    assert [m["organisation_id"] for m in first["items"] + rest["items"]] == [marco, *others]
