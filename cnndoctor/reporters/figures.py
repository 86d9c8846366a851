"""Figures of the training probes: LR range curve, probe curves, gradient norm per layer, overfit run.

Every figure is a standalone ``matplotlib.figure.Figure`` (object-oriented API, no pyplot,
never shown), so it renders on headless machines and is not displayed twice in notebooks.
``figures(ctx)`` builds them only from facts the run has already computed
(``ctx.computed(name)``); it never starts a probe. Each figure carries a label
(``Figure.get_label()``) that reporters can use as its caption.

Losses are drawn on log axes (one blow-up to 10,000 would flatten a linear one) with ln K, the loss of an
undecided head, as a labelled line; legends sit below the plots so they never cover a curve.
"""

from __future__ import annotations

import math

import numpy as np

from ._axes import Reference, legend_below, log_loss_axis, loss_scale, marked_vline, plain_log_ticks, reference_line

__all__ = ["figures", "lr_range_figure", "probe_curves_figure", "gradient_figure", "overfit_figure", "reference_loss",
           "MAX_GRADIENT_BARS", "SINGLE", "DOUBLE"]


# The figures' sizes in inches (shown at 100 px an inch in the HTML report): two single plots fit side by side
# in the report's width, a two-panel figure takes the whole width.
SINGLE = (5.4, 3.9)
DOUBLE = (10.8, 3.9)
# At most this many layers get a bar in the gradient figure; beyond it the layer names overlap at its width.
MAX_GRADIENT_BARS = 32


def _figure(label: str, size=SINGLE):
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100, layout="constrained")
    fig.set_label(label)
    return fig


def _finite(values) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(arr), arr, np.nan)


def _stopped(stopped_by: str) -> str:
    """What stopped a run, in the title, unless it simply ran its planned steps."""
    return "" if stopped_by in ("steps", "") else f", stopped: {stopped_by}"


def lr_range_figure(lr_range, advice: dict | None = None, reference: Reference | None = None):
    """The range test's raw and smoothed loss against the lr on log axes, with your lr drawn over everything,
    the suggested range shaded (``advice``: the report's ``lr_range``), the divergence point and ln K."""
    fig = _figure("learning-rate range test")
    ax = fig.add_subplot()
    lrs = np.asarray(lr_range.lrs, dtype=np.float64)
    scale = loss_scale(lr_range.losses, lr_range.smoothed, [reference.value] if reference else None)
    if len(lrs):
        ax.plot(lrs, scale.apply(lr_range.losses), color="0.7", linewidth=1, label="loss per step")
    if lr_range.smoothed:
        ax.plot(lrs[:len(lr_range.smoothed)], scale.apply(lr_range.smoothed), color="C0", linewidth=2,
                label="smoothed loss")
    ax.set_xscale("log")
    if len(lrs) < 2:
        ax.set_xlim(lr_range.lr_min, lr_range.lr_max)
    if advice and advice.get("low") is not None and advice.get("high") is not None:
        low, high = advice["low"], advice["high"]
        ax.axvspan(low, high if high > low else low * 1.05, color="C2", alpha=0.18, linewidth=0,
                   label=f"suggested range {low:.2g}–{high:.2g}")
    if lr_range.suggestion is not None:
        ax.axvline(lr_range.suggestion, color="C2", linestyle="--", linewidth=1.5,
                   label=f"suggested lr {lr_range.suggestion:.2g}")
    if lr_range.diverge_lr is not None:
        ax.axvline(lr_range.diverge_lr, color="0.4", linestyle=":", linewidth=1.5,
                   label=f"loss diverges at {lr_range.diverge_lr:.2g}")
    if reference is not None:
        reference_line(ax, reference)
    marked_vline(ax, lr_range.user_lr, f"your lr {lr_range.user_lr:.2g}", color="C3")
    log_loss_axis(ax, scale, "training loss", start=lr_range.start_loss)
    ax.set_xlabel("learning rate (log scale)")
    steps = len(lr_range.losses)
    planned = f" of {lr_range.max_steps}" if lr_range.max_steps and lr_range.max_steps != steps else ""
    ax.set_title(f"LR range test ({lr_range.optimizer}, {steps}{planned} steps{_stopped(lr_range.stopped_by)})",
                 fontsize="medium", pad=16)
    legend_below(fig)
    return fig


def probe_curves_figure(run, baseline=None, reference: Reference | None = None):
    """Training loss per step (log axis, with ln K) and the loss/accuracy curve points of the probe, and the
    zeroed-input baseline when it ran."""
    fig = _figure("training probe curves", size=DOUBLE)
    loss_ax, acc_ax = fig.subplots(1, 2)
    pts = run.curve
    train_loss = [p.train_loss for p in pts]
    held_loss = [p.held_out_loss for p in pts]
    zeroed = baseline.run.curve if baseline is not None and getattr(baseline, "run", None) is not None else None
    scale = loss_scale(run.losses, train_loss, held_loss, [p.train_loss for p in zeroed or []],
                       [reference.value] if reference else None)
    steps = np.arange(1, len(run.losses) + 1)
    loss_ax.plot(steps, scale.apply(run.losses), color="0.7", linewidth=1, label="batch loss")
    loss_ax.plot([p.step for p in pts], scale.apply(train_loss), "o-", color="C0", label="train slice")
    if any(v is not None for v in held_loss):
        loss_ax.plot([p.step for p in pts], scale.apply(held_loss), "s-", color="C1", label="held-out")
    if zeroed is not None:
        loss_ax.plot([p.step for p in zeroed], scale.apply([p.train_loss for p in zeroed]), "x--", color="C7",
                     label="zeroed inputs (train slice)")
    if reference is not None:
        reference_line(loss_ax, reference)
    loss_ax.set_xlabel("step")
    first = next((v for v in run.losses if v is not None and math.isfinite(v) and v > 0), None)
    log_loss_axis(loss_ax, scale, "loss", start=first)
    acc_ax.plot([p.step for p in pts], [np.nan if p.train_accuracy is None else p.train_accuracy for p in pts], "o-",
                color="C0", label="train slice")
    if any(p.held_out_accuracy is not None for p in pts):
        acc_ax.plot([p.step for p in pts], [np.nan if p.held_out_accuracy is None else p.held_out_accuracy
                                            for p in pts], "s-", color="C1", label="held-out")
    if run.train_majority is not None:
        acc_ax.axhline(run.train_majority, color="0.5", linestyle=":", label="majority class")
    acc_ax.set_ylim(0, 1.02)
    acc_ax.set_xlabel("step")
    acc_ax.set_ylabel("accuracy (eval mode)")
    fig.suptitle(f"Training probe: lr {run.lr:.2g}, batch {run.batch_size}, {run.steps} steps"
                 f"{_stopped(run.stopped_by)}", fontsize="medium")
    legend_below(fig, ncols=6)
    return fig


def _evenly(n: int, keep: int) -> list[int]:
    """``keep`` indices spread evenly over ``range(n)``, the first and the last included."""
    return sorted({round(i * (n - 1) / (keep - 1)) for i in range(keep)})


def gradient_figure(run, max_bars: int = MAX_GRADIENT_BARS):
    """Median gradient norm per layer over the probe, in forward order (log scale). The legend names only the
    kinds of layer that have a bar; when there are more layers than ``max_bars``, an even spread of them is
    drawn and the axis label says how many are not."""
    fig = _figure("gradient norm per layer", size=(SINGLE[0], SINGLE[1] + 0.5))
    ax = fig.add_subplot()
    med = run.median_grad_norms()
    names = [n for n in run.layers if n in med]
    hidden = 0
    if len(names) > max_bars:
        kept = _evenly(len(names), max_bars)
        hidden = len(names) - len(kept)
        names = [names[i] for i in kept]
    values = np.array([med[n] for n in names], dtype=np.float64)
    heights = np.where(values > 0, values, np.nan)
    for kind, color, label in (("weights", "C0", "conv / linear weights"), ("other", "C7", "other layers")):
        idx = [i for i, n in enumerate(names) if (n in run.weight_layers) == (kind == "weights")]
        if idx:
            ax.bar(idx, np.nan_to_num(heights[idx], nan=0.0), color=color, label=label)
    if np.isfinite(heights).any():
        positive = heights[np.isfinite(heights)]
        ax.set_yscale("log")
        ax.set_ylim(positive.min() / 2, positive.max() * 2)
        plain_log_ticks(ax.yaxis, positive.min(), positive.max())
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize="small")
    ax.set_xlabel("layer, input → output" + (f" ({hidden} more layers not drawn)" if hidden else ""))
    zero = [n for n, v in zip(names, values) if v == 0]
    note = f"\nno gradient: {', '.join(zero[:4])}" + (f" and {len(zero) - 4} more" if len(zero) > 4 else "") \
        if zero else ""
    ax.set_ylabel("median gradient L2 norm")
    ax.set_title(f"Gradient norm per layer{note}", fontsize="medium")
    legend_below(fig)
    return fig


def overfit_figure(result, reference: Reference | None = None):
    """Loss per step of each attempt at memorising one batch (log axis), with the input-independent floor
    and ln K."""
    fig = _figure("overfit one batch")
    ax = fig.add_subplot()
    scale = loss_scale(*[a.losses for a in result.attempts], [result.floor_loss],
                       [reference.value] if reference else None)
    for i, a in enumerate(result.attempts):
        label = f"lr {a.lr:.2g}" + (" (your lr)" if i == 0 else "") + \
            (f", memorised at step {a.steps_to_memorise}" if a.memorised else "")
        ax.plot(np.arange(1, len(a.losses) + 1), scale.apply(a.losses), color=f"C{i}", label=label)
    ax.axhline(scale.apply([result.floor_loss])[0], color="0.5", linestyle=":",
               label=f"input-independent floor {result.floor_loss:.2g}")
    if reference is not None:
        reference_line(ax, reference)
    ax.set_xlabel("step")
    first = next((a.losses[0] for a in result.attempts if a.losses), None)
    log_loss_axis(ax, scale, "loss on the batch", start=first if first and first > 0 else None)
    ax.set_title(f"Overfit one batch of {result.batch_size}", fontsize="medium")
    legend_below(fig)
    return fig


def _get(ctx, name):
    return ctx.get(name) if ctx.computed(name) else None


def reference_loss(ctx) -> Reference | None:
    """ln K, the loss of a head undecided between its K outputs (ln 2 for one binary output), when the probes'
    data was prepared and the loss has that reference."""
    data = _get(ctx, "probe_data")
    value = None if data is None else data.expected_initial_loss
    if value is None:
        return None
    k = max(data.output_width, 2)
    return Reference(value, f"ln K = ln {k} = {value:.2f}: an undecided head")


def figures(ctx, lr_advice: dict | None = None) -> list:
    """Figures of the probes this run computed; never triggers a probe. ``lr_advice`` is the report's
    ``lr_range`` (the suggested range), shaded on the range test's curve."""
    out = []
    reference = reference_loss(ctx)
    lr = _get(ctx, "lr_range")
    if lr is not None and lr.losses:
        out.append(lr_range_figure(lr, lr_advice, reference))
    run = _get(ctx, "training_probe")
    if run is not None and run.steps:
        out.append(probe_curves_figure(run, _get(ctx, "zero_input_probe"), reference))
        if run.layers and run.grad_norms is not None and len(run.grad_norms):
            out.append(gradient_figure(run))
    over = _get(ctx, "overfit_batch")
    if over is not None and any(a.losses for a in over.attempts):
        out.append(overfit_figure(over, reference))
    return out
