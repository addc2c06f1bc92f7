"""The cycle-free support: first-reach levels, acyclicity, readmissible late edges."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panacea.risk import support
from panacea.risk.attack_graph import AttackGraph, Gate, GraphBuilder, NodeKind
from panacea.risk.simulate import exact_probabilities
from panacea.risk.support import (
    NEVER,
    cycle_free_support,
    edge_children,
    first_reach_levels,
    readmissible,
    strong_components,
)
from tests.risk.graph_strategies import graph_specs
from tests.risk.test_simulate import build


def levels(graph: AttackGraph, **options: bool) -> dict[str, int]:
    found = first_reach_levels(graph, **options)
    return {label: int(found[i]) for i, label in enumerate(graph.labels)}


def test_first_reach_levels_follow_the_gates() -> None:
    graph = build(
        {"e": (Gate.OR, 0.5), "a": (Gate.OR, 0.0), "b": (Gate.OR, 1.0), "and": (Gate.AND, 1.0),
         "k": (Gate.THRESHOLD, 1.0, 2), "x": (Gate.AND, 1.0), "y": (Gate.OR, 1.0)},
        [("e", "a"), ("a", "b"), ("e", "and"), ("b", "and"), ("e", "k"), ("a", "k"),
         ("b", "k"), ("y", "x"), ("e", "x"), ("x", "y")],
    )  # fmt: skip
    # chances are ignored (a has 0); x needs y, which needs x: never
    assert levels(graph) == {"e": 0, "a": 1, "b": 2, "and": 3, "k": 2, "x": NEVER, "y": NEVER}
    relaxed = levels(graph, every_gate_or=True)
    assert relaxed["and"] == 1
    assert relaxed["x"] == 1
    assert relaxed["y"] == 2


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_a_node_is_reached_at_some_level_iff_it_can_hold(data: st.DataObject) -> None:
    graph = data.draw(graph_specs(cyclic=True)).build()  # own chances all above 0
    assert ((first_reach_levels(graph) != NEVER) == (exact_probabilities(graph) > 0)).all()


def has_cycle(graph: AttackGraph, edges: np.ndarray) -> bool:
    child = edge_children(graph)
    waiting = np.bincount(child[edges], minlength=graph.size)
    ready = deque(np.flatnonzero(waiting == 0).tolist())
    seen = 0
    while ready:
        node = ready.popleft()
        seen += 1
        for e in np.flatnonzero(edges & (graph.parents == node)):
            waiting[child[e]] -= 1
            if waiting[child[e]] == 0:
                ready.append(int(child[e]))
    return seen < graph.size


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_support_is_acyclic_and_keeps_every_edge_between_components(data: st.DataObject) -> None:
    graph = data.draw(graph_specs(cyclic=True, max_nodes=14)).build()
    kept = cycle_free_support(graph)
    component = strong_components(graph)
    between = component[graph.parents] != component[edge_children(graph)]
    assert not has_cycle(graph, kept)
    assert kept[between].all()
    assert not kept[graph.parents == edge_children(graph)].any()


def ancestors(graph: AttackGraph, edges: np.ndarray, node: int) -> set[int]:
    child = edge_children(graph)
    found, todo = {node}, [node]
    while todo:
        current = todo.pop()
        for e in np.flatnonzero(edges & (child == current)):
            parent = int(graph.parents[e])
            if parent not in found:
                found.add(parent)
                todo.append(parent)
    return found


def brute_force_readmissible(graph: AttackGraph, kept: np.ndarray) -> np.ndarray:
    child = edge_children(graph)
    component = strong_components(graph)
    result = np.zeros(graph.edges, dtype=bool)
    for e in range(graph.edges):
        u, w = int(graph.parents[e]), int(child[e])
        if kept[e] or u == w or component[u] != component[w]:
            continue
        result[e] = w not in ancestors(graph, kept, u)
    return result


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_readmissible_edges_are_exactly_those_whose_head_is_no_ancestor(
    data: st.DataObject,
) -> None:
    graph = data.draw(graph_specs(cyclic=True, max_nodes=14)).build()
    kept = cycle_free_support(graph)
    assert (readmissible(graph, kept) == brute_force_readmissible(graph, kept)).all()


def random_cyclic_graph(nodes: int, seed: int) -> AttackGraph:
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    entry = b.node("e", NodeKind.ENTRY)
    made = [b.node(f"n{i}", NodeKind.CODE_EXEC_USER) for i in range(nodes)]
    for i, node in enumerate(made):
        if i < 5:
            b.edge(entry, node)
        for parent in rng.choice(nodes, size=2, replace=False):
            b.edge(made[int(parent)], node)
    return b.build()


def test_readmission_check_stays_sound_when_heads_share_bits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Far more heads than bits in one component: heads share buckets, and an edge may be
    refused for a bucket-mate, but never admitted when its head is an ancestor."""
    graph = random_cyclic_graph(300, seed=5)
    kept = cycle_free_support(graph)
    expected = brute_force_readmissible(graph, kept)
    monkeypatch.setattr(support, "ANCESTRY_BITS", 64)
    shared = readmissible(graph, kept)
    assert not (shared & ~expected).any()
    assert shared.sum() >= 0.9 * expected.sum() > 0
