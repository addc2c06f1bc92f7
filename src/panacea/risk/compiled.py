"""Kernels compiled with numba on first use, their machine code cached on disk.

The Monte Carlo's inner loops (the draws, the sweep to the least fixed point) run over hundreds
of thousands of nodes; numpy would make a pass over memory per operation, with Python between
groups of nodes. Compiled, they take several times less CPU and release the GIL, so that shares
of the worlds run on threads in parallel. numba is imported on the first call, not before: the
CLI and the server pay for it (about 0.7 s: the import and loading the cached code) only once
they draw. Every constant a kernel uses is a uint64 where it meets a uint64: numba never mixes
in a signed integer, which would make the arithmetic floating point. A kernel reads only
constants of its own module: numba keeps their values in the cached code and compiles again
only when that module's source changes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")
logger = logging.getLogger(__name__)


def compiled(function: Callable[P, R]) -> Callable[P, R]:
    """``function``, compiled (nopython, without the GIL, cached) when first called.

    The first call compiles (or loads the cached code) once, whatever the threads calling
    together. Where numba finds no writable place for its cache (next to the module, or the
    user's cache directory; ``NUMBA_CACHE_DIR`` sets one), it compiles without one and warns.
    """
    lock = threading.Lock()
    machine_code: list[Callable[P, R]] = []

    def kernel() -> Callable[P, R]:
        with lock:
            if not machine_code:
                machine_code.append(_compile(function))
            return machine_code[0]

    @wraps(function)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        return (machine_code[0] if machine_code else kernel())(*args, **kwargs)

    return call


def _compile(function: Callable[P, R]) -> Callable[P, R]:
    import numba

    try:
        cached: Callable[P, R] = numba.njit(nogil=True, cache=True)(function)
        return cached
    except RuntimeError as e:  # "cannot cache function ...: no locator available"
        logger.warning(
            "numba cannot cache %s (%s): compiling it in every process; set NUMBA_CACHE_DIR "
            "to a writable directory",
            function.__qualname__,
            e,
        )
        uncached: Callable[P, R] = numba.njit(nogil=True)(function)
        return uncached
