"""How many CPU threads torch gets during the probes (and every other fact): a fixed count.

The count is fixed because it changes the results. Matrix products and convolution
weight gradients reduce over the batch in chunks, one per thread, and float addition is
not associative, so the same seeded run differs in the last bits with another thread
count, and those bits grow over a run: measured with torch 2.13 on CPU (small Conv1d +
BatchNorm + ReLU + Linear, cross-entropy, Adam, 40 steps), 1 vs 2 threads gives the same
forward pass but different conv and linear weight gradients from the first backward on,
and final weights up to 0.012 apart; 2 vs 3 and 2 vs 4 threads differ too, and
``torch.use_deterministic_algorithms(True)`` does not change that. Two runs with the same
thread count are bitwise identical. A choice made from the load average or a timing
would therefore let a busy machine change losses, counts and even verdicts.

So cnndoctor runs its facts with ``PROBE_THREADS`` (1) torch threads, whatever the load
and whatever the caller set, and restores the caller's setting afterwards. One thread is
also the fastest choice on a shared CPU: two torch threads run 4-6x *slower* than one as
soon as another process holds a core. A user with an idle many-core machine and a large
model may set ``CNNDOCTOR_THREADS=n``: runs are then reproducible for that n (and differ
in the last bits from runs with another n). CUDA runs are left alone: the CPU thread
count does not enter their arithmetic.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["ThreadChoice", "PROBE_THREADS", "THREADS_ENV", "available_cores", "free_cores", "probe_threads",
           "choose_threads", "using_threads", "fact_threads"]

PROBE_THREADS = 1  # torch threads of every CPU run, unless CNNDOCTOR_THREADS says otherwise
THREADS_ENV = "CNNDOCTOR_THREADS"


@dataclass(frozen=True)
class ThreadChoice:
    threads: int
    cores: int
    load: float | None  # 1-minute load average when the choice was made
    reason: str
    timings: dict  # {threads: seconds per step}; empty since the count is fixed

    def to_dict(self) -> dict:
        return {"threads": self.threads, "cores": self.cores,
                "load_average": None if self.load is None else round(self.load, 2),
                "reason": self.reason,
                "step_seconds_by_threads": {str(k): round(v, 5) for k, v in self.timings.items()}}


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def free_cores() -> tuple[int, float | None]:
    """(cores this process may use, 1-minute load average) — load is None where unknown."""
    cores = available_cores()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return cores, None
    return cores, load


def probe_threads() -> int:
    """The fixed torch thread count of cnndoctor's CPU runs: ``CNNDOCTOR_THREADS`` when set, else 1."""
    value = os.environ.get(THREADS_ENV, "").strip()
    try:
        n = int(value) if value else PROBE_THREADS
    except ValueError:
        n = PROBE_THREADS
    return max(1, n)


def choose_threads(*, device: str = "cpu") -> ThreadChoice:
    """The torch thread count for the probes: fixed (see the module docstring), never load- or
    timing-dependent, because the count changes the results."""
    import torch

    cores, load = free_cores()
    if not str(device).startswith("cpu"):
        return ThreadChoice(torch.get_num_threads(), cores, load, "accelerator run: thread count left as it is", {})
    n = probe_threads()
    source = f"{THREADS_ENV}={n}" if os.environ.get(THREADS_ENV, "").strip() else "the fixed default"
    return ThreadChoice(n, cores, load, f"{n} thread(s), {source}: the thread count changes the results' last "
                                        "bits, so it never follows the load", {})


@contextmanager
def using_threads(n: int | None):
    """Run the block with ``n`` torch threads, and ``n`` BLAS threads for numpy and scikit-learn (the
    baselines' matrix products sum in another order on another thread count), and restore both afterwards."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    if n is not None and n != before:
        torch.set_num_threads(n)
    start = time.perf_counter()
    try:
        with threadpool_limits(limits=n, user_api="blas"):
            yield start
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def fact_threads(device):
    """``using_threads(probe_threads())`` for a CPU subject; the caller's setting for an accelerator."""
    return using_threads(probe_threads() if str(device).startswith("cpu") else None)
