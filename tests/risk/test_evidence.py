"""Evidence pins nodes: the graph transformation, and the reference computed with it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panacea.risk.draws import draw
from panacea.risk.errors import RiskModelError
from panacea.risk.evidence import pin
from panacea.risk.fixpoint import fixed_point, structure
from panacea.risk.simulate import exact_probabilities, simulate, wilson_interval
from tests.risk.graph_strategies import graph_specs
from tests.risk.test_simulate import HAND_CASES


def test_a_pinned_node_becomes_an_entry_with_the_pinned_chance() -> None:
    graph, _ = HAND_CASES["cycle entered twice"]
    a = graph.node("a")
    pinned = pin(graph, {a: 0.25})
    assert pinned.need[a] == 0
    assert pinned.probability[a] == 0.25
    assert pinned.indptr[a + 1] == pinned.indptr[a]  # no parents left
    assert pinned.kind[a] == graph.kind[a]
    others = [i for i in range(graph.size) if i != a]
    for i in others:
        mine = pinned.parents[pinned.indptr[i] : pinned.indptr[i + 1]]
        theirs = graph.parents[graph.indptr[i] : graph.indptr[i + 1]]
        assert mine.tolist() == theirs.tolist()
    assert graph.probability[a] == 0.6  # the original is untouched


def test_no_evidence_is_the_same_graph() -> None:
    graph, _ = HAND_CASES["chain"]
    assert pin(graph, {}) is graph


@pytest.mark.parametrize(
    ("pinned", "message"),
    [
        ({-1: 1.0}, "pins node -1, not in a graph of 3 nodes"),
        ({3: 1.0}, "pins node 3, not in a graph of 3 nodes"),
        ({1: 1.5}, "pins node 1 to 1.5, not a probability"),
        ({1: -0.1}, "pins node 1 to -0.1, not a probability"),
        ({1: float("nan")}, "pins node 1 to nan, not a probability"),
    ],
)
def test_invalid_evidence_is_refused(pinned: dict[int, float], message: str) -> None:
    graph, _ = HAND_CASES["chain"]
    with pytest.raises(RiskModelError, match=message):
        pin(graph, pinned)
    with pytest.raises(RiskModelError, match=message):
        simulate(graph, pinned=pinned)
    with pytest.raises(RiskModelError, match=message):
        exact_probabilities(graph, pinned=pinned)


def test_observed_compromise_inside_a_cycle() -> None:
    """Pinning b (observed) makes a reachable from b whatever the entry did."""
    graph, _ = HAND_CASES["cycle entered once"]
    a, b = graph.node("a"), graph.node("b")
    exact = exact_probabilities(graph, pinned={b: 1.0})
    assert exact[b] == pytest.approx(1.0)
    assert exact[a] == pytest.approx(0.6)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_pinning_a_node_to_1_never_lowers_the_reference(data: st.DataObject) -> None:
    graph = data.draw(graph_specs(cyclic=True)).build()
    node = data.draw(st.integers(0, graph.size - 1))
    before = exact_probabilities(graph)
    after = exact_probabilities(graph, pinned={node: 1.0})
    assert after[node] == pytest.approx(1.0, abs=1e-12)  # a sum over worlds
    assert (after >= before - 1e-12).all()


@settings(max_examples=20, deadline=None, derandomize=True)
@given(data=st.data())
def test_monte_carlo_with_evidence_agrees_with_exact(data: st.DataObject) -> None:
    graph = data.draw(graph_specs(cyclic=True)).build()
    node = data.draw(st.integers(0, graph.size - 1))
    q = data.draw(st.floats(min_value=0.0, max_value=1.0))
    exact = exact_probabilities(graph, pinned={node: q})
    assert exact[node] == pytest.approx(q)
    result = simulate(graph, trials=8192, seed=3, pinned={node: q})
    low, high = wilson_interval(exact, result.trials, z=5.0)
    assert np.all((result.probability >= low - 1e-12) & (result.probability <= high + 1e-12))


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_the_pinned_graphs_derived_structure_solves_like_a_fresh_one(data: st.DataObject) -> None:
    """``pin`` derives the solvers' structure from the unpinned graph's: same fixed point."""
    graph = data.draw(graph_specs(cyclic=True, max_nodes=14)).build()
    chosen = data.draw(st.lists(st.integers(0, graph.size - 1), min_size=1, max_size=3))
    pinned = pin(graph, {n: data.draw(st.floats(0.0, 1.0)) for n in chosen})
    derived = pinned.cache.get("structure")
    fresh = dataclasses.replace(pinned)  # same arrays, empty cache
    assert "structure" not in fresh.cache
    coins = draw(pinned, 4, seed=3)
    assert np.array_equal(fixed_point(pinned, coins)[0], fixed_point(fresh, coins)[0])
    assert derived is None or derived is structure(pinned)
