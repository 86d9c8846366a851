"""Verified fixes that mean something (issue 17): each cause's fix alone against the same unfixed probe, the fixes
of several causes together, and "verified" only when the fixed probe clearly beats chance and the unfixed probe.

The probes run on the runnable sample (`sample_data/chance_accuracy`: 16-bit counts fed unscaled, 10 classes), on
that sample with its labels shuffled (no signal to find), with a final Softmax added (a second cause), and on a
tiny CNN whose forward fails in training mode (no probe can run).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch.nn as nn

from cnndoctor.context import Context
from cnndoctor.diagnosis.order import ChanceRule, build_diagnosis
from cnndoctor.diagnosis.verify import Measured, gain_band, judge, verify_fixes
from cnndoctor.findings import NO_RESULT, NOT_VERIFIED, VERIFIED, VERIFY_STATUSES, Finding, Severity
from cnndoctor.load.data import data_from_arrays
from cnndoctor.load.labels import encode_labels
from cnndoctor.load.model import load_model_file
from cnndoctor.load.subject import make_subject
from cnndoctor.probes.budget import BUDGETS, COMBINED_MIN_RUNS, fixes_verified_alone
from cnndoctor.reporters._format import combined_text, verified_text
from tests.fixtures.data import gunpoint
from tests.fixtures.models import TinyCNN

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "chance_accuracy"
RULE = ChanceRule()


# The verdict: pure numbers, judged with the gate's chance band

def _measured(balanced, *, k=3, per_class=40, why=None, truncated=False):
    counts = {str(c): per_class for c in range(k)}
    if balanced is None:
        return Measured(n_classes=k, why=why, truncated=truncated, steps=5, max_steps=100)
    return Measured(accuracy=balanced, balanced=balanced, counts=counts, n_classes=k, steps=100, max_steps=100)


def test_a_fix_at_chance_is_not_verified_whatever_it_gained():
    """30% on three classes is below 33% chance: however far it rose from the unfixed probe, it is not verified."""
    verdict = judge(_measured(0.05), _measured(0.30), RULE)
    assert verdict["status"] == NOT_VERIFIED
    assert verdict["reason"].startswith("still at chance: balanced accuracy 30% vs 33% chance")
    band = RULE.probe_band({"n_classes": 3, "n_per_class": {"0": 40, "1": 40, "2": 40}})
    assert verdict["chance_band"] == pytest.approx(band, abs=1e-4)  # the gate's band, read from the rule
    just_inside = judge(_measured(0.05), _measured(1 / 3 + band - 0.001), RULE)
    just_outside = judge(_measured(0.05), _measured(1 / 3 + band + 0.001), RULE)
    assert just_inside["status"] == NOT_VERIFIED and just_outside["status"] == VERIFIED


def test_a_fix_no_better_than_the_unfixed_probe_is_not_verified():
    verdict = judge(_measured(0.80), _measured(0.82), RULE)
    assert verdict["status"] == NOT_VERIFIED
    assert verdict["reason"].startswith("no better than unfixed: balanced accuracy 82% vs 80%")
    margin = gain_band(_measured(0.80), _measured(0.82))
    assert 0.05 < margin < 0.2 and verdict["gain_band"] == pytest.approx(margin, abs=1e-4)
    assert judge(_measured(0.80), _measured(0.80 + margin + 0.01), RULE)["status"] == VERIFIED
    # more held-out samples, a smaller margin: the same gain then verifies
    big = judge(_measured(0.80, per_class=4000), _measured(0.82, per_class=4000), RULE)
    assert big["status"] == VERIFIED and big["gain_band"] < 0.02


def test_a_probe_without_a_number_gives_no_result_in_one_clause():
    failed = _measured(None, why="RuntimeError: shapes do not match")
    neither = judge(failed, failed, RULE)
    assert neither == {"status": NO_RESULT,
                       "reason": "neither probe gave a number, both for one reason: RuntimeError: shapes do not match"}
    capped = _measured(None, why="it stopped at its time cap after 5 of 100 steps", truncated=True)
    assert judge(capped, _measured(0.9), RULE)["status"] == NO_RESULT  # nothing to compare with
    assert judge(_measured(0.3), capped, RULE)["reason"].startswith("the probe with the fix gave no number: it stopped")
    # the unfixed probe could not train at all: a fix clearly above chance is verified
    could_not_train = judge(failed, _measured(0.9), RULE)
    assert could_not_train["status"] == VERIFIED and "could not train" in could_not_train["reason"]


def test_the_lines_say_the_status_and_never_garble_a_missing_number():
    base = {"fix": "standardising each channel", "metric": "held-out accuracy", "steps": 100}
    assert verified_text({**base, "status": VERIFIED, "before": 0.1, "after": 0.61}) == (
        "verified: 10% → 61% held-out accuracy after standardising each channel, 100-step probe")
    line = verified_text({**base, "status": NOT_VERIFIED, "before": 0.1, "after": 0.3,
                          "reason": "still at chance: balanced accuracy 30% vs 33% chance"})
    assert line == ("not verified: 10% → 30% held-out accuracy after standardising each channel, 100-step probe; "
                    "still at chance: balanced accuracy 30% vs 33% chance")
    none = verified_text({**base, "status": NO_RESULT, "before": None, "after": None,
                          "reason": "neither probe gave a number, both for one reason: the forward pass fails"})
    assert none == ("no result for standardising each channel: neither probe gave a number, both for one reason: "
                    "the forward pass fails") and "→" not in none
    together = {"codes": ["D102", "L202"], "status": VERIFIED, "before": 0.1, "after": 0.61,
                "metric": "held-out accuracy"}
    assert combined_text(together) == "together: 10% → 61% held-out accuracy (D102 + L202), verified"
    assert combined_text({**together, "status": NOT_VERIFIED, "after": 0.12, "reason": "still at chance"}) == (
        "together: 10% → 12% held-out accuracy (D102 + L202), not verified: still at chance")


def test_the_headline_says_verified_only_for_a_verified_fix():
    labels = encode_labels(np.repeat(np.arange(3), 10), np.repeat(np.arange(3), 10))

    def headline(status, **v):
        finding = Finding(message="The inputs are not scaled.", evidence={}, fix="scale", code="D102",
                          name="unscaled-input", severity=Severity.ERROR,
                          verified={"fix": "standardising each channel", "status": status, "steps": 100, **v})
        return build_diagnosis([finding], labels)["headline"]

    assert "Verified: standardising each channel took held-out accuracy from 10% to 61% in a 100-step probe." in \
        headline(VERIFIED, before=0.1, after=0.61, reason="clearly above")
    at_chance = headline(NOT_VERIFIED, before=0.05, after=0.3, reason="still at chance: balanced accuracy 30% vs 33%")
    assert "Verified" not in at_chance and ("Not verified: standardising each channel took held-out accuracy from 5% "
                                            "to 30% in a 100-step probe; still at chance") in at_chance
    none = headline(NO_RESULT, before=None, after=None, reason="neither probe gave a number")
    assert "Verified" not in none and "could not be verified: neither probe gave a number." in none


def test_the_budget_keeps_one_run_for_the_combined_fix():
    quick, standard, thorough = BUDGETS["quick"], BUDGETS["standard"], BUDGETS["thorough"]
    assert quick.verify_fixes < COMBINED_MIN_RUNS <= standard.verify_fixes
    assert [fixes_verified_alone(quick, n) for n in (1, 2, 3)] == [1, 1, 1]  # alone only: no run to combine
    assert [fixes_verified_alone(standard, n) for n in (1, 2, 3)] == [1, 2, 2]  # 2 alone + 1 together
    assert fixes_verified_alone(thorough, 9) == thorough.verify_fixes - 1
    assert set(VERIFY_STATUSES) == {"verified", "not verified", "no result"}


# Real probes on real data

def _sample(*, softmax=False, shuffle_labels=False, budget="quick"):
    mf = load_model_file(SAMPLE / "model.py")
    d = np.load(SAMPLE / "data.npz")
    y_train, y_test = d["y_train"], d["y_test"]
    if shuffle_labels:  # the same series, labels that carry no signal
        rng = np.random.default_rng(0)
        y_train, y_test = rng.permutation(y_train), rng.permutation(y_test)
    data = data_from_arrays(d["X_train"], y_train, d["X_test"], y_test)
    target, kind = mf.target, mf.kind
    if softmax:  # the tutorial model with a final Softmax before CrossEntropyLoss: a second cause (L202)
        def target(in_channels, num_classes, seq_len):
            return nn.Sequential(mf.target(in_channels, num_classes, seq_len), nn.Softmax(dim=1))
        kind = "factory"
    subject = make_subject(target, kind, data, name="model.py", options=mf.options, device="cpu")
    ctx = Context(subject, budget=budget)
    ctx.get("training_probe")  # the unfixed probe, as the probe checks run it
    return ctx


def _cause(code, name):
    return Finding(message=f"{code}", evidence={}, fix="fix it", code=code, name=name, severity=Severity.ERROR)


@pytest.mark.slow
def test_standardising_the_unscaled_sample_is_verified():
    ctx = _sample()
    (found,), runs, combined = verify_fixes(ctx, [_cause("D102", "unscaled-input")])
    v = found.verified
    assert v["status"] == VERIFIED, v
    assert v["balanced_before"] <= v["chance"] + v["chance_band"] < v["balanced_after"]
    assert v["balanced_after"] - v["balanced_before"] > v["gain_band"] and v["steps"] == 40
    assert set(runs) == {"D102"} and combined is None  # one cause: nothing to combine


@pytest.mark.slow
def test_a_fix_whose_probe_stays_at_chance_is_not_verified_with_the_reason():
    ctx = _sample(shuffle_labels=True)
    (found,), _, _ = verify_fixes(ctx, [_cause("D102", "unscaled-input")])
    v = found.verified
    assert v["status"] == NOT_VERIFIED and v["reason"].startswith("still at chance: balanced accuracy"), v
    assert v["after"] is not None and verified_text(v).startswith("not verified: ")


@pytest.mark.slow
def test_a_budget_too_small_to_combine_verifies_the_first_cause_and_says_what_it_cut():
    ctx = _sample(softmax=True, budget="quick")
    found, _, combined = verify_fixes(ctx, [_cause("D102", "unscaled-input"), _cause("L202", "softmax-before-loss")])
    assert found[0].verified is not None and found[1].verified is None and combined is None
    assert any("Fixes not verified within the quick budget" in n and "L202" in n for n in ctx.notes), ctx.notes


@pytest.mark.slow
def test_standardising_data_already_standardised_is_no_better_than_unfixed():
    """The healthy sample (GunPoint, already standardised) learns at your settings; standardising again changes
    next to nothing, so the fix is not verified however far above chance the probe is."""
    mf = load_model_file(ROOT / "sample_data" / "healthy" / "model.py")
    d = np.load(ROOT / "sample_data" / "healthy" / "data.npz")
    subject = make_subject(mf.target, mf.kind, data_from_arrays(d["X_train"], d["y_train"], d["X_test"], d["y_test"]),
                           name="model.py", options=mf.options, device="cpu")
    ctx = Context(subject, budget="quick")
    ctx.get("training_probe")
    (found,), _, _ = verify_fixes(ctx, [_cause("D102", "unscaled-input")])
    v = found.verified
    assert v["balanced_after"] > v["chance"] + v["chance_band"], v  # clearly above chance ...
    assert v["status"] == NOT_VERIFIED and v["reason"].startswith("no better than unfixed: balanced accuracy"), v
    assert f"noise on {sum(np.unique(d['y_test'], return_counts=True)[1])} held-out samples" in v["reason"]


class FailsInTraining(TinyCNN):
    """Runs in eval mode (its shape trace is fine) and raises in training mode: no training probe can run."""

    def forward(self, x):
        if self.training:
            raise RuntimeError("this model only runs in eval mode")
        return super().forward(x)


@pytest.mark.slow
def test_a_probe_that_cannot_run_gives_no_result_and_says_why_once():
    X, y, Xt, yt = gunpoint()
    subject = make_subject(FailsInTraining, "class", data_from_arrays(X * 1000 + 5000, y, Xt * 1000 + 5000, yt),
                           name="FailsInTraining", device="cpu")
    ctx = Context(subject, budget="quick")
    ctx.get("training_probe")
    (found,), runs, _ = verify_fixes(ctx, [_cause("D102", "unscaled-input")])
    v = found.verified
    assert v["status"] == NO_RESULT and v["before"] is None and v["after"] is None and runs == {}
    assert v["reason"].startswith("neither probe gave a number, both for one reason: RuntimeError: this model only "
                                  "runs in eval mode")
    assert verified_text(v).count(v["before_note"]) == 1 and "→" not in verified_text(v)  # said once, no arrow


@pytest.mark.slow
def test_two_causes_are_verified_alone_and_together_and_every_format_says_so(run):
    """Unscaled input and a Softmax before CrossEntropyLoss (the whole pipeline, standard budget): standardising
    alone learns, removing the Softmax alone stays at chance, both together learn best; each alone is judged
    against the same unfixed probe. The diagnosis's ``combined`` entry is one line in the terminal, Markdown and
    HTML reports, and in the JSON."""
    mf = load_model_file(SAMPLE / "model.py")
    d = np.load(SAMPLE / "data.npz")

    def model(in_channels, num_classes, seq_len):
        return nn.Sequential(mf.target(in_channels, num_classes, seq_len), nn.Softmax(dim=1))

    report = run(model, (d["X_train"], d["y_train"]), (d["X_test"], d["y_test"]), lr=1e-3, batch_size=32,
                 select=["D102", "L202", "T105"])
    combined = report.diagnosis["combined"]
    assert combined["codes"] == ["L202", "D102"] and combined["status"] == VERIFIED, combined  # diagnosis order
    d102, l202 = (next(f.verified for f in report.findings if f.code == code) for code in ("D102", "L202"))
    assert d102["before"] == l202["before"] == combined["before"]  # the same unfixed probe
    assert d102["status"] == VERIFIED and l202["status"] == NOT_VERIFIED, (d102, l202)
    assert l202["reason"].startswith("still at chance")
    assert combined["fixes"] == ["removing the final Softmax", d102["fix"]]
    assert combined["after"] > d102["after"] and combined["steps"] == d102["steps"] == 100
    assert report.primary.code == "D102"  # its verified gain ranks it first
    line = combined_text(combined)
    assert line in " ".join(report.to_text(width=200).split())
    assert line[0].upper() + line[1:] in report.to_markdown() and "(L202 + D102), verified" in report.to_html()
    assert json.loads(report.to_json())["diagnosis"]["combined"]["codes"] == ["L202", "D102"]
    assert "together is verified" in report.diagnosis["headline"]
