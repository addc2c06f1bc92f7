"""The reference semantics: exact enumeration and Monte Carlo, checked by hand and by each other."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from panacea.risk.attack_graph import AttackGraph, Gate, GraphBuilder, NodeKind
from panacea.risk.errors import RiskModelError
from panacea.risk.simulate import (
    MAX_EXACT_ACTIONS,
    exact_probabilities,
    simulate,
    wilson_interval,
)
from tests.risk.graph_strategies import CHANCES, brute_force, graph_specs

# A miss of a correct 5-sigma Wilson interval has probability about 6e-7 per node.
FIVE_SIGMA = 5.0
SHAPES = pytest.mark.parametrize("cyclic", [False, True], ids=["dag", "cyclic"])


def build(
    nodes: dict[str, tuple[Gate, float] | tuple[Gate, float, int]],
    edges: list[tuple[str, str]],
) -> AttackGraph:
    """Nodes by label: (gate, own chance[, need]); labels starting with 'e' are entries."""
    b = GraphBuilder()
    index = {}
    for label, spec in nodes.items():
        kind = NodeKind.ENTRY if label.startswith("e") else NodeKind.CODE_EXEC_USER
        need = spec[2] if len(spec) == 3 else None
        index[label] = b.node(label, kind, gate=spec[0], probability=spec[1], need=need)
    for parent, child in edges:
        b.edge(index[parent], index[child])
    return b.build()


def assert_agrees(graph: AttackGraph, exact: np.ndarray, *, trials: int, seed: int) -> None:
    result = simulate(graph, trials=trials, seed=seed)
    low, high = wilson_interval(exact, result.trials, z=FIVE_SIGMA)
    # the interval around the exact value must contain the estimate
    outside = (result.probability < low - 1e-12) | (result.probability > high + 1e-12)
    assert not outside.any(), (exact[outside], result.probability[outside])


# hand-computed cases -----------------------------------------------------------------------
HAND_CASES = {
    "chain": (
        build(
            {"e": (Gate.OR, 0.9), "x": (Gate.AND, 0.5), "y": (Gate.AND, 0.4)},
            [("e", "x"), ("x", "y")],
        ),
        {"e": 0.9, "x": 0.45, "y": 0.18},
    ),
    "diamond OR over a shared entry": (
        build(
            {"e": (Gate.OR, 0.8), "a": (Gate.AND, 0.5), "b": (Gate.AND, 0.6), "c": (Gate.OR, 1.0)},
            [("e", "a"), ("e", "b"), ("a", "c"), ("b", "c")],
        ),
        # c holds iff e and (a or b): 0.8 * (1 - 0.5 * 0.4)
        {"a": 0.4, "b": 0.48, "c": 0.64},
    ),
    "diamond AND over a shared entry": (
        build(
            {"e": (Gate.OR, 0.8), "a": (Gate.AND, 0.5), "b": (Gate.AND, 0.6), "c": (Gate.AND, 1.0)},
            [("e", "a"), ("e", "b"), ("a", "c"), ("b", "c")],
        ),
        {"c": 0.8 * 0.5 * 0.6},
    ),
    "2 of 3 independent entries": (
        build(
            {
                "e1": (Gate.OR, 0.5),
                "e2": (Gate.OR, 0.6),
                "e3": (Gate.OR, 0.7),
                "k": (Gate.THRESHOLD, 1.0, 2),
            },
            [("e1", "k"), ("e2", "k"), ("e3", "k")],
        ),
        {"k": 0.5 * 0.6 + 0.5 * 0.7 + 0.6 * 0.7 - 2 * 0.5 * 0.6 * 0.7},
    ),
    "3 of 3 and an own chance": (
        build(
            {
                "e1": (Gate.OR, 0.5),
                "e2": (Gate.OR, 0.6),
                "e3": (Gate.OR, 0.7),
                "k": (Gate.THRESHOLD, 0.9, 3),
            },
            [("e1", "k"), ("e2", "k"), ("e3", "k")],
        ),
        {"k": 0.9 * 0.5 * 0.6 * 0.7},
    ),
    "cycle entered once": (
        # e -> a -> b -> a: b's support of a loops back through a, so adds nothing
        build(
            {"e": (Gate.OR, 0.5), "a": (Gate.OR, 0.6), "b": (Gate.OR, 0.7)},
            [("e", "a"), ("a", "b"), ("b", "a")],
        ),
        {"a": 0.3, "b": 0.21},
    ),
    "cycle entered twice": (
        # a holds iff a's chance and (e1 or (e2 and b's chance))
        build(
            {"e1": (Gate.OR, 0.5), "e2": (Gate.OR, 0.4), "a": (Gate.OR, 0.6), "b": (Gate.OR, 0.7)},
            [("e1", "a"), ("e2", "b"), ("a", "b"), ("b", "a")],
        ),
        {"a": 0.6 * (1 - 0.5 * (1 - 0.4 * 0.7))},
    ),
}


@pytest.mark.parametrize(("graph", "expected"), HAND_CASES.values(), ids=HAND_CASES.keys())
def test_exact_matches_hand_figures(graph: AttackGraph, expected: dict[str, float]) -> None:
    exact = exact_probabilities(graph)
    for label, value in expected.items():
        assert exact[graph.node(label)] == pytest.approx(value, abs=1e-12)


@pytest.mark.parametrize(("graph", "expected"), HAND_CASES.values(), ids=HAND_CASES.keys())
def test_monte_carlo_matches_hand_figures(graph: AttackGraph, expected: dict[str, float]) -> None:
    assert_agrees(graph, exact_probabilities(graph), trials=20_000, seed=11)


SELF_SUPPORT = {
    "a <-> b, no entry": (
        build({"a": (Gate.OR, 1.0), "b": (Gate.OR, 1.0)}, [("a", "b"), ("b", "a")]),
        ["a", "b"],
    ),
    "self-loop, no entry": (build({"a": (Gate.OR, 0.5)}, [("a", "a")]), ["a"]),
    "cycle of three behind an impossible AND": (
        build(
            {"e": (Gate.OR, 1.0), "a": (Gate.AND, 0.9), "b": (Gate.OR, 1.0), "c": (Gate.OR, 1.0)},
            [("e", "a"), ("c", "a"), ("a", "b"), ("b", "c")],
        ),
        ["a", "b", "c"],  # a needs c, which needs a
    ),
}


@pytest.mark.parametrize(("graph", "unreached"), SELF_SUPPORT.values(), ids=SELF_SUPPORT.keys())
def test_a_cycle_never_supports_itself(graph: AttackGraph, unreached: list[str]) -> None:
    exact = exact_probabilities(graph)
    simulated = simulate(graph, trials=256, seed=1).probability
    for label in unreached:
        assert exact[graph.node(label)] == 0.0
        assert simulated[graph.node(label)] == 0.0


def test_adding_a_parent_to_an_and_can_lower_it() -> None:
    """Why monotonicity is not asserted for AND parents: one more precondition to meet."""
    spec_graph = build(
        {"e1": (Gate.OR, 0.5), "e2": (Gate.OR, 0.5), "x": (Gate.AND, 1.0)}, [("e1", "x")]
    )
    more = build(
        {"e1": (Gate.OR, 0.5), "e2": (Gate.OR, 0.5), "x": (Gate.AND, 1.0)},
        [("e1", "x"), ("e2", "x")],
    )
    x = spec_graph.node("x")
    assert exact_probabilities(more)[x] < exact_probabilities(spec_graph)[x]


# properties on random graphs ---------------------------------------------------------------
@SHAPES
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_exact_matches_independent_enumeration(cyclic: bool, data: st.DataObject) -> None:
    spec = data.draw(graph_specs(cyclic=cyclic, max_actions=7))
    assert exact_probabilities(spec.build()) == pytest.approx(brute_force(spec), abs=1e-12)


@SHAPES
@settings(max_examples=30, deadline=None, derandomize=True)
@given(data=st.data())
def test_monte_carlo_agrees_with_exact(cyclic: bool, data: st.DataObject) -> None:
    spec = data.draw(graph_specs(cyclic=cyclic, max_nodes=12, max_actions=12))
    graph = spec.build()
    exact = exact_probabilities(graph)
    assert ((exact >= 0) & (exact <= 1 + 1e-12)).all()
    result = simulate(graph, trials=8192, seed=7)
    assert ((result.low <= result.probability) & (result.probability <= result.high)).all()
    assert ((result.low >= 0) & (result.high <= 1)).all()
    assert_agrees(graph, exact, trials=8192, seed=7)


def test_wilson_interval_covers_the_exact_value_about_95_percent_of_the_time() -> None:
    """200 independent runs of one cyclic graph: a node's 95% interval misses the exact value
    in about 10 of them; 26 or more has probability below 1e-4 for a true 95% interval."""
    graph = HAND_CASES["cycle entered twice"][0]
    exact = exact_probabilities(graph)
    misses = np.zeros(graph.size, dtype=int)
    for seed in range(200):
        result = simulate(graph, trials=1024, seed=seed)
        misses += (exact < result.low) | (exact > result.high)
    uncertain = (exact > 0) & (exact < 1)
    assert (misses[uncertain] <= 25).all(), misses
    assert misses[uncertain].sum() > 0  # the interval is not vacuously wide


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_adding_an_edge_to_an_or_node_never_lowers_anything(data: st.DataObject) -> None:
    spec = data.draw(graph_specs(cyclic=True, max_actions=9))
    ors = [i for i in spec.derived() if spec.nodes[i].gate is Gate.OR]
    assume(ors)
    child = data.draw(st.sampled_from(ors))
    parent = data.draw(st.integers(0, len(spec.nodes) - 1))
    before = exact_probabilities(spec.build())
    after = exact_probabilities(spec.with_edge(parent, child).build())
    assert (after >= before - 1e-12).all()


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_adding_an_entry_never_lowers_anything(data: st.DataObject) -> None:
    spec = data.draw(graph_specs(cyclic=True, max_actions=9))
    ors = [i for i in spec.derived() if spec.nodes[i].gate is Gate.OR]
    assume(ors)
    changed = spec.with_entry(data.draw(st.sampled_from(ors)), data.draw(CHANCES))
    before = exact_probabilities(spec.build())
    after = exact_probabilities(changed.build())[: len(before)]
    assert (after >= before - 1e-12).all()


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_raising_a_chance_never_lowers_anything(data: st.DataObject) -> None:
    spec = data.draw(graph_specs(cyclic=True, max_actions=9))
    node = data.draw(st.integers(0, len(spec.nodes) - 1))
    old = spec.nodes[node].probability
    new = data.draw(st.floats(min_value=old, max_value=1.0))
    before = exact_probabilities(spec.build())
    after = exact_probabilities(spec.with_probability(node, new).build())
    assert (after >= before - 1e-12).all()


# limits -------------------------------------------------------------------------------------
def test_simulate_refuses_no_trials() -> None:
    with pytest.raises(RiskModelError, match="trials"):
        simulate(HAND_CASES["chain"][0], trials=0)


def test_exact_refuses_too_many_actions() -> None:
    b = GraphBuilder()
    entry = b.node("e", NodeKind.ENTRY)
    for i in range(MAX_EXACT_ACTIONS + 1):
        b.edge(entry, b.node(f"x{i}", NodeKind.EXPLOIT, gate=Gate.AND, probability=0.5))
    with pytest.raises(RiskModelError, match=f"{MAX_EXACT_ACTIONS + 1} random actions"):
        exact_probabilities(b.build())
