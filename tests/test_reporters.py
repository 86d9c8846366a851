"""Reporters render plain report data: terminal snapshots, a self-contained HTML file, Markdown.

Snapshots are rendered at a fixed width with colour off; wall-clock times are replaced by a
placeholder. Regenerate them with ``CNNDOCTOR_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_reporters.py``.
"""

import dataclasses
import os
import re
from pathlib import Path

import pytest

from cnndoctor.api import run_diagnosis
from cnndoctor.load.data import load_data
from cnndoctor.load.model import load_model_file
from cnndoctor.load.subject import make_subject
from tests.fixtures.data import gunpoint, ucr
from tests.fixtures.models import FlatHeadCNN, FlattenHeadCNN

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
VERIFIED = {"fix": "standardising each channel with training statistics", "status": "verified",
            "metric": "held-out accuracy", "before": 0.1, "after": 0.44, "loss_before": 2.31, "loss_after": 1.62,
            "steps": 100, "seconds": 9.5}


def _sample_report(figures=False):
    mf = load_model_file(ROOT / "sample_data/chance_accuracy/model.py")
    data = load_data(ROOT / "sample_data/chance_accuracy/data.npz")
    data.source = "sample_data/chance_accuracy/data.npz"
    subject = make_subject(mf.target, mf.kind, data, name=f"model.py:{mf.name}", options=mf.options, device="cpu")
    report = run_diagnosis(subject, select=["D101", "D102", "L101", "L201", "A1"], progress=False, figures=figures)
    report.findings[0] = dataclasses.replace(report.findings[0], verified=VERIFIED)
    report.timings["total"] = 1.5
    return report


def _stable(text: str) -> str:
    return re.sub(r"\d+(\.\d+)? s\b", "<t> s", text)


def _compare(name: str, text: str):
    path = SNAPSHOTS / name
    text = _stable(text)
    if os.environ.get("CNNDOCTOR_UPDATE_SNAPSHOTS") or not path.exists():
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed; regenerate if intended"


def test_terminal_snapshot_of_the_broken_sample():
    text = _sample_report().to_text(width=100, color=False)
    assert "\x1b[" not in text
    assert "verified: 10% → 44% held-out accuracy after standardising" in " ".join(text.split())
    _compare("broken_sample.txt", text)


def test_terminal_snapshot_of_the_broken_sample_at_80_columns():
    text = _sample_report().to_text(width=80, color=False)
    assert max(len(line) for line in text.splitlines() if not line.startswith(" " * 6)) <= 80  # only code overflows
    _compare("broken_sample_80.txt", text)


@pytest.mark.slow
def test_terminal_snapshot_of_the_whole_sample_at_80_columns():
    """What `cnndoctor run` on the sample prints by default, every check run: the primary cause in full, its
    symptoms folded to a line each, the other causes, and the line saying what -v adds."""
    mf = load_model_file(ROOT / "sample_data/chance_accuracy/model.py")
    data = load_data(ROOT / "sample_data/chance_accuracy/data.npz")
    data.source = "sample_data/chance_accuracy/data.npz"
    subject = make_subject(mf.target, mf.kind, data, name=f"model.py:{mf.name}", options=mf.options, device="cpu")
    report = run_diagnosis(subject, progress=False, figures=False)
    report.timings["total"] = 1.5
    text = report.to_text(width=80, color=False)
    assert max(len(line) for line in text.splitlines() if not line.startswith(" " * 6)) <= 80  # only code overflows
    assert "↳ " in text and "-v shows" in text.splitlines()[-2]
    _compare("full_sample_80.txt", text)


def _snippet_block(text: str, first_line: str) -> str:
    """The snippet as printed: from the line that starts it, every following line indented by six spaces."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(first_line))
    block = []
    for line in lines[start:]:
        if not line.startswith(" " * 6):
            break
        block.append(line[6:])
    return "\n".join(block)


@pytest.mark.parametrize("width", [80, 100])
def test_terminal_snippets_paste_and_run_at_80_and_100_columns(width):
    report = _sample_report()
    (finding,) = [f for f in report.findings if f.code == "D102"]
    text = report.to_text(width=width, color=False)
    block = _snippet_block(text, finding.snippet.splitlines()[0].strip())
    assert block == finding.snippet.rstrip()  # every line whole: no comment wrapped onto a line of its own
    assert all(line == line.rstrip() for line in block.splitlines())  # no trailing spaces
    import numpy as np

    X_train = np.random.default_rng(0).normal(30000, 2000, (8, 150))
    scope = {"np": np}
    exec(compile(block, "<pasted snippet>", "exec"), scope)  # pasted, it runs: the fit_preprocess for model.py
    assert abs(float(scope["fit_preprocess"](X_train)(X_train).mean())) < 1e-6


def test_terminal_snapshot_of_a_failing_forward(run):
    X_train, y_train, X_test, y_test = gunpoint()
    report = run(FlattenHeadCNN, (X_train, y_train), (X_test, y_test), select=["A101"], figures=False)
    report.timings["total"] = 1.0
    text = report.to_text(width=100, color=False)
    assert "failed here" in text
    _compare("failing_forward.txt", text)


def test_summary_line_is_pytest_style():
    report = _sample_report()
    line = report.to_text(width=100).strip().splitlines()[-1]
    assert re.match(r"^\d+ errors?(, \d+ warnings?)?.* · primary cause: D102 · 1\.5 s · \d+/\d+ checks passed$", line)


def test_html_is_self_contained_and_embeds_figures(tmp_path):
    report = _sample_report(figures=True)
    path = tmp_path / "report.html"
    report.save_html(path)
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", html), "external reference in the HTML"
    assert "http://" not in html and "https://" not in html and "<script" not in html and "<link" not in html
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', html)
    assert {"class balance", "per-channel scale"} <= set(images)
    assert "Verified: 10% → 44%" in html and "D102 unscaled-input" in html and "Shape trace" in html


def test_notebook_bundle_matches_the_html():
    report = _sample_report(figures=True)
    bundle = report._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert bundle["text/html"].startswith('<div class="cnndoctor">')
    assert bundle["text/html"].count("data:image/png;base64,") == len(report.figures)
    assert "D102" in bundle["text/plain"]


def test_markdown_has_the_verified_effect_and_the_checks_table():
    md = _sample_report().to_markdown()
    assert md.startswith("## cnndoctor: ")
    assert "**Verified: 10% → 44% held-out accuracy" in md
    assert "| check | status | seconds | reason |" in md


def test_figures_are_figures_not_pyplot():
    from matplotlib.figure import Figure

    report = _sample_report(figures=True)
    assert report.figures and all(isinstance(f, Figure) for f in report.figures)
    assert all(f.canvas.manager is None for f in report.figures)  # never registered with pyplot


@pytest.mark.parametrize("fmt", ["json", "markdown", "html", "github", "gitlab", "junit"])
def test_every_format_renders_the_same_report(fmt, tmp_path, capsys):
    from cnndoctor.cli import main

    out = tmp_path / f"report.{fmt}"
    code = main(["run", str(ROOT / "sample_data/chance_accuracy/model.py"),
                 str(ROOT / "sample_data/chance_accuracy/data.npz"), "--select", "D102", "--format", fmt,
                 "-o", str(out), "-q", "--isolated"])
    assert code == 1
    assert "D102" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize("environ, tty, expected", [
    ({"FORCE_COLOR": "0"}, False, False),  # 0: no forcing, the stream decides
    ({"FORCE_COLOR": "0"}, True, True),
    ({"FORCE_COLOR": ""}, False, False),
    ({"FORCE_COLOR": "1"}, False, None),  # forcing: rich reads it
    ({}, False, None),
])
def test_force_color_follows_the_convention(environ, tty, expected):
    from cnndoctor.reporters.terminal import force_terminal_for

    class Stream:
        def isatty(self):
            return tty

    assert force_terminal_for(Stream(), environ) is expected


def test_force_color_zero_gives_no_colour_on_a_pipe():
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["FORCE_COLOR"] = "0"
    out = subprocess.run([sys.executable, "-m", "cnndoctor", "list"], capture_output=True, text=True, env=env,
                         timeout=120).stdout
    assert "D101" in out and "\x1b[" not in out
    env["FORCE_COLOR"] = "1"
    forced = subprocess.run([sys.executable, "-m", "cnndoctor", "list"], capture_output=True, text=True, env=env,
                            timeout=120).stdout
    assert "\x1b[" in forced


def test_finding_and_report_print_readably(run):
    from tests.fixtures.models import TinyCNN

    X, y, Xt, yt = gunpoint()
    report = run(TinyCNN, (X * 2000 + 32768, y), (Xt * 2000 + 32768, yt), select=["D102"])
    f = report.primary
    assert str(f).startswith(f"{str(f.severity).upper()} D102 unscaled-input: The model is fed unscaled input.")
    assert "\nfix: Standardise" in str(f)
    assert repr(f).startswith(f"<Finding D102 unscaled-input {f.severity}: 'The model is fed unscaled input.")
    assert str(report).splitlines()[-1] == report.summary_line()
    assert str(report).startswith(report.diagnosis["headline"]) and repr(report).startswith("<Report ")


def test_the_lr_range_test_is_reported_when_t201_and_t202_are_silent(run):
    X_train, y_train, X_test, y_test = ucr("ItalyPowerDemand")
    report = run(FlatHeadCNN, (X_train, y_train), (X_test, y_test), lr=1e-3, select=["T201", "T202"])
    assert [f.code for f in report.findings] == []
    lr = report.lr_range
    assert lr["ran"] and lr["low"] <= lr["suggested_lr"] <= lr["high"] <= lr["lr_at_min_loss"]
    assert lr["user_lr"] == 1e-3 and lr["user_position"] in ("below", "inside", "above")
    assert lr["user_to_suggested"] == pytest.approx(1e-3 / lr["suggested_lr"], rel=1e-3)
    assert lr["reason"].startswith("from ") and "suggested" in lr["reason"]
    assert report.to_dict()["lr_range"] == lr
    text, markdown, html = report.to_text(width=120), report.to_markdown(), report.to_html()
    assert "learning-rate range test:" in text and "suggested range" in text
    assert "### Learning-rate range test" in markdown and "Learning-rate range test</h2>" in html
    assert f"{lr['low']:.2g} – {lr['high']:.2g}" in markdown


def test_no_lr_range_section_when_the_range_test_did_not_run(run):
    X_train, y_train, X_test, y_test = gunpoint()
    report = run(FlattenHeadCNN, (X_train, y_train), (X_test, y_test), select=["A101"])
    assert report.lr_range is None and report.to_dict()["lr_range"] is None
    assert "learning-rate range test" not in report.to_text(width=100).lower()
