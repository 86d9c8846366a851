"""Independent parts of one numpy measurement, run side by side on the threads a fact may use.

numpy's elementwise operations, reductions, partitions and FFTs run on one core and release the GIL, so
the costly data measurements (the receptive-field ladder's pooled kernel responses, the baselines'
summary and convolution features) split their rows or kernels into parts and run the parts on threads.
Each part computes its own rows or columns with the same operations in the same order as one thread
would, so the numbers do not depend on the thread count (tests hold them equal).

The count is the one the probes use (``probes.threads.using_threads`` sets it around every fact: a
property of the machine, never of its load); outside a fact it is 1. It is at most ``MAX_WORKERS``, so a
measurement that streams its data in pieces sizes them by that: ``MAX_WORKERS`` pieces in flight together take
no more memory than the one chunk a single thread would hold, whatever the machine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from ..probes.threads import MAX_PROBE_THREADS

__all__ = ["MAX_WORKERS", "map_parts", "row_parts", "using_workers", "workers"]

MAX_WORKERS = MAX_PROBE_THREADS  # the most threads a fact gets: the probes' own cap
_WORKERS = [1]


def workers() -> int:
    """Threads the current measurement may use."""
    return _WORKERS[-1]


@contextmanager
def using_workers(n: int | None) -> Iterator[None]:
    """Let the measurements inside the block use ``n`` threads (None or less than 1: one)."""
    _WORKERS.append(max(1, int(n or 1)))
    try:
        yield
    finally:
        _WORKERS.pop()


def map_parts(fn: Callable, parts: Iterable, *, concurrent: bool = True) -> list:
    """``[fn(part) for part in parts]``, on ``workers()`` threads when there are more than one (and
    ``concurrent``: one at a time otherwise, e.g. for a reader that is not safe on two threads)."""
    parts = list(parts)
    n = min(workers(), len(parts)) if concurrent else 1
    if n <= 1:
        return [fn(part) for part in parts]
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(fn, parts))


def row_parts(n_rows: int, *, min_rows: int = 64) -> list[slice]:
    """``n_rows`` cut into one contiguous slice per worker (fewer when a slice would hold under ``min_rows``)."""
    count = max(1, min(workers(), n_rows // max(1, min_rows)))
    bounds = [round(i * n_rows / count) for i in range(count + 1)]
    return [slice(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]
