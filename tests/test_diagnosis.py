"""How findings become stories: which cause explains which symptom, and the order of stories."""

from cnndoctor.diagnosis.order import order_findings
from cnndoctor.findings import Finding, Severity


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
