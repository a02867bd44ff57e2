"""How benchmarks measure: best-of-N wall time, and traced memory.

`best_of` runs a function *repeat* times and keeps the fastest run, the usual way to keep scheduler
and cache noise out of a CPU-bound measurement. Like `timeit`, it collects garbage before each run
and disables the cyclic garbage collector during it: otherwise the cost of the collections that a
run triggers grows with everything alive at the time (the whole result being built, the rest of
the heap), and per-object costs stop being comparable between sizes and between runs.

`traced_bytes` reports how many bytes the objects a function returns keep alive, through
`tracemalloc`.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def best_of(function: Callable[[], T], *, repeat: int) -> tuple[float, T]:
    """The fastest of *repeat* runs of *function*, in seconds, and what its last run returned."""
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    seconds, result = _timed(function)
    for _ in range(repeat - 1):
        del result  # let the previous result go before the next run
        elapsed, result = _timed(function)
        seconds = min(seconds, elapsed)
    return seconds, result


def _timed(function: Callable[[], T]) -> tuple[float, T]:
    gc.collect()
    gc.disable()
    try:
        started = time.perf_counter()
        result = function()
        return time.perf_counter() - started, result
    finally:
        gc.enable()


def traced_bytes(function: Callable[[], T]) -> tuple[int, T]:
    """Bytes allocated by *function* and still alive when it returns, and what it returned.

    Garbage made on the way (temporary dicts, parse buffers) is collected before the count.
    """
    gc.collect()
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = function()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return after - before, result
