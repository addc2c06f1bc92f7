"""The scenario search's costs: one more ban, recomputed incrementally, equals from scratch."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panacea.risk import paths
from panacea.risk.attack_graph import Gate
from panacea.risk.fixpoint import structure
from panacea.risk.paths import ScenarioSearch, _costs, _log_cost
from tests.risk.graph_strategies import GraphSpec, graph_specs


@pytest.mark.parametrize(
    "share", [0, 10**9], ids=["affected nodes alone", "whole graph"]
)  # _SMALL_SHARE 0: every recomputation evaluates the affected nodes alone; 10**9: never
@settings(max_examples=300, deadline=None)
@given(
    spec=graph_specs(cyclic=True, max_nodes=12),
    bans=st.lists(st.integers(min_value=0, max_value=11), min_size=1, max_size=4),
)
def test_costs_after_one_more_ban_equal_costs_from_scratch(
    share: int, spec: GraphSpec, bans: list[int]
) -> None:
    graph = spec.build()
    search = ScenarioSearch(graph)
    own = _log_cost(graph)
    entries = structure(graph).entries
    banned: frozenset[int] = frozenset()
    with mock.patch.object(paths, "_SMALL_SHARE", share):
        before = search.costs(banned)
        for ban in bans:
            banned |= {ban % graph.size}
            incremental = search.costs(banned)
            reference = _costs(graph, banned)
            np.testing.assert_allclose(incremental.cost, reference.cost, rtol=0, atol=1e-9)
            # every node recomputed reached its cost through parents settled in earlier rounds
            # (so reading a derivation back cannot go round a loop); sweeping the whole graph,
            # a parent may have settled earlier in the same round
            for node in np.flatnonzero(incremental.settled > before.settled.max()).tolist():
                if entries[node] or not np.isfinite(incremental.cost[node]):
                    continue
                chosen = graph.parents[graph.indptr[node] : graph.indptr[node + 1]]
                earlier = (
                    incremental.settled[chosen] < incremental.settled[node]
                    if share == 0
                    else incremental.settled[chosen] <= incremental.settled[node]
                )
                if graph.gate[node] == Gate.OR:
                    through = incremental.cost[chosen] + own[node] <= (
                        incremental.cost[node] + 1e-9
                    )
                    assert (through & earlier).any()
                elif graph.gate[node] == Gate.AND:
                    assert earlier.all()
            before = incremental
