"""Step counts and wall-clock caps of the training probes, per ``--budget``.

The standard budget is sized so that all probes together cost about one training epoch
of a realistic data set (20,000 series, batch 64: ~310 steps) and only seconds on small
ones: a 100-step training probe, the zeroed-input baseline only when the bound below
cannot settle it, an 80-step LR range test that stops at divergence, and an overfit run
on 32 samples that stops as soon as the batch is memorised. Each probe also stops at its
wall-clock cap, and says so in its evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ProbeBudget", "BUDGETS", "probe_budget_for"]


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
    seconds: float  # wall-clock cap of one probe run

    def to_dict(self) -> dict:
        return dict(self.__dict__)


BUDGETS = {
    "quick": ProbeBudget("quick", train_steps=40, overfit_steps=100, overfit_batch=16, overfit_check_every=10,
                         overfit_retries=1, lr_steps=50, eval_samples=256, curve_points=3, seconds=15.0),
    "standard": ProbeBudget("standard", train_steps=100, overfit_steps=200, overfit_batch=32,
                            overfit_check_every=10, overfit_retries=1, lr_steps=80, eval_samples=256,
                            curve_points=5, seconds=60.0),
    "thorough": ProbeBudget("thorough", train_steps=300, overfit_steps=400, overfit_batch=32,
                            overfit_check_every=10, overfit_retries=2, lr_steps=120, eval_samples=2048,
                            curve_points=11, seconds=300.0),
}


def probe_budget_for(name: str) -> ProbeBudget:
    try:
        return BUDGETS[name]
    except KeyError:
        raise ValueError(f"unknown budget {name!r}; use one of {', '.join(BUDGETS)}") from None
