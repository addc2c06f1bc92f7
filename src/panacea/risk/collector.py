"""Pausing Python's cyclic garbage collector while the engine makes many small objects.

Loading the risk inputs and building the attack graph of a large hospital make hundreds of
thousands of tuples, lists and dict entries, none of them part of a reference cycle. The
collector runs after every 700 new container objects and, every so often, traverses every
tracked object of the process, so the time it takes grows with what is already alive (the
inputs, the previous graph): at 50,000 assets it is a tenth to a third of the build. Reference
counting, which frees almost everything, goes on meanwhile; the pause is the whole process's
(no thread collects cycles while it lasts: about a second at that size).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_collector() -> Iterator[None]:
    """The cyclic collector off inside the block (and back as it was after)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
