"""TLP 2.0 marking definitions: the five published objects, exactly, and nothing of TLP 1.0."""

from __future__ import annotations

import json
import re

import pytest
import stix2

from panacea.sharing.errors import MarkingError
from panacea.sharing.tlp import (
    TLP1_IDS,
    TLP_EXTENSION_DEFINITION,
    TLP_EXTENSION_ID,
    TLP_IDS,
    Tlp,
    check_marking_definition,
    marking_definition,
    most_restrictive,
    parse_tlp,
    tlp_of_marking_ref,
)
from tests.sharing.stix_checks import assert_valid, keep_validator_offline

# Written out here, independently of the module, from the extension's JSON schema
# (oasis-open/cti-stix-common-objects, extension-definition-specifications/tlp-2.0), whose
# "definitions" pin each level to one id and one name.
PUBLISHED = {
    "clear": ("marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487", "TLP:CLEAR"),
    "green": ("marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb", "TLP:GREEN"),
    "amber": ("marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421", "TLP:AMBER"),
    "amber+strict": (
        "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        "TLP:AMBER+STRICT",
    ),
    "red": ("marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1", "TLP:RED"),
}


@pytest.mark.parametrize("level", list(Tlp))
def test_each_marking_is_the_published_object(level: Tlp) -> None:
    marking_id, name = PUBLISHED[level.value]
    assert marking_definition(level) == {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": marking_id,
        "created": "2022-10-01T00:00:00.000Z",
        "name": name,
        "extensions": {
            "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
                "extension_type": "property-extension",
                "tlp_2_0": level.value,
            }
        },
    }
    assert level.marking_id == marking_id
    assert level.label == name


@pytest.mark.parametrize("level", list(Tlp))
def test_each_marking_is_valid_stix_2_1(level: Tlp) -> None:
    # Strict parsing (no custom content allowed): the extension is a registered-style
    # property extension that stix2 accepts on marking definitions.
    parsed = stix2.parse(json.dumps(marking_definition(level)), allow_custom=False)
    assert isinstance(parsed, stix2.v21.MarkingDefinition)
    assert parsed.id == TLP_IDS[level]
    assert json.loads(parsed.serialize()) == marking_definition(level)
    # A marking definition with "definition_type: tlp" would be TLP 1.0: none here.
    assert "definition_type" not in parsed
    assert "definition" not in parsed


def test_the_extension_definition_is_valid_stix_2_1() -> None:
    parsed = stix2.parse(json.dumps(dict(TLP_EXTENSION_DEFINITION)), allow_custom=False)
    assert (
        parsed.id
        == TLP_EXTENSION_ID
        == "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
    )
    assert list(parsed.extension_types) == ["property-extension"]


def test_ids_are_distinct_uuids_and_none_is_a_stix2_library_tlp1_constant() -> None:
    ids = list(TLP_IDS.values())
    assert len(set(ids)) == 5
    for marking_id in ids:
        assert re.fullmatch(
            r"marking-definition--[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", marking_id
        )
    tlp1_library = {stix2.TLP_WHITE.id, stix2.TLP_GREEN.id, stix2.TLP_AMBER.id, stix2.TLP_RED.id}
    assert tlp1_library.isdisjoint(ids)
    # ...but they are recognised on ingest, mapped to their TLP 2.0 successors.
    assert set(TLP1_IDS) == tlp1_library
    assert tlp_of_marking_ref(stix2.TLP_WHITE.id) is Tlp.CLEAR
    assert tlp_of_marking_ref(stix2.TLP_AMBER.id) is Tlp.AMBER
    assert tlp_of_marking_ref(stix2.TLP_RED.id) is Tlp.RED


def test_marking_definitions_are_fresh_copies() -> None:
    first = marking_definition(Tlp.RED)
    first["name"] = "TLP:CLEAR"
    first["extensions"][TLP_EXTENSION_ID]["tlp_2_0"] = "clear"
    assert marking_definition(Tlp.RED)["name"] == "TLP:RED"
    assert marking_definition(Tlp.RED)["extensions"][TLP_EXTENSION_ID]["tlp_2_0"] == "red"


def test_rank_orders_from_clear_to_red() -> None:
    assert [t.rank for t in (Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED)] == [
        0,
        1,
        2,
        3,
        4,
    ]
    assert most_restrictive([Tlp.GREEN, Tlp.RED, Tlp.AMBER]) is Tlp.RED
    assert most_restrictive([Tlp.AMBER, Tlp.AMBER_STRICT]) is Tlp.AMBER_STRICT
    assert most_restrictive([]) is None


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("amber+strict", Tlp.AMBER_STRICT),
        ("TLP:AMBER+STRICT", Tlp.AMBER_STRICT),
        ("amber_strict", Tlp.AMBER_STRICT),
        (" Tlp:Red ", Tlp.RED),
        ("clear", Tlp.CLEAR),
    ],
)
def test_parse_tlp(text: str, level: Tlp) -> None:
    assert parse_tlp(text) is level


@pytest.mark.parametrize("text", ["white", "TLP:WHITE", "amber-strict", "", "orange"])
def test_parse_tlp_refuses_unknown_levels(text: str) -> None:
    with pytest.raises(MarkingError, match="unknown TLP level"):
        parse_tlp(text)


@pytest.mark.parametrize("level", list(Tlp))
def test_a_received_published_definition_is_accepted(level: Tlp) -> None:
    assert check_marking_definition(marking_definition(level)) is level


def test_a_definition_with_another_id_is_not_tlp() -> None:
    custom = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": "marking-definition--2c5f1e4b-0000-4000-8000-000000000001",
        "created": "2024-01-01T00:00:00.000Z",
        "name": "Copyright",
        "definition_type": "statement",
        "definition": {"statement": "Copyright 2024 Riverside"},
    }
    assert check_marking_definition(custom) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "TLP:CLEAR"),
        ("created", "2017-01-20T00:00:00.000Z"),
        (
            "extensions",
            {TLP_EXTENSION_ID: {"extension_type": "property-extension", "tlp_2_0": "clear"}},
        ),
        ("extensions", {}),
    ],
)
def test_a_forged_definition_under_a_reserved_id_is_refused(field: str, value: object) -> None:
    forged = marking_definition(Tlp.RED)
    forged[field] = value
    with pytest.raises(MarkingError, match="e828b379"):
        check_marking_definition(forged)


def test_a_tlp2_id_with_a_tlp1_definition_is_refused() -> None:
    forged = marking_definition(Tlp.AMBER)
    forged["definition_type"] = "tlp"
    forged["definition"] = {"tlp": "white"}
    with pytest.raises(MarkingError, match=r"TLP 1\.0"):
        check_marking_definition(forged)


def test_check_refuses_something_that_is_not_a_marking_definition() -> None:
    with pytest.raises(MarkingError, match="not a marking-definition"):
        check_marking_definition({"type": "indicator", "id": TLP_IDS[Tlp.RED]})


def test_the_definitions_pass_the_oasis_validator_strictly(monkeypatch: pytest.MonkeyPatch) -> None:
    keep_validator_offline(monkeypatch)
    bundle = {
        "type": "bundle",
        "id": "bundle--6b0e7c1a-2f3d-4e5a-9b8c-7d6e5f4a3b2c",
        "objects": [dict(TLP_EXTENSION_DEFINITION)] + [marking_definition(t) for t in Tlp],
    }
    assert_valid(bundle)
