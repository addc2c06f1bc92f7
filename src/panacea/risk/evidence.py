"""Evidence: an observed compromise or an alert pins a node of the attack graph.

A node pinned to ``q`` holds in a world with probability ``q``, independently of its parents:
its gate is replaced by an entry whose own chance is ``q`` (1 for an observed compromise, an
alert's confidence otherwise, 0 for a node known to be clean). Monte Carlo, exact enumeration
and analytic propagation all read evidence through this one definition.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from panacea.risk.attack_graph import AttackGraph, Gate
from panacea.risk.errors import RiskModelError
from panacea.risk.fixpoint import structure


def evidence_arrays(
    graph: AttackGraph, pinned: Mapping[int, float] | None
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """The pinned nodes and their probabilities as arrays, in node order.

    Raises RiskModelError for a node outside the graph or a probability outside [0, 1].
    """
    items = sorted((pinned or {}).items())
    nodes = np.fromiter((int(i) for i, _ in items), dtype=np.int64, count=len(items))
    values = np.fromiter((float(q) for _, q in items), dtype=np.float64, count=len(items))
    outside = (nodes < 0) | (nodes >= graph.size)
    if outside.any():
        raise RiskModelError(
            f"evidence pins node {int(nodes[outside][0])}, not in a graph of {graph.size} nodes"
        )
    invalid = ~((values >= 0.0) & (values <= 1.0))  # also catches NaN
    if invalid.any():
        where = int(np.flatnonzero(invalid)[0])
        raise RiskModelError(
            f"evidence pins node {int(nodes[where])} to {values[where]}, not a probability"
        )
    return nodes, values


def pin(graph: AttackGraph, pinned: Mapping[int, float]) -> AttackGraph:
    """The graph in which every node ``i`` of ``pinned`` is an entry with own chance ``pinned[i]``.

    The node keeps its kind and label (explanations still name it); its parents are dropped.
    Raises RiskModelError as ``evidence_arrays`` does.
    """
    nodes, values = evidence_arrays(graph, pinned)
    if nodes.size == 0:
        return graph
    is_pinned = np.zeros(graph.size, dtype=bool)
    is_pinned[nodes] = True
    counts = np.diff(graph.indptr)
    child = np.repeat(np.arange(graph.size), counts)
    keep = ~is_pinned[child]
    indptr = np.zeros(graph.size + 1, dtype=np.int64)
    np.cumsum(np.where(is_pinned, 0, counts), out=indptr[1:])
    gate = graph.gate.copy()
    gate[nodes] = Gate.OR
    need = graph.need.copy()
    need[nodes] = 0
    probability = graph.probability.copy()
    probability[nodes] = values
    pinned_graph = dataclasses.replace(
        graph,
        gate=gate,
        need=need,
        probability=probability,
        indptr=indptr,
        parents=graph.parents[keep],
    )
    # the solvers' view of the new shape, derived from the old one's (cheaper than anew when
    # the old one is known, as in the engine, which pins the same graph again and again)
    derived = structure(graph).without(nodes)
    if derived is not None:
        pinned_graph.cache["structure"] = derived
    return pinned_graph
