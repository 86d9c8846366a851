"""The Python API and the Report object."""

import json

import pytest
import torch

import cnndoctor
from tests.fixtures.data import gunpoint
from tests.fixtures.models import FlattenHeadCNN, TinyCNN


def test_diagnose_accepts_tensors_and_reports(run):
    X_train, y_train, X_test, y_test = gunpoint()
    report = run(TinyCNN, (torch.tensor(2048 + 400 * X_train), torch.tensor(y_train)),
                 (torch.tensor(2048 + 400 * X_test), torch.tensor(y_test)), select=["D1", "L1"])
    assert isinstance(report, cnndoctor.Report)
    assert report.primary.code == "D102"
    assert not report.passed() and report.passed("never")
    assert json.loads(report.to_json())["findings"][0]["code"] == "D102"
    assert report.to_markdown().startswith("## cnndoctor:")
    bundle = report._repr_mimebundle_()
    assert "D102" in bundle["text/plain"] and "class=\"cnndoctor\"" in bundle["text/html"]
    assert repr(report).startswith("<Report 1 error") and "primary cause: D102" in repr(report)


@pytest.mark.slow
def test_diagnose_without_test_split_splits_and_says_so(run):
    X_train, y_train, _, _ = gunpoint()
    report = run(TinyCNN, (X_train, y_train))
    assert report.subject["n_train"] == 40 and report.subject["test_name"] == "held-out"
    assert any("80/20" in n for n in report.notes)


def test_healthy_model_passes_the_static_checks(run):
    X_train, y_train, X_test, y_test = gunpoint()
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D", "L1", "L2", "A"])
    assert report.passed() and report.findings == []
    assert {c.status for c in report.checks} <= {"passed", "skipped"}


def test_report_renders_in_rich(run):
    from io import StringIO

    from rich.console import Console

    X_train, y_train, X_test, y_test = gunpoint()
    report = run(FlattenHeadCNN, (X_train, y_train), (X_test, y_test), select=["A"])
    buf = StringIO()
    Console(file=buf, width=100, color_system=None).print(report)
    text = buf.getvalue()
    assert "A101 forward-error" in text and "failed here" in text


def test_factory_function_gets_arguments_by_name(run):
    X_train, y_train, X_test, y_test = gunpoint()

    def build_model(n_channels, n_classes):
        return TinyCNN(n_channels, n_classes)

    report = run(build_model, (X_train, y_train), (X_test, y_test), select=["D101"])
    assert report.subject["model_arguments"] == {"n_channels": 1, "n_classes": 2}


@pytest.mark.slow
def test_seeded_runs_are_identical(run):
    X_train, y_train, X_test, y_test = gunpoint()
    a = run(TinyCNN, (X_train * 1e3, y_train), (X_test * 1e3, y_test), budget="quick").to_dict()
    b = run(TinyCNN, (X_train * 1e3, y_train), (X_test * 1e3, y_test), budget="quick").to_dict()
    assert _without_times(a) == _without_times(b)
    assert a["findings"][0]["code"] == "D102" and a["findings"][0]["verified"]["after"] is not None


def _without_times(doc):
    """The report minus wall-clock measurements, which differ between runs by nature."""
    if isinstance(doc, dict):
        return {k: _without_times(v) for k, v in doc.items()
                if "second" not in k and k not in ("timings", "notes", "runtime")}
    if isinstance(doc, list):
        return [_without_times(v) for v in doc]
    return doc
