"""Feed documents: decoding JSON, telling the kinds apart, and naming the field that is wrong.

Pydantic models check feed JSON at the trust boundary; ``validation_failure`` turns their errors
into a FeedFileError whose location is the JSON path of the first bad field
(``vulnerabilities[3].cve.metrics.cvssMetricV31[0].cvssData.baseScore``).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, ValidationError

from panacea.vulndb.errors import FeedFileError

# Strict: a string where a number or a boolean belongs is an error, not a guess.
FEED_MODEL_CONFIG = ConfigDict(strict=True, frozen=True, extra="ignore")
_SHOWN_INPUT = 80


class DocumentKind(StrEnum):
    """What a JSON document in a feed directory is."""

    NVD = "nvd"
    KEV = "kev"
    EPSS = "epss"
    CVE5 = "cve5"
    JSON_SCHEMA = "json-schema"


def _utc_timestamp(value: object) -> object:
    """NVD writes timestamps without a zone (they are UTC); KEV writes a ``Z``."""
    if not isinstance(value, str):
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as e:
        raise ValueError(f"not an ISO-8601 timestamp: {value!r}") from e
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _iso_date(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError as e:
        raise ValueError(f"not an ISO-8601 date (YYYY-MM-DD): {value!r}") from e


UtcTimestamp = Annotated[datetime, BeforeValidator(_utc_timestamp)]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]


def decode_json(data: bytes | str, *, source: str) -> Any:
    """Decode a JSON document. Raises FeedFileError naming ``source``, line and column."""
    try:
        return json.loads(data)
    except json.JSONDecodeError as e:
        raise FeedFileError(
            source, f"line {e.lineno} column {e.colno}", f"bad JSON: {e.msg}"
        ) from e
    except UnicodeDecodeError as e:
        raise FeedFileError(source, None, f"not UTF-8 text: {e}") from e


def read_json(path: Path) -> Any:
    """Read and decode the JSON file at ``path``. Raises FeedFileError naming the file."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise FeedFileError(str(path), None, f"cannot read: {e.strerror or e}") from e
    return decode_json(data, source=str(path))


def json_kind(document: object) -> DocumentKind | None:
    """The kind of a decoded JSON feed document, from its content; None when unrecognised."""
    if not isinstance(document, dict):
        return None
    if document.get("format") == "NVD_CVE" or _is_nvd_cve(document):
        return DocumentKind.NVD
    if "catalogVersion" in document and "vulnerabilities" in document:
        return DocumentKind.KEV
    if document.get("dataType") == "CVE_RECORD":
        return DocumentKind.CVE5
    if "$schema" in document and "properties" in document:
        return DocumentKind.JSON_SCHEMA
    return None


def _is_nvd_cve(document: dict[str, Any]) -> bool:
    identifier = document.get("id")
    return isinstance(identifier, str) and identifier.startswith("CVE-") and "published" in document


def field_path(location: tuple[int | str, ...]) -> str:
    """``("vulnerabilities", 3, "cve", "id")`` -> ``vulnerabilities[3].cve.id``."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path or "(document)"


def validation_failure(
    source: str, error: ValidationError, *, prefix: tuple[int | str, ...] = ()
) -> FeedFileError:
    """A FeedFileError for the first problem pydantic found, naming its field path and value.

    ``prefix`` is the path of the validated object inside the document.
    """
    errors = error.errors(include_url=False)
    first = errors[0]
    shown = repr(first.get("input"))
    if len(shown) > _SHOWN_INPUT:
        shown = shown[:_SHOWN_INPUT] + "..."
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    message = f"{first['msg']}, got {shown}{more}"
    return FeedFileError(source, field_path((*prefix, *first["loc"])), message)
