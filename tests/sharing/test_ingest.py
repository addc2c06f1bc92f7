"""Ingest: what is stored, what is quarantined and why, date_added, concurrency."""

from __future__ import annotations

import itertools
import json
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from panacea.identity.audit_records import AuditEntry
from panacea.sharing.quarantine import QuarantinedObject
from panacea.sharing.signing import SIGNATURE_PROPERTY
from panacea.sharing.taxii.ingest import add_objects
from panacea.sharing.taxii.media import TAXII_MEDIA_TYPE
from panacea.sharing.taxii.models import TaxiiCollection, TaxiiObject
from tests.sharing.taxii_world import BASE_TIME, Publisher, TaxiiWorld, indicator, observable


def _post(world: TaxiiWorld, secret: str, collection_id: str, objects: list[Any]) -> Any:
    answer = world.http(secret).post(
        world.collection_url(collection_id) + "objects/",
        data=json.dumps({"objects": objects}),
        headers={"Content-Type": TAXII_MEDIA_TYPE},
    )
    assert answer.status_code == 202, answer.text
    return answer.json()


def _served_ids(world: TaxiiWorld, secret: str, collection_id: str) -> list[str]:
    envelope = world.http(secret).get(
        world.collection_url(collection_id) + "objects/", params={"match[version]": "all"}
    )
    return [o["id"] for o in envelope.json().get("objects", [])]


def _quarantine(world: TaxiiWorld, secret: str, org: int) -> list[dict[str, Any]]:
    answer = world.http(secret).get(f"{world.base_url}/api/v1/orgs/{org}/sharing/quarantine")
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def test_an_envelope_altered_in_transit_is_quarantined(world: TaxiiWorld, peer: Publisher) -> None:
    org = world.organisation("Hospital A")
    collection_id = world.collection(org)
    secret = world.token(org)
    signed = peer.indicators(3)
    # A man in the middle changes the address of one indicator; the rest is untouched.
    wire = json.loads(json.dumps({"objects": signed}))
    wire["objects"][1]["pattern"] = "[ipv4-addr:value = '192.0.2.66']"
    status = _post(world, secret, collection_id, wire["objects"])

    assert (status["success_count"], status["failure_count"]) == (2, 1)
    [failure] = status["failures"]
    assert failure["id"] == signed[1]["id"]
    assert failure["message"].startswith("quarantined (bad-signature)")
    assert _served_ids(world, secret, collection_id) == [signed[0]["id"], signed[2]["id"]]
    [kept] = _quarantine(world, secret, org)
    assert (kept["reason"], kept["stix_id"], kept["collection_id"]) == (
        "bad-signature",
        signed[1]["id"],
        collection_id,
    )
    assert json.loads(kept["body"]) == wire["objects"][1]
    with world.sessions() as s:
        actions = list(s.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars())
    assert actions[-2:] == ["sharing.ingested", "sharing.quarantined"]


def test_a_tampered_object_amid_a_large_envelope(world: TaxiiWorld, peer: Publisher) -> None:
    """One envelope of 1,000 objects (two lookup chunks, one bulk write), one of them altered
    in the middle: it alone is quarantined; the others are stored in order, as they were sent."""
    org = world.organisation("Hospital A")
    collection_id = world.collection(org)
    secret = world.token(org)
    signed = peer.indicators(1000)
    wire = json.loads(json.dumps(signed))
    wire[600]["confidence"] = 5
    status = _post(world, secret, collection_id, wire)

    assert (status["success_count"], status["failure_count"]) == (999, 1)
    [failure] = status["failures"]
    assert failure["id"] == signed[600]["id"]
    assert failure["message"].startswith("quarantined (bad-signature)")
    [kept] = _quarantine(world, secret, org)
    assert (kept["reason"], json.loads(kept["body"])) == ("bad-signature", wire[600])
    with world.sessions() as s:
        rows = s.execute(
            select(TaxiiObject.body, TaxiiObject.date_added).order_by(TaxiiObject.id)
        ).all()
    assert [json.loads(body) for body, _ in rows] == signed[:600] + signed[601:]
    assert all(a < b for (_, a), (_, b) in itertools.pairwise(rows))


def test_every_refusal_has_its_reason(world: TaxiiWorld, peer: Publisher) -> None:
    org = world.organisation("Hospital A")
    collection_id = world.collection(org)
    secret = world.token(org)
    stranger = Publisher.new()  # not registered
    other_peer = Publisher.new()
    world.trust(other_peer)
    unsigned = indicator(peer.identity_ref, n=1)
    malformed = {**peer.sign(indicator(peer.identity_ref, n=2)), SIGNATURE_PROPERTY: "abc.def.ghi"}
    unknown = stranger.sign(indicator(stranger.identity_ref, n=3))
    # Signed by a trusted key, but not the key of the publisher it names.
    impostor = other_peer.sign(indicator(peer.identity_ref, n=4))
    invalid = peer.sign({**indicator(peer.identity_ref, n=5), "spec_version": "2.0"})
    not_an_object = ["indicator"]
    good = peer.sign(indicator(peer.identity_ref, n=6))
    status = _post(
        world,
        secret,
        collection_id,
        [unsigned, malformed, unknown, impostor, invalid, not_an_object, good],
    )
    assert (status["total_count"], status["success_count"]) == (7, 1)
    reasons = [q["reason"] for q in _quarantine(world, secret, org)]
    assert reasons == [
        "unsigned",
        "malformed-signature",
        "unknown-key",
        "wrong-publisher",
        "invalid",
        "invalid",
    ]
    assert _served_ids(world, secret, collection_id) == [good["id"]]


def test_replays_are_quarantined_and_resends_are_harmless(
    world: TaxiiWorld, peer: Publisher
) -> None:
    org = world.organisation("Hospital A")
    collection_id = world.collection(org)
    secret = world.token(org)
    v0 = peer.sign(indicator(peer.identity_ref, n=1))
    v1, v2 = (
        peer.sign(
            indicator(peer.identity_ref, stix_id=v0["id"], modified=BASE_TIME + timedelta(hours=h))
        )
        for h in (1, 2)
    )
    assert _post(world, secret, collection_id, [v1, v2])["success_count"] == 2

    ip = peer.sign(observable(9))
    assert _post(world, secret, collection_id, [ip])["success_count"] == 1
    # The same objects again (a retry), even the older v1: accepted, stored once.
    again = _post(world, secret, collection_id, [v2, v1, ip])
    assert again["success_count"] == 3
    assert {s["message"] for s in again["successes"]} == {"already stored with the same content"}
    # v0, never stored and older than the newest stored version: a replay.
    # The same id and version as v2, other content, validly signed: a conflicting replay.
    forged = peer.sign({**v2, "name": "benign"})
    refused = _post(world, secret, collection_id, [v0, forged])
    assert refused["failure_count"] == 2
    assert [q["reason"] for q in _quarantine(world, secret, org)] == ["replay", "replay"]
    assert "older than the stored version" in refused["failures"][0]["message"]
    assert "already stored with other content" in refused["failures"][1]["message"]
    with world.sessions() as s:
        rows = s.execute(
            select(TaxiiObject.version, TaxiiObject.is_latest).where(
                TaxiiObject.stix_type == "indicator"
            )
        ).all()
        observables = s.execute(select(TaxiiObject.id).where(TaxiiObject.stix_id == ip["id"]))
        assert len(observables.all()) == 1
    assert sorted(rows) == [(v1["modified"], False), (v2["modified"], True)]


def test_date_added_strictly_increases_with_the_key(world: TaxiiWorld, peer: Publisher) -> None:
    org = world.organisation("Hospital A")
    collection_id = world.collection(org)
    secret = world.token(org)
    for _ in range(3):
        _post(world, secret, collection_id, peer.indicators(40))
    with world.sessions() as s:
        added = list(s.execute(select(TaxiiObject.date_added).order_by(TaxiiObject.id)).scalars())
    assert len(added) == 120
    assert all(a < b for a, b in itertools.pairwise(added))


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_parallel_writers_keep_the_order(world: TaxiiWorld, peer: Publisher) -> None:
    """Writers in parallel on PostgreSQL: the collection lock keeps keys and dates in step."""
    org = world.organisation("Hospital A")
    collection_id = world.collection(org)
    access = world.access(org)
    batches = [peer.indicators(30) for _ in range(6)]
    errors: list[BaseException] = []

    def write(objects: list[dict[str, Any]]) -> None:
        try:
            with world.sessions.begin() as s:
                collection = s.execute(
                    select(TaxiiCollection).where(TaxiiCollection.uuid == collection_id)
                ).scalar_one()
                add_objects(s, access, collection, objects)
        except BaseException as e:  # reported below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=write, args=(b,)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    with world.sessions() as s:
        rows = s.execute(select(TaxiiObject.date_added).order_by(TaxiiObject.id)).scalars()
        added = list(rows)
        quarantined = s.execute(select(QuarantinedObject.id)).all()
    assert len(added) == 180
    assert not quarantined
    assert all(a < b for a, b in itertools.pairwise(added))
