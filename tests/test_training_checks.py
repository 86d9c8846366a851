"""Firing and silent cases for L205 and the training-probe checks T101-T105, T201-T208.

Real tiny CNNs on real UCR data (GunPoint, ItalyPowerDemand), seeded, on CPU. Probes are the
expensive part of the suite, so most reports use the "quick" budget, select only the checks a
test is about, and are shared between tests through module-scoped fixtures.
"""

import json

import numpy as np
import pytest
import torch
import torch.nn as nn

import cnndoctor
from tests.conftest import codes
from tests.fixtures import seeded
from tests.fixtures.data import gunpoint, ucr
from tests.fixtures.models import TinyCNN
from tests.fixtures.probe_models import (
    DeepSigmoidCNN,
    FrozenFirstLayerCNN,
    PlainCNN,
    ProbeCNN,
    PythonListCNN,
    StaleInputCNN,
    detached_step,
    no_zero_grad_step,
    standard_step,
    to_adc_counts,
)

PROBE_CODES = ["L205", "T101", "T102", "T103", "T104", "T105", "T201", "T202", "T203", "T204", "T205", "T206",
               "T207", "T208"]


def _diagnose(model, train, test, **kw):
    kw.setdefault("budget", "quick")
    kw.setdefault("progress", False)
    return cnndoctor.diagnose(model, train, test, **kw)


def _finding(report, code):
    found = [f for f in report.findings if f.code == code]
    assert found, f"{code} did not fire: {codes(report)}; {[(c.code, c.status, c.reason) for c in report.checks]}"
    return found[0]


def _status(report, code):
    return next(c for c in report.checks if c.code == code)


@pytest.fixture(scope="module")
def gun():
    return gunpoint()


@pytest.fixture(scope="module")
def healthy(gun):
    X, y, Xt, yt = gun
    return _diagnose(ProbeCNN, (X, y), (Xt, yt), select=PROBE_CODES, budget="standard")


@pytest.fixture(scope="module")
def lr_ten(gun):
    X, y, Xt, yt = gun
    return _diagnose(ProbeCNN, (X, y), (Xt, yt), lr=10.0, select=["T101", "T201", "T206"])


@pytest.fixture(scope="module")
def stale(gun):
    X, y, Xt, yt = gun
    return _diagnose(StaleInputCNN, (X, y), (Xt, yt), select=["T101", "T104", "T105"])


@pytest.fixture(scope="module")
def counts_sgd(gun):
    X, y, Xt, yt = gun
    return _diagnose(PlainCNN, (to_adc_counts(X), y), (to_adc_counts(Xt), yt), optimizer=torch.optim.SGD, lr=0.1,
                     select=["L205", "T204", "T206"])


# the healthy pair: every probe check runs and stays silent

@pytest.mark.silent("L205", "T101", "T102", "T103", "T104", "T105", "T201", "T202", "T203", "T204", "T205", "T206",
                    "T207", "T208")
@pytest.mark.slow
def test_probe_checks_silent_on_a_healthy_cnn(healthy):
    assert codes(healthy) == []
    expected = {code: "passed" for code in PROBE_CODES}
    expected["T207"] = "skipped"  # 50 training series hold one whole batch of 32: too few to compare modes
    assert {c.code: c.status for c in healthy.checks} == expected


@pytest.mark.silent("T101", "T102", "T104", "T105", "T201", "T202", "T204", "T205", "T206", "T208")
def test_probe_checks_silent_on_a_plain_cnn_with_its_own_train_step():
    X, y, Xt, yt = ucr("ItalyPowerDemand")
    report = _diagnose(PlainCNN, (X, y), (Xt, yt), lr=1e-2, train_step=standard_step,
                       select=["T101", "T102", "T104", "T105", "T2"])
    assert codes(report) == []
    assert _status(report, "T207").status == "skipped"  # no BatchNorm: nothing to compare


# L205 initial-loss-off

@pytest.mark.fires("L205")
@pytest.mark.slow
def test_l205_fires_on_adc_counts_with_a_plain_cnn(counts_sgd):
    f = _finding(counts_sgd, "L205")
    assert f.severity == "error"
    assert f.evidence["expected"] == pytest.approx(np.log(2), abs=1e-4)
    assert f.evidence["ratio"] > 10 and f.evidence["initial_loss"] > 10 * np.log(2)
    assert "ln 2" in f.message


# T101 cannot-overfit-batch

@pytest.mark.fires("T101")
@pytest.mark.slow
def test_t101_blames_the_learning_rate_when_a_sane_one_memorises(lr_ten):
    f = _finding(lr_ten, "T101")
    assert f.evidence["verdict"] == "learning rate"
    user, retry = f.evidence["attempts"][:2]
    assert user["lr"] == 10.0 and not user["memorised"]
    assert retry["lr"] == pytest.approx(1e-3) and retry["stopped_by"] in ("memorised", "learning")
    assert retry["final_loss"] <= 0.5 * f.evidence["floor_loss"] or retry["memorised"]
    assert f.severity == "error" and "learning rate is what stops it" in f.message


@pytest.mark.fires("T101")
def test_t101_says_no_learning_rate_helps_when_forward_ignores_its_input(stale):
    f = _finding(stale, "T101")
    assert f.evidence["verdict"] == "no learning rate helps"
    assert all(a["final_loss"] >= 0.8 * f.evidence["floor_loss"] for a in f.evidence["attempts"])
    assert {a["stopped_by"] for a in f.evidence["attempts"]} == {"stalled"}  # no need to run them to the end


@pytest.mark.fires("T101")
def test_t101_is_only_a_warning_when_a_higher_lr_merely_speeds_learning_up(gun):
    X, y, Xt, yt = gun
    report = _diagnose(TinyCNN, (X, y), (Xt, yt), select=["T101"])  # 8 channels, no BatchNorm: slow at 1e-3
    f = _finding(report, "T101")
    assert f.severity == "warning" and f.evidence["user_lr_moving"]
    assert f.evidence["attempts"][1]["lr"] > f.evidence["attempts"][0]["lr"] and "slows it down" in f.message


# T102 no-learning

@pytest.mark.fires("T102")
def test_t102_fires_on_a_train_step_that_detaches_the_output(gun):
    X, y, Xt, yt = gun
    report = _diagnose(ProbeCNN, (X, y), (Xt, yt), train_step=detached_step, select=["T102"])
    f = _finding(report, "T102")
    assert f.evidence["changed_fraction"] == 0 and f.evidence["train_step"] is True
    assert "no gradient ever reaches them" in f.message


@pytest.mark.fires("T102")
def test_t102_fires_on_a_train_step_without_zero_grad(gun):
    X, y, Xt, yt = gun
    report = _diagnose(ProbeCNN, (X, y), (Xt, yt), train_step=no_zero_grad_step, select=["T102"])
    f = _finding(report, "T102")
    assert f.evidence["grad_accumulation"] > f.evidence["max_accumulation"] == 2.0
    assert "zero_grad" in f.fix


@pytest.mark.fires("T102")
@pytest.mark.fires("T103")
def test_t102_t103_fire_on_an_optimizer_over_another_models_parameters(gun):
    X, y, Xt, yt = gun
    other = ProbeCNN()
    report = _diagnose(ProbeCNN, (X, y), (Xt, yt), optimizer=lambda params: torch.optim.Adam(other.parameters()),
                       select=["T102", "T103"])
    f102 = _finding(report, "T102")
    assert "optimizer holds none of the model's" in f102.message
    f103 = _finding(report, "T103")
    assert f103.severity == "error" and f103.evidence["untrained_share"] == 1.0
    assert f103.evidence["foreign_tensors_in_optimizer"] == len(list(other.parameters()))


@pytest.mark.fires("T102")
def test_t102_tells_a_zero_gradient_from_a_cut_graph(gun):
    X, y, Xt, yt = gun

    class RoundedLogits(ProbeCNN):
        def forward(self, x):
            return torch.round(super().forward(x))  # connected to the loss, but its derivative is 0 everywhere

    report = _diagnose(RoundedLogits, (X, y), (Xt, yt), select=["T102"])
    f = _finding(report, "T102")
    assert f.evidence["changed_fraction"] == 0 and f.evidence["train_step"] is False
    assert "gradient is exactly zero" in f.message and "no gradient ever reaches" not in f.message
    assert f.snippet is None


@pytest.mark.fires("T102")
def test_t102_reports_a_train_step_that_raises(gun):
    X, y, Xt, yt = gun

    def broken_step(model, xb, yb, optimizer, criterion):
        return criterion(model(xb), yb.float())  # CrossEntropyLoss wants class ids, not floats of shape (N,)

    report = _diagnose(ProbeCNN, (X, y), (Xt, yt), train_step=broken_step, select=["T102"])
    f = _finding(report, "T102")
    assert "fails before the first update" in f.message and "test_training_checks.py" in f.evidence["error"]


# T103 frozen-parameters

@pytest.mark.fires("T103")
def test_t103_fires_on_a_frozen_first_layer(gun):
    X, y, Xt, yt = gun
    report = _diagnose(FrozenFirstLayerCNN, (X, y), (Xt, yt), select=["T103"])
    f = _finding(report, "T103")
    assert f.evidence["frozen"] == ["features.0.weight", "features.0.bias"]
    assert f.severity == "warning"


@pytest.mark.fires("T103")
def test_t103_fires_on_layers_kept_in_a_python_list(gun):
    X, y, Xt, yt = gun
    report = _diagnose(PythonListCNN, (X, y), (Xt, yt), select=["T103"])
    f = _finding(report, "T103")
    assert sorted(map(tuple, f.evidence["unregistered_shapes"])) == [(16,), (16, 1, 7), (32,), (32, 16, 5)]
    assert "ModuleList" in f.fix


# T104 input-independent

@pytest.mark.fires("T104")
def test_t104_fires_when_forward_ignores_its_input(stale):
    f = _finding(stale, "T104")
    assert f.evidence["output_spread"] < f.evidence["min_spread"]


@pytest.mark.fires("T104")
def test_t104_zeroed_input_baseline_matches_real_inputs_on_adc_counts(gun):
    X, y, Xt, yt = gun
    report = _diagnose(PlainCNN, (to_adc_counts(X), y), (to_adc_counts(Xt), yt), select=["T104"])
    f = _finding(report, "T104")
    e = f.evidence
    assert e["baseline_ran"] and e["real_train_loss"] >= e["zeroed_train_loss"] * (1 - e["min_gain"])
    assert "all-zero inputs" in f.message


# T105 collapsed-predictions

@pytest.mark.fires("T105")
def test_t105_fires_when_every_series_gets_one_class(stale):
    f = _finding(stale, "T105")
    assert f.evidence["top_share"] >= 0.95 and f.evidence["split"] == "held-out"
    assert sum(f.evidence["predicted_counts"].values()) == 150


# T201 lr-too-high, T202 lr-too-low

@pytest.mark.fires("T201")
@pytest.mark.slow
def test_t201_fires_on_lr_ten_with_adam(lr_ten):
    f = _finding(lr_ten, "T201")
    assert f.evidence["user_lr"] == 10.0 and f.evidence["lr_loss_diverges"] < 10.0
    assert f.evidence["user_position"] == "past the point where the loss diverges"
    assert f.evidence["suggested_lr"] < 0.1


@pytest.mark.fires("T201")
@pytest.mark.slow
def test_t201_counts_a_blow_up_the_probe_recovers_from(gun):
    X, y, Xt, yt = gun
    report = _diagnose(PlainCNN, (X, y), (Xt, yt), lr=1.0, select=["T201"], budget="standard")
    f = _finding(report, "T201")
    assert f.evidence["lr_loss_diverges"] < 1.0
    assert f.evidence["probe_peak_loss"] > f.evidence["spike_factor"] * f.evidence["probe_initial_loss"]
    assert "jumped from" in f.message or "non-finite" in f.message


@pytest.mark.silent("T201")
def test_t201_skips_a_loss_that_is_nan_before_any_update(gun):
    X, y, Xt, yt = gun

    class LogOfInput(PlainCNN):
        def forward(self, x):
            return super().forward(torch.log(x))  # z-normalised series: log of negatives is NaN from the start

    report = _diagnose(LogOfInput, (X, y), (Xt, yt), select=["T201", "T203"])
    assert _status(report, "T201").status == "skipped" and "before any update" in _status(report, "T201").reason
    assert _finding(report, "T203")


# T201 lr-too-high on other seeds ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def gp():
    X, y, Xt, yt = gunpoint()
    return (X, y), (Xt, yt)


def _run(run, model, train, test, **kw):
    kw.setdefault("budget", "quick")
    return run(model, train, test, **kw)


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


@pytest.mark.fires("T201")
def test_t201_fires_when_an_lr_near_divergence_diverges_on_another_seed(run, gp):
    (X, y), (Xt, yt) = gp
    # SGD at 0.4 on series scaled x3: seed 2 trains (loss -61%), seeds 3 and 4 blow up (measured)
    report = _run(run, FlatHeadCNN, (3 * X, y), (3 * Xt, yt), optimizer=torch.optim.SGD, lr=0.4, seed=2,
                  select=["T201"])
    f = _finding(report, "T201")
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


@pytest.mark.fires("T202")
@pytest.mark.slow
def test_t202_fires_on_lr_1e6_with_adam(gun):
    X, y, Xt, yt = gun
    report = _diagnose(ProbeCNN, (X, y), (Xt, yt), lr=1e-6, select=["T202"])
    f = _finding(report, "T202")
    assert f.evidence["suggested_lr"] >= 10 * 1e-6 and f.evidence["probe_loss_drop"] < 0.1


def _stub_lr_too_low_facts(user_accuracy: float) -> dict:
    """What T202's overfit branch reads: a loss that barely fell at lr 1e-5, no range-test suggestion, and one
    batch that the user's lr gets ``user_accuracy`` of right (loss near the floor) while lr 1e-3 memorises it."""
    from types import SimpleNamespace as NS

    def attempt(lr, accuracy, loss):
        return NS(lr=lr, best_accuracy=accuracy, error=None, nonfinite=False, final_loss=loss, stopped_by="steps")

    user, retry = attempt(1e-5, user_accuracy, 0.69), attempt(1e-3, 1.0, 0.01)
    run = NS(error=None, steps=40, stopped_by="steps", nonfinite=False, changed_fraction=1.0, loss_drop=0.01,
             initial_loss=0.7, loss_window=lambda first: 0.69, summary=lambda: {"steps": 40})
    return {"lr_range": NS(stopped_by="steps", nonfinite_input=False, suggestion=None, user_lr=1e-5,
                           summary=lambda: {"suggested_lr": None}),
            "training_probe": run,
            "overfit_batch": NS(attempts=[user, retry], retries=[retry], user=user, nonfinite_inputs=0,
                                floor_loss=0.69, batch_size=32),
            "optimizer_settings": NS(describe=lambda lr: f"Adam(lr={lr})", brief=lambda: "Adam")}


def test_t202_judges_the_overfit_probe_with_t101s_thresholds_overrides_included(gun):
    """T202's "cannot be memorised" is T101's verdict: an override of T101's min_accuracy reaches T202 (and the
    gate) through ctx.thresholds_for, the one helper; nothing in T202 copies T101's numbers."""
    from cnndoctor.context import Context
    from cnndoctor.diagnosis.order import ChanceRule
    from cnndoctor.load.data import data_from_arrays
    from cnndoctor.load.subject import make_subject
    from cnndoctor.registry import get_check
    from cnndoctor.runner import run_checks

    X, y, Xt, yt = gun
    data = data_from_arrays(X, y, Xt, yt)

    def t202(thresholds):
        ctx = Context(make_subject(TinyCNN, "class", data, name="TinyCNN"), thresholds=thresholds)
        ctx._values.update(_stub_lr_too_low_facts(user_accuracy=0.6))  # the probes' results, without training
        findings, outcomes = run_checks(ctx, [get_check("T202")])
        assert outcomes[0].status in ("passed", "failed"), outcomes[0].reason
        return ctx, findings

    ctx, findings = t202(None)  # T101's defaults: 60% of the batch right is not memorised (min_accuracy 0.95)
    assert ctx.memorise_thresholds == {"min_accuracy": 0.95, "stuck_fraction": 0.8}
    assert len(findings) == 1 and "too low to learn" in findings[0].message
    table = {"T101": {"min_accuracy": 0.5}}
    ctx, findings = t202(table)  # with T101's min_accuracy at 0.5 the batch counts as memorised: T202 is silent
    assert ctx.thresholds_for("T101") == {"min_accuracy": 0.5, "stuck_fraction": 0.8, "min_progress": 0.01}
    assert ctx.memorise_thresholds == {"min_accuracy": 0.5, "stuck_fraction": 0.8} and findings == []
    assert ChanceRule.for_thresholds(table).memorised == 0.5 == ctx.memorise_thresholds["min_accuracy"]


# T203 non-finite-loss

@pytest.mark.fires("T203")
def test_t203_fires_on_dropped_readings_stored_as_nan(gun):
    X, y, Xt, yt = gun
    X = X.copy()
    X[[3, 17], 40:44] = np.nan
    report = _diagnose(ProbeCNN, (X, y), (Xt, yt), select=["T203", "T201"])
    f = _finding(report, "T203")
    assert f.evidence["non_finite_input"] is True and "D101" in f.message
    assert _status(report, "T201").status == "skipped"  # a NaN batch says nothing about the lr


# T204 exploding-gradients, T206 dead-units

@pytest.mark.fires("T204")
@pytest.mark.slow
def test_t204_fires_on_sgd_with_raw_counts(counts_sgd):
    f = _finding(counts_sgd, "T204")
    assert f.evidence["growth"] >= f.evidence["max_growth"] == 100.0


@pytest.mark.fires("T206")
@pytest.mark.slow
def test_t206_fires_when_relus_die_after_a_blow_up(counts_sgd, lr_ten):
    f = _finding(counts_sgd, "T206")
    assert f.severity == "error" and f.evidence["all_dead_layers"]
    g = _finding(lr_ten, "T206")
    assert max(v["fraction"] for v in g.evidence["per_layer"].values()) > 0.5


# T205 vanishing-gradients

@pytest.mark.fires("T205")
@pytest.mark.slow
def test_t205_fires_on_a_deep_sigmoid_stack(gun):
    X, y, Xt, yt = gun
    report = _diagnose(DeepSigmoidCNN, (X, y), (Xt, yt), select=["T205"])
    f = _finding(report, "T205")
    assert f.evidence["first_layer"] == "features.0" and f.evidence["last_layer"] == "head"
    assert f.evidence["ratio_first_to_last"] < 1e-3


# T207 train-eval-gap

@pytest.mark.fires("T207")
@pytest.mark.slow
def test_t207_fires_on_batchnorm_with_batches_of_two(gun):
    X, y, Xt, yt = gun
    report = _diagnose(ProbeCNN, (X, y), (Xt, yt), batch_size=2, select=["T207"])
    f = _finding(report, "T207")
    assert f.evidence["batch_size"] == 2 and f.evidence["discrepancy"] >= 0.5


@pytest.mark.silent("T207")
def test_t207_silent_with_batches_of_eight(gun):
    X, y, Xt, yt = gun
    report = _diagnose(ProbeCNN, (X, y), (Xt, yt), batch_size=8, select=["T207"])
    assert codes(report) == [] and _status(report, "T207").status == "passed"


@pytest.mark.silent("T207")
def test_t207_silent_on_a_class_sorted_file():
    X, y, Xt, yt = ucr("ArrowHead")
    order = np.argsort(y, kind="stable")  # every class in one block, as many files are stored
    # batches of consecutive sorted samples would each hold one class: discrepancy 0.58 (measured)
    report = _diagnose(ProbeCNN(num_classes=3), (X[order], y[order]), (Xt, yt), batch_size=8, select=["T207"])
    assert codes(report) == [] and _status(report, "T207").status == "passed"


# T208 generalization-gap

@pytest.mark.fires("T208")
@pytest.mark.slow
def test_t208_fires_when_test_labels_are_out_of_order(gun):
    X, y, Xt, yt = gun
    shuffled = np.random.default_rng(0).permutation(yt)
    report = _diagnose(ProbeCNN, (X, y), (Xt, shuffled), budget="standard", select=["T208"])
    f = _finding(report, "T208")
    assert f.evidence["train_accuracy"] >= 0.8 and f.evidence["test_accuracy"] <= 0.56


@pytest.mark.slow
def test_probe_evidence_is_plain_json(lr_ten, stale, counts_sgd, healthy):
    for report in (lr_ten, stale, counts_sgd, healthy):
        json.dumps([f.to_dict() for f in report.findings], allow_nan=False)
        json.loads(report.to_json())


JUDGES_PROBES = ["T101", "T102", "T104", "T105", "T201", "T202", "T203", "T204", "T205", "T206", "T207", "T208"]


def test_probes_the_time_cap_stops_are_inconclusive_and_never_judged(gun, monkeypatch):
    import cnndoctor.facts.probes as probe_facts
    from cnndoctor.runner import Status

    monkeypatch.setattr(probe_facts, "time_cap", lambda budget, step_seconds, work: 0.0)  # every run: 1 step
    X, y, Xt, yt = gun
    report = _diagnose(PlainCNN, (to_adc_counts(X), y), (to_adc_counts(Xt), yt), optimizer=torch.optim.SGD, lr=0.1,
                       select=PROBE_CODES + ["D102"])
    assert not set(codes(report)) & set(JUDGES_PROBES), codes(report)
    for code in JUDGES_PROBES:
        outcome = _status(report, code)
        assert outcome.status == Status.SKIPPED and "time cap" in outcome.reason, (code, outcome.reason)
    assert "the training probe stopped at the time cap after 1 of 40 steps; the verdict would rest on a truncated " \
           "run" in _status(report, "T206").reason
    assert "overfit probe at lr 0.1 stopped at the time cap after 1 of 100 steps" in _status(report, "T101").reason
    assert any("inconclusive" in n and "1 of 40 planned steps" in n for n in report.notes), report.notes
    verified = _finding(report, "D102").verified  # never numbers from a truncated run
    assert verified["status"] == "no result" and verified["after"] is None, verified
    assert "stopped at its time cap after 1 of 40 steps" in verified["reason"], verified


@pytest.mark.fires("T105")
def test_t105_fires_on_a_rare_event_set_when_only_the_majority_class_is_predicted(run):
    # 19:1 data: predicting only class 0 gives it 100% of predictions, just 5 points above its 95% of labels,
    # but the balanced accuracy is 50%, chance
    X_train, y_train, X_test, y_test = seeded.rare_events("ItalyPowerDemand", ratio=19)
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), lr=0.01, select=["T105"])
    e = next(f for f in report.findings if f.code == "T105").evidence
    assert e["top_class"] == 0 and e["top_share"] - e["true_share"] < e["min_excess"]
    assert e["balanced_accuracy"] <= e["chance"] + e["chance_margin"] and e["chance"] == 0.5


# T209 speaks for a watched run only (the probes train at a constant lr): a real loop under cnndoctor.watch
def _scheduled_run(scheduler_for, epochs):
    rng = np.random.default_rng(0)
    y = torch.tensor(rng.integers(0, 2, 256))
    X = torch.tensor(rng.standard_normal((256, 1, 64)), dtype=torch.float32) + y[:, None, None].float()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(1, 8, 5, padding=2), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(),
                          nn.Linear(8, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    scheduler, seen = scheduler_for(optimizer), []
    with cnndoctor.watch(model, optimizer, every=5, on_symptom=seen.append) as w:
        for _ in range(epochs):
            for i in range(0, 256, 32):
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(model(X[i:i + 32]), y[i:i + 32])
                loss.backward()
                w.step(loss, X[i:i + 32], y[i:i + 32])
                optimizer.step()
                scheduler.step()  # per batch
    return w, [f.code for f in seen], [f for f in seen if f.code == "T209"]


@pytest.mark.fires("T209")
def test_lr_decayed_to_zero_fires_on_a_per_batch_exponential_schedule():
    w, seen, found = _scheduled_run(lambda opt: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5), 4)
    assert found and found[0].evidence["last_lr"] < 1e-3 * found[0].evidence["peak_lr"]
    assert w.recording.lrs[0] == pytest.approx(1e-2) and w.recording.lrs[-1] < 1e-9
    assert "T209" in [f.code for f in w.report().findings]


@pytest.mark.silent("T209")
def test_lr_decayed_to_zero_silent_when_annealing_reaches_zero_only_at_the_end():
    w, seen, found = _scheduled_run(lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=40), 5)
    assert not found and min(w.recording.lrs) < 1e-4  # it did reach ~0, on the last steps
