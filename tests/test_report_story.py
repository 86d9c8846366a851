"""The report tells the story: the primary cause in full, its symptoms folded to one line each without a fix of
their own, measured evidence apart from the thresholds it was judged against, and a severity that agrees with
the catalogue or says why. ``-v`` (``to_text(verbose=True)``) shows the rest: shape trace, skipped checks and
every symptom in full.
"""

import json
import re
from pathlib import Path

import pytest

from cnndoctor import Finding, Severity
from cnndoctor.api import run_diagnosis
from cnndoctor.context import Context
from cnndoctor.load.data import data_from_arrays, load_data
from cnndoctor.load.model import load_model_file
from cnndoctor.load.subject import make_subject
from cnndoctor.registry import get_check, make_spec
from cnndoctor.runner import run_checks
from tests.fixtures.data import gunpoint
from tests.fixtures.models import TinyCNN

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "sample_data/chance_accuracy/model.py"
DATA = ROOT / "sample_data/chance_accuracy/data.npz"
# unscaled input (D102) with the initial loss far off (L205), a symptom it explains; no training probe runs
STORY = ["D101", "D102", "L101", "L201", "A1", "L205"]
D102_THRESHOLDS = ("max_rms", "min_std", "max_offset", "error_factor")


def _sample(select=STORY, thresholds=None):
    mf = load_model_file(MODEL)
    data = load_data(DATA)
    data.source = "sample_data/chance_accuracy/data.npz"
    subject = make_subject(mf.target, mf.kind, data, name=f"model.py:{mf.name}", options=mf.options, device="cpu")
    return run_diagnosis(subject, select=select, progress=False, figures=False, thresholds=thresholds)


@pytest.fixture(scope="module")
def story():
    return _sample()


def _lines_with(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


def test_symptoms_are_folded_under_their_cause_without_their_fix(story):
    cause, symptom = story.findings[0], next(f for f in story.findings if f.code == "L205")
    assert cause.code == "D102" and symptom.explained_by == "D102"
    text = story.to_text(width=100)
    (line,) = _lines_with(text, "L205 initial-loss-off")
    assert line.startswith("   ↳ ERROR L205 initial-loss-off: The loss at initialisation is 1.41e+03")
    assert text.index("D102 unscaled-input") < text.index("symptoms it explains (1):") < text.index(line)
    assert cause.fix.split()[0] in text and "fix: Standardise" in text  # the cause keeps its fix
    assert "initialise the last layer small" not in text and "last.weight.mul_" not in text  # the symptom's fix
    assert "classifier.2" not in text  # no shape trace
    assert text.splitlines()[-2] == "-v shows the shape trace and each symptom's evidence and fix."


def test_a_folded_line_is_cut_at_the_width_not_wrapped(story):
    text = story.to_text(width=80)
    (line,) = _lines_with(text, "L205 initial-loss-off")
    assert len(line.rstrip()) == 80 and line.rstrip().endswith("…")
    after = text.splitlines()[text.splitlines().index(line) + 1]
    assert not after.strip() or not after.startswith(" ")  # nothing of it spills onto the next line


def test_verbose_shows_the_trace_and_each_symptom_in_full(story):
    text = story.to_text(width=100, verbose=True)
    symptom = next(f for f in story.findings if f.code == "L205")
    assert "shape trace" in text and "classifier.2" in text
    assert "↳ ERROR L205 initial-loss-off  a symptom of D102" in text
    assert "fix: Scale the input to unit range" in text and "last.weight.mul_(0.1)" in text
    assert symptom.severity_reason in " ".join(text.split())
    assert "-v shows" not in text


def test_skipped_checks_are_listed_with_verbose_only():
    X, y, Xt, yt = gunpoint()
    report = run_diagnosis(make_subject(TinyCNN, "class", data_from_arrays(X, y, Xt, yt), name="TinyCNN"),
                           select=["D204"], progress=False, figures=False)  # D204 needs recording ids
    (skipped,) = [c for c in report.checks if str(c.status) == "skipped"]
    assert skipped.reason not in report.to_text(width=200)
    assert "-v shows the shape trace and 1 skipped check." in report.to_text(width=200)
    verbose = report.to_text(width=200, verbose=True)
    assert "1 check skipped:" in verbose and f"D204 {skipped.name}: {skipped.reason}" in verbose


def test_thresholds_are_listed_apart_from_the_measured_values(story):
    f = story.findings[0]
    assert f.threshold_keys == D102_THRESHOLDS
    assert set(f.judged_against) == set(D102_THRESHOLDS) and not set(f.measured) & set(D102_THRESHOLDS)
    assert {"rms", "mean", "std"} <= set(f.measured)
    text = story.to_text(width=100)
    block = text[text.index("evidence:"):text.index("fix: Standardise")]  # D102's, the first
    evidence, judged = block.split("judged against:")
    assert "rms" in evidence and not any(k in evidence for k in D102_THRESHOLDS)
    assert " ".join(judged.split()) == "max_rms 10 · min_std 0.01 · max_offset 5 · error_factor 10"
    md = story.to_markdown()
    assert "*Judged against:* max_rms 10 · min_std 0.01 · max_offset 5 · error_factor 10" in md
    assert "| rms |" in md and "| max_rms |" not in md
    html = story.to_html()
    assert "Judged against: max_rms 10 · min_std 0.01 · max_offset 5 · error_factor 10" in html
    assert "<th>rms</th>" in html and "<th>max_rms</th>" not in html


def test_the_json_carries_the_threshold_keys_and_the_whole_evidence(story):
    doc = json.loads(story.to_json())
    d102 = doc["findings"][0]
    assert d102["threshold_keys"] == list(D102_THRESHOLDS)
    assert set(D102_THRESHOLDS) <= set(d102["evidence"])  # the evidence itself is unchanged
    assert all(set(f["threshold_keys"]) <= set(f["evidence"]) for f in doc["findings"])


def test_the_thresholds_shown_are_the_ones_the_check_ran_with():
    report = _sample(select=["D102"], thresholds={"D102": {"max_rms": 20.0}})
    assert report.findings[0].judged_against["max_rms"] == 20.0
    assert "judged against: max_rms 20 · min_std 0.01" in report.to_text(width=100)


def test_every_shown_severity_agrees_with_the_catalogue_or_says_why(story):
    assert story.findings, "the sample has findings"
    for f in story.findings:
        default = get_check(f.code).severity
        assert f.severity == default or f.severity_reason, f"{f.code} is {f.severity}, the catalogue {default}"
    d102 = story.findings[0]
    assert get_check("D102").severity == Severity.WARNING and d102.severity == Severity.ERROR
    assert d102.severity_reason == "raised from warning: a measure is more than error_factor = 10 times past its " \
                                   "threshold"
    assert f"severity error: {d102.severity_reason}" in " ".join(story.to_text(width=100).split())


@pytest.mark.slow
def test_the_whole_sample_shows_no_severity_without_a_reason():
    report = _sample(select=None)
    assert len(report.findings) >= 3
    for f in report.findings:
        default = get_check(f.code).severity
        assert f.severity == default or f.severity_reason, f"{f.code} is {f.severity}, the catalogue {default}"


def _ctx():
    X_train, y_train, X_test, y_test = gunpoint()
    return Context(make_subject(TinyCNN, "class", data_from_arrays(X_train, y_train, X_test, y_test), name="TinyCNN"))


def raises_itself(labels, *, limit: float = 1.0, tolerance: float = 0.5):
    """raises its own severity without a reason"""
    yield Finding(message="worse than usual.", evidence={"n_classes": labels.n_classes, "limit": limit},
                  fix="fewer", severity=Severity.ERROR)


def lowers_itself_with_a_reason(labels):
    """lowers its own severity and says why"""
    yield Finding(message="milder.", evidence={"n_classes": labels.n_classes}, fix="none", severity=Severity.INFO,
                  severity_reason="lowered from warning: only two classes")


def test_the_runner_records_thresholds_and_says_why_a_check_changed_its_severity():
    specs = [make_spec(raises_itself, "D994", "raises-itself", "warning"),
             make_spec(lowers_itself_with_a_reason, "D995", "lowers-itself", "warning")]
    raised, lowered = run_checks(_ctx(), specs, thresholds={"D994": {"limit": 3.0}})[0]
    assert raised.threshold_keys == ("limit",)  # `tolerance` is a threshold but not in the evidence
    assert raised.judged_against == {"limit": 3.0} and raised.measured == {"n_classes": 2}
    assert re.fullmatch(r"raised from warning, the catalogue's default, by the check's own rule "
                        r"\(`cnndoctor explain D994`\)", raised.severity_reason)
    assert lowered.threshold_keys == () and lowered.severity_reason == "lowered from warning: only two classes"


@pytest.mark.slow
def test_cli_verbose_adds_the_trace_and_keeps_the_default_short(capsys):
    from cnndoctor.cli import main

    argv = ["run", str(MODEL), str(DATA), "--select", ",".join(STORY), "-q", "--isolated"]
    assert main(argv) == 1
    short = capsys.readouterr().out
    assert main([*argv, "-v"]) == 1
    full = capsys.readouterr().out
    assert "classifier.2" not in short and "-v shows the shape trace" in short
    assert "classifier.2" in full and "fix: Scale the input to unit range" in full and "-v shows" not in full
    assert len(short.splitlines()) < len(full.splitlines())
