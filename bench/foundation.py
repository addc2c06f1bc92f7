"""Speed and memory of PANACEA's foundation: feeds, inventory import and matching.

For each database (a fresh SQLite file; a fresh PostgreSQL schema when the server is reachable)
and each inventory size, it measures:

- ``feeds``: ``load_directory`` of all of ``../shared/data`` (NVD records, the KEV catalogue, the
  EPSS sample) into the freshly migrated database;
- ``import``: ``import_file(factory, "inventory", path, organisation=...)`` of the demo hospital
  (``build_demo(assets=N, seed=7)``) written as a YAML inventory file: parsing, validation,
  reference checks, storage and the matching of the touched assets, in one transaction;
- ``match``: ``match_organisation`` over the imported organisation again (its second run: every
  finding already exists), committed;

and, without a database, ``parse``: ``parse_inventory`` alone (YAML and validation), once per
size, and ``startup``: the first ``importer_for`` call of a process, which loads every importer
module (the import step is timed after it, so that it measures work, not module loading).

Each measurement runs in a fresh interpreter; its peak resident set is read from VmHWM, reset
just before the step. ``--profile`` runs the imports under cProfile and prints the hotspots.
Usage, from the repository root::

    .venv/bin/python bench/foundation.py [--assets 5000,50000] [--db sqlite|postgresql|both]
                                         [--seed 7] [--profile] [--markdown]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from panacea.db.engine import create_db_engine, migrate, session_scope
from panacea.demo.hospital import build_demo
from panacea.findings.models import Finding
from panacea.inventory.assets import Asset, AssetAddress, Component, Endpoint
from panacea.inventory.importers.inventory_yaml import parse_inventory
from panacea.inventory.imports import import_file, importer_for
from panacea.inventory.service import get_organisation
from panacea.vulndb.feeds import load_directory
from panacea.vulndb.matching import match_organisation
from panacea.vulndb.models import Vulnerability, VulnerableProduct

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
POSTGRES_URL = os.environ.get(
    "PANACEA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ORGANISATION = "Demo General Hospital"
DEFAULT_SIZES = "5000,50000"
STEP_TIMEOUT_SECONDS = 3600.0
PROFILE_LINES = 30
STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")
# The C emitter writes the same text as yaml.safe_dump, about three times as fast.
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
console = Console(stderr=True)


@dataclass(frozen=True)
class Measurement:
    """One step in one fresh interpreter: wall and CPU seconds, resident memory, what it did."""

    step: str
    seconds: float
    cpu_seconds: float
    resting_mib: float  # resident set just before the step (interpreter, libraries, inputs)
    peak_mib: float  # peak resident set during the step (VmHWM, reset just before it)
    records: int  # what the step's rate is counted in: feed records or assets
    rows: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    database: str
    assets: int
    file_bytes: int
    measurement: Measurement


# --- one step, in a child interpreter ------------------------------------------------------------


def run_step(step: str, url: str, inventory: Path, profile: Path | None) -> Measurement:
    """Run ``step`` (startup, feeds, parse, import, match) once and measure it."""
    action = STEPS[step](url, inventory)
    resting = reset_peak_resident()
    profiler = cProfile.Profile() if profile else None
    cpu, started = process_cpu(), time.perf_counter()
    if profiler is not None:
        profiler.enable()
    records, rows = action()
    if profiler is not None:
        profiler.disable()
    seconds, cpu = time.perf_counter() - started, process_cpu() - cpu
    peak = memory_status("VmHWM")
    if profiler is not None and profile is not None:
        profiler.dump_stats(profile)
    return Measurement(step, seconds, cpu, resting, peak, records, rows)


Action = Callable[[], tuple[int, dict[str, int]]]


def feeds_step(url: str, _inventory: Path) -> Action:
    factory = session_factory(url)

    def action() -> tuple[int, dict[str, int]]:
        report = load_directory(factory, SHARED_DATA)
        rows = table_counts(factory, {"CVEs": Vulnerability, "product index": VulnerableProduct})
        return sum(report.files.values()), rows

    return action


def parse_step(_url: str, inventory: Path) -> Action:
    raw = inventory.read_bytes()

    def action() -> tuple[int, dict[str, int]]:
        document = parse_inventory(raw, str(inventory))
        endpoints = sum(len(a.endpoints) for a in document.assets)
        components = sum(len(a.components) for a in document.assets)
        rows = {"assets": len(document.assets), "endpoints": endpoints, "components": components}
        return len(document.assets), rows | {"rules": len(document.rules)}

    return action


def startup_step(_url: str, _inventory: Path) -> Action:
    def action() -> tuple[int, dict[str, int]]:
        importer_for("inventory")  # the first call loads every importer module
        return 1, {"modules loaded": len(sys.modules) - modules_before}

    modules_before = len(sys.modules)
    return action


def import_step(url: str, inventory: Path) -> Action:
    factory = session_factory(url)
    # Module loading is a start-up cost of the process, measured by the ``startup`` step.
    importer_for("inventory")

    def action() -> tuple[int, dict[str, int]]:
        report = import_file(factory, "inventory", inventory, organisation=ORGANISATION)
        return report.assets_added + report.assets_updated, {}

    return action


def match_step(url: str, _inventory: Path) -> Action:
    factory = session_factory(url)

    def action() -> tuple[int, dict[str, int]]:
        with session_scope(factory) as session:
            organisation_id = get_organisation(session, ORGANISATION).id
            report = match_organisation(session, organisation_id)
        return report.assets, {
            "added": report.findings_added,
            "refreshed": report.findings_refreshed,
            "resolved": report.findings_resolved,
        }

    return action


STEPS: dict[str, Callable[[str, Path], Action]] = {
    "startup": startup_step,
    "feeds": feeds_step,
    "parse": parse_step,
    "import": import_step,
    "match": match_step,
}
INVENTORY_TABLES = {
    "assets": Asset,
    "addresses": AssetAddress,
    "endpoints": Endpoint,
    "components": Component,
    "findings": Finding,
}


def session_factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(create_db_engine(url), expire_on_commit=False)


def table_counts(factory: sessionmaker[Session], tables: dict[str, Any]) -> dict[str, int]:
    """Rows of each table (the database is fresh: all of them were created by the benchmark)."""
    with factory() as session:
        return {
            name: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for name, model in tables.items()
        }


def reset_peak_resident() -> float:
    """Reset the peak resident set to the current one (Linux); return the current, in MiB.

    Not ``ru_maxrss``: Linux carries it over ``fork`` and ``exec``, so a child would report
    the peak of the parent that built the 50k-asset inventory.
    """
    with contextlib.suppress(OSError):  # clear_refs needs Linux >= 4.0; VmHWM is then the peak
        CLEAR_REFS.write_text("5")  # 5: reset the peak RSS (man 5 proc)
    return memory_status("VmRSS")


def memory_status(field_name: str) -> float:
    """A field of /proc/self/status (VmRSS, VmHWM), in MiB."""
    for line in STATUS.read_text().splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"{STATUS} has no {field_name} (this benchmark needs Linux)")


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- the parent: files, databases, children, table ---------------------------------------------


def measure(
    step: str, *, url: str = "", inventory: Path | None = None, profile: Path | None = None
) -> Measurement:
    """Run ``step`` in a fresh interpreter; raise SystemExit with its stderr if it fails."""
    command = [sys.executable, str(Path(__file__).resolve()), "--step", step, "--url", url]
    command += ["--inventory", str(inventory or "")]
    command += ["--profile-out", str(profile)] if profile else []
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=STEP_TIMEOUT_SECONDS, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"step {step} failed (exit {done.returncode}):\n{done.stderr}")
    fields = json.loads(done.stdout.strip().splitlines()[-1])
    return Measurement(**fields)


def write_inventory(path: Path, assets: int, seed: int) -> Path:
    """Write the demo hospital of ``assets`` assets as an inventory file; check rule aliases."""
    document = build_demo(assets=assets, seed=seed, organisation=ORGANISATION)
    data = document.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    if not all("from" in rule and "to" in rule for rule in data["rules"]):
        raise SystemExit("rules were not written with their 'from'/'to' aliases")
    with path.open("w", encoding="utf-8") as out:
        yaml.dump(data, out, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
    return path


def run_database(
    name: str, database: Callable[[Path], Any], work: Path, files: dict[int, Path], profile: bool
) -> list[Result]:
    """Per size: a fresh database, then feeds, import and the second matching run."""
    results = []
    for assets, inventory in files.items():
        size = inventory.stat().st_size
        with database(work) as url:
            for step in ("feeds", "import", "match"):
                stats = work / f"{name}-{assets}.prof" if profile and step == "import" else None
                with console.status(f"{name}, {assets:,} assets: {step}"):
                    measured = measure(step, url=url, inventory=inventory, profile=stats)
                if step == "import":
                    measured = with_inventory_rows(measured, url)
                results.append(Result(name, assets, size, measured))
                console.log(f"{name} {assets:,} {step}: {measured.seconds:.2f} s")
                if stats is not None:
                    print_hotspots(stats, f"{name}, {assets:,} assets: import")
    return results


def with_inventory_rows(measured: Measurement, url: str) -> Measurement:
    engine = create_db_engine(url)
    rows = table_counts(sessionmaker(engine), INVENTORY_TABLES)
    engine.dispose()
    return Measurement(**(asdict(measured) | {"rows": rows | measured.rows}))


@contextmanager
def sqlite_database(work: Path) -> Iterator[str]:
    path = work / f"bench-{uuid.uuid4().hex[:8]}.db"
    url = f"sqlite:///{path}"
    migrated(create_db_engine(url))
    try:
        yield url
    finally:
        path.unlink(missing_ok=True)


@contextmanager
def postgres_database(_work: Path) -> Iterator[str]:
    """A fresh schema in the ``test`` database, migrated; dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    try:
        migrated(create_db_engine(url))
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def migrated(engine: Engine) -> None:
    migrate(engine)
    engine.dispose()


def postgres_reachable() -> bool:
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.connect():
            return True
    except OperationalError:
        return False
    finally:
        engine.dispose()


def databases(choice: str) -> Iterator[tuple[str, Callable[[Path], Any]]]:
    if choice in ("sqlite", "both"):
        yield "SQLite", sqlite_database
    if choice in ("postgresql", "both"):
        if postgres_reachable():
            yield "PostgreSQL", postgres_database
        else:
            console.log(f"PostgreSQL is not reachable at {POSTGRES_URL}: skipped")


def print_hotspots(stats_file: Path, title: str) -> None:
    """The top functions by own time and by cumulative time, then PANACEA's own by cumulative."""
    listings = (("tottime", ()), ("cumulative", ()), ("cumulative", ("src/panacea/",)))
    for order, restriction in listings:
        scope = " in src/panacea" if restriction else ""
        print(f"\n--- {title}: top {PROFILE_LINES} by {order}{scope} ---")
        stats = pstats.Stats(str(stats_file), stream=sys.stdout).sort_stats(order)
        stats.print_stats(*restriction, PROFILE_LINES)


# --- output ------------------------------------------------------------------------------------

COLUMNS = (
    "database",
    "assets",
    "step",
    "file MB",
    "wall s",
    "CPU s",
    "records",
    "records/s",
    "peak MiB",
    "rows",
)


def cells(result: Result) -> tuple[str, ...]:
    m = result.measurement
    counted = m.step != "startup"
    file_mb = f"{result.file_bytes / 1e6:.1f}" if m.step in ("parse", "import") else ""
    return (
        result.database,
        f"{result.assets:,}" if result.assets else "",
        m.step,
        file_mb,
        f"{m.seconds:.2f}",
        f"{m.cpu_seconds:.2f}",
        f"{m.records:,}" if counted else "",
        f"{m.records / m.seconds:,.0f}" if counted and m.seconds > 0 else "",
        f"{m.peak_mib:.0f} ({m.resting_mib:.0f})",
        ", ".join(f"{name} {count:,}" for name, count in m.rows.items()),
    )


def print_table(results: list[Result]) -> None:
    table = Table(title="PANACEA foundation", caption="peak MiB: peak RSS (RSS before the step)")
    for column in COLUMNS:
        table.add_column(
            column, justify="left" if column in ("database", "step", "rows") else "right"
        )
    for result in results:
        table.add_row(*cells(result))
    Console(width=200).print(table)


def print_markdown(results: list[Result]) -> None:
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "|".join("---" for _ in COLUMNS) + "|")
    for result in results:
        print("| " + " | ".join(cells(result)) + " |")


# --- command line ------------------------------------------------------------------------------


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--assets", default=DEFAULT_SIZES, help="comma-separated sizes")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="profile the imports")
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    parser.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--inventory", default="", help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", default="", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_arguments()
    if args.step:  # a child: one step, its measurement as JSON on the last line
        profile = Path(args.profile_out) if args.profile_out else None
        measured = run_step(args.step, args.url, Path(args.inventory), profile)
        print(json.dumps(asdict(measured)))
        return
    sizes = [int(size) for size in args.assets.split(",")]
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        files = {}
        for assets in sizes:
            with console.status(f"writing the {assets:,}-asset inventory"):
                started = time.perf_counter()
                files[assets] = write_inventory(
                    work / f"inventory-{assets}.yaml", assets, args.seed
                )
            megabytes = files[assets].stat().st_size / 1e6
            console.log(f"inventory of {assets:,} assets: {megabytes:.1f} MB")
            console.log(f"  built and written in {time.perf_counter() - started:.1f} s")
        with console.status("loading the importers"):
            results = [Result("-", 0, 0, measure("startup"))]
        for assets, inventory in files.items():
            with console.status(f"{assets:,} assets: parse"):
                measured = measure("parse", inventory=inventory)
            results.append(Result("-", assets, inventory.stat().st_size, measured))
        for name, database in databases(args.db):
            results += run_database(name, database, work, files, args.profile)
    print_table(results)
    if args.markdown:
        print_markdown(results)


if __name__ == "__main__":
    main()
