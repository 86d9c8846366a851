"""Axis helpers the figures share: a log loss axis that survives losses ≤ 0, plain log tick labels, reference
lines labelled on the plot, and legends placed outside the plot area so they never cover data.

They draw only what they are given; they measure nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["LossScale", "Reference", "loss_scale", "log_loss_axis", "plain_log_ticks", "reference_line",
           "marked_vline", "legend_below"]

# A loss ≤ 0 (an MSE can reach 0) has no place on a log axis: it is drawn at this fraction of the smallest
# positive loss in the figure, just under every real point, and the axis label says how many were moved.
NONPOSITIVE_DRAWN_AT = 0.5
# Where losses ≤ 0 are drawn when no loss in the figure is positive (any positive value would do).
ALL_NONPOSITIVE_DRAWN_AT = 1e-8
# Decades kept above the reference loss (the start of the curve or ln K): a diverging lr sweep reaches 1e30 and
# more, and a log axis that wide squeezes the part of the curve that matters into a few pixels.
HEADROOM_DECADES = 3
# Below this many decades on a log axis, the 2× and 5× ticks are labelled too, or the axis shows one number.
LABEL_MINOR_BELOW_DECADES = 1.5


@dataclass(frozen=True)
class Reference:
    """A horizontal reference loss, e.g. ln K: the loss of a head that is undecided between K classes."""

    value: float
    label: str  # what the legend and the label on the line say


@dataclass(frozen=True)
class LossScale:
    """How the losses of one figure go onto a log axis."""

    floor: float | None  # where losses ≤ 0 are drawn; None when every finite loss is positive
    clipped: int  # how many finite losses ≤ 0 were moved to the floor
    low: float | None  # the smallest value drawn (after clipping); None when nothing is finite
    high: float | None  # the largest finite value

    def apply(self, values) -> np.ndarray:
        """The values as drawn: NaN for non-finite ones (a gap in the line), the floor for those ≤ 0."""
        arr = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
        arr = np.where(np.isfinite(arr), arr, np.nan)
        if self.floor is not None:
            arr = np.where(arr <= 0, self.floor, arr)
        return arr


def loss_scale(*series) -> LossScale:
    """The log-axis scale for every loss series of one figure (lists, arrays; None and NaN are skipped)."""
    values = [np.asarray([np.nan if v is None else v for v in s], dtype=np.float64) for s in series if s is not None]
    flat = np.concatenate(values) if values else np.array([])
    flat = flat[np.isfinite(flat)]
    if not flat.size:
        return LossScale(None, 0, None, None)
    positive = flat[flat > 0]
    clipped = int(flat.size - positive.size)
    floor = None
    if clipped:
        floor = float(positive.min()) * NONPOSITIVE_DRAWN_AT if positive.size else ALL_NONPOSITIVE_DRAWN_AT
    low = float(positive.min()) if positive.size else floor
    if floor is not None:
        low = min(low, floor)
    return LossScale(floor, clipped, low, float(flat.max()) if positive.size else floor)


def log_loss_axis(ax, scale: LossScale, label: str, *, start: float | None = None) -> None:
    """Put ``ax``'s y axis on a log scale with plain tick labels; the label says when losses ≤ 0 were moved.

    The limits cover the scale (give ``loss_scale`` every value that must show, such as ln K). ``start``, the
    curve's first loss, caps the top at ``HEADROOM_DECADES`` above it, so a blow-up to 1e30 does not flatten
    the rest; the label says where it was cut.
    """
    ax.set_yscale("log")
    text = f"{label} (log scale)"
    if scale.clipped:
        text += f"\n{scale.clipped} value(s) ≤ 0 drawn at {scale.floor:.2g}"
    if scale.low is not None and scale.high is not None:
        low, high = scale.low, scale.high
        if start is not None and start > 0 and high > start * 10 ** HEADROOM_DECADES:
            high = start * 10 ** HEADROOM_DECADES
            text += f"\ncut at {high:.2g}"
        if high > low:
            ax.set_ylim(low / 1.25, high * 1.25)
            plain_log_ticks(ax.yaxis, low, high)
    ax.set_ylabel(text)


def plain_log_ticks(axis, low: float, high: float) -> None:
    """Tick labels like 0.5, 2, 1000 and 1e+05 instead of 5×10⁻¹; the 2× and 5× ticks are labelled too when
    the axis spans too few decades to show more than one power of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_major_locator(LogLocator(base=10))
    if low > 0 and math.log10(high / low) < LABEL_MINOR_BELOW_DECADES:
        axis.set_minor_locator(LogLocator(base=10, subs=(2.0, 3.0, 5.0)))
        axis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    else:
        axis.set_minor_formatter(NullFormatter())


def reference_line(ax, reference: Reference, *, color: str = "0.25") -> None:
    """A dashed horizontal line at the reference loss, in the legend and named on the plot at the end (left or
    right) where the curves already drawn stay farthest from it, so the name does not sit on a curve."""
    from matplotlib.transforms import blended_transform_factory

    ax.axhline(reference.value, color=color, linestyle="--", linewidth=1.3, label=reference.label)
    right = _clearer_end(ax, reference.value) == "right"
    ax.text(0.99 if right else 0.01, reference.value, reference.label.split(":")[0], color=color, fontsize=8,
            ha="right" if right else "left", va="bottom", bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none",
                                                                "pad": 1},
            transform=blended_transform_factory(ax.transAxes, ax.transData))


# The share of the x range at each end whose curve points decide where a reference line's name goes.
_END_SHARE = 0.2


def _clearer_end(ax, value: float) -> str:
    """"left" or "right": the end of the axes where the curves run farthest (in log units) from ``value``."""
    log_x = ax.get_xscale() == "log"
    xs, ys = [], []
    for line in ax.lines:
        x, y = (np.asarray(a, dtype=np.float64) for a in line.get_data())
        if len(x) > 2:
            xs.append(x)
            ys.append(y)
    if not xs or value <= 0:
        return "right"
    x, y = np.concatenate(xs), np.concatenate(ys)
    ok = np.isfinite(x) & np.isfinite(y) & (y > 0) & ((x > 0) | (not log_x))
    if not ok.any():
        return "right"
    x, y = x[ok], np.abs(np.log10(y[ok] / value))
    if log_x:
        x = np.log10(x)
    span = x.max() - x.min()
    if span <= 0:
        return "right"
    # the median distance, not the closest point: one curve passing the line once should not decide it
    left = np.median(y[x <= x.min() + _END_SHARE * span])
    right = np.median(y[x >= x.max() - _END_SHARE * span])
    return "left" if left > right else "right"


def marked_vline(ax, x: float, label: str, *, color: str, text: str | None = None) -> None:
    """A thick vertical line that stands out (drawn over the curves), in the legend and named at its top."""
    from matplotlib.transforms import blended_transform_factory

    ax.axvline(x, color=color, linewidth=2.6, zorder=5, label=label)
    ax.text(x, 1.01, f" {text or label}", color=color, fontsize=9, fontweight="bold", ha="center", va="bottom",
            transform=blended_transform_factory(ax.transData, ax.transAxes), clip_on=False)


def legend_below(fig, *, ncols: int = 2, fontsize: float = 8) -> None:
    """One legend under the axes for every labelled artist of the figure (a label drawn in two panels once)."""
    handles, labels = [], []
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(ncols, len(handles)), fontsize=fontsize,
                   frameon=False)

