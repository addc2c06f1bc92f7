"""Error of the analytic likelihood (``propagate``) against the reference, and its speed.

Prints, for seeded random graphs (figures quoted in docs/risk-likelihood-error.md):

1. per-node error |analytic - exact| against exact enumeration on small graphs of four
   families: polytrees (no shared ancestor: the control, exact), random DAGs, random cyclic
   graphs, and hospital-shaped graphs (zones, reachability, exploits, pivots back into the zone,
   credential theft and reuse, k-of-n service groups); for the treatments of cycles compared:
   loopy noisy gates (``Cycles.LOOPY``), first-reach order over every edge, first-reach order
   inside strongly connected components, ``Cycles.CUT`` with and without readmitted late
   edges; with and without conditioning on entries;
2. the same against Monte Carlo on a large hospital-shaped graph (too many actions to enumerate);
3. the same on the graph panacea.risk.construction builds for the demo hospital (120 and 600
   assets, a temporary SQLite database);
4. timing of ``propagate`` against ``simulate`` on a large random graph.

Usage: ``python bench/likelihood_error.py [--graphs N] [--seed S] [--nodes N] [--edges M]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import sessionmaker

from panacea.db.engine import create_db_engine, migrate
from panacea.demo.install import install_demo
from panacea.inventory.service import get_organisation
from panacea.risk.attack_graph import AttackGraph, Gate, GraphBuilder, Members, NodeKind
from panacea.risk.construction import build_attack_graph
from panacea.risk.inputs import load_inputs
from panacea.risk.likelihood import Cycles, propagate, propagate_along
from panacea.risk.parameters import RiskParameters
from panacea.risk.simulate import exact_probabilities, simulate
from panacea.risk.support import (
    cycle_free_support,
    edge_children,
    first_reach_levels,
    readmissible,
    strong_components,
)

MAX_ACTIONS = 16
Method = Callable[[AttackGraph], NDArray[np.float64]]
Family = Callable[[np.random.Generator], AttackGraph]


# the cycle treatments compared ----------------------------------------------------------
def first_reach_everywhere(graph: AttackGraph) -> NDArray[np.float64]:
    """Only edges from a lower to a higher first-reach level, on DAGs too."""
    level = first_reach_levels(graph)
    return propagate_along(graph, level[graph.parents] < level[edge_children(graph)])


def first_reach_in_components(graph: AttackGraph) -> NDArray[np.float64]:
    """Edges between components, and lower-to-higher level edges inside one (ties dropped)."""
    level = first_reach_levels(graph)
    child = edge_children(graph)
    component = strong_components(graph)
    between = component[graph.parents] != component[child]
    return propagate_along(graph, between | (level[graph.parents] < level[child]))


METHODS: dict[str, Method] = {
    "loopy (naive)": lambda g: propagate(g, cycles=Cycles.LOOPY, conditioning=0),
    "loopy + entries (default)": lambda g: propagate(g),
    "first-reach, all edges": first_reach_everywhere,
    "first-reach in SCCs": first_reach_in_components,
    "cut: support only": lambda g: propagate_along(g, cycle_free_support(g)),
    "cut: + readmission": lambda g: propagate(g, cycles=Cycles.CUT, conditioning=0),
    "cut + entries": lambda g: propagate(g, cycles=Cycles.CUT),
}


# graph families ----------------------------------------------------------------------------
def _chance(rng: np.random.Generator, budget: list[int], certain: float) -> float:
    """A random own chance while the action budget lasts (exact enumeration is 2^actions)."""
    if budget[0] <= 0 or rng.random() < certain:
        return 1.0
    budget[0] -= 1
    return float(rng.uniform(0.1, 0.95))


def random_graph(rng: np.random.Generator, *, cyclic: bool) -> AttackGraph:
    """8-25 nodes, 1-3 entries, OR/AND/THRESHOLD gates; parents earlier (or, if cyclic, any)."""
    n = int(rng.integers(8, 26))
    entries = int(rng.integers(1, 4))
    budget = [MAX_ACTIONS]
    b = GraphBuilder()
    parents: list[list[int]] = []
    for i in range(n):
        if i < entries:
            b.node(f"e{i}", NodeKind.ENTRY, probability=_chance(rng, budget, 0.3))
            parents.append([])
            continue
        gate = Gate(rng.choice(3, p=[0.5, 0.35, 0.15]))
        k = min(i, int(rng.integers(2, 5) if gate == Gate.THRESHOLD else rng.integers(1, 4)))
        pool = np.array([j for j in range(n) if j != i]) if cyclic else np.arange(i)
        if cyclic:  # mostly forward edges, some back: reachable nodes on cycles
            pool = pool if rng.random() < 0.35 else np.arange(i)
        chosen = [int(j) for j in rng.choice(pool, size=min(k, pool.size), replace=False)]
        need = int(rng.integers(1, len(chosen) + 1)) if gate == Gate.THRESHOLD else None
        kind = NodeKind.EXPLOIT if gate == Gate.AND else NodeKind.CODE_EXEC_USER
        b.node(f"n{i}", kind, gate=gate, need=need, probability=_chance(rng, budget, 0.4))
        parents.append(chosen)
    for child, chosen in enumerate(parents):
        for parent in chosen:
            b.edge(parent, child)
    return b.build()


def polytree(rng: np.random.Generator) -> AttackGraph:
    """Nodes that merge disjoint subtrees: no two parents of a node share an ancestor."""
    b = GraphBuilder()
    budget = [MAX_ACTIONS]
    roots = [
        b.node(f"e{i}", NodeKind.ENTRY, probability=_chance(rng, budget, 0.2))
        for i in range(int(rng.integers(3, 8)))
    ]
    made = 0
    while len(roots) > 1 or rng.random() < 0.5:
        made += 1
        k = min(len(roots), int(rng.integers(1, 4)))
        picked = [roots.pop(int(rng.integers(len(roots)))) for _ in range(k)]
        gate = Gate(rng.choice(3, p=[0.5, 0.3, 0.2]))
        need = int(rng.integers(1, k + 1)) if gate == Gate.THRESHOLD else None
        node = b.node(
            f"n{made}",
            NodeKind.CODE_EXEC_USER,
            gate=gate,
            need=need,
            probability=_chance(rng, budget, 0.4),
        )
        for parent in picked:
            b.edge(parent, node)
        roots.append(node)
    return b.build()


def hospital(rng: np.random.Generator, *, zones: int = 4, assets: int = 6) -> AttackGraph:
    """A small network: zones, reachability rules, exploits, pivots, credential reuse, services.

    The cycles are those real attack graphs have: code execution on a host gives a foothold in
    its zone (net), which reaches other hosts' ports, whose exploits give code execution. The
    entries are those of panacea.risk.parameters: internet and phishing (1), insider (0.05),
    vendor remote access (0.1).
    """
    b = GraphBuilder()

    def chance(low: float, high: float) -> float:
        return float(rng.uniform(low, high))

    net = [b.node(f"net{z}", NodeKind.NETWORK) for z in range(zones)]
    reach = [b.node(f"reach{z}", NodeKind.REACH) for z in range(zones)]
    b.edge(b.node("internet", NodeKind.ENTRY), net[0])
    b.edge(b.node("insider", NodeKind.ENTRY, probability=0.05), net[1])
    for z in range(zones):
        b.edge(net[z], reach[z])
        for source in {z - 1, *rng.choice(zones, size=2).tolist()} - {z, -1}:
            b.edge(net[source], reach[z])  # a rule source -> z
    accounts = [b.node(f"cred{a}", NodeKind.CREDENTIAL) for a in range(max(1, assets // 3))]
    b.edge(b.node("vendor", NodeKind.ENTRY, probability=0.1), accounts[0])
    phish = b.node("phish", NodeKind.PHISH, gate=Gate.AND, probability=chance(0.05, 0.3))
    b.edge(b.node("phishing", NodeKind.ENTRY), phish)
    code: list[int] = []
    for a in range(assets):
        zone = 1 + a % (zones - 1)
        exploit = b.node(f"x{a}", NodeKind.EXPLOIT, gate=Gate.AND, probability=chance(0.1, 0.8))
        host = b.node(f"code{a}", NodeKind.CODE_EXEC_USER)
        b.edge(reach[zone], exploit)
        b.edge(exploit, host)
        b.edge(host, net[zone])  # pivot
        if a % 5 == 0:  # a workstation whose user reads mail
            b.edge(phish, host)
        account = accounts[int(rng.integers(len(accounts)))]
        if rng.random() < 0.6:
            harvest = b.node(f"h{a}", NodeKind.HARVEST, gate=Gate.AND, probability=chance(0.3, 0.7))
            b.edge(host, harvest)
            b.edge(harvest, accounts[int(rng.integers(len(accounts)))])
        if rng.random() < 0.5:
            logon = b.node(f"l{a}", NodeKind.LOGON, gate=Gate.AND, probability=0.95)
            b.edge(account, logon)
            b.edge(reach[zone], logon)
            b.edge(logon, host)
        code.append(host)
    members = rng.choice(code, size=min(3, len(code)), replace=False)
    lost = b.node("service", NodeKind.GROUP_LOST, gate=Gate.THRESHOLD, need=2)
    for member in members:
        b.edge(int(member), lost)
    return b.build()


FAMILIES: dict[str, Family] = {
    "polytrees (control)": polytree,
    "random DAGs": lambda rng: random_graph(rng, cyclic=False),
    "random cyclic graphs": lambda rng: random_graph(rng, cyclic=True),
    "hospital-shaped": hospital,
}


# measurement -------------------------------------------------------------------------------
FAMILY_SEEDS = {name: offset for offset, name in enumerate(FAMILIES)}
HEADER = (
    f"  {'method':<26} {'max':>8} {'mean':>8} {'p95':>8} {'bias':>8} {'over':>6} {'under':>6}"
    f" {'mean on cycles':>15}"
)


def errors(
    family: Family, graphs: int, seed: int
) -> tuple[dict[str, NDArray[np.float64]], NDArray[np.bool_]]:
    """Signed error (analytic - exact) per method over the derived (non-entry) nodes of
    ``graphs`` graphs, and which of those nodes lie on a cycle."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[NDArray[np.float64]]] = {name: [] for name in METHODS}
    on_cycles: list[NDArray[np.bool_]] = []
    for _ in range(graphs):
        graph = family(rng)
        derived = graph.need > 0
        exact = exact_probabilities(graph)
        for name, method in METHODS.items():
            out[name].append((method(graph) - exact)[derived])
        component = strong_components(graph)
        on_cycles.append((np.bincount(component)[component] > 1)[derived])
    return {k: np.concatenate(v) for k, v in out.items()}, np.concatenate(on_cycles)


def row(name: str, error: NDArray[np.float64], on_cycles: NDArray[np.bool_]) -> str:
    size = np.abs(error)
    cycles = f"{size[on_cycles].mean():>15.4f}" if on_cycles.any() else f"{'-':>15}"
    return (
        f"  {name:<26} {size.max():>8.4f} {size.mean():>8.4f} {np.percentile(size, 95):>8.4f}"
        f" {error.mean():>+8.4f} {np.mean(error > 1e-9):>6.0%} {np.mean(error < -1e-9):>6.0%}"
        f"{cycles}"
    )


def error_tables(graphs: int, seed: int) -> None:
    for family_name, family in FAMILIES.items():
        by_method, on_cycles = errors(family, graphs, seed + FAMILY_SEEDS[family_name])
        print(
            f"\n{family_name}: {graphs} graphs, {on_cycles.size} derived nodes"
            f" ({on_cycles.sum()} on cycles), |analytic - exact|"
        )
        print(HEADER)
        for name, error in by_method.items():
            print(row(name, error, on_cycles))


def large_hospital(seed: int, trials: int) -> None:
    graph = hospital(np.random.default_rng(seed), zones=30, assets=600)
    versus_monte_carlo("hospital-shaped", graph, trials, seed)


def versus_monte_carlo(name: str, graph: AttackGraph, trials: int, seed: int) -> None:
    """Per-node error of every method against a long Monte Carlo run (too many actions to
    enumerate), over the derived nodes the simulation reaches."""
    component = strong_components(graph)
    in_cycles = np.bincount(component)[component] > 1
    reference = simulate(graph, trials=trials, seed=seed)
    derived = (graph.need > 0) & (reference.probability > 0)
    print(
        f"\n{name}, {graph.size} nodes, {graph.edges} edges, {graph.actions().size}"
        f" actions, {in_cycles.sum()} nodes on cycles: |analytic - Monte Carlo ({trials} trials,"
        f" 95% half-width <= {np.max(reference.high - reference.low) / 2:.4f})|"
    )
    print(HEADER)
    for method_name, method in METHODS.items():
        error = (method(graph) - reference.probability)[derived]
        print(row(method_name, error, in_cycles[derived]))


def demo_hospital(assets: int, trials: int, seed: int) -> None:
    """The attack graph that panacea.risk.construction builds for the demo hospital."""
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_db_engine(f"sqlite:///{scratch}/demo.db")
        migrate(engine)
        factory = sessionmaker(engine, expire_on_commit=False)
        install_demo(factory, organisation="Bench", assets=assets, seed=seed)
        with factory() as session:
            inputs = load_inputs(session, get_organisation(session, "Bench").id)
        engine.dispose()
    graph = build_attack_graph(inputs, RiskParameters()).graph
    versus_monte_carlo(f"demo hospital ({assets} assets)", graph, trials, seed)


def large_random(nodes: int, edges: int, seed: int) -> AttackGraph:
    """Random OR/AND/THRESHOLD graph: 1% entries, parents uniform over all nodes (cyclic)."""
    rng = np.random.default_rng(seed)
    child = rng.integers(nodes // 100, nodes, size=edges)
    parent = rng.integers(0, nodes, size=edges)
    pairs = np.unique(np.stack([child, parent], axis=1), axis=0)
    counts = np.bincount(pairs[:, 0], minlength=nodes)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    gate = rng.choice(3, size=nodes, p=[0.7, 0.25, 0.05]).astype(np.int8)
    entry = np.arange(nodes) < nodes // 100
    need = np.where(gate == Gate.AND, counts, np.where(gate == Gate.THRESHOLD, 2, 1))
    need = np.where(entry, 0, np.maximum(need, 1)).astype(np.int32)
    probability = np.where(rng.random(nodes) < 0.5, 1.0, rng.uniform(0.1, 0.95, nodes))
    return AttackGraph(
        kind=np.where(entry, NodeKind.ENTRY, NodeKind.CODE_EXEC_USER).astype(np.int8),
        gate=np.where(entry, Gate.OR, gate).astype(np.int8),
        need=need,
        probability=probability,
        indptr=indptr,
        parents=pairs[:, 1].astype(np.int32),
        labels=tuple(f"n{i}" for i in range(nodes)),
        asset_of=np.full(nodes, -1, dtype=np.int64),
        exploits=Members.empty(),
    )


def timing(nodes: int, edges: int, trials: int, seed: int) -> None:
    graph = large_random(nodes, edges, seed)
    print(f"\ntiming: random graph, {graph.size} nodes, {graph.edges} edges")
    start = time.perf_counter()
    reference = simulate(graph, trials=trials, seed=seed)
    print(
        f"  simulate(): {time.perf_counter() - start:.2f} s ({reference.trials} trials,"
        f" {reference.passes} passes; 95% half-width <="
        f" {np.max(reference.high - reference.low) / 2:.4f})"
    )
    start = time.perf_counter()
    support = cycle_free_support(graph)
    readmissible(graph, support)
    print(f"  (cut: support and readmission check {time.perf_counter() - start:.2f} s)")
    for name, cycles in (("loopy", Cycles.LOOPY), ("cut", Cycles.CUT)):
        for conditioning in (0, 4):
            start = time.perf_counter()
            values = propagate(graph, cycles=cycles, conditioning=conditioning)
            took = time.perf_counter() - start
            gap = np.abs(values - reference.probability)
            print(
                f"  propagate({name}, {conditioning} entries): {took:.2f} s;"
                f" |- simulate|: mean {gap.mean():.4f}, p95 {np.percentile(gap, 95):.4f},"
                f" max {gap.max():.4f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--nodes", type=int, default=300_000)
    parser.add_argument("--edges", type=int, default=1_000_000)
    parser.add_argument("--trials", type=int, default=1024)
    args = parser.parse_args()
    error_tables(args.graphs, args.seed)
    large_hospital(args.seed, trials=65_536)
    for assets in (120, 600):
        demo_hospital(assets, trials=65_536, seed=3)
    timing(args.nodes, args.edges, args.trials, args.seed)


if __name__ == "__main__":
    main()
