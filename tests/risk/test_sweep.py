"""The compiled sweep gives the least fixed point of the numpy solver, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panacea.risk.attack_graph import AttackGraph, Gate, GraphBuilder, NodeKind
from panacea.risk.errors import RiskModelError
from panacea.risk.fixpoint import fixed_point, structure, sweep_of
from panacea.risk.ranks import Ranks
from panacea.risk.sweep import _solve_plain, least_fixed_point
from tests.risk.graph_strategies import graph_specs


def _coins(graph: AttackGraph, words: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2**64, size=(graph.size, words), dtype=np.uint64)


def _numpy_solver(graph: AttackGraph, coins: np.ndarray) -> np.ndarray:
    """The worklist solver of fixpoint.py (which the engine uses, with ranks)."""
    ranks = Ranks.empty(graph.size, coins.shape[1])
    state, _ = fixed_point(graph, coins, ranks=ranks)
    return state


@settings(max_examples=150, deadline=None)
@given(graph_specs(cyclic=True, max_nodes=24, max_actions=20), st.integers(0, 2**32))
def test_compiled_equals_the_numpy_solver(spec: object, seed: int) -> None:
    graph = spec.build()  # type: ignore[attr-defined]
    coins = _coins(graph, 3, seed)
    state, _ = fixed_point(graph, coins)
    assert np.array_equal(state, _numpy_solver(graph, coins))


def _random_graph(nodes: int, seed: int) -> AttackGraph:
    """Hundreds of entries, then OR, AND and k-of-n nodes over any nodes (cycles included)."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    entries = nodes // 20
    for i in range(nodes):
        if i < entries:
            b.node(f"n{i}", NodeKind.ENTRY, probability=float(rng.uniform(0.05, 1.0)))
            continue
        gate = Gate(int(rng.choice(3, p=[0.6, 0.3, 0.1])))
        parents = rng.choice(nodes, size=int(rng.integers(1, 5)), replace=False)
        need = int(rng.integers(1, parents.size + 1)) if gate is Gate.THRESHOLD else None
        chance = 1.0 if rng.random() < 0.5 else float(rng.uniform(0.05, 0.95))
        b.node(f"n{i}", NodeKind.CODE_EXEC_USER, gate=gate, need=need, probability=chance)
        b.edges(parents, np.full(parents.size, i))
    return b.build()


@pytest.mark.parametrize("seed", range(3))
def test_compiled_equals_the_numpy_solver_on_a_large_graph(seed: int) -> None:
    graph = _random_graph(5000, seed)
    coins = _coins(graph, 4, seed)
    state, passes = fixed_point(graph, coins)
    assert passes >= 1
    assert np.array_equal(state, _numpy_solver(graph, coins))


def test_the_plain_kernel_is_the_compiled_one() -> None:
    """The kernel's Python source, run without compiling, gives the same states."""
    graph = _random_graph(300, 7)
    coins = _coins(graph, 2, 7)
    shape = structure(graph)
    sweep = sweep_of(graph, shape)
    args = (
        sweep.order,
        sweep.tail,
        graph.indptr,
        graph.parents,
        graph.gate == Gate.OR,
        graph.gate == Gate.AND,
        graph.need,
        graph.probability < 1.0,
        graph.need == 0,
        shape.child_indptr,
        shape.children,
        coins,
    )
    with np.errstate(over="ignore"):
        plain, passes = _solve_plain(*args, 10_000)
    compiled, compiled_passes = least_fixed_point(
        graph, sweep, (shape.child_indptr, shape.children), coins, 10_000
    )
    assert np.array_equal(plain, compiled)
    assert passes == compiled_passes


def test_too_many_passes_is_an_error() -> None:
    graph = _random_graph(300, 7)
    shape = structure(graph)
    children = (shape.child_indptr, shape.children)
    with pytest.raises(RiskModelError, match="no fixed point after 1 passes"):
        least_fixed_point(graph, sweep_of(graph, shape), children, _coins(graph, 2, 7), 1)
