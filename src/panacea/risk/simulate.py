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
from hashlib import blake2b

import numpy as np
from numpy.typing import NDArray

from panacea.risk.attack_graph import AttackGraph, Gate
from panacea.risk.errors import RiskModelError
from panacea.risk.evidence import pin
from panacea.risk.layout import gate_layout

MAX_PASSES = 10_000
MAX_EXACT_ACTIONS = 22


@dataclass(frozen=True)
class SimulationResult:
    """Estimated probability of every node, with a 95% Wilson interval."""

    probability: NDArray[np.float64]
    low: NDArray[np.float64]
    high: NDArray[np.float64]
    trials: int
    passes: int


def _update(
    state: NDArray[np.uint64],
    own: NDArray[np.uint64],
    nodes: NDArray[np.int64],
    new: NDArray[np.uint64],
) -> bool:
    new &= own[:, nodes]
    if np.array_equal(new, state[:, nodes]):
        return False
    state[:, nodes] = new
    return True


def fixed_point(graph: AttackGraph, coins: NDArray[np.uint64]) -> tuple[NDArray[np.uint64], int]:
    """Least fixed point of the graph in each packed world; ``coins[i]`` are node i's own draws.

    Returns the packed states (nodes x words) and the number of passes it took. Internally the
    state is laid out words x nodes, so each reduction runs along contiguous memory.
    """
    own = np.ascontiguousarray(coins.T)
    state = np.zeros_like(own)
    entries = graph.need == 0
    state[:, entries] = own[:, entries]
    layouts = [
        (gate_layout(graph, Gate.OR), np.bitwise_or),
        (gate_layout(graph, Gate.AND), np.bitwise_and),
    ]
    thresholds = np.flatnonzero((graph.gate == Gate.THRESHOLD) & (graph.need > 0))
    for passes in range(1, MAX_PASSES + 1):
        changed = False
        for (buckets, wide), reduce in layouts:
            for bucket in buckets:
                new = reduce.reduce(state[:, bucket.parents], axis=2)
                changed |= _update(state, own, bucket.nodes, new)
            if wide.nodes.size:
                new = reduce.reduceat(state[:, wide.parents], wide.offsets, axis=1)
                changed |= _update(state, own, wide.nodes, new)
        if thresholds.size:
            new_t = np.ascontiguousarray(_threshold(graph, state.T, thresholds).T)
            changed |= _update(state, own, thresholds, new_t)
        if not changed:
            return np.ascontiguousarray(state.T), passes
    raise RiskModelError(f"no fixed point after {MAX_PASSES} passes")


def _threshold(
    graph: AttackGraph, state: NDArray[np.uint64], nodes: NDArray[np.int64]
) -> NDArray[np.uint64]:
    out = np.empty((nodes.size, state.shape[1]), dtype=np.uint64)
    for row, node in enumerate(nodes):  # few: one per redundancy group
        members = graph.parents[graph.indptr[node] : graph.indptr[node + 1]]
        bits = np.unpackbits(state[members].view(np.uint8), axis=1, bitorder="little")
        held = bits.sum(axis=0) >= graph.need[node]
        out[row] = np.packbits(held, bitorder="little").view(np.uint64)
    return out


def _draw(graph: AttackGraph, words: int, seed: int, *, coupled: bool) -> NDArray[np.uint64]:
    """Each node's own draws, packed. ``coupled``: a node's uniforms depend only on its label.

    Coupled draws are common random numbers: two runs on graphs that differ by a mitigation or
    an event use the same world for every node they share, so their difference is the effect
    of the change, not sampling noise, and removing an action can never raise an estimate.
    """
    probability = graph.probability
    coins = np.full((probability.size, words), np.uint64(0xFFFFFFFFFFFFFFFF), dtype=np.uint64)
    random = np.flatnonzero(probability < 1.0)
    if random.size == 0:
        return coins
    if coupled:
        # one small generator per random node; 16-bit uniforms keep memory at one row at a time
        thresholds = np.round(probability[random] * 65536.0)
        for row, node in enumerate(random):
            key = int.from_bytes(blake2b(graph.labels[node].encode(), digest_size=8).digest())
            draws16 = np.random.default_rng([seed, key]).integers(
                0, 65536, words * 64, dtype=np.uint32
            )
            coins[node] = np.packbits(draws16 < thresholds[row], bitorder="little").view(np.uint64)
        return coins
    uniforms = np.random.default_rng(seed).random((random.size, words * 64))
    draws = uniforms < probability[random, None]
    coins[random] = np.packbits(draws, axis=1, bitorder="little").view(np.uint64)
    return coins


def _popcount(packed: NDArray[np.uint64]) -> NDArray[np.int64]:
    counts: NDArray[np.int64] = np.unpackbits(packed.view(np.uint8), axis=1).sum(axis=1)
    return counts.astype(np.int64)


def simulate(
    graph: AttackGraph,
    *,
    trials: int = 4096,
    seed: int = 0,
    pinned: Mapping[int, float] | None = None,
    coupled: bool = True,
) -> SimulationResult:
    """Monte Carlo estimate of every node's probability over ``trials`` worlds (x64).

    ``pinned`` is evidence (see ``evidence.pin``): node -> probability that it holds.
    ``coupled`` draws each node's chances from its label (common random numbers, see _draw).
    Raises RiskModelError for a non-positive ``trials`` or invalid evidence.
    """
    if trials <= 0:
        raise RiskModelError("trials must be positive")
    if pinned:
        graph = pin(graph, pinned)
    words = -(-trials // 64)
    state, passes = fixed_point(graph, _draw(graph, words, seed, coupled=coupled))
    n = words * 64
    p = _popcount(state) / n
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
