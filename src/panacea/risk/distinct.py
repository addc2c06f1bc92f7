"""Distinct values of the integer arrays of the engine (node ids, packed edge keys)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def distinct(values: NDArray[np.int64]) -> NDArray[np.int64]:
    """The sorted distinct values of an integer array.

    np.unique does the same, but numpy 2.4's hash-based path for integers is 30x slower than
    sorting on the arrays the engine has (a 670,000-edge list: 1.4 s against 0.04 s).
    """
    ordered = np.sort(values)
    if ordered.size < 2:
        return ordered
    keep = np.empty(ordered.size, dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    result: NDArray[np.int64] = ordered[keep]
    return result
