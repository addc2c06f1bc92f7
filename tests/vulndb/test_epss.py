"""FIRST EPSS scores: the real file format, plain and gzip; bad rows named by line; bulk storage."""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from panacea.db.engine import session_scope
from panacea.vulndb.epss import (
    EpssScore,
    EpssScores,
    parse_epss_bytes,
    parse_epss_lines,
    read_epss_file,
    store_epss_scores,
)
from panacea.vulndb.errors import FeedFileError
from panacea.vulndb.models import Vulnerability
from tests.conftest import SHARED_DATA

SAMPLE = SHARED_DATA / "epss" / "epss_scores-current.SAMPLE_first_rows.csv"
METADATA = "#model_version:v2025.03.14,score_date:2025-08-25T12:55:00Z"


def _file(tmp_path: Path, text: str, name: str = "epss.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _scores(day: date, *rows: tuple[str, float, float]) -> EpssScores:
    return EpssScores("v2025.03.14", day, tuple(EpssScore(*row) for row in rows))


def test_real_sample(shared_data: Path) -> None:
    scores = read_epss_file(SAMPLE)

    assert (scores.model_version, scores.score_date) == ("v2026.06.15", date(2026, 9, 29))
    assert len(scores.scores) == 49
    assert scores.scores[0] == EpssScore("CVE-1999-0001", 0.03351, 0.88255)
    assert scores.scores[-1] == EpssScore("CVE-1999-0050", 0.01237, 0.67892)


def test_gzip_file_reads_the_same(shared_data: Path, tmp_path: Path) -> None:
    compressed = tmp_path / "epss_scores-current.csv.gz"
    compressed.write_bytes(gzip.compress(SAMPLE.read_bytes()))

    assert read_epss_file(compressed) == read_epss_file(SAMPLE)
    assert parse_epss_bytes(compressed.read_bytes(), source="epss.gz") == read_epss_file(SAMPLE)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("cve,epss,percentile\nCVE-1999-0001,0.1,0.2\n", "line 1", "#model_version"),
        (f"{METADATA}\ncve,score,percentile\n", "line 2", "expected header"),
        (
            f"{METADATA}\ncve,epss,percentile\nCVE-1999-0001,0.1,0.2\nCVE-1999-0002,high,0.2\n",
            "line 4",
            "not a number",
        ),
        (f"{METADATA}\ncve,epss,percentile\nCVE-1999-0001,1.5,0.2\n", "line 3", "0..1"),
        (f"{METADATA}\ncve,epss,percentile\nCVE-1999-0001,nan,0.2\n", "line 3", "0..1"),
        (f"{METADATA}\ncve,epss,percentile\nCVE-1999-0001,0.1\n", "line 3", "expected cve,epss"),
        (f"{METADATA}\ncve,epss,percentile\nCVE-99-1,0.1,0.2\n", "line 3", "expected cve,epss"),
        (
            f"{METADATA}\ncve,epss,percentile\nCVE-1999-0001,0.1,0.2\nCVE-1999-0001,0.1,0.2\n",
            "line 4",
            "listed twice",
        ),
    ],
    ids=[
        "no-metadata",
        "bad-header",
        "text-score",
        "above-one",
        "nan",
        "short-row",
        "bad-id",
        "duplicate",
    ],
)
def test_bad_line_is_named(tmp_path: Path, text: str, line: str, message: str) -> None:
    path = _file(tmp_path, text)

    with pytest.raises(FeedFileError) as raised:
        read_epss_file(path)

    assert (raised.value.source, raised.value.location) == (str(path), line)
    assert message in raised.value.message


def test_corrupt_gzip_names_the_file(shared_data: Path, tmp_path: Path) -> None:
    path = tmp_path / "epss.csv.gz"
    path.write_bytes(gzip.compress(SAMPLE.read_bytes())[:300])

    with pytest.raises(FeedFileError, match="cannot read EPSS file") as raised:
        read_epss_file(path)

    assert raised.value.source == str(path)


CVE_IDS = st.builds("CVE-{}-{:04d}".format, st.integers(1999, 2030), st.integers(1, 99999))
PROBABILITIES = st.floats(0.0, 1.0, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(rows=st.dictionaries(CVE_IDS, st.tuples(PROBABILITIES, PROBABILITIES), max_size=30))
def test_written_scores_read_back_exactly(rows: dict[str, tuple[float, float]]) -> None:
    lines = [METADATA, "cve,epss,percentile"]
    lines += [f"{cve},{epss!r},{percentile!r}" for cve, (epss, percentile) in rows.items()]

    scores = parse_epss_lines(iter(line + "\n" for line in lines), source="generated.csv")

    assert {s.cve_id: (s.epss, s.percentile) for s in scores.scores} == rows
    assert scores.score_date == date(2025, 8, 25)


def test_store_creates_rows_and_reports_changes(
    factory: sessionmaker[Session], shared_data: Path
) -> None:
    with session_scope(factory) as session:
        first = store_epss_scores(session, read_epss_file(SAMPLE))

    assert (first.records, len(first.changed), first.skipped_older) == (49, 49, 0)
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Vulnerability)) == 49
        row = session.get(Vulnerability, "CVE-1999-0016")
        assert row is not None
        assert (row.epss, row.epss_percentile, row.epss_date) == (
            0.95739,
            0.99871,
            date(2026, 9, 29),
        )
        assert (row.nvd_loaded, row.kev) == (False, False)


def test_small_moves_are_not_changes(sqlite_factory: sessionmaker[Session]) -> None:
    day, next_day = date(2025, 8, 25), date(2025, 8, 26)
    with session_scope(sqlite_factory) as session:
        store_epss_scores(
            session, _scores(day, ("CVE-2024-3400", 0.94, 0.99), ("CVE-2023-4966", 0.5, 0.9))
        )
    with session_scope(sqlite_factory) as session:
        update = store_epss_scores(
            session,
            _scores(
                next_day,
                ("CVE-2024-3400", 0.945, 0.99),
                ("CVE-2023-4966", 0.3, 0.8),
                ("CVE-2025-0626", 0.01, 0.2),
            ),
        )

    assert update.changed == {"CVE-2023-4966", "CVE-2025-0626"}
    with sqlite_factory() as session:
        row = session.get(Vulnerability, "CVE-2024-3400")
        assert row is not None
        assert (row.epss, row.epss_date) == (0.945, next_day)


def test_older_scores_do_not_replace_newer(sqlite_factory: sessionmaker[Session]) -> None:
    with session_scope(sqlite_factory) as session:
        store_epss_scores(session, _scores(date(2025, 8, 26), ("CVE-2024-3400", 0.94, 0.99)))
    with session_scope(sqlite_factory) as session:
        update = store_epss_scores(
            session,
            _scores(date(2025, 8, 25), ("CVE-2024-3400", 0.2, 0.5), ("CVE-2023-4966", 0.5, 0.9)),
        )

    assert (update.records, update.skipped_older, update.changed) == (1, 1, {"CVE-2023-4966"})
    with sqlite_factory() as session:
        row = session.get(Vulnerability, "CVE-2024-3400")
        assert row is not None
        assert row.epss == 0.94


def test_epss_keeps_kev_and_nvd_columns(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as session:
        session.add(
            Vulnerability(
                cve_id="CVE-2024-3400", kev=True, description="GlobalProtect", nvd_loaded=True
            )
        )
    with session_scope(factory) as session:
        store_epss_scores(session, _scores(date(2025, 8, 25), ("CVE-2024-3400", 0.94, 0.99)))

    with factory() as session:
        row = session.get(Vulnerability, "CVE-2024-3400")
        assert row is not None
        assert (row.kev, row.description, row.nvd_loaded, row.epss) == (
            True,
            "GlobalProtect",
            True,
            0.94,
        )
