"""Structural checks of received STIX objects (panacea.sharing.validation)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from panacea.sharing.errors import StixError
from panacea.sharing.validation import _instant, _is_id_of, check_object, parse_timestamp
from tests.sharing.taxii_world import indicator, observable

PUBLISHER = "identity--7b0f3a39-6b4e-4e5e-9a41-0d7c0f6b1f2a"
TLP_GREEN = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"


def test_facts_of_valid_objects() -> None:
    facts = check_object(
        {**indicator(PUBLISHER), "modified": "2026-01-05T09:30:00.123456Z"}
        | {"object_marking_refs": [TLP_GREEN]}
    )
    assert (facts.stix_type, facts.created_by_ref, facts.version) == (
        "indicator",
        PUBLISHER,
        "2026-01-05T09:30:00.123456Z",
    )
    assert facts.version_at == datetime(2026, 1, 5, 9, 30, 0, 123456, tzinfo=UTC)
    address = check_object(observable(1))
    assert (address.version, address.version_at, address.created_by_ref) == (None, None, None)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"modified": "2026-02-30T00:00:00Z"}, "not a valid date"),
        ({"modified": "2026-01-05 08:00:00Z"}, "not a STIX timestamp"),
        ({"modified": "2026-01-05T08:00:00.1234567Z"}, "not a STIX timestamp"),
        ({"modified": 1767600000}, "not a STIX timestamp"),
        ({"created": "2026-01-06T00:00:00Z"}, "earlier than 'created'"),
        ({"created_by_ref": "organization--7b0f3a39-6b4e-4e5e-9a41-0d7c0f6b1f2a"}, "identity--"),
        ({"created_by_ref": "identity--7B0F3A39-6B4E-4E5E-9A41-0D7C0F6B1F2A"}, "identity--"),
        ({"object_marking_refs": [TLP_GREEN, PUBLISHER]}, "marking-definition ids"),
        ({"object_marking_refs": [TLP_GREEN, 7]}, "marking-definition ids"),
    ],
)
def test_refusals_name_the_property(change: dict[str, Any], message: str) -> None:
    valid = {**indicator(PUBLISHER), "object_marking_refs": [TLP_GREEN]}
    # The valid object first: what was accepted once (and remembered) is no reason to accept
    # a refused value later, and a refused value stays refused when it comes again.
    check_object(valid)
    for _ in range(2):
        with pytest.raises(StixError, match=message):
            check_object({**valid, **change})
    check_object(valid)


def test_timestamps_are_utc_instants() -> None:
    assert parse_timestamp("2026-01-05T08:00:00Z", what="t") == datetime(2026, 1, 5, 8, tzinfo=UTC)
    assert parse_timestamp("2026-01-05T08:00:00.5Z", what="t").microsecond == 500000
    with pytest.raises(StixError, match="t is not a STIX timestamp"):
        parse_timestamp(None, what="t")


def test_long_values_are_refused_without_being_remembered() -> None:
    """The parse caches hold short strings only: a sender cannot fill memory with huge ones."""
    too_long = {
        "created_by_ref": PUBLISHER + "0" * 100_000,
        "object_marking_refs": [TLP_GREEN + "0" * 100_000],
        "modified": "2026-01-05T08:00:00Z" + " " * 100_000,
    }
    for name, value in too_long.items():
        remembered = (_instant.cache_info().currsize, _is_id_of.cache_info().currsize)
        with pytest.raises(StixError, match=name):
            check_object({**indicator(PUBLISHER), name: value})
        assert (_instant.cache_info().currsize, _is_id_of.cache_info().currsize) == remembered
