"""TAXII 2.1 protocol rules over HTTP: content negotiation, errors, authentication, scoping."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from panacea.identity.errors import NotFoundError
from panacea.identity.models import User
from panacea.identity.roles import Permission, Role
from panacea.identity.sessions import SESSION_COOKIE, create_session
from panacea.sharing.group_models import SharingGroupMember
from panacea.sharing.groups import create_group
from panacea.sharing.taxii.collections import create_collection
from panacea.sharing.taxii.media import TAXII_MEDIA_TYPE, accepts_taxii, is_taxii_content
from tests.sharing.taxii_world import Publisher, TaxiiWorld


def assert_taxii_error(answer: requests.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == TAXII_MEDIA_TYPE
    body: dict[str, Any] = answer.json()
    assert body["http_status"] == str(status)
    assert body["title"]
    return body


@pytest.mark.parametrize(
    ("accept", "ok"),
    [
        ("application/taxii+json;version=2.1", True),
        ("application/taxii+json", True),
        ("application/json, application/taxii+json; version=2.1", True),
        ('application/taxii+json;version="2.1";q=0.5', True),
        ("application/taxii+json;version=2.1;q=0", False),
        ("application/taxii+json;version=2.0", False),
        ("application/vnd.oasis.taxii+json", False),
        ("application/stix+json;version=2.1", False),
        ("*/*", False),
        ("", False),
        (None, False),
    ],
)
def test_accept_negotiation(accept: str | None, ok: bool) -> None:
    assert accepts_taxii(accept) is ok


@pytest.mark.parametrize(
    ("content_type", "ok"),
    [
        ("application/taxii+json;version=2.1", True),
        ("application/taxii+json", True),
        ("application/taxii+json; version=2.1", True),
        ("application/json", False),
        ("application/stix+json;version=2.1", False),
        ("application/taxii+json;version=2.0", False),
        (None, False),
    ],
)
def test_content_type_negotiation(content_type: str | None, ok: bool) -> None:
    assert is_taxii_content(content_type) is ok


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_errors_are_taxii_messages(world: TaxiiWorld, peer: Publisher) -> None:
    org = world.organisation("Hospital A")
    collection_id = world.collection(org)
    secret = world.token(org)
    http = world.http(secret)
    objects_url = world.collection_url(collection_id) + "objects/"

    # 406 for an Accept without the TAXII 2.1 media type, whatever the endpoint.
    for accept in ("application/json", "application/stix+json;version=2.1", "*/*"):
        answer = http.get(objects_url, headers={"Accept": accept})
        assert_taxii_error(answer, 406)
    # 401 without a token, with a bad one; no session cookie either.
    anonymous = world.http(None)
    assert_taxii_error(anonymous.get(world.discovery_url), 401)
    assert anonymous.get(world.discovery_url).headers["www-authenticate"].startswith("Bearer")
    assert_taxii_error(world.http("pnc_nothing_here").get(world.discovery_url), 401)
    with world.sessions.begin() as s:
        user = s.get(User, world.member(org))
        assert user is not None
        _, cookie = create_session(s, user=user, assurance="mfa")
    anonymous.cookies.set(SESSION_COOKIE, cookie)
    assert_taxii_error(anonymous.get(world.api_root_url + "collections/"), 401)

    # 415 for Add Objects in another media type.
    envelope = json.dumps({"objects": peer.indicators(1)})
    for content_type in ("application/json", "application/stix+json;version=2.1"):
        answer = http.post(objects_url, data=envelope, headers={"Content-Type": content_type})
        assert_taxii_error(answer, 415)
    # 400 for a malformed body, limit, cursor, filter.
    taxii = {"Content-Type": TAXII_MEDIA_TYPE}
    assert_taxii_error(http.post(objects_url, data="{not json", headers=taxii), 400)
    assert_taxii_error(http.post(objects_url, data='{"objects": 3}', headers=taxii), 400)
    deep = '{"objects": [' + "[" * 100_000 + "]" * 100_000 + "]}"
    nested = assert_taxii_error(http.post(objects_url, data=deep, headers=taxii), 400)
    assert "nested too deeply" in nested["description"]
    assert_taxii_error(http.get(objects_url, params={"limit": "0"}), 400)
    assert_taxii_error(http.get(objects_url, params={"limit": "ten"}), 400)
    assert_taxii_error(http.get(objects_url, params={"next": "bm9wZQ"}), 400)
    assert_taxii_error(http.get(objects_url, params={"added_after": "yesterday"}), 400)
    assert_taxii_error(http.get(objects_url, params={"match[type]": "Indicator!"}), 400)
    assert_taxii_error(http.get(objects_url, params={"match[version]": "latest"}), 400)
    # 404 for what does not exist, as TAXII messages too.
    assert_taxii_error(http.get(world.base_url + "/taxii2/other-root/"), 404)
    assert_taxii_error(http.get(world.api_root_url + "nothing/here/"), 404)
    assert_taxii_error(http.get(world.api_root_url + "status/unknown/"), 404)
    assert_taxii_error(http.get(objects_url + "indicator--not-a-uuid/"), 404)
    # 405 for a method an endpoint does not take, with the methods it does.
    wrong = http.put(objects_url, data=envelope, headers=taxii)
    assert assert_taxii_error(wrong, 405)["description"].startswith("PUT is not allowed")
    assert wrong.headers["allow"] == "GET, POST"
    # A limit over the maximum is lowered, not refused.
    assert http.get(objects_url, params={"limit": "100000"}).status_code == 200
    # The API keeps its problem details.
    problem = http.get(world.base_url + "/api/v1/orgs/999/sharing/quarantine")
    assert problem.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_collections_are_scoped_per_organisation(world: TaxiiWorld, peer: Publisher) -> None:
    a = world.organisation("Hospital A")
    b = world.organisation("Hospital B")
    mine = world.collection(a, "A alerts")
    theirs = world.collection(b, "B alerts")
    http = world.http(world.token(a))
    listed = http.get(world.api_root_url + "collections/").json()["collections"]
    assert [c["id"] for c in listed] == [mine]
    for path in ("", "objects/", "manifest/", f"objects/{peer.indicators(1)[0]['id']}/"):
        assert_taxii_error(http.get(world.collection_url(theirs) + path), 404)
    envelope = json.dumps({"objects": peer.indicators(1)})
    answer = http.post(
        world.collection_url(theirs) + "objects/",
        data=envelope,
        headers={"Content-Type": TAXII_MEDIA_TYPE},
    )
    assert_taxii_error(answer, 404)
    # B's status resources are not A's to read.
    status = world.http(world.token(b)).post(
        world.collection_url(theirs) + "objects/",
        data=envelope,
        headers={"Content-Type": TAXII_MEDIA_TYPE},
    )
    assert status.status_code == 202
    assert_taxii_error(http.get(world.api_root_url + f"status/{status.json()['id']}/"), 404)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_rights_follow_role_and_token_scopes(world: TaxiiWorld, peer: Publisher) -> None:
    org = world.organisation("Hospital A")
    collection_id = world.collection(org)
    url = world.collection_url(collection_id)
    envelope = json.dumps({"objects": peer.indicators(1)})
    taxii = {"Content-Type": TAXII_MEDIA_TYPE}

    reader = world.http(world.token(org, scopes=(Permission.SHARING_READ,)))
    seen = reader.get(url).json()
    assert (seen["can_read"], seen["can_write"]) == (True, False)
    assert_taxii_error(reader.post(url + "objects/", data=envelope, headers=taxii), 403)

    # An auditor may read shared intelligence but never publish, whatever its token says.
    auditor = world.http(world.token(org, role=Role.AUDITOR))
    assert auditor.get(url).json()["can_write"] is False
    assert_taxii_error(auditor.post(url + "objects/", data=envelope, headers=taxii), 403)

    # A token without either sharing scope sees no collection at all.
    other = world.http(world.token(org, scopes=(Permission.FINDINGS_READ,)))
    assert other.get(world.api_root_url + "collections/").json() == {}
    assert_taxii_error(other.get(url), 404)

    # A viewer's role has no sharing permission: same.
    viewer = world.http(world.token(org, role=Role.VIEWER, scopes=(Permission.SHARING_READ,)))
    assert_taxii_error(viewer.get(url), 404)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_sharing_group_collection_is_shared_with_its_members(
    world: TaxiiWorld, peer: Publisher
) -> None:
    owner = world.organisation("Hospital A")
    member = world.organisation("Hospital B")
    outsider = world.organisation("Hospital C")
    owner_access, outsider_access = world.access(owner), world.access(outsider)
    with world.sessions.begin() as s:
        group_id = create_group(s, owner_access, name="Regional ISAC").id
        s.add(SharingGroupMember(group_id=group_id, organisation_id=member))
    with world.sessions.begin() as s:
        shared = create_collection(s, owner_access, title="ISAC", sharing_group_id=group_id).uuid
        with pytest.raises(NotFoundError):
            create_collection(s, outsider_access, title="x", sharing_group_id=group_id)
    world.collection(owner, "A only")
    taxii = {"Content-Type": TAXII_MEDIA_TYPE}
    envelope = json.dumps({"objects": peer.indicators(2)})

    as_member = world.http(world.token(member))
    listed = as_member.get(world.api_root_url + "collections/").json()["collections"]
    assert [c["id"] for c in listed] == [shared]
    posted = as_member.post(world.collection_url(shared) + "objects/", data=envelope, headers=taxii)
    assert posted.json()["success_count"] == 2
    as_owner = world.http(world.token(owner))
    assert len(as_owner.get(world.collection_url(shared) + "objects/").json()["objects"]) == 2
    as_outsider = world.http(world.token(outsider))
    assert_taxii_error(as_outsider.get(world.collection_url(shared)), 404)
