"""Severity by consequence (issue 13 §5): the gate never passes a model at chance, a loop that would crash,
an lr that diverges on other seeds, or a constant softmax; the headline says what the user will meet.

Real tiny CNNs on real UCR data (GunPoint), seeded, on CPU, at the quick budget with only the checks a
test is about selected; the diagnosis rule itself is also tested on plain findings and probe summaries.
The firing and silent cases of A207, L206 and T201 (other seeds) are in their families' test files.
"""

import numpy as np
import pytest

from cnndoctor.diagnosis.order import AT_CHANCE, ChanceRule, at_chance, build_diagnosis, chance_consequence, escalate
from cnndoctor.findings import Finding, Severity
from cnndoctor.load.labels import encode_labels
from tests.fixtures.data import gunpoint
from tests.fixtures.models import TinyCNN
from tests.fixtures.probe_models import ProbeCNN


@pytest.fixture(scope="module")
def gp():
    X, y, Xt, yt = gunpoint()
    return (X, y), (Xt, yt)


def _run(run, model, train, test, **kw):
    kw.setdefault("budget", "quick")
    return run(model, train, test, **kw)


# the diagnosis rule on plain numbers -------------------------------------------------------------

def _probe(balanced, *, drop=0.01, k=10, per_class=10, memorised=False, nonfinite=False):
    return {"balanced_accuracy": balanced, "n_classes": k, "n_per_class": {str(i): per_class for i in range(k)},
            "loss_drop": drop, "nonfinite": nonfinite, "truncated": False,
            "overfit": {"best_accuracy": 1.0 if memorised else 0.2, "final_loss": 2.2, "floor_loss": 2.3,
                        "nonfinite": False, "error": None, "truncated": False}}


REFERENCE = {"accuracy": 0.67, "chance": 0.1, "majority": 0.1, "n_test": 100, "best": "logreg_features"}


def _finding(code, severity, **evidence):
    return Finding(message=f"{code} finding. More.", evidence=evidence, fix="fix it", code=code, name=code.lower(),
                   severity=severity)


def test_at_chance_uses_the_standard_error_of_a_random_guesser_on_the_held_out_slice():
    # 10 classes of 10 held-out samples: SE = sqrt(10 * 0.1 * 0.9 / 10) / 10 = 0.03, band max(2 SE, 5 points)
    assert AT_CHANCE.probe_band(_probe(0.1)) == pytest.approx(0.06)
    assert at_chance(_probe(0.15)) and not at_chance(_probe(0.2))
    assert at_chance({"balanced_accuracy": None}) is None


def test_the_consequence_needs_chance_a_flat_loss_a_failed_overfit_and_a_learnable_baseline():
    verdict = chance_consequence(_probe(0.11), REFERENCE)
    assert verdict["reason"] == ("the training probe sits at chance (balanced accuracy 0.11 vs chance 0.10) while "
                                 "the baseline reaches 0.67; the loss fell 1% and one batch could not be memorised")
    assert chance_consequence(_probe(0.11, drop=0.3), REFERENCE) is None  # the loss falls: slow, not stuck
    assert chance_consequence(_probe(0.11, memorised=True), REFERENCE) is None
    assert chance_consequence(_probe(0.3), REFERENCE) is None  # above chance
    # a baseline 5 points above chance on 100 test samples is not clearly above it (3 SE = 0.09, margin 0.10)
    assert chance_consequence(_probe(0.11), {**REFERENCE, "accuracy": 0.15}) is None
    assert chance_consequence(_probe(0.11, nonfinite=True, drop=None), REFERENCE)["non_finite"] is True
    # unscaled input: the loss falls from a huge start, but only to what ignoring the input scores
    fell = {**_probe(0.1, drop=0.99), "train_loss": 2.302, "floor_loss": 2.303}
    assert "the loss fell 99% but stayed at 2.3, no lower than the 2.3 of a model that ignores its input" in \
        chance_consequence(fell, REFERENCE)["reason"]
    assert chance_consequence({**fell, "train_loss": 1.2}, REFERENCE) is None  # below the floor: it learns


def test_collapsed_predictions_at_chance_fail_even_when_the_loss_fell_and_a_batch_is_memorised():
    # on 19:1 classes the loss falls to the class prior and a balanced batch can be memorised, yet the probe
    # predicts one class for every held-out sample: at the user's settings the model is at chance
    collapsed = {**_probe(0.5, drop=0.8, k=2, memorised=True), "top_share": 0.99}
    verdict = chance_consequence(collapsed, REFERENCE)
    assert verdict["collapsed"] is True and verdict["top_prediction_share"] == 0.99
    assert verdict["reason"].endswith("it predicts one class for 99% of the held-out samples")
    # below T105's max_share the probe still spreads its predictions: the loss and the batch decide as before
    assert chance_consequence({**collapsed, "top_share": 0.8}, REFERENCE) is None
    assert chance_consequence({**collapsed, "balanced_accuracy": 0.8}, REFERENCE) is None  # not at chance
    # the share is T105's threshold, the user's override included
    assert ChanceRule.for_thresholds({"T105": {"max_share": 0.995}}).collapsed_share == 0.995


def test_escalation_raises_only_the_primary_cause_and_says_why():
    findings = [_finding("T202", Severity.WARNING), _finding("T204", Severity.WARNING)]
    verdict = chance_consequence(_probe(0.11), REFERENCE)
    raised = escalate(findings, verdict)
    assert [str(f.severity) for f in raised] == ["error", "warning"]
    assert raised[0].evidence["escalated"] == verdict["reason"] and raised[0].evidence["escalated_from"] == "warning"
    assert raised[0].severity_reason == f"raised from warning: {verdict['reason']}"
    assert raised[0].to_dict()["severity_reason"] == raised[0].severity_reason and raised[1].severity_reason is None
    assert escalate(findings, None) == findings


def test_the_headline_symptom_follows_the_cause_and_the_measured_probe():
    labels = encode_labels(np.arange(100) % 10, np.arange(100) % 10)
    learning = {**_probe(0.86), "held_out_accuracy": 0.86, "steps": 100}
    head = build_diagnosis([_finding("L101", Severity.ERROR)], labels, probe=learning)["headline"]
    assert head.startswith("Expect a faulty model, because") and "near chance" not in head
    head = build_diagnosis([_finding("L101", Severity.ERROR)], labels, probe={**_probe(0.1), "held_out_accuracy": 0.1,
                                                                              "steps": 100})["headline"]
    assert head.startswith("Expect accuracy near chance (10% for 10 classes")
    assert build_diagnosis([_finding("D201", Severity.ERROR)], labels, probe=learning)["headline"].startswith(
        "The test score is inflated, because")
    crash = _finding("A207", Severity.ERROR, crashes_at="at the last batch of every epoch (N=161, batch_size=32 → "
                                                        "last batch has 1 sample)")
    assert build_diagnosis([crash], labels, probe=learning)["headline"].startswith(
        "Training crashes at the last batch of every epoch (N=161, batch_size=32 → last batch has 1 sample), because")


# the gate on real probes ---------------------------------------------------------------------------

@pytest.mark.slow
def test_a_warning_cause_at_chance_with_a_learnable_baseline_fails_the_gate(run, gp):
    report = _run(run, ProbeCNN, *gp, lr=1e-6, select=["T202"])
    f = report.primary
    assert f.code == "T202" and f.severity == "error" and not report.passed()
    assert f.evidence["escalated_from"] == "warning"
    assert "sits at chance (balanced accuracy 0.50 vs chance 0.50) while the baseline reaches 0.99" in \
        f.evidence["escalated"]
    assert report.diagnosis["headline"].startswith("Expect accuracy near chance")
    assert report.diagnosis["consequence"]["baseline_accuracy"] > 0.9


@pytest.mark.slow
def test_a_model_at_chance_fails_the_gate_even_when_no_check_that_ran_names_a_cause(run, gp):
    # only T208 runs (it reads the training probe and finds no train/test gap); the probe at lr 1e-6 sits at chance
    report = _run(run, ProbeCNN, *gp, lr=1e-6, select=["T208"])
    assert report.findings == []
    assert report.diagnosis["consequence"] is not None and not report.passed()
    assert report.diagnosis["headline"].startswith("No finding among the checks that ran, but the training probe")
    assert report.passed("never")


def test_unlearnable_labels_at_chance_fail_the_gate(run):
    # X and y shuffled separately: no baseline learns, the probe sits at chance, more training cannot help
    from benchmarks.zoo import builders

    d = builders.shuffled_separately("GunPoint")
    report = _run(run, ProbeCNN, (d["X_train"], d["y_train"]), (d["X_test"], d["y_test"]), select=["L105", "T105"])
    f = report.primary
    assert f.code == "L105" and f.severity == "error" and f.evidence["escalated_from"] == "warning"
    assert "no baseline does clearly better" in f.evidence["escalated"] and not report.passed()
    assert report.diagnosis["consequence"]["cause"] == "L105"


def test_the_baseline_is_judged_on_balanced_accuracy_too(run):
    from benchmarks.zoo import builders

    d = builders.thinned_class("GunPoint")  # 10% of one class kept: plain accuracy flatters everything
    report = _run(run, ProbeCNN, (d["X_train"], d["y_train"]), (d["X_test"], d["y_test"]), select=["L105"])
    ref = report.diagnosis["reference"]
    assert ref["balanced_accuracy"] < ref["accuracy"] and set(ref["n_test_per_class"]) == {"0", "1"}


def test_a_slow_healthy_model_is_not_escalated(run, gp):
    report = _run(run, TinyCNN, *gp, select=["T101", "T202"])  # slow at 1e-3, but above chance after 40 steps
    assert report.passed() and all(f.severity != "error" for f in report.findings)
    assert "consequence" not in report.diagnosis and not at_chance(report.diagnosis["probe"])
