"""FIRST EPSS scores: the daily probability that each CVE is exploited in the next 30 days.

The file (plain or gzip-compressed) starts with ``#model_version:v2025.03.14,score_date:...``,
then the header ``cve,epss,percentile``, then one row per CVE (about 320,000). Rows are checked
as they are read; a bad row is an error naming its line. Scores are stored in bulk.

A CVE missing from a file keeps its score and older ``epss_date``: a partial file (such as the
shipped sample) must not erase the scores of a full one. A row older than the stored score for
its CVE is skipped, so loading yesterday's file after today's changes nothing.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from panacea.vulndb.bulk import upsert_vulnerabilities
from panacea.vulndb.errors import FeedFileError
from panacea.vulndb.models import Vulnerability

EPSS_FEED: Final = "epss"
HEADER: Final = ("cve", "epss", "percentile")
# The full file has about 320,000 rows; ten times that is not an EPSS file.
MAX_ROWS: Final = 3_000_000
GZIP_MAGIC: Final = b"\x1f\x8b"
DEFAULT_SIGNIFICANT_CHANGE: Final = 0.01
_CVE_ID = re.compile(r"CVE-\d{4}-\d{4,19}")
_METADATA = re.compile(r"#model_version:(?P<model>[^,\s]+),score_date:(?P<date>\d{4}-\d{2}-\d{2})")
_EPSS_COLUMNS: Final = ("epss", "epss_percentile", "epss_date")


@dataclass(frozen=True, slots=True)
class EpssScore:
    cve_id: str
    epss: float
    percentile: float


@dataclass(frozen=True)
class EpssScores:
    """One EPSS file: the model that scored, the day it scored, and the scores."""

    model_version: str
    score_date: date
    scores: tuple[EpssScore, ...]


@dataclass(frozen=True)
class EpssUpdate:
    """What storing scores changed.

    ``changed``: CVEs that had no score, or whose probability moved by at least the significant
    change; ``skipped_older``: rows older than the stored score, not applied.
    """

    model_version: str
    score_date: date
    records: int
    changed: frozenset[str]
    skipped_older: int


def read_epss_file(path: Path) -> EpssScores:
    """Read an EPSS CSV file, gzip-compressed or not (told apart by its first bytes).

    Raises FeedFileError naming the file and the line of the first bad row, a missing or wrong
    metadata line or header, an unreadable or corrupt file.
    """
    source = str(path)
    try:
        with path.open("rb") as raw:
            compressed = raw.read(2) == GZIP_MAGIC
        opener = gzip.open if compressed else open
        with opener(path, "rt", encoding="utf-8", newline="") as text:
            return parse_epss_lines(text, source=source)
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as e:
        raise FeedFileError(source, None, f"cannot read EPSS file: {e}") from e


def parse_epss_bytes(data: bytes, *, source: str) -> EpssScores:
    """Like read_epss_file, for a downloaded body (gzip-compressed or not).

    Decompression streams, so the row limit also bounds what a hostile archive can expand to.
    """
    try:
        with _text_of(data) as text:
            return parse_epss_lines(text, source=source)
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as e:
        raise FeedFileError(source, None, f"cannot read EPSS data: {e}") from e


def _text_of(data: bytes) -> TextIO:
    if data[:2] == GZIP_MAGIC:
        return gzip.open(io.BytesIO(data), "rt", encoding="utf-8", newline="")
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline="")


def parse_epss_lines(lines: Iterable[str], *, source: str) -> EpssScores:
    """Parse the lines of an EPSS CSV file. Raises FeedFileError naming ``source`` and line."""
    iterator = iter(lines)
    model, score_date = _metadata(next(iterator, ""), source)
    rows = csv.reader(iterator)
    try:
        header = next(rows, None)
        if header is None or tuple(column.strip() for column in header) != HEADER:
            expected = ",".join(HEADER)
            raise FeedFileError(source, "line 2", f"expected header {expected}, got {header}")
        scores = tuple(_scores(rows, source))
    except csv.Error as e:
        raise FeedFileError(source, f"line {rows.line_num + 1}", f"bad CSV: {e}") from e
    return EpssScores(model, score_date, scores)


def _metadata(line: str, source: str) -> tuple[str, date]:
    found = _METADATA.match(line.strip())
    if found is None:
        expected = "#model_version:<version>,score_date:<YYYY-MM-DD...>"
        raise FeedFileError(source, "line 1", f"expected {expected}, got {line.strip()[:80]!r}")
    try:
        return found["model"], date.fromisoformat(found["date"])
    except ValueError as e:
        raise FeedFileError(source, "line 1", f"bad score_date {found['date']!r}") from e


def _scores(rows: Any, source: str) -> Iterator[EpssScore]:
    """The rows of a ``csv.reader`` positioned after the header (its ``line_num`` counts lines)."""
    seen: set[str] = set()
    for row in rows:
        line = rows.line_num + 1  # the metadata line was read before the CSV reader started
        if len(seen) >= MAX_ROWS:
            raise FeedFileError(source, f"line {line}", f"more than {MAX_ROWS} rows")
        if len(row) != len(HEADER) or not _CVE_ID.fullmatch(row[0]):
            raise FeedFileError(source, f"line {line}", f"expected cve,epss,percentile: {row}")
        if row[0] in seen:
            raise FeedFileError(source, f"line {line}", f"{row[0]} listed twice")
        seen.add(row[0])
        epss, percentile = _probability(row[1], line, source), _probability(row[2], line, source)
        yield EpssScore(row[0], epss, percentile)


def _probability(text: str, line: int, source: str) -> float:
    try:
        value = float(text)
    except ValueError as e:
        raise FeedFileError(source, f"line {line}", f"not a number: {text!r}") from e
    if not 0.0 <= value <= 1.0:  # also refuses NaN, which compares false
        raise FeedFileError(source, f"line {line}", f"not a probability in 0..1: {text!r}")
    return value


def store_epss_scores(
    session: Session,
    scores: EpssScores,
    *,
    significant_change: float = DEFAULT_SIGNIFICANT_CHANGE,
) -> EpssUpdate:
    """Upsert the EPSS columns of every CVE in ``scores``; rows for unknown CVEs are created.

    One query reads the stored scores (to skip older rows and report changes), then rows are
    written in bulk. NVD and KEV columns are left alone.
    """
    stored = _stored_scores(session)
    rows: list[dict[str, Any]] = []
    changed: list[str] = []
    skipped = 0
    for score in scores.scores:
        before = stored.get(score.cve_id)
        if before is not None and before[1] > scores.score_date:
            skipped += 1
            continue
        if before is None or abs(before[0] - score.epss) >= significant_change:
            changed.append(score.cve_id)
        rows.append(_row(score, scores.score_date))
    upsert_vulnerabilities(session, rows, update=_EPSS_COLUMNS)
    return EpssUpdate(
        scores.model_version, scores.score_date, len(rows), frozenset(changed), skipped
    )


def _stored_scores(session: Session) -> dict[str, tuple[float, date]]:
    query = select(Vulnerability.cve_id, Vulnerability.epss, Vulnerability.epss_date).where(
        Vulnerability.epss.is_not(None), Vulnerability.epss_date.is_not(None)
    )
    stored: dict[str, tuple[float, date]] = {}
    for cve_id, epss, day in session.execute(query):
        if epss is not None and day is not None:  # the query says so; the types cannot
            stored[cve_id] = (epss, day)
    return stored


def _row(score: EpssScore, score_date: date) -> dict[str, Any]:
    return {
        "cve_id": score.cve_id,
        "epss": score.epss,
        "epss_percentile": score.percentile,
        "epss_date": score_date,
    }
