"""Facts from training probes: short runs from fresh weights at the user's own settings.

The measuring lives in ``cnndoctor.probes.train`` (training probe), ``cnndoctor.probes.overfit``,
``cnndoctor.probes.lr_range`` and ``cnndoctor.probes.params``; these facts only wire them to the
context: the arrays as fed (``feed``), the class ids (``labels``), the loss (``loss``) and
the budget. One training probe feeds every check that reads curves, gradients or units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..context import fact
from ..errors import FactUnavailable
from ..probes.budget import CAP_FACTOR, ProbeBudget, probe_budget_for, time_cap, truncated_reason
from ..probes.data import CLASS_LOSSES, ProbeData, label_entropy, prepare_probe_data
from ..probes.eval import ModeGap, eval_indices, evaluate
from ..probes.lr_range import LRRange, lr_range_probe
from ..probes.overfit import OverfitResult, overfit_probe
from ..probes.params import ParameterInventory
from ..probes.params import parameter_inventory as _inventory
from ..probes.train import ProbeRun, Runtime, runtime_for, train_probe

__all__ = ["InitialLoss", "ZeroInputBaseline", "ZERO_INPUT_SKIP_MARGIN"]

# The zeroed-input run is skipped when the real-input probe's loss is this far below the lowest
# loss any input-independent model can reach (the label entropy): the baseline cannot match it.
ZERO_INPUT_SKIP_MARGIN = 0.1


def _progress(ctx, text: str) -> None:
    if ctx.progress is not None:
        ctx.progress(text)


@fact
def probe_budget(ctx) -> ProbeBudget:
    return probe_budget_for(ctx.budget)


@fact
def probe_data(ctx) -> ProbeData:
    """The arrays as fed, class ids and loss the probes train with (checked on one batch)."""
    feed = ctx.feed
    if not feed.ok:
        raise FactUnavailable("the forward pass fails on the data (see A101), so no training probe can run")
    labels = ctx.labels
    raw = np.asarray(labels.raw_train)
    step_y = raw if raw.dtype.kind in "iufb" else labels.train  # what the user's own loader would yield
    return prepare_probe_data(ctx.subject, feed.train, labels.train, feed.test,
                              labels.test if feed.test is not None else None, loss=ctx.loss,
                              n_classes=labels.n_classes, step_train_y=step_y)


@fact
def probe_runtime(ctx) -> Runtime:
    """One warm-up step, the thread count and the measured seconds per training step."""
    _progress(ctx, "probes: warming up")
    runtime = runtime_for(ctx.probe_data, ctx.subject)
    _time(ctx, "probe_runtime.warmup_seconds", runtime.warmup_seconds)
    _time(ctx, "probe_runtime.step_seconds", runtime.step_seconds)
    return runtime


@dataclass(frozen=True)
class InitialLoss:
    value: float | None
    expected: float | None  # ln K (ln 2 for a binary head); None for losses without a reference
    prior_entropy: float  # the loss of predicting the class frequencies
    logit_rms: float | None  # typical magnitude of the outputs at initialisation
    n_samples: int
    loss_name: str
    loss_kind: str
    output_width: int
    n_classes: int
    nonfinite_inputs: int = 0  # samples of the slice whose input holds NaN/Inf


@fact
def initial_loss(ctx) -> InitialLoss:
    """The loss of freshly initialised weights (train mode, nothing updated) on a training slice."""
    data, subject = ctx.probe_data, ctx.subject
    idx = eval_indices(data.n_train, ctx.probe_budget.eval_samples, subject.seed + 1)
    result = evaluate(subject.build_model(), data, "train", idx, train_mode=True, chunk=max(2, subject.batch_size),
                      keep_outputs=True)
    rms = None
    if result.outputs is not None and np.isfinite(result.outputs).all():
        rms = float(np.sqrt(np.mean(result.outputs.astype(np.float64) ** 2)))
    return InitialLoss(result.loss, data.expected_initial_loss, label_entropy(data.labels("train", idx)), rms,
                       len(idx), data.loss_name, data.loss_kind, data.output_width, data.n_classes,
                       result.nonfinite_inputs)


@fact
def parameter_inventory(ctx) -> ParameterInventory:
    """requires_grad, optimizer membership and reach from the loss of every parameter tensor."""
    return _inventory(ctx.probe_data, ctx.subject)


def _time(ctx, key: str, seconds: float | None) -> None:
    """Wall-clock measurements go to the report's timings (seeded findings stay reproducible)."""
    if seconds is not None:
        ctx.timings[key] = float(seconds)


def _note_cap(ctx, what: str, stopped_by: str, steps: int, max_steps: int, step_seconds, cap=None) -> None:
    if stopped_by == "time":
        per = f" ({step_seconds:.3g} s per step measured)" if step_seconds else ""
        limit = f" of {cap:.0f} s" if cap else ""
        ctx.note(f"The {what} stopped at its time cap{limit} after {steps} of {max_steps} planned steps{per}, so it "
                 "is inconclusive: the checks that would judge it are skipped. The cap is a safety net for "
                 f"pathologically slow models ({CAP_FACTOR:g}x the planned work at the measured step time); a slower "
                 "model than that, or a machine many times slower than at the warm-up, reaches it.")


def _eval_steps(b: ProbeBudget, batch: int, points: int) -> float:
    """Evaluations of a run, counted in training steps of ``batch`` (a forward pass counted as a whole step)."""
    return points * 2 * b.eval_samples / max(1, batch)


def training_cap(ctx) -> float:
    """The safety net of one training probe run (real or zeroed inputs): steps plus curve evaluations."""
    b = ctx.probe_budget
    work = b.train_steps + _eval_steps(b, ctx.subject.batch_size, b.curve_points + 3)
    return time_cap(b, ctx.probe_runtime.step_seconds, work)


@fact
def training_probe(ctx) -> ProbeRun:
    """A short training run at the user's settings (loss, optimizer, lr, batch size, train_step)."""
    b = ctx.probe_budget
    runtime = ctx.probe_runtime
    _progress(ctx, "training probe")
    cap = training_cap(ctx)
    run = train_probe(ctx.probe_data, ctx.subject, steps=b.train_steps, eval_samples=b.eval_samples,
                      curve_points=b.curve_points, seconds=cap, progress=ctx.progress, runtime=runtime)
    _note_cap(ctx, "training probe", run.stopped_by, run.steps, run.max_steps, run.step_seconds, cap)
    _time(ctx, "training_probe.step_seconds", run.step_seconds)
    _time(ctx, "training_probe.seconds", run.seconds)
    _time(ctx, "training_probe.time_cap", cap)
    return run


@fact
def train_eval_gap(ctx) -> ModeGap:
    """The training probe's final weights in train mode vs eval mode (BatchNorm), on the same training slice."""
    run = ctx.training_probe
    if run.truncated:
        raise FactUnavailable(truncated_reason("training probe", run.steps, run.max_steps))
    if run.mode_gap is None:
        if run.error or run.nonfinite:
            raise FactUnavailable("the training probe did not finish cleanly, so its weights cannot be compared "
                                  "across modes")
        raise FactUnavailable("the model has no BatchNorm layer with running statistics, so train and eval mode "
                              "normalise the same way")
    return run.mode_gap


@dataclass
class ZeroInputBaseline:
    """Karpathy's input-independent baseline: the same short training with every input set to zero."""

    ran: bool
    reason: str
    floor_loss: float | None  # no model that ignores its input can score a lower loss on the training slice
    floor_accuracy: float  # ... nor a higher accuracy than always predicting the slice's majority class
    run: ProbeRun | None

    @property
    def train_loss(self) -> float | None:
        return self.run.train_loss if self.run is not None else None

    @property
    def train_accuracy(self) -> float | None:
        return self.run.train_accuracy if self.run is not None else None

    @property
    def held_out_accuracy(self) -> float | None:
        return self.run.held_out_accuracy if self.run is not None else None


def _floor(data: ProbeData, run: ProbeRun, seed: int, eval_samples: int) -> tuple[float | None, float]:
    idx = eval_indices(data.n_train, eval_samples, seed + 1)
    labels = data.labels("train", idx)
    majority = float(np.bincount(labels - labels.min()).max() / len(labels))
    weighted = any(getattr(data.loss_fn, name, None) is not None for name in ("weight", "pos_weight"))
    bounded = data.loss_kind in CLASS_LOSSES or (data.loss_kind in ("bce_logits", "bce") and data.output_width == 1)
    return (label_entropy(labels) if bounded and not weighted else None), majority


@fact
def zero_input_probe(ctx) -> ZeroInputBaseline:
    """Train on zeroed inputs, unless the real-input probe already beats any input-independent model."""
    real = ctx.training_probe
    data, b = ctx.probe_data, ctx.probe_budget
    if real.error is not None and real.steps == 0:
        raise FactUnavailable(f"the training step fails ({real.error}), so there is nothing to compare")
    if real.truncated:  # neither the skip below nor a comparison may rest on a truncated run
        raise FactUnavailable(truncated_reason("training probe", real.steps, real.max_steps))
    floor, majority = _floor(data, real, ctx.subject.seed, b.eval_samples)
    if floor is not None and real.train_loss is not None and math.isfinite(real.train_loss) \
            and real.train_loss < floor * (1 - ZERO_INPUT_SKIP_MARGIN):
        return ZeroInputBaseline(False, f"the real-input probe reached loss {real.train_loss:.4g}, below the "
                                        f"{floor:.4g} that no input-independent model can beat", floor, majority, None)
    _progress(ctx, "zeroed-input baseline")
    cap = training_cap(ctx)
    run = train_probe(data, ctx.subject, steps=real.max_steps, zero_inputs=True, eval_samples=b.eval_samples,
                      curve_points=b.curve_points, seconds=cap, progress=ctx.progress,
                      runtime=ctx.probe_runtime, label="zeroed-input baseline")
    _note_cap(ctx, "zeroed-input baseline", run.stopped_by, run.steps, run.max_steps, run.step_seconds, cap)
    _time(ctx, "zero_input_probe.seconds", run.seconds)
    return ZeroInputBaseline(True, "the real-input probe did not beat the input-independent bound", floor,
                             majority, run)


@fact
def overfit_batch(ctx) -> OverfitResult:
    """Memorise one small class-balanced batch at the user's lr, then (if that fails) at a sane lr."""
    b = ctx.probe_budget
    # one attempt: its steps on a batch of up to 32 (counted in steps of the user's batch size) and its checks
    k = min(b.overfit_batch, 32, ctx.probe_data.n_train)
    per_step = max(1.0, k / max(1, ctx.subject.batch_size))
    work = per_step * (b.overfit_steps * (1 + 1 / max(1, b.overfit_check_every)) + 2)
    cap = time_cap(b, ctx.probe_runtime.step_seconds, work)  # each attempt's own safety net
    result = overfit_probe(ctx.probe_data, ctx.subject, steps=b.overfit_steps, batch=b.overfit_batch,
                           retries=b.overfit_retries, check_every=b.overfit_check_every, seconds=cap,
                           runtime=ctx.probe_runtime, progress=ctx.progress)
    for i, a in enumerate(result.attempts):
        _note_cap(ctx, f"overfit probe at lr {a.lr:g}", a.stopped_by, a.steps, a.max_steps, None, cap)
        _time(ctx, f"overfit_batch.attempt{i}.seconds", a.seconds)
    return result


@fact
def memorise_thresholds(ctx) -> dict:
    """T101's thresholds for "one batch cannot be memorised" (``min_accuracy``, ``stuck_fraction``), as
    registered or as the user set them: checks that reuse T101's verdict on the overfit probe (T202) judge
    it with T101's own thresholds, as the gate does (``ChanceRule.for_thresholds``)."""
    t = ctx.thresholds_for("T101")
    return {"min_accuracy": t["min_accuracy"], "stuck_fraction": t["stuck_fraction"]}


@fact
def lr_range(ctx) -> LRRange:
    """An exponential learning-rate sweep from fresh weights with the user's optimizer and batch size."""
    b = ctx.probe_budget
    _progress(ctx, "LR range test")
    cap = time_cap(b, ctx.probe_runtime.step_seconds, b.lr_steps)
    result = lr_range_probe(ctx.probe_data, ctx.subject, steps=b.lr_steps, seconds=cap,
                            runtime=ctx.probe_runtime, progress=ctx.progress)
    _note_cap(ctx, "LR range test", result.stopped_by, len(result.losses), result.max_steps, result.step_seconds,
              cap)
    _time(ctx, "lr_range.step_seconds", result.step_seconds)
    _time(ctx, "lr_range.seconds", result.seconds)
    return result
