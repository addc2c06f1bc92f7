"""Which edges analytic propagation may use without letting a node count itself as evidence.

``likelihood.propagate(cycles=Cycles.CUT)`` computes every node once from its parents. Around a
cycle that would need a node's value before it is known; iterating instead (``Cycles.LOOPY``)
feeds the node's own probability back to it. So the CUT treatment uses:

1. a cycle-free *support*: every edge between two strongly connected components (it cannot
   close a cycle) and, inside a component, the edges that go forward in first-reach order (the
   pass of the least fixed point at which a node first holds when every chance succeeds, ties
   broken by the all-OR level, then the index), as in attack-graph analyses that cut cycles at
   their back edges;
2. *readmitted* late edges: an edge u -> w left out in step 1 whose tail u does not depend on w
   over the support (w is not an ancestor of u). It contributes u's value from a first pass over
   the support alone, which cannot depend on w; a second pass adds these contributions.

A node's value then never depends on itself (likelihood.py states the argument).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from panacea.risk.attack_graph import AttackGraph, Gate
from panacea.risk.evidence import pin
from panacea.risk.layout import ranges

NEVER = np.iinfo(np.int64).max  # the level of a node that holds in no world
ANCESTRY_BITS = 2048  # buckets of heads per pass of the ancestry check (a multiple of 64)
ANCESTRY_PASSES = 4


def cycle_free_support(
    graph: AttackGraph, *, evidence: NDArray[np.int64] | None = None
) -> NDArray[np.bool_]:
    """Which edges (in ``graph.parents`` order) may contribute: an acyclic subset of them.

    All edges between strongly connected components, and inside one the edges from an earlier
    to a later node in first-reach order, ties broken by the all-OR level, then the index.
    Nodes that hold in no world are ordered among themselves by their first reach from the
    ``evidence`` nodes (pinned nodes count as entries there), so that evidence reaches what
    it makes possible; the order of every other node does not depend on evidence.
    Self-loops never contribute.
    """
    n = graph.size
    child = edge_children(graph)
    level = first_reach_levels(graph)
    keys = [level, first_reach_levels(graph, every_gate_or=True), np.zeros(n, dtype=np.int64)]
    if evidence is not None and evidence.size:
        world = pin(graph, dict.fromkeys(evidence.tolist(), 1.0))
        never = level == NEVER
        keys[1] = np.where(never, first_reach_levels(world), keys[1])
        keys[2] = np.where(never, first_reach_levels(world, every_gate_or=True), 0)
    order = np.lexsort((np.arange(n), keys[2], keys[1], keys[0]))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    component = strong_components(graph)
    between: NDArray[np.bool_] = component[graph.parents] != component[child]
    return between | (rank[graph.parents] < rank[child])


def readmissible(graph: AttackGraph, support: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Edges u -> w outside the acyclic ``support`` such that w is not an ancestor of u over it.

    Only edges inside a strongly connected component are candidates (a support path from w to u
    cannot leave w's component and come back), and never self-loops. Ancestry is tracked as bit
    sets of ``ANCESTRY_BITS`` buckets of heads; a set bucket bit at u means "maybe an ancestor"
    and the edge is refused, so the answer errs only towards refusing. When a component has more
    heads than buckets, heads share buckets; up to ``ANCESTRY_PASSES`` passes with other
    bucketings then clear most false alarms (an edge is refused only if every pass says maybe).
    """
    child = edge_children(graph)
    component = strong_components(graph)
    inside = component[graph.parents] == component[child]
    late = np.flatnonzero(inside & ~support & (graph.parents != child))
    result = np.zeros(graph.edges, dtype=bool)
    if late.size == 0:
        return result
    heads = child[late]
    steps = _topological_steps(graph, support & inside)
    maybe = np.ones(late.size, dtype=bool)
    bucket = _slots_in_component(heads, component)
    exact = int(bucket.max()) < ANCESTRY_BITS
    rng = np.random.default_rng(0)  # fixed: the same graph always gets the same answer
    for _ in range(1 if exact else ANCESTRY_PASSES):
        ancestors = _ancestor_bits(graph, steps, heads, bucket % ANCESTRY_BITS)
        maybe &= _has_bit(ancestors[graph.parents[late]], bucket % ANCESTRY_BITS)
        bucket = rng.permutation(graph.size)[heads]
    result[late] = ~maybe
    return result


def first_reach_levels(graph: AttackGraph, *, every_gate_or: bool = False) -> NDArray[np.int64]:
    """The pass of the least fixed point at which each node first holds if every chance succeeds.

    Entries are level 0; a node that holds in no world gets ``NEVER``. Own probabilities are
    ignored (a chance of 0 counts as success too), so the levels depend on the structure only.
    With ``every_gate_or`` every gate counts as an OR (how soon a node could be reached at all).
    """
    required = _required_parents(graph, every_gate_or=every_gate_or)
    child = edge_children(graph)
    out_ptr, out_edges = outgoing(graph, np.ones(graph.edges, dtype=bool))
    level = np.full(graph.size, NEVER, dtype=np.int64)
    holding = np.zeros(graph.size, dtype=np.int64)  # parents of each node that hold so far
    frontier = np.flatnonzero(required == 0)
    step = 0
    while frontier.size:
        level[frontier] = step
        step += 1
        kids, counts = children_of(frontier, out_ptr, out_edges, child)
        holding[kids] += counts
        frontier = kids[(holding[kids] >= required[kids]) & (level[kids] == NEVER)]
    return level


def strong_components(graph: AttackGraph) -> NDArray[np.int64]:
    """The strongly connected component of every node (nodes on a common cycle share one)."""
    n = graph.size
    adjacency = coo_matrix(
        (np.ones(graph.edges, dtype=np.int8), (graph.parents, edge_children(graph))),
        shape=(n, n),
    ).tocsr()
    _, labels = connected_components(adjacency, directed=True, connection="strong")
    return np.asarray(labels, dtype=np.int64)


def edge_children(graph: AttackGraph) -> NDArray[np.int64]:
    """The child of every edge, in ``graph.parents`` order."""
    return np.repeat(np.arange(graph.size, dtype=np.int64), np.diff(graph.indptr))


def outgoing(
    graph: AttackGraph, live: NDArray[np.bool_]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Children lists in CSR form over the ``live`` edges: (pointers by parent, edge ids)."""
    edges = np.flatnonzero(live)
    by_parent = edges[np.argsort(graph.parents[edges], kind="stable")]
    pointers = np.zeros(graph.size + 1, dtype=np.int64)
    np.cumsum(np.bincount(graph.parents[edges], minlength=graph.size), out=pointers[1:])
    return pointers, by_parent


def children_of(
    nodes: NDArray[np.int64],
    out_ptr: NDArray[np.int64],
    out_edges: NDArray[np.int64],
    child: NDArray[np.int64],
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The distinct children of ``nodes`` and over how many edges each is reached."""
    edges = out_edges[ranges(out_ptr[nodes], out_ptr[nodes + 1] - out_ptr[nodes])]
    kids, counts = np.unique(child[edges], return_counts=True)
    return kids, counts


def _required_parents(graph: AttackGraph, *, every_gate_or: bool) -> NDArray[np.int64]:
    """How many parents must hold for each node (a parentless non-entry needs an impossible 1)."""
    degree = np.diff(graph.indptr)
    need = np.where(
        graph.gate == Gate.AND,
        degree,
        np.where(graph.gate == Gate.THRESHOLD, graph.need, 1),
    )
    if every_gate_or:
        need = np.minimum(need, 1)
    required: NDArray[np.int64] = np.where(degree == 0, np.where(graph.need == 0, 0, 1), need)
    return required.astype(np.int64)


_Steps = list[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]]


def _topological_steps(graph: AttackGraph, live: NDArray[np.bool_]) -> _Steps:
    """The acyclic ``live`` edges in topological waves: (nodes, their live edges, segment starts).

    Every node of a wave has all its live parents in earlier waves; nodes without live parents
    are left out.
    """
    child = edge_children(graph)
    waiting = np.bincount(child[live], minlength=graph.size)
    out_ptr, out_edges = outgoing(graph, live)
    in_edges = np.flatnonzero(live)  # already grouped by child: parents are stored per child
    in_ptr = np.zeros(graph.size + 1, dtype=np.int64)
    np.cumsum(waiting, out=in_ptr[1:])
    steps: _Steps = []
    frontier = np.flatnonzero(waiting == 0)
    while frontier.size:
        kids, counts = children_of(frontier, out_ptr, out_edges, child)
        waiting[kids] -= counts
        frontier = kids[waiting[kids] == 0]
        if frontier.size:
            lengths = in_ptr[frontier + 1] - in_ptr[frontier]
            edges = in_edges[ranges(in_ptr[frontier], lengths)]
            steps.append((frontier, edges, np.cumsum(lengths) - lengths))
    return steps


def _slots_in_component(
    heads: NDArray[np.int64], component: NDArray[np.int64]
) -> NDArray[np.int64]:
    """For every head, its index among the distinct heads of its component."""
    distinct = np.unique(heads)
    ordered = distinct[np.argsort(component[distinct], kind="stable")]
    first = np.searchsorted(component[ordered], component[ordered])
    slot = np.zeros(int(heads.max()) + 1, dtype=np.int64)
    slot[ordered] = np.arange(ordered.size) - first
    return slot[heads]


def _ancestor_bits(
    graph: AttackGraph, steps: _Steps, heads: NDArray[np.int64], bits: NDArray[np.int64]
) -> NDArray[np.uint64]:
    """Per node, the bits (``bits[i]`` for ``heads[i]``) of the heads among its ancestors.

    Bits travel only over the edges of ``steps``; a head counts among its own ancestors.
    """
    ancestors = np.zeros((graph.size, ANCESTRY_BITS // 64), dtype=np.uint64)
    np.bitwise_or.at(ancestors, (heads, bits // 64), _bit(bits))
    for nodes, edges, segments in steps:
        ancestors[nodes] |= np.bitwise_or.reduceat(ancestors[graph.parents[edges]], segments)
    return ancestors


def _bit(bits: NDArray[np.int64]) -> NDArray[np.uint64]:
    return np.left_shift(np.uint64(1), (bits % 64).astype(np.uint64))


def _has_bit(rows: NDArray[np.uint64], bits: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Whether row i of the bit sets ``rows`` has bit ``bits[i]``."""
    words = rows[np.arange(bits.size), bits // 64]
    held: NDArray[np.bool_] = (words & _bit(bits)) != 0
    return held
