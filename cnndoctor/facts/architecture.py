"""Facts about the architecture: why the forward pass fails and what fixes it, the receptive
field at the head, the signal's time scale, what the last operation does to the logits, and
the parameter count."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..context import fact
from ..errors import FactUnavailable
from ..measure.local_baselines import LocalBaselines, local_baselines
from ..trace.faults import Patch, ShapeFault, analyse, apply_patches
from ..trace.feed import fed_time_axis
from ..trace.forward import trace_forward
from ..trace.receptive_field import (
    ReceptiveField,
    analytic_receptive_field,
    gradient_receptive_field,
    head_feature_map,
    head_kind,
    temporal_length,
)

__all__ = ["LOG_PROB_MAX", "RELU_ZERO_FRACTION", "ROW_SUM_TOLERANCE", "ForwardFaults", "ModelSize",
           "OutputActivation"]

# What the outputs of a fresh model must look like to be read as already squashed (L202/L203 judge what follows;
# diagnosis/fixes.py re-reads a functional softmax with the same tolerance). Raw logits never show these:
ROW_SUM_TOLERANCE = 1e-4  # |row sum - 1| (softmax) or |logsumexp| (log_softmax): float32 rounding is ~1e-7
LOG_PROB_MAX = 1e-6  # log-probabilities are <= 0: the largest output a log_softmax may show, rounding included
RELU_ZERO_FRACTION = 0.05  # share of output values exactly 0 that marks a ReLU (or clamp) at the end

_MAX_REPAIR_ROUNDS = 6
_GRADIENT_SAMPLES = 8


@dataclass
class ForwardFaults:
    """Each failure of the forward pass in turn: the first as the model is written, the next
    ones found by re-running it with the previous fixes applied."""

    faults: list[ShapeFault]
    applied: list[Patch] = field(default_factory=list)
    runs_after_fix: bool | None = None  # None: the fixes could not be applied and checked
    output_after_fix: Any = None


def _same_fault(a: ShapeFault, b: ShapeFault) -> bool:
    """Several convolutions reading the same wrong input: one fault, reported once."""
    keys = ("expected", "got")
    return a.kind == b.kind == "conv-channels" and all(a.details.get(k) == b.details.get(k) for k in keys)


@fact
def forward_faults(ctx) -> ForwardFaults:
    feed = ctx.feed
    if feed.ok:
        return ForwardFaults([])
    ctx.shape_trace  # marks the time axes on the failing trace  # noqa: B018
    attempt = feed.attempts[0]
    faults = [analyse(attempt.trace)]
    applied: list[Patch] = []
    result = ForwardFaults(faults, applied)
    pending = list(faults[0].patches)
    for _ in range(_MAX_REPAIR_ROUNDS):
        if not pending or attempt.batch is None:
            break
        try:
            model = ctx.subject.build_model()
            apply_patches(model, applied + pending)
        except Exception:  # noqa: BLE001 — a patch that does not fit this module: report without the check
            break
        applied.extend(pending)
        with warnings.catch_warnings():  # e.g. torch's note on padding='same' with an even kernel
            warnings.simplefilter("ignore")
            trace = trace_forward(model, attempt.batch)
        if trace.ok:
            result.runs_after_fix, result.output_after_fix = True, trace.output_shape
            break
        following = analyse(trace)
        if (following.layer, following.kind) == (faults[-1].layer, faults[-1].kind):
            result.runs_after_fix = False
            break
        if _same_fault(faults[-1], following):
            faults[-1].details.setdefault("layers", [faults[-1].layer]).append(following.layer)
            faults[-1].patches.extend(following.patches)
        else:
            following.after = list(applied)
            faults.append(following)
        pending = list(following.patches)
    return result


@fact
def fed_axes(ctx) -> tuple[int | None, int | None]:
    """(time axis, channel axis) of the arrays as fed to the model."""
    feed = ctx.feed
    stored = ctx.inputs["train"]
    layout = ctx.data_layout.channel_axis if stored.ndim == 3 else None
    t = fed_time_axis(feed.transform, stored.ndim, layout)
    return t, (None if t is None else 3 - t)


@fact
def receptive_field(ctx) -> ReceptiveField:
    """The receptive field of the last temporal feature map before the head."""
    feed = ctx.feed
    if not feed.ok:
        raise FactUnavailable("the forward pass fails (see A101)")
    trace = ctx.shape_trace
    fmap = head_feature_map(trace)
    if fmap is None:
        raise FactUnavailable("no layer output keeps a time axis longer than one step")
    time_axis = ctx.fed_axes[0]
    length = int(feed.train.shape[time_axis]) if time_axis is not None else int(trace.input_shape[-1])
    kind = head_kind(trace, fmap)
    exact = analytic_receptive_field(trace, fmap)
    if exact is not None:
        size, stack = exact
        return ReceptiveField(size, "analytic", fmap.name, int(temporal_length(fmap)), length, kind, stack)
    if time_axis is None:
        raise FactUnavailable("the time axis of the fed arrays is unknown, so the input gradient cannot be read")
    occurrence = sum(1 for c in trace.calls if c.name == fmap.name and c.index <= fmap.index)
    batch = feed.tensor("train", slice(0, _GRADIENT_SAMPLES), ctx.subject.device)
    size = gradient_receptive_field(ctx.subject.build_model, batch, time_axis, fmap, occurrence)
    if size is None:
        raise FactUnavailable(f"the input gradient of `{fmap.name}` is zero everywhere")
    return ReceptiveField(size, "input gradient", fmap.name, int(temporal_length(fmap)), length, kind)


@fact
def receptive_field_baselines(ctx) -> LocalBaselines:
    """The pooled random-kernel baseline restricted to windows of the receptive field, doubled, … and the whole
    series (A201). Only for heads that pool over time: they share its invariance to where a window sits."""
    rf = ctx.receptive_field
    if rf.head == "flatten":
        raise FactUnavailable("the head flattens the feature map: its dense layer sees every position, so one "
                              "unit's receptive field does not bound what the model sees")
    if rf.head == "sequence model":
        raise FactUnavailable("a recurrent or attention layer reads the whole sequence after the convolutions")
    if rf.head != "global pooling":
        raise FactUnavailable(f"the head does not pool over time ({rf.head}); A104 judges a head that keeps or "
                              "reads the time axis")
    sub = ctx.baseline_sample
    if len(np.unique(sub.y_train)) < 2 or not len(sub.y_test):
        raise FactUnavailable("the baselines need two classes in the training split and a test split")
    if sub.X_train.shape[2] != rf.input_length:
        raise FactUnavailable(f"the model's time axis has {rf.input_length} steps but the series have "
                              f"{sub.X_train.shape[2]}, so the receptive field is not in the series' samples")
    # A201's own thresholds (overrides included) say when the first, smaller look already settles its verdict
    judge = {k: float(v) for k, v in ctx.thresholds_for("A201").items() if k in ("z", "min_share")}
    return local_baselines(sub.X_train, sub.y_train, sub.X_test, sub.y_test, rf.size, seed=ctx.subject.seed,
                           settled=lambda first: first.settled(**judge))


_LINEAR_OUTPUTS = {"Linear", "LazyLinear", "Conv1d", "LazyConv1d", "Bilinear", "linear", "conv1d"}
_ACTIVATIONS = {"softmax", "log_softmax", "sigmoid", "relu", "tanh", "hardtanh", "relu6", "softplus",
                "clamp", "elu", "gelu", "silu", "leaky_relu", "hardsigmoid", "softsign", "abs", "exp"}


@dataclass(frozen=True)
class OutputActivation:
    """The last operation applied to the model's outputs, and what the outputs look like."""

    name: str | None  # softmax, log_softmax, sigmoid, relu, tanh, ...; None: raw logits
    source: str  # where it was found
    module: str | None  # the module that applied it (None: a call in forward, or inferred)
    width: int
    stats: dict  # measured on the outputs of a fresh model
    raw_from: str | None = None  # the linear layer the outputs come straight from (certainly raw logits)


def _output_stats(out: np.ndarray) -> dict:
    out = out.reshape(len(out), -1).astype(np.float64)
    finite = out[np.isfinite(out).all(axis=1)]
    if not len(finite):
        return {"n_samples": len(out), "finite": False}
    row_sum = finite.sum(axis=1)
    peak = finite.max(axis=1, keepdims=True)
    lse = (peak[:, 0] + np.log(np.exp(finite - peak).sum(axis=1)))
    return {"n_samples": len(out), "finite": True, "min": float(finite.min()), "max": float(finite.max()),
            "row_sum_max_deviation": float(np.abs(row_sum - 1).max()),
            "logsumexp_max_deviation": float(np.abs(lse).max()),
            "fraction_exact_zero": float((finite == 0).mean()),
            "fraction_negative": float((finite < 0).mean()),
            "fraction_in_unit_interval": float(((finite >= 0) & (finite <= 1)).mean())}


def _infer_from_outputs(stats: dict, width: int) -> str | None:
    """Only the signatures raw logits never show: rows summing to 1, log-probabilities, exact zeros."""
    if not stats.get("finite"):
        return None
    if width >= 2 and stats["min"] >= 0 and stats["max"] <= 1 and stats["row_sum_max_deviation"] < ROW_SUM_TOLERANCE:
        return "softmax"
    if width >= 2 and stats["max"] <= LOG_PROB_MAX and stats["logsumexp_max_deviation"] < ROW_SUM_TOLERANCE:
        return "log_softmax"
    if stats["min"] >= 0 and stats["fraction_exact_zero"] >= RELU_ZERO_FRACTION:
        return "relu"
    return None


@fact
def output_activation(ctx) -> OutputActivation:
    """Softmax / sigmoid / log-softmax / ReLU at the end, from the operations and from the outputs."""
    out = ctx.model_output
    trace = ctx.shape_trace
    width = 1 if out.ndim == 1 else int(np.prod(out.shape[1:]))
    stats = _output_stats(out)
    op = trace.output_op
    if op in _ACTIVATIONS:
        module = trace.output_op_module if trace.output_op_module not in (None, "(model)") else None
        where = f"module `{module}`" if module else "a call in forward()"
        return OutputActivation(op, f"{op} applied last, by {where}", module, width, stats)
    inferred = _infer_from_outputs(stats, width)
    if inferred is not None:
        return OutputActivation(inferred, "the outputs themselves", None, width, stats)
    raw = trace.output_op_module if op in _LINEAR_OUTPUTS else None
    return OutputActivation(None, "no activation after the last layer", None, width, stats, raw)


@dataclass(frozen=True)
class ModelSize:
    trainable: int
    total: int
    largest: list  # [{"layer", "type", "params", "share"}] the biggest layers first (at most 3)


@fact
def model_size(ctx) -> ModelSize:
    """Parameters of every module that ran in the forward pass (each counted once)."""
    trace = ctx.shape_trace
    seen: dict[str, Any] = {}
    for call in trace.calls:
        seen.setdefault(call.name, call)
    trainable = sum(c.trainable for c in seen.values())
    total = sum(c.params for c in seen.values())
    big = sorted((c for c in seen.values() if c.trainable), key=lambda c: -c.trainable)[:3]
    largest = [{"layer": c.name, "type": c.type, "params": c.trainable,
                "share": c.trainable / trainable if trainable else 0.0} for c in big]
    return ModelSize(trainable, total, largest)
