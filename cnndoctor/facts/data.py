"""Facts about the data: labels, the arrays the model sees, their layout and statistics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..context import fact
from ..errors import FactUnavailable, InputError
from ..measure.chunked import array_stats as chunked_stats
from ..measure.stats import ArrayStats, array_stats

__all__ = ["DataLayout"]


@fact
def data(ctx):
    return ctx.subject.data


@fact
def labels(ctx):
    return ctx.subject.labels


@fact
def n_classes(ctx) -> int:
    return ctx.subject.labels.n_classes


@fact
def raw_arrays(ctx) -> dict[str, np.ndarray]:
    """The arrays as stored: ``{"train": X, "test": X}`` (test absent when there is none)."""
    d = ctx.subject.data
    return {k: v for k, v in (("train", d.X_train), ("test", d.X_test)) if v is not None}


def _numpy(value, where: str) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    value = np.asarray(value)
    if value.dtype.kind not in "iufb":
        raise InputError(f"preprocess returned an array of dtype {value.dtype} for the {where}; "
                         "it must return numbers (a numpy array or a tensor).")
    return value if value.dtype == np.float32 else value.astype(np.float32)


def _split_names(ctx) -> dict[str, str]:
    return {"train": "training split", "test": ctx.data.held_out.split}


@fact
def preprocessed(ctx) -> dict[str, np.ndarray]:
    """The stored arrays after the user's plain ``preprocess`` (the stored arrays themselves without one)."""
    pre = ctx.subject.preprocess
    raw = ctx.raw_arrays
    if pre is None:
        return raw
    names = _split_names(ctx)
    out = dict(raw)
    for split, X in raw.items():
        try:
            out[split] = _numpy(pre(X.copy()), names[split])  # a copy: preprocess must not change the user's arrays
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"preprocess() from the model file raised {type(exc).__name__}: {exc} on the "
                             f"{names[split]} (shape {X.shape}). It must take an array of samples and return "
                             "the array the model is fed.") from None
    return out


@fact
def train_fitted_transform(ctx):
    """The steps fitted on the training split (``fit_preprocess``, a transformer), fitted on the training split
    after ``preprocess`` and nothing else: the transform applied to every split, or None without such steps.
    On data beyond memory the training split in memory is its seeded sample, and the chunked statistics
    apply this same transform to every chunk."""
    fitted = ctx.subject.fit_preprocess
    if fitted is None:
        return None
    return fitted.fit(ctx.preprocessed["train"])  # the training split only: nothing of the test split


@fact
def inputs(ctx) -> dict[str, np.ndarray]:
    """What the model sees, before any axis change: the stored arrays after the user's ``preprocess``, then
    the steps fitted on the training split (``fit_preprocess``, a transformer), fitted on the training
    split only and applied to every split."""
    subject = ctx.subject
    raw = ctx.raw_arrays
    if not subject.has_preprocess:
        return raw
    names = _split_names(ctx)
    out = ctx.preprocessed
    transform = ctx.train_fitted_transform
    if transform is not None:
        out = {split: _numpy(transform(X, names[split]), names[split]) for split, X in out.items()}
    for split, X in raw.items():
        if len(out[split]) != len(X):
            raise InputError(f"preprocess() returned {len(out[split])} samples for the {names[split]}, which has "
                             f"{len(X)}; it must keep one row per sample.")
    return out


@dataclass(frozen=True)
class DataLayout:
    """Which axis of the stored (after preprocess) arrays holds the channels."""

    channel_axis: int | None  # 1 (N, C, L), 2 (N, L, C) or None (N, L)
    source: str  # "declared", "model", "shape" (a guess from the axis sizes), "single channel"
    reason: str

    @property
    def name(self) -> str:
        return {None: "(N, L)", 1: "(N, C, L)", 2: "(N, L, C)"}[self.channel_axis]


@fact
def data_layout(ctx) -> DataLayout:
    X = ctx.inputs["train"]
    declared = ctx.subject.layout
    if X.ndim == 2:
        return DataLayout(None, "single channel", f"inputs are two-dimensional {X.shape}: one channel")
    if declared in ("ncl", "nlc"):
        return DataLayout(1 if declared == "ncl" else 2, "declared", f"--layout {declared}")
    feed = ctx.feed if ctx.has("feed") else None
    if feed is not None and feed.first_conv_input is not None:
        c_in, length = feed.first_conv_input
        a, b = X.shape[1:]
        stored = {(a, b): 1, (b, a): 2}
        fed_axis = stored.get((c_in, length))  # the fed array is (N, c_in, length) whatever the transform
        if fed_axis is not None and a != b:
            return DataLayout(fed_axis, "model",
                              f"the first convolution receives {c_in} channels of length {length}")
    axis = 2 if X.shape[2] < X.shape[1] else 1
    return DataLayout(axis, "shape", f"the smaller axis ({X.shape[axis]}) of {X.shape[1:]} is taken as channels")


@fact
def input_stats(ctx) -> dict[str, ArrayStats]:
    """Per-split, per-channel statistics of what the model sees (after ``preprocess``)."""
    axis = ctx.data_layout.channel_axis
    if ctx.data.full is not None:  # beyond the memory budget: every row, chunk by chunk (facts/chunked.py)
        return {split: chunked_stats(s, axis if len(s.shape) == 2 else None)
                for split, s in ctx.chunk_statistics.summaries.items()}
    return {split: array_stats(X, axis if X.ndim == 3 else None) for split, X in ctx.inputs.items()}


@fact
def raw_stats(ctx) -> dict[str, ArrayStats]:
    """The same statistics on the stored arrays (equal to ``input_stats`` without ``preprocess``)."""
    if not ctx.subject.has_preprocess:
        return ctx.input_stats
    raw = ctx.raw_arrays
    axis = ctx.data_layout.channel_axis
    if any(raw[s].shape != ctx.inputs[s].shape for s in raw):
        raise FactUnavailable("preprocess changes the array shape, so raw and preprocessed channels differ")
    if ctx.data.full is not None:
        return {split: chunked_stats(s, axis if raw[split].ndim == 3 else None)
                for split, s in ctx.stored_chunk_statistics.summaries.items()}
    return {split: array_stats(X, axis if X.ndim == 3 else None) for split, X in raw.items()}
