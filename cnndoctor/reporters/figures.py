"""Figures of the training probes: LR range curve, probe curves, gradient norm per layer, overfit run.

Every figure is a standalone ``matplotlib.figure.Figure`` (object-oriented API, no pyplot,
never shown), so it renders on headless machines and is not displayed twice in notebooks.
``figures(ctx)`` builds them only from facts the run has already computed
(``ctx.computed(name)``); it never starts a probe. Each figure carries a label
(``Figure.get_label()``) that reporters can use as its caption.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["figures", "lr_range_figure", "probe_curves_figure", "gradient_figure", "overfit_figure"]


def _figure(label: str, size=(6.4, 3.4)):
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100, layout="constrained")
    fig.set_label(label)
    return fig


def _finite(values) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(arr), arr, np.nan)


def lr_range_figure(lr_range):
    """The range test's raw and smoothed loss against the lr, with your lr and the suggestion marked."""
    fig = _figure("learning-rate range test")
    ax = fig.add_subplot()
    lrs = np.asarray(lr_range.lrs, dtype=np.float64)
    if len(lrs):
        ax.plot(lrs, _finite(lr_range.losses), color="0.75", linewidth=1, label="loss per step")
    if lr_range.smoothed:
        ax.plot(lrs[:len(lr_range.smoothed)], lr_range.smoothed, color="C0", linewidth=2, label="smoothed")
    ax.set_xscale("log")
    if len(lrs) < 2:
        ax.set_xlim(lr_range.lr_min, lr_range.lr_max)
    ax.axvline(lr_range.user_lr, color="C3", linestyle="-", linewidth=1.5, label=f"your lr {lr_range.user_lr:.2g}")
    if lr_range.suggestion is not None:
        ax.axvline(lr_range.suggestion, color="C2", linestyle="--", linewidth=1.5,
                   label=f"suggested {lr_range.suggestion:.2g}")
    if lr_range.diverge_lr is not None:
        ax.axvline(lr_range.diverge_lr, color="0.4", linestyle=":", linewidth=1.2,
                   label=f"diverges {lr_range.diverge_lr:.2g}")
    finite = _finite(lr_range.losses)
    if np.isfinite(finite).any() and lr_range.start_loss is not None:
        top = min(np.nanmax(finite), 3 * lr_range.start_loss)  # keep the blow-up from flattening the curve
        bottom = np.nanmin(finite)
        if math.isfinite(top) and math.isfinite(bottom) and top > bottom:
            ax.set_ylim(bottom - 0.05 * (top - bottom), top)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.set_title(f"LR range test ({lr_range.optimizer}, {len(lr_range.losses)} steps)")
    ax.legend(fontsize="small")
    return fig


def probe_curves_figure(run, baseline=None):
    """Training loss per step and the loss/accuracy curve points of the probe (and the zeroed-input baseline)."""
    fig = _figure("training probe curves", size=(8.8, 3.4))
    loss_ax, acc_ax = fig.subplots(1, 2)
    steps = np.arange(1, len(run.losses) + 1)
    loss_ax.plot(steps, _finite(run.losses), color="0.7", linewidth=1, label="batch loss")
    pts = run.curve
    loss_ax.plot([p.step for p in pts], [np.nan if p.train_loss is None else p.train_loss for p in pts], "o-",
                 color="C0", label="train slice")
    if any(p.held_out_loss is not None for p in pts):
        loss_ax.plot([p.step for p in pts], [np.nan if p.held_out_loss is None else p.held_out_loss for p in pts],
                     "s-", color="C1", label="held-out")
    if baseline is not None and getattr(baseline, "run", None) is not None:
        b = baseline.run.curve
        loss_ax.plot([p.step for p in b], [np.nan if p.train_loss is None else p.train_loss for p in b], "x--",
                     color="C7", label="zeroed inputs")
    loss_ax.set_xlabel("step")
    loss_ax.set_ylabel("loss")
    finite = _finite(run.losses)
    if np.isfinite(finite).any() and np.nanmax(finite) > 20 and np.nanmin(finite) > 0:
        loss_ax.set_yscale("log")  # a blow-up would flatten the rest of the curve
    loss_ax.legend(fontsize="small")
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
    acc_ax.legend(fontsize="small")
    fig.suptitle(f"Training probe: lr {run.lr:.2g}, batch {run.batch_size}, {run.steps} steps ({run.stopped_by})")
    return fig


def gradient_figure(run):
    """Median gradient norm per layer over the probe, in forward order (log scale)."""
    fig = _figure("gradient norm per layer", size=(6.4, 3.6))
    ax = fig.add_subplot()
    med = run.median_grad_norms()
    names = [n for n in run.layers if n in med]
    values = np.array([med[n] for n in names], dtype=np.float64)
    positive = np.where(values > 0, values, np.nan)
    colors = ["C0" if n in run.weight_layers else "C7" for n in names]
    ax.bar(range(len(names)), np.nan_to_num(positive, nan=0.0), color=colors)
    if np.isfinite(positive).any():
        ax.set_yscale("log")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize="small")
    zero = [n for n, v in zip(names, values) if v == 0]
    note = f" · zero: {', '.join(zero[:4])}" if zero else ""
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color="C0", label="conv / linear weights"), Patch(color="C7", label="other layers")],
              fontsize="small")
    ax.set_ylabel("median gradient L2 norm")
    ax.set_title(f"Gradient norm per layer (input → output){note}", fontsize="medium")
    return fig


def overfit_figure(result):
    """Loss per step of each attempt at memorising one batch, with the input-independent floor."""
    fig = _figure("overfit one batch")
    ax = fig.add_subplot()
    for i, a in enumerate(result.attempts):
        label = f"lr {a.lr:.2g}" + (f" (memorised at {a.steps_to_memorise})" if a.memorised else "")
        ax.plot(np.arange(1, len(a.losses) + 1), _finite(a.losses), color=f"C{i}", label=label)
    ax.axhline(result.floor_loss, color="0.5", linestyle=":", label="input-independent floor")
    ax.set_xlabel("step")
    ax.set_ylabel("loss on the batch")
    ax.set_title(f"Overfit one batch of {result.batch_size}")
    ax.legend(fontsize="small")
    return fig


def _get(ctx, name):
    return ctx.get(name) if ctx.computed(name) else None


def figures(ctx) -> list:
    """Figures of the probes this run computed; never triggers a probe."""
    out = []
    lr = _get(ctx, "lr_range")
    if lr is not None and lr.losses:
        out.append(lr_range_figure(lr))
    run = _get(ctx, "training_probe")
    if run is not None and run.steps:
        out.append(probe_curves_figure(run, _get(ctx, "zero_input_probe")))
        if run.layers and run.grad_norms is not None and len(run.grad_norms):
            out.append(gradient_figure(run))
    over = _get(ctx, "overfit_batch")
    if over is not None and any(a.losses for a in over.attempts):
        out.append(overfit_figure(over))
    return out
