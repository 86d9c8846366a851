"""How many CPU threads torch gets during the probes (and every other fact): a count fixed per machine.

The count is fixed because it changes the results. Matrix products and convolution
weight gradients reduce over the batch in chunks, one per thread, and float addition is
not associative, so the same seeded run differs in the last bits with another thread
count, and those bits grow over a run: measured with torch 2.13 on CPU (small Conv1d +
BatchNorm + ReLU + Linear, cross-entropy, Adam, 40 steps), 1 vs 2 threads gives the same
forward pass but different conv and linear weight gradients from the first backward on,
and final weights up to 0.012 apart; 2 vs 3 and 2 vs 4 threads differ too, and
``torch.use_deterministic_algorithms(True)`` does not change that. Two runs with the same
thread count are bitwise identical. A choice made from the load average, a sample of what
the cores are doing, or a timing would therefore let a busy machine change losses, counts
and even verdicts.

So the count is read from what the machine *has*, never from what it is doing: the cores
this process may run on (its CPU affinity, and the container's CPU quota when cgroups set
one), at most ``MAX_PROBE_THREADS``. That is what the user's own training loop gets by
default (torch starts with one thread per core), so a probe step costs what the user's step
costs: on a quiet 2-core machine, a W2 step (3 × 1,000 series, batch 64) took 0.37 s on
one thread against the user's 0.21 s on two (issue 18). On a busy machine the same count
runs slower — the probes' time caps are 20× the measured work (``probes/budget.time_cap``),
so they still complete — but the findings do not move. ``CNNDOCTOR_THREADS=n`` fixes
another count (runs are then reproducible for that n). CUDA runs are left alone: the CPU
thread count does not enter their arithmetic. The choice and its reason are in the report's
settings block (``threads``).
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["ThreadChoice", "MAX_PROBE_THREADS", "THREADS_ENV", "available_cores", "free_cores", "probe_threads",
           "choose_threads", "using_threads", "fact_threads"]

# Intra-op parallelism of the small convolutions cnndoctor probes stops paying well before this many threads,
# and a many-core server would otherwise spend most of each step synchronising threads.
MAX_PROBE_THREADS = 8
THREADS_ENV = "CNNDOCTOR_THREADS"


@dataclass(frozen=True)
class ThreadChoice:
    threads: int
    cores: int
    load: float | None  # 1-minute load average when the choice was made
    reason: str
    timings: dict  # {threads: seconds per step}; empty since the count is fixed
    source: str = "left as it is"  # where the count came from, for the report's settings block

    def to_dict(self) -> dict:
        return {"threads": self.threads, "cores": self.cores,
                "load_average": None if self.load is None else round(self.load, 2),
                "reason": self.reason,
                "step_seconds_by_threads": {str(k): round(v, 5) for k, v in self.timings.items()}}


def _cgroup_quota_cores() -> int | None:
    """The container's CPU quota in whole cores (cgroup v2 ``cpu.max``, v1 ``cfs_quota_us``), None if unlimited."""
    import math

    for path, parse in (("/sys/fs/cgroup/cpu.max", lambda t: t.split()[:2]),
                        ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", None)):
        try:
            with open(path) as fh:
                text = fh.read().strip()
        except OSError:
            continue
        try:
            if parse is not None:
                quota, period = parse(text)
                if quota == "max":
                    return None
                return max(1, math.ceil(int(quota) / int(period)))
            quota = int(text)
            if quota <= 0:
                return None
            with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as fh:
                return max(1, math.ceil(quota / int(fh.read().strip())))
        except (OSError, ValueError):
            return None
    return None


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity, bounded by a container's CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = _cgroup_quota_cores()
    return max(1, min(cores, quota) if quota is not None else cores)


def free_cores() -> tuple[int, float | None]:
    """(cores this process may use, 1-minute load average) — load is None where unknown."""
    cores = available_cores()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return cores, None
    return cores, load


def _machine_threads() -> int:
    return min(available_cores(), MAX_PROBE_THREADS)


def probe_threads() -> int:
    """The torch thread count of cnndoctor's CPU runs: ``CNNDOCTOR_THREADS`` when set to a whole number, else
    the cores this process has (at most ``MAX_PROBE_THREADS``) — a property of the machine, not of its load."""
    value = os.environ.get(THREADS_ENV, "").strip()
    try:
        n = int(value) if value else _machine_threads()
    except ValueError:
        n = _machine_threads()
    return max(1, n)


def choose_threads(*, device: str = "cpu") -> ThreadChoice:
    """The torch thread count for the probes: fixed (see the module docstring), never load- or
    timing-dependent, because the count changes the results."""
    import torch

    cores, load = free_cores()
    if not str(device).startswith("cpu"):
        return ThreadChoice(torch.get_num_threads(), cores, load, "accelerator run: thread count left as it is", {})
    n = probe_threads()
    value = os.environ.get(THREADS_ENV, "").strip()
    if value.isdigit() and int(value) >= 1:
        source = THREADS_ENV
        how = f"{THREADS_ENV}={n}"
    else:
        source = f"{cores} core{'s' if cores != 1 else ''} here" + (
            f", at most {MAX_PROBE_THREADS}" if cores > MAX_PROBE_THREADS else "")
        how = f"one per core this process has ({source})"
    return ThreadChoice(n, cores, load, f"{n} thread{'s' if n != 1 else ''}, {how}; fixed per machine, never "
                                        "from its load, because the count changes the results' last bits", {},
                        source)


@contextmanager
def using_threads(n: int | None):
    """Run the block with ``n`` torch threads, ``n`` BLAS threads for numpy and scikit-learn (the
    baselines' matrix products sum in another order on another thread count) and ``n`` threads for the
    measurements' independent numpy parts (``measure.parallel``), and restore all three afterwards."""
    import torch
    from threadpoolctl import threadpool_limits

    from ..measure.parallel import using_workers

    before = torch.get_num_threads()
    if n is not None and n != before:
        torch.set_num_threads(n)
    start = time.perf_counter()
    try:
        # numpy's one-core passes (measure/parallel) get as many threads as torch and BLAS; their numbers do not
        # depend on the count, so an accelerator's run (n None) gives them the machine's
        with threadpool_limits(limits=n, user_api="blas"), using_workers(n or _machine_threads()):
            yield start
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def fact_threads(device):
    """``using_threads(probe_threads())`` for a CPU subject; the caller's setting for an accelerator."""
    return using_threads(probe_threads() if str(device).startswith("cpu") else None)
