"""The scenario search's costs, against a plain reference, and the derivations read from them."""

from __future__ import annotations

import math
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panacea.risk import paths
from panacea.risk.attack_graph import AttackGraph, Gate, GraphBuilder, NodeKind
from panacea.risk.evidence import pin
from panacea.risk.fixpoint import structure
from panacea.risk.paths import (
    Holding,
    ScenarioSearch,
    _chosen_parents,
    _Costs,
    _costs,
    _derivation,
)
from tests.risk.graph_strategies import GraphSpec, graph_specs
from tests.risk.test_simulate import build


def reference_costs(graph: AttackGraph, banned: frozenset[int]) -> list[float]:
    """Cheapest -log cost of every node, by plain rounds over every node until none improves:
    entries their own cost, OR the cheapest parent, AND all parents, k-of-n the k cheapest,
    plus the node's own cost; banned nodes never hold."""
    n = graph.size
    own = [
        math.inf if i in banned or graph.probability[i] == 0 else -math.log(graph.probability[i])
        for i in range(n)
    ]
    parents = [graph.parents[graph.indptr[i] : graph.indptr[i + 1]].tolist() for i in range(n)]
    cost = [own[i] if graph.need[i] == 0 else math.inf for i in range(n)]
    for _ in range(n + 1):
        improved = False
        for i in range(n):
            if graph.need[i] == 0 or not parents[i]:
                continue
            values = sorted(cost[p] for p in parents[i])
            if graph.gate[i] == Gate.OR:
                best = values[0]
            elif graph.gate[i] == Gate.AND:
                best = sum(values)
            else:
                best = sum(values[: graph.need[i]])
            if best + own[i] < cost[i] - 1e-9:
                cost[i] = best + own[i]
                improved = True
        if not improved:
            return cost
    raise AssertionError("the reference did not settle")


def check(graph: AttackGraph, costs: _Costs, banned: frozenset[int]) -> None:
    """Costs as the reference's; every cost came through parents stamped earlier; the
    derivation read back for every node with a finite cost reaches it."""
    np.testing.assert_allclose(costs.cost, reference_costs(graph, banned), rtol=0, atol=1e-7)
    entries = structure(graph).entries
    holding = Holding(graph)
    for node in np.flatnonzero(np.isfinite(costs.cost)).tolist():
        if entries[node]:
            continue
        chosen = graph.parents[graph.indptr[node] : graph.indptr[node + 1]]
        earlier = costs.settled[chosen] < costs.settled[node]
        if graph.gate[node] == Gate.OR:
            through = costs.cost[chosen] + -np.log(graph.probability[node]) <= (
                costs.cost[node] + 1e-9
            )
            assert (through & earlier).any()
        elif graph.gate[node] == Gate.AND:
            assert earlier.all()
        else:  # k of n: the parents read back got their cost before it
            read = _chosen_parents(graph, costs, node)
            assert (costs.settled[read] < costs.settled[node]).all()
        derivation = _derivation(graph, costs, node)
        assert derivation is not None
        assert holding.reaches(derivation, node)


SHARES = pytest.mark.parametrize(
    "share", [0, 10**9], ids=["affected nodes alone", "whole graph"]
)  # _SMALL_SHARE 0: every recomputation evaluates the affected nodes alone; 10**9: never


@SHARES
@settings(max_examples=250, deadline=None)
@given(
    spec=graph_specs(cyclic=True, max_nodes=12),
    bans=st.lists(st.integers(min_value=0, max_value=11), min_size=1, max_size=4),
    pinned=st.dictionaries(
        st.integers(min_value=0, max_value=11), st.sampled_from([0.0, 0.3, 1.0]), max_size=2
    ),
)
def test_costs_after_more_bans_are_the_references_and_read_back_soundly(
    share: int, spec: GraphSpec, bans: list[int], pinned: dict[int, float]
) -> None:
    graph = spec.build()
    structure(graph)  # as the assessment does: pinned graphs then reuse it (Structure.without)
    graph = pin(graph, {node % graph.size: p for node, p in pinned.items()})
    search = ScenarioSearch(graph)
    banned: frozenset[int] = frozenset()
    with mock.patch.object(paths, "_SMALL_SHARE", share):
        check(graph, search.costs(banned), banned)
        for ban in bans:
            banned |= {ban % graph.size}
            check(graph, search.costs(banned), banned)  # from the costs with one ban fewer
            check(graph, _costs(graph, banned), banned)  # from scratch


def test_a_cost_tied_with_a_free_loop_is_read_back_through_its_real_source() -> None:
    """b is reached from x and from a, a only from b, both at no cost of their own: b's cost
    comes through x. Read back by stamp, the derivation goes to x, not round the loop."""
    graph = build(
        {"e": (Gate.OR, 0.5), "a": (Gate.OR, 1.0), "b": (Gate.OR, 1.0), "x": (Gate.AND, 0.5)},
        [("b", "a"), ("a", "b"), ("x", "b"), ("e", "x")],
    )
    found = paths.top_scenarios(graph, graph.node("b"), 3)
    assert [sorted(s.actions) for s in found] == [sorted([graph.node("e"), graph.node("x")])]
    assert found[0].probability == pytest.approx(0.25)


def test_banning_one_of_equally_likely_ways_in_leaves_what_follows_alone() -> None:
    """The LAN is reached from any of three workstations phished with the same chance: banning
    one of them cannot raise its cost, so neither the LAN nor the server behind it is
    recomputed (at 20,000 assets such a ban used to recompute 258,000 nodes for nothing)."""
    graph = build(
        {
            "e": (Gate.OR, 1.0),
            "w1": (Gate.AND, 0.5),
            "w2": (Gate.AND, 0.5),
            "w3": (Gate.AND, 0.5),
            "lan": (Gate.OR, 1.0),
            "server": (Gate.AND, 0.5),
        },
        [
            *(("e", w) for w in ("w1", "w2", "w3")),
            *((w, "lan") for w in ("w1", "w2", "w3")),
            ("lan", "server"),
        ],
    )
    search = ScenarioSearch(graph)
    base = search.costs()
    w1, w2, w3 = (graph.node(f"w{i}") for i in (1, 2, 3))
    assert search._affected(base, w1).tolist() == [w1]
    one = search.costs(frozenset({w1}))
    assert search._affected(one, w2).tolist() == [w2]
    two = search.costs(frozenset({w1, w2}))
    affected = search._affected(two, w3).tolist()  # the last way in: everything behind it
    assert affected == sorted([w3, graph.node("lan"), graph.node("server")])
    check(graph, search.costs(frozenset({w1, w2, w3})), frozenset({w1, w2, w3}))


def test_near_ties_along_a_chain_do_not_keep_costs_that_must_rise() -> None:
    """n_i = OR(n_{i-1}, a_i): each a_i is cheaper than n_{i-1} by less than the search's
    tolerance, and all the a_i hang behind the banned action a. Banned, every n_i must come
    back to the cost of s; a source within the tolerance instead of exact would let each n_i
    keep its old cost, an error of up to 1e-9 that adds up along the chain."""
    k, delta = 40, 0.9e-9
    b = GraphBuilder()
    e0 = b.node("e0", NodeKind.ENTRY, probability=1.0)
    a = b.node("a", NodeKind.EXPLOIT, gate=Gate.AND, probability=math.exp(-1e-12))
    s_cost = (k - 1) * delta + 1e-12
    s = b.node("s", NodeKind.EXPLOIT, gate=Gate.AND, probability=math.exp(-s_cost))
    b.edge(e0, a)
    b.edge(e0, s)
    chain = [a]
    for j in range(1, k):
        chain.append(b.node(f"d{j}", NodeKind.EXPLOIT, gate=Gate.AND))
        b.edge(chain[j - 1], chain[j])
    previous = b.node("n1", NodeKind.CODE_EXEC_USER, gate=Gate.OR)
    b.edge(s, previous)
    for i in range(2, k + 1):
        own = s_cost - (i - 1) * delta - 1e-12
        ai = b.node(f"a{i}", NodeKind.EXPLOIT, gate=Gate.AND, probability=math.exp(-own))
        ni = b.node(f"n{i}", NodeKind.CODE_EXEC_USER, gate=Gate.OR)
        b.edge(chain[i - 2], ai)
        b.edge(previous, ni)
        b.edge(ai, ni)
        previous = ni
    graph = b.build()
    search = ScenarioSearch(graph)
    search.costs()
    banned = frozenset({a})
    incremental = search.costs(banned)
    np.testing.assert_allclose(incremental.cost, _costs(graph, banned).cost, rtol=0, atol=1e-12)
    assert incremental.cost[previous] == pytest.approx(s_cost, abs=1e-12)


def test_a_k_of_n_node_is_read_back_through_parents_stamped_before_it() -> None:
    """t = 1-of(x, y) and y = OR(t, z): y gets its cost through t, then ties with x within
    the tolerance; reading t back through y would go round the loop and lose its actions."""
    b = GraphBuilder()
    e0 = b.node("e0", NodeKind.ENTRY, probability=1.0)
    x = b.node("x", NodeKind.EXPLOIT, gate=Gate.AND, probability=math.exp(-1e-10))
    t = b.node("t", NodeKind.CODE_EXEC_USER, gate=Gate.THRESHOLD, need=1)
    z = b.node("z", NodeKind.CODE_EXEC_USER, gate=Gate.THRESHOLD, need=1)
    y = b.node("y", NodeKind.CODE_EXEC_USER, gate=Gate.OR)
    for parent, child in [(e0, x), (x, t), (y, t), (e0, z), (t, y), (z, y)]:
        b.edge(parent, child)
    graph = b.build()
    check(graph, _costs(graph), frozenset())
    assert [s.actions for s in paths.top_scenarios(graph, t, 3)] == [(e0,)]
