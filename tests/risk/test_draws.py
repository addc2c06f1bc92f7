"""The coupled draws: keys follow the label alone, bits follow the probability."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from panacea.risk.draws import (
    _GOLDEN,
    ALL,
    DIGITS,
    _splitmix,
    _words,
    bernoulli_words,
    draw,
    label_keys,
    random_keys,
)
from panacea.risk.simulate import wilson_interval
from tests.risk.test_simulate import HAND_CASES

labels = st.text(min_size=1, max_size=80)


@given(st.lists(labels, min_size=1, max_size=20), labels, st.integers(0, 2**32))
def test_a_label_key_does_not_depend_on_the_other_labels(
    others: list[str], label: str, seed: int
) -> None:
    alone = label_keys([label], seed)[0]
    assert label_keys([*others, label], seed)[-1] == alone
    assert label_keys([label, *others], seed)[0] == alone


def test_keys_differ_by_label_and_by_seed() -> None:
    names = [f"exploit:CVE-2017-0144:host-{i}:{i}" for i in range(20_000)]
    keys = label_keys(names, 0)
    assert len(set(keys.tolist())) == len(names)
    assert not np.any(keys == label_keys(names, 1))


def test_padding_never_counts() -> None:
    """Labels that differ only by trailing zero bytes or across an 8-byte boundary differ."""
    names = ["", "a", "a\x00", "a\x00\x00", "a" * 8, "a" * 8 + "\x00", "a" * 9, "\x00" * 8]
    keys = label_keys(names, 0)
    assert len(set(keys.tolist())) == len(names)
    assert [label_keys([n], 0)[0] for n in names] == keys.tolist()


@pytest.mark.parametrize("p", [0.0, 1e-6, 0.013, 0.25, 0.5, 0.77, 0.999, 1.0])
def test_each_bit_is_one_with_the_rounded_probability(p: float) -> None:
    words = 512  # 32,768 worlds per node
    keys = label_keys([f"node-{i}" for i in range(8)], 5)
    drawn = bernoulli_words(keys, np.full(keys.size, p), words)
    q = round(p * 65536) / 65536
    if q in (0.0, 1.0):
        assert np.all(drawn == (ALL if q else 0))
        return
    frequency = np.bitwise_count(drawn).sum(axis=1) / (words * 64)
    low, high = wilson_interval(np.full(keys.size, q), words * 64, z=4.5)
    assert np.all((frequency >= low) & (frequency <= high)), (frequency, q)


def test_nodes_are_independent() -> None:
    """Two nodes at 1/2 agree in about half of the worlds, not in all or none."""
    keys = label_keys(["code_exec:user:a", "code_exec:user:b"], 0)
    drawn = bernoulli_words(keys, np.array([0.5, 0.5]), 512)
    agree = np.bitwise_count(~(drawn[0] ^ drawn[1])).sum() / (512 * 64)
    assert 0.48 < agree < 0.52


def test_some_columns_are_drawn_exactly_as_in_the_full_draw() -> None:
    """Monte Carlo threads each draw a share of the words: the same bits as one full draw."""
    graph, _ = HAND_CASES["cycle entered twice"]
    full = draw(graph, 8, seed=4)
    keys = random_keys(graph, 4)
    for columns in (slice(0, 3), slice(3, 8), slice(5, 6)):
        assert np.array_equal(draw(graph, 8, 4, columns=columns), full[:, columns])
        assert np.array_equal(draw(graph, 8, 4, columns=columns, keys=keys), full[:, columns])


def _reference_bits(key: int, q: int, words: int) -> np.ndarray:
    """World by world: u read from the stream (digit i of word w is stream word i*words+w+1),
    bit = u < q; as plainly as possible, for comparison."""
    counters = np.arange(DIGITS * words, dtype=np.uint64).reshape(DIGITS, words) + np.uint64(1)
    with np.errstate(over="ignore"):
        stream = _splitmix(np.uint64(key) + counters * _GOLDEN)
    digits = np.unpackbits(stream.view(np.uint8), bitorder="little").reshape(DIGITS, words * 64)
    u = sum(digits[i].astype(np.int64) << (DIGITS - 1 - i) for i in range(DIGITS))
    bits = (u < q) if q < 65536 else np.ones(words * 64, dtype=bool)
    return np.packbits(bits, bitorder="little").view(np.uint64)


@pytest.mark.parametrize("words", [1, 6])
@pytest.mark.parametrize("compiled", [True, False])
def test_bits_are_u_below_q(compiled: bool, words: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading digits only until the node is decided gives the bits of the plain comparison,
    including worlds where u equals q on all 16 digits (q = 1, 65,535); compiled or run as
    plain Python; into rows of a given array too."""
    if not compiled:

        def plain(*args: np.ndarray) -> np.ndarray:
            with np.errstate(over="ignore"):  # uint64 arithmetic wraps, as compiled
                return _words(*args)

        monkeypatch.setattr("panacea.risk.draws._compare", plain)
    qs = [0, 1, 2, 3, 255, 256, 32768, 40000, 65534, 65535, 65536]
    keys = label_keys([f"q-{q}" for q in qs], 3)
    drawn = bernoulli_words(keys, np.array(qs) / 65536, words)
    part = bernoulli_words(keys, np.array(qs) / 65536, words, columns=slice(words // 2, words))
    rows = np.arange(len(qs))[::-1] * 2  # into every other row, in reverse
    into = np.zeros((2 * len(qs), words), dtype=np.uint64)
    bernoulli_words(keys, np.array(qs) / 65536, words, out=into, rows=rows)
    for i, q in enumerate(qs):
        expected = _reference_bits(int(keys[i]), q, words)
        assert np.array_equal(drawn[i], expected), q
        assert np.array_equal(part[i], expected[words // 2 :]), q
        assert np.array_equal(into[rows[i]], expected), q


def test_worlds_of_one_node_are_independent() -> None:
    """Neighbouring worlds (bits of a word, the same bit of neighbouring words) agree as
    often as independent draws would: p^2 + (1-p)^2."""
    p, words = 0.3, 4096
    drawn = bernoulli_words(label_keys(["exploit:x"], 9), np.array([p]), words)[0]
    bits = np.unpackbits(drawn.view(np.uint8), bitorder="little").astype(bool)
    expected = p * p + (1 - p) * (1 - p)
    n = bits.size - 1
    for a, b in ((bits[:-1], bits[1:]), (bits[:-64], bits[64:])):
        agree = float(np.mean(a == b))
        low, high = wilson_interval(np.array([expected]), n, z=4.5)
        assert low[0] <= agree <= high[0]
