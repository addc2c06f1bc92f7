"""Withdrawing worlds from actions: what stops holding when some coins go from 1 to 0.

A node keeps a world when a parent that held there before it did (an earlier derivation rank,
:mod:`panacea.risk.ranks`) still holds there: that support cannot lead back to the node, so the
node is still derived without circles. Only the nodes that lose every such support lose the
world, and only their children are looked at again. The result lies below the new least fixed
point (everything kept is still derived); a node that lost a world may still hold there through
a later support, so the caller derives the nodes returned here again, forward, from this state.
The work is in proportion to what changes: a resolved finding whose host is reached in other
ways touches a few nodes, not everything downstream of it.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from panacea.risk.attack_graph import AttackGraph, Gate
from panacea.risk.distinct import distinct
from panacea.risk.draws import ALL
from panacea.risk.fixpoint import Structure, at_least
from panacea.risk.layout import csr_rows
from panacea.risk.ranks import TAIL, TOP, Ranks

# OR nodes with more parents than this are checked a slice of SLICE parents at a time, until
# the worlds to keep are all supported (a hub such as a zone's network has thousands).
WIDE = 64
SLICE = 256


def withdraw(
    graph: AttackGraph,
    shape: Structure,
    place: NDArray[np.int64],
    coins: NDArray[np.uint64],
    state: NDArray[np.uint64],
    ranks: Ranks,
    changed: NDArray[np.int64],
) -> NDArray[np.int64]:
    """Clear in ``state`` (modified in place) the worlds that held only through worlds lost
    by the coins of ``changed`` (already redrawn in ``coins``); coins that grew are left to
    the caller. Returns the nodes that lost worlds, to be derived again.

    ``ranks`` must be the derivation ranks of ``state`` and ``place`` the nodes' places in a
    pass (``ranks.places`` of the graph's unpinned structure).
    """
    before = state[changed]
    after = before & coins[changed]
    state[changed] = after
    lost = [changed[(before != after).any(axis=1)]]
    pending = np.zeros(graph.size, dtype=bool)
    pending[shape.children_of(lost[0])] = True
    check = _Check(graph, shape, place, state, ranks)
    for value in range(1, TOP + 1):
        lost.extend(check.rank(pending, value))
    # nothing depends on nodes without children: derived again from their parents (but pins,
    # entries now, are still listed as their former parents' children: they keep their coin)
    tail = np.flatnonzero(pending & (place == TAIL) & ~shape.entries)
    state[tail] = 0
    return distinct(np.concatenate([*lost, tail]))


@dataclass(frozen=True)
class _Check:
    """One withdrawal: the graph, its places in a pass, and the state and ranks it changes."""

    graph: AttackGraph
    shape: Structure
    place: NDArray[np.int64]
    state: NDArray[np.uint64]
    ranks: Ranks

    def rank(self, pending: NDArray[np.bool_], value: int) -> list[NDArray[np.int64]]:
        """Check the worlds of rank ``value`` of the pending nodes, by place; the nodes that
        lost some. Children of a node that lost worlds become pending, for this pass too if
        they come at or after its place: a node evaluated in a later piece of the same group
        may have come to hold through it in the same pass (equal places never count as
        support, so such a child loses those worlds when checked). In the late pass, children
        are checked wherever they come: late worlds are supported by earlier ranks only, all
        settled by then, so their order does not matter, but a child earlier in the pass has
        no later pass to be checked in. Entries (pins among them) are never checked: they hold
        by their own coin."""
        place, entries = self.place, self.shape.entries
        waiting: dict[int, list[NDArray[np.int64]]] = {}
        nodes = np.flatnonzero(pending & (place >= 0) & ~entries)
        _wait(waiting, nodes, place[nodes])
        heap = list(waiting)
        heapq.heapify(heap)
        lost = []
        while heap:
            here = heapq.heappop(heap)
            gone = self._unsupported(distinct(np.concatenate(waiting.pop(here))), value)
            if gone is None:
                continue
            losers, bits = gone
            self.state[losers] &= ~bits
            lost.append(losers)
            children = distinct(self.shape.children_of(losers))
            pending[children] = True
            later = children[
                (place[children] >= (0 if value == TOP else here)) & ~entries[children]
            ]
            for p in _wait(waiting, later, place[later]):
                heapq.heappush(heap, p)
        return lost

    def _unsupported(
        self, nodes: NDArray[np.int64], value: int
    ) -> tuple[NDArray[np.int64], NDArray[np.uint64]] | None:
        """The worlds of rank ``value`` where ``nodes`` (of one place) lost every support that
        came before them: (nodes that lost some, their lost worlds), or None."""
        graph = self.graph
        _, mine = self.ranks.compare(nodes, value)
        own = self.state[nodes] & mine
        some = own.any(axis=1)
        if not some.any():
            return None
        nodes, own = nodes[some], own[some]
        degree = graph.indptr[nodes + 1] - graph.indptr[nodes]
        wide = (degree > WIDE) & (graph.gate[nodes] == Gate.OR)
        held = np.empty_like(own)
        if (~wide).any():
            held[~wide] = self._held(nodes[~wide], value)
        for row in np.flatnonzero(wide).tolist():
            held[row] = self._held_or(int(nodes[row]), own[row], value)
        gone = own & ~held
        rows = gone.any(axis=1)
        if not rows.any():
            return None
        return nodes[rows], gone[rows]

    def _support(
        self, parents: NDArray[np.int64], children: NDArray[np.int64], value: int
    ) -> NDArray[np.uint64]:
        """Per (parent, child) edge, the worlds where the parent holds with a rank before the
        child's worlds of rank ``value``."""
        below, equal = self.ranks.compare(parents, value)
        if value < TOP:  # a parent of the same pass supports only if it came earlier in it
            earlier = self.place[parents] < self.place[children]
            equal &= np.where(earlier, ALL, np.uint64(0))[:, None]
            below |= equal
        support = self.state[parents]
        support &= below
        return support

    def _held(self, nodes: NDArray[np.int64], value: int) -> NDArray[np.uint64]:
        """The worlds where each of ``nodes`` still has what its gate needs among the parents
        that came before its worlds of rank ``value``."""
        graph = self.graph
        parents, lengths = csr_rows(graph.indptr, graph.parents, nodes)
        support = self._support(parents, np.repeat(nodes, lengths), value)
        offsets = np.cumsum(lengths) - lengths
        held = np.empty((nodes.size, support.shape[1]), dtype=np.uint64)
        gates = graph.gate[nodes]
        for gate, reduce in ((Gate.OR, np.bitwise_or), (Gate.AND, np.bitwise_and)):
            chosen = gates == gate
            if chosen.any():
                held[chosen] = reduce.reduceat(support, offsets, axis=0)[chosen]
        chosen = gates == Gate.THRESHOLD
        if chosen.any():
            held[chosen] = at_least(support, lengths, graph.need[nodes])[chosen]
        return held

    def _held_or(self, node: int, own: NDArray[np.uint64], value: int) -> NDArray[np.uint64]:
        """``_held`` of one OR node with many parents (a zone's network, a credential used
        everywhere): its parents are read a slice at a time until every world of ``own`` has
        its support, which is usually after the first slice."""
        graph = self.graph
        parents = graph.parents[graph.indptr[node] : graph.indptr[node + 1]].astype(np.int64)
        held = np.zeros_like(own)
        for lo in range(0, parents.size, SLICE):
            some = parents[lo : lo + SLICE]
            support = self._support(some, np.full(some.size, node, dtype=np.int64), value)
            held |= np.bitwise_or.reduce(support, axis=0)
            if not (own & ~held).any():
                break
        return held


def _wait(
    waiting: dict[int, list[NDArray[np.int64]]],
    nodes: NDArray[np.int64],
    places: NDArray[np.int64],
) -> list[int]:
    """Queue ``nodes`` by place; the places that were not queued yet."""
    order = np.argsort(places, kind="stable")
    nodes, places = nodes[order], places[order]
    cuts = np.flatnonzero(np.diff(places)) + 1
    new = []
    for group in np.split(np.arange(nodes.size), cuts) if nodes.size else []:
        p = int(places[group[0]])
        if p not in waiting:
            waiting[p] = []
            new.append(p)
        waiting[p].append(nodes[group])
    return new
