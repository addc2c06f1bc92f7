"""URL parameters of the TAXII 2.1 list endpoints: ``added_after``, ``limit``, ``next`` and the
``match[...]`` filters (TAXII 2.1 section 3.5), parsed into one :class:`ObjectFilter`.

- ``match[id|type|version|spec_version]`` take comma-separated lists (repeating a parameter
  adds to its list); an endpoint takes only the filters the specification gives it, and ignores
  other ``match[...]`` fields as well as unknown parameters.
- ``match[version]``: ``last`` (the default), ``first``, ``all`` or timestamps, combined with
  OR; for Delete An Object the default is ``all``.
- ``limit``: 1 to :data:`MAX_PAGE_SIZE`; a larger one is lowered to it (the server may return
  fewer than asked, section 3.4); zero, a negative or a non-number answers 400.
- ``next``: the opaque cursor of the previous page (the key of its last object).

Every malformed value answers 400 with a message naming the parameter.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from starlette.datastructures import QueryParams

from panacea.sharing.errors import StixError, TaxiiError
from panacea.sharing.validation import ID_PATTERN, TYPE_PATTERN, parse_timestamp

DEFAULT_PAGE_SIZE: Final = 100
MAX_PAGE_SIZE: Final = 1000
_MAX_LIST = 100
_CURSOR: Final = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_CURSOR_PREFIX: Final = b"k:"
OBJECT_FILTERS: Final = frozenset({"id", "type", "version", "spec_version"})
SINGLE_OBJECT_FILTERS: Final = frozenset({"version", "spec_version"})
VERSIONS_FILTERS: Final = frozenset({"spec_version"})


@dataclass(frozen=True)
class VersionFilter:
    """Which versions match: every one, or the first, the last, and given instants (OR)."""

    all: bool = False
    first: bool = False
    last: bool = True
    at: tuple[datetime, ...] = ()


@dataclass(frozen=True)
class ObjectFilter:
    """The parsed parameters of one request."""

    limit: int = DEFAULT_PAGE_SIZE
    after_key: int | None = None
    added_after: datetime | None = None
    ids: tuple[str, ...] | None = None
    types: tuple[str, ...] | None = None
    versions: VersionFilter = VersionFilter()
    spec_versions: tuple[str, ...] | None = None


def bad_request(description: str) -> TaxiiError:
    return TaxiiError(400, "Bad Request", description)


def encode_next(key: int) -> str:
    """The opaque ``next`` of a page whose last object has ``key``."""
    return base64.urlsafe_b64encode(_CURSOR_PREFIX + str(key).encode()).decode().rstrip("=")


def decode_next(value: str) -> int:
    """The key a ``next`` resumes after. Raises TaxiiError(400) if it is not one of ours."""
    if not _CURSOR.match(value):
        raise bad_request("'next' is not a cursor this server issued")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as e:
        raise bad_request("'next' is not a cursor this server issued") from e
    digits = raw.removeprefix(_CURSOR_PREFIX)
    if digits == raw or not digits.isdigit() or len(digits) > 18:
        raise bad_request("'next' is not a cursor this server issued")
    return int(digits)


def _values(params: QueryParams, name: str) -> tuple[str, ...] | None:
    raw = params.getlist(name)
    if not raw:
        return None
    values = tuple(v.strip() for item in raw for v in item.split(","))
    if not values or any(not v for v in values) or len(values) > _MAX_LIST:
        raise bad_request(f"'{name}' must be a comma-separated list of 1 to {_MAX_LIST} values")
    return values


def _timestamp(value: str, name: str) -> datetime:
    try:
        return parse_timestamp(value, what=f"'{name}'")
    except StixError as e:
        raise bad_request(str(e)) from e


def _limit(params: QueryParams) -> int:
    raw = params.get("limit")
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if not raw.isdigit() or len(raw) > 9 or int(raw) < 1:
        raise bad_request("'limit' must be a positive integer")
    return min(int(raw), MAX_PAGE_SIZE)


def _version_filter(values: tuple[str, ...] | None, *, default_all: bool) -> VersionFilter:
    if values is None:
        return VersionFilter(all=True, last=False) if default_all else VersionFilter()
    if "all" in values:
        return VersionFilter(all=True, last=False)
    instants = tuple(_timestamp(v, "match[version]") for v in values if v not in {"first", "last"})
    return VersionFilter(first="first" in values, last="last" in values, at=instants)


def parse_filter(
    params: QueryParams, *, allowed: frozenset[str], delete: bool = False
) -> ObjectFilter:
    """The filter of a request's query string, with the ``match[...]`` fields in ``allowed``.

    Raises TaxiiError(400) naming the parameter at fault.
    """
    after = params.get("added_after")
    cursor = params.get("next")
    ids = _values(params, "match[id]") if "id" in allowed else None
    if ids is not None and not all(ID_PATTERN.match(v) for v in ids):
        raise bad_request("'match[id]' must list STIX ids (type--UUID)")
    types = _values(params, "match[type]") if "type" in allowed else None
    if types is not None and not all(TYPE_PATTERN.match(v) for v in types):
        raise bad_request("'match[type]' must list STIX type names")
    versions = _values(params, "match[version]") if "version" in allowed else None
    spec_versions = _values(params, "match[spec_version]") if "spec_version" in allowed else None
    return ObjectFilter(
        limit=_limit(params),
        after_key=decode_next(cursor) if cursor else None,
        added_after=_timestamp(after, "added_after") if after else None,
        ids=ids,
        types=types,
        versions=_version_filter(versions, default_all=delete),
        spec_versions=spec_versions,
    )
