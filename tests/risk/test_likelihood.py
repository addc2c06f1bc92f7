"""The analytic likelihood: exact on trees, bounded, monotone, evidence-aware, cycle treatments."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from panacea.risk.attack_graph import AttackGraph, Gate, GraphBuilder, NodeKind
from panacea.risk.errors import RiskModelError
from panacea.risk.likelihood import (
    Cycles,
    at_least,
    conditioned_entries,
    propagate,
    propagate_along,
)
from panacea.risk.simulate import exact_probabilities
from panacea.risk.support import cycle_free_support
from tests.risk.graph_strategies import GraphSpec, graph_specs, tree_specs
from tests.risk.test_simulate import HAND_CASES, build

# docs/risk-likelihood-error.md: on trees the analytic value is exact (floating point aside)
TREE_BOUND = 1e-9
TREATMENTS = pytest.mark.parametrize("cycles", list(Cycles))


@TREATMENTS
@settings(max_examples=30, deadline=None)
@given(spec=tree_specs())
def test_exact_on_trees(cycles: Cycles, spec: GraphSpec) -> None:
    graph = spec.build()
    exact = exact_probabilities(graph)
    for conditioning in (0, 4):
        analytic = propagate(graph, cycles=cycles, conditioning=conditioning)
        assert np.abs(analytic - exact).max() <= TREE_BOUND


@TREATMENTS
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_probabilities_stay_within_0_and_1(cycles: Cycles, data: st.DataObject) -> None:
    graph = data.draw(graph_specs(cyclic=True, max_nodes=14)).build()
    analytic = propagate(graph, cycles=cycles)
    assert ((analytic >= 0.0) & (analytic <= 1.0)).all()


@TREATMENTS
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_raising_a_chance_never_lowers_anything(cycles: Cycles, data: st.DataObject) -> None:
    spec = data.draw(graph_specs(cyclic=True, max_nodes=14))
    node = data.draw(st.integers(0, len(spec.nodes) - 1))
    new = data.draw(st.floats(min_value=spec.nodes[node].probability, max_value=1.0))
    before = propagate(spec.build(), cycles=cycles)
    after = propagate(spec.with_probability(node, new).build(), cycles=cycles)
    assert (after >= before - 1e-12).all()


@TREATMENTS
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_pinning_a_node_to_1_never_lowers_anything(cycles: Cycles, data: st.DataObject) -> None:
    graph = data.draw(graph_specs(cyclic=True, max_nodes=14)).build()
    node = data.draw(st.integers(0, graph.size - 1))
    before = propagate(graph, cycles=cycles)
    after = propagate(graph, pinned={node: 1.0}, cycles=cycles)
    assert after[node] == 1.0
    assert (after >= before - 1e-12).all()


@TREATMENTS
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_evidence_propagates_like_the_reference(cycles: Cycles, data: st.DataObject) -> None:
    """A pinned node holds with its pinned probability; what it makes possible becomes
    possible (non-zero) exactly where the reference says so."""
    graph = data.draw(graph_specs(cyclic=True)).build()
    node = data.draw(st.integers(0, graph.size - 1))
    q = data.draw(st.floats(min_value=0.1, max_value=1.0))
    analytic = propagate(graph, pinned={node: q}, cycles=cycles)
    exact = exact_probabilities(graph, pinned={node: q})
    assert analytic[node] == q
    assert ((analytic > 0) == (exact > 0)).all()


@TREATMENTS
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_nonzero_exactly_where_the_reference_is(cycles: Cycles, data: st.DataObject) -> None:
    graph = data.draw(graph_specs(cyclic=True)).build()  # every own chance is above 0
    assert ((propagate(graph, cycles=cycles) > 0) == (exact_probabilities(graph) > 0)).all()


@pytest.mark.parametrize(
    "name", ["chain", "2 of 3 independent entries", "3 of 3 and an own chance"]
)
@TREATMENTS
def test_exact_on_hand_cases_without_shared_causes(name: str, cycles: Cycles) -> None:
    graph, _ = HAND_CASES[name]
    assert propagate(graph, cycles=cycles) == pytest.approx(exact_probabilities(graph))


def test_a_shared_entry_is_counted_once_by_conditioning() -> None:
    graph, expected = HAND_CASES["diamond OR over a shared entry"]
    c = graph.node("c")
    assert propagate(graph)[c] == pytest.approx(expected["c"])
    # without conditioning noisy-OR counts e twice: 1 - (1 - 0.4)(1 - 0.48)
    assert propagate(graph, conditioning=0)[c] == pytest.approx(1 - 0.6 * 0.52)


def test_conditioning_on_a_rare_insider_fixes_an_and_of_its_consequences() -> None:
    graph = build(
        {"e": (Gate.OR, 0.05), "net": (Gate.OR, 1.0), "cred": (Gate.OR, 1.0),
         "logon": (Gate.AND, 0.9)},
        [("e", "net"), ("e", "cred"), ("net", "logon"), ("cred", "logon")],
    )  # fmt: skip
    logon = graph.node("logon")
    assert propagate(graph)[logon] == pytest.approx(0.05 * 0.9)
    assert propagate(graph, conditioning=0)[logon] == pytest.approx(0.05**2 * 0.9)


def test_entries_conditioned_on_are_chosen_by_structure() -> None:
    graph = build(
        {"e1": (Gate.OR, 0.5), "e2": (Gate.OR, 1.0), "a": (Gate.OR, 1.0), "b": (Gate.OR, 1.0)},
        [("e1", "a"), ("e2", "a"), ("e2", "b")],
    )
    chosen = conditioned_entries(graph, np.array([graph.node("b")]))
    assert [graph.labels[i] for i in chosen] == ["e2", "e1", "b"]


# cycles ------------------------------------------------------------------------------------
def test_cut_never_counts_a_node_as_evidence_for_itself() -> None:
    graph, expected = HAND_CASES["cycle entered once"]
    cut = propagate(graph, cycles=Cycles.CUT, conditioning=0)
    loopy = propagate(graph, cycles=Cycles.LOOPY, conditioning=0)
    a = graph.node("a")
    assert cut[a] == pytest.approx(expected["a"])
    # the documented price of LOOPY: a's own probability comes back through b
    # a = 0.6 (1 - 0.5 (1 - 0.7 a))  =>  a = 0.3 / 0.79
    assert loopy[a] == pytest.approx(0.3 / 0.79)


@TREATMENTS
def test_a_cycle_without_an_entry_stays_at_zero(cycles: Cycles) -> None:
    graph = build({"a": (Gate.OR, 1.0), "b": (Gate.OR, 1.0)}, [("a", "b"), ("b", "a")])
    assert (propagate(graph, cycles=cycles) == 0.0).all()


def test_readmission_restores_a_route_around_a_cycle() -> None:
    """w is first reached through x1; the longer route e -> x2 -> y -> u -> w is a late edge
    into w, and u does not depend on w: the second pass adds it, which is exact here."""
    graph = build(
        {"e": (Gate.OR, 1.0), "x1": (Gate.AND, 0.5), "x2": (Gate.OR, 0.5),
         "y": (Gate.OR, 1.0), "u": (Gate.OR, 1.0), "w": (Gate.OR, 1.0)},
        [("e", "x1"), ("x1", "w"), ("e", "x2"), ("w", "x2"), ("x2", "y"), ("y", "u"),
         ("u", "w")],
    )  # fmt: skip
    exact = exact_probabilities(graph)
    w = graph.node("w")
    assert exact[w] == pytest.approx(0.75)
    assert propagate(graph, cycles=Cycles.CUT) == pytest.approx(exact)
    assert propagate_along(graph, cycle_free_support(graph))[w] == pytest.approx(0.5)


def test_propagate_along_refuses_a_cyclic_support() -> None:
    graph, _ = HAND_CASES["cycle entered once"]
    with pytest.raises(RiskModelError, match="cycle through node"):
        propagate_along(graph, np.ones(graph.edges, dtype=bool))


@pytest.mark.parametrize("pinned", [{7: 1.0}, {0: 1.5}, {0: float("nan")}])
def test_invalid_evidence_is_refused(pinned: dict[int, float]) -> None:
    graph, _ = HAND_CASES["chain"]
    with pytest.raises(RiskModelError, match="evidence pins node"):
        propagate(graph, pinned=pinned)


# gates ------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(
    chances=arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 5)),
                   elements=st.floats(0.0, 1.0)),
    data=st.data(),
)  # fmt: skip
def test_at_least_is_the_poisson_binomial_tail(chances: np.ndarray, data: st.DataObject) -> None:
    rows, columns = chances.shape
    need = np.array(data.draw(st.lists(st.integers(0, columns + 1), min_size=rows, max_size=rows)))
    expected = np.zeros(rows)
    for outcome in itertools.product((0, 1), repeat=columns):
        weight = np.prod(np.where(outcome, chances, 1.0 - chances), axis=1)
        expected += np.where(sum(outcome) >= need, weight, 0.0)
    assert at_least(chances, need.astype(np.int32)) == pytest.approx(expected, abs=1e-12)


def test_graphs_with_a_parentless_non_entry_leave_it_at_zero() -> None:
    b = GraphBuilder()
    b.node("orphan", NodeKind.CODE_EXEC_USER)
    graph: AttackGraph = b.build()
    for cycles in Cycles:
        assert propagate(graph, cycles=cycles).tolist() == [0.0]
