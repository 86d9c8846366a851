"""The report's figures tell the story: log loss axes with ln K, your lr drawn over the LR range curve, legends
that list exactly what is drawn and sit outside the plots, no receptive-field figure for a skipped A201, failed
checks highlighted in the HTML table, and a real headless browser that renders the report."""

import dataclasses
import math
import re
import shutil
import subprocess

import numpy as np
import pytest

from cnndoctor.api import run_diagnosis
from cnndoctor.context import Context
from cnndoctor.findings import CheckOutcome, Status
from cnndoctor.load.data import data_from_arrays
from cnndoctor.load.subject import make_subject
from cnndoctor.probes.lr_range import suggested_range
from cnndoctor.reporters._axes import loss_scale
from cnndoctor.reporters.figures import (
    figures,
    gradient_figure,
    lr_range_figure,
    overfit_figure,
    probe_curves_figure,
    reference_loss,
)
from cnndoctor.reporters.html import render_html_report
from cnndoctor.reporters.plots import data_figures, fix_figure
from tests.fixtures.data import gunpoint
from tests.fixtures.models import FlattenHeadCNN, TinyCNN

LN2 = math.log(2)


def _subject(model=TinyCNN, scale=1.0, offset=0.0, **kw):
    X, y, Xt, yt = gunpoint()
    data = data_from_arrays(X * scale + offset, y, Xt * scale + offset, yt)
    return make_subject(model, "class", data, name=model.__name__, options={}, device="cpu", **kw)


@pytest.fixture(scope="module")
def unscaled():
    """Probes of a tiny CNN fed raw values around 30,000 (the chance_accuracy sample's story): the losses
    spike into the thousands before they settle at ln 2."""
    ctx = Context(_subject(scale=1000.0, offset=30000.0), budget="quick")
    for name in ("probe_data", "lr_range", "training_probe", "zero_input_probe", "overfit_batch"):
        ctx.get(name)
    return ctx


def _advice(ctx):
    return suggested_range(ctx.get("lr_range"), near_factor=float(ctx.thresholds_for("T201")["near_factor"]),
                           low_factor=float(ctx.thresholds_for("T202")["min_factor"]))


def _drawn(fig) -> list[str]:
    """The labels of what the axes hold (lines, shaded spans, bars, error bars), read from the artists
    themselves, once each: what a legend may list."""
    out = []
    for ax in fig.axes:
        for artist in [*ax.lines, *ax.patches, *ax.collections, *ax.containers]:
            label = artist.get_label()
            if label and not label.startswith("_") and label not in out:
                out.append(label)
    return out


def _legend_texts(fig) -> list[str]:
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    return [t.get_text() for legend in legends for t in legend.get_texts()]


def _hlines(ax) -> dict:
    """Horizontal lines by label: {label: y}."""
    return {line.get_label(): line.get_ydata()[0] for line in ax.lines
            if len(set(line.get_ydata())) == 1 and list(line.get_xdata()) == [0, 1]}


def _vlines(ax) -> dict:
    return {line.get_label(): line for line in ax.lines
            if len(set(line.get_xdata())) == 1 and list(line.get_ydata()) == [0, 1]}


def test_ln_k_is_the_reference_of_the_probe_data(unscaled):
    ref = reference_loss(unscaled)
    assert ref.value == pytest.approx(LN2) and ref.label.startswith("ln K = ln 2 = 0.69")


def test_lr_range_figure_has_a_log_loss_axis_ln_k_your_lr_and_the_suggested_range(unscaled):
    lr, advice = unscaled.get("lr_range"), _advice(unscaled)
    assert max(v for v in lr.losses if math.isfinite(v)) > 100 * LN2  # the spike a linear axis would flatten on
    fig = lr_range_figure(lr, advice, reference_loss(unscaled))
    (ax,) = fig.axes
    assert ax.get_yscale() == "log" and ax.get_xscale() == "log"
    assert _hlines(ax)["ln K = ln 2 = 0.69: an undecided head"] == pytest.approx(LN2)
    bottom, top = ax.get_ylim()
    assert bottom < LN2 < top
    yours = _vlines(ax)[f"your lr {lr.user_lr:.2g}"]
    assert yours.get_xdata()[0] == lr.user_lr
    others = [line.get_linewidth() for line in ax.lines if line is not yours]
    assert yours.get_linewidth() > max(others) and yours.get_zorder() > max(line.get_zorder() for line in ax.lines
                                                                          if line is not yours)
    assert any(t.get_text().strip() == f"your lr {lr.user_lr:.2g}" for t in ax.texts)  # named on the plot too
    assert advice["low"] is not None
    (span,) = [p for p in ax.patches if p.get_label().startswith("suggested range")]
    assert span.get_x() == pytest.approx(advice["low"])
    assert span.get_x() + span.get_width() == pytest.approx(max(advice["high"], advice["low"] * 1.05))
    assert "(steps)" not in ax.get_title()


def test_probe_and_overfit_figures_use_log_loss_axes_with_ln_k(unscaled):
    ref = reference_loss(unscaled)
    run = unscaled.get("training_probe")
    fig = probe_curves_figure(run, unscaled.get("zero_input_probe"), ref)
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_yscale() == "log" and acc_ax.get_yscale() == "linear"
    assert _hlines(loss_ax)[ref.label] == pytest.approx(LN2)
    assert f"{run.steps} steps" in fig._suptitle.get_text() and "(steps)" not in fig._suptitle.get_text()
    over = unscaled.get("overfit_batch")
    fig = overfit_figure(over, ref)
    (ax,) = fig.axes
    assert ax.get_yscale() == "log" and _hlines(ax)[ref.label] == pytest.approx(LN2)
    assert any(line.get_label().startswith(f"lr {over.user.lr:.2g} (your lr)") for line in ax.lines)


def test_legends_list_exactly_what_is_drawn_and_sit_outside_the_plots(unscaled):
    figs = figures(unscaled, _advice(unscaled)) + data_figures(unscaled)
    run = unscaled.get("training_probe")
    figs.append(fix_figure("D102", "standardising each channel", run, run))
    assert len(figs) >= 6
    for fig in figs:
        assert sorted(_legend_texts(fig)) == sorted(_drawn(fig)), fig.get_label()
        assert not any(ax.get_legend() for ax in fig.axes), f"{fig.get_label()}: a legend inside the axes"
        assert fig.legends, fig.get_label()


def test_gradient_legend_names_only_the_kinds_of_layer_drawn_and_counts_the_rest(unscaled):
    run = unscaled.get("training_probe")
    names = [n for n in run.layers if n in run.median_grad_norms()]
    assert set(names) == set(run.weight_layers)  # TinyCNN: every layer with a gradient is a conv or linear one
    fig = gradient_figure(run)
    assert _legend_texts(fig) == ["conv / linear weights"]  # no "other layers" entry: none is drawn
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == names
    assert "not drawn" not in fig.axes[0].get_xlabel()
    capped = gradient_figure(run, max_bars=2)
    (ax,) = capped.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == [names[0], names[-1]]
    assert f"{len(names) - 2} more layers not drawn" in ax.get_xlabel()
    assert sum(len(c) for c in ax.containers) == 2


def test_losses_at_or_below_zero_are_drawn_at_a_floor_and_said(unscaled):
    scale = loss_scale([0.0, 0.5, float("nan"), 2.0], [-1.0])
    assert scale.clipped == 2 and scale.floor == pytest.approx(0.25)
    assert list(scale.apply([0.0, 0.5, float("inf")])[:2]) == [0.25, 0.5]
    assert math.isnan(scale.apply([float("inf")])[0])
    assert loss_scale([0.0, 0.0]).floor > 0  # nothing positive: still somewhere on a log axis
    lr = unscaled.get("lr_range")
    zeroed = dataclasses.replace(lr, losses=[0.0, *lr.losses[1:]])  # an MSE can reach exactly 0
    fig = lr_range_figure(zeroed)
    (ax,) = fig.axes
    fig.canvas.draw()  # the log axis must render with the 0 in the data
    assert ax.get_yscale() == "log" and "1 value(s) ≤ 0 drawn at" in ax.get_ylabel()
    assert np.nanmin(ax.lines[0].get_ydata()) > 0


def test_the_receptive_field_figure_is_drawn_only_when_a201_judged(unscaled):
    unscaled.get("receptive_field_baselines")
    label = "receptive field vs where the class information lives"

    def labels(status):
        outcomes = [CheckOutcome("A201", "small-receptive-field", status, 0.0, "a reason")]
        return [f.get_label() for f in data_figures(unscaled, outcomes)]

    assert label in labels(Status.PASSED) and label in labels(Status.FAILED)
    assert label not in labels(Status.SKIPPED) and label not in labels(Status.ERRORED)
    assert label not in [f.get_label() for f in data_figures(unscaled, [])]  # A201 not run


@pytest.mark.slow
def test_a_skipped_a201_leaves_no_receptive_field_figure_in_the_report():
    report = run_diagnosis(_subject(FlattenHeadCNN, model_args={"in_features": 8 * 74}), select=["A201"],
                           progress=False, figures=True)
    assert [c.status for c in report.checks] == [Status.SKIPPED]
    assert not any("receptive field" in f.get_label() for f in report.figures)


def _rows(html: str) -> dict:
    return dict((code, cls) for cls, code in re.findall(r"<tr class='check-(\w+)'><td class='code'>(\w+)</td>", html))


def test_failed_and_errored_checks_are_highlighted_in_the_html_table():
    report = run_diagnosis(_subject(scale=1000.0, offset=30000.0), select=["D101", "D102", "L101"],
                           progress=False, figures=False)
    crashed = CheckOutcome("X999", "a-check-that-crashed", Status.ERRORED, 0.0, "ZeroDivisionError: boom")
    report = dataclasses.replace(report, checks=[*report.checks, crashed])
    html = render_html_report(report)
    rows = _rows(html)
    assert rows == {c.code: str(c.status) for c in report.checks}
    assert rows["D102"] == "failed" and rows["D101"] == "passed" and rows["X999"] == "errored"
    assert re.search(r"<tr class='check-failed'><td class='code'>D102</td>.*?<span class=\"badge failed\">failed",
                     html)
    assert "<span class=\"badge passed\">" not in html  # only what needs the eye is a badge
    assert ".cnndoctor tr.check-failed td{background:" in html
    assert "1 failed · 1 errored · 2 passed" in html


def _chromium():
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="no Chromium installed to render the HTML report")
def test_the_html_report_renders_in_a_headless_browser(tmp_path):
    from PIL import Image

    report = run_diagnosis(_subject(scale=1000.0, offset=30000.0), select=["D102", "T1", "T201"], budget="quick",
                           progress=False, figures=True)
    page = tmp_path / "report.html"
    page.write_text(render_html_report(report), encoding="utf-8")
    shot = tmp_path / "report.png"
    subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,3000",
                    "--hide-scrollbars", page.as_uri()], check=True, capture_output=True, timeout=120)
    image = np.asarray(Image.open(shot).convert("RGB"))
    assert image.shape[:2] == (3000, 1200)
    colours = np.unique(image.reshape(-1, 3), axis=0)
    assert len(colours) > 50  # text, plots and badges, not one blank colour
    drawn = (image != image[0, 0]).any(axis=2)  # what differs from the page background
    assert drawn.mean() > 0.05 and drawn[:, :600].any() and drawn[:, 600:].any()
