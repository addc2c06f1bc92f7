"""The peer of bench/risk_scale.py: mal-toolbox builds its attack graph for the same hospital.

``build_mal_graph(document)`` turns a PANACEA inventory document into a model of the small MAL
language in ``bench/mal/hospital.mal`` and has mal-toolbox build the attack graph from it; the
mapping is explained in ``docs/bench-mal-peer.md``. ``run_isolated(assets, seed)`` does the same
for a demo hospital in a fresh interpreter, so that the memory high-water mark of one run is not
left over from another. Run as a script, it prints a table for 1k, 5k, 20k and 50k assets,
skipping a size whose projected build time is over the budget::

    .venv/bin/python bench/mal_peer.py [--assets 1000 5000 20000 50000] [--seed 7] [--budget 300]

mal-toolbox is a benchmark-only extra (``pip install 'mal-toolbox>=2.11,<3'``), never a
dependency of the package.
"""

from __future__ import annotations

import argparse
import atexit
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from panacea.demo.hospital import build_demo
from panacea.inventory.importers.inventory_schema import (
    AccountSpec,
    AssetSpec,
    EndpointSpec,
    InventoryDocument,
    ServiceSpec,
)
from panacea.risk.ports import allows

LANGUAGE = Path(__file__).with_name("mal") / "hospital.mal"
STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")
DEFAULT_SIZES = (1_000, 5_000, 20_000, 50_000)
DEFAULT_BUDGET_SECONDS = 300.0
LETTER_FIELD = {"C": "confidentiality", "I": "integrity", "A": "availability"}
# Port sets as in src/panacea/risk/construction.py (copied: the peer must not follow that module's
# internals): credentials work on these ports, and a flaw of the OS is reached through its services.
USER_LOGON_PORTS = frozenset({22, 23, 3389, 5900})
ADMIN_LOGON_PORTS = USER_LOGON_PORTS | {445, 5985, 5986}
OS_SERVICE_PORTS = frozenset({22, 135, 137, 138, 139, 161, 445, 3389, 5985, 5986})
# The figure to beat, from the issue: mal-toolbox 2.11 with coreLang on a 2-core machine.
CORELANG_REFERENCE = (
    "mal-toolbox 2.11 + coreLang: 917k attack steps for 10,000 applications, 18.9 s"
)

MalAsset = Any  # maltoolbox.model.ModelAsset: mal-toolbox ships no type information


class MalPeerUnavailableError(RuntimeError):
    """mal-toolbox is not installed (it is the benchmark-only extra ``bench``)."""


@dataclass(frozen=True)
class MalResult:
    """One build: attack-graph nodes (attack and defence steps), wall seconds for model plus
    graph, rise of the peak resident set during the build in MiB, and the details behind them."""

    nodes: int
    seconds: float
    peak_mib: float
    model_assets: int = 0
    edges: int = 0
    graph_seconds: float = 0.0
    cpu_seconds: float = 0.0


def _maltoolbox() -> ModuleType:
    """Imports mal-toolbox with its log file in a temporary folder (by default it writes
    ``logs/log.txt`` under the working directory on import) and at WARNING level."""
    if "maltoolbox" not in sys.modules and "MALTOOLBOX_CONFIG" not in os.environ:
        folder = Path(tempfile.mkdtemp(prefix="maltoolbox-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        # JSON is YAML; the other log files of the default config are written only by the CLI.
        logging_config = {"log_level": 30, "log_file": str(folder / "log.txt")}
        (folder / "maltoolbox.yml").write_text(json.dumps({"logging": logging_config}))
        os.environ["MALTOOLBOX_CONFIG"] = str(folder / "maltoolbox.yml")
    try:
        import maltoolbox
        import maltoolbox.attackgraph
        import maltoolbox.language
        import maltoolbox.model
    except ImportError as e:
        raise MalPeerUnavailableError(
            "mal-toolbox is not installed: pip install 'mal-toolbox>=2.11,<3'"
        ) from e
    return maltoolbox


def mal_toolbox_version() -> str | None:
    """The installed mal-toolbox version, or None when it is not installed."""
    try:
        return str(_maltoolbox().__version__)
    except MalPeerUnavailableError:
        return None


@cache
def _language_graph() -> Any:
    """The compiled language of bench/mal/hospital.mal (compiled once: not part of a build)."""
    return _maltoolbox().language.LanguageGraph.from_mal_spec(str(LANGUAGE))


class _ModelBuilder:
    """Builds the MAL model of one inventory document (see docs/bench-mal-peer.md)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.zones: dict[str, MalAsset] = {}
        self.hosts: dict[str, MalAsset] = {}
        self.ports: dict[tuple[str, str, int], MalAsset] = {}
        self.services: dict[str, MalAsset] = {}
        self.isolated: set[str] = set()
        self.pending: dict[tuple[int, str], tuple[MalAsset, set[MalAsset]]] = {}

    def add(self, asset_type: str, name: str, **defenses: float) -> MalAsset:
        return self.model.add_asset(asset_type, name=name, defenses=defenses or None)

    def link(self, left: MalAsset, field: str, right: MalAsset) -> None:
        """Associates ``right`` to ``left.field``, ``left`` being the side with many links.

        Links are gathered and added per asset and field in ``flush``: mal-toolbox validates an
        addition by copying the set of assets already in the field on both sides, so adding a
        zone's hosts one by one would take time quadratic in the hosts of the zone.
        """
        self.pending.setdefault((left.id, field), (left, set()))[1].add(right)

    def flush(self) -> None:
        for (_, field), (left, rights) in self.pending.items():
            left.add_associated_assets(field, rights)
        self.pending.clear()

    def build(self, document: InventoryDocument) -> None:
        for zone in document.zones:
            self.zone(zone.name, isolated=zone.isolated)
        for asset in document.assets:
            self.host(asset)
        self.rules(document)
        for account in document.accounts:
            self.account(account)
        for group in document.staff_groups:
            self.staff_group(group.name, [(w.asset, w.zone) for w in group.workstations])
        for service in document.services:
            self.services[service.key] = self.add("ClinicalService", f"service/{service.key}")
        for service in document.services:
            self.service(service)
        self.flush()

    def zone(self, name: str, *, isolated: bool = False) -> MalAsset:
        if name not in self.zones:
            self.zones[name] = self.add("Zone", f"zone/{name}")
            if isolated:
                self.isolated.add(name)
        return self.zones[name]

    def port(self, zone: str, protocol: str, port: int) -> MalAsset:
        """reach(zone, protocol/port), made on first use, open from inside unless isolated."""
        key = (zone, protocol, port)
        if key not in self.ports:
            node = self.add("PortReach", f"reach/{zone}/{protocol}/{port}")
            self.link(self.zone(zone), "ports", node)
            if zone not in self.isolated:
                self.link(self.zone(zone), "localPorts", node)
            self.ports[key] = node
        return self.ports[key]

    def host(self, spec: AssetSpec) -> None:
        defenses = {"edr": 1.0} if "edr" in spec.controls else {}
        host = self.add("Host", f"host/{spec.name}", **defenses)
        self.hosts[spec.name] = host
        if spec.zone is not None:
            self.link(self.zone(spec.zone), "hosts", host)
        if spec.remote_access_zone is not None:
            self.link(self.zone(spec.remote_access_zone), "remoteAccessGateways", host)
        for endpoint in spec.endpoints:
            self.endpoint(spec, host, endpoint)
        for index, component in enumerate(spec.components):
            application = self.application(
                "Application", f"component/{spec.name}/{index}/{component.name}", host
            )
            self.vulnerability("PrivilegeEscalation", application)
        if spec.known_cves:
            self.operating_system(spec, host)

    def application(self, asset_type: str, name: str, host: MalAsset) -> MalAsset:
        application = self.add(asset_type, name)
        self.link(host, "applications", application)
        return application

    def vulnerability(self, asset_type: str, application: MalAsset, cve: str = "proxy") -> None:
        vulnerability = self.add(asset_type, f"{cve}/{application.name}")
        self.link(application, "vulnerabilities", vulnerability)

    def endpoint(self, spec: AssetSpec, host: MalAsset, endpoint: EndpointSpec) -> None:
        kind = "Application"
        # A remote-access gateway (SSL-VPN, vendor portal) takes logons on its published ports.
        if endpoint.port in USER_LOGON_PORTS or spec.remote_access_zone is not None:
            kind = "LogonService"
        elif endpoint.port in ADMIN_LOGON_PORTS:
            kind = "AdminLogonService"
        name = f"endpoint/{spec.name}/{endpoint.protocol}/{endpoint.port}"
        application = self.application(kind, name, host)
        if spec.zone is not None:
            self.link(
                self.port(spec.zone, endpoint.protocol, endpoint.port), "listeners", application
            )
        if endpoint.cpe:
            self.vulnerability("RemoteCodeExecution", application)

    def operating_system(self, spec: AssetSpec, host: MalAsset) -> None:
        """A known CVE sits on the OS, reached through the OS's own services (as in PANACEA)."""
        application = self.application("Application", f"os/{spec.name}", host)
        os_ports = {(e.protocol, e.port) for e in spec.endpoints if e.port in OS_SERVICE_PORTS}
        if spec.zone is not None:
            for protocol, port in sorted(os_ports):
                self.link(self.port(spec.zone, protocol, port), "listeners", application)
        for cve in spec.known_cves:
            self.vulnerability("RemoteCodeExecution", application, cve)

    def rules(self, document: InventoryDocument) -> None:
        """Each rule admits every reach(to_zone, port) it lets through (ports known by now)."""
        for index, spec in enumerate(document.rules):
            rule = self.add("ReachabilityRule", f"rule/{index}/{spec.from_zone}/{spec.to_zone}")
            self.link(self.zone(spec.from_zone), "egressRules", rule)
            for (zone, protocol, port), node in self.ports.items():
                inbound = zone == spec.to_zone and zone != spec.from_zone
                if inbound and allows(spec.protocol.value, spec.ports, protocol, port):
                    self.link(rule, "admits", node)

    def account(self, spec: AccountSpec) -> None:
        account = self.add("Account", f"account/{spec.name}", **({"mfa": 1.0} if spec.mfa else {}))
        for logon in spec.logons:
            level = "admin" if logon.level == "admin" else "user"
            if logon.asset is not None:
                self.link(account, f"{level}Hosts", self.hosts[logon.asset])
            elif logon.zone is not None:
                self.link(account, f"{level}Zones", self.zone(logon.zone))

    def staff_group(self, name: str, workstations: list[tuple[str | None, str | None]]) -> None:
        group = self.add("StaffGroup", f"staff/{name}")
        for asset, zone in workstations:
            if asset is not None:
                self.link(group, "workstations", self.hosts[asset])
            elif zone is not None:
                self.link(group, "workstationZones", self.zone(zone))

    def service(self, spec: ServiceSpec) -> None:
        service = self.services[spec.key]
        for need in spec.assets:
            for letter in need.needs:
                self.link(service, f"{LETTER_FIELD[letter]}Hosts", self.hosts[need.asset])
        for group_spec in spec.redundancy_groups:
            group = self.add("RedundancyGroup", f"group/{spec.key}/{group_spec.name}")
            self.link(group, "service", service)
            for letter in group_spec.needs:
                for member in group_spec.assets:
                    self.link(group, f"{LETTER_FIELD[letter]}Members", self.hosts[member])
        for dependency in spec.depends_on:
            self.link(service, "dependencies", self.services[dependency])


def _status_mib(field: str) -> float | None:
    """A memory figure of /proc/self/status (``VmRSS``, ``VmHWM``) in MiB; None off Linux."""
    try:
        status = STATUS.read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024.0
    return None


def _start_peak_measure() -> float:
    """Resets the process's peak resident set (Linux: ``5`` to /proc/self/clear_refs) and
    returns the resident set now, in MiB; off Linux, the ``ru_maxrss`` high-water mark so far."""
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return _status_mib("VmRSS") or 0.0


def _peak_since(start: float) -> float:
    """How far the peak resident set rose above ``start`` (from ``_start_peak_measure``)."""
    peak = _status_mib("VmHWM")
    if peak is None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    return max(0.0, peak - start)


def build_mal_graph(document: InventoryDocument) -> MalResult:
    """Builds the MAL model of ``document`` and mal-toolbox's attack graph of it.

    Returns the node and edge counts, the wall time of model plus graph (the language is
    compiled beforehand, once) and how far the peak resident set rose above the resident set at
    the start of the build (on Linux the peak is reset first; elsewhere the figure is only
    meaningful in a fresh process, see ``run_isolated``).
    Raises MalPeerUnavailableError when mal-toolbox is not installed.
    """
    maltoolbox = _maltoolbox()
    language = _language_graph()
    baseline = _start_peak_measure()
    started, cpu_started = time.perf_counter(), time.process_time()
    builder = _ModelBuilder(maltoolbox.model.Model("panacea-demo-hospital", language))
    builder.build(document)
    modelled = time.perf_counter()
    graph = maltoolbox.attackgraph.AttackGraph(language, builder.model)
    finished, cpu_finished = time.perf_counter(), time.process_time()
    return MalResult(
        nodes=len(graph.nodes),
        seconds=finished - started,
        peak_mib=_peak_since(baseline),
        model_assets=len(builder.model.assets),
        edges=sum(len(node.children) for node in graph.nodes.values()),
        graph_seconds=finished - modelled,
        cpu_seconds=cpu_finished - cpu_started,
    )


def run_isolated(assets: int, *, seed: int = 7, timeout: float | None = None) -> MalResult:
    """``build_mal_graph`` of ``build_demo(assets=assets, seed=seed)`` in a fresh interpreter.

    Raises subprocess.TimeoutExpired past ``timeout`` seconds, RuntimeError when the worker fails.
    """
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", str(assets)]
    command += ["--seed", str(seed)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"mal_peer worker for {assets} assets failed:\n{done.stderr}")
    return MalResult(**json.loads(done.stdout.strip().splitlines()[-1]))


def _projected_seconds(done: list[tuple[int, MalResult]], assets: int) -> float:
    """Extrapolates from the two largest runs so far with the growth exponent they show (at
    least linear), or linearly from a single run."""
    size, result = done[-1]
    exponent = 1.0
    if len(done) > 1 and done[-2][1].seconds > 0 and done[-2][0] < size:
        smaller, before = done[-2]
        exponent = max(1.0, math.log(result.seconds / before.seconds) / math.log(size / smaller))
    return result.seconds * float((assets / size) ** exponent)


def _print_table(rows: list[tuple[int, MalResult]]) -> None:
    print(
        f"{'assets':>7} {'MAL assets':>10} {'AG nodes':>9} {'AG edges':>9} {'model+AG s':>10} "
        f"{'AG s':>7} {'CPU s':>7} {'peak MiB':>9} {'nodes/s':>8}"
    )
    for assets, r in rows:
        rate = r.nodes / r.seconds if r.seconds else float("nan")
        print(
            f"{assets:>7} {r.model_assets:>10} {r.nodes:>9} {r.edges:>9} {r.seconds:>10.2f} "
            f"{r.graph_seconds:>7.2f} {r.cpu_seconds:>7.2f} {r.peak_mib:>9.1f} {rate:>8.0f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--assets", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET_SECONDS,
        help="skip a size whose projected build time is over this (seconds)",
    )
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        result = build_mal_graph(build_demo(assets=args.worker, seed=args.seed))
        print(json.dumps(asdict(result)))
        return
    print(f"mal-toolbox {mal_toolbox_version()}, language {LANGUAGE.name}, seed {args.seed}")
    print(f"reference: {CORELANG_REFERENCE}")
    rows: list[tuple[int, MalResult]] = []
    for assets in sorted(args.assets):
        if rows and (projected := _projected_seconds(rows, assets)) > args.budget:
            print(
                f"skipped {assets} assets: projected {projected:.0f} s > budget {args.budget:.0f} s"
            )
            continue
        rows.append((assets, run_isolated(assets, seed=args.seed, timeout=4 * args.budget)))
        print(f"done {assets} assets in {rows[-1][1].seconds:.2f} s", file=sys.stderr)
    _print_table(rows)


if __name__ == "__main__":
    main()
