"""The CISA Known Exploited Vulnerabilities catalogue: which CVEs are exploited in the wild.

The catalogue is a whole: a CVE in it has ``kev`` set, a CVE that dropped out of a newer
catalogue has it cleared. Because loading a catalogue can clear flags, a catalogue that could
be wrong is refused rather than applied: one whose ``count`` disagrees with its entries
(truncated), an empty one, or one older than the catalogue already loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Final

from pydantic import BaseModel, Field, StringConstraints, ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from panacea.vulndb.bulk import IDS_PER_QUERY, chunked, upsert_vulnerabilities
from panacea.vulndb.documents import FEED_MODEL_CONFIG, IsoDate, UtcTimestamp, validation_failure
from panacea.vulndb.errors import FeedFileError
from panacea.vulndb.models import FeedState, Vulnerability
from panacea.vulndb.nvd_schema import CVE_ID_PATTERN

KEV_FEED: Final = "kev"
_KEV_COLUMNS: Final = ("kev", "kev_date_added", "kev_due_date", "kev_ransomware", "kev_name")


class _Entry(BaseModel):
    model_config = FEED_MODEL_CONFIG
    cve_id: Annotated[str, StringConstraints(pattern=CVE_ID_PATTERN)] = Field(alias="cveID")
    vendor_project: str = Field(alias="vendorProject")
    product: str
    name: str = Field(alias="vulnerabilityName")
    date_added: IsoDate = Field(alias="dateAdded")
    due_date: IsoDate = Field(alias="dueDate")
    ransomware: str | None = Field(default=None, alias="knownRansomwareCampaignUse", max_length=20)


class _Catalogue(BaseModel):
    model_config = FEED_MODEL_CONFIG
    version: str = Field(alias="catalogVersion", min_length=1, max_length=100)
    released: UtcTimestamp = Field(alias="dateReleased")
    count: int = Field(ge=0)
    vulnerabilities: list[_Entry]


@dataclass(frozen=True)
class KevEntry:
    """One exploited vulnerability as CISA lists it."""

    cve_id: str
    vendor_project: str
    product: str
    name: str
    date_added: date
    due_date: date
    ransomware: str | None


@dataclass(frozen=True)
class KevCatalogue:
    version: str
    released: datetime
    entries: tuple[KevEntry, ...]


@dataclass(frozen=True)
class KevUpdate:
    """What applying a catalogue changed: CVEs that gained or lost the KEV flag."""

    version: str
    records: int
    added: frozenset[str]
    removed: frozenset[str]


def parse_kev_catalogue(document: object, *, source: str) -> KevCatalogue:
    """Read a decoded KEV catalogue (the schema of cisagov/kev-data).

    Raises FeedFileError naming ``source`` and the field when a field is missing or mistyped,
    when ``count`` disagrees with the number of entries, or when the catalogue is empty.
    """
    try:
        catalogue = _Catalogue.model_validate(document)
    except ValidationError as e:
        raise validation_failure(source, e) from e
    entries = catalogue.vulnerabilities
    if catalogue.count != len(entries):
        message = f"says {catalogue.count} vulnerabilities but lists {len(entries)} (truncated?)"
        raise FeedFileError(source, "count", message)
    if not entries:
        raise FeedFileError(source, "vulnerabilities", "empty catalogue refused")
    return KevCatalogue(
        catalogue.version,
        catalogue.released,
        tuple(
            KevEntry(
                e.cve_id,
                e.vendor_project,
                e.product,
                e.name,
                e.date_added,
                e.due_date,
                e.ransomware,
            )
            for e in entries
        ),
    )


def apply_kev_catalogue(session: Session, catalogue: KevCatalogue, *, source: str) -> KevUpdate:
    """Set the KEV columns from ``catalogue``; clear them on CVEs it no longer lists.

    CVEs not yet known get a row (``nvd_loaded`` False) so the flag is there when the NVD record
    arrives. Raises FeedFileError naming ``source`` when the catalogue is older than the one
    loaded before (catalogue versions are dates, ``YYYY.MM.DD``, and compare as text).
    """
    loaded = session.get(FeedState, KEV_FEED)
    if loaded is not None and loaded.version and catalogue.version < loaded.version:
        message = f"catalogue {catalogue.version} is older than the loaded {loaded.version}"
        raise FeedFileError(source, "catalogVersion", message + "; refusing to roll back")
    before = set(session.scalars(select(Vulnerability.cve_id).where(Vulnerability.kev.is_(True))))
    rows = list({e.cve_id: _row(e) for e in catalogue.entries}.values())
    upsert_vulnerabilities(session, rows, update=_KEV_COLUMNS)
    now_listed = {row["cve_id"] for row in rows}
    removed = before - now_listed
    _clear(session, sorted(removed))
    return KevUpdate(
        catalogue.version, len(rows), frozenset(now_listed - before), frozenset(removed)
    )


def _row(entry: KevEntry) -> dict[str, Any]:
    return {
        "cve_id": entry.cve_id,
        "kev": True,
        "kev_date_added": entry.date_added,
        "kev_due_date": entry.due_date,
        "kev_ransomware": entry.ransomware,
        "kev_name": entry.name[:300],
    }


def _clear(session: Session, cve_ids: Sequence[str]) -> None:
    cleared = dict.fromkeys(_KEV_COLUMNS[1:])
    for chunk in chunked(cve_ids, IDS_PER_QUERY):
        statement = update(Vulnerability).where(Vulnerability.cve_id.in_(chunk))
        session.execute(statement.values(kev=False, **cleared))
