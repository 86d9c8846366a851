"""The runner isolates checks: a crash is 'errored', a Skip is 'skipped', the run goes on."""

import numpy as np

from cnndoctor import Finding
from cnndoctor.context import Context
from cnndoctor.errors import Skip
from cnndoctor.load.data import data_from_arrays
from cnndoctor.load.subject import make_subject
from cnndoctor.registry import make_spec, select_checks
from cnndoctor.runner import run_checks
from tests.fixtures.data import gunpoint
from tests.fixtures.models import TinyCNN


def _ctx():
    X_train, y_train, X_test, y_test = gunpoint()
    data = data_from_arrays(X_train, y_train, X_test, y_test)
    return Context(make_subject(TinyCNN, "class", data, name="TinyCNN"))


def crashing(labels):
    """crash"""
    raise ZeroDivisionError("boom")


def skipping(labels):
    """skip"""
    raise Skip("does not apply")


def finding_without_evidence(labels):
    """bad"""
    yield Finding(message="no numbers", evidence={}, fix="x")


def flags(n_classes, *, limit=1):
    """flag"""
    if n_classes > limit:
        yield Finding(message="too many", evidence={"n_classes": n_classes, "limit": limit}, fix="fewer")


def test_crash_skip_and_normal_checks_side_by_side():
    specs = [make_spec(crashing, "D990", "crashing", "error"), make_spec(skipping, "D991", "skipping", "error"),
             make_spec(finding_without_evidence, "D992", "no-evidence", "error"),
             make_spec(flags, "D993", "flags", "warning")] + select_checks(["D101"])
    findings, outcomes = run_checks(_ctx(), specs)
    status = {o.code: o.status for o in outcomes}
    assert status == {"D990": "errored", "D991": "skipped", "D992": "errored", "D993": "failed",
                      "D101": "passed"}
    reasons = {o.code: o.reason for o in outcomes}
    assert "ZeroDivisionError: boom" in reasons["D990"]
    assert reasons["D991"] == "does not apply"
    assert "without evidence" in reasons["D992"]
    assert [(f.code, f.name, str(f.severity)) for f in findings] == [("D993", "flags", "warning")]
    assert all(o.seconds >= 0 for o in outcomes)


def test_thresholds_can_be_overridden():
    spec = make_spec(flags, "D993", "flags", "warning")
    findings, _ = run_checks(_ctx(), [spec], thresholds={"D993": {"limit": 5}})
    assert findings == []


def test_facts_are_computed_once():
    ctx = _ctx()
    first = ctx.input_stats
    assert ctx.input_stats is first
    assert "input_stats" in ctx.timings
    assert np.isfinite(first["train"].overall_mean)
