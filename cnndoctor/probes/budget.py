"""The budgets (``--budget quick|standard|thorough``): step counts and wall-clock safety nets of the
training probes, the sample caps of the other costly measurements, and how many fixes are verified.

This module is the one owner of the budget names (``BUDGETS``, ``DEFAULT_BUDGET``): the API, the
command line, the configuration and the watchdog's default timeouts read them from here.

A probe's length is a step count, never a time: the same command and seed run the same
steps and give the same numbers and verdicts on an idle machine and on a busy one.

The standard budget is sized so that all probes together cost about one training epoch
of a realistic data set (20,000 series, batch 64: ~310 steps) and only seconds on small
ones: a 100-step training probe, the zeroed-input baseline only when the bound below
cannot settle it, an 80-step LR range test that stops at divergence, and an overfit run
on 32 samples that stops as soon as the batch is memorised. Those early stops are
step-based too (a non-finite loss, a memorised batch, a diverged sweep).

Each probe run (each overfit attempt on its own) also has a wall-clock cap, a safety net
against a pathologically slow model, not a length: ``time_cap`` allows ``CAP_FACTOR`` (20)
times the planned work at the step time measured in the warm-up, and never less than the
budget's ``seconds`` floor, so a merely busy machine always completes the planned steps. A
probe the cap stops is *inconclusive*: a note states the steps reached of those planned,
and the checks that would judge that probe skip instead of judging a truncated run.

``verify_fixes`` counts the training-probe re-runs that verify fixes, never a time. Each cause's
fix verified alone takes one run (causes whose fixes are the same change share it). When two or
more causes' fixes are verified alone, their fixes combined take one more run: so a budget of at
least ``COMBINED_MIN_RUNS`` (two alone plus one together) keeps its last run for the combination
and verifies at most ``verify_fixes - 1`` causes alone; a smaller budget (quick: 1) verifies
causes alone only (``fixes_verified_alone``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["ProbeBudget", "BUDGETS", "DEFAULT_BUDGET", "CAP_FACTOR", "COMBINED_MIN_RUNS", "probe_budget_for",
           "fixes_verified_alone", "time_cap", "truncated_reason"]

# A probe may take this many times its planned work at the measured step time before its safety net stops it.
CAP_FACTOR = 20.0
# Verification runs needed before a budget also verifies fixes combined: two fixes alone, then both together.
COMBINED_MIN_RUNS = 3


@dataclass(frozen=True)
class ProbeBudget:
    name: str
    train_steps: int  # training probe at the user's settings (and the zeroed-input baseline)
    overfit_steps: int  # per attempt at memorising one small batch
    overfit_batch: int  # samples in that batch (at most 32)
    overfit_check_every: int
    overfit_retries: int  # attempts at a sane lr when the user's lr fails
    lr_steps: int  # LR range test sweep length
    eval_samples: int  # train and held-out samples evaluated at each curve point
    curve_points: int  # evaluations along the training probe (start and end included)
    seconds: float  # floor of the wall-clock safety net of one probe run (see time_cap)
    verify_fixes: int  # most probe re-runs verifying fixes, alone and combined (a count, never the machine's load)
    baseline_train: int  # training samples the reference baselines fit on (at most)
    baseline_test: int  # test samples they are scored on (at most)
    overlap_test_windows: int  # test windows the cross-split window-overlap scan compares (at most)

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    def describe(self) -> str:
        """What this budget costs, in the units that decide it: training steps of the user's model."""
        return (f"{self.train_steps}-step training probe (and a zeroed-input twin when needed), "
                f"{self.lr_steps}-step lr range test, up to {self.overfit_retries + 1}×{self.overfit_steps} steps "
                f"on one batch of {self.overfit_batch}, up to {self.verify_fixes} re-run(s) of the probe verifying "
                f"fixes{' (alone, then combined)' if self.verify_fixes >= COMBINED_MIN_RUNS else ''}; "
                f"baselines on at most {self.baseline_train:,} training samples")


BUDGETS = {
    "quick": ProbeBudget("quick", train_steps=40, overfit_steps=100, overfit_batch=16, overfit_check_every=10,
                         overfit_retries=1, lr_steps=50, eval_samples=256, curve_points=3, seconds=120.0,
                         verify_fixes=1, baseline_train=1000, baseline_test=500, overlap_test_windows=1000),
    "standard": ProbeBudget("standard", train_steps=100, overfit_steps=200, overfit_batch=32,
                            overfit_check_every=10, overfit_retries=1, lr_steps=80, eval_samples=256,
                            curve_points=5, seconds=300.0, verify_fixes=3, baseline_train=2000, baseline_test=1000,
                            overlap_test_windows=4000),
    "thorough": ProbeBudget("thorough", train_steps=300, overfit_steps=400, overfit_batch=32,
                            overfit_check_every=10, overfit_retries=2, lr_steps=120, eval_samples=2048,
                            curve_points=11, seconds=900.0, verify_fixes=6, baseline_train=5000, baseline_test=2000,
                            overlap_test_windows=20000),
}
DEFAULT_BUDGET = "standard"


def probe_budget_for(name: str) -> ProbeBudget:
    try:
        return BUDGETS[name]
    except KeyError:
        raise ValueError(f"unknown budget {name!r}; use one of {', '.join(BUDGETS)}") from None


def fixes_verified_alone(budget: ProbeBudget, distinct_fixes: int) -> int:
    """How many of ``distinct_fixes`` different fixes are verified alone: all that ``verify_fixes`` allows, less
    the one run kept for their combination when at least two are verified alone and the budget has that run."""
    runs = budget.verify_fixes
    if distinct_fixes >= 2 and runs >= COMBINED_MIN_RUNS:
        return min(distinct_fixes, runs - 1)
    return min(distinct_fixes, runs)


def time_cap(budget: ProbeBudget, step_seconds: float | None, work_steps: float) -> float:
    """The safety net of one probe run: ``CAP_FACTOR`` x ``work_steps`` at ``step_seconds``, at least the floor.

    ``work_steps`` counts the run's planned training steps plus its evaluations, in training
    steps of the user's batch size; ``step_seconds`` is the warm-up's measurement (None: the floor).
    """
    if step_seconds is None or not math.isfinite(step_seconds) or step_seconds <= 0:
        return float(budget.seconds)
    return max(float(budget.seconds), CAP_FACTOR * step_seconds * max(1.0, float(work_steps)))


def truncated_reason(what: str, steps: int, max_steps: int) -> str:
    """Why a verdict is withheld when the safety net stopped a probe: said the same way everywhere."""
    return (f"the {what} stopped at the time cap after {steps} of {max_steps} steps; the verdict would rest on a "
            "truncated run")
