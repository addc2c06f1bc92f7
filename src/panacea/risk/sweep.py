"""The least fixed point of the attack graph from nothing, compiled (the Monte Carlo's solve).

The same computation as ``fixpoint.fixed_point`` without a start or ranks: every node's state
is a row of packed worlds; entries hold where their coin did; the nodes that can hold are
visited in the sweep's order (``Sweep``), each evaluated when one of its parents changed since
it last was (OR: any parent, AND: all, k-of-n: at least ``need`` per world, then its own coin),
its children marked when it changed; sweeps repeat until one changes nothing, then the nodes
with no children are evaluated once. The least fixed point does not depend on the order, so
the states are those of ``fixed_point`` bit for bit (the tests check it on random graphs).
Compiled (``compiled``), one node at a time, where numpy needs a vectorised reduction per group
of nodes of one degree and Python between them: several times less CPU, and the GIL released,
so that the shares of the worlds are solved on two threads at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from panacea.risk.attack_graph import AttackGraph, Gate
from panacea.risk.compiled import compiled
from panacea.risk.errors import RiskModelError

_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_ZERO = np.uint64(0)
_ONE = np.uint64(1)


@dataclass(frozen=True)
class Sweep:
    """The order in which a graph's nodes are evaluated: ``order`` (the nodes that have
    children and can hold, by level) is swept until nothing changes, then ``tail`` (those
    without children) once."""

    order: NDArray[np.int64]
    tail: NDArray[np.int64]

    @classmethod
    def of(
        cls, level: NDArray[np.int64], entries: NDArray[np.bool_], childless: NDArray[np.bool_]
    ) -> Sweep:
        """From each node's level (-1: it can never hold), whether it is an entry, and
        whether it has no children."""
        evaluated = (level >= 0) & ~entries
        nodes = np.flatnonzero(evaluated & ~childless)
        order = nodes[np.argsort(level[nodes], kind="stable")]
        return cls(order, np.flatnonzero(evaluated & childless))


def least_fixed_point(
    graph: AttackGraph,
    sweep: Sweep,
    children: tuple[NDArray[np.int64], NDArray[np.int64]],
    coins: NDArray[np.uint64],
    max_passes: int,
) -> tuple[NDArray[np.uint64], int]:
    """The packed states (nodes x words) and the number of sweeps it took; ``coins[i]`` are
    node i's draws (not read for nodes with probability 1, which always succeed);
    ``children``: each node's children in CSR form (indptr, children). Raises RiskModelError
    after ``max_passes`` sweeps without a fixed point."""
    children_indptr, children_of = children
    state, passes = _solve(
        sweep.order,
        sweep.tail,
        graph.indptr,
        graph.parents,
        graph.gate == Gate.OR,  # (arrays, not Gate's values: those would be frozen into the
        graph.gate == Gate.AND,  # cached machine code, which only sweep.py's changes renew)
        graph.need,
        graph.probability < 1.0,
        graph.need == 0,
        children_indptr,
        children_of,
        np.ascontiguousarray(coins),
        max_passes,
    )
    if passes > max_passes:
        raise RiskModelError(f"no fixed point after {max_passes} passes")
    return state, passes


def _solve_plain(
    order: NDArray[np.int64],
    tail: NDArray[np.int64],
    indptr: NDArray[np.int64],
    parents: NDArray[np.int32],
    is_or: NDArray[np.bool_],
    is_and: NDArray[np.bool_],
    need: NDArray[np.int32],
    random: NDArray[np.bool_],
    entries: NDArray[np.bool_],
    children_indptr: NDArray[np.int64],
    children: NDArray[np.int64],
    coins: NDArray[np.uint64],
    max_passes: int,
) -> tuple[NDArray[np.uint64], int]:  # pragma: no cover  (run compiled; a test runs it plain)
    """See ``least_fixed_point``; passes = max_passes + 1 when there is no fixed point."""
    n, words = coins.shape
    state = np.zeros((n, words), dtype=np.uint64)
    pending = np.zeros(n, dtype=np.bool_)
    for node in range(n):
        if entries[node]:
            state[node, :] = coins[node, :]
        else:
            pending[node] = True
    new = np.empty(words, dtype=np.uint64)
    passes, nodes, last = 0, order, False
    while True:
        if not last:
            passes += 1
            if passes > max_passes:
                return state, passes
        changed = False
        for node in nodes:
            if not pending[node]:
                continue
            pending[node] = False
            first, end = indptr[node], indptr[node + 1]
            if is_or[node]:
                new[:] = _ZERO
                for i in range(first, end):
                    new |= state[parents[i]]
            elif is_and[node]:
                new[:] = _ALL
                for i in range(first, end):
                    new &= state[parents[i]]
            else:  # k of n: count the parents that hold, world by world
                for w in range(words):
                    held = _ZERO
                    for bit in range(64):
                        count = _ZERO
                        for i in range(first, end):
                            count += (state[parents[i], w] >> np.uint64(bit)) & _ONE
                        if count >= np.uint64(need[node]):
                            held |= _ONE << np.uint64(bit)
                    new[w] = held
            if random[node]:
                new &= coins[node]
            moved = False
            for w in range(words):
                if new[w] != state[node, w]:
                    moved = True
                    state[node, w] = new[w]
            if moved:
                changed = True
                for i in range(children_indptr[node], children_indptr[node + 1]):
                    pending[children[i]] = True
        if last:
            return state, passes
        if not changed:  # settled: the nodes without children, once
            nodes, last = tail, True


_solve = compiled(_solve_plain)
