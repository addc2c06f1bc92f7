"""Feed loading speed: the shared data, a full-size EPSS file and a large NVD download.

Prints, for a fresh SQLite database (and PostgreSQL when reachable):

- loading all of ``../shared/data`` (38 NVD records, the 1404-entry KEV catalogue, the EPSS
  sample) with ``load_directory``;
- a synthetic EPSS file of 320,000 rows (real format, synthetic CVE ids), gzip-compressed:
  parsing, then storing; beside it the baseline of one ORM lookup and write per row;
- synthetic NVD API pages (the real records under synthetic CVE ids, 2000 a page).

Usage: ``python bench/feeds_load.py [--epss-rows N] [--nvd-records N] [--baseline-rows N]``.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import os
import random
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from panacea.db.engine import create_db_engine, migrate, session_scope
from panacea.vulndb.epss import EpssScores, read_epss_file, store_epss_scores
from panacea.vulndb.feeds import load_directory
from panacea.vulndb.models import Vulnerability

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
POSTGRES_URL = os.environ.get(
    "PANACEA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epss-rows", type=int, default=320_000)
    parser.add_argument("--nvd-records", type=int, default=20_000)
    parser.add_argument("--baseline-rows", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        epss_file = write_synthetic_epss(work / "epss_scores-current.csv.gz", args.epss_rows)
        nvd_dir = write_synthetic_nvd_pages(work / "nvd-pages", args.nvd_records)
        for name, database in databases(work):
            print(f"\n== {name} ==")
            bench_database(database, epss_file, nvd_dir, args.baseline_rows)


def databases(work: Path) -> Iterator[tuple[str, Callable[[], Any]]]:
    yield "SQLite (file)", lambda: sqlite_database(work)
    if postgres_reachable():
        yield "PostgreSQL", postgres_database
    else:
        print(f"\n(PostgreSQL not reachable at {POSTGRES_URL}: skipped)")


def bench_database(
    database: Callable[[], Any], epss_file: Path, nvd_dir: Path, baseline_rows: int
) -> None:
    with database() as factory:
        seconds = timed(lambda: load_directory(factory, SHARED_DATA))
        print(f"shared data (38 NVD + 1404 KEV + 49 EPSS): {seconds:8.2f} s")
    with database() as factory:
        bench_epss(factory, epss_file)
    with database() as factory:
        bench_epss_baseline(factory, epss_file, baseline_rows)
    with database() as factory:
        records = sum(len(json.loads(p.read_text())["vulnerabilities"]) for p in nvd_dir.iterdir())
        seconds = timed(lambda: load_directory(factory, nvd_dir))
        print(f"NVD pages, {records} records: {seconds:8.2f} s  {rate(records, seconds)}")


def bench_epss(factory: sessionmaker[Session], epss_file: Path) -> None:
    started = time.perf_counter()
    scores = read_epss_file(epss_file)
    parsed = time.perf_counter()
    with session_scope(factory) as session:
        store_epss_scores(session, scores)
    stored = time.perf_counter()
    rows = len(scores.scores)
    total = stored - started
    print(
        f"EPSS {rows} rows, bulk: parse {parsed - started:6.2f} s, store {stored - parsed:6.2f} s,"
        f" total {total:6.2f} s  {rate(rows, total)}"
    )
    with session_scope(factory) as session:  # the next day's file: every row an update
        seconds = timed(lambda: store_epss_scores(session, next_day(scores)))
    print(f"EPSS {rows} rows again (all updates): store {seconds:6.2f} s  {rate(rows, seconds)}")


def bench_epss_baseline(factory: sessionmaker[Session], epss_file: Path, rows: int) -> None:
    """The obvious ORM way: look each CVE up, create or change it. One SELECT per row."""
    scores = read_epss_file(epss_file).scores[:rows]
    started = time.perf_counter()
    with session_scope(factory) as session:
        for score in scores:
            row = session.get(Vulnerability, score.cve_id) or Vulnerability(cve_id=score.cve_id)
            row.epss, row.epss_percentile, row.epss_date = (
                score.epss,
                score.percentile,
                date.today(),
            )
            session.add(row)
    seconds = time.perf_counter() - started
    label = f"EPSS baseline, ORM get + add per row, {len(scores)} rows"
    print(f"{label}: {seconds:6.2f} s  {rate(len(scores), seconds)}")


def next_day(scores: EpssScores) -> EpssScores:
    day = date.fromordinal(scores.score_date.toordinal() + 1)
    return EpssScores(scores.model_version, day, scores.scores)


def write_synthetic_epss(path: Path, rows: int) -> Path:
    """Real format: the metadata line, the header, ``CVE-YYYY-NNNNN,epss,percentile`` rows."""
    generator = random.Random(2025)
    lines = ["#model_version:v2025.03.14,score_date:2025-08-25T12:55:00Z", "cve,epss,percentile"]
    for index in range(rows):
        year, number = 1999 + index % 27, 1000 + index // 27
        lines.append(f"CVE-{year}-{number:05d},{generator.random():.5f},{generator.random():.5f}")
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=6))
    return path


def write_synthetic_nvd_pages(directory: Path, records: int) -> Path:
    """API 2.0 pages of the 38 real records, repeated under synthetic CVE ids."""
    directory.mkdir()
    real = [json.loads(p.read_text()) for p in sorted((SHARED_DATA / "nvd").glob("*.json"))]
    for start in range(0, records, 2000):
        page = []
        for index in range(start, min(start + 2000, records)):
            record = copy.deepcopy(real[index % len(real)])
            record["id"] = f"CVE-2099-{index + 10000}"
            page.append({"cve": record})
        document = {
            "resultsPerPage": len(page),
            "startIndex": start,
            "totalResults": records,
            "format": "NVD_CVE",
            "version": "2.0",
            "timestamp": "2025-08-26T10:00:00.000",
            "vulnerabilities": page,
        }
        (directory / f"page-{start:07d}.json").write_text(json.dumps(document))
    return directory


@contextmanager
def sqlite_database(work: Path) -> Iterator[sessionmaker[Session]]:
    path = work / f"bench-{uuid.uuid4().hex[:8]}.db"
    engine = create_db_engine(f"sqlite:///{path}")
    migrate(engine)
    try:
        yield sessionmaker(engine, expire_on_commit=False)
    finally:
        engine.dispose()
        path.unlink()


def postgres_reachable() -> bool:
    try:
        engine = create_engine(POSTGRES_URL)
        with engine.connect():
            pass
        engine.dispose()
    except OperationalError:
        return False
    return True


@contextmanager
def postgres_database() -> Iterator[sessionmaker[Session]]:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_db_engine(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}")
    try:
        migrate(engine)
        yield sessionmaker(engine, expire_on_commit=False)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def rate(records: int, seconds: float) -> str:
    return f"{records / seconds:9.0f} records/s"


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
