"""NVD API 2.0 records: every real record parses and scores; awkward records; errors; storage."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from panacea.db.engine import session_scope
from panacea.vulndb.cpe import parse_cpe
from panacea.vulndb.documents import read_json
from panacea.vulndb.errors import FeedFileError
from panacea.vulndb.models import Vulnerability, VulnerableProduct
from panacea.vulndb.nvd import NvdRecord, parse_nvd_document, store_nvd_records
from tests.conftest import SHARED_DATA, TEST_DATA

NVD_FILES = sorted((SHARED_DATA / "nvd").glob("*.json"))
HTML_RECORD = TEST_DATA / "nvd_description_with_html.json"
CVSS_V4_RECORD = TEST_DATA / "nvd_cve_2025_0626_cvss_v4_no_configurations.json"
REJECTED_RECORD = TEST_DATA / "nvd_cve_2024_3449_rejected.json"
METRIC_KEYS = {"3.0": "cvssMetricV30", "3.1": "cvssMetricV31", "4.0": "cvssMetricV40"}


def _raw(name: str) -> dict[str, Any]:
    return json.loads((SHARED_DATA / "nvd" / f"{name}.json").read_text())


def _parse(document: object, source: str = "record.json") -> NvdRecord:
    (record,) = parse_nvd_document(document, source=source).records
    return record


def _page(
    records: list[dict[str, Any]], start: int = 0, total: int | None = None
) -> dict[str, Any]:
    return {
        "resultsPerPage": len(records),
        "startIndex": start,
        "totalResults": len(records) if total is None else total,
        "format": "NVD_CVE",
        "version": "2.0",
        "timestamp": "2025-08-26T10:00:00.000",
        "vulnerabilities": [{"cve": record} for record in records],
    }


def _chosen(raw: dict[str, Any], version: str) -> dict[str, Any] | None:
    metrics = raw.get("metrics", {}).get(METRIC_KEYS[version], [])
    primary = [m for m in metrics if m.get("type") == "Primary"]
    return (primary or metrics or [None])[0]


def test_all_real_records_are_here(shared_data: Path) -> None:
    assert len(NVD_FILES) == 38


@pytest.mark.parametrize("path", NVD_FILES, ids=lambda p: p.stem)
def test_real_record(path: Path, shared_data: Path) -> None:
    raw = json.loads(path.read_text())
    record = _parse(raw, str(path))

    assert record.cve_id == raw["id"] == path.stem
    assert record.status == raw["vulnStatus"]
    assert record.last_modified == datetime.fromisoformat(raw["lastModified"]).replace(tzinfo=UTC)
    for version, metric in (
        ("3.0", record.cvss_v30),
        ("3.1", record.cvss_v31),
        ("4.0", record.cvss_v40),
    ):
        published = _chosen(raw, version)
        if published is None:
            assert metric is None
            continue
        assert metric is not None
        assert metric.vector == published["cvssData"]["vectorString"]
        assert metric.score == published["cvssData"]["baseScore"] == metric.published_score
        assert metric.source == published["source"]
    assert record.configurations == raw.get("configurations", [])
    criteria = [
        m["criteria"]
        for c in raw.get("configurations", [])
        for n in c["nodes"]
        for m in n["cpeMatch"]
    ]
    assert record.products == {parse_cpe(c).vendor_product for c in criteria}
    assert all(cwe.startswith("CWE-") for cwe in record.cwes)
    assert record.description
    assert "<p>" not in record.description


def test_v30_only_record_keeps_its_v30_metric(shared_data: Path) -> None:
    record = _parse(_raw("CVE-2019-10959"))

    assert record.cvss_v31 is None
    assert record.cvss_v40 is None
    assert record.cvss_v30 is not None
    assert record.cvss_v30.vector.startswith("CVSS:3.0/")
    assert record.cvss_v30.score == 10.0


def test_primary_metric_is_preferred_over_an_earlier_secondary(shared_data: Path) -> None:
    """CVE-2018-13379 lists Fortinet's metric first and the NVD's (Primary) second."""
    record = _parse(_raw("CVE-2018-13379"))

    assert record.cvss_v31 is not None
    assert record.cvss_v31.source == "nvd@nist.gov"


def test_without_a_primary_metric_the_first_is_taken(shared_data: Path) -> None:
    record = _parse(_raw("CVE-2021-34527"))

    assert record.cvss_v31 is not None
    assert record.cvss_v31.source == "secure@microsoft.com"


def test_record_awaiting_analysis_has_no_configurations(shared_data: Path) -> None:
    record = _parse(_raw("CVE-2024-3400"))

    assert (record.status, record.configurations, record.products) == (
        "Awaiting Analysis",
        [],
        frozenset(),
    )
    assert record.cvss_v31 is not None
    assert record.cvss_v31.score == 10.0


def test_cwes_drop_nvd_placeholders_and_duplicates(shared_data: Path) -> None:
    assert _parse(_raw("CVE-2023-4966")).cwes == ("CWE-119",)  # and NVD-CWE-noinfo
    assert _parse(_raw("CVE-2017-11882")).cwes == ("CWE-119",)  # listed by two sources
    assert _parse(_raw("CVE-2023-33466")).cwes == ()  # NVD-CWE-noinfo only
    assert _parse(_raw("CVE-2022-2120")).cwes == ("CWE-23", "CWE-22")


def test_cvss_v4_record_without_configurations() -> None:
    record = _parse(read_json(CVSS_V4_RECORD))

    assert record.cvss_v40 is not None
    assert record.cvss_v40.vector.startswith("CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:P/VC:H/VI:H/VA:H")
    assert (record.cvss_v40.score, record.cvss_v40.published_score) == (7.7, 7.7)
    assert record.cvss_v31 is not None
    assert record.cvss_v31.score == 7.5
    assert (record.status, record.products, record.cwes) == (
        "Awaiting Analysis",
        frozenset(),
        ("CWE-912",),
    )


def test_rejected_record() -> None:
    record = _parse(read_json(REJECTED_RECORD))

    assert record.rejected
    assert (record.cvss_v31, record.configurations, record.cwes) == (None, [], ())
    assert record.description.startswith("Rejected reason:")


def test_html_description_becomes_paragraphs_of_text() -> None:
    record = _parse(read_json(HTML_RECORD))

    paragraphs = record.description.split("\n\n")
    assert paragraphs[0].startswith("Microsoft is investigating reports of a remote code execution")
    assert "<" not in record.description
    assert "Please see the Mitigations and Workaround sections for important" in record.description
    assert len(paragraphs) == 6


def test_api_page_of_real_records(shared_data: Path) -> None:
    raws = [_raw("CVE-2019-0708"), _raw("CVE-2024-3400"), _raw("CVE-2019-10959")]
    document = parse_nvd_document(_page(raws, start=2000, total=2003), source="page.json")

    assert [r.cve_id for r in document.records] == [r["id"] for r in raws]
    assert (document.start_index, document.total_results, document.results_per_page) == (
        2000,
        2003,
        3,
    )
    assert document.timestamp == datetime(2025, 8, 26, 10, tzinfo=UTC)


# --- errors name the file and the field -------------------------------------------------------


def _with(raw: dict[str, Any], path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    changed = copy.deepcopy(raw)
    target: Any = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


V31_DATA = ("metrics", "cvssMetricV31", 0, "cvssData")
FIRST_MATCH = ("configurations", 0, "nodes", 0, "cpeMatch", 0)


@pytest.mark.parametrize(
    ("path", "value", "location", "message"),
    [
        ((*V31_DATA, "baseScore"), "8.8", "metrics.cvssMetricV31[0].cvssData.baseScore", "number"),
        (
            (*V31_DATA, "vectorString"),
            "CVSS:3.1/AV:X/AC:L",
            "metrics.cvssMetricV31[0].cvssData.vectorString",
            "AV:X",
        ),
        (
            (*V31_DATA, "vectorString"),
            "CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H",
            "metrics.cvssMetricV31[0].cvssData.vectorString",
            "must start with",
        ),
        (
            (*V31_DATA, "version"),
            "3.0",
            "metrics.cvssMetricV31[0].cvssData.version",
            "expected CVSS 3.1",
        ),
        (
            (*FIRST_MATCH, "vulnerable"),
            "true",
            "configurations[0].nodes[0].cpeMatch[0].vulnerable",
            "boolean",
        ),
        (
            (*FIRST_MATCH, "criteria"),
            "orthanc 1.12",
            "configurations[0].nodes[0].cpeMatch[0].criteria",
            "not a CPE",
        ),
        (
            (*FIRST_MATCH, "criteria"),
            f"cpe:2.3:a:orthanc-server:{'o' * 201}:*:*:*:*:*:*:*:*",
            "configurations[0].nodes[0].cpeMatch[0].criteria",
            "longer than 200 characters",
        ),
        (("configurations", 0, "nodes"), {"cpeMatch": []}, "configurations[0].nodes", "list"),
        (("id",), "CVE-23-33466", "id", "pattern"),
        (("lastModified",), "yesterday", "lastModified", "ISO-8601"),
    ],
    ids=[
        "score-as-text",
        "bad-vector",
        "vector-of-other-version",
        "version",
        "bool-as-text",
        "bad-cpe",
        "product-too-long",
        "nodes-not-list",
        "bad-id",
        "bad-time",
    ],
)
def test_wrong_field_is_named(
    shared_data: Path, path: tuple[str | int, ...], value: object, location: str, message: str
) -> None:
    document = _with(_raw("CVE-2023-33466"), path, value)

    with pytest.raises(FeedFileError) as raised:
        parse_nvd_document(document, source="nvd/CVE-2023-33466.json")

    assert raised.value.source == "nvd/CVE-2023-33466.json"
    assert raised.value.location == location
    assert message in raised.value.message
    assert str(raised.value).startswith(f"nvd/CVE-2023-33466.json: {location}: ")


def test_wrong_field_in_a_page_names_its_position(shared_data: Path) -> None:
    bad = _with(_raw("CVE-2023-33466"), (*V31_DATA, "vectorString"), "CVSS:3.1/AV:N")
    document = _page([_raw("CVE-2024-3400"), bad])

    with pytest.raises(FeedFileError) as raised:
        parse_nvd_document(document, source="https://nvd.test/?startIndex=0")

    assert (
        raised.value.location
        == "vulnerabilities[1].cve.metrics.cvssMetricV31[0].cvssData.vectorString"
    )


def test_page_missing_its_counters_is_refused(shared_data: Path) -> None:
    document = _page([_raw("CVE-2024-3400")])
    del document["totalResults"]

    with pytest.raises(FeedFileError, match="totalResults"):
        parse_nvd_document(document, source="page.json")


def test_truncated_file_names_file_and_line(tmp_path: Path, shared_data: Path) -> None:
    path = tmp_path / "CVE-2019-0708.json"
    path.write_bytes((SHARED_DATA / "nvd" / "CVE-2019-0708.json").read_bytes()[:5000])

    with pytest.raises(FeedFileError) as raised:
        read_json(path)

    assert raised.value.source == str(path)
    assert raised.value.location is not None
    assert raised.value.location.startswith("line ")


def _leaves(node: object, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _leaves(child, (*path, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _leaves(child, (*path, index))
    else:
        yield path


JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
CORPUS = [json.loads(p.read_text()) for p in NVD_FILES[:6]]


@pytest.mark.skipif(not CORPUS, reason="shared data missing")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), value=JSON_VALUES)
def test_any_damaged_field_gives_a_feed_error_or_a_record(
    data: st.DataObject, value: object
) -> None:
    """Replacing any leaf of a real record never raises anything but FeedFileError."""
    raw = data.draw(st.sampled_from(CORPUS))
    path = data.draw(st.sampled_from(list(_leaves(raw))))
    outcome: NvdRecord | FeedFileError
    try:
        outcome = _parse(_with(raw, path, value))
    except FeedFileError as e:
        outcome = e
    if isinstance(outcome, FeedFileError):
        assert outcome.source == "record.json"
    else:
        assert outcome.cve_id.startswith("CVE-")


# --- storing ---------------------------------------------------------------------------------


def _all_records() -> list[NvdRecord]:
    return [_parse(json.loads(p.read_text()), str(p)) for p in NVD_FILES]


@contextmanager
def _counted_statements(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_store_real_records_in_a_few_statements(
    factory: sessionmaker[Session], shared_data: Path
) -> None:
    records = _all_records()
    engine = factory.kw["bind"]
    with _counted_statements(engine) as statements, session_scope(factory) as session:
        result = store_nvd_records(session, records)

    assert (result.records, len(result.added), result.modified) == (38, 38, frozenset())
    # one lookup, one upsert, one delete and one insert of index rows: not one per record
    assert len([s for s in statements if not s.startswith(("BEGIN", "COMMIT"))]) <= 6
    expected_pairs = sum(len(r.products) for r in records)
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Vulnerability)) == 38
        assert session.scalar(select(func.count()).select_from(VulnerableProduct)) == expected_pairs
        row = session.get(Vulnerability, "CVE-2019-10959")
        assert row is not None
        assert row.nvd_loaded
        assert (row.cvss_v30_score, row.cvss_v31_vector, row.cwes) == (10.0, None, ["CWE-434"])
        assert (
            row.published == datetime(2019, 9, 13, 18, 15, 13, 907000, tzinfo=UTC) or row.published
        )


def test_reload_keeps_kev_and_epss_columns(
    factory: sessionmaker[Session], shared_data: Path
) -> None:
    record = _parse(_raw("CVE-2021-34527"))
    with session_scope(factory) as session:
        session.add(
            Vulnerability(cve_id=record.cve_id, kev=True, kev_name="PrintNightmare", epss=0.94)
        )
    with session_scope(factory) as session:
        result = store_nvd_records(session, [record])

    assert result.added == {"CVE-2021-34527"}  # the row existed, but without an NVD record
    with factory() as session:
        row = session.get(Vulnerability, "CVE-2021-34527")
        assert row is not None
        assert (row.kev, row.kev_name, row.epss, row.nvd_loaded) == (
            True,
            "PrintNightmare",
            0.94,
            True,
        )
        assert row.cvss_v31_score == 8.8


def test_newer_record_replaces_and_older_is_skipped(
    sqlite_factory: sessionmaker[Session], shared_data: Path
) -> None:
    raw = _raw("CVE-2023-33466")
    current = _parse(raw)
    newer = _parse(
        _with(_with(raw, ("lastModified",), "2024-01-01T00:00:00.000"), ("configurations",), [])
    )
    older = _parse(_with(raw, ("lastModified",), "2023-07-01T00:00:00.000"))
    with session_scope(sqlite_factory) as session:
        store_nvd_records(session, [current])
    with session_scope(sqlite_factory) as session:
        assert store_nvd_records(session, [newer]).modified == {"CVE-2023-33466"}
    with session_scope(sqlite_factory) as session:
        skipped = store_nvd_records(session, [older])

    assert (skipped.records, skipped.skipped_older) == (0, {"CVE-2023-33466"})
    with sqlite_factory() as session:
        row = session.get(Vulnerability, "CVE-2023-33466")
        assert row is not None
        assert row.configurations == []
        assert session.scalar(select(func.count()).select_from(VulnerableProduct)) == 0


def test_duplicates_in_one_batch_keep_the_newest(
    sqlite_factory: sessionmaker[Session], shared_data: Path
) -> None:
    raw = _raw("CVE-2023-33466")
    newer = _parse(_with(raw, ("lastModified",), "2024-01-01T00:00:00.000"))
    with session_scope(sqlite_factory) as session:
        result = store_nvd_records(session, [newer, _parse(raw)])

    assert result.records == 1
    with sqlite_factory() as session:
        row = session.get(Vulnerability, "CVE-2023-33466")
        assert row is not None
        assert row.last_modified == datetime(2024, 1, 1, tzinfo=UTC)
