"""Small random attack graphs for property tests, as specs that can be edited and rebuilt.

Also an independent reference: the least fixed point of every world, enumerated in plain
Python (no numpy, no bit packing), to check ``exact_probabilities`` against.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

from hypothesis import strategies as st

from panacea.risk.attack_graph import AttackGraph, Gate, GraphBuilder, NodeKind

CHANCES = st.floats(min_value=0.05, max_value=0.95, allow_nan=False)


@dataclass(frozen=True)
class NodeSpec:
    kind: NodeKind
    gate: Gate
    need: int | None
    probability: float


@dataclass(frozen=True)
class GraphSpec:
    nodes: tuple[NodeSpec, ...]
    edges: tuple[tuple[int, int], ...]  # (parent, child)

    def build(self) -> AttackGraph:
        b = GraphBuilder()
        for i, n in enumerate(self.nodes):
            b.node(f"n{i}", n.kind, gate=n.gate, need=n.need, probability=n.probability)
        for parent, child in self.edges:
            b.edge(parent, child)
        return b.build()

    def with_edge(self, parent: int, child: int) -> GraphSpec:
        return replace(self, edges=(*self.edges, (parent, child)))

    def with_probability(self, node: int, probability: float) -> GraphSpec:
        nodes = list(self.nodes)
        nodes[node] = replace(nodes[node], probability=probability)
        return replace(self, nodes=tuple(nodes))

    def with_entry(self, child: int, probability: float) -> GraphSpec:
        entry = NodeSpec(NodeKind.ENTRY, Gate.OR, None, probability)
        return GraphSpec((*self.nodes, entry), (*self.edges, (len(self.nodes), child)))

    def random_actions(self) -> list[int]:
        return [i for i, n in enumerate(self.nodes) if n.probability < 1.0]

    def derived(self) -> list[int]:
        """Nodes with a gate over parents (not entries)."""
        return [i for i, n in enumerate(self.nodes) if n.kind is not NodeKind.ENTRY]


def _chance(draw: st.DrawFn, budget: list[int]) -> float:
    if budget[0] > 0 and draw(st.booleans()):
        budget[0] -= 1
        return draw(CHANCES)
    return 1.0


@st.composite
def graph_specs(
    draw: st.DrawFn, *, cyclic: bool, max_nodes: int = 10, max_actions: int = 10
) -> GraphSpec:
    """1-3 entries, then OR/AND/THRESHOLD nodes with 1-3 parents: earlier nodes only (a DAG)
    or any node including itself (cycles and self-loops). At most ``max_actions`` chances < 1.
    """
    n = draw(st.integers(min_value=2, max_value=max_nodes))
    entries = draw(st.integers(min_value=1, max_value=min(3, n - 1)))
    budget = [max_actions]
    nodes: list[NodeSpec] = []
    edges: list[tuple[int, int]] = []
    for i in range(n):
        probability = _chance(draw, budget)
        if i < entries:
            nodes.append(NodeSpec(NodeKind.ENTRY, Gate.OR, None, probability))
            continue
        gate = draw(st.sampled_from(Gate))
        pool = st.integers(min_value=0, max_value=n - 1 if cyclic else i - 1)
        parents = draw(st.lists(pool, min_size=1, max_size=3, unique=True))
        need = draw(st.integers(1, len(parents))) if gate is Gate.THRESHOLD else None
        kind = NodeKind.EXPLOIT if gate is Gate.AND else NodeKind.CODE_EXEC_USER
        nodes.append(NodeSpec(kind, gate, need, probability))
        edges.extend((parent, i) for parent in parents)
    return GraphSpec(tuple(nodes), tuple(edges))


@st.composite
def tree_specs(draw: st.DrawFn, *, max_actions: int = 12) -> GraphSpec:
    """Graphs in which no two parents of a node share an ancestor: each new node merges 1-3
    current roots (disjoint subtrees) under a random gate."""
    budget = [max_actions]
    leaves = draw(st.integers(min_value=1, max_value=6))
    nodes = [NodeSpec(NodeKind.ENTRY, Gate.OR, None, _chance(draw, budget)) for _ in range(leaves)]
    edges: list[tuple[int, int]] = []
    roots = list(range(leaves))
    while len(roots) > 1 or (len(nodes) < 14 and draw(st.booleans())):
        k = draw(st.integers(min_value=1, max_value=min(3, len(roots))))
        picked = draw(st.permutations(roots))[:k]
        roots = [r for r in roots if r not in picked]
        gate = draw(st.sampled_from(Gate))
        need = draw(st.integers(1, k)) if gate is Gate.THRESHOLD else None
        nodes.append(NodeSpec(NodeKind.CODE_EXEC_USER, gate, need, _chance(draw, budget)))
        edges.extend((parent, len(nodes) - 1) for parent in picked)
        roots.append(len(nodes) - 1)
    return GraphSpec(tuple(nodes), tuple(edges))


def brute_force(spec: GraphSpec) -> list[float]:
    """Every node's probability: the least fixed point of each world, weighted and summed."""
    n = len(spec.nodes)
    parents = [sorted({p for p, c in spec.edges if c == i}) for i in range(n)]
    actions = spec.random_actions()
    result = [0.0] * n
    for world in itertools.product((False, True), repeat=len(actions)):
        coin = [True] * n
        weight = 1.0
        for action, succeeds in zip(actions, world, strict=True):
            coin[action] = succeeds
            p = spec.nodes[action].probability
            weight *= p if succeeds else 1.0 - p
        for i, holds in enumerate(_least_fixed_point(spec, parents, coin)):
            result[i] += weight if holds else 0.0
    return result


def _least_fixed_point(spec: GraphSpec, parents: list[list[int]], coin: list[bool]) -> list[bool]:
    holds = [False] * len(spec.nodes)
    changed = True
    while changed:  # from nothing upwards: only ever adds nodes, so it ends at the least one
        changed = False
        for i, node in enumerate(spec.nodes):
            if not holds[i] and coin[i] and _satisfied(node, parents[i], holds):
                holds[i] = changed = True
    return holds


def _satisfied(node: NodeSpec, parents: list[int], holds: list[bool]) -> bool:
    if node.kind is NodeKind.ENTRY:
        return True
    count = sum(holds[p] for p in parents)
    if node.gate is Gate.AND:
        return bool(parents) and count == len(parents)
    if node.gate is Gate.THRESHOLD:
        return count >= (node.need or 1)
    return count >= 1


def labels_around(graph: AttackGraph, node: int) -> tuple[set[str], set[str]]:
    """The labels of ``node``'s parents and of its children."""
    parents = {graph.labels[p] for p in graph.parents[graph.indptr[node] : graph.indptr[node + 1]]}
    children = {
        graph.labels[c]
        for c in range(graph.size)
        if node in graph.parents[graph.indptr[c] : graph.indptr[c + 1]]
    }
    return parents, children
