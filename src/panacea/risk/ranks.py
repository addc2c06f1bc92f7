"""Derivation ranks: in which pass of the fixed point each node came to hold, world by world.

A node that came to hold in pass ``p`` of the sweeps was derived from parents that already held
then: parents derived in an earlier pass, or in the same pass at an earlier place of the sweep.
So (pass, place) orders every world's derivation without circles, and a node keeps holding
after an action is withdrawn as long as some parent that held before it still holds (see
:mod:`panacea.risk.withdrawal`). That is what makes removing an action cost what it changes,
not what lies downstream of it: at 20,000 assets, resolving one finding changes a handful of
nodes in a few hundred worlds, while the nodes downstream of it are most of the graph.

Passes are kept bit-sliced, ``RANK_BITS`` planes of one bit per world like the state itself,
so a pass number is exact up to ``TOP`` - 1. ``TOP`` means "late": a pass at or after ``TOP``,
or a node that came to hold in an incremental recomputation, whose order against other late
nodes is unknown. Entries have pass 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from panacea.risk.draws import ALL

if TYPE_CHECKING:
    from panacea.risk.fixpoint import Structure

# Two bits: passes 1 and 2 exact, later ones late. The fixed point of the 20,000-asset hospital
# with 200,566 findings takes 5 passes, most nodes holding after the first two; a finding
# resolved there costs 7-36 ms with two bits as with three (docs/benchmarks.md), and each bit is
# as big as the state (216 MiB there).
RANK_BITS = 2
TOP = (1 << RANK_BITS) - 1
TAIL = -2  # the place of nodes with no children (see ``places``)


@dataclass(frozen=True)
class Ranks:
    """Planes (bits x nodes x words) of the pass each node came to hold in, per world."""

    planes: NDArray[np.uint64]

    @classmethod
    def empty(cls, nodes: int, words: int) -> Ranks:
        return cls(np.zeros((RANK_BITS, nodes, words), dtype=np.uint64))

    def columns(self, columns: slice) -> Ranks:
        """A view of some words only (writes go to these planes)."""
        return Ranks(self.planes[:, :, columns])

    def record(self, nodes: NDArray[np.int64], bits: NDArray[np.uint64], value: int) -> None:
        """``nodes`` came to hold in the worlds of ``bits`` (nodes x words) in pass ``value``
        (``TOP`` or more: late). Those worlds' ranks must be 0 (a solution from nothing) or
        ``value`` be late: ranks are only ever raised here, by setting bits."""
        value = min(value, TOP)
        for k in range(RANK_BITS):
            if value >> k & 1:
                self.planes[k, nodes] |= bits

    def compare(
        self, nodes: NDArray[np.int64], value: int
    ) -> tuple[NDArray[np.uint64], NDArray[np.uint64]]:
        """Two masks (nodes x words): the worlds where each node's pass is below ``value``,
        and those where it equals ``value`` (meaningful where the node holds)."""
        below: NDArray[np.uint64] | None = None  # None: no world yet
        equal: NDArray[np.uint64] | None = None  # None: every world still
        for k in reversed(range(RANK_BITS)):
            plane = self.planes[k][nodes]  # a fresh copy, free to change in place
            if value >> k & 1:
                clear = ~plane if equal is None else equal & ~plane
                below = clear if below is None else below | clear
                equal = plane if equal is None else equal & plane
            elif equal is None:
                equal = np.invert(plane, out=plane)
            else:
                equal &= ~plane
        shape = (nodes.size, self.planes.shape[2])
        return (
            np.zeros(shape, dtype=np.uint64) if below is None else below,
            np.full(shape, ALL, dtype=np.uint64) if equal is None else equal,
        )


def places(shape: Structure) -> NDArray[np.int64]:
    """Each node's place in a pass of the sweep: groups evaluated earlier have lower places.

    Nodes of one group share a place (a later piece of a group may read an earlier one: equal
    places never count as support, which only costs work). Redundancy groups (thresholds)
    come after the sweep. Nodes that cannot hold in this structure come after everything:
    they can only come to hold once evidence pins an ancestor, always in an incremental
    recomputation, so their worlds are late. Nodes with no children have ``TAIL`` (nothing
    depends on them, they are derived again instead of checked), entries ``-1``.
    """
    place = np.full(shape.entries.size, -1, dtype=np.int64)
    counter = 0
    for buckets, wide, _reduce in shape.sweep:
        for nodes in (*(b.nodes for b in buckets), wide.nodes):
            place[nodes] = counter
            counter += 1
    place[shape.thresholds] = counter
    place[(place < 0) & ~shape.entries] = counter + 1
    for buckets, wide, _reduce in shape.tail:
        for nodes in (*(b.nodes for b in buckets), wide.nodes):
            place[nodes] = TAIL
    return place
