"""Strict structural checks of STIX 2.1 objects received as JSON, before anything is stored.

What TAXII ingest needs of an object, checked in a few microseconds (the ``stix2`` library's
full parse costs ~1 ms an object, too slow for bulk ingest): the common properties of STIX 2.1
section 3.2 (``type``, ``id``, ``spec_version``, ``created``, ``modified``, ``created_by_ref``,
``object_marking_refs``, ``revoked``, ``labels``, ``confidence``) with their types and forms.
Content that passes is stored as received (its signature covers it); an object that does not
is refused with a message naming the property.

Versions (STIX 2.1 section 3.6): an object's version is its ``modified`` timestamp, or its
``created`` one when it has no ``modified`` (marking definitions); cyber-observables have
neither and get no version (the store then uses the date it was added, as TAXII 2.1 says).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from panacea.sharing.errors import StixError

SPEC_VERSION: Final = "2.1"
# STIX 2.1 section 2.9 / 3.1: type names are 3-250 characters of a-z, 0-9 and hyphen.
_TYPE = r"[a-z0-9][a-z0-9-]{1,248}[a-z0-9]"
TYPE_PATTERN: Final = re.compile(rf"^{_TYPE}$")
# An identifier: type, "--", an RFC 4122 UUID (lower case: ids are compared as strings).
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
ID_PATTERN: Final = re.compile(rf"^({_TYPE})--{_UUID}$")
# RFC 3339 in UTC with "Z" (STIX 2.1 section 2.15); at most microseconds, which both databases
# keep (a finer timestamp could not be compared without loss).
TIMESTAMP_PATTERN: Final = re.compile(
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)"
    r"(\.\d{1,6})?Z$"
)
# STIX 2.1 section 6: the cyber-observable object types (no created/modified, no versions).
OBSERVABLE_TYPES: Final = frozenset(
    {
        "artifact",
        "autonomous-system",
        "directory",
        "domain-name",
        "email-addr",
        "email-message",
        "file",
        "ipv4-addr",
        "ipv6-addr",
        "mac-addr",
        "mutex",
        "network-traffic",
        "process",
        "software",
        "url",
        "user-account",
        "windows-registry-key",
        "x509-certificate",
    }
)
MARKING_DEFINITION: Final = "marking-definition"
# The longest strings the patterns above can match: a type, "--" and a UUID; a timestamp
# with microseconds.
_MAX_ID_CHARS: Final = 250 + 2 + 36
_MAX_TIMESTAMP_CHARS: Final = len("2026-01-05T08:00:00.000000Z")


@dataclass(frozen=True)
class StixFacts:
    """What the store indexes of a valid object."""

    stix_id: str
    stix_type: str
    spec_version: str
    # The version timestamp as the object writes it, and as an instant (None: an observable).
    version: str | None
    version_at: datetime | None
    created_by_ref: str | None


def parse_timestamp(value: Any, *, what: str) -> datetime:
    """A STIX timestamp as an aware UTC datetime. Raises StixError naming ``what``."""
    if not isinstance(value, str) or len(value) > _MAX_TIMESTAMP_CHARS:
        raise StixError(f"{what} is not a STIX timestamp (YYYY-MM-DDTHH:MM:SS[.ffffff]Z)")
    try:
        instant = _instant(value)
    except ValueError as e:
        raise StixError(f"{what} is not a valid date: {value}") from e
    if instant is None:
        raise StixError(f"{what} is not a STIX timestamp (YYYY-MM-DDTHH:MM:SS[.ffffff]Z)")
    return instant


# Bulk ingest parses the same few timestamps over and over (an object's created and modified
# are often equal, a batch shares them): each distinct string is parsed once. Bounded in
# entries and in their length (longer strings are refused before), so that a sender of
# distinct or huge values only cycles a small cache.
@functools.lru_cache(maxsize=4096)
def _instant(text: str) -> datetime | None:
    """The instant of ``text``; None if it is not of the STIX form, ValueError if it is of the
    form but no date (a 30th of February)."""
    if not TIMESTAMP_PATTERN.match(text):
        return None
    return datetime.fromisoformat(text).astimezone(UTC)


def check_object(obj: Any) -> StixFacts:
    """The indexed facts of a STIX 2.1 object. Raises StixError naming the property at fault."""
    if not isinstance(obj, Mapping):
        raise StixError("an object of the envelope is not a JSON object")
    stix_type = obj.get("type")
    if not isinstance(stix_type, str) or not TYPE_PATTERN.match(stix_type):
        raise StixError(f"object has no valid 'type': {str(stix_type)[:60]!r}")
    raw_id = obj.get("id")
    matched = ID_PATTERN.match(raw_id) if isinstance(raw_id, str) else None
    if matched is None or matched.group(1) != stix_type:
        raise StixError(f"{stix_type} object has no valid 'id' ({stix_type}--<UUID>)")
    stix_id: str = matched.group(0)
    where = stix_id
    observable = stix_type in OBSERVABLE_TYPES
    spec_version = obj.get("spec_version", SPEC_VERSION if observable else None)
    if spec_version != SPEC_VERSION:
        raise StixError(f"{where}: spec_version must be {SPEC_VERSION!r}, not {spec_version!r}")
    version: str | None = None
    version_at: datetime | None = None
    if not observable:
        created_at = parse_timestamp(obj.get("created"), what=f"{where}: 'created'")
        version, version_at = obj["created"], created_at
        if "modified" in obj or stix_type != MARKING_DEFINITION:
            modified_at = parse_timestamp(obj.get("modified"), what=f"{where}: 'modified'")
            if modified_at < created_at:
                raise StixError(f"{where}: 'modified' is earlier than 'created'")
            version, version_at = obj["modified"], modified_at
    created_by = obj.get("created_by_ref")
    if created_by is not None and not _is_ref(created_by, "identity"):
        raise StixError(f"{where}: 'created_by_ref' must be an identity-- id")
    _check_optional(obj, where)
    return StixFacts(
        stix_id=stix_id,
        stix_type=stix_type,
        spec_version=SPEC_VERSION,
        version=version,
        version_at=version_at,
        created_by_ref=created_by,
    )


def _check_optional(obj: Mapping[str, Any], where: str) -> None:
    markings = obj.get("object_marking_refs")
    if markings is not None and (
        not isinstance(markings, list)
        or not markings
        or not all(_is_ref(m, MARKING_DEFINITION) for m in markings)
    ):
        raise StixError(f"{where}: 'object_marking_refs' must list marking-definition ids")
    revoked = obj.get("revoked")
    if revoked is not None and not isinstance(revoked, bool):
        raise StixError(f"{where}: 'revoked' must be a boolean")
    labels = obj.get("labels")
    if labels is not None and (
        not isinstance(labels, list) or not all(isinstance(x, str) for x in labels)
    ):
        raise StixError(f"{where}: 'labels' must be a list of strings")
    confidence = obj.get("confidence")
    if confidence is not None and (type(confidence) is not int or not 0 <= confidence <= 100):
        raise StixError(f"{where}: 'confidence' must be an integer from 0 to 100")
    extensions = obj.get("extensions")
    if extensions is not None and not isinstance(extensions, Mapping):
        raise StixError(f"{where}: 'extensions' must be a dictionary")


def _is_ref(value: Any, stix_type: str) -> bool:
    return isinstance(value, str) and len(value) <= _MAX_ID_CHARS and _is_id_of(value, stix_type)


# References repeat across a batch (one publisher, a few markings): each is matched once
# (bounded as the timestamps above).
@functools.lru_cache(maxsize=4096)
def _is_id_of(value: str, stix_type: str) -> bool:
    matched = ID_PATTERN.match(value)
    return matched is not None and matched.group(1) == stix_type
