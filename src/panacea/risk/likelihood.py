"""Fast analytic propagation of likelihood: an approximation of ``simulate`` for large graphs.

Every node's probability is computed from its parents' as if they held independently:
AND = product, OR = noisy-OR ``1 - prod(1 - p)``, THRESHOLD = the Poisson-binomial tail of its
parents, each times the node's own chance. That is exact when no two parents of a node share an
ancestor (trees) and errs when they do (noisy-OR over-counts a shared cause, a product
under-counts it). The commonest shared causes are the entries, so ``propagate`` conditions on
the states of a few of them (exact: the law of total probability over independent chances).
docs/risk-likelihood-error.md gives the error measured against exact enumeration and Monte
Carlo, and says where to trust which treatment of cycles.

Cycles, two treatments:

- ``Cycles.CUT`` (support.py): a first pass over an acyclic support (first-reach order
  inside each strongly connected component), then a second pass that adds, for every
  readmissible late edge u -> w, u's first-pass value. No node's value depends on itself: in
  the second pass y_v depends on y over support paths and on first-pass values x_u over one late
  edge u -> w with a support path w ~> v; x_u depends on x over support paths into u; if v were
  among those, w ~> v ~> u would make w an ancestor of u and the edge would not be readmissible.
  Cycles are under-counted (routes longer than a node's first reach are lost or counted once),
  never inflated by self-support.
- ``Cycles.LOOPY`` (default): the noisy gates iterated over every edge from 0 to their least
  fixed point. Every route counts, and so does, in part, a node's own probability coming back
  around a cycle: tight cycles are over-counted. On attack graphs of hospitals (large, densely
  connected strongly connected components, many routes to each node) it is far closer to the
  reference than ``CUT``, which loses every route that is not first-reach-consistent, and its
  error leans to over-estimating risk rather than hiding it.

Evidence (``pinned``) overrides a node's value. With ``CUT`` the support is that of the graph
without evidence, except among nodes that hold in no world without it, plus every edge out of a
pinned node (a pinned node takes no input, so no dependency runs through it). Under both
treatments pinning a node to 1 never lowers any node and raising an own chance never lowers any
node; which nodes get a non-zero probability is exact whenever no own chance is 0.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from panacea.risk.attack_graph import AttackGraph, Gate
from panacea.risk.errors import RiskModelError
from panacea.risk.evidence import evidence_arrays
from panacea.risk.layout import ranges
from panacea.risk.support import (
    children_of,
    cycle_free_support,
    edge_children,
    outgoing,
    readmissible,
)

CONDITIONED_ENTRIES = 4  # by default propagate() evaluates the graph up to 2^4 = 16 times
LOOPY_TOLERANCE = 1e-12  # a change below this no longer wakes a node's children
LOOPY_MAX_SWEEPS = 100_000

Evaluation = Callable[[Mapping[int, float]], NDArray[np.float64]]


class Cycles(StrEnum):
    """How ``propagate`` treats cycles (module docstring; measured in the error document)."""

    CUT = "cut"
    LOOPY = "loopy"


def propagate(
    graph: AttackGraph,
    *,
    pinned: Mapping[int, float] | None = None,
    cycles: Cycles = Cycles.LOOPY,
    conditioning: int = CONDITIONED_ENTRIES,
) -> NDArray[np.float64]:
    """The approximate probability of every node.

    Conditions on up to ``conditioning`` entries (``conditioned_entries``; 2^k evaluations, 0
    for one) and evaluates the graph for each of their states with the ``cycles`` treatment.
    ``pinned`` is evidence: node -> the probability that it holds (1 for an observed
    compromise, an alert's confidence). Raises RiskModelError for invalid evidence.
    """
    nodes, values = evidence_arrays(graph, pinned)
    evidence = dict(zip(nodes.tolist(), values.tolist(), strict=True))
    evaluate = _cut(graph, nodes) if cycles is Cycles.CUT else _loopy(graph)
    chance = graph.probability.copy()
    chance[nodes] = values
    roots = conditioned_entries(graph, nodes, limit=conditioning)
    total = np.zeros(graph.size)
    for states in itertools.product((0.0, 1.0), repeat=roots.size):  # 2^k terms, k small
        weight = float(np.prod(np.where(states, chance[roots], 1.0 - chance[roots])))
        if weight > 0.0:
            total += weight * evaluate(evidence | dict(zip(roots.tolist(), states, strict=True)))
    total[nodes] = values  # what the weighted sum gives, without its rounding
    result: NDArray[np.float64] = np.clip(total, 0.0, 1.0)
    return result


def conditioned_entries(
    graph: AttackGraph, pinned: NDArray[np.int64], *, limit: int = CONDITIONED_ENTRIES
) -> NDArray[np.int64]:
    """The (at most ``limit``) entries whose states ``propagate`` enumerates.

    Entries are the common causes of everything below them, which independence-based gates
    miscount most (an AND of two steps behind the same insider entry of chance 0.05 would get
    0.05² instead of 0.05); conditioning on an entry's state is exact (law of total
    probability). Chosen by structure only (most children first, then pinned nodes), so that
    raising a chance never changes the choice, and pinning a node to 0 or 1 at most adds a
    term of weight 1.
    """
    parentless = np.diff(graph.indptr) == 0
    entries = np.flatnonzero(parentless & (graph.need == 0))
    children = np.bincount(graph.parents, minlength=graph.size)[entries]
    order = entries[np.lexsort((entries, -children))]
    others = pinned[~np.isin(pinned, order)]
    return np.concatenate([order, others])[: max(limit, 0)].astype(np.int64)


def _cut(graph: AttackGraph, pinned: NDArray[np.int64]) -> Evaluation:
    """Two passes over the cycle-free support (built once for every evaluation)."""
    support = cycle_free_support(graph, evidence=pinned)
    late = readmissible(graph, support)
    is_pinned = np.zeros(graph.size, dtype=bool)
    is_pinned[pinned] = True
    support |= is_pinned[graph.parents]

    def evaluate(evidence: Mapping[int, float]) -> NDArray[np.float64]:
        first = propagate_along(graph, support, pinned=evidence)
        if not late.any():
            return first
        outside = np.where(late & ~support, first[graph.parents], 0.0)
        return propagate_along(graph, support, pinned=evidence, outside=outside)

    return evaluate


def _loopy(graph: AttackGraph) -> Evaluation:
    return lambda evidence: propagate_loopy(graph, pinned=evidence)


def propagate_loopy(
    graph: AttackGraph, *, pinned: Mapping[int, float] | None = None
) -> NDArray[np.float64]:
    """The noisy gates over every edge, iterated from 0 up to their least fixed point.

    Only nodes with a parent that changed are recomputed. Stops when no node moves by more
    than ``LOOPY_TOLERANCE`` or after ``LOOPY_MAX_SWEEPS`` sweeps (the values only rise, so
    they are then a lower estimate of the fixed point). Raises RiskModelError for invalid
    evidence.
    """
    is_pinned, evidence = _evidence_vectors(graph, pinned)
    every_edge = np.ones(graph.edges, dtype=bool)
    no_chance = np.zeros(graph.edges)
    child = edge_children(graph)
    out_ptr, out_edges = outgoing(graph, every_edge)
    probability = np.zeros(graph.size)
    active = np.arange(graph.size, dtype=np.int64)
    for _ in range(LOOPY_MAX_SWEEPS):
        value = gate_probabilities(graph, active, probability, every_edge, no_chance)
        value = np.where(is_pinned[active], evidence[active], value)
        moved = active[np.abs(value - probability[active]) > LOOPY_TOLERANCE]
        probability[active] = value
        if moved.size == 0:
            break
        active, _ = children_of(moved, out_ptr, out_edges, child)
    return probability


def propagate_along(
    graph: AttackGraph,
    support: NDArray[np.bool_],
    *,
    pinned: Mapping[int, float] | None = None,
    outside: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Every node's probability, computed once its supporting parents are done.

    ``support`` says which edges carry their parent's value; an edge outside it carries the
    fixed chance ``outside[e]`` (0 by default: the parent counts as not holding).
    Raises RiskModelError if the support has a cycle or the evidence is invalid.
    """
    is_pinned, evidence = _evidence_vectors(graph, pinned)
    child = edge_children(graph)
    live = support & ~is_pinned[child]  # evidence overrides whatever the parents say
    waiting = np.bincount(child[live], minlength=graph.size)
    out_ptr, out_edges = outgoing(graph, live)
    fixed = np.zeros(graph.edges) if outside is None else outside
    probability = np.zeros(graph.size)
    frontier = np.flatnonzero(waiting == 0)
    done = 0
    while frontier.size:
        value = gate_probabilities(graph, frontier, probability, live, fixed)
        probability[frontier] = np.where(is_pinned[frontier], evidence[frontier], value)
        done += frontier.size
        kids, counts = children_of(frontier, out_ptr, out_edges, child)
        waiting[kids] -= counts
        frontier = kids[waiting[kids] == 0]
    if done < graph.size:
        stuck = int(np.flatnonzero(waiting > 0)[0])
        raise RiskModelError(f"the support has a cycle through node {graph.labels[stuck]!r}")
    return probability


def _evidence_vectors(
    graph: AttackGraph, pinned: Mapping[int, float] | None
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Which nodes are pinned, and to what (0 where not); raises as ``evidence_arrays``."""
    nodes, values = evidence_arrays(graph, pinned)
    is_pinned = np.zeros(graph.size, dtype=bool)
    is_pinned[nodes] = True
    evidence = np.zeros(graph.size)
    evidence[nodes] = values
    return is_pinned, evidence


def gate_probabilities(
    graph: AttackGraph,
    nodes: NDArray[np.int64],
    probability: NDArray[np.float64],
    support: NDArray[np.bool_],
    outside: NDArray[np.float64],
) -> NDArray[np.float64]:
    """The probability of ``nodes`` given every node's ``probability``, parents independent.

    An edge outside ``support`` carries the chance ``outside[e]`` instead of its parent's
    value. A node without parents holds with its own chance if it is an entry (``need`` 0),
    never otherwise.
    """
    starts = graph.indptr[nodes]
    degree = graph.indptr[nodes + 1] - starts
    edges = ranges(starts, degree)
    chances = np.where(support[edges], probability[graph.parents[edges]], outside[edges])
    held = np.where(graph.need[nodes] == 0, 1.0, 0.0)
    with_parents = degree > 0
    if with_parents.any():
        segments = (np.cumsum(degree) - degree)[with_parents]
        gate = graph.gate[nodes][with_parents]
        all_hold = np.multiply.reduceat(chances, segments)
        none_holds = np.multiply.reduceat(1.0 - chances, segments)
        value = np.where(gate == Gate.AND, all_hold, 1.0 - none_holds)
        threshold = gate == Gate.THRESHOLD
        if threshold.any():
            need = graph.need[nodes][with_parents][threshold]
            padded = _pad(chances, segments[threshold], degree[with_parents][threshold])
            value[threshold] = at_least(padded, need)
        held[with_parents] = value
    result: NDArray[np.float64] = held * graph.probability[nodes]
    return result


def _pad(
    values: NDArray[np.float64], starts: NDArray[np.int64], lengths: NDArray[np.int64]
) -> NDArray[np.float64]:
    """Segments of ``values`` as the rows of a matrix, padded with zeros on the right."""
    padded = np.zeros((starts.size, int(lengths.max())))
    rows = np.repeat(np.arange(starts.size), lengths)
    columns = ranges(np.zeros_like(lengths), lengths)
    padded[rows, columns] = values[ranges(starts, lengths)]
    return padded


def at_least(chances: NDArray[np.float64], need: NDArray[np.int32]) -> NDArray[np.float64]:
    """P(at least ``need[r]`` of row r's independent events happen): the Poisson-binomial tail.

    ``chances`` is rows x events (pad with 0); one pass per column, all rows at once.
    """
    rows, columns = chances.shape
    count = np.zeros((rows, columns + 1))
    count[:, 0] = 1.0
    for j in range(columns):
        chance = chances[:, j : j + 1]
        moved = count[:, :-1] * chance
        count *= 1.0 - chance
        count[:, 1:] += moved
    enough = np.arange(columns + 1)[None, :] >= need[:, None]
    tail: NDArray[np.float64] = np.where(enough, count, 0.0).sum(axis=1)
    return np.minimum(tail, 1.0)
