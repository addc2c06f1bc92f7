"""The least fixed point of the attack graph in many packed worlds at once.

Each node's state is a row of 64-bit words, one bit per world. A node holds in a world when
``need`` of its parents hold there and its own coin came up. Evaluation is by worklist: only
nodes one of whose parents changed since they were last evaluated are evaluated again. Passes
visit nodes by level (the round in which they first hold when every action succeeds, see
``levels``), each level's OR and AND nodes grouped by degree so that each group is one
vectorised reduction; nodes that cannot hold even when every action succeeds are never visited
(they stay 0 in every world), and nodes with no children are evaluated once, after everything
else has settled. The result is the least fixed point whatever the order; the order only sets
the work. From nothing (no start state, no ranks), the same sweep runs compiled, node by node
(``sweep.py``): the states are the same, and fewer CPU seconds; this vectorised solver serves
the dynamic engine, which records ranks and continues from a state.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import cache
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from panacea.risk.attack_graph import AttackGraph, Gate
from panacea.risk.distinct import distinct
from panacea.risk.errors import RiskModelError
from panacea.risk.layout import (
    Bucket,
    Wide,
    csr_rows,
    ordered_layout,
    reduced_pending,
)
from panacea.risk.ranks import TOP, Ranks
from panacea.risk.sweep import Sweep, least_fixed_point

MAX_PASSES = 10_000
# entries less likely than this come last in the sweep's order (``levels``)
_LIKELY_ENTRY = 0.5
T = TypeVar("T")
# Worlds are independent, so shares of the words are solved on threads of their own (the
# compiled sweep releases the GIL; numpy does in the big gathers and reductions).
_THREADS = min(2, os.cpu_count() or 1)


@cache
def world_pool() -> ThreadPoolExecutor:
    """The threads that solve shares of the worlds."""
    return ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="worlds")


def world_shares(words: int) -> list[slice]:
    """The words split into one contiguous share per thread."""
    shares = max(1, min(_THREADS, words))
    bounds = [words * i // shares for i in range(shares + 1)]
    return [slice(a, b) for a, b in itertools.pairwise(bounds)]


def over_shares(solve: Callable[[slice], T], words: int) -> list[T]:
    """``solve`` of each share of ``words``: the first in the calling thread, the others on the
    pool; returns only once every share has finished (so none is still writing when an error
    of another is raised), then raises the first error. Shares never wait on the pool, so
    this cannot deadlock however it nests."""
    first, *rest = world_shares(words)
    futures = [world_pool().submit(solve, share) for share in rest]
    try:
        mine = solve(first)
    finally:
        wait(futures)
    return [mine, *(f.result() for f in futures)]


@dataclass(frozen=True)
class Structure:
    """What the solvers need of a graph's shape, computed once per shape."""

    # the OR and AND nodes by level (see ``levels``), the OR and the AND ones of each level;
    # nodes that cannot hold even when every action succeeds are left out
    sweep: tuple[tuple[list[Bucket], Wide, np.ufunc], ...]
    # nodes with no children (a CIA loss nothing depends on...): nothing waits for them, so
    # they are evaluated once, after the sweeps have settled everything else
    tail: tuple[tuple[list[Bucket], Wide, np.ufunc], ...]
    level: NDArray[np.int64]
    thresholds: NDArray[np.int64]
    child_indptr: NDArray[np.int64]
    children: NDArray[np.int64]
    entries: NDArray[np.bool_]

    def without(self, nodes: NDArray[np.int64]) -> Structure | None:
        """The structure once ``nodes`` became entries (lost their parents, as evidence pins
        them): they leave every group. Their former parents still list them as children: the
        fixed point then only marks an entry pending (entries are never evaluated), and the
        searches that follow children (``downstream``, scenario checks and costs) see a child
        more, which cannot change what they find because its gate no longer reads them. None if
        one of them could not hold before (what it makes possible was left out of the sweep)."""
        if (self.level[nodes] < 0).any():
            return None
        dropped = np.zeros(self.entries.size, dtype=bool)
        dropped[nodes] = True

        def strip(
            group: tuple[list[Bucket], Wide, np.ufunc],
        ) -> tuple[list[Bucket], Wide, np.ufunc]:
            buckets, wide, reduce = group
            kept = []
            for bucket in buckets:
                keep = ~dropped[bucket.nodes]
                if keep.any():
                    kept.append(Bucket(bucket.nodes[keep], bucket.parents[keep]))
            return kept, wide.some(~dropped[wide.nodes]), reduce

        return dataclasses.replace(
            self,
            sweep=tuple(strip(g) for g in self.sweep),
            tail=tuple(strip(g) for g in self.tail),
            thresholds=self.thresholds[~dropped[self.thresholds]],
            entries=self.entries | dropped,
        )

    def children_of(self, nodes: NDArray[np.int64]) -> NDArray[np.int64]:
        """Every child of ``nodes`` (with repeats)."""
        return self.edges_from(nodes)[1]

    def edges_from(self, nodes: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """The edges out of ``nodes``: (parent, child) arrays of equal length."""
        children, lengths = csr_rows(self.child_indptr, self.children, nodes)
        return np.repeat(nodes, lengths), children

    def downstream(
        self, start: NDArray[np.int64], size: int, *, through: NDArray[np.bool_] | None = None
    ) -> NDArray[np.int64]:
        """Every node reachable from ``start`` (included), in node order; with ``through``,
        reachable by way of the nodes it marks only."""
        seen = np.zeros(size, dtype=bool)
        seen[start] = True
        frontier = distinct(start)
        while frontier.size:
            reached = self.children_of(frontier)
            keep = ~seen[reached] if through is None else ~seen[reached] & through[reached]
            frontier = distinct(reached[keep])
            seen[frontier] = True
        return np.flatnonzero(seen)


def structure(graph: AttackGraph) -> Structure:
    """The graph's Structure, cached on the graph (shared by graphs of the same shape)."""
    cached = graph.cache.get("structure")
    if isinstance(cached, Structure):
        return cached
    counts = np.diff(graph.indptr)
    child = np.repeat(np.arange(graph.size, dtype=np.int64), counts)
    order = np.argsort(graph.parents, kind="stable")
    child_indptr = np.zeros(graph.size + 1, dtype=np.int64)
    np.cumsum(np.bincount(graph.parents, minlength=graph.size), out=child_indptr[1:])
    children = child[order]
    level = levels(graph, child_indptr, children)
    childless = np.diff(child_indptr) == 0
    result = Structure(
        sweep=tuple(ordered_layout(graph, np.where(childless, -1, level))),
        tail=tuple(ordered_layout(graph, np.where(childless & (level >= 0), 0, -1))),
        level=level,
        thresholds=np.flatnonzero((graph.gate == Gate.THRESHOLD) & (graph.need > 0)),
        child_indptr=child_indptr,
        children=children,
        entries=graph.need == 0,
    )
    graph.cache["structure"] = result
    return result


def levels(
    graph: AttackGraph, child_indptr: NDArray[np.int64], children: NDArray[np.int64]
) -> NDArray[np.int64]:
    """The round in which each node first holds when every action succeeds (-1: never),
    the entries less likely than not (an insider, a vendor) coming in last.

    The likely entries hold in round 0; a node holds in round r once ``need`` of its parents
    hold by round r - 1 (synchronous evaluation of the all-success world); once nothing more
    holds, the unlikely entries hold, and the rounds go on from there. Evaluating nodes in this
    order derives most of a sampled world in one sweep: a node is evaluated again only where
    its support in that world came later than in this order. An insider who reaches the
    clinical LAN at once does so in few worlds; in the others the LAN is reached through a
    phished workstation, so it comes after the workstations (at 20,000 assets the second pass
    of the sweep then re-evaluates 78,000 nodes instead of 297,000, and the Monte Carlo takes a
    fifth less time). Which nodes get a round (-1 or not) does not depend on the order.
    """
    level = np.full(graph.size, -1, dtype=np.int64)
    held_parents = np.zeros(graph.size, dtype=np.int64)
    entries = np.flatnonzero(graph.need == 0)
    unlikely = graph.probability[entries] < _LIKELY_ENTRY
    depth = 0
    for start in (entries[~unlikely], entries[unlikely]):
        frontier = start
        level[frontier] = depth
        while frontier.size:
            depth += 1
            reached, _ = csr_rows(child_indptr, children, frontier)
            np.add.at(held_parents, reached, 1)
            candidates = distinct(reached)
            frontier = candidates[
                (level[candidates] < 0) & (held_parents[candidates] >= graph.need[candidates])
            ]
            level[frontier] = depth
    return level


def fixed_point(
    graph: AttackGraph,
    coins: NDArray[np.uint64],
    *,
    start: NDArray[np.uint64] | None = None,
    dirty: NDArray[np.int64] | None = None,
    ranks: Ranks | None = None,
) -> tuple[NDArray[np.uint64], int]:
    """Least fixed point of the graph in each packed world; ``coins[i]`` are node i's draws.

    Nodes with probability 1 (other than entries) are taken to succeed in every world: their
    rows of ``coins`` are not read (``draw`` gives them all ones).

    Without ``start``, from nothing (entries hold where their coin did). With ``start`` (nodes x
    words, modified in place) and ``dirty``: continue from that state, evaluating ``dirty``
    first. ``start`` must lie below the least fixed point and every node outside ``dirty`` must
    already agree with its parents; the engine uses this after an event.
    With ``ranks``, records in which pass each node came to hold in each world (from
    ``start``: late, see :mod:`panacea.risk.ranks`).
    Returns the packed states (nodes x words) and the number of passes it took.
    """
    shape = structure(graph)
    if start is None and ranks is None:  # from nothing: compiled, the same states
        children = (shape.child_indptr, shape.children)
        return least_fixed_point(graph, sweep_of(graph, shape), children, coins, MAX_PASSES)
    random = graph.probability < 1.0
    pending = np.zeros(graph.size, dtype=bool)
    if start is None:
        state = np.zeros(coins.shape, dtype=np.uint64)
        state[shape.entries] = coins[shape.entries]
        pending[:] = ~shape.entries
    else:
        state = start
        if dirty is not None:
            pending[dirty] = True
        pending[shape.entries] = False
    log = None if ranks is None else _RankLog(ranks, exact=start is None)
    return state, _solve(graph, shape, coins, random, state, pending, log)


def sweep_of(graph: AttackGraph, shape: Structure) -> Sweep:
    """The compiled solver's order of the graph's nodes (see ``sweep.Sweep``), cached on it."""
    cached = graph.cache.get("sweep")
    if isinstance(cached, Sweep):
        return cached
    childless = np.diff(shape.child_indptr) == 0
    result = Sweep.of(shape.level, shape.entries, childless)
    graph.cache["sweep"] = result
    return result


def _solve(
    graph: AttackGraph,
    shape: Structure,
    coins: NDArray[np.uint64],
    random: NDArray[np.bool_],
    state: NDArray[np.uint64],
    pending: NDArray[np.bool_],
    log: _RankLog | None,
) -> int:
    """Sweep until nothing changes; the number of passes."""
    for passes in range(1, MAX_PASSES + 1):
        if log is not None:
            log.passes = passes
        changed = False
        for buckets, wide, reduce in shape.sweep:
            for nodes, new in reduced_pending(state, buckets, wide, pending, reduce):
                changed |= bool(_settle(state, coins, random, pending, shape, nodes, new, log).size)
        if shape.thresholds.size and pending[shape.thresholds].any():
            nodes = shape.thresholds
            new = _threshold(graph, state, nodes)
            changed |= bool(_settle(state, coins, random, pending, shape, nodes, new, log).size)
        if not changed:
            for buckets, wide, reduce in shape.tail:
                for nodes, new in reduced_pending(state, buckets, wide, pending, reduce):
                    _settle(state, coins, random, pending, shape, nodes, new, log)
            return passes
    raise RiskModelError(f"no fixed point after {MAX_PASSES} passes")


def _settle(
    state: NDArray[np.uint64],
    coins: NDArray[np.uint64],
    random: NDArray[np.bool_],
    pending: NDArray[np.bool_],
    shape: Structure,
    nodes: NDArray[np.int64],
    new: NDArray[np.uint64],
    log: _RankLog | None = None,
) -> NDArray[np.int64]:
    """Store the nodes' new states; mark the children of those that changed as pending.

    Returns the nodes that changed."""
    pending[nodes] = False
    chance = random[nodes]  # the others' coins always come up: no need to read them
    if chance.all():
        new &= coins[nodes]
    elif chance.any():
        new[chance] &= coins[nodes[chance]]
    old = state[nodes]
    moved = (new != old).any(axis=1)
    if not moved.any():
        return nodes[:0]
    nodes = nodes[moved]
    if log is not None:  # states only grow here: what is new came to hold in this pass
        log.ranks.record(nodes, new[moved] & ~old[moved], log.value)
    state[nodes] = new[moved]
    pending[shape.children_of(nodes)] = True  # entries are nobody's children
    return nodes


@dataclass
class _RankLog:
    """Where ``_settle`` records derivation ranks, and the pass it is in."""

    ranks: Ranks
    exact: bool  # a solution from nothing; otherwise every new node is late
    passes: int = 0

    @property
    def value(self) -> int:
        return self.passes if self.exact else TOP


def _threshold(
    graph: AttackGraph, state: NDArray[np.uint64], nodes: NDArray[np.int64]
) -> NDArray[np.uint64]:
    members, lengths = csr_rows(graph.indptr, graph.parents, nodes)
    return at_least(state[members], lengths, graph.need[nodes])


def at_least(
    rows: NDArray[np.uint64], lengths: NDArray[np.int64], need: NDArray[np.int32]
) -> NDArray[np.uint64]:
    """Per run of ``lengths`` consecutive ``rows`` (packed worlds): the worlds where at least
    ``need`` of the run's rows hold (k of n redundancy)."""
    bits = np.unpackbits(rows.view(np.uint8), axis=1, bitorder="little").astype(np.int64)
    counts = np.zeros((lengths.size, bits.shape[1]), dtype=np.int64)
    some = lengths > 0
    if some.any():  # reduceat cannot sum an empty run
        offsets = np.cumsum(lengths) - lengths
        counts[some] = np.add.reduceat(bits, offsets[some], axis=0)
    held = counts >= need[:, None]
    packed: NDArray[np.uint64] = np.packbits(held, axis=1, bitorder="little").view(np.uint64)
    return packed


def popcount(packed: NDArray[np.uint64]) -> NDArray[np.int64]:
    """Set bits per row of ``packed`` (how many worlds a node holds in)."""
    counts: NDArray[np.int64] = np.bitwise_count(packed).sum(axis=1, dtype=np.int64)
    return counts
