"""Parent lists of the attack graph grouped for vectorised reductions.

Nodes with up to ``BUCKETED_DEGREE`` parents are grouped by degree, so that one reduction along
an axis handles a whole bucket; the few nodes with more parents are reduced with ``reduceat``,
whose per-segment overhead would dominate if every node paid it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from panacea.risk.attack_graph import AttackGraph, Gate

# Nodes with up to this many parents are reduced in buckets of equal degree (one vectorised
# reduction per bucket); reduceat's per-segment overhead is paid only by the few wider nodes.
BUCKETED_DEGREE = 16
# Parent rows gathered at once. A bigger gather is a fresh allocation of the C library's
# (mmap), and on virtual machines first touching fresh pages costs more than the reduction;
# pieces of this size are served again and again from the same, already mapped heap memory.
PIECE_ROWS = 8192


@dataclass(frozen=True)
class Bucket:
    """Nodes of one gate with the same number of parents: ``parents`` is nodes x degree."""

    nodes: NDArray[np.int64]
    parents: NDArray[np.int64]


@dataclass(frozen=True)
class Wide:
    """Nodes of one gate with many parents, their parent lists laid end to end."""

    nodes: NDArray[np.int64]
    parents: NDArray[np.int64]
    offsets: NDArray[np.int64]

    def some(self, chosen: NDArray[np.bool_]) -> Wide:
        """The chosen nodes only, their parent lists laid end to end."""
        if chosen.all():
            return self
        lengths = np.diff(np.append(self.offsets, self.parents.size))[chosen]
        starts = self.offsets[chosen]
        offsets = np.cumsum(lengths) - lengths
        within = np.arange(int(lengths.sum())) - np.repeat(offsets, lengths)
        parents = self.parents[np.repeat(starts, lengths) + within]
        return Wide(self.nodes[chosen], parents, offsets)


def gate_layout(
    graph: AttackGraph, gate: Gate, among: NDArray[np.bool_] | None = None
) -> tuple[list[Bucket], Wide]:
    """The nodes of ``gate`` (with parents, not entries; of ``among`` only, if given) in degree
    buckets and one wide group."""
    counts = np.diff(graph.indptr)
    chosen_nodes = (counts > 0) & (graph.gate == gate) & (graph.need > 0)
    nodes = np.flatnonzero(chosen_nodes if among is None else chosen_nodes & among)
    buckets = []
    for degree in range(1, BUCKETED_DEGREE + 1):
        chosen = nodes[counts[nodes] == degree]
        if chosen.size:
            index = graph.indptr[chosen][:, None] + np.arange(degree)[None, :]
            buckets.append(Bucket(chosen, graph.parents[index].astype(np.int64)))
    wide = nodes[counts[nodes] > BUCKETED_DEGREE]
    lengths = counts[wide]
    offsets = np.zeros(wide.size, dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    within = np.arange(int(lengths.sum())) - np.repeat(offsets, lengths)
    parents = graph.parents[np.repeat(graph.indptr[wide], lengths) + within].astype(np.int64)
    return buckets, Wide(wide, parents, offsets)


def reduced_pending(
    values: NDArray[Any],
    buckets: list[Bucket],
    wide: Wide,
    pending: NDArray[np.bool_],
    reduce: np.ufunc,
) -> Iterator[tuple[NDArray[np.int64], NDArray[Any]]]:
    """For each group of one gate's pending nodes: the nodes and their parents' values reduced.

    Lazy: each group is reduced when asked for, so what the caller stored for the previous
    group (and the pending marks it changed) is already seen by the next one.
    """
    for bucket in buckets:
        chosen = pending[bucket.nodes]
        if chosen.any():
            nodes, parents = bucket.nodes[chosen], bucket.parents[chosen]
            step = max(1, PIECE_ROWS // parents.shape[1])
            for lo in range(0, nodes.size, step):
                piece = slice(lo, lo + step)
                yield nodes[piece], reduce.reduce(values[parents[piece]], axis=1)
    chosen = pending[wide.nodes]
    if chosen.any():
        some = wide.some(chosen)
        yield some.nodes, reduce.reduceat(values[some.parents], some.offsets, axis=0)
