"""The learning-rate range test: one short run whose lr grows exponentially, step by step.

The raw loss of a range test is noisy (every step sees another batch), so the curve is
smoothed *after* the sweep with a centred running median followed by a centred running
mean: no lag (an exponential moving average shifts every landmark to larger lrs) and
robust to single-batch spikes. On the smoothed curve:

- ``start_loss``: the smoothed loss at the first lr, where the model barely moves;
- ``lr_at_min``: the lr where the smoothed loss is lowest — the most stable landmark of a
  range test, because it needs no derivative of a noisy curve;
- ``lr_fall``: the first lr where the loss has fallen by a tenth of the way from
  ``start_loss`` to the minimum (learning has visibly started);
- ``diverge_lr``: the first lr past the minimum where the loss climbs back above
  ``start_loss`` (training now does harm; judged only when the curve fell by at least 10%
  first), or where the raw loss becomes non-finite or exceeds four times its start;
- ``suggestion``: ``lr_at_min / 10``. At the minimum the loss is about to turn up, i.e. that lr
  is already at the edge of stability for a *constant* schedule; one decade below is the
  classic, robust choice (fastai's original rule). It is never placed below ``lr_fall``:
  then the geometric middle of ``lr_fall`` and ``lr_at_min`` is used instead. The
  steepest-slope rule is not used: it differentiates the noisy curve and jumps between
  runs, which is why users distrust it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .data import ProbeData, prepare_probe_data
from .threads import using_threads
from .train import BatchSampler, Runtime, error_text, runtime_for, step_loss

__all__ = ["LRRange", "suggested_range", "smooth_curve", "analyse_curve", "lr_range_probe", "run_lr_range_test",
           "sweep_bounds"]

DIVERGE_FACTOR = 4.0  # the sweep stops once a raw loss exceeds this multiple of the starting loss


@dataclass
class LRRange:
    lrs: list[float]
    losses: list[float]
    smoothed: list[float] = field(default_factory=list)
    user_lr: float = 0.0
    lr_min: float = 0.0
    lr_max: float = 0.0
    max_steps: int = 0
    start_loss: float | None = None
    min_loss: float | None = None
    lr_at_min: float | None = None
    lr_fall: float | None = None
    diverge_lr: float | None = None
    suggestion: float | None = None
    learned: bool = False  # the smoothed loss fell by at least 10% somewhere in the sweep
    nonfinite_input: bool = False  # the sweep stopped on a batch holding NaN/Inf inputs
    stopped_by: str = "steps"  # steps | diverged | time | error
    error: str | None = None
    seconds: float = 0.0  # wall-clock (this and step_seconds): for timings only, never for evidence
    step_seconds: float | None = None
    optimizer: str = ""

    @property
    def truncated(self) -> bool:
        """The wall-clock safety net stopped the sweep before its planned steps: it is inconclusive."""
        return self.stopped_by == "time"

    @property
    def user_position(self) -> str:
        """Where the user's lr sits on the curve, in words."""
        if not self.learned or self.lr_at_min is None:
            return "the loss never fell during the sweep"
        if self.diverge_lr is not None and self.user_lr >= self.diverge_lr:
            return "past the point where the loss diverges"
        if self.user_lr > self.lr_at_min:
            return "between the loss minimum and divergence"
        if self.lr_fall is not None and self.user_lr < self.lr_fall:
            return "below the region where the loss falls"
        return "inside the region where the loss falls"

    def summary(self) -> dict:
        r = lambda v: None if v is None else float(f"{v:.4g}")  # noqa: E731
        return {"user_lr": self.user_lr, "suggested_lr": r(self.suggestion), "lr_at_min_loss": r(self.lr_at_min),
                "lr_loss_starts_falling": r(self.lr_fall), "lr_loss_diverges": r(self.diverge_lr),
                "start_loss": r(self.start_loss), "min_loss": r(self.min_loss),
                "swept": [r(self.lr_min), r(self.lr_max)], "steps": len(self.losses), "max_steps": self.max_steps,
                "stopped_by": self.stopped_by, "user_position": self.user_position, "optimizer": self.optimizer}


def suggested_range(lr: LRRange, *, near_factor: float, low_factor: float) -> dict:
    """The range test's advice as plain data: a range of learning rates with the reason for each end, the
    landmarks, and where the user's lr sits.

    The range runs from where the loss visibly starts to fall (``lr_fall``, never below a ``low_factor``-th of
    the suggestion: T202's ``min_factor`` calls anything lower too low) to the lower of the loss minimum (the
    edge of stability for a constant lr) and a ``near_factor``-th of the divergence point (T201's
    ``near_factor``: from there on it checks whether training diverges on other seeds). Both factors are the
    checks' thresholds, passed in by the caller.
    """
    r = lambda v: None if v is None else float(f"{v:.4g}")  # noqa: E731
    out = {"ran": True, "suggested_lr": r(lr.suggestion), "lr_at_min_loss": r(lr.lr_at_min),
           "lr_loss_starts_falling": r(lr.lr_fall), "lr_loss_diverges": r(lr.diverge_lr), "user_lr": lr.user_lr,
           "user_on_curve": lr.user_position, "swept": [r(lr.lr_min), r(lr.lr_max)], "optimizer": lr.optimizer,
           "stopped_by": lr.stopped_by, "low": None, "high": None, "reason": None, "user_position": None,
           "user_to_suggested": None}
    if lr.truncated or lr.error is not None or not lr.learned or lr.suggestion is None:
        out["reason"] = ("the sweep was cut short, so it gives no range" if lr.truncated else
                         f"the sweep failed ({lr.error})" if lr.error is not None else
                         "the loss never fell clearly during the sweep, so it gives no range")
        return out
    low_floor = lr.suggestion / low_factor
    low, low_why = ((lr.lr_fall, "where the loss starts to fall") if lr.lr_fall >= low_floor else
                    (low_floor, f"a {low_factor:g}th of the suggestion"))
    high, high_why = lr.lr_at_min, "the loss minimum"
    if lr.diverge_lr is not None and lr.diverge_lr / near_factor < high:
        high, high_why = lr.diverge_lr / near_factor, f"a {near_factor:g}th of the divergence point"
    if high < low:  # the loss falls only close to divergence: the suggestion alone
        low = high = lr.suggestion
        low_why = high_why = "the suggestion (the loss falls only close to divergence)"
    out.update(low=r(low), high=r(high), user_to_suggested=r(lr.user_lr / lr.suggestion),
               reason=f"from {low_why} ({low:.2g}) to {high_why} ({high:.2g}); suggested {lr.suggestion:.2g}, "
                      + (f"a tenth of the lr at the loss minimum ({lr.lr_at_min:.2g})"
                         if math.isclose(lr.suggestion, lr.lr_at_min / 10) else
                         f"the geometric middle of where the loss starts to fall and its minimum "
                         f"({lr.lr_at_min:.2g})"),
               user_position="below" if lr.user_lr < low else "above" if lr.user_lr > high else "inside")
    return out


def _running(values: np.ndarray, window: int, reduce) -> np.ndarray:
    half = window // 2
    return np.array([reduce(values[max(0, i - half):i + half + 1]) for i in range(len(values))])


def smooth_curve(losses, window: int = 5) -> np.ndarray:
    """Centred running median, then centred running mean, over finite losses (no lag)."""
    values = np.asarray(losses, dtype=np.float64)
    if not len(values):
        return values
    return _running(_running(values, window, np.median), window, np.mean)


# A smoothed range-test loss this many times its starting value has diverged, even if it never fell first.
RISE_FACTOR = 3.0


def analyse_curve(lrs, losses, *, window: int = 5, diverged_at_end: bool = False) -> dict:
    """The landmarks of a range-test curve (see the module docstring for the rules)."""
    lrs = np.asarray(lrs, dtype=np.float64)
    raw = np.asarray(losses, dtype=np.float64)
    finite = np.isfinite(raw)
    n = int(np.argmin(finite)) if not finite.all() else len(raw)  # curve up to the first non-finite loss
    out = {"smoothed": [], "start_loss": None, "min_loss": None, "lr_at_min": None, "lr_fall": None,
           "diverge_lr": float(lrs[n]) if n < len(raw) else None, "suggestion": None, "learned": False}
    if n < 3:
        return out
    sm = smooth_curve(raw[:n], window)
    out["smoothed"] = sm.tolist()
    start = float(np.median(sm[:max(1, min(3, n // 10))]))
    i_min = int(np.argmin(sm))
    low = float(sm[i_min])
    out.update(start_loss=start, min_loss=low, lr_at_min=float(lrs[i_min]))
    if out["diverge_lr"] is None and diverged_at_end:
        out["diverge_lr"] = float(lrs[len(raw) - 1])
    drop = start - low
    if start > 0 and drop >= 0.1 * start:
        out["learned"] = True
        # climbing back above the start only means divergence once the curve had really fallen;
        # on a flat, noisy curve it is noise
        above = np.flatnonzero(sm[i_min:] >= start)
        if len(above):
            climbed = float(lrs[i_min + above[0]])
            if out["diverge_lr"] is None or climbed < out["diverge_lr"]:
                out["diverge_lr"] = climbed
        fall = int(np.flatnonzero(sm[:i_min + 1] <= start - 0.1 * drop)[0])
        out["lr_fall"] = float(lrs[fall])
        suggestion = out["lr_at_min"] / 10
        if suggestion < out["lr_fall"]:
            suggestion = math.sqrt(out["lr_fall"] * out["lr_at_min"])
        out["suggestion"] = suggestion
    elif start > 0:
        # A curve that never fell can still diverge: with Adam the step size is the lr itself, so a sweep
        # into lrs of 1 and more drives the loss up several-fold without passing a minimum first. A
        # smoothed loss at RISE_FACTOR times its start is far beyond batch noise.
        risen = np.flatnonzero(sm >= RISE_FACTOR * start)
        if len(risen):
            climbed = float(lrs[risen[0]])
            if out["diverge_lr"] is None or climbed < out["diverge_lr"]:
                out["diverge_lr"] = climbed
    return out


def sweep_bounds(user_lr: float) -> tuple[float, float]:
    """From 1e-6 (or 100x below the user's lr) to 10 (or 10x above it): the user's lr is always on the curve."""
    return min(1e-6, user_lr / 100), max(10.0, user_lr * 10)


def lr_range_probe(data: ProbeData, subject, *, steps: int, lr_min: float | None = None, lr_max: float | None = None,
                   seed: int | None = None, seconds: float | None = None, runtime: Runtime | None = None,
                   progress: Callable[[str], None] | None = None) -> LRRange:
    """``run_lr_range_test`` on prepared ``ProbeData``."""
    import torch

    seed = subject.seed if seed is None else int(seed)
    lo, hi = sweep_bounds(subject.lr)
    lo, hi = lr_min or lo, lr_max or hi
    lrs = np.exp(np.linspace(math.log(lo), math.log(hi), steps)).tolist()
    result = LRRange(lrs=[], losses=[], user_lr=subject.lr, lr_min=lo, lr_max=hi, max_steps=steps)
    runtime = runtime or runtime_for(data, subject)
    sampler = BatchSampler(data.n_train, subject.batch_size, seed + 5)
    start = time.perf_counter()
    times = []
    with using_threads(runtime.threads):
        model = subject.build_model()
        torch.manual_seed(seed)
        optimizer = subject.make_optimizer(model.parameters(), lr=lo)
        result.optimizer = type(optimizer).__name__
        base = [g["lr"] for g in optimizer.param_groups]
        first = None
        try:
            for step, lr in enumerate(lrs):
                for g, b in zip(optimizer.param_groups, base):
                    g["lr"] = lr * (b / lo) if lo else lr  # keeps the ratios between the user's groups
                idx = sampler.next()
                t0 = time.perf_counter()
                xb = data.inputs("train", idx)
                value = step_loss(model, data, subject, optimizer, xb, idx)
                times.append(time.perf_counter() - t0)
                result.lrs.append(lr)
                result.losses.append(value)
                if step < 3 and math.isfinite(value):
                    first = value if first is None else min(first, value)
                if not math.isfinite(value) or (first is not None and step >= 3 and value > DIVERGE_FACTOR * first):
                    result.stopped_by = "diverged"
                    result.nonfinite_input = bool(not torch.isfinite(xb).all())
                    break
                if progress is not None and (step + 1) % max(1, steps // 4) == 0:
                    progress(f"LR range test: step {step + 1}/{steps}")
                if seconds is not None and step + 1 < steps and time.perf_counter() - start > seconds:
                    result.stopped_by = "time"  # a safety net only: the sweep is then inconclusive
                    break
        except Exception as exc:
            result.error, result.stopped_by = error_text(exc), "error"
    landmarks = analyse_curve(result.lrs, result.losses, diverged_at_end=result.stopped_by == "diverged")
    for key, value in landmarks.items():
        setattr(result, key, value)
    result.seconds = time.perf_counter() - start
    result.step_seconds = float(np.median(times)) if times else None
    return result


def run_lr_range_test(subject, train_X, train_y, *, steps: int, lr_min: float | None = None,
                      lr_max: float | None = None, seed: int | None = None, seconds: float | None = None,
                      loss=None, step_train_y=None) -> LRRange:
    """Sweep the lr exponentially from ``lr_min`` to ``lr_max`` over ``steps`` steps from fresh weights.

    ``train_X`` as fed to the model and ``train_y`` int64 class ids (as for ``run_training_probe``);
    the subject's optimizer, batch size and ``train_step`` are used. The sweep stops when the loss
    becomes non-finite or exceeds four times its starting value. ``seconds`` is a wall-clock
    safety net, not a length: a sweep it stops is ``truncated`` (inconclusive). Returns the raw and smoothed
    curves and the landmarks described in this module's docstring.
    """
    data = prepare_probe_data(subject, train_X, train_y, loss=loss, step_train_y=step_train_y,
                              n_classes=subject.labels.n_classes if getattr(subject, "labels", None) else None)
    return lr_range_probe(data, subject, steps=steps, lr_min=lr_min, lr_max=lr_max, seed=seed, seconds=seconds)
