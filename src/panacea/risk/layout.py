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
# Bytes of parent rows gathered at once. A bigger gather is a fresh allocation of the C
# library's (mmap), and on virtual machines first touching fresh pages costs more than the
# reduction; pieces of this size are served again and again from the same, mapped memory.
PIECE_BYTES = 4 << 20


@dataclass(frozen=True)
class Bucket:
    """Nodes of one gate with the same number of parents: ``parents`` is nodes x degree."""

    nodes: NDArray[np.int64]
    parents: NDArray[np.int64]

    def __post_init__(self) -> None:
        # ``reduced_pending`` hands out views of these when a whole bucket is pending
        self.nodes.setflags(write=False)
        self.parents.setflags(write=False)


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
        parents = self.parents[ranges(self.offsets[chosen], lengths)]
        return Wide(self.nodes[chosen], parents, np.cumsum(lengths) - lengths)


def csr_rows(
    indptr: NDArray[np.int64], values: NDArray[Any], nodes: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The rows ``values[indptr[n]:indptr[n+1]]`` of ``nodes`` laid end to end (as int64),
    and each row's length."""
    starts = indptr[nodes]
    lengths = indptr[nodes + 1] - starts
    flat: NDArray[np.int64] = values[ranges(starts, lengths)].astype(np.int64)
    return flat, lengths


def ranges(starts: NDArray[np.int64], lengths: NDArray[np.int64]) -> NDArray[np.int64]:
    """The concatenation of ``arange(s, s + l)`` for every start s and length l."""
    total = int(lengths.sum())
    ends = np.cumsum(lengths)
    return np.repeat(starts - (ends - lengths), lengths) + np.arange(total, dtype=np.int64)


def _wide(graph: AttackGraph, nodes: NDArray[np.int64]) -> Wide:
    """``nodes`` as a wide group: their parent lists end to end."""
    parents, lengths = csr_rows(graph.indptr, graph.parents, nodes)
    return Wide(nodes, parents, np.cumsum(lengths) - lengths)


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
    row_bytes = max(1, values.itemsize * (values.size // max(1, values.shape[0])))
    for bucket in buckets:
        chosen = pending[bucket.nodes]
        if chosen.all():  # (a first pass: no copy of the parent rows)
            nodes, parents = bucket.nodes, bucket.parents
        elif chosen.any():
            nodes, parents = bucket.nodes[chosen], bucket.parents[chosen]
        else:
            continue
        step = max(1, PIECE_BYTES // (parents.shape[1] * row_bytes))
        for lo in range(0, nodes.size, step):
            piece = slice(lo, lo + step)
            yield nodes[piece], reduce.reduce(values[parents[piece]], axis=1)
    chosen = pending[wide.nodes]
    if chosen.any():
        some = wide.some(chosen)
        yield some.nodes, reduce.reduceat(values[some.parents], some.offsets, axis=0)


def ordered_layout(
    graph: AttackGraph, rank: NDArray[np.int64]
) -> list[tuple[list[Bucket], Wide, np.ufunc]]:
    """The OR and AND nodes (with parents, not entries) by ascending ``rank`` (negative: left
    out): for each distinct rank, its OR nodes then its AND nodes, each in degree buckets and
    one wide group, ready to be reduced in that order."""
    counts = np.diff(graph.indptr)
    gate = graph.gate
    usable = (
        (counts > 0) & (graph.need > 0) & (rank >= 0) & ((gate == Gate.OR) | (gate == Gate.AND))
    )
    nodes = np.flatnonzero(usable)
    if not nodes.size:
        return []
    degree = np.minimum(counts[nodes], BUCKETED_DEGREE + 1)
    order = np.lexsort((nodes, degree, gate[nodes], rank[nodes]))
    nodes, degree = nodes[order], degree[order]
    stage = rank[nodes] * 2 + gate[nodes]  # OR (0) before AND (1) within a rank
    bounds = np.flatnonzero(np.diff(stage)) + 1
    result: list[tuple[list[Bucket], Wide, np.ufunc]] = []
    for chunk in np.split(np.arange(nodes.size), bounds):
        stage_nodes, stage_degree = nodes[chunk], degree[chunk]
        buckets: list[Bucket] = []
        cuts = np.flatnonzero(np.diff(stage_degree)) + 1
        for run in np.split(np.arange(stage_nodes.size), cuts):
            d = int(stage_degree[run[0]])
            if d > BUCKETED_DEGREE:
                continue
            chosen = stage_nodes[run]
            index = graph.indptr[chosen][:, None] + np.arange(d)[None, :]
            buckets.append(Bucket(chosen, graph.parents[index].astype(np.int64)))
        wide = _wide(graph, stage_nodes[stage_degree > BUCKETED_DEGREE])
        reduce = np.bitwise_or if gate[stage_nodes[0]] == Gate.OR else np.bitwise_and
        result.append((buckets, wide, reduce))
    return result
