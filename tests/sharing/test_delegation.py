"""Publishing through a hub: the hub re-publishes in its own name and the source disappears."""

from __future__ import annotations

import json
from typing import Any

import pytest
from joserfc.jwk import OKPKey

from panacea.sharing.anonymise import Anonymiser
from panacea.sharing.delegation import ORIGIN_PROPERTY, republish_as_hub
from panacea.sharing.errors import PolicyError, SharingError
from panacea.sharing.policy import marking_of
from panacea.sharing.signing import (
    SIGNATURE_PROPERTY,
    SignerKey,
    TrustedKey,
    key_id,
    sign_object,
    verify_object,
)
from panacea.sharing.tlp import TLP_IDS, Tlp

SOURCE = "identity--7d9c1a52-3b4e-4f60-8a71-92b3c4d5e6f7"
HUB = "identity--c0ffee00-1234-4abc-9def-0123456789ab"
HUB_KEY = bytes.fromhex("11" * 32)
OTHER_HUB_KEY = bytes.fromhex("22" * 32)
MITRE = "identity--c78cb6e5-0c4b-4611-8297-d1b8b55e40b5"
ATTACK_PATTERN = "attack-pattern--a62a8db3-f23a-4d8f-afd6-9dbc77e7813b"
CREATED = "2024-03-20T10:00:00.000Z"
GREEN = [TLP_IDS[Tlp.GREEN]]


def source_objects(marking: list[str] | None = None) -> list[dict[str, Any]]:
    refs = GREEN if marking is None else marking
    common = {
        "spec_version": "2.1",
        "created": CREATED,
        "modified": CREATED,
        "created_by_ref": SOURCE,
    }
    return [
        {
            "type": "identity",
            "spec_version": "2.1",
            "id": SOURCE,
            "created": CREATED,
            "modified": CREATED,
            "name": "Ospedale San Marco CERT",
            "identity_class": "organization",
        },
        {
            **common,
            "type": "report",
            "id": "report--1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
            "name": "Ospedale San Marco: ransomware on PC-CARDIO-112",
            "description": "Ospedale San Marco saw 192.168.30.112 beacon to 91.215.85.17.",
            "published": CREATED,
            "object_refs": [
                "indicator--2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e",
                "relationship--3c4d5e6f-7a8b-4c9d-8e1f-2a3b4c5d6e7f",
                ATTACK_PATTERN,
            ],
            "external_references": [
                {"source_name": "Ospedale San Marco ticketing", "external_id": "INC-4471"}
            ],
            "object_marking_refs": refs,
            SIGNATURE_PROPERTY: "eyJhbGciOiJFZDI1NTE5Iiwia2lkIjoic291cmNlIn0..c2ln",
        },
        {
            **common,
            "type": "indicator",
            "id": "indicator--2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e",
            "pattern": "[ipv4-addr:value = '91.215.85.17']",
            "pattern_type": "stix",
            "valid_from": CREATED,
            "object_marking_refs": refs,
        },
        {
            **common,
            "type": "relationship",
            "id": "relationship--3c4d5e6f-7a8b-4c9d-8e1f-2a3b4c5d6e7f",
            "relationship_type": "indicates",
            "source_ref": "indicator--2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e",
            "target_ref": ATTACK_PATTERN,
            "object_marking_refs": refs,
        },
        {
            "type": "attack-pattern",
            "spec_version": "2.1",
            "id": ATTACK_PATTERN,
            "created": "2020-03-02T19:05:18.137Z",
            "modified": "2023-10-01T02:28:45.147Z",
            "created_by_ref": MITRE,
            "name": "Spearphishing Attachment",
            "external_references": [{"source_name": "mitre-attack", "external_id": "T1566.001"}],
            "object_marking_refs": [TLP_IDS[Tlp.CLEAR]],
        },
    ]


def republish(objects: list[dict[str, Any]], key: bytes = HUB_KEY, **kwargs: Any) -> Any:
    return republish_as_hub(
        objects,
        hub_identity_ref=HUB,
        source_identity_ref=SOURCE,
        source_names=["Ospedale San Marco", "Ospedale San Marco CERT"],
        anonymiser=Anonymiser(key),
        **kwargs,
    )


def test_the_hub_publishes_in_its_own_name_and_the_source_disappears() -> None:
    result = republish(source_objects())
    exported = json.dumps(result.objects, ensure_ascii=False)
    for trace in (SOURCE, "San Marco", "san marco", "192.168.30.112", "PC-CARDIO-112", "c291cmNl"):
        assert trace.casefold() not in exported.casefold(), trace
    for kept in ("91.215.85.17", "T1566.001", ATTACK_PATTERN, MITRE, TLP_IDS[Tlp.GREEN]):
        assert kept in exported
    assert [o["type"] for o in result.objects] == [
        "report",
        "indicator",
        "relationship",
        "attack-pattern",
    ]
    report, indicator, relationship, attack = result.objects
    assert {o["created_by_ref"] for o in (report, indicator, relationship)} == {HUB}
    assert attack["created_by_ref"] == MITRE
    assert attack["id"] == ATTACK_PATTERN
    # The source's objects got new ids; references follow, so the batch still holds together.
    assert indicator["id"] != "indicator--2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e"
    assert relationship["source_ref"] == indicator["id"]
    assert relationship["target_ref"] == ATTACK_PATTERN
    assert report["object_refs"] == [indicator["id"], relationship["id"], ATTACK_PATTERN]
    assert result.id_map["indicator--2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e"] == indicator["id"]
    assert SOURCE not in result.id_map
    assert all(marking_of(o) in (Tlp.GREEN, Tlp.CLEAR) for o in result.objects)


def test_the_origin_pseudonym_is_stable_per_hub_and_optional() -> None:
    first = republish(source_objects()).objects
    second = republish(source_objects()).objects
    elsewhere = republish(source_objects(), key=OTHER_HUB_KEY).objects
    origins = {o.get(ORIGIN_PROPERTY) for o in first if o["created_by_ref"] == HUB}
    assert len(origins) == 1
    assert next(iter(origins)).startswith("[org-")
    assert [o.get(ORIGIN_PROPERTY) for o in first] == [o.get(ORIGIN_PROPERTY) for o in second]
    assert first[0][ORIGIN_PROPERTY] != elsewhere[0][ORIGIN_PROPERTY]
    assert [o["id"] for o in first] == [o["id"] for o in second]  # new versions keep their id
    assert first[0]["id"] != elsewhere[0]["id"]
    hidden = republish(source_objects(), disclose_origin_pseudonym=False).objects
    assert all(ORIGIN_PROPERTY not in o for o in hidden)


def test_the_hub_signs_with_its_own_key() -> None:
    private = OKPKey.generate_key("Ed25519")
    public = OKPKey.import_key(private.as_dict(private=False))
    result = republish(source_objects(), signer=SignerKey(identity_ref=HUB, key=private))
    trusted = TrustedKey(kid=key_id(public), identity_ref=HUB, key=public)
    for obj in result.objects[:3]:
        verify_object(obj, trusted)
    assert result.objects[0][SIGNATURE_PROPERTY] != source_objects()[1][SIGNATURE_PROPERTY]
    with pytest.raises(SharingError, match="signing key"):
        republish(source_objects(), signer=SignerKey(identity_ref=SOURCE, key=private))


def test_a_signed_source_object_is_re_signed_not_forwarded_with_the_source_key() -> None:
    source_key = OKPKey.generate_key("Ed25519")
    signed = [
        sign_object(o, SignerKey(identity_ref=SOURCE, key=source_key)) for o in source_objects()
    ]
    out = republish(signed)
    assert all(SIGNATURE_PROPERTY not in o for o in out.objects)
    assert key_id(source_key) not in json.dumps(out.objects)


@pytest.mark.parametrize(
    "marking",
    [[TLP_IDS[Tlp.RED]], [TLP_IDS[Tlp.AMBER_STRICT]], [], [TLP_IDS[Tlp.GREEN], TLP_IDS[Tlp.RED]]],
)
def test_what_the_hub_may_not_pass_on_is_refused(marking: list[str]) -> None:
    with pytest.raises(PolicyError, match="the hub may not pass it on"):
        republish(source_objects(marking))


@pytest.mark.parametrize("level", [Tlp.AMBER, Tlp.GREEN, Tlp.CLEAR])
def test_amber_green_and_clear_may_be_re_published(level: Tlp) -> None:
    assert len(republish(source_objects([TLP_IDS[level]])).objects) == 4


def test_identities_must_be_identities() -> None:
    with pytest.raises(SharingError, match="not an identity id"):
        republish_as_hub(
            source_objects(),
            hub_identity_ref="report--x",
            source_identity_ref=SOURCE,
            source_names=[],
            anonymiser=Anonymiser(HUB_KEY),
        )


def test_internal_observables_of_the_source_are_withheld() -> None:
    internal: dict[str, Any] = {
        "type": "ipv4-addr",
        "spec_version": "2.1",
        "id": "ipv4-addr--5d9b6a3e-1c2f-5e4d-8a7b-6c5d4e3f2a1b",
        "value": "192.168.30.112",
        "object_marking_refs": GREEN,
    }
    objects = source_objects()
    objects[1]["object_refs"].append(internal["id"])
    result = republish([*objects, internal])
    assert result.withheld == {internal["id"]}
    assert internal["id"] not in json.dumps(result.objects)
    assert len(result.objects[0]["object_refs"]) == 3
