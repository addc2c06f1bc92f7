"""Coupled Monte Carlo worlds shared by many versions of one model (the planners' workhorse).

``simulate`` draws each node's chances from its label (common random numbers). The planners
evaluate hundreds of edited graphs that share most labels, so they keep those draws, keyed by
(label, own probability), instead of drawing them again: a graph's coins are exactly the ones
``simulate`` would draw with the same trials and seed, hence the same figures.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from panacea.risk.attack_graph import AttackGraph
from panacea.risk.construction import BuiltGraph
from panacea.risk.draws import bernoulli_words, label_keys
from panacea.risk.fixpoint import fixed_point, popcount


class Worlds:
    """The coupled draws of ``trials`` worlds (rounded up to 64) for one seed, cached."""

    def __init__(self, trials: int, seed: int) -> None:
        self.words = -(-trials // 64)
        self.trials = self.words * 64
        self.seed = seed
        self._cache: dict[tuple[str, float], NDArray[np.uint64]] = {}

    def coins(
        self, graph: AttackGraph, nodes: Sequence[int], probability: Sequence[float]
    ) -> NDArray[np.uint64]:
        """Coins of ``nodes`` with own chances ``probability`` (what ``simulate`` would draw)."""
        keys = [(graph.labels[n], float(p)) for n, p in zip(nodes, probability, strict=True)]
        missing = [i for i, k in enumerate(keys) if k not in self._cache]
        if missing:
            drawn = bernoulli_words(
                label_keys([keys[i][0] for i in missing], self.seed),
                np.asarray([keys[i][1] for i in missing], dtype=np.float64),
                self.words,
            )
            for row, i in enumerate(missing):
                self._cache[keys[i]] = drawn[row]
        return np.stack([self._cache[k] for k in keys])

    def all_coins(self, graph: AttackGraph) -> NDArray[np.uint64]:
        return self.coins(graph, range(graph.size), graph.probability.tolist())


def service_probabilities(built: BuiltGraph, worlds: Worlds) -> dict[int, float]:
    """Service id -> probability of disruption, as ``simulate`` gives it on these worlds."""
    state, _ = fixed_point(built.graph, worlds.all_coins(built.graph))
    counts = popcount(state)
    return {
        service: float(counts[node]) / worlds.trials
        for service, node in built.service_nodes.items()
    }
