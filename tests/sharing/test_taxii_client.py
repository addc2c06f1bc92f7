"""The official taxii2-client (OASIS cti-taxii-client) against our TAXII 2.1 server, over HTTP.

Discovery, API root, collections, Add Objects and its status, paging with ``next`` through
several pages, ``added_after``, ``match[type]``, version filters, manifest, object versions,
Get An Object and Delete An Object.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from panacea.sharing.signing import SIGNATURE_PROPERTY
from tests.sharing.taxii_world import (
    BASE_TIME,
    BearerAuth,
    Publisher,
    TaxiiWorld,
    indicator,
    observable,
)


def _ids(envelope: dict[str, Any]) -> list[str]:
    return [o["id"] for o in envelope.get("objects", [])]


@pytest.fixture
def setup(world: TaxiiWorld, peer: Publisher) -> tuple[TaxiiWorld, Publisher, str, BearerAuth]:
    org = world.organisation("Hospital A")
    collection_id = world.collection(org, "Ransomware alerts")
    return world, peer, collection_id, BearerAuth(world.token(org))


def test_discovery_api_root_and_collections(
    setup: tuple[TaxiiWorld, Publisher, str, BearerAuth],
) -> None:
    world, _, collection_id, auth = setup
    server = Server(world.discovery_url, auth=auth)
    assert server.title == "PANACEA TAXII 2.1 server"
    assert [root.url for root in server.api_roots] == [world.api_root_url]
    root = server.default
    assert root is not None
    assert root.versions == ["application/taxii+json;version=2.1"]
    assert root.max_content_length == world.settings.max_request_bytes
    [collection] = root.collections
    assert (collection.id, collection.title) == (collection_id, "Ransomware alerts")
    assert (collection.can_read, collection.can_write) == (True, True)
    assert collection.media_types == ["application/stix+json;version=2.1"]


def test_add_objects_poll_status_and_page_through(
    setup: tuple[TaxiiWorld, Publisher, str, BearerAuth],
) -> None:
    world, peer, collection_id, auth = setup
    collection = Collection(world.collection_url(collection_id), auth=auth)
    signed = peer.indicators(25)
    status = collection.add_objects({"objects": signed})
    assert (status.status, status.total_count, status.success_count) == ("complete", 25, 25)
    assert status.failure_count == 0
    # Polling: the Status the client built points at .../status/<id> (no trailing slash).
    status.refresh()
    assert status.success_count == 25
    polled = ApiRoot(world.api_root_url, auth=auth).get_status(status.id)
    assert {s["id"] for s in polled.successes} == {o["id"] for o in signed}

    pages = list(as_pages(collection.get_objects, per_request=10))
    assert [len(p.get("objects", [])) for p in pages] == [10, 10, 5]
    assert [p["more"] for p in pages] == [True, True, False]
    served = [o for p in pages for o in p["objects"]]
    assert [o["id"] for o in served] == [o["id"] for o in signed]  # date_added order
    assert served == signed  # stored and served exactly, signatures included
    assert all(SIGNATURE_PROPERTY in o for o in served)


def test_added_after_never_loses_an_object(
    setup: tuple[TaxiiWorld, Publisher, str, BearerAuth],
) -> None:
    world, peer, collection_id, auth = setup
    collection = Collection(world.collection_url(collection_id), auth=auth)
    first = peer.indicators(7)
    collection.add_objects({"objects": first})
    # Poll as a client does: X-TAXII-Date-Added-Last of each answer is the next added_after.
    http = world.http(auth.secret)
    url = world.collection_url(collection_id) + "objects/"
    seen: list[str] = []
    after = None
    for _ in range(10):
        params = {"limit": "3", **({"added_after": after} if after else {})}
        answer = http.get(url, params=params)
        assert answer.status_code == 200
        if not answer.json().get("objects"):
            break
        seen += _ids(answer.json())
        after = answer.headers["X-TAXII-Date-Added-Last"]
        assert answer.headers["X-TAXII-Date-Added-First"] <= after
    second = peer.indicators(4)
    collection.add_objects({"objects": second})
    newer = collection.get_objects(added_after=after)
    assert seen == [o["id"] for o in first]
    assert _ids(newer) == [o["id"] for o in second]


def test_match_type_id_and_versions(
    setup: tuple[TaxiiWorld, Publisher, str, BearerAuth],
) -> None:
    world, peer, collection_id, auth = setup
    collection = Collection(world.collection_url(collection_id), auth=auth)
    v1 = peer.sign(indicator(peer.identity_ref, n=1))
    v2 = peer.sign(
        indicator(peer.identity_ref, stix_id=v1["id"], modified=BASE_TIME + timedelta(hours=1))
    )
    v3 = peer.sign(
        indicator(peer.identity_ref, stix_id=v1["id"], modified=BASE_TIME + timedelta(hours=2))
    )
    other = peer.sign(indicator(peer.identity_ref, n=2))
    ip = peer.sign(observable(7))
    status = collection.add_objects({"objects": [v1, v2, other, v3, ip]})
    assert status.success_count == 5

    assert _ids(collection.get_objects(type="ipv4-addr")) == [ip["id"]]
    assert _ids(collection.get_objects(type=["indicator", "ipv4-addr"])) == [
        other["id"],
        v1["id"],
        ip["id"],
    ]
    last = collection.get_objects(id=v1["id"])
    assert [o["modified"] for o in last["objects"]] == [v3["modified"]]
    first = collection.get_objects(id=v1["id"], version="first")
    assert [o["modified"] for o in first["objects"]] == [v1["modified"]]
    every = collection.get_objects(id=v1["id"], version="all")
    assert [o["modified"] for o in every["objects"]] == [
        v1["modified"],
        v2["modified"],
        v3["modified"],
    ]
    exact = collection.get_objects(version=v2["modified"])
    assert _ids(exact) == [v1["id"]]
    assert collection.get_objects(spec_version="2.0") == {"more": False}

    versions = collection.object_versions(v1["id"])
    assert versions["versions"] == [v1["modified"], v2["modified"], v3["modified"]]
    one = collection.get_object(v1["id"], version="first")
    assert one["objects"] == [v1]

    manifest = collection.get_manifest(type="indicator")
    records = manifest["objects"]
    assert [(r["id"], r["version"]) for r in records] == [
        (other["id"], other["modified"]),
        (v1["id"], v3["modified"]),
    ]
    assert all(r["media_type"] == "application/stix+json;version=2.1" for r in records)
    assert records[0]["date_added"] < records[1]["date_added"]


def test_delete_an_object(setup: tuple[TaxiiWorld, Publisher, str, BearerAuth]) -> None:
    world, peer, collection_id, auth = setup
    collection = Collection(world.collection_url(collection_id), auth=auth)
    v1 = peer.sign(indicator(peer.identity_ref, n=1))
    v2 = peer.sign(
        indicator(peer.identity_ref, stix_id=v1["id"], modified=BASE_TIME + timedelta(hours=1))
    )
    kept = peer.sign(indicator(peer.identity_ref, n=2))
    collection.add_objects({"objects": [v1, v2, kept]})

    collection.delete_object(v1["id"], version=v2["modified"])
    # The first version is now the last one: served by default.
    assert collection.get_object(v1["id"])["objects"] == [v1]
    collection.delete_object(v1["id"])
    assert _ids(collection.get_objects()) == [kept["id"]]
    http = world.http(auth.secret)
    gone = http.get(world.collection_url(collection_id) + f"objects/{v1['id']}/")
    assert gone.status_code == 404
    assert gone.headers["content-type"] == "application/taxii+json;version=2.1"
    assert gone.json()["http_status"] == "404"
