"""How findings become stories: which cause explains which symptom, and the order of stories."""

import cnndoctor
from cnndoctor.diagnosis.causes import CAUSES
from cnndoctor.diagnosis.order import AT_CHANCE, REFUTABLE, lower_refuted, order_findings, probe_learns
from cnndoctor.findings import Finding, Severity
from tests.fixtures.data import ucr
from tests.fixtures.models import FlatHeadCNN


def _finding(code, severity, **evidence):
    return Finding(message=f"{code} finding", evidence=evidence, fix="fix it", code=code, name=code.lower(),
                   severity=severity)


def test_an_oversized_dense_layer_explains_dead_units_right_after_it():
    budget = _finding("A205", Severity.INFO, largest_layers=[{"layer": "classifier.0"}],
                      followed_by=["classifier.1", "classifier.2"])
    dead = _finding("T206", Severity.WARNING, layer="classifier.1")
    ordered = order_findings([dead, budget])
    assert [f.code for f in ordered] == ["A205", "T206"]
    assert ordered[0].related == ("T206",) and ordered[1].explained_by == "A205"


def test_dead_units_elsewhere_head_their_own_story():
    budget = _finding("A205", Severity.INFO, largest_layers=[{"layer": "classifier.0"}],
                      followed_by=["classifier.1", "classifier.2"])
    dead = _finding("T206", Severity.WARNING, layer="features.1")
    ordered = order_findings([budget, dead])
    assert [f.code for f in ordered] == ["T206", "A205"]
    assert ordered[0].explained_by is None and ordered[1].related == ()


# A warning the probe contradicts does not headline (issue 15)

def _probe(balanced, *, loss_drop=0.6, n=128, k=2):
    return {"steps": 100, "held_out_accuracy": balanced, "balanced_accuracy": balanced, "n_classes": k,
            "n_per_class": {str(c): n // k for c in range(k)}, "loss_drop": loss_drop, "nonfinite": False,
            "truncated": False}


def test_refutable_warnings_are_predictions_about_training_and_never_leakage():
    assert {"L205", "L104", "A202"} <= REFUTABLE
    assert all(CAUSES[c].kind != "leak" for c in REFUTABLE)


def test_a_learning_probe_lowers_refutable_warnings_only():
    findings = [_finding("L205", Severity.WARNING), _finding("A202", Severity.WARNING),
                _finding("L205", Severity.ERROR), _finding("T206", Severity.WARNING),
                _finding("D201", Severity.ERROR),
                Finding(message="m", evidence={}, fix="f", code="D102", name="unscaled-input",
                        severity=Severity.WARNING, verified={"before": 0.6, "after": 0.9})]
    probe = _probe(0.8)
    assert probe_learns(probe)
    lowered = lower_refuted(findings, probe)
    assert [str(f.severity) for f in lowered] == ["info", "info", "error", "warning", "error", "warning"]
    assert "contradicts" in lowered[0].severity_reason and "80%" in lowered[0].severity_reason
    assert all(f.severity_reason is None for f in lowered[2:])  # errors, other kinds, a verified gain: kept


def test_a_probe_at_chance_or_with_a_flat_loss_refutes_nothing():
    findings = [_finding("L205", Severity.WARNING)]
    band = AT_CHANCE.probe_band(_probe(0.5))
    for probe in (_probe(0.5 + band), _probe(0.9, loss_drop=AT_CHANCE.flat_loss / 2), None):
        assert not probe_learns(probe)
        assert lower_refuted(findings, probe) == findings


def test_imbalance_explains_not_learning_only_when_the_probe_sits_at_chance():
    imbalance = _finding("L103", Severity.WARNING)
    symptoms = [_finding("T101", Severity.ERROR), _finding("T104", Severity.ERROR)]
    at_chance = order_findings([*symptoms, imbalance], probe_at_chance=True)
    assert [f.code for f in at_chance] == ["L103", "T104", "T101"]  # the more specific symptom first
    assert {f.explained_by for f in at_chance[1:]} == {"L103"}
    learning = order_findings([*symptoms, imbalance])
    assert learning[0].code != "L103" and all(f.explained_by != "L103" for f in learning)


def test_an_init_loss_warning_the_probe_refutes_is_info_and_the_headline_says_healthy():
    # a flatten-head CNN whose head starts biased: loss at init 3x ln 2, yet it learns ItalyPowerDemand
    X_train, y_train, X_test, y_test = ucr("ItalyPowerDemand")
    report = cnndoctor.diagnose(FlatHeadCNN, (X_train, y_train), (X_test, y_test), model_args={"head_bias": 2.0},
                                lr=1e-3, select=["L205", "T105"], progress=False, figures=False)
    f = next(f for f in report.findings if f.code == "L205")
    assert f.evidence["ratio"] > 2 and str(f.severity) == "info"
    probe = report.diagnosis["probe"]
    assert probe["balanced_accuracy"] > 0.5 + AT_CHANCE.probe_band(probe)
    assert f.severity_reason.startswith("lowered from warning: the training probe contradicts it")
    assert report.diagnosis["headline"].startswith("The run looks healthy") and report.diagnosis["refuted"] == ["L205"]
    assert report.passed(fail_on="warning")
    assert report.to_dict()["findings"][0]["severity_reason"] == f.severity_reason
    assert "contradicts" in report.to_text(width=100) and "contradicts" in report.to_markdown()
