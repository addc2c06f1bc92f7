"""Organisation keys, publishing signed objects, hubs re-publishing, peer key registry."""

from __future__ import annotations

import json
from typing import Any

import pytest
from joserfc.jwk import OKPKey
from sqlalchemy import select

from panacea.identity.audit_records import AuditEntry
from panacea.identity.key_rotation import rotate_data_key
from panacea.sharing.errors import SharingError, SigningError, SigningKeyError, VerificationError
from panacea.sharing.key_records import SigningKeyRecord
from panacea.sharing.keys import (
    KeyRing,
    organisation_identity,
    public_key_of,
    register_peer_key,
    revoke_peer_key,
    rotate_signing_key,
    signer_of,
)
from panacea.sharing.publishing import publish, republish
from panacea.sharing.signing import SIGNATURE_PROPERTY, signature_kid, verify_object
from panacea.sharing.taxii.media import TAXII_MEDIA_TYPE
from panacea.sharing.taxii.models import TaxiiObject
from tests.sharing.taxii_world import Publisher, TaxiiWorld, indicator, observable


def _verify_all(world: TaxiiWorld, objects: list[dict[str, Any]]) -> None:
    with world.sessions() as s:
        ring = KeyRing(s)
        for obj in objects:
            key = ring.find(signature_kid(obj))
            assert key is not None
            verify_object(obj, key)


def test_organisation_key_is_sealed_and_exported(world: TaxiiWorld) -> None:
    org = world.organisation("Hospital A")
    with world.sessions.begin() as s:
        identity = organisation_identity(s, org)
        view = public_key_of(s, org)
        record = s.execute(select(SigningKeyRecord)).scalar_one()
        sealed = record.private_key_encrypted
    assert identity.startswith("identity--")
    assert view.identity_ref == identity
    assert view.jwk["kty"] == "OKP"
    assert view.jwk["crv"] == "Ed25519"
    assert "d" not in view.jwk
    assert view.kid == OKPKey.import_key(view.jwk).thumbprint()
    assert b"PRIVATE KEY" not in sealed
    with world.sessions() as s:
        actions = set(s.execute(select(AuditEntry.action)).scalars())
    assert "sharing.signing_key_created" in actions
    # The key survives a data-key rotation (its column is registered as sealed).
    with world.sessions.begin() as s:
        rotate_data_key(s, actor="test")
    with world.sessions() as s:
        assert signer_of(s, org).kid == view.kid


def test_publish_signs_stores_and_serves(world: TaxiiWorld) -> None:
    org = world.organisation("Hospital A")
    collection_id = world.collection(org)
    unattributed = {k: v for k, v in indicator("identity--x").items() if k != "created_by_ref"}
    with world.sessions.begin() as s:
        identity = organisation_identity(s, org)
        signed = publish(
            s,
            organisation_id=org,
            collection_id=collection_id,
            objects=[unattributed, indicator(identity, n=2), observable(4)],
            actor="analyst@hospital.example",
        )
    assert [o.get("created_by_ref") for o in signed] == [identity, identity, None]
    _verify_all(world, signed)
    served = world.http(world.token(org)).get(world.collection_url(collection_id) + "objects/")
    assert served.json()["objects"] == signed
    with world.sessions() as s:
        publishers = set(s.execute(select(TaxiiObject.publisher)).scalars())
        actions = list(s.execute(select(AuditEntry.action)).scalars())
    assert publishers == {identity}
    assert "sharing.published" in actions

    other = Publisher.new()
    with world.sessions.begin() as s, pytest.raises(SigningError, match="re-publish"):
        publish(
            s,
            organisation_id=org,
            collection_id=collection_id,
            objects=[indicator(other.identity_ref)],
        )
    stranger = world.organisation("Hospital B")
    with world.sessions.begin() as s, pytest.raises(SharingError, match="no collection"):
        publish(s, organisation_id=stranger, collection_id=collection_id, objects=[])


def test_rotation_keeps_identity_and_old_signatures(world: TaxiiWorld) -> None:
    org = world.organisation("Hospital A")
    collection_id = world.collection(org)
    with world.sessions.begin() as s:
        before = publish(
            s, organisation_id=org, collection_id=collection_id, objects=[observable(1)]
        )
        old_kid = signer_of(s, org).kid
        rotate_signing_key(s, org, actor="admin")
        after = publish(
            s, organisation_id=org, collection_id=collection_id, objects=[observable(2)]
        )
        assert signer_of(s, org).kid != old_kid
    assert signature_kid(before[0]) == old_kid
    _verify_all(world, before + after)


def test_hub_republishes_after_verifying(world: TaxiiWorld, peer: Publisher) -> None:
    hub_org = world.organisation("Regional hub")
    collection_id = world.collection(hub_org)
    original = peer.sign(indicator(peer.identity_ref))
    with world.sessions.begin() as s:
        [resigned] = republish(
            s, organisation_id=hub_org, collection_id=collection_id, objects=[original]
        )
        hub_kid = signer_of(s, hub_org).kid
    assert resigned["created_by_ref"] == peer.identity_ref
    assert signature_kid(resigned) == hub_kid
    assert {k: v for k, v in resigned.items() if k != SIGNATURE_PROPERTY} == {
        k: v for k, v in original.items() if k != SIGNATURE_PROPERTY
    }
    tampered = {**peer.sign(indicator(peer.identity_ref, n=3)), "name": "changed"}
    with world.sessions.begin() as s, pytest.raises(VerificationError) as caught:
        republish(s, organisation_id=hub_org, collection_id=collection_id, objects=[tampered])
    assert caught.value.reason == "bad-signature"


def test_receivers_accept_hub_signatures_only_from_hubs(world: TaxiiWorld, peer: Publisher) -> None:
    org = world.organisation("Hospital A")
    collection_id = world.collection(org)
    secret = world.token(org)
    hub, relay = Publisher.new(), Publisher.new()
    world.trust(hub, may_republish=True)
    world.trust(relay)  # trusted for its own objects, not to re-sign others'
    via_hub = hub.sign(peer.sign(indicator(peer.identity_ref, n=1)))
    via_relay = relay.sign(peer.sign(indicator(peer.identity_ref, n=2)))
    answer = world.http(secret).post(
        world.collection_url(collection_id) + "objects/",
        data=json.dumps({"objects": [via_hub, via_relay]}),
        headers={"Content-Type": TAXII_MEDIA_TYPE},
    )
    status = answer.json()
    assert status["successes"] == [{"id": via_hub["id"], "version": via_hub["modified"]}]
    assert status["failures"][0]["message"].startswith("quarantined (wrong-publisher)")


def test_peer_key_registry(world: TaxiiWorld) -> None:
    org = world.organisation("Hospital A")
    publisher = Publisher.new()
    jwk = publisher.key.as_dict(private=False)
    with world.sessions.begin() as s:
        with pytest.raises(SigningKeyError, match="not a STIX identity"):
            register_peer_key(s, identity_ref="indicator--x", jwk=jwk)
        with pytest.raises(SigningKeyError, match="private part"):
            register_peer_key(
                s, identity_ref=publisher.identity_ref, jwk=publisher.key.as_dict(private=True)
            )
        register_peer_key(s, identity_ref=publisher.identity_ref, jwk=jwk, label="CERT")
        with pytest.raises(SigningKeyError, match="already registered"):
            register_peer_key(s, identity_ref=publisher.identity_ref, jwk=jwk)
        own = public_key_of(s, org).jwk
        with pytest.raises(SigningKeyError, match="already registered"):
            register_peer_key(s, identity_ref=publisher.identity_ref, jwk=own)
        assert KeyRing(s).find(publisher.signer.kid) is not None
        revoke_peer_key(s, publisher.signer.kid, actor="admin")
        assert KeyRing(s).find(publisher.signer.kid) is None
        with pytest.raises(SigningKeyError, match="no peer key"):
            revoke_peer_key(s, "nope")


def test_api_routes(world: TaxiiWorld) -> None:
    org = world.organisation("Hospital A")
    http = world.http(world.token(org))
    base = f"{world.base_url}/api/v1/orgs/{org}/sharing"
    created = http.post(f"{base}/collections", json={"title": "Ransomware"})
    assert created.status_code == 201, created.text
    listed = http.get(f"{base}/collections").json()
    assert [c["id"] for c in listed] == [created.json()["id"]]
    key = http.get(f"{base}/signing-key").json()
    assert key["jwk"]["kid"] == key["kid"]
    assert http.get(f"{base}/quarantine").json() == {"items": [], "next": None}
