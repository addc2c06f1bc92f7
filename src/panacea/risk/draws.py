"""Each node's own chances in the Monte Carlo worlds, packed 64 worlds to a word.

Draws are coupled (common random numbers): a node's bits depend only on the seed, its label
and its own probability, never on which other nodes the graph has. Two graphs that differ by a
mitigation or an event therefore share every world for the nodes they share, so comparing them
shows the effect of the change and not sampling noise, and the dynamic engine can redraw one
node and get exactly what a full recomputation would draw.

How a node with own probability p gets its bits: p is rounded to q/65536 (16 bits); the node's
random stream is SplitMix64 started from a 64-bit hash of (seed, label), one stream word per
binary digit and output word. Each world (bit) compares a uniform 16-bit number u, read digit
by digit from the most significant one, with q: the first digit where u and q differ decides
the world (1 where u's digit is 0 and q's is 1, that is u < q); a world where all 16 agree has
u = q and gets 0. So each bit is 1 with probability exactly q/65536, independently across bits.
Half of the worlds are decided by the first digit; digits are read only until every world of
the node is decided (measured over 3,000 nodes: 12.3 of the 16 digits on average for the 2,048
worlds of a thread's share, 13.2 for 4,096 worlds). The loop over nodes, words and digits is
compiled (numba; see ``_compare``): in numpy, with a pass over memory per operation, the draws
were half of the Monte Carlo's time; compiled, the same bits take 7-8 times less CPU (187,000
nodes x 4,096 worlds: 0.09 CPU seconds instead of 0.64-0.72).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np
from numpy.typing import NDArray

from panacea.risk.attack_graph import AttackGraph
from panacea.risk.compiled import compiled

ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_ZERO = np.uint64(0)
DIGITS = 16
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_CHUNK_WORDS = 1 << 17  # words drawn together: a share of the work for one thread
_SHIFTS = (np.uint64(30), np.uint64(27), np.uint64(31))


def label_keys(labels: list[str], seed: int) -> NDArray[np.uint64]:
    """The 64-bit stream key of each label under ``seed``.

    The label's UTF-8 bytes are read eight at a time (little-endian words, the last one padded
    with zeros); starting from (seed, length), each word is XORed in and mixed by SplitMix64,
    so similar labels get unrelated keys. Computed for all labels at once, longest first: the
    rows still reading are a prefix, and a label's words beyond its own length are never read,
    so a key never depends on the other labels of the call.
    """
    if not labels:
        return np.empty(0, dtype=np.uint64)
    encoded = [label.encode() for label in labels]
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    width = max(8, -(-int(lengths.max()) // 8) * 8)
    matrix = np.array(encoded, dtype=f"S{width}").view("<u8").reshape(len(labels), width // 8)
    order = np.argsort(-lengths, kind="stable")
    matrix = matrix[order]
    words = -(-lengths[order] // 8)  # words of each label, longest first
    seeded = np.uint64((seed * int(_GOLDEN)) % 2**64)
    with np.errstate(over="ignore"):
        key = _splitmix(lengths[order].astype(np.uint64) + seeded)
        for column in range(width // 8):
            reading = int(np.searchsorted(-words, -column, side="left"))  # words > column
            part = key[:reading]
            part ^= matrix[:reading, column]
            _splitmix(part)
        keys = np.empty_like(key)
        keys[order] = _splitmix(key + _GOLDEN)
    return keys


def _splitmix(
    state: NDArray[np.uint64], spare: NDArray[np.uint64] | None = None
) -> NDArray[np.uint64]:
    """The SplitMix64 output function, in place on ``state``; ``spare`` (same shape), if
    given, holds the shifted copies instead of fresh temporaries."""
    shifted = np.empty_like(state) if spare is None else spare
    for shift, factor in zip(_SHIFTS, (_MIX1, _MIX2, None), strict=True):
        np.right_shift(state, shift, out=shifted)
        state ^= shifted
        if factor is not None:
            state *= factor
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
    ``out`` is returned. Chunks of rows are drawn on a few threads (the compiled comparison
    releases the GIL).
    """
    chosen = np.arange(words, dtype=np.uint64)[columns or slice(None)]
    width = chosen.size
    # the stream position of digit i (most significant first) of word w: i * words + w + 1
    digit = np.arange(DIGITS, dtype=np.uint64)[:, None]
    with np.errstate(over="ignore"):
        steps = (digit * np.uint64(words) + chosen[None, :] + np.uint64(1)) * _GOLDEN
    if out is None or rows is None:
        out = np.empty((keys.size, width), dtype=np.uint64)
        rows = np.arange(keys.size)
    q = np.clip(np.round(probability * 65536.0), 0, 65536).astype(np.int64)
    target = out
    chunk_rows = max(1, _CHUNK_WORDS // max(1, width))

    def chunk(lo: int) -> None:
        part = slice(lo, lo + chunk_rows)
        target[rows[part]] = _compare(keys[part], q[part], steps)

    starts = range(0, keys.size, chunk_rows)
    if len(starts) < 2:
        for lo in starts:
            chunk(lo)
    else:
        list(_pool().map(chunk, starts))
    return out


def _words(
    keys: NDArray[np.uint64], q: NDArray[np.int64], steps: NDArray[np.uint64]
) -> NDArray[np.uint64]:  # pragma: no cover  (run compiled; a test also runs it plain)
    """Bits of u < q per world (see the module's docstring), for each node (``keys``, ``q``)
    and word (a column of ``steps``, the stream positions of its 16 digits). Digit by digit,
    all the words of a node at once (an inner loop without branches, which the compiler
    vectorises: three times faster than word by word, although words decided early are
    computed on), until every world of the node is decided."""
    width = steps.shape[1]
    out = np.zeros((keys.size, width), dtype=np.uint64)
    undecided = np.empty(width, dtype=np.uint64)
    for row in range(keys.size):
        if q[row] >= 65536:
            out[row, :] = ALL
            continue
        result = out[row]
        undecided[:] = ALL
        for i in range(DIGITS):
            mask = ALL if (q[row] >> (DIGITS - 1 - i)) & 1 else _ZERO
            left = _ZERO
            for column in range(width):
                z = keys[row] + steps[i, column]
                z = (z ^ (z >> _SHIFTS[0])) * _MIX1
                z = (z ^ (z >> _SHIFTS[1])) * _MIX2
                z ^= z >> _SHIFTS[2]
                decided = (z ^ mask) & undecided[column]
                undecided[column] ^= decided
                result[column] |= decided & mask
                left |= undecided[column]
            if left == _ZERO:
                break
    return out


_compare = compiled(_words)


@cache
def _pool() -> ThreadPoolExecutor:
    """Threads for drawing: the compiled comparison releases the GIL, so chunks draw in
    parallel."""
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
    return node_keys(graph, graph.actions(), seed)


def node_keys(graph: AttackGraph, nodes: NDArray[np.int64], seed: int) -> NDArray[np.uint64]:
    """The stream keys of ``nodes`` (their labels' keys), in that order."""
    labels = graph.labels
    return label_keys([labels[n] for n in nodes.tolist()], seed)


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
            keys = node_keys(graph, nodes[chosen], seed)
        p = probability[chosen]
        bernoulli_words(keys, p, words, out=coins, rows=chosen, columns=columns)
    return coins
