"""Automatic fixes applied to a *copy* of the subject, so a short probe can verify them.

A fixer is registered for the codes whose fix it applies: ``fixer(subject, ctx, finding)``
returns ``(fixed_subject, description)`` or ``None`` when this instance cannot be fixed
automatically. Fixers never touch the user's files, arrays or model: they wrap the model
factory, the preprocess or the labels of a new ``Subject``.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from ..keras import fixes as keras_fixes
from ..load.labels import encode_labels
from ..load.preprocess import then

__all__ = ["FIXERS", "fixer", "fix_for"]

FIXERS: dict[str, Callable] = {}


def fixer(*codes: str):
    def register(func):
        for code in codes:
            FIXERS[code] = func
        return func

    return register


def fix_for(code: str):
    return FIXERS.get(code)


def _after_preprocess(subject, step, name: str):
    """A copy of ``subject`` that runs ``step`` after everything its preprocess does (fitted steps included)."""
    return dataclasses.replace(subject, **then(subject.preprocess, subject.fit_preprocess, step, name))


def _channel_shape(ndim: int, channel_axis: int | None, n: int) -> tuple:
    if ndim == 2 or channel_axis is None:
        return (1, 1)
    return (1, n, 1) if channel_axis == 1 else (1, 1, n)


@fixer("D102", "D103", "D105")
def standardise(subject, ctx, finding):
    """Standardise each channel with the training split's statistics, applied to every split."""
    stats = ctx.input_stats["train"]
    axis = ctx.data_layout.channel_axis
    ndim = ctx.inputs["train"].ndim
    shape = _channel_shape(ndim, axis, stats.n_channels)
    mean = np.nan_to_num(stats.mean).reshape(shape).astype(np.float32)
    std = (np.nan_to_num(stats.std, nan=1.0) + 1e-8).reshape(shape).astype(np.float32)
    return (_after_preprocess(subject, lambda X: (X - mean) / std, "standardise"),
            "standardising each channel with training statistics")


@fixer("D301")
def transpose_axes(subject, ctx, finding):
    """Feed the arrays with their last two axes swapped."""
    if ctx.inputs["train"].ndim != 3:
        return None
    fixed = _after_preprocess(subject, lambda X: np.ascontiguousarray(np.swapaxes(X, 1, 2)), "transpose")
    return dataclasses.replace(fixed, layout="auto"), "transposing the last two axes"


@fixer("D101")
def drop_nonfinite(subject, ctx, finding):
    """Drop the samples holding NaN/Inf from every split (the arrays are copied, never edited)."""
    data = subject.data
    keep = {}
    for split, X in ctx.inputs.items():
        keep[split] = np.isfinite(X.reshape(len(X), -1)).all(axis=1)
    if all(k.all() for k in keep.values()):
        return None
    if any(k.sum() < max(2, 0.1 * len(k)) for k in keep.values()):
        return None  # dropping would leave (almost) nothing: the values must be repaired, not dropped
    new = dataclasses.replace(
        data, X_train=data.X_train[keep["train"]], y_train=data.y_train[keep["train"]],
        X_test=data.X_test[keep["test"]] if data.X_test is not None else None,
        y_test=data.y_test[keep["test"]] if data.y_test is not None else None)
    labels = encode_labels(new.y_train, new.y_test)
    # the user's batch order (when the probes follow it) over the rows that are left
    order = subject.batch_order.restricted(keep["train"]) if getattr(subject, "batch_order", None) else None
    return (dataclasses.replace(subject, data=new, labels=labels, batch_order=order),
            "dropping the samples that hold NaN/Inf")


@fixer("L101")
def remap_labels(subject, ctx, finding):
    """Map the labels to 0..K-1 in sorted order."""
    labels = subject.labels
    if labels.kind not in ("integer", "float-integer", "float"):
        return None
    classes = labels.classes
    raw_train = np.searchsorted(classes, labels.raw_train).astype(np.int64)
    raw_test = None if labels.raw_test is None else np.searchsorted(classes, labels.raw_test).astype(np.int64)
    data = dataclasses.replace(subject.data, y_train=raw_train, y_test=raw_test)
    return (dataclasses.replace(subject, data=data, labels=encode_labels(raw_train, raw_test)),
            f"remapping the labels to 0..{len(classes) - 1}")


_FINAL_ACTIVATIONS = ("Softmax", "LogSoftmax", "Sigmoid", "ReLU", "Softmin", "Tanh", "Hardtanh", "ReLU6")


def _last_leaf(model):
    """(parent, attribute name, module) of the last leaf module registered, or None."""
    last = None
    for name, module in model.named_modules():
        if not any(True for _ in module.children()) and name:
            last = name
    if last is None:
        return None
    parent_name, _, attr = last.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    return parent, attr, getattr(parent, attr)


def _wrap_factory(subject, edit):
    original = subject.factory

    def factory():
        model = original()
        edit(model)
        return model

    return factory


@fixer("L202", "L203")
def drop_final_activation(subject, ctx, finding):
    """Remove a final softmax/sigmoid/ReLU module; for a functional softmax, feed its log to NLLLoss.

    Keras: L202 sets the compiled loss's ``from_logits`` to match the output; L203 drops the
    last Dense layer's activation.
    """
    import torch

    if keras_fixes.is_keras_subject(subject):
        return keras_fixes.flip_from_logits(subject) if finding.code == "L202" else keras_fixes.linear_output(subject)
    probe = subject.build_model()
    found = _last_leaf(probe)
    if found is not None and type(found[2]).__name__ in _FINAL_ACTIVATIONS:
        kind = type(found[2]).__name__

        def edit(model):
            parent, attr, _ = _last_leaf(model)
            setattr(parent, attr, torch.nn.Identity())

        fixed = dataclasses.replace(subject, factory=_wrap_factory(subject, edit))
        if kind == "LogSoftmax" and ctx.loss.kind == "nll":
            return None
        if kind == "Sigmoid" and ctx.loss.kind == "bce":
            fixed = dataclasses.replace(fixed, loss_fn=torch.nn.BCEWithLogitsLoss())
        return fixed, f"removing the final {kind}"
    from ..facts.architecture import ROW_SUM_TOLERANCE  # the tolerance output_activation reads a softmax with

    out = ctx.model_output
    rows_sum_to_one = out.ndim == 2 and len(out) > 0 and bool(
        np.abs(out.astype(np.float64).sum(1) - 1).max() < ROW_SUM_TOLERANCE)
    if out.ndim == 2 and out.shape[1] > 1 and rows_sum_to_one and ctx.loss.kind == "cross_entropy":
        def log_nll(output, target):
            return torch.nn.functional.nll_loss(torch.log(output.clamp_min(1e-12)), target)

        return dataclasses.replace(subject, loss_fn=log_nll), "feeding log(softmax output) to NLLLoss"
    return None


@fixer("L201")
def set_head_width(subject, ctx, finding):
    """Replace the last Linear layer by one with K outputs (1 for a binary head with BCE)."""
    k = ctx.n_classes
    width = 1 if k == 2 and ctx.loss.kind in ("bce_logits", "bce") else k
    if keras_fixes.is_keras_subject(subject):
        activation = ctx.output_activation.name if ctx.has("output_activation") else None
        return keras_fixes.rebuild_head(subject, units=width, activation=activation)
    return _widen_last_linear(subject, width)


def _widen_last_linear(subject, width: int):
    import torch

    def last_linear(model):
        last = None
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Linear):
                last = name
        return last

    if last_linear(subject.build_model()) is None:
        return None

    def edit(model):
        name = last_linear(model)
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        old = getattr(parent, attr)
        setattr(parent, attr, torch.nn.Linear(old.in_features, width, bias=old.bias is not None))

    return (dataclasses.replace(subject, factory=_wrap_factory(subject, edit)),
            f"setting the head's out_features to {width}")


@fixer("L204")
def classification_loss(subject, ctx, finding):
    """Switch to CrossEntropyLoss (or BCEWithLogitsLoss for a one-output binary head), widening the
    head to K outputs when it is narrower: a loss switch alone cannot train a 1-wide head on K classes."""
    import torch

    out = ctx.model_output
    width = 1 if out.ndim == 1 else out.shape[1]
    k = ctx.n_classes
    if keras_fixes.is_keras_subject(subject):
        return keras_fixes.classification_head(subject, k)
    if width == 1 and k == 2:
        return dataclasses.replace(subject, loss_fn=torch.nn.BCEWithLogitsLoss()), "using BCEWithLogitsLoss"
    fixed = dataclasses.replace(subject, loss_fn=torch.nn.CrossEntropyLoss())
    if width == k:
        return fixed, "using CrossEntropyLoss"
    widened = _widen_last_linear(fixed, k)
    if widened is None:
        return None
    return widened[0], f"using CrossEntropyLoss and {widened[1]}"


@fixer("T201", "T202")
def suggested_lr(subject, ctx, finding):
    """Use the learning rate the range test suggested."""
    for key in ("suggested_lr", "suggestion", "lr_suggested"):
        value = finding.evidence.get(key)
        if isinstance(value, (int, float)) and value > 0:
            # the user's optimizer with every other setting kept: only the learning rate moves
            fixed = dataclasses.replace(subject, lr=float(value))
            return fixed, (f"using the suggested lr {value:.2g} instead of {subject.lr:.2g} "
                           f"({subject.optimizer_brief()})")
    return None


@fixer("T103")
def unfreeze(subject, ctx, finding):
    """Make every parameter trainable."""
    if keras_fixes.is_keras_subject(subject):
        return keras_fixes.unfreeze_layers(subject)

    def edit(model):
        for p in model.parameters():
            p.requires_grad_(True)

    return dataclasses.replace(subject, factory=_wrap_factory(subject, edit)), "unfreezing every parameter"


@fixer("D205")
def shuffle_batches(subject, ctx, finding):
    """Train on cnndoctor's seeded shuffle (what ``shuffle=True`` gives) instead of the user's class-ordered
    batches; only when the training probe followed the user's order, else there is nothing to compare."""
    if getattr(subject, "batch_order", None) is None:
        return None
    return (dataclasses.replace(subject, batch_order=None),
            "shuffling the training batches every epoch (DataLoader(..., shuffle=True))")
