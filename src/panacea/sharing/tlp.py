"""TLP 2.0 as STIX 2.1 data markings: the five fixed marking-definition objects.

FIRST's Traffic Light Protocol 2.0 (https://www.first.org/tlp/) is expressed in STIX 2.1 by
the OASIS CTI TC's ``tlp_2_0`` *property extension* of ``marking-definition`` (extension
definition ``extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d``, published in
oasis-open/cti-stix-common-objects, ``extension-definition-specifications/tlp-2.0``). Every
producer uses the same five objects with the same fixed ids, so a marking is recognised by its
id alone; :func:`marking_definition` returns them exactly as published.

The ``TLP_WHITE``/``TLP_GREEN``/... constants of the ``stix2`` library are the TLP **1.0**
markings of STIX 2.1 section 7.2.1.4 (``definition_type: "tlp"``); they are never emitted
here. Their ids are *recognised* on ingest (:data:`TLP1_IDS`), mapped to the TLP 2.0 level
FIRST gives as their successor (WHITE became CLEAR; GREEN, AMBER and RED kept their meaning).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, Final

from panacea.sharing.errors import MarkingError

TLP_EXTENSION_ID: Final = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
# The date every one of the five published objects carries.
TLP_CREATED: Final = "2022-10-01T00:00:00.000Z"


class Tlp(StrEnum):
    """A TLP 2.0 level; the value is the ``tlp_2_0`` property of the extension."""

    CLEAR = "clear"
    GREEN = "green"
    AMBER = "amber"
    AMBER_STRICT = "amber+strict"
    RED = "red"

    @property
    def rank(self) -> int:
        """0 (CLEAR, anyone) to 4 (RED, named recipients only): higher is more restrictive."""
        return _RANK[self]

    @property
    def label(self) -> str:
        """The label as FIRST writes it: ``TLP:AMBER+STRICT``."""
        return f"TLP:{self.value.upper()}"

    @property
    def marking_id(self) -> str:
        """The fixed id of this level's marking-definition object."""
        return TLP_IDS[self]


_RANK: Final[dict[Tlp, int]] = {
    Tlp.CLEAR: 0,
    Tlp.GREEN: 1,
    Tlp.AMBER: 2,
    Tlp.AMBER_STRICT: 3,
    Tlp.RED: 4,
}

# The fixed ids, checked against the extension's JSON schema (its ``definitions`` pin each
# level to one id and one name) and the five published example objects.
TLP_IDS: Final[dict[Tlp, str]] = {
    Tlp.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    Tlp.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    Tlp.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    Tlp.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    Tlp.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
_BY_ID: Final[dict[str, Tlp]] = {marking_id: level for level, marking_id in TLP_IDS.items()}

# TLP 1.0 markings of STIX 2.1 section 7.2.1.4 (what stix2.TLP_* are), recognised on ingest.
TLP1_IDS: Final[dict[str, Tlp]] = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": Tlp.CLEAR,  # TLP:WHITE
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": Tlp.GREEN,
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": Tlp.AMBER,
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": Tlp.RED,
}

# The STIX extension-definition object of the TLP 2.0 extension, as OASIS publishes it.
TLP_EXTENSION_DEFINITION: Final[Mapping[str, Any]] = {
    "id": TLP_EXTENSION_ID,
    "type": "extension-definition",
    "spec_version": "2.1",
    "name": "TLP 2.0",
    "description": "This defines TLP 2.0 as a STIX extension",
    "created": TLP_CREATED,
    "modified": TLP_CREATED,
    "created_by_ref": "identity--b3bca3c2-1f3d-4b54-b44f-dac42c3a8f01",
    "schema": (
        "https://github.com/oasis-open/cti-stix-common-objects/tree/master/"
        "extension-definition-specifications/tlp-2.0"
    ),
    "version": "1.0.0",
    "extension_types": ["property-extension"],
}


def marking_definition(level: Tlp) -> dict[str, Any]:
    """The published marking-definition object of ``level`` (a fresh, mutable copy)."""
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP_IDS[level],
        "created": TLP_CREATED,
        "name": level.label,
        "extensions": {
            TLP_EXTENSION_ID: {"extension_type": "property-extension", "tlp_2_0": level.value},
        },
    }


def tlp_of_marking_ref(marking_ref: str) -> Tlp | None:
    """The TLP level a marking-definition id stands for (TLP 2.0, or TLP 1.0 mapped); else None."""
    return _BY_ID.get(marking_ref) or TLP1_IDS.get(marking_ref)


def parse_tlp(value: str) -> Tlp:
    """A level from ``amber+strict``, ``TLP:AMBER+STRICT`` or ``amber_strict`` (any case).

    Raises MarkingError for anything else (TLP 1.0's WHITE included: say CLEAR).
    """
    text = value.strip().lower().removeprefix("tlp:").replace("_", "+")
    try:
        return Tlp(text)
    except ValueError as e:
        names = ", ".join(level.value for level in Tlp)
        raise MarkingError(f"unknown TLP level {value!r}: one of {names}") from e


def check_marking_definition(obj: Mapping[str, Any]) -> Tlp | None:
    """Check a received marking-definition object that claims a TLP id; return its level.

    A marking definition whose id is one of the fixed TLP 2.0 ids must be the published
    object: a copy that says another level or name under a reserved id is a forgery (or a
    broken producer) and is refused with MarkingError, naming the id and the difference. A
    marking definition with any other id is not TLP: None.
    """
    marking_id = obj.get("id")
    if obj.get("type") != "marking-definition" or not isinstance(marking_id, str):
        raise MarkingError(f"not a marking-definition object: {obj.get('type')!r}")
    level = _BY_ID.get(marking_id)
    if level is None:
        return None
    expected = marking_definition(level)
    for key in ("name", "spec_version", "created"):
        if obj.get(key) != expected[key]:
            raise MarkingError(
                f"{marking_id} is the fixed id of {level.label} but its {key} is "
                f"{obj.get(key)!r}, not {expected[key]!r}"
            )
    extensions = obj.get("extensions")
    extension = extensions.get(TLP_EXTENSION_ID) if isinstance(extensions, Mapping) else None
    if extension != expected["extensions"][TLP_EXTENSION_ID]:
        raise MarkingError(
            f"{marking_id} is the fixed id of {level.label} but its tlp_2_0 extension is "
            f"{extension!r}"
        )
    if "definition" in obj or "definition_type" in obj:
        raise MarkingError(f"{marking_id} ({level.label}) must not carry a TLP 1.0 definition")
    return level


def most_restrictive(levels: Iterable[Tlp]) -> Tlp | None:
    """The most restrictive of an iterable of levels (None if it is empty)."""
    found: Tlp | None = None
    for level in levels:
        if found is None or level.rank > found.rank:
            found = level
    return found
