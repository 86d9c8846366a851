"""Warnings raised while cnndoctor runs the user's model are kept in the report, attributed, and off stderr
(issue 17); the user's own warning filters are respected and restored."""

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch.nn as nn
import torch.nn.functional as F

from cnndoctor import Finding, Report, Severity
from cnndoctor.guard.user_warnings import capture_warnings
from cnndoctor.reporters.html import render_html_report
from cnndoctor.reporters.markdown import render_markdown
from tests.fixtures.data import gunpoint

ROOT = Path(__file__).resolve().parents[1]
SOFTMAX = "Implicit dimension choice for softmax"
SELECT = ["D101", "L101", "T101"]  # a forward pass, the model's outputs and a training probe


class ImplicitSoftmaxCNN(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, 8, 5, padding=2)
        self.head = nn.Linear(8, num_classes)

    def forward(self, x):
        return F.softmax(self.head(self.conv(x).relu().mean(-1))).log()  # no dim=: torch warns


def _data():
    X_train, y_train, X_test, y_test = gunpoint()
    return (X_train, y_train), (X_test, y_test)


@pytest.mark.slow
def test_a_warning_in_the_users_forward_is_in_the_report_once_with_its_line_and_phase_not_shown(run):
    train, test = _data()
    filters = list(warnings.filters)
    with warnings.catch_warnings(record=True) as shown:  # what the user would have seen printed
        warnings.simplefilter("always")
        report = run(ImplicitSoftmaxCNN, train, test, select=SELECT, budget="quick")
        warnings.warn("the user's own warning, after the run")
    assert [str(w.message) for w in shown] == ["the user's own warning, after the run"]  # not swallowed after
    assert warnings.filters == filters  # the user's filters are back
    softmax = [w for w in report.warnings if w["message"].startswith(SOFTMAX)]
    assert len(softmax) == 1  # every probe step warned: one entry
    entry = softmax[0]
    assert entry["category"] == "UserWarning" and entry["origin"] in ("torch", "your code")
    assert entry["user_line"].startswith("test_user_warnings.py line ") and entry["user_line"].endswith("forward")
    assert entry["phases"][0].startswith("computing ") and "(fact " in entry["phases"][0]
    assert json.loads(report.to_json())["warnings"] == report.warnings


@pytest.mark.slow
def test_a_warning_the_user_ignores_stays_ignored(run):
    train, test = _data()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=SOFTMAX)
        report = run(ImplicitSoftmaxCNN, train, test, select=["D101", "L101"], budget="quick")
    assert not [w for w in report.warnings if w["message"].startswith(SOFTMAX)]


def test_captures_nest_and_a_failed_run_says_its_warnings_on_stderr(capsys):
    with pytest.raises(ValueError), capture_warnings() as outer:
        with capture_warnings() as inner:
            assert inner is outer  # one run, one log
            for _ in range(2):  # the same line twice: one entry
                warnings.warn("from the model file", UserWarning)
        raise ValueError("the run failed")
    assert [e.message for e in outer.entries] == ["from the model file"]
    assert outer.entries[0].origin == "your code"
    err = capsys.readouterr().err
    assert "cnndoctor: your code warned while running your code: UserWarning: from the model file" in err


def _report_with(warned: list[dict]) -> Report:
    finding = Finding(message="Unscaled.", evidence={"rms": 9.0}, fix="Scale it.", code="D102",
                      name="unscaled-input", severity=Severity.ERROR)
    return Report("0.0.0", {"model": "model.py:Net", "data": "data.npz"}, {"headline": "h"}, [finding], [],
                  {"total": 1.0}, warnings=warned)


def test_reporters_render_the_warnings_attributed():
    warned = [{"category": "UserWarning", "message": "Using padding='same' with even kernel lengths",
               "origin": "torch", "location": "torch/nn/modules/conv.py:380",
               "user_line": "model.py line 12, in forward",
               "phases": ["computing the training probe (fact training_probe, for check T101 x)", "computing b"]}]
    line = ("torch warned while computing the training probe (fact training_probe, for check T101 x) (and 1 more "
            "step), from model.py line 12, in forward: UserWarning: Using padding='same' with even kernel lengths "
            "[torch/nn/modules/conv.py:380]")
    report = _report_with(warned)
    assert f"- {line}" in render_markdown(report)
    assert "padding=&#x27;same&#x27; with even kernel lengths" in render_html_report(report, fragment=True)
    text = report.to_text(width=400)
    assert "warnings raised while cnndoctor ran your model" in text and line in text
    quiet = _report_with([])
    assert "warnings raised" not in quiet.to_text() + render_markdown(quiet) + render_html_report(quiet)


WARNING_MODEL = textwrap.dedent("""
    import warnings
    import torch.nn as nn
    warnings.warn("model.py is importing")  # at import: the CLI's capture covers it
    class Net(nn.Module):
        def __init__(self, in_channels, num_classes):
            super().__init__()
            self.conv = nn.Conv1d(in_channels, 4, kernel_size=4, padding="same")  # even kernel: torch warns
            self.head = nn.Linear(4, num_classes)
        def forward(self, x):
            return self.head(self.conv(x).relu().mean(-1))
""")


def _cli(tmp_path, *args):
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "cnndoctor", "run", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=300, cwd=str(tmp_path))


@pytest.mark.slow
def test_cli_keeps_torchs_warning_off_stderr_and_in_the_report(tmp_path):
    # torch warns about padding='same' with an even kernel once per process (TORCH_WARN_ONCE): a fresh process
    (tmp_path / "model.py").write_text(WARNING_MODEL)
    X_train, y_train, X_test, y_test = gunpoint()
    np.savez(tmp_path / "data.npz", X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test)
    proc = _cli(tmp_path, "model.py", "data.npz", "--format", "json", "--budget", "quick", "--select", "D101,A101")
    assert proc.returncode in (0, 1), proc.stderr
    assert "Warning" not in proc.stderr and "padding='same'" not in proc.stderr and "importing" not in proc.stderr
    warned = json.loads(proc.stdout)["warnings"]
    padding = next(w for w in warned if "padding='same' with even kernel" in w["message"])
    assert padding["origin"] == "torch" and padding["location"].startswith("torch/nn/modules/conv.py:")
    assert padding["user_line"].startswith("model.py line 11, in forward")
    assert padding["phases"] == ["computing the first forward pass on your samples (fact feed, for check A101 "
                                 "forward-error)"]
    imported = next(w for w in warned if w["message"] == "model.py is importing")
    assert imported["origin"] == "your code" and imported["location"] == "model.py:4"
    assert imported["phases"] == ["importing the model file"]


@pytest.mark.slow
def test_cli_run_that_fails_still_says_the_warnings_it_met(tmp_path):
    (tmp_path / "model.py").write_text(WARNING_MODEL)
    proc = _cli(tmp_path, "model.py", "missing.npz", "-q")
    assert proc.returncode == 2
    assert "cnndoctor: your code warned while importing the model file: UserWarning: model.py is importing" \
        in proc.stderr
