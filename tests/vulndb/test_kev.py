"""The CISA KEV catalogue: flags, dates, ransomware use; CVEs that drop out; refused catalogues."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from panacea.db.engine import session_scope
from panacea.vulndb.errors import FeedFileError
from panacea.vulndb.feeds import record_feed_state
from panacea.vulndb.kev import KevCatalogue, apply_kev_catalogue, parse_kev_catalogue
from panacea.vulndb.models import Vulnerability
from panacea.vulndb.nvd import parse_nvd_document, store_nvd_records
from tests.conftest import SHARED_DATA

KEV_FILE = SHARED_DATA / "kev" / "known_exploited_vulnerabilities.json"
SOURCE = "kev/known_exploited_vulnerabilities.json"


@pytest.fixture(scope="module")
def kev_document() -> dict[str, Any]:
    if not KEV_FILE.exists():
        pytest.skip("shared KEV catalogue missing")
    document: dict[str, Any] = json.loads(KEV_FILE.read_text())
    return document


def _newer_without(document: dict[str, Any], dropped: set[str]) -> dict[str, Any]:
    """The catalogue of the next day, in which ``dropped`` no longer appear."""
    newer = copy.deepcopy(document)
    newer["vulnerabilities"] = [v for v in newer["vulnerabilities"] if v["cveID"] not in dropped]
    newer["count"] = len(newer["vulnerabilities"])
    newer["catalogVersion"] = "2025.08.26"
    newer["dateReleased"] = "2025-08-26T17:00:00.0000Z"
    return newer


def _apply(factory: sessionmaker[Session], catalogue: KevCatalogue) -> Any:
    with session_scope(factory) as session:
        update = apply_kev_catalogue(session, catalogue, source=SOURCE)
        record_feed_state(session, "kev", SOURCE, update.version, update.records)
    return update


def test_parse_real_catalogue(kev_document: dict[str, Any]) -> None:
    catalogue = parse_kev_catalogue(kev_document, source=SOURCE)

    assert (catalogue.version, len(catalogue.entries)) == ("2025.08.25", 1404)
    assert catalogue.released == datetime(2025, 8, 25, 17, 4, 19, 979600, tzinfo=UTC)
    spooler = next(e for e in catalogue.entries if e.cve_id == "CVE-2021-34527")
    assert (spooler.vendor_project, spooler.product, spooler.ransomware) == (
        "Microsoft",
        "Windows",
        "Known",
    )
    assert (spooler.date_added, spooler.due_date) == (date(2021, 11, 3), date(2021, 7, 20))


def test_apply_flags_every_listed_cve(
    factory: sessionmaker[Session], kev_document: dict[str, Any]
) -> None:
    update = _apply(factory, parse_kev_catalogue(kev_document, source=SOURCE))

    assert (update.records, len(update.added), update.removed) == (1404, 1404, frozenset())
    with factory() as session:
        flagged = session.scalar(select(func.count()).where(Vulnerability.kev.is_(True)))
        assert flagged == 1404
        row = session.get(Vulnerability, "CVE-2021-34527")
        assert row is not None
        assert (row.kev, row.kev_ransomware, row.kev_due_date, row.nvd_loaded) == (
            True,
            "Known",
            date(2021, 7, 20),
            False,
        )
        assert row.kev_name == "Microsoft Windows Print Spooler Remote Code Execution Vulnerability"


def test_same_catalogue_again_changes_no_flag(
    sqlite_factory: sessionmaker[Session], kev_document: dict[str, Any]
) -> None:
    catalogue = parse_kev_catalogue(kev_document, source=SOURCE)
    _apply(sqlite_factory, catalogue)

    again = _apply(sqlite_factory, catalogue)

    assert (again.added, again.removed) == (frozenset(), frozenset())


def test_cves_that_drop_out_lose_the_flag_but_keep_their_nvd_record(
    factory: sessionmaker[Session], kev_document: dict[str, Any]
) -> None:
    nvd = json.loads((SHARED_DATA / "nvd" / "CVE-2021-34527.json").read_text())
    with session_scope(factory) as session:
        store_nvd_records(session, parse_nvd_document(nvd, source="nvd.json").records)
    _apply(factory, parse_kev_catalogue(kev_document, source=SOURCE))
    dropped = {"CVE-2021-34527", "CVE-2025-48384"}

    update = _apply(
        factory, parse_kev_catalogue(_newer_without(kev_document, dropped), source=SOURCE)
    )

    assert (update.version, update.added, update.removed) == ("2025.08.26", frozenset(), dropped)
    with factory() as session:
        row = session.get(Vulnerability, "CVE-2021-34527")
        assert row is not None
        assert (row.kev, row.kev_name, row.kev_date_added, row.kev_ransomware) == (
            False,
            None,
            None,
            None,
        )
        assert (row.nvd_loaded, row.cvss_v31_score) == (True, 8.8)
        assert session.scalar(select(func.count()).where(Vulnerability.kev.is_(True))) == 1402


def test_kev_load_keeps_nvd_columns(
    factory: sessionmaker[Session], kev_document: dict[str, Any]
) -> None:
    nvd = json.loads((SHARED_DATA / "nvd" / "CVE-2024-3400.json").read_text())
    with session_scope(factory) as session:
        store_nvd_records(session, parse_nvd_document(nvd, source="nvd.json").records)

    _apply(factory, parse_kev_catalogue(kev_document, source=SOURCE))

    with factory() as session:
        row = session.get(Vulnerability, "CVE-2024-3400")
        assert row is not None
        assert (row.kev, row.status, row.cvss_v31_score) == (True, "Awaiting Analysis", 10.0)
        assert row.description.startswith("A command injection vulnerability in the GlobalProtect")


def test_older_catalogue_is_refused(
    sqlite_factory: sessionmaker[Session], kev_document: dict[str, Any]
) -> None:
    _apply(sqlite_factory, parse_kev_catalogue(_newer_without(kev_document, set()), source=SOURCE))

    with pytest.raises(FeedFileError, match=r"older than the loaded 2025\.08\.26") as raised:
        _apply(sqlite_factory, parse_kev_catalogue(kev_document, source=SOURCE))

    assert (raised.value.source, raised.value.location) == (SOURCE, "catalogVersion")


def _damaged(document: dict[str, Any], field: str, value: object) -> dict[str, Any]:
    damaged = copy.deepcopy(document)
    damaged["vulnerabilities"][0][field] = value
    return damaged


@pytest.mark.parametrize(
    ("field", "value", "location"),
    [
        ("dateAdded", "yesterday", "vulnerabilities[0].dateAdded"),
        ("cveID", "CVE-2025-1", "vulnerabilities[0].cveID"),
        ("vulnerabilityName", None, "vulnerabilities[0].vulnerabilityName"),
        ("dueDate", 20250915, "vulnerabilities[0].dueDate"),
    ],
)
def test_wrong_entry_field_is_named(
    kev_document: dict[str, Any], field: str, value: object, location: str
) -> None:
    with pytest.raises(FeedFileError) as raised:
        parse_kev_catalogue(_damaged(kev_document, field, value), source=SOURCE)

    assert (raised.value.source, raised.value.location) == (SOURCE, location)


def test_truncated_catalogue_is_refused(kev_document: dict[str, Any]) -> None:
    """A catalogue missing entries would clear their flags: its own count gives it away."""
    truncated = copy.deepcopy(kev_document)
    del truncated["vulnerabilities"][700:]

    with pytest.raises(FeedFileError, match="says 1404 vulnerabilities but lists 700") as raised:
        parse_kev_catalogue(truncated, source=SOURCE)

    assert raised.value.location == "count"


def test_empty_catalogue_is_refused(kev_document: dict[str, Any]) -> None:
    empty = {**kev_document, "vulnerabilities": [], "count": 0}

    with pytest.raises(FeedFileError, match="empty catalogue"):
        parse_kev_catalogue(empty, source=SOURCE)


def test_missing_catalogue_version(kev_document: dict[str, Any]) -> None:
    document = {k: v for k, v in kev_document.items() if k != "catalogVersion"}

    with pytest.raises(FeedFileError) as raised:
        parse_kev_catalogue(document, source=SOURCE)

    assert raised.value.location == "catalogVersion"
