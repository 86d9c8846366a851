"""Severity by consequence (issue 13 §5): the gate never passes a model at chance, a loop that would crash,
an lr that diverges on other seeds, or a constant softmax; the headline says what the user will meet.

Real tiny CNNs on real UCR data (GunPoint), seeded, on CPU, at the quick budget with only the checks a
test is about selected; the diagnosis rule itself is also tested on plain findings and probe summaries.
"""

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from cnndoctor.diagnosis.order import AT_CHANCE, at_chance, build_diagnosis, chance_consequence, escalate
from cnndoctor.findings import Finding, Severity
from cnndoctor.load.labels import encode_labels
from tests.conftest import codes
from tests.fixtures.arch_models import NormAfterPoolCNN
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


def _found(report, code):
    found = [f for f in report.findings if f.code == code]
    assert found, (code, codes(report), [(c.code, c.status, c.reason) for c in report.checks])
    return found[0]


def _status(report, code):
    return next(c for c in report.checks if c.code == code)


class FlatHeadCNN(nn.Module):
    """A tutorial CNN without normalisation: conv/pool blocks, flatten, two dense layers."""

    def __init__(self, in_channels: int = 1, num_classes: int = 2, seq_len: int = 150):
        super().__init__()
        self.features = nn.Sequential(nn.Conv1d(in_channels, 16, 7), nn.ReLU(), nn.MaxPool1d(2),
                                      nn.Conv1d(16, 32, 5), nn.ReLU(), nn.MaxPool1d(2), nn.Flatten())
        length = ((seq_len - 6) // 2 - 4) // 2
        self.head = nn.Sequential(nn.Linear(32 * length, 64), nn.ReLU(), nn.Linear(64, num_classes))

    def forward(self, x):
        return self.head(self.features(x))


class SoftmaxOneOutput(nn.Module):
    """A binary head with one output, then a softmax over that single output: always 1."""

    def __init__(self, in_channels: int = 1):
        super().__init__()
        self.features = nn.Sequential(nn.Conv1d(in_channels, 16, 7, padding=3), nn.ReLU(),
                                      nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.fc = nn.Linear(16, 1)

    def forward(self, x):
        return F.softmax(self.fc(self.features(x)), dim=1)


class AttentionPool(nn.Module):
    """Attention pooling over time; ``wrong_axis`` normalises the scores over their size-1 feature axis."""

    def __init__(self, in_channels: int = 1, num_classes: int = 2, wrong_axis: bool = False):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, 16, 7, padding=3)
        self.score = nn.Linear(16, 1)
        self.fc = nn.Linear(16, num_classes)
        self.wrong_axis = wrong_axis

    def forward(self, x):
        h = torch.relu(self.conv(x)).transpose(1, 2)  # (N, L, 16)
        scores = self.score(h)  # (N, L, 1)
        weights = scores.softmax(dim=-1 if self.wrong_axis else 1)
        return self.fc((weights * h).sum(1))


class LogSoftmaxCNN(ProbeCNN):
    def forward(self, x):
        return F.log_softmax(super().forward(x), dim=1)


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


def test_escalation_raises_only_the_primary_cause_and_says_why():
    findings = [_finding("T202", Severity.WARNING), _finding("T204", Severity.WARNING)]
    verdict = chance_consequence(_probe(0.11), REFERENCE)
    raised = escalate(findings, verdict)
    assert [str(f.severity) for f in raised] == ["error", "warning"]
    assert raised[0].evidence["escalated"] == verdict["reason"] and raised[0].evidence["escalated_from"] == "warning"
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


# A207 batchnorm-batch-of-one -----------------------------------------------------------------------

@pytest.mark.fires("A207")
def test_a207_fires_when_the_last_batch_of_one_reaches_a_flat_batchnorm(run, gp):
    report = _run(run, NormAfterPoolCNN, *gp, batch_size=7, select=["A207"])  # 50 = 7 x 7 + 1
    f = _found(report, "A207")
    assert f.severity == "error" and not report.passed()
    assert f.evidence["failing_layer"] == "features.6" and f.evidence["failing_input_shape"] == [1, 16]
    assert f.evidence["crashes_at"] == ("at the last batch of every epoch (N=50, batch_size=7 → last batch has 1 "
                                        "sample)")
    assert "Expected more than 1 value per channel when training" in f.message
    assert "drop_last=True" in f.fix and "batch_size=6" in f.fix
    assert report.diagnosis["headline"].startswith("Training crashes at the last batch of every epoch (N=50")


@pytest.mark.fires("A207")
def test_a207_reads_drop_last_from_a_dataloader(run, gp):
    (X, y), (Xt, yt) = gp
    dataset = TensorDataset(torch.tensor(X[:, None, :], dtype=torch.float32), torch.tensor(y))
    test = (Xt[:, None, :], yt)
    report = _run(run, NormAfterPoolCNN, DataLoader(dataset, batch_size=7, shuffle=True), test, select=["A207"])
    assert _found(report, "A207").evidence["drop_last"] is False
    dropped = _run(run, NormAfterPoolCNN, DataLoader(dataset, batch_size=7, shuffle=True, drop_last=True), test,
                   select=["A207"])
    assert codes(dropped) == []


@pytest.mark.silent("A207")
def test_a207_silent_where_the_loop_does_not_crash(run, gp):
    assert codes(_run(run, NormAfterPoolCNN, *gp, batch_size=8, select=["A207"])) == []  # last batch: 2
    # BatchNorm inside the conv blocks gets (1, C, L): it trains on one sample without an error
    report = _run(run, ProbeCNN, *gp, batch_size=7, select=["A207"])
    assert codes(report) == [] and _status(report, "A207").status == "passed"


# L206 softmax-over-singleton-axis ------------------------------------------------------------------

@pytest.mark.fires("L206")
def test_l206_fires_on_a_softmax_over_one_output_and_leads_the_zero_gradient(run, gp):
    report = _run(run, SoftmaxOneOutput, *gp, select=["L2", "T102", "T201"])
    f = report.primary
    assert f.code == "L206" and f.severity == "error" and not report.passed()
    assert f.evidence["output_constant_across_samples"] and f.evidence["calls"][0]["axis_size"] == 1
    assert "returns exactly 1 whatever its input" in f.message
    assert "T102" in f.related and "L202" not in codes(report)  # L202 leaves the constant softmax to L206
    t201 = _status(report, "T201")
    assert t201.status == "skipped" and "weights never changed" in t201.reason


@pytest.mark.fires("L206")
def test_l206_is_a_warning_for_attention_weights_over_a_size_one_axis(run, gp):
    f = _found(_run(run, AttentionPool(wrong_axis=True), *gp, select=["L206"]), "L206")
    assert f.severity == "warning" and not f.evidence["output_constant_across_samples"]


@pytest.mark.silent("L206")
def test_l206_silent_on_softmaxes_over_real_axes(run, gp):
    assert codes(_run(run, AttentionPool(), *gp, select=["L206"])) == []
    report = _run(run, LogSoftmaxCNN, *gp, loss_fn=nn.NLLLoss(), select=["L206"])
    assert codes(report) == [] and _status(report, "L206").status == "passed"


# T201 lr-too-high on other seeds ---------------------------------------------------------------------

@pytest.mark.fires("T201")
def test_t201_fires_when_an_lr_near_divergence_diverges_on_another_seed(run, gp):
    (X, y), (Xt, yt) = gp
    # SGD at 0.4 on series scaled x3: seed 2 trains (loss -61%), seeds 3 and 4 blow up (measured)
    report = _run(run, FlatHeadCNN, (3 * X, y), (3 * Xt, yt), optimizer=torch.optim.SGD, lr=0.4, seed=2,
                  select=["T201"])
    f = _found(report, "T201")
    e = f.evidence
    assert f.severity == "error" and 1 < e["divergence_margin"] < e["near_factor"] == 10.0
    assert e["seeds_diverged"] >= 1 and e["seeds_run"] == 3 and e["seeds"][0] == {**e["seeds"][0], "seed": 2,
                                                                                   "diverged": False}
    assert "diverged on" in f.message and "while on seed 2 its loss fell" in f.message
    assert report.diagnosis["headline"].startswith(
        f"Expect training to diverge on some runs ({e['seeds_diverged']} of 3 seeds here), because the learning "
        "rate 0.4")


@pytest.mark.silent("T201")
@pytest.mark.slow
def test_t201_silent_when_every_seed_trains_near_the_divergence_point(run, gp):
    report = _run(run, ProbeCNN, *gp, lr=0.1, select=["T201"])  # Adam at 0.1: 3.7x below divergence, stable
    assert codes(report) == [] and _status(report, "T201").status == "passed"
    assert {"fact:other_seed_probes.seed_1.seconds", "fact:other_seed_probes.seed_2.seconds"} <= set(report.timings)
