"""Withdrawing lost worlds with derivation ranks, then deriving forward, gives the least fixed
point of the new coins; what is withdrawn never leaves a node held without support."""

from __future__ import annotations

from types import SimpleNamespace
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from panacea.risk import engine, layout, withdrawal
from panacea.risk.assessment import AssessmentOptions
from panacea.risk.attack_graph import AttackGraph, Gate, GraphBuilder, Members, NodeKind
from panacea.risk.draws import draw
from panacea.risk.engine import Evidence, FindingStatusChanged, RiskEngine
from panacea.risk.fixpoint import fixed_point, structure
from panacea.risk.ranks import RANK_BITS, TOP, Ranks, places
from panacea.risk.withdrawal import withdraw
from tests.risk.graph_strategies import GraphSpec, graph_specs

WORDS = 2


def _solved(graph: AttackGraph, coins: NDArray[np.uint64]) -> tuple[NDArray[np.uint64], Ranks]:
    ranks = Ranks.empty(graph.size, coins.shape[1])
    state, _ = fixed_point(graph, coins, ranks=ranks)
    return state, ranks


def _update(
    graph: AttackGraph,
    state: NDArray[np.uint64],
    ranks: Ranks,
    coins: NDArray[np.uint64],
    changed: NDArray[np.int64],
) -> NDArray[np.uint64]:
    """What the engine does after ``changed`` nodes' coins moved: withdraw, then derive."""
    shape = structure(graph)
    gone = withdraw(graph, shape, places(shape), coins, state, ranks, changed)
    entries = changed[graph.need[changed] == 0]
    state[entries] = coins[entries]
    ranks.planes[:, entries] = 0
    dirty = np.concatenate([changed, gone, shape.children_of(changed)])
    fixed_point(graph, coins, start=state, dirty=dirty, ranks=ranks)
    return state


def _moved_coins(
    graph: AttackGraph, coins: NDArray[np.uint64], seed: int, *, gains: bool
) -> tuple[NDArray[np.uint64], NDArray[np.int64]]:
    """Coins where some random actions lost (and, with ``gains``, won) worlds."""
    rng = np.random.default_rng(seed)
    actions = graph.actions()
    changed = actions[rng.random(actions.size) < 0.5]
    moved = coins.copy()
    losses = rng.integers(0, 2**64, size=(changed.size, WORDS), dtype=np.uint64)
    moved[changed] &= losses
    if gains:
        moved[changed] |= rng.integers(0, 2**64, size=(changed.size, WORDS), dtype=np.uint64)
    return moved, changed


@settings(max_examples=400, deadline=None)
@given(graph_specs(cyclic=True, max_nodes=12), st.integers(0, 2**32), st.booleans(), st.booleans())
def test_withdraw_then_derive_is_the_new_least_fixed_point(
    spec: GraphSpec, seed: int, gains: bool, one_by_one: bool
) -> None:
    """Also ``one_by_one``: every group reduced a node at a time (a big group is reduced in
    pieces, and a later piece reads what an earlier one just stored), and every OR node
    checked a parent at a time (as hubs with thousands of parents are)."""
    with (
        patch.object(layout, "PIECE_BYTES", 1 if one_by_one else layout.PIECE_BYTES),
        patch.object(withdrawal, "WIDE", 0 if one_by_one else withdrawal.WIDE),
        patch.object(withdrawal, "SLICE", 1 if one_by_one else withdrawal.SLICE),
    ):
        _withdraw_then_derive(spec.build(), seed, gains=gains)


def _withdraw_then_derive(graph: AttackGraph, seed: int, *, gains: bool) -> None:
    coins = draw(graph, WORDS, seed)
    state, ranks = _solved(graph, coins)
    for round_ in range(3):  # later rounds start from late ranks of incremental derivations
        coins, changed = _moved_coins(graph, coins, seed + round_, gains=gains)
        expected, _ = fixed_point(graph, coins)
        shape = structure(graph)
        kept = state.copy()
        withdraw(graph, shape, places(shape), coins, kept, ranks, changed)
        assert not (kept & ~expected).any()  # nothing kept without support
        state = _update(graph, state, ranks, coins, changed)
        assert np.array_equal(state, expected)


def _cycle(*, detour: bool) -> tuple[AttackGraph, int, dict[str, int]]:
    """entry -> x (an action) -> a <-> b; with ``detour``, also entry -> c1 -> c2 -> c3 -> b."""
    b = GraphBuilder()
    entry = b.node("entry", NodeKind.ENTRY)
    x = b.node("x", NodeKind.EXPLOIT, gate=Gate.AND, probability=0.5)
    a = b.node("a", NodeKind.CODE_EXEC_USER)
    c = b.node("b", NodeKind.CODE_EXEC_USER)
    b.edge(entry, x)
    b.edge(x, a)
    b.edge(a, c)
    b.edge(c, a)
    nodes = {"a": a, "b": c}
    if detour:
        previous = entry
        for name in ("c1", "c2", "c3"):
            node = b.node(name, NodeKind.CODE_EXEC_USER)
            b.edge(previous, node)
            previous = nodes[name] = node
        b.edge(previous, c)
    return b.build(), x, nodes


def test_a_cycle_does_not_keep_itself_once_its_only_way_in_is_gone() -> None:
    graph, x, nodes = _cycle(detour=False)
    coins = np.full((graph.size, 1), np.uint64(2**64 - 1), dtype=np.uint64)
    state, ranks = _solved(graph, coins)
    assert state[nodes["a"], 0] == state[nodes["b"], 0] == 2**64 - 1
    coins[x] = 0
    shape = structure(graph)
    gone = withdraw(graph, shape, places(shape), coins, state, ranks, np.array([x]))
    assert {x, nodes["a"], nodes["b"]} <= set(gone.tolist())
    assert state[[x, nodes["a"], nodes["b"]]].sum() == 0


def test_a_node_reached_later_another_way_is_derived_again() -> None:
    graph, x, nodes = _cycle(detour=True)
    coins = np.full((graph.size, 1), np.uint64(2**64 - 1), dtype=np.uint64)
    state, ranks = _solved(graph, coins)
    coins[x] = 0
    state = _update(graph, state, ranks, coins, np.array([x]))
    expected, _ = fixed_point(graph, coins)
    assert np.array_equal(state, expected)
    assert state[nodes["a"], 0] == state[nodes["b"], 0] == 2**64 - 1  # through c1..c3 now
    assert state[x, 0] == 0


def test_ranks_count_passes_and_late_derivations_are_top() -> None:
    graph, x, nodes = _cycle(detour=True)
    coins = np.full((graph.size, 1), np.uint64(2**64 - 1), dtype=np.uint64)
    state, ranks = _solved(graph, coins)

    def rank(node: int) -> int:
        return sum(int(ranks.planes[k, node, 0] & np.uint64(1)) << k for k in range(RANK_BITS))

    assert rank(graph.node("entry")) == 0
    assert rank(x) == rank(nodes["c1"]) == 1  # one sweep, in order, derives the chain
    assert 1 <= rank(nodes["a"]) <= rank(nodes["b"]) < TOP
    coins[x] = 0
    _update(graph, state, ranks, coins, np.array([x]))
    assert rank(nodes["a"]) == TOP  # derived again by an incremental recomputation


def test_late_nodes_do_not_keep_each_other_around_a_cycle() -> None:
    """q1..q4 share a place (one reduction), so the chain x -> q1 -> ... -> q4 takes a pass a
    step; c, placed before them, holds from q4 and supports q3. With x gone, q3's support c
    is late like q3 itself: it cannot count, or q3, q4 and c would keep each other."""
    b = GraphBuilder()
    entry = b.node("entry", NodeKind.ENTRY)

    def failing(name: str) -> int:  # an action whose coin never comes up here
        node = b.node(name, NodeKind.EXPLOIT, gate=Gate.AND, probability=0.5)
        b.edge(entry, node)
        return node

    x = b.node("x", NodeKind.EXPLOIT, gate=Gate.AND, probability=0.5)
    b.edge(entry, x)
    q = [b.node(f"q{i}", NodeKind.CODE_EXEC_USER) for i in range(1, 5)]
    c = b.node("c", NodeKind.CODE_EXEC_USER)
    for i, node in enumerate(q):
        b.edge(failing(f"f{i}"), node)
        b.edge(q[i - 1] if i else x, node)
        b.edge(c if i == 2 else failing(f"g{i}"), node)
    b.edge(failing("fc"), c)
    b.edge(q[3], c)
    graph = b.build()
    coins = np.zeros((graph.size, 1), dtype=np.uint64)
    coins[[entry, x, *q, c]] = np.uint64(2**64 - 1)
    state, ranks = _solved(graph, coins)
    place = places(structure(graph))
    assert place[c] < place[q[0]] == place[q[3]]
    assert state[[*q, c], 0].tolist() == [2**64 - 1] * 5
    coins[x] = 0
    shape = structure(graph)
    withdraw(graph, shape, place, coins, state, ranks, np.array([x]))
    assert state[[x, *q, c], 0].tolist() == [0] * 6


def test_a_node_of_a_later_piece_of_its_group_is_checked_in_the_same_pass() -> None:
    """a and c share a group (level, gate, degree); reduced one node at a time, c comes to
    hold through a in the same pass. When a loses its world, c must be checked again."""
    b = GraphBuilder()
    e0 = b.node("e0", NodeKind.ENTRY, probability=0.5)
    e1 = b.node("e1", NodeKind.ENTRY, probability=0.5)
    a, c = b.node("a", NodeKind.CODE_EXEC_USER), b.node("c", NodeKind.CODE_EXEC_USER)
    f = b.node("f", NodeKind.CODE_EXEC_USER, gate=Gate.AND)  # never holds here
    for parent, child in [(e0, a), (e1, a), (c, a), (e0, c), (f, c), (a, c), (e0, f), (c, f)]:
        b.edge(parent, child)
    graph = b.build()
    coins = np.full((graph.size, 1), np.uint64(2**64 - 1), dtype=np.uint64)
    coins[e0] = 0
    with patch.object(layout, "PIECE_BYTES", 1):
        state, ranks = _solved(graph, coins)
        assert state[a, 0] == state[c, 0] == 2**64 - 1
        coins[e1] = 0
        state = _update(graph, state, ranks, coins, np.array([e1]))
    assert state[a, 0] == state[c, 0] == 0


def _engine_over(graph: AttackGraph, monkeypatch: pytest.MonkeyPatch) -> RiskEngine:
    """The dynamic engine over a hand-made graph (its findings: the graph's ``exploits``)."""
    built = SimpleNamespace(graph=graph, service_nodes={})
    monkeypatch.setattr(engine, "build_attack_graph", lambda *args, **kwargs: built)
    inputs = SimpleNamespace(findings=(), assets=(), vulnerabilities={}, intel={})
    options = AssessmentOptions(entries=("internet",), trials=1024, scenarios=0)
    return RiskEngine(inputs, options)  # type: ignore[arg-type]


def _exploit(b: GraphBuilder, label: str, *, finding: int) -> int:
    """An exploit node of chance 0.5 that stands for finding ``finding`` alone."""
    x = b.node(label, NodeKind.EXPLOIT, gate=Gate.AND, probability=0.5)
    one = np.array([x], dtype=np.int64)
    b.members(Members(one, np.array([0, 1]), np.array([finding]), np.array([0.5])))
    return x


def test_a_pinned_node_without_children_keeps_its_pin(monkeypatch: pytest.MonkeyPatch) -> None:
    b = GraphBuilder()
    entry = b.node("e", NodeKind.ENTRY)
    x = _exploit(b, "x", finding=7)
    t = b.node("t", NodeKind.CODE_EXEC_USER)  # nothing depends on it
    b.edge(entry, x)
    b.edge(x, t)
    live = _engine_over(b.build(), monkeypatch)
    live.apply(Evidence("t", 1.0))
    live.apply(FindingStatusChanged(7, exploitable=False))
    assert live.probability(t) == 1.0
    assert np.array_equal(live.state, live.full())


@pytest.mark.parametrize("cycle_below", [False, True])
def test_what_a_pin_makes_reachable_is_withdrawn_too(
    monkeypatch: pytest.MonkeyPatch, cycle_below: bool
) -> None:
    """z could not hold before it was pinned, so y and w below it had no place in a sweep."""
    b = GraphBuilder()
    entry = b.node("e", NodeKind.ENTRY)
    x = _exploit(b, "x", finding=7)
    z, z2 = b.node("z", NodeKind.CODE_EXEC_USER), b.node("z2", NodeKind.CODE_EXEC_USER)
    m = b.node("m", NodeKind.CODE_EXEC_USER)
    y = b.node("y", NodeKind.CODE_EXEC_USER, gate=Gate.AND)
    w = b.node("w", NodeKind.CODE_EXEC_USER)
    edges = [(entry, x), (z, z2), (z2, z), (x, m), (m, y), (z, y), (y, w)]
    if cycle_below:
        v = b.node("v", NodeKind.CODE_EXEC_USER)
        edges += [(w, v), (v, w), (v, b.node("sink", NodeKind.CODE_EXEC_USER))]
    for parent, child in edges:
        b.edge(parent, child)
    live = _engine_over(b.build(), monkeypatch)
    live.apply(Evidence("z", 1.0))
    assert live.probability(w) > 0
    live.apply(FindingStatusChanged(7, exploitable=False))
    assert live.probability(y) == live.probability(w) == 0.0
    assert np.array_equal(live.state, live.full())


@pytest.mark.parametrize("one_by_one", [False, True])
def test_a_hub_keeps_its_worlds_while_any_earlier_parent_holds(one_by_one: bool) -> None:
    """Withdrawal removes only what lost its support: the hub's last parent still holds."""
    b = GraphBuilder()
    entry = b.node("entry", NodeKind.ENTRY)
    actions = [b.node(f"a{i}", NodeKind.EXPLOIT, gate=Gate.AND, probability=0.5) for i in range(3)]
    hub = b.node("hub", NodeKind.NETWORK)
    for action in actions:
        b.edge(entry, action)
        b.edge(action, hub)
    b.edge(hub, b.node("after", NodeKind.CODE_EXEC_USER))
    graph = b.build()
    coins = np.full((graph.size, 1), np.uint64(2**64 - 1), dtype=np.uint64)
    with (
        patch.object(withdrawal, "WIDE", 0 if one_by_one else withdrawal.WIDE),
        patch.object(withdrawal, "SLICE", 1 if one_by_one else withdrawal.SLICE),
    ):
        state, ranks = _solved(graph, coins)
        coins[actions[:2]] = 0
        shape = structure(graph)
        gone = withdraw(graph, shape, places(shape), coins, state, ranks, np.array(actions[:2]))
    assert sorted(gone.tolist()) == actions[:2]
    assert state[hub, 0] == 2**64 - 1
