"""NVD API 2.0 CVE records: checked at the trust boundary, then written to the database in bulk.

Two document shapes are read: one ``cve`` object per file (as fkie-cad/nvd-json-data-feeds stores
them) and the API's pages (``{"format": "NVD_CVE", "version": "2.0", "vulnerabilities":
[{"cve": {...}}, ...], ...}``). What is kept, and why:

- the English description, HTML formatting made plain (``descriptions.plain_description``);
- one CVSS v3.0, v3.1 and v4.0 metric each: the ``Primary`` one, else the first listed. Its vector
  is validated and its base score computed with the ``cvss`` package; an invalid vector is an
  error naming the file and field. Other metrics of the same version are not read. CVSS v2 is
  ignored: the risk model reads v3/v4 vectors only;
- CWEs as ``CWE-n`` ids, from every source, de-duplicated in order. ``NVD-CWE-Other`` and
  ``NVD-CWE-noinfo`` are dropped: they say that no CWE applies or is known, which an empty list
  says too, and the risk model maps CWE ids to attack postconditions;
- ``configurations`` exactly as published, plus a (vendor, product) index row for every
  ``cpeMatch`` criteria, vulnerable or not (a non-vulnerable platform still narrows candidates);
- records without configurations (``Received``, ``Awaiting Analysis``) and rejected CVEs load
  like any other; a rejected CVE keeps its status ``Rejected`` so matching can skip it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, cast

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from panacea.vulndb.bulk import (
    IDS_PER_QUERY,
    chunked,
    delete_where_in,
    insert_rows,
    table_of,
    upsert_vulnerabilities,
)
from panacea.vulndb.cpe import CpeError, parse_cpe
from panacea.vulndb.cvss_metrics import CvssMetric, base_score
from panacea.vulndb.descriptions import plain_description
from panacea.vulndb.documents import field_path, validation_failure
from panacea.vulndb.errors import CvssVectorError, FeedFileError
from panacea.vulndb.models import Vulnerability, VulnerableProduct
from panacea.vulndb.nvd_schema import (
    METRIC_KEYS,
    Configuration,
    Item,
    Metric,
    NvdCve,
    NvdPage,
    Text,
    Weakness,
)

log = logging.getLogger(__name__)

_CWE = re.compile(r"^CWE-\d+$")
# The width of VulnerableProduct.vendor and .product.
PRODUCT_NAME_LIMIT: Final = 200


# --- what the rest of PANACEA sees -------------------------------------------------------------


@dataclass(frozen=True)
class NvdRecord:
    """One CVE as the NVD describes it. ``configurations`` is the published JSON, unaltered."""

    cve_id: str
    published: datetime
    last_modified: datetime
    status: str | None
    description: str
    cvss_v30: CvssMetric | None
    cvss_v31: CvssMetric | None
    cvss_v40: CvssMetric | None
    cwes: tuple[str, ...]
    configurations: list[dict[str, Any]] = field(hash=False)
    products: frozenset[tuple[str, str]]

    @property
    def rejected(self) -> bool:
        return self.status == "Rejected"


@dataclass(frozen=True)
class NvdDocument:
    """The records of one file or API page, and the page's own counters."""

    records: tuple[NvdRecord, ...]
    total_results: int
    start_index: int = 0
    results_per_page: int = 0
    timestamp: datetime | None = None


def parse_nvd_document(document: object, *, source: str) -> NvdDocument:
    """Read a decoded NVD JSON document: a single ``cve`` object or an API 2.0 page.

    Raises FeedFileError naming ``source`` and the field path of the first wrong field, an
    invalid CVSS vector or an invalid CPE criteria.
    """
    if not isinstance(document, dict):
        raise FeedFileError(source, None, "an NVD document must be a JSON object")
    if "vulnerabilities" in document:
        return _parse_page(document, source)
    try:
        cve = NvdCve.model_validate(document)
    except ValidationError as e:
        raise validation_failure(source, e) from e
    record = _record(cve, document.get("configurations", []), source=source, prefix=())
    return NvdDocument(records=(record,), total_results=1, results_per_page=1)


def _parse_page(document: dict[str, Any], source: str) -> NvdDocument:
    try:
        page = NvdPage.model_validate(document)
    except ValidationError as e:
        raise validation_failure(source, e) from e
    records = tuple(
        _page_record(item, index, source) for index, item in enumerate(page.vulnerabilities)
    )
    return NvdDocument(
        records, page.total_results, page.start_index, page.results_per_page, page.timestamp
    )


def _page_record(item: object, index: int, source: str) -> NvdRecord:
    prefix = ("vulnerabilities", index)
    try:
        cve = Item.model_validate(item).cve
    except ValidationError as e:
        raise validation_failure(source, e, prefix=prefix) from e
    configurations = cast(dict[str, Any], item)["cve"].get("configurations", [])
    return _record(cve, configurations, source=source, prefix=(*prefix, "cve"))


def _record(
    cve: NvdCve, configurations: list[dict[str, Any]], *, source: str, prefix: tuple[str | int, ...]
) -> NvdRecord:
    return NvdRecord(
        cve_id=cve.id,
        published=cve.published,
        last_modified=cve.last_modified,
        status=cve.vuln_status,
        description=_english(cve.descriptions),
        cvss_v30=_metric(cve.metrics.v30, "3.0", source, prefix),
        cvss_v31=_metric(cve.metrics.v31, "3.1", source, prefix),
        cvss_v40=_metric(cve.metrics.v40, "4.0", source, prefix),
        cwes=_cwes(cve.weaknesses),
        configurations=configurations,
        products=_products(cve.configurations, source, prefix),
    )


def _english(descriptions: list[Text]) -> str:
    text = next((d.value for d in descriptions if d.lang == "en"), "")
    return plain_description(text)


def _metric(
    metrics: list[Metric], version: str, source: str, prefix: tuple[str | int, ...]
) -> CvssMetric | None:
    if not metrics:
        return None
    index = next((i for i, m in enumerate(metrics) if m.type == "Primary"), 0)
    chosen = metrics[index].cvss_data
    location = (*prefix, "metrics", METRIC_KEYS[version], index, "cvssData")
    if chosen.version != version:
        path = field_path((*location, "version"))
        raise FeedFileError(source, path, f"expected CVSS {version}, got {chosen.version!r}")
    try:
        score = base_score(version, chosen.vector)
    except CvssVectorError as e:
        raise FeedFileError(source, field_path((*location, "vectorString")), str(e)) from e
    return CvssMetric(version, chosen.vector, score, chosen.base_score, metrics[index].source)


def _cwes(weaknesses: list[Weakness]) -> tuple[str, ...]:
    found = (text.value for w in weaknesses for text in w.description)
    return tuple(dict.fromkeys(value for value in found if _CWE.match(value)))


def _products(
    configurations: list[Configuration], source: str, prefix: tuple[str | int, ...]
) -> frozenset[tuple[str, str]]:
    pairs = set()
    for c, configuration in enumerate(configurations):
        for n, node in enumerate(configuration.nodes):
            for m, match in enumerate(node.cpe_match):
                where = (*prefix, "configurations", c, "nodes", n, "cpeMatch", m, "criteria")
                pairs.add(_vendor_product(match.criteria, source, where))
    return frozenset(pairs)


def _vendor_product(criteria: str, source: str, where: tuple[str | int, ...]) -> tuple[str, str]:
    try:
        pair = parse_cpe(criteria).vendor_product
    except CpeError as e:
        raise FeedFileError(source, field_path(where), str(e)) from e
    if max(len(part) for part in pair) > PRODUCT_NAME_LIMIT:
        message = f"vendor or product longer than {PRODUCT_NAME_LIMIT} characters: {criteria!r}"
        raise FeedFileError(source, field_path(where), message)
    return pair


# --- storing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NvdLoadResult:
    """What storing NVD records changed.

    ``added``: CVEs without an NVD record before; ``modified``: CVEs whose record is newer than
    the stored one; ``skipped_older``: records older than the stored one, left out so that an old
    file cannot roll back an online update. ``newest`` is the latest ``lastModified`` seen.
    """

    records: int = 0
    added: frozenset[str] = frozenset()
    modified: frozenset[str] = frozenset()
    skipped_older: frozenset[str] = frozenset()
    newest: datetime | None = None

    def merged(self, other: NvdLoadResult) -> NvdLoadResult:
        """Both results together, as if one load had stored both batches."""
        newest = max((t for t in (self.newest, other.newest) if t is not None), default=None)
        added = self.added | other.added
        return NvdLoadResult(
            self.records + other.records,
            added,
            (self.modified | other.modified) - added,
            self.skipped_older | other.skipped_older,
            newest,
        )


_NVD_COLUMNS: Final = (
    "published",
    "last_modified",
    "status",
    "description",
    "cvss_v30_vector",
    "cvss_v30_score",
    "cvss_v31_vector",
    "cvss_v31_score",
    "cvss_v40_vector",
    "cvss_v40_score",
    "cwes",
    "configurations",
    "nvd_loaded",
)


def store_nvd_records(session: Session, records: Sequence[NvdRecord]) -> NvdLoadResult:
    """Upsert ``records`` into Vulnerability and rebuild their VulnerableProduct index rows.

    Only the NVD columns are written: KEV and EPSS columns of existing rows stay. One lookup
    query per 900 records, one write statement per 5000 rows. A record older than the stored
    one for the same CVE is skipped; within ``records`` the newest of duplicates wins.
    """
    newest_first = sorted(records, key=lambda r: r.last_modified, reverse=True)
    unique = list({r.cve_id: r for r in reversed(newest_first)}.values())
    stored = _stored_versions(session, [r.cve_id for r in unique])
    fresh = [r for r in unique if not _older_than_stored(r, stored)]
    upsert_vulnerabilities(session, [_vulnerability_row(r) for r in fresh], update=_NVD_COLUMNS)
    _replace_products(session, fresh)
    _log_score_disagreements(fresh)
    return NvdLoadResult(
        records=len(fresh),
        added=frozenset(r.cve_id for r in fresh if r.cve_id not in stored),
        modified=frozenset(
            r.cve_id for r in fresh if r.cve_id in stored and stored[r.cve_id] < r.last_modified
        ),
        skipped_older=frozenset(r.cve_id for r in unique) - {r.cve_id for r in fresh},
        newest=max((r.last_modified for r in unique), default=None),
    )


def _stored_versions(session: Session, cve_ids: Sequence[str]) -> dict[str, datetime]:
    """``lastModified`` of the CVEs that already have an NVD record."""
    stored: dict[str, datetime] = {}
    for chunk in chunked(cve_ids, IDS_PER_QUERY):
        query = select(Vulnerability.cve_id, Vulnerability.last_modified).where(
            Vulnerability.cve_id.in_(chunk), Vulnerability.nvd_loaded.is_(True)
        )
        stored.update((cve_id, modified) for cve_id, modified in session.execute(query) if modified)
    return stored


def _older_than_stored(record: NvdRecord, stored: dict[str, datetime]) -> bool:
    known = stored.get(record.cve_id)
    return known is not None and known > record.last_modified


def _vulnerability_row(record: NvdRecord) -> dict[str, Any]:
    row: dict[str, Any] = {
        "cve_id": record.cve_id,
        "published": record.published,
        "last_modified": record.last_modified,
        "status": record.status,
        "description": record.description,
        "cwes": list(record.cwes),
        "configurations": record.configurations,
        "nvd_loaded": True,
    }
    for name, metric in (
        ("v30", record.cvss_v30),
        ("v31", record.cvss_v31),
        ("v40", record.cvss_v40),
    ):
        row[f"cvss_{name}_vector"] = metric.vector if metric else None
        row[f"cvss_{name}_score"] = metric.score if metric else None
    return row


def _replace_products(session: Session, records: Sequence[NvdRecord]) -> None:
    table = table_of(VulnerableProduct)
    delete_where_in(session, table, "cve_id", [r.cve_id for r in records])
    rows = [
        {"cve_id": r.cve_id, "vendor": vendor, "product": product}
        for r in records
        for vendor, product in sorted(r.products)
    ]
    insert_rows(session, table, rows)


def _log_score_disagreements(records: Sequence[NvdRecord]) -> None:
    for record in records:
        for metric in (record.cvss_v30, record.cvss_v31, record.cvss_v40):
            if metric is not None and not metric.score_agrees:
                log.warning(
                    "%s: CVSS %s %s scores %.1f, the feed says %.1f; storing %.1f",
                    record.cve_id,
                    metric.version,
                    metric.vector,
                    metric.score,
                    metric.published_score,
                    metric.score,
                )
