"""Facts about the time axis: which axis the data says is time, what reaches the first convolution."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..context import fact
from ..errors import FactUnavailable
from ..measure.temporal import axis_continuity, capture_conv_input, sample_rows, scramble_continuity
from ..trace.feed import apply_transform

__all__ = ["ConvInputReading", "TimeAxisReading"]

_SAMPLES = 512
_CONV_BATCH = 64


@dataclass(frozen=True)
class TimeAxisReading:
    """Which axis of the stored arrays (after preprocess) is time: the data's measurements and the model's reading.

    The data's reading is measured, not decided: which axis counts as time is D301's judgement, with
    D301's thresholds (``time_axis_by``; the ``data_time_axis`` fact applies it for everyone else).
    """

    shape: tuple  # shape of one sample as stored
    continuity: dict  # {axis: lag-1 continuity along it, the other axis standardised as channels}
    model_channel_axis: int | None  # stored axis the model treats as channels (None: unknown, or an added axis)
    model_time_axis: int | None  # stored axis the model convolves along (None: unknown)
    model_source: str  # how the model's reading was found
    feed_transform: str | None
    n_samples: int

    @property
    def margin(self) -> float:
        vals = list(self.continuity.values())
        return float(abs(vals[0] - vals[1])) if len(vals) == 2 else float("nan")

    def time_axis_by(self, *, min_continuity: float, min_margin: float) -> int | None:
        """The axis the data says is time, judged with D301's thresholds; None when it cannot tell.

        An axis of size 1 cannot be time, so (N, 1, L) and (N, L, 1) samples need no threshold. Otherwise
        it is the axis whose continuity is at least ``min_continuity`` and ``min_margin`` above the other's.
        """
        if len(self.shape) == 2 and 1 in self.shape:
            return 1 if self.shape[1] == 1 else 2
        finite = {a: c for a, c in self.continuity.items() if np.isfinite(c)}
        if not finite:
            return None
        best = max(finite, key=finite.get)
        others = [c for a, c in finite.items() if a != best]
        if finite[best] < min_continuity or (others and finite[best] - max(others) < min_margin):
            return None
        return best

    def channel_axis_for_series(self, data_time_axis: int | None) -> int | None:
        """The channel axis for per-channel statistics (stored coordinates): the data's reading
        (``data_time_axis``) when it is clear, else the model's; None for (N, L) samples or when neither can tell."""
        if len(self.shape) == 1:
            return None
        if data_time_axis is not None:
            return 3 - data_time_axis
        return self.model_channel_axis


def _plane_axes(call) -> tuple[int, int] | str:
    """(channels, length) of the series as a Conv2d reads its 4-D input (B, P, H, W), or why it cannot be told.

    EEG-style models add a plane axis and convolve one plane (``x.unsqueeze(1)``: (B, 1, C, T)); Keras-style
    ports run Conv2d over (B, C, 1, T). Time is the axis a kernel longer than 1 slides along; a kernel that
    spans its whole axis and leaves one step of it (a spatial filter over the sensors, kernel (C, 1)) mixes
    channels, so time is then the other axis. A kernel longer than 1 along both axes is an image convolution:
    which axis is time cannot be told from it.
    """
    _, planes, height, width = call.input_shape
    if planes > 1:  # (B, C, 1, T) or (B, C, T, 1): the planes are the channels
        if height == 1 and width > 1:
            return planes, width
        if width == 1 and height > 1:
            return planes, height
        return f"unknown: the first convolution, a {call.type}, reads {planes} planes of {height}x{width}"
    kernel = call.config.get("kernel_size")
    kernel = list(kernel) if isinstance(kernel, (list, tuple)) else [kernel, kernel]
    if len(kernel) != 2 or not all(isinstance(k, int) for k in kernel):
        return f"unknown: the first convolution, a {call.type}, has no readable kernel size"
    sliding = [axis for axis, k in enumerate(kernel) if k > 1]
    if len(sliding) != 1:
        kind = "both axes" if sliding else "neither axis (a 1x1 kernel)"
        return (f"unknown: the first convolution, a {call.type} with kernel {tuple(kernel)}, slides along {kind} "
                f"of the ({height}, {width}) plane")
    axis = sliding[0]
    sizes = (height, width)
    out = call.output_shape
    spans = (isinstance(out, tuple) and len(out) == 4 and isinstance(out[2 + axis], int)
             and out[2 + axis] == 1 and sizes[axis] > 1)
    time = 1 - axis if spans else axis
    return sizes[1 - time], sizes[time]


def _first_conv_input(trace) -> tuple[int, int] | str | None:
    """(channels, length) entering the first convolution layer that ran; a reason (str) when that layer is a
    Conv2d whose time axis cannot be told; None when no convolution ran on a 3-D or 4-D input.

    Only leaf layers with a kernel count: a wrapper module that stores ``self.in_channels`` is not
    a convolution, and its input is still in the user's layout.
    """
    for call in trace.calls:
        shape = call.input_shape
        if not (call.is_leaf and "in_channels" in call.config and "kernel_size" in call.config
                and isinstance(shape, tuple) and all(isinstance(s, int) for s in shape)):
            continue
        if len(shape) == 3:
            return shape[1], shape[2]
        if len(shape) == 4:
            return _plane_axes(call)
    return None


def _model_reading(ctx, X: np.ndarray) -> tuple[int | None, int | None, str, str | None]:
    """(channel axis, time axis, source, transform) of the stored arrays as the model uses them."""
    if not ctx.has("feed"):
        return None, None, "unknown: the model could not be traced", None
    feed = ctx.feed
    if not feed.ok:
        return None, None, "unknown: the forward pass fails in every layout", feed.transform
    first = _first_conv_input(feed.trace)
    unreadable = first if isinstance(first, str) else None
    first = None if unreadable else first
    if X.ndim == 2:
        if feed.transform == "channel axis added last" and not (first is not None and first[1] == X.shape[1]):
            return 1, None, "the model runs only with the series as channels (N, L, 1)", feed.transform
        if feed.transform == "channel axis added" or (first is not None and first[1] == X.shape[1]):
            how = (f"the first convolution receives {first[0] if first else 1} channel(s) of length "
                   f"{first[1] if first else X.shape[1]}")
            return None, 1, how, feed.transform
        return None, None, "unknown: no convolution receives the series", feed.transform
    if ctx.subject.layout in ("ncl", "nlc"):
        axis = 1 if ctx.subject.layout == "ncl" else 2
        return axis, 3 - axis, f"declared with --layout {ctx.subject.layout}", feed.transform
    if unreadable:
        return None, None, unreadable, feed.transform
    if first is None or feed.train is None or feed.train.ndim != 3:
        return None, None, "unknown: no convolution receives a 3-D tensor (or a one-plane 4-D view)", feed.transform
    c_in, length = first
    fed = feed.train.shape[1:]
    if fed[0] == fed[1]:
        return None, None, "unknown: both axes have the same size", feed.transform
    if (c_in, length) == fed:
        fed_channel = 1
    elif (length, c_in) == fed:
        fed_channel = 2  # the model moves the axes itself inside forward()
    else:
        return None, None, f"unknown: the first convolution receives ({c_in}, {length})", feed.transform
    stored_channel = fed_channel if feed.transform != "transposed" else 3 - fed_channel
    how = "as stored" if feed.transform != "transposed" else "after transposing the stored arrays"
    return stored_channel, 3 - stored_channel, (f"the first convolution receives {c_in} channels of length {length} "
                                                f"({how})"), feed.transform


@fact
def time_axis(ctx) -> TimeAxisReading:
    """Lag-1 continuity along each axis of the inputs and the axis the model convolves along."""
    X = ctx.inputs["train"]
    if X.ndim == 2:
        continuity = {1: axis_continuity(X, 1, max_samples=_SAMPLES)}
    else:
        continuity = {a: axis_continuity(X, a, max_samples=_SAMPLES) for a in (1, 2) if X.shape[a] > 1}
        if len(continuity) == 1:  # (N, 1, L) or (N, L, 1): the size-1 axis cannot be time
            continuity[3 - next(iter(continuity))] = float("nan")
    channel_axis, model_time, source, transform = _model_reading(ctx, X)
    return TimeAxisReading(tuple(X.shape[1:]), continuity, channel_axis, model_time, source, transform,
                           min(len(X), _SAMPLES))


@fact
def data_time_axis(ctx) -> int | None:
    """The axis the data says is time, by D301's thresholds as registered or as the user set them: the one
    place the per-channel statistics (D102/D103 and the other data checks), the baselines and the leakage
    scans take it from, so an override of D301's ``min_continuity``/``min_margin`` reaches them all."""
    t = ctx.thresholds_for("D301")
    return ctx.time_axis.time_axis_by(min_continuity=t["min_continuity"], min_margin=t["min_margin"])


@fact
def series_channel_axis(ctx) -> int | None:
    """Channel axis of the inputs for every per-channel and temporal statistic of the data checks.

    The time axis the data itself shows (continuity) wins; then the axis the model convolves along;
    then ``data_layout``. Statistics stay per real channel even when the model reads the axes wrongly
    (that is D301's finding, not a reason to measure "channels" along time).
    """
    if ctx.inputs["train"].ndim == 2:
        return None
    axis = ctx.time_axis.channel_axis_for_series(ctx.data_time_axis) if ctx.has("data_time_axis") else None
    return axis if axis is not None else ctx.data_layout.channel_axis


@dataclass(frozen=True)
class ConvInputReading:
    """Continuity of the tensor entering the first convolution, as fed and with a reshape undone."""

    layer: str
    layer_type: str
    shape: tuple  # (n, C, L) captured
    fed: float
    undone: float
    arrays_fed: float | None  # the same two numbers on the arrays handed to the model
    arrays_undone: float | None
    stored_fed: float | None  # and on the stored arrays before preprocess (when preprocess exists)
    stored_undone: float | None
    where: str  # "model forward", "preprocess", "stored data", "unknown" or "nothing to interleave"


def _scramble_of(X: np.ndarray | None, shape: tuple) -> tuple[float | None, float | None]:
    if X is None or X.ndim != 3 or tuple(X.shape[1:]) != tuple(shape[1:]):
        return None, None
    return scramble_continuity(sample_rows(X, _CONV_BATCH))


@fact
def conv_input_order(ctx) -> ConvInputReading:
    """Capture the first Conv1d's input with a forward pre-hook and measure its temporal continuity."""
    import torch

    feed = ctx.feed
    if not feed.ok:
        raise FactUnavailable("the forward pass fails (see A101), so no tensor reaches a convolution")
    model = ctx.subject.build_model()
    n = min(len(feed.train), _CONV_BATCH)
    batch = feed.tensor("train", slice(0, n), ctx.subject.device)
    try:
        captured = capture_conv_input(model, batch)
    except Exception as exc:  # noqa: BLE001 — the user's forward; A101 reports forward errors
        raise FactUnavailable(f"the forward pass raised {type(exc).__name__} while capturing the first "
                              "convolution's input") from None
    finally:
        del model
        if str(ctx.subject.device).startswith("cuda"):
            torch.cuda.empty_cache()
    if captured is None:
        raise FactUnavailable("no 1-D convolution (a layer with a 3-D weight) runs on a 3-D input, and no "
                              "temporal Conv2d (kernel (1, k)) on a one-plane (N, 1, C, L) input")
    T = captured.array
    if T.shape[1] < 2 or T.shape[2] < 3:  # one channel (or a stub of a series): a reshape cannot interleave it
        nan = float("nan")
        return ConvInputReading(captured.layer, captured.layer_type, tuple(T.shape), nan, nan, None, None, None,
                                None, "nothing to interleave")
    fed, undone = scramble_continuity(T.astype(np.float64))
    arrays_fed, arrays_undone = _scramble_of(feed.train, T.shape)
    stored_fed = stored_undone = stored_best = None
    raw = ctx.raw_arrays["train"]
    if ctx.subject.has_preprocess:
        if raw.shape == ctx.inputs["train"].shape:
            stored_fed, stored_undone = _scramble_of(apply_transform(raw, feed.transform), T.shape)
        elif raw.ndim == 3:  # preprocess changed the shape: is either axis of the stored arrays continuous?
            stored_best = max(axis_continuity(raw, a, max_samples=_CONV_BATCH) for a in (1, 2))
    where = "unknown"
    gap = undone - fed
    if np.isfinite(gap) and gap > 0:
        if arrays_fed is not None and arrays_undone - arrays_fed >= 0.5 * gap:
            stored_clean = ((stored_fed is not None and stored_undone - stored_fed < 0.5 * gap)
                            or (stored_best is not None and stored_best >= fed + 0.5 * gap))
            if stored_clean:
                where = "preprocess"
            else:
                where = "stored data"
        else:
            where = "model forward"
    return ConvInputReading(captured.layer, captured.layer_type, tuple(T.shape), fed, undone, arrays_fed,
                            arrays_undone, stored_fed, stored_undone, where)
