"""distinct: the sorted distinct values, by sorting or, for values dense in their range, by
marking them."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from panacea.risk.distinct import distinct


@given(
    values=st.one_of(
        hnp.arrays(np.int64, st.integers(0, 300), elements=st.integers(-50, 50)),  # dense
        hnp.arrays(np.int64, st.integers(0, 50), elements=st.integers(-(2**62), 2**62)),
        hnp.arrays(np.int32, st.integers(0, 300), elements=st.integers(0, 2000)),
        hnp.arrays(np.int8, st.integers(0, 300), elements=st.integers(-128, 127)),
        hnp.arrays(np.uint64, st.integers(0, 300), elements=st.integers(2**64 - 500, 2**64 - 1)),
    )
)
def test_distinct_is_numpys_unique(values: np.ndarray) -> None:  # type: ignore[type-arg]
    found = distinct(values)
    assert found.dtype == values.dtype
    assert found.tolist() == np.unique(values).tolist()


def test_both_ways_on_node_ids() -> None:
    rng = np.random.default_rng(1)
    dense = rng.integers(0, 1000, 5000)  # marked
    sparse = rng.integers(0, 10**12, 100)  # sorted
    for values in (dense, sparse, dense + 10**12):
        assert distinct(values).tolist() == sorted(set(values.tolist()))
