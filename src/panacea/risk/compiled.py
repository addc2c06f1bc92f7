"""Kernels compiled with numba on first use, their machine code cached on disk.

The Monte Carlo's inner loops (the draws, the sweep to the least fixed point) run over hundreds
of thousands of nodes; numpy would make a pass over memory per operation, with Python between
groups of nodes. Compiled, they take several times less CPU and release the GIL, so that shares
of the worlds run on threads in parallel. numba is imported on the first call, not before: the
CLI and the server pay for it (about 0.7 s: the import and loading the cached code) only once
they draw. Every constant a kernel uses is a uint64 where it meets a uint64: numba never mixes
in a signed integer, which would make the arithmetic floating point.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, wraps
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def compiled(function: Callable[P, R]) -> Callable[P, R]:
    """``function``, compiled (nopython, without the GIL, cached) when first called."""

    @cache
    def kernel() -> Callable[P, R]:
        import numba

        machine_code: Callable[P, R] = numba.njit(nogil=True, cache=True)(function)
        return machine_code

    @wraps(function)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        return kernel()(*args, **kwargs)

    return call
