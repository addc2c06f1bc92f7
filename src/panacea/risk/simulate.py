"""Monte Carlo over the model's definition: the reference for every other figure.

Each trial draws every node's own chance once; a node holds when ``need`` of its parents hold
and its chance succeeded, at the least fixed point. Trials are packed 64 to a machine word, so
one pass over the edges advances 64 worlds at once; passes repeat until nothing changes.
Exact enumeration (``exact_probabilities``) is the same computation over all 2^n worlds of the
n random actions, each weighted by its probability.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from panacea.risk.attack_graph import AttackGraph
from panacea.risk.draws import draw, random_keys
from panacea.risk.errors import RiskModelError
from panacea.risk.evidence import pin
from panacea.risk.fixpoint import fixed_point, over_shares, popcount, structure, sweep_of

MAX_EXACT_ACTIONS = 22


@dataclass(frozen=True)
class SimulationResult:
    """Estimated probability of every node, with a 95% Wilson interval."""

    probability: NDArray[np.float64]
    low: NDArray[np.float64]
    high: NDArray[np.float64]
    trials: int
    passes: int


def simulate(
    graph: AttackGraph,
    *,
    trials: int = 4096,
    seed: int = 0,
    pinned: Mapping[int, float] | None = None,
) -> SimulationResult:
    """Monte Carlo estimate of every node's probability over ``trials`` worlds (x64).

    ``pinned`` is evidence (see ``evidence.pin``): node -> probability that it holds.
    Each node's chances are drawn from its label (common random numbers, see ``draws``).
    Raises RiskModelError for a non-positive ``trials`` or invalid evidence.
    """
    if trials <= 0:
        raise RiskModelError("trials must be positive")
    if pinned:
        graph = pin(graph, pinned)
    words = -(-trials // 64)
    sweep_of(graph, structure(graph))  # computed once, before the threads share them
    keys = random_keys(graph, seed)

    def solve(columns: slice) -> tuple[NDArray[np.int64], int]:
        coins = draw(graph, words, seed, columns=columns, keys=keys)
        state, passes = fixed_point(graph, coins)
        return popcount(state), passes

    # worlds are independent: each thread draws and solves its own share of the words
    parts = over_shares(solve, words)
    counts = np.sum([held for held, _ in parts], axis=0)
    passes = max(passes for _, passes in parts)
    n = words * 64
    p = counts / n
    low, high = wilson_interval(p, n)
    return SimulationResult(p, low, high, n, passes)


def wilson_interval(
    p: NDArray[np.float64], n: int, z: float = 1.959963984540054
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """95% Wilson score interval of proportions ``p`` over ``n`` trials."""
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def exact_probabilities(
    graph: AttackGraph, *, pinned: Mapping[int, float] | None = None
) -> NDArray[np.float64]:
    """Exact probability of every node by enumerating all worlds of the random actions.

    ``pinned`` is evidence as in ``simulate`` (a node pinned strictly between 0 and 1 is one
    more random action). Raises RiskModelError beyond MAX_EXACT_ACTIONS random actions
    (2^n worlds) or for invalid evidence.
    """
    if pinned:
        graph = pin(graph, pinned)
    actions = graph.actions()
    n = int(actions.size)
    if n > MAX_EXACT_ACTIONS:
        raise RiskModelError(f"{n} random actions: too many to enumerate (max {MAX_EXACT_ACTIONS})")
    worlds = 1 << n
    words = max(1, -(-worlds // 64))
    world_ids = np.arange(words * 64, dtype=np.int64)
    outcome = ((world_ids[None, :] >> np.arange(n)[:, None]) & 1).astype(bool)  # action x world
    outcome[:, worlds:] = False
    coins = np.full((graph.size, words), np.uint64(0xFFFFFFFFFFFFFFFF), dtype=np.uint64)
    coins[actions] = np.packbits(outcome, axis=1, bitorder="little").view(np.uint64)
    state, _ = fixed_point(graph, coins)
    p = graph.probability[actions][:, None]
    weight = np.prod(np.where(outcome[:, :worlds], p, 1 - p), axis=0) if n else np.ones(1)
    held = np.unpackbits(state.view(np.uint8), axis=1, bitorder="little")[:, :worlds]
    result: NDArray[np.float64] = (held * weight[None, :]).sum(axis=1)
    return result
