"""The feed service: loading a directory offline; updating online through httpx.MockTransport."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from panacea.vulndb.errors import FeedDownloadError, FeedError, FeedFileError
from panacea.vulndb.feeds import load_directory, update_online
from panacea.vulndb.models import FeedState, Vulnerability, VulnerableProduct
from tests.conftest import SHARED_DATA, table_snapshot
from tests.vulndb.feed_server import (
    EPSS_URL,
    KEV_URL,
    NOW,
    NVD_URL,
    Failure,
    FeedServer,
    SimulatedClock,
    feed_settings,
)

NVD_PATH = "/rest/json/cves/2.0"
Calls = list[tuple[str, int, int | None]]


def _nvd_raw(name: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((SHARED_DATA / "nvd" / f"{name}.json").read_text())
    return record


def _all_nvd_raw() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((SHARED_DATA / "nvd").glob("*.json"))]


def _states(factory: sessionmaker[Session]) -> dict[str, FeedState]:
    with factory() as session:
        return {state.name: state for state in session.scalars(select(FeedState))}


def _count(factory: sessionmaker[Session], model: type[Any]) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


# --- offline ---------------------------------------------------------------------------------


def test_load_shared_data(factory: sessionmaker[Session], shared_data: Path) -> None:
    calls: Calls = []

    report = load_directory(factory, shared_data, progress=lambda *call: calls.append(call))

    assert report.nvd is not None
    assert (report.nvd.records, len(report.nvd.added)) == (38, 38)
    assert report.kev is not None
    assert (report.kev.records, len(report.kev.added)) == (1404, 1404)
    assert report.epss is not None
    assert report.epss.records == 49
    skipped = {Path(s.path).relative_to(shared_data).as_posix() for s in report.skipped}
    assert skipped == {
        "SOURCES.md",
        "kev/known_exploited_vulnerabilities_schema.json",
        *(f"cve5/{p.name}" for p in (shared_data / "cve5").glob("*.json")),
    }
    assert _count(factory, Vulnerability) == 1404 + 49 + sum(
        1 for p in (shared_data / "nvd").glob("*.json") if p.stem not in _kev_ids(shared_data)
    )
    states = _states(factory)
    assert (states["nvd"].source, states["nvd"].records) == (str(shared_data), 38)
    assert states["nvd"].version == "2026-06-17T03:55:20.230000+00:00"
    assert (states["kev"].version, states["kev"].records) == ("2025.08.25", 1404)
    assert states["epss"].version == "2026-09-29 (model v2026.06.15)"
    assert calls[0] == ("loading feed files", 0, len(report.files) + len(report.skipped))
    assert calls[-1][1] == calls[-1][2]


def _kev_ids(shared_data: Path) -> set[str]:
    catalogue = json.loads(
        (shared_data / "kev" / "known_exploited_vulnerabilities.json").read_text()
    )
    return {entry["cveID"] for entry in catalogue["vulnerabilities"]}


def test_loading_again_changes_nothing(factory: sessionmaker[Session], shared_data: Path) -> None:
    load_directory(factory, shared_data)
    before = table_snapshot(factory, ignore=frozenset({"loaded_at"}))

    again = load_directory(factory, shared_data)

    assert again.nvd is not None
    assert (again.nvd.added, again.nvd.modified) == (frozenset(), frozenset())
    assert again.kev is not None
    assert (again.kev.added, again.kev.removed) == (frozenset(), frozenset())
    assert again.epss is not None
    assert again.epss.changed == frozenset()
    assert table_snapshot(factory, ignore=frozenset({"loaded_at"})) == before


def _feed_dir(tmp_path: Path, shared_data: Path) -> Path:
    """A small feed directory: three NVD records, the KEV catalogue, the EPSS sample."""
    root = tmp_path / "feeds"
    (root / "nvd").mkdir(parents=True)
    for name in ("CVE-2021-34527", "CVE-2024-3400", "CVE-2019-10959"):
        shutil.copy(shared_data / "nvd" / f"{name}.json", root / "nvd")
    shutil.copytree(shared_data / "kev", root / "kev")
    shutil.copytree(shared_data / "epss", root / "epss")
    return root


def _truncated_nvd(root: Path) -> Path:
    path = root / "nvd" / "CVE-2017-0144.json"
    path.write_bytes((SHARED_DATA / "nvd" / "CVE-2017-0144.json").read_bytes()[:4000])
    return path


def _kev_with_text_count(root: Path) -> Path:
    path = root / "kev" / "known_exploited_vulnerabilities.json"
    document = json.loads(path.read_text())
    document["count"] = "1404"
    path.write_text(json.dumps(document))
    return path


def _epss_with_bad_row(root: Path) -> Path:
    path = root / "epss" / "epss_scores-current.SAMPLE_first_rows.csv"
    lines = path.read_text().splitlines()
    lines[10] = "CVE-1999-0009,0.29013,percentile"
    path.write_text("\n".join(lines) + "\n")
    return path


def _unknown_json(root: Path) -> Path:
    path = root / "nvd" / "notes.json"
    path.write_text('{"note": "not a feed"}')
    return path


@pytest.mark.parametrize(
    ("damage", "location"),
    [
        (_truncated_nvd, "line 110 column 1"),  # where the 4000 bytes end
        (_epss_with_bad_row, "line 11"),  # the last file read: everything else was written
    ],
    ids=["truncated-nvd", "epss-bad-row"],
)
def test_bad_file_changes_nothing(
    factory: sessionmaker[Session],
    shared_data: Path,
    tmp_path: Path,
    damage: Any,
    location: str | None,
) -> None:
    _assert_failed_load_changes_nothing(factory, shared_data, tmp_path, damage, location)


@pytest.mark.parametrize(
    ("damage", "location"),
    [(_kev_with_text_count, "count"), (_unknown_json, None)],
    ids=["kev-wrong-type", "unknown-json"],
)
def test_bad_document_changes_nothing(
    sqlite_factory: sessionmaker[Session],
    shared_data: Path,
    tmp_path: Path,
    damage: Any,
    location: str | None,
) -> None:
    _assert_failed_load_changes_nothing(sqlite_factory, shared_data, tmp_path, damage, location)


def _assert_failed_load_changes_nothing(
    factory: sessionmaker[Session],
    shared_data: Path,
    tmp_path: Path,
    damage: Any,
    location: str | None,
) -> None:
    """Load a directory, change it (one record out, one in) and damage one file: load again."""
    root = _feed_dir(tmp_path, shared_data)
    load_directory(factory, root)
    (root / "nvd" / "CVE-2024-3400.json").unlink()
    shutil.copy(shared_data / "nvd" / "CVE-2020-0796.json", root / "nvd")
    bad = damage(root)
    before = table_snapshot(factory)

    with pytest.raises(FeedFileError) as raised:
        load_directory(factory, root)

    assert (raised.value.source, raised.value.location) == (str(bad), location)
    assert table_snapshot(factory) == before


def test_api_page_and_gzip_epss_in_a_directory(
    sqlite_factory: sessionmaker[Session], shared_data: Path, tmp_path: Path
) -> None:
    records = [_nvd_raw("CVE-2019-0708"), _nvd_raw("CVE-2023-46604")]
    page = {
        "resultsPerPage": 2,
        "startIndex": 0,
        "totalResults": 2,
        "format": "NVD_CVE",
        "version": "2.0",
        "timestamp": "2025-08-26T10:00:00.000",
        "vulnerabilities": [{"cve": record} for record in records],
    }
    (tmp_path / "page-0.json").write_text(json.dumps(page))
    sample = shared_data / "epss" / "epss_scores-current.SAMPLE_first_rows.csv"
    (tmp_path / "epss.csv.gz").write_bytes(gzip.compress(sample.read_bytes()))

    report = load_directory(sqlite_factory, tmp_path)

    assert report.nvd is not None
    assert report.nvd.added == {"CVE-2019-0708", "CVE-2023-46604"}
    assert report.epss is not None
    assert report.epss.records == 49
    assert report.kev is None
    assert set(_states(sqlite_factory)) == {"nvd", "epss"}


def test_not_a_directory(sqlite_factory: sessionmaker[Session], tmp_path: Path) -> None:
    with pytest.raises(FeedFileError, match="not a directory"):
        load_directory(sqlite_factory, tmp_path / "missing")


# --- online ----------------------------------------------------------------------------------


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock()


@pytest.fixture
def server(clock: SimulatedClock, shared_data: Path) -> FeedServer:
    sample = shared_data / "epss" / "epss_scores-current.SAMPLE_first_rows.csv"
    return FeedServer(
        clock,
        nvd_records=_all_nvd_raw(),
        kev=(shared_data / "kev" / "known_exploited_vulnerabilities.json").read_bytes(),
        epss=gzip.compress(sample.read_bytes()),
    )


def _update(
    factory: sessionmaker[Session],
    server: FeedServer,
    *,
    api_key: str | None = None,
    **options: Any,
) -> Any:
    return update_online(
        factory,
        settings=feed_settings(api_key=api_key),
        transport=server.transport(),
        clock=server.clock,
        **options,
    )


def test_full_update_pages_through_every_record(
    factory: sessionmaker[Session], server: FeedServer
) -> None:
    calls: Calls = []

    report = _update(factory, server, progress=lambda *call: calls.append(call))

    pages = server.nvd_requests()
    assert [int(r.url.params["startIndex"]) for r in pages] == [0, 15, 30]
    assert {r.url.params["resultsPerPage"] for r in pages} == {"2000"}
    assert all("lastModStartDate" not in r.url.params for r in pages)
    assert all("apiKey" not in r.headers for r in pages)
    assert (report.nvd.records, len(report.nvd.added)) == (38, 38)
    assert (report.kev.records, report.epss.records) == (1404, 49)
    assert _count(factory, VulnerableProduct) > 0
    states = _states(factory)
    assert (states["nvd"].source, states["nvd"].version) == (NVD_URL, NOW.isoformat())
    assert (states["kev"].source, states["epss"].source) == (KEV_URL, EPSS_URL)
    assert ("NVD: every CVE", 15, 38) in calls
    assert ("NVD: every CVE", 38, 38) in calls


def test_api_key_goes_in_a_header_and_raises_the_rate(
    sqlite_factory: sessionmaker[Session], server: FeedServer
) -> None:
    server.page_cap = 5

    report = _update(sqlite_factory, server, api_key="nvd-key-123", feeds=("nvd",))

    pages = server.nvd_requests()
    assert len(pages) == 8
    assert {r.headers["apiKey"] for r in pages} == {"nvd-key-123"}
    assert "nvd-key-123" not in str(pages[0].url)
    assert (report.rate_limit_wait_seconds, server.clock.sleeps) == (0.0, [])


def test_without_a_key_at_most_five_requests_in_30_seconds(
    sqlite_factory: sessionmaker[Session], server: FeedServer
) -> None:
    server.page_cap = 5

    report = _update(sqlite_factory, server, feeds=("nvd",))

    times = [t for r, t in server.requests if r.url.path == NVD_PATH]
    assert len(times) == 8
    assert all(later - earlier >= 30.0 for earlier, later in zip(times, times[5:], strict=False))
    assert report.rate_limit_wait_seconds == pytest.approx(30.0 - 5 * server.latency)
    assert report.nvd.records == 38


def test_incremental_update_asks_for_changes_in_120_day_windows(
    sqlite_factory: sessionmaker[Session], server: FeedServer, clock: SimulatedClock
) -> None:
    _update(sqlite_factory, server, feeds=("nvd",))
    later = SimulatedClock(NOW + timedelta(days=300))
    changed = _nvd_raw("CVE-2024-3400")
    changed["lastModified"] = (NOW + timedelta(days=150)).replace(tzinfo=None).isoformat()
    server.clock = later
    server.nvd_records = [changed]
    server.requests.clear()

    report = _update(sqlite_factory, server, feeds=("nvd",))

    windows = [
        (r.url.params["lastModStartDate"], r.url.params["lastModEndDate"])
        for r in server.nvd_requests()
    ]
    assert windows == [
        ("2026-07-01T12:00:00.000+00:00", "2026-10-29T12:00:00.000+00:00"),
        ("2026-10-29T12:00:00.000+00:00", "2027-02-26T12:00:00.000+00:00"),
        ("2027-02-26T12:00:00.000+00:00", "2027-04-27T12:00:00.000+00:00"),
    ]
    assert (report.nvd.modified, report.nvd.added) == ({"CVE-2024-3400"}, frozenset())
    assert _states(sqlite_factory)["nvd"].version == (NOW + timedelta(days=300)).isoformat()


def test_since_must_carry_a_time_zone(
    sqlite_factory: sessionmaker[Session], server: FeedServer
) -> None:
    with pytest.raises(FeedError, match="timezone-aware"):
        _update(sqlite_factory, server, since=datetime(2026, 1, 1), feeds=("nvd",))
    assert server.requests == []


def test_since_selects_the_window(
    sqlite_factory: sessionmaker[Session], server: FeedServer
) -> None:
    report = _update(sqlite_factory, server, since=datetime(2026, 6, 1, tzinfo=UTC), feeds=("nvd",))

    (request,) = server.nvd_requests()
    assert request.url.params["lastModStartDate"] == "2026-06-01T00:00:00.000+00:00"
    # the three records the NVD modified in June 2026
    assert report.nvd.added == {"CVE-2019-10959", "CVE-2019-11687", "CVE-2021-33886"}


@pytest.mark.parametrize(
    ("failure", "sleeps"),
    [
        (Failure(NVD_PATH, times=2, status=503), [6.0, 12.0]),
        (Failure(NVD_PATH, times=1, status=429, headers={"Retry-After": "7"}), [7.0]),
        (Failure(NVD_PATH, times=3, status=403), [6.0, 12.0, 24.0]),
        (Failure(NVD_PATH, times=1, error=httpx.ConnectError), [6.0]),
    ],
    ids=["503-twice", "429-retry-after", "403-thrice", "connect-error"],
)
def test_transient_failures_are_retried(
    sqlite_factory: sessionmaker[Session], server: FeedServer, failure: Failure, sleeps: list[float]
) -> None:
    server.failures.append(failure)

    report = _update(sqlite_factory, server, feeds=("nvd",))

    assert server.clock.sleeps == sleeps
    assert report.nvd.records == 38


def test_gives_up_after_bounded_retries_naming_the_url(
    sqlite_factory: sessionmaker[Session], server: FeedServer
) -> None:
    server.failures.append(Failure(NVD_PATH, times=100, status=403))

    with pytest.raises(FeedDownloadError) as raised:
        _update(sqlite_factory, server, feeds=("nvd",))

    assert raised.value.url == f"{NVD_URL}?startIndex=0&resultsPerPage=2000"
    assert "gave up after 5 attempts: HTTP 403" in str(raised.value)
    assert len(server.requests) == 5
    assert _states(sqlite_factory) == {}


def test_client_errors_are_not_retried(
    sqlite_factory: sessionmaker[Session], server: FeedServer
) -> None:
    server.bodies.clear()

    with pytest.raises(FeedDownloadError, match="HTTP 404") as raised:
        _update(sqlite_factory, server, feeds=("kev",))

    assert raised.value.url == KEV_URL
    assert len(server.requests) == 1


def test_failure_midway_keeps_stored_pages_but_not_the_mark(
    sqlite_factory: sessionmaker[Session], server: FeedServer
) -> None:
    server.failures.append(Failure(NVD_PATH, times=100, status=503, start_index="15"))

    with pytest.raises(FeedDownloadError, match="startIndex=15"):
        _update(sqlite_factory, server, feeds=("nvd",))

    assert _count(sqlite_factory, Vulnerability) == 15
    assert "nvd" not in _states(sqlite_factory)


def test_invalid_page_names_the_url_and_field(
    sqlite_factory: sessionmaker[Session], server: FeedServer
) -> None:
    broken = _nvd_raw("CVE-2024-3400")
    broken["metrics"]["cvssMetricV31"][0]["cvssData"]["vectorString"] = "CVSS:3.1/AV:N/AC:L"
    server.nvd_records = [*server.nvd_records[:20], broken]

    with pytest.raises(FeedFileError) as raised:
        _update(sqlite_factory, server, feeds=("nvd",))

    assert raised.value.source == f"{NVD_URL}?startIndex=15&resultsPerPage=2000"
    assert (
        raised.value.location
        == "vulnerabilities[5].cve.metrics.cvssMetricV31[0].cvssData.vectorString"
    )


def test_deadline_bounds_the_update(
    sqlite_factory: sessionmaker[Session], server: FeedServer
) -> None:
    server.page_cap = 2

    with pytest.raises(FeedDownloadError, match="time allowed"):
        _update(sqlite_factory, server, feeds=("nvd",), deadline_seconds=60.0)

    assert server.clock.elapsed < 120.0


def test_kev_and_epss_online(sqlite_factory: sessionmaker[Session], server: FeedServer) -> None:
    report = _update(sqlite_factory, server, feeds=("kev", "epss"))

    assert (report.kev.version, len(report.kev.added), report.kev.removed) == (
        "2025.08.25",
        1404,
        frozenset(),
    )
    assert (report.epss.records, len(report.epss.changed)) == (49, 49)
    assert [r.url.path for r, _ in server.requests] == [
        "/feeds/known_exploited_vulnerabilities.json",
        "/epss_scores-current.csv.gz",
    ]
    states = _states(sqlite_factory)
    assert (states["kev"].version, states["epss"].version) == (
        "2025.08.25",
        "2026-09-29 (model v2026.06.15)",
    )


def test_unknown_feed_name_is_refused(
    sqlite_factory: sessionmaker[Session], server: FeedServer
) -> None:
    with pytest.raises(FeedError, match="feeds must be some of"):
        _update(sqlite_factory, server, feeds=("osv",))
