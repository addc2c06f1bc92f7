"""Risk engine at scale, beside the peer mal-toolbox building its attack graph for the same network.

    .venv/bin/python bench/risk_scale.py --assets 1000,5000,20000

For each size: build the demo hospital, store it in a fresh SQLite file and match it (not
timed); with ``--findings-per-asset F``, top every asset up to F findings the way a scanner
that lists missing patches would (CVEs of the vulnerability database, on the asset itself,
confidence "potential"), since the issue's target is 20,000 assets with about 200,000
findings and the demo's software matches about 2 per asset. Then time, median of
``--repeat`` runs: loading the inputs from the database, building
the attack graph, Monte Carlo (4,096 worlds), impact, scenarios (k=3 per service), the whole
assessment end to end (database to the JSON document of ``panacea assess --format json``), and
``--repeat`` events of each type on the live engine (median and slowest: a finding resolved and
reopened, a KEV flag set on a CVE not yet in KEV and removed, evidence on a workstation).
Peak memory is tracemalloc's. mal-toolbox (the ``bench``
extra) builds its graph from bench/mal/hospital.mal in a fresh interpreter (bench/mal_peer.py).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from rich.console import Console
from rich.table import Table
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent))

from panacea.db.engine import open_database, session_scope
from panacea.demo.hospital import build_demo
from panacea.demo.install import packaged_feeds
from panacea.findings.models import Finding
from panacea.findings.service import FindingLocus, new_finding_values
from panacea.findings.vocabulary import Confidence
from panacea.inventory.assets import Asset
from panacea.inventory.documents import import_document
from panacea.inventory.service import get_organisation
from panacea.risk.assessment import AssessmentOptions, assess
from panacea.risk.construction import build_attack_graph
from panacea.risk.engine import Evidence, FindingStatusChanged, KevChanged, RiskEngine
from panacea.risk.impact import RiskMatrix, assess_service
from panacea.risk.inputs import RiskInputs, load_inputs
from panacea.risk.paths import ScenarioSearch, top_scenarios
from panacea.risk.report_json import assessment_document
from panacea.risk.simulate import simulate
from panacea.vulndb.feeds import load_directory
from panacea.vulndb.matching import match_organisation
from panacea.vulndb.models import Vulnerability

T = TypeVar("T")
ORG = "Bench Hospital"
console = Console()


def timed(fn: Callable[[], T], repeat: int) -> tuple[T, float, float]:
    """Result, median seconds of ``repeat`` calls, and peak MiB of one more traced call.

    Timing and tracing are separate runs: tracemalloc slows every allocation down.
    """
    seconds = []
    result = fn()
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - start)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return result, statistics.median(seconds), peak


def prepare(assets: int, folder: Path, per_asset: int = 0) -> sessionmaker[Session]:
    factory = open_database(f"sqlite:///{folder / f'bench_{assets}_{per_asset}.db'}")
    load_directory(factory, packaged_feeds())
    with session_scope(factory) as session:
        import_document(
            session,
            build_demo(assets=assets, seed=7, organisation=ORG),
            organisation=ORG,
            source="bench",
        )
        organisation = get_organisation(session, ORG).id
        match_organisation(session, organisation)
        if per_asset:
            top_up_findings(session, organisation, per_asset)
    return factory


def top_up_findings(session: Session, organisation: int, per_asset: int) -> None:
    """Give every asset ``per_asset`` findings: its matched ones, then scanner-style ones."""
    cves = sorted(session.scalars(select(Vulnerability.cve_id)))
    have: dict[int, set[str]] = {}
    for asset, cve in session.execute(
        select(Finding.asset_id, Finding.cve_id).where(Finding.organisation_id == organisation)
    ):
        have.setdefault(asset, set()).add(cve)
    rng = random.Random(11)
    rows = []
    for asset in session.scalars(select(Asset.id).where(Asset.organisation_id == organisation)):
        known = have.get(asset, set())
        extra = [c for c in rng.sample(cves, len(cves)) if c not in known]
        for cve in extra[: max(0, per_asset - len(known))]:
            rows.append(
                new_finding_values(
                    organisation,
                    FindingLocus(asset),
                    cve,
                    confidence=Confidence.POTENTIAL,
                    source="bench-scanner",
                )
            )
    for start in range(0, len(rows), 10_000):
        session.execute(insert(Finding), rows[start : start + 10_000])


def measure(
    assets: int, folder: Path, repeat: int, per_asset: int
) -> list[tuple[str, float, float, str]]:
    factory = prepare(assets, folder, per_asset)

    def load() -> RiskInputs:
        with factory() as session:
            return load_inputs(session, get_organisation(session, ORG).id)

    options = AssessmentOptions(trials=4096)
    inputs, t_load, m_load = timed(load, repeat)
    built, t_build, m_build = timed(
        lambda: build_attack_graph(inputs, options.parameters, entries=options.entries), repeat
    )
    sim, t_sim, m_sim = timed(lambda: simulate(built.graph, trials=4096), repeat)
    matrix = RiskMatrix()

    def impact() -> int:
        for s in inputs.services:
            n = built.service_nodes[s.id]
            assess_service(
                s, float(sim.probability[n]), float(sim.low[n]), float(sim.high[n]), matrix
            )
        return len(inputs.services)

    _, t_impact, m_impact = timed(impact, repeat)

    def scenarios() -> int:
        search = ScenarioSearch(built.graph)
        return len(
            [top_scenarios(built.graph, n, 3, search=search) for n in built.service_nodes.values()]
        )

    _, t_paths, m_paths = timed(scenarios, 1)  # one timed run: the search is deterministic

    def end_to_end() -> int:
        """What ``panacea assess --format json`` does after opening the database."""
        with factory() as session:
            organisation = get_organisation(session, ORG).id
            document = assessment_document(assess(session, organisation, options))
        return len(json.dumps(document))

    json_bytes, t_e2e, m_e2e = timed(end_to_end, repeat)
    start = time.perf_counter()
    engine = RiskEngine(inputs, options)
    t_engine = time.perf_counter() - start
    arrays = engine.state.nbytes + engine.coins.nbytes + engine.ranks.planes.nbytes
    rows_of_events = [
        (
            "engine start",
            t_engine,
            arrays / 2**20,
            "build, draws, fixed point with ranks (once; MiB: its arrays)",
        ),
        *(
            (
                name,
                statistics.median(times),
                0.0,
                f"{len(times)} events, slowest {max(times) * 1000:.0f} ms",
            )
            for name, times in time_events(engine, inputs, repeat).items()
        ),
    ]
    size = f"{built.graph.size:,} nodes / {built.graph.edges:,} edges"
    rows = [
        ("load inputs", t_load, m_load, f"{len(inputs.findings):,} findings"),
        ("build attack graph", t_build, m_build, size),
        ("Monte Carlo 4,096 worlds", t_sim, m_sim, f"{sim.passes} passes"),
        ("impact", t_impact, m_impact, f"{len(inputs.services)} services"),
        ("scenarios k=3", t_paths, m_paths, "all services"),
        ("sum of the steps", t_load + t_build + t_sim + t_impact + t_paths, 0.0, ""),
        ("assess, end to end", t_e2e, m_e2e, f"database to JSON ({json_bytes:,} bytes)"),
    ]
    return rows + rows_of_events


def time_events(engine: RiskEngine, inputs: RiskInputs, count: int) -> dict[str, list[float]]:
    """Seconds of ``count`` events of each kind, applied in turn to the live engine.

    Findings at evenly spaced places of the modelled ones are resolved and reopened; CVEs not
    yet in KEV at evenly spaced places get the flag, then lose it again; workstations at
    evenly spaced places get evidence of compromise (which stays).
    """
    modelled = engine.modelled_findings()
    findings = sorted(modelled)
    cves = sorted({f.cve for f in inputs.findings if f.id in modelled})
    fresh = [c for c in cves if not inputs.vulnerabilities[c].kev]
    workstations = [a.name for a in inputs.assets if a.kind == "workstation"]

    def spaced(items: list[T], i: int) -> T:
        return items[(2 * i + 1) * len(items) // (2 * count)]

    times: dict[str, list[float]] = {}
    for i in range(count):
        finding, cve = spaced(findings, i), spaced(fresh, i)
        for name, event in (
            ("event: finding resolved", FindingStatusChanged(finding, exploitable=False)),
            ("event: finding reopened", FindingStatusChanged(finding, exploitable=True)),
            ("event: KEV flag set", KevChanged(cve, kev=True)),
            ("event: KEV flag removed", KevChanged(cve, kev=False)),
            (
                "event: evidence on one asset",
                Evidence(f"code_exec:user:{spaced(workstations, i)}", 1.0),
            ),
        ):
            start = time.perf_counter()
            engine.apply(event)
            times.setdefault(name, []).append(time.perf_counter() - start)
    return times


def peer(assets: int) -> str:
    try:
        from mal_peer import MalPeerUnavailableError, run_isolated
    except ImportError as e:  # pragma: no cover - bench only
        return f"mal-toolbox peer unavailable: {e}"
    try:
        result = run_isolated(assets)
    except MalPeerUnavailableError as e:
        return f"mal-toolbox peer unavailable: {e} (pip install -e '.[bench]')"
    return (
        f"mal-toolbox: {result.nodes:,} nodes, graph build {result.seconds:.2f} s, "
        f"peak {result.peak_mib:.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--assets", default="1000,5000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--findings-per-asset", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for assets in (int(a) for a in args.assets.split(",")):
            rows = measure(assets, Path(tmp), args.repeat, args.findings_per_asset)
            table = Table(title=f"PANACEA risk engine, {assets:,} assets (median of {args.repeat})")
            for column in ("step", "seconds", "peak MiB", "size"):
                table.add_column(column)
            for name, seconds, mib, note in rows:
                table.add_row(name, f"{seconds:.3f}", f"{mib:.0f}" if mib else "", note)
            console.print(table)
            if not args.no_peer:
                build = next(r[1] for r in rows if r[0] == "build attack graph")
                line = peer(assets)
                console.print(line)
                if line.startswith("mal-toolbox:"):
                    seconds = float(line.split("graph build ")[1].split(" s")[0])
                    console.print(
                        f"ratio (mal-toolbox build / PANACEA build): {seconds / build:.1f}x"
                    )


if __name__ == "__main__":
    main()
