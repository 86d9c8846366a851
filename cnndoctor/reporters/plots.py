"""Figures of the data the model is fed: class balance and per-channel scale.

Each is a standalone ``matplotlib.figure.Figure`` (no pyplot, never shown), labelled with
``Figure.set_label`` so reporters can caption it. Figures are built only from facts that were
already computed; building a figure never triggers a new measurement.
"""

from __future__ import annotations

import numpy as np

from ..findings import Status
from ._axes import legend_below, log_loss_axis, loss_scale
from .figures import DOUBLE, SINGLE

__all__ = ["data_figures", "new_figure", "fix_figure", "report_figures"]


def new_figure(label: str, size=SINGLE):
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100, layout="constrained")
    fig.set_label(label)
    return fig


def _class_balance(labels, test_name: str):
    fig = new_figure("class balance")
    ax = fig.add_subplot()
    ids = np.arange(labels.n_classes)
    classes = labels.classes
    train = np.array([np.sum(labels.train == c) for c in _ids(labels)])
    ax.bar(ids - 0.2, train / max(train.sum(), 1), width=0.4, label=f"train (n={train.sum()})")
    if labels.test is not None:
        test = np.array([np.sum(labels.test == c) for c in _ids(labels)])
        ax.bar(ids + 0.2, test / max(test.sum(), 1), width=0.4, label=f"{test_name} (n={test.sum()})")
    ax.axhline(1 / max(labels.n_classes, 1), color="grey", linestyle=":", label="uniform")
    ax.set_xticks(ids, [str(c) for c in classes], rotation=45 if labels.n_classes > 8 else 0)
    ax.set_xlabel("class (labels as stored)")
    ax.set_ylabel("fraction of samples")
    ax.set_title("Class balance", fontsize="medium")
    legend_below(fig, ncols=3)
    return fig


def _ids(labels):
    """The target ids of each class, in the order of ``labels.classes``."""
    if labels.kind in ("integer", "float-integer"):
        return labels.classes.astype(np.int64)
    return np.arange(labels.n_classes)


def _channel_scale(stats: dict, test_name: str):
    fig = new_figure("per-channel scale")
    ax = fig.add_subplot()
    train = stats["train"]
    channels = np.arange(train.n_channels)
    ax.errorbar(channels - 0.1, train.mean, yerr=train.std, fmt="o", capsize=3, label="train mean ± std")
    if "test" in stats:
        t = stats["test"]
        ax.errorbar(channels + 0.1, t.mean, yerr=t.std, fmt="s", capsize=3, label=f"{test_name} mean ± std")
    ax.axhspan(-1, 1, color="green", alpha=0.08, label="unit scale")
    span = np.nanmax(np.abs(np.concatenate([train.mean + train.std, train.mean - train.std])))
    if span > 50:
        from matplotlib.ticker import FuncFormatter

        ax.set_yscale("symlog", linthresh=1)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # 1000, not 10³
    ax.set_xticks(channels)
    ax.set_xlim(-0.5, train.n_channels - 0.5)
    ax.set_xlabel("channel")
    ax.set_ylabel("value (as fed to the model)")
    ax.set_title("Per-channel scale", fontsize="medium")
    legend_below(fig, ncols=3)
    return fig


def _receptive_field(baselines, z: float):
    """Balanced accuracy of the pooled random-kernel baseline against its window span (A201's ladder), with the
    receptive field, the whole-series accuracy and chance marked; the legend sits below the axes, off the curve."""
    fig = new_figure("receptive field vs where the class information lives", size=(SINGLE[0], SINGLE[1] + 0.6))
    ax = fig.add_subplot()
    spans = [s.span for s in baselines.ladder]
    acc = [s.balanced_accuracy for s in baselines.ladder]
    ax.plot(spans, acc, "o-", color="tab:blue", label="pooled windows of this span (random kernels, ridge)")
    ax.axhline(baselines.whole.balanced_accuracy, color="tab:green", linestyle="--",
               label=f"whole series: {baselines.whole.balanced_accuracy:.0%}")
    ax.axhline(baselines.chance, color="grey", linestyle=":", label=f"chance: {baselines.chance:.0%}")
    ax.axvline(baselines.receptive_field, color="tab:red",
               label=f"receptive field at the head: {baselines.receptive_field} samples")
    # where the accuracy recovers: the first wider window whose shortfall A201's paired test tells from noise
    recovered = baselines.recovery_span(z)
    if recovered < baselines.length:
        ax.axvline(recovered, color="tab:purple", linestyle="-.",
                   label=f"accuracy recovers: {recovered} samples")
    ax.set_xscale("log", base=2)
    ax.set_xticks(spans, [str(s) for s in spans])  # the spans tried, in samples, not powers of two
    ax.minorticks_off()
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"window span (input samples; series length {baselines.length})")
    ax.set_ylabel("balanced accuracy (test sample)")
    ax.set_title("Receptive field vs where the class information lives", fontsize="medium")
    legend_below(fig, fontsize=7)
    return fig


def _judged(outcomes, code: str) -> bool:
    """The check ran to a verdict (passed or failed): a figure of its fact shows what it judged. A skipped or
    errored check's figure would show a measurement the report does not stand behind, so it is left out."""
    return any(o.code == code and o.status in (Status.PASSED, Status.FAILED) for o in outcomes or [])


def data_figures(ctx, outcomes=None) -> list:
    """Class balance, per-channel scale and, when A201 judged it, the receptive field against the baselines;
    each only when its facts were computed."""
    figures = []
    test_name = ctx.subject.data.held_out.noun
    try:
        figures.append(_class_balance(ctx.subject.labels, test_name))
        if ctx.computed("input_stats"):
            figures.append(_channel_scale(ctx.get("input_stats"), test_name))
        if ctx.computed("receptive_field_baselines") and _judged(outcomes, "A201"):
            figures.append(_receptive_field(ctx.get("receptive_field_baselines"), ctx.thresholds_for("A201")["z"]))
    except Exception as exc:  # a figure must never break a report
        ctx.note(f"a data figure could not be drawn ({type(exc).__name__}: {exc})")
    return figures


def fix_figure(code: str, description: str, before, after):
    """Held-out accuracy and training loss along the probe, at the user's settings and with the fix."""
    fig = new_figure(f"probe before/after the fix for {code}", size=DOUBLE)
    acc_ax, loss_ax = fig.subplots(1, 2)
    runs = [(run, label, style) for run, label, style in
            ((before, "as given", "o--"), (after, f"after {description}", "s-")) if run is not None and run.curve]
    scale = loss_scale(*[[p.train_loss for p in run.curve] for run, _, _ in runs])
    for run, label, style in runs:
        steps = [p.step for p in run.curve]
        acc = [np.nan if p.held_out_accuracy is None else p.held_out_accuracy for p in run.curve]
        acc_ax.plot(steps, acc, style, label=label)
        loss_ax.plot(steps, scale.apply([p.train_loss for p in run.curve]), style, label=label)
    acc_ax.set_xlabel("step")
    acc_ax.set_ylabel("held-out accuracy")
    acc_ax.set_ylim(0, 1.02)
    loss_ax.set_xlabel("step")
    log_loss_axis(loss_ax, scale, "train-slice loss")
    fig.suptitle(f"{code}: the probe as given and with the fix", fontsize="medium")
    legend_below(fig)
    return fig


def report_figures(ctx, fix_runs: dict, findings, outcomes=None, lr_advice: dict | None = None) -> list:
    """Every figure for the report: data, probes (when they ran), and before/after each verified fix.
    ``outcomes`` are the checks' outcomes (a figure of a skipped check is left out); ``lr_advice`` is the
    report's ``lr_range``, whose suggested range the range test's figure shades."""
    figures = data_figures(ctx, outcomes)
    from .figures import figures as probe_figures

    try:
        figures += probe_figures(ctx, lr_advice)
    except Exception as exc:  # a figure must never break a report
        ctx.note(f"a probe figure could not be drawn ({type(exc).__name__}: {exc})")
    described = {f.code: (f.verified or {}).get("fix", "the fix") for f in findings}
    for code, (before, after) in fix_runs.items():
        try:
            figures.append(fix_figure(code, described.get(code, "the fix"), before, after))
        except Exception as exc:
            ctx.note(f"the before/after figure for {code} could not be drawn ({type(exc).__name__}: {exc})")
    return figures
