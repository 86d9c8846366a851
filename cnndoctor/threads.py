"""How many CPU threads torch gets during the probes, and how fast one step really is.

On a shared CPU two torch threads run 5-6x *slower* than one as soon as another process
holds a core (the threads wait for each other at every parallel region). So the probes
do not trust torch's default: they look at the load average, and when there is room for
more than one thread they time a step with one thread and with more, and keep the faster.
The measured step time goes into the evidence, so a busy machine is never mistaken for a
slow model. A caller that already set one thread (as the test suite does) is respected.
CUDA runs are left alone: the thread count hardly matters there.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

__all__ = ["ThreadChoice", "available_cores", "free_cores", "choose_threads", "using_threads"]


@dataclass(frozen=True)
class ThreadChoice:
    threads: int
    cores: int
    load: float | None  # 1-minute load average when the choice was made
    reason: str
    timings: dict  # {threads: seconds per step} when the choice was timed

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


def choose_threads(time_step: Callable[[], float] | None = None, *, device: str = "cpu") -> ThreadChoice:
    """Pick the torch thread count for the probes.

    ``time_step()`` runs one representative training step and returns its seconds; it is
    called twice per candidate (the first call of a new thread count pays set-up costs).
    """
    import torch

    current = torch.get_num_threads()
    cores, load = free_cores()
    if not str(device).startswith("cpu"):
        return ThreadChoice(current, cores, load, "accelerator run: thread count left as it is", {})
    if current <= 1:
        return ThreadChoice(1, cores, load, "one thread was already set by the caller", {})
    # The load average counts runnable tasks, our own included: what is left is what we may take.
    idle = cores if load is None else max(0.0, cores - load)
    most = max(1, min(current, int(idle + 0.5)))
    if most <= 1:
        return ThreadChoice(1, cores, load, f"load average {load:.2f} on {cores} cores leaves about one core free", {})
    if time_step is None:
        return ThreadChoice(most, cores, load, f"{idle:.1f} of {cores} cores idle", {})
    timings = {}
    for n in (1, most):
        torch.set_num_threads(n)
        try:
            time_step()
            timings[n] = time_step()
        finally:
            torch.set_num_threads(current)
    # more threads must win clearly: a small gain is not worth the risk of a neighbour waking up
    best = most if timings[most] < 0.8 * timings[1] else 1
    return ThreadChoice(best, cores, load, f"timed one step with 1 and {most} threads", timings)


@contextmanager
def using_threads(n: int | None):
    """Run the block with ``n`` torch threads and restore the previous setting afterwards."""
    import torch

    before = torch.get_num_threads()
    if n is not None and n != before:
        torch.set_num_threads(n)
    start = time.perf_counter()
    try:
        yield start
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
