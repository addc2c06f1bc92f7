"""Each node's own chances in the Monte Carlo worlds, packed 64 worlds to a word.

Draws are coupled (common random numbers): a node's bits depend only on the seed, its label
and its own probability, never on which other nodes the graph has. Two graphs that differ by a
mitigation or an event therefore share every world for the nodes they share, so comparing them
shows the effect of the change and not sampling noise, and the dynamic engine can redraw one
node and get exactly what a full recomputation would draw.

How a node with own probability p gets its bits: p is rounded to q/65536 (16 bits); the
node's random stream is SplitMix64 started from a 64-bit hash of (seed, label); 16 words of
the stream per output word are combined from the least significant digit of q up (a set digit
ORs the next random word in, a clear digit ANDs it), which makes each bit 1 with probability
exactly q/65536, independently across bits. Everything is vectorised across nodes and words.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np
from numpy.typing import NDArray

from panacea.risk.attack_graph import AttackGraph

ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
DIGITS = 16
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_PRIME = np.uint64(0x100000001B3)  # FNV-1a's 64-bit prime
_CHUNK = 1024  # nodes drawn together: the temporaries stay in the processor's cache


def label_keys(labels: list[str], seed: int) -> NDArray[np.uint64]:
    """The 64-bit stream key of each label under ``seed``.

    A polynomial hash of the label's UTF-8 bytes computed for all labels at once (rows of a
    fixed-width byte matrix, each row read up to its own length, so a key never depends on the
    other labels of the call), mixed by SplitMix64 so that similar labels get unrelated keys.
    """
    if not labels:
        return np.empty(0, dtype=np.uint64)
    encoded = [label.encode() for label in labels]
    width = max(len(e) for e in encoded)
    matrix = np.array(encoded, dtype=f"S{width}").view(np.uint8).reshape(len(labels), width)
    lengths = np.fromiter((len(e) for e in encoded), dtype=np.uint64, count=len(encoded))
    seeded = np.uint64((seed * int(_GOLDEN)) % 2**64)
    key = lengths + seeded
    with np.errstate(over="ignore"):
        for column in range(width):
            inside = lengths > column  # the padding of shorter labels must not count
            step = key * _PRIME + matrix[:, column]
            if column % 8 == 7:
                step = _splitmix(step)
            key = np.where(inside, step, key)
        return _splitmix(key + _GOLDEN)


def _splitmix(state: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """The SplitMix64 output function, in place on ``state``."""
    state ^= state >> np.uint64(30)
    state *= _MIX1
    state ^= state >> np.uint64(27)
    state *= _MIX2
    state ^= state >> np.uint64(31)
    return state


def bernoulli_words(
    keys: NDArray[np.uint64],
    probability: NDArray[np.float64],
    words: int,
    *,
    out: NDArray[np.uint64] | None = None,
    rows: NDArray[np.int64] | None = None,
    columns: slice | None = None,
) -> NDArray[np.uint64]:
    """Packed draws (len(keys) x words): each bit is 1 with the row's probability.

    With ``columns``, only those words of each row (the same values as in the full draw).
    With ``out`` and ``rows``, draw i goes to ``out[rows[i]]`` (no intermediate copy) and
    ``out`` is returned. Chunks of rows are drawn on a few threads (numpy releases the GIL).
    """
    counter = np.arange(1, DIGITS * words + 1, dtype=np.uint64).reshape(DIGITS, 1, words)
    steps = (counter * _GOLDEN)[:, :, columns or slice(None)]
    width = steps.shape[2]
    if out is None or rows is None:
        out = np.empty((keys.size, width), dtype=np.uint64)
        rows = np.arange(keys.size)
    q = np.clip(np.round(probability * 65536.0), 0, 65536).astype(np.int64)
    target = out

    def chunk(lo: int) -> None:
        part = slice(lo, lo + _CHUNK)
        with np.errstate(over="ignore"):
            stream = _splitmix(keys[part][None, :, None] + steps)  # digit x node x word
        bits = q[part]
        result = np.zeros((bits.size, width), dtype=np.uint64)
        for digit in range(DIGITS):
            # majority(result, word, digit): OR the word in where the digit is set, else AND
            digit_mask = np.where((bits >> digit) & 1 == 1, ALL, np.uint64(0))[:, None]
            word = stream[digit]
            carry = word & digit_mask
            word |= digit_mask
            result &= word
            result |= carry
        result[bits >= 65536] = ALL
        target[rows[part]] = result

    starts = range(0, keys.size, _CHUNK)
    if len(starts) < 4:
        for lo in starts:
            chunk(lo)
    else:
        list(_pool().map(chunk, starts))
    return out


@cache
def _pool() -> ThreadPoolExecutor:
    """Threads for drawing: numpy's ufuncs release the GIL, so chunks draw in parallel."""
    return ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="draws")


def draw(
    graph: AttackGraph,
    words: int,
    seed: int,
    *,
    columns: slice | None = None,
    keys: NDArray[np.uint64] | None = None,
) -> NDArray[np.uint64]:
    """Every node's packed draws (nodes x words); nodes with probability 1 always succeed.

    ``columns``: only those words. ``keys``: ``random_keys(graph, seed)``, if already known.
    """
    return draw_rows(graph, np.arange(graph.size), words, seed, columns=columns, keys=keys)


def random_keys(graph: AttackGraph, seed: int) -> NDArray[np.uint64]:
    """The stream keys of the graph's nodes with a chance below 1, in node order."""
    return label_keys([graph.labels[int(n)] for n in graph.actions()], seed)


def draw_rows(
    graph: AttackGraph,
    nodes: NDArray[np.int64],
    words: int,
    seed: int,
    *,
    columns: slice | None = None,
    keys: NDArray[np.uint64] | None = None,
) -> NDArray[np.uint64]:
    """The packed draws of ``nodes`` only, exactly as ``draw`` gives them.

    ``keys``: the stream keys of the nodes among ``nodes`` with a chance below 1, in order.
    """
    width = len(range(words)[columns or slice(None)])
    coins = np.empty((nodes.size, width), dtype=np.uint64)
    probability = graph.probability[nodes]
    random = probability < 1.0
    coins[~random] = ALL
    chosen = np.flatnonzero(random)
    if chosen.size:
        if keys is None:
            keys = label_keys([graph.labels[int(n)] for n in nodes[chosen]], seed)
        p = probability[chosen]
        bernoulli_words(keys, p, words, out=coins, rows=chosen, columns=columns)
    return coins
