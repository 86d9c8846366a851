"""Facts about the scale of the inputs: per-channel statistics per split, before and after preprocess,
and samples or channels that never change."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..context import fact
from ..errors import FactUnavailable
from ..load.data import SplitName
from ..measure.chunked import array_stats as chunked_stats
from ..measure.recordings import RecordingAmplitudes, recording_amplitudes
from ..measure.stats import ArrayStats, array_stats

__all__ = ["NORMALISING_LAYERS", "PER_SAMPLE_NORMALISING_LAYERS", "ChannelScale", "ConstantSplit", "RecordingScales",
           "ScaleReading"]

NORMALISING_LAYERS = ("BatchNorm1d", "InstanceNorm1d", "LayerNorm", "GroupNorm", "LazyBatchNorm1d",
                      "LazyInstanceNorm1d")
_RAW_CHECK = 1000  # constant samples re-checked in the stored arrays


@dataclass(frozen=True)
class ChannelScale:
    """Per-channel scale of one split (arrays with one entry per channel) and the overall mean/std."""

    mean: np.ndarray
    std: np.ndarray
    min: np.ndarray
    max: np.ndarray
    overall_mean: float
    overall_std: float

    @property
    def rms(self) -> np.ndarray:
        return np.sqrt(self.mean ** 2 + self.std ** 2)

    @property
    def offset(self) -> np.ndarray:
        """|mean| in units of the spread (inf for a constant channel with a non-zero value)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.std > 0, np.abs(self.mean) / np.where(self.std > 0, self.std, 1), np.inf)

    @property
    def overall_rms(self) -> float:
        return float(np.sqrt(self.overall_mean ** 2 + self.overall_std ** 2))

    def looks_standardised(self) -> bool:
        live = self.std > 0
        return bool(live.any() and np.all(np.abs(self.mean[live]) <= 0.1) and
                    np.all((self.std[live] >= 0.5) & (self.std[live] <= 2.0)))

    def looks_min_max(self) -> bool:
        return bool(np.all(self.min >= -0.01) and np.all(self.max <= 1.01) and np.any(self.max > 0.5))

    def shift_to(self, other: ChannelScale) -> tuple[np.ndarray, np.ndarray]:
        """Per channel, how ``other`` (a test split) differs from this one (the training split): the shift of its
        mean in units of this split's std (0 or inf for a constant channel) and the ratio of the stds
        (other / this; 1 or inf for a constant channel)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            shift = np.where(self.std > 0, np.abs(other.mean - self.mean) / np.where(self.std > 0, self.std, 1),
                             np.where(other.mean == self.mean, 0.0, np.inf))
            ratio = np.where(self.std > 0, other.std / np.where(self.std > 0, self.std, 1),
                             np.where(other.std == 0, 1.0, np.inf))
        return shift, ratio


def _scale(stats: ArrayStats) -> ChannelScale:
    return ChannelScale(np.nan_to_num(stats.mean), np.nan_to_num(stats.std), np.nan_to_num(stats.min),
                        np.nan_to_num(stats.max), float(np.nan_to_num(stats.overall_mean)),
                        float(np.nan_to_num(stats.overall_std)))


@dataclass(frozen=True)
class ScaleReading:
    inputs: dict  # split -> ChannelScale of what the model sees (after preprocess)
    stored: dict | None  # split -> ChannelScale of the stored arrays; None without preprocess or if shapes differ
    first_layer: str | None  # type of the first layer that runs
    layout: str
    channel_axis: int | None
    held_out: SplitName  # how messages and snippets name the test split (Data.held_out)

    @property
    def model_normalises(self) -> bool:
        return self.first_layer in NORMALISING_LAYERS


def _first_layer(ctx) -> str | None:
    if not ctx.has("shape_trace"):
        return None
    for call in ctx.shape_trace.calls:
        if call.is_leaf:
            return call.type
    return None


@fact
def series_stats(ctx) -> dict[str, ArrayStats]:
    """``input_stats`` per real channel: recomputed (one chunked pass) only when the data's own time axis
    disagrees with ``data_layout``."""
    axis = ctx.series_channel_axis
    if axis == ctx.data_layout.channel_axis or ctx.inputs["train"].ndim == 2:
        return ctx.input_stats
    if ctx.data.full is not None:  # every row: the chunk summaries keep both channel axes
        return {split: chunked_stats(s, axis) for split, s in ctx.chunk_statistics.summaries.items()}
    return {split: array_stats(X, axis) for split, X in ctx.inputs.items()}


def _stored_stats(ctx) -> dict[str, ArrayStats] | None:
    if not ctx.subject.has_preprocess:
        return None
    raw, inputs = ctx.raw_arrays, ctx.inputs
    if any(raw[s].shape != inputs[s].shape for s in raw):
        return None
    axis = ctx.series_channel_axis
    if axis == ctx.data_layout.channel_axis and ctx.has("raw_stats"):
        return ctx.raw_stats
    if ctx.data.full is not None:
        return {split: chunked_stats(s, axis if raw[split].ndim == 3 else None)
                for split, s in ctx.stored_chunk_statistics.summaries.items()}
    return {split: array_stats(X, axis if X.ndim == 3 else None) for split, X in raw.items()}


@fact
def channel_scales(ctx) -> ScaleReading:
    """Per-channel mean/std/min/max of each split, after preprocess and (when it differs) as stored."""
    inputs = {split: _scale(s) for split, s in ctx.series_stats.items()}
    stored = _stored_stats(ctx)
    stored = {split: _scale(s) for split, s in stored.items()} if stored is not None else None
    axis = ctx.series_channel_axis
    name = {None: "(N, L)", 1: "(N, C, L)", 2: "(N, L, C)"}[axis]
    return ScaleReading(inputs, stored, _first_layer(ctx), name, axis, ctx.data.held_out)


@dataclass(frozen=True)
class ConstantSplit:
    """Samples and channels of one split that never change."""

    n: int
    constant_channels: list  # channel indices constant over the whole split
    channel_values: list  # the value each of them holds
    constant_samples: int  # samples whose every channel is constant over time
    examples: list  # indices of some constant samples
    identical: bool  # every sample is the same array
    stored_varies: int | None  # of the constant samples re-checked in the stored arrays, how many vary there
    stored_checked: int


@fact
def constant_inputs(ctx) -> dict:
    """Per split: constant channels (input_stats), constant samples and all-identical samples (fingerprints)."""
    if ctx.data.full is not None:
        return _constant_rows_chunked(ctx)
    out = {}
    fps = ctx.row_fingerprints_by_split
    for split, stats in ctx.series_stats.items():
        fp = fps[split]
        live = stats.count > 0
        const_ch = np.flatnonzero(live & (stats.min == stats.max))
        const_rows = np.flatnonzero(fp.constant)
        identical = False
        X = ctx.inputs[split]
        if fp.n > 1 and len(np.unique(fp.exact)) == 1:
            probe = X[np.linspace(0, fp.n - 1, min(fp.n, 16)).astype(int)].reshape(min(fp.n, 16), -1)
            identical = bool((probe.view(np.uint32) == probe[:1].view(np.uint32)).all())
        varies, checked = None, 0
        raw = ctx.raw_arrays.get(split)
        if len(const_rows) and ctx.subject.has_preprocess and raw is not None and len(raw) == fp.n:
            rows = const_rows[:_RAW_CHECK]
            flat = np.asarray(raw[rows], dtype=np.float64).reshape(len(rows), -1)
            varies = int((np.nanmax(flat, axis=1) > np.nanmin(flat, axis=1)).sum())
            checked = len(rows)
        out[split] = ConstantSplit(fp.n, const_ch.tolist(), [float(stats.mean[c]) for c in const_ch],
                                   len(const_rows), const_rows[:10].tolist(), identical, varies, checked)
    return out


def _constant_rows_chunked(ctx) -> dict:
    """``constant_inputs`` over every row of data beyond the memory budget, from the chunk summaries: constant
    samples counted per chunk, "all identical" when every row hash is one (verified on up to 16 rows)."""
    out = {}
    full = ctx.data.full
    summaries = ctx.chunk_statistics.summaries
    for split, stats in ctx.series_stats.items():
        s = summaries[split]
        const_ch = np.flatnonzero((stats.count > 0) & (stats.min == stats.max))
        identical = False
        if s.n_rows > 1 and len(np.unique(s.hashes)) == 1:
            source = full.X_train if split == "train" else full.X_test
            probe = source.take(np.unique(np.linspace(0, s.n_rows - 1, min(s.n_rows, 16)).astype(int)))
            flat = probe.reshape(len(probe), -1)
            identical = bool((flat.view(np.uint32) == flat[:1].view(np.uint32)).all())
        out[split] = ConstantSplit(s.n_rows, const_ch.tolist(), [float(stats.mean[c]) for c in const_ch],
                                   s.n_constant_rows, s.constant_rows.tolist(), identical, None, 0)
    return out


# First layers that normalise each sample on its own (per channel over time, or over the whole sample): they
# remove a recording's gain before the first convolution. BatchNorm1d normalises over the batch and does not.
PER_SAMPLE_NORMALISING_LAYERS = ("InstanceNorm1d", "LazyInstanceNorm1d", "LayerNorm", "GroupNorm")


@dataclass(frozen=True)
class RecordingScales:
    amplitudes: RecordingAmplitudes
    first_layer: str | None
    layout: str
    preprocessed: bool  # measured after the user's preprocess

    @property
    def model_normalises_each_sample(self) -> bool:
        return self.first_layer in PER_SAMPLE_NORMALISING_LAYERS


@fact
def recording_scales(ctx) -> RecordingScales:
    """Per recording (group) and channel: the median per-window spread of what the model sees, relative to the
    window's class."""
    data = ctx.data
    if data.groups_train is None:
        raise FactUnavailable("no groups_train/groups_test were given (recording or subject ids)")
    splits = {}
    labels = ctx.labels
    relative = labels.kind != "float"
    for split, X in ctx.inputs.items():
        groups = data.groups_train if split == "train" else data.groups_test
        y = labels.train if split == "train" else labels.test
        if groups is None:
            continue
        name = "train" if split == "train" else data.held_out.var  # the recordings are named "<split>:<id>"
        if len(np.asarray(groups).ravel()) != len(X):
            raise FactUnavailable(f"groups_{name} has {len(np.asarray(groups).ravel())} ids for {len(X)} samples; "
                                  "there must be one id per sample")
        splits[name] = (X, groups, y if relative else None)
    amplitudes = recording_amplitudes(splits, ctx.series_channel_axis, class_relative=relative)
    name = {None: "(N, L)", 1: "(N, C, L)", 2: "(N, L, C)"}[ctx.series_channel_axis]
    return RecordingScales(amplitudes, _first_layer(ctx), name, ctx.subject.has_preprocess)
