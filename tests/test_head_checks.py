"""L201–L204 and L206: the contract between the model's output, the labels and the loss."""

from functools import partial

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.conftest import codes
from tests.fixtures.arch_models import ManualSoftmaxCNN, PlainCNN
from tests.fixtures.data import arrowhead, gunpoint
from tests.fixtures.library_style import TCN
from tests.fixtures.models import TinyCNN
from tests.fixtures.probe_models import ProbeCNN


def _found(report, code):
    return [f for f in report.findings if f.code == code]


def _finding(report, code):
    found = [f for f in report.findings if f.code == code]
    assert found, (code, codes(report), [(c.code, c.status, c.reason) for c in report.checks])
    return found[0]


def _status(report, code):
    return next(c for c in report.checks if c.code == code)


def _run(run, model, train, test, **kw):
    kw.setdefault("budget", "quick")
    return run(model, train, test, **kw)


@pytest.fixture(scope="module")
def ah():  # ArrowHead: three classes
    X_train, y_train, X_test, y_test = arrowhead()
    return (X_train, y_train), (X_test, y_test)


@pytest.fixture(scope="module")
def gp():
    X_train, y_train, X_test, y_test = gunpoint()
    return (X_train, y_train), (X_test, y_test)


# L201 output-class-mismatch (refined: names the layer to change) -----------------------------

@pytest.mark.fires("L201")
def test_l201_names_the_head_layer(run, ah):
    report = run(TinyCNN(num_classes=5), *ah, select=["L201"])
    (f,) = _found(report, "L201")
    assert f.location == "head" and "`head`'s out_features to 3" in f.fix


@pytest.mark.silent("L201")
def test_l201_silent_on_one_logit_with_binary_cross_entropy(run, gp):
    report = run(PlainCNN(num_classes=1), *gp, loss_fn=nn.BCEWithLogitsLoss(), select=["L201"])
    assert codes(report) == []


# L201 output-class-mismatch: the basic cases ------------------------------------------------------

@pytest.mark.fires("L201")
def test_l201_fires_when_head_is_binary_for_three_classes(run):
    X_train, y_train, X_test, y_test = arrowhead()
    report = run(TinyCNN(num_classes=2), (X_train, y_train), (X_test, y_test), select=["L201"])
    f = _finding(report, "L201")
    assert f.evidence == {"output_width": 2, "n_classes": 3, "output_shape": [36, 2], "loss": "CrossEntropyLoss"}
    assert "out_features to 3" in f.fix


@pytest.mark.fires("L201")
def test_l201_fires_on_single_output_with_cross_entropy(run):
    X_train, y_train, X_test, y_test = gunpoint()
    report = run(TinyCNN(num_classes=1), (X_train, y_train), (X_test, y_test), loss_fn=nn.CrossEntropyLoss(),
                 select=["L201"])
    assert "loss is 0" in _finding(report, "L201").message


@pytest.mark.silent("L201")
def test_l201_silent_on_matching_and_binary_heads(run):
    X_train, y_train, X_test, y_test = gunpoint()
    assert codes(run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["L201"])) == []
    binary = run(TinyCNN(num_classes=1), (X_train, y_train), (X_test, y_test), select=["L201"])
    assert codes(binary) == []  # one logit for 2 classes: BCEWithLogitsLoss is the default


# L202 activation-loss-mismatch ----------------------------------------------------------------

@pytest.mark.fires("L202")
@pytest.mark.parametrize("functional", [False, True], ids=["nn.Softmax", "F.softmax"])
def test_l202_fires_on_softmax_before_cross_entropy(run, ah, functional):
    report = run(PlainCNN, *ah, model_args={"final": "softmax", "functional_final": functional},
                 loss_fn=nn.CrossEntropyLoss(), select=["L202"])
    (f,) = _found(report, "L202")
    ev = f.evidence
    assert ev["activation"] == "softmax" and ev["row_sum_max_deviation"] < 1e-5
    # logits in [0, 1]: the true class gets at most e / (e + 2) with K = 3
    assert ev["best_true_class_probability"] == pytest.approx(np.e / (np.e + 2))
    assert ev["lowest_loss"] == pytest.approx(np.log(1 + 2 / np.e))
    assert ("`head.1`" in f.fix) != functional and "raw logits" in f.fix


@pytest.mark.fires("L202")
def test_l202_catches_a_hand_written_softmax_from_the_outputs(run, ah):
    report = run(ManualSoftmaxCNN, *ah, select=["L202"])
    (f,) = _found(report, "L202")
    assert f.evidence["found_in"] == "the outputs themselves"
    assert "the default, as no loss was given" in f.message


@pytest.mark.fires("L202")
def test_l202_fires_on_sigmoid_before_bce_with_logits(run, gp):
    report = run(PlainCNN, *gp, model_args={"num_classes": 1, "final": "sigmoid"}, select=["L202"])
    (f,) = _found(report, "L202")  # one output for two classes: BCEWithLogitsLoss is the default
    lo, hi = f.evidence["probability_range"]
    assert lo == pytest.approx(0.5) and hi == pytest.approx(1 / (1 + np.exp(-1)))
    assert "no sample can ever be predicted negative" in f.message


@pytest.mark.fires("L202")
@pytest.mark.parametrize("loss", [nn.NLLLoss(), nn.BCELoss()], ids=["NLLLoss", "BCELoss"])
def test_l202_fires_on_raw_logits_into_probability_losses(run, gp, loss):
    model = PlainCNN(num_classes=2 if isinstance(loss, nn.NLLLoss) else 1)
    report = run(model, *gp, loss_fn=loss, select=["L202"])
    (f,) = _found(report, "L202")
    assert f.evidence["activation"] is None and f.evidence["loss"] == type(loss).__name__


@pytest.mark.silent("L202")
def test_l202_silent_on_matching_pairs(run, ah, gp):
    assert codes(run(PlainCNN, *ah, select=["L202"])) == []
    log_softmax = partial(PlainCNN, final="log_softmax", functional_final=True)
    assert codes(run(log_softmax, *ah, loss_fn=nn.NLLLoss(), select=["L202"])) == []
    assert codes(run(log_softmax, *ah, loss_fn=nn.CrossEntropyLoss(), select=["L202", "L203"])) == []
    sigmoid = PlainCNN(num_classes=1, final="sigmoid")
    assert codes(run(sigmoid, *gp, loss_fn=nn.BCELoss(), select=["L202"])) == []


# L203 bounded-logits --------------------------------------------------------------------------

@pytest.mark.fires("L203")
def test_l203_fires_on_relu_logits(run, ah):
    report = run(PlainCNN, *ah, model_args={"final": "relu"}, select=["L202", "L203"])
    assert codes(report) == ["L203"]
    f = report.findings[0]
    assert f.location == "head.1" and 0 < f.evidence["fraction_exact_zero"] <= 1


@pytest.mark.fires("L203")
def test_l203_fires_on_sigmoid_logits_with_cross_entropy(run, ah):
    report = run(PlainCNN, *ah, model_args={"final": "sigmoid", "functional_final": True}, select=["L203"])
    (f,) = _found(report, "L203")
    assert f.evidence["logit_range"] == [0.0, 1.0] and f.location is None
    assert f.evidence["lowest_loss"] == pytest.approx(np.log(1 + 2 / np.e))


@pytest.mark.fires("L203")
def test_l203_fires_on_tanh_before_bce_with_logits(run, gp):
    report = run(PlainCNN, *gp, model_args={"num_classes": 1, "final": "tanh"}, select=["L203"])
    (f,) = _found(report, "L203")
    lo, hi = f.evidence["probability_range"]
    assert lo == pytest.approx(1 / (1 + np.e)) and hi == pytest.approx(1 / (1 + np.exp(-1)))


@pytest.mark.silent("L203")
def test_l203_silent_on_raw_logits(run, ah, gp):
    assert codes(run(PlainCNN, *ah, select=["L203"])) == []
    assert codes(run(PlainCNN(num_classes=1), *gp, select=["L203"])) == []


@pytest.mark.silent("L203")
def test_l203_leaves_a_relu_ended_sequence_to_a104(run, gp):
    """A TCN's last block ends in ReLU and returns (B, K, L): not one row of logits per sample, so the bound is
    A104's to name, with the head it asks for."""
    report = run(TCN(head="none"), *gp, select=["L203", "A104"])
    outcome = _status(report, "L203")
    assert codes(report) == ["A104"] and outcome.status == "skipped" and "still a sequence" in outcome.reason


# L204 loss-task-mismatch ----------------------------------------------------------------------

@pytest.mark.fires("L204")
def test_l204_fires_on_mse_for_class_ids(run, ah):
    report = run(PlainCNN(num_classes=1), *ah, loss_fn=nn.MSELoss(), select=["L204"])
    (f,) = _found(report, "L204")
    assert f.evidence["loss_kind"] == "regression" and f.evidence["n_classes"] == 3
    assert "CrossEntropyLoss with 3 outputs" in f.fix


@pytest.mark.fires("L204")
def test_l204_fires_on_binary_loss_for_three_classes(run, ah):
    report = run(PlainCNN(num_classes=1), *ah, loss_fn=nn.BCEWithLogitsLoss(), select=["L201", "L204"])
    (f,) = _found(report, "L204")
    assert "binary loss" in f.message and f.evidence["output_width"] == 1
    assert not _found(report, "L201")  # one output is what a binary loss expects: L204 tells the whole story
    # With a 3-wide head the loss reads three binary outputs: the class ids are the wrong encoding (L102)
    wide = run(PlainCNN, *ah, loss_fn=nn.BCEWithLogitsLoss(), select=["L102", "L204"])
    assert codes(wide) == ["L102"]


@pytest.mark.silent("L204")
def test_l204_silent_on_classification_losses_and_one_hot_one_vs_rest(run, ah, gp):
    assert codes(run(PlainCNN, *ah, select=["L204"])) == []
    assert codes(run(PlainCNN(num_classes=1), *gp, loss_fn=nn.BCEWithLogitsLoss(), select=["L204"])) == []
    (X_train, y_train), (X_test, y_test) = ah
    one_hot = np.eye(3, dtype=np.float32)
    report = run(PlainCNN, (X_train, one_hot[y_train]), (X_test, one_hot[y_test]),
                 loss_fn=nn.BCEWithLogitsLoss(), select=["L204"])
    assert codes(report) == []


# L206 softmax-over-singleton-axis ------------------------------------------------------------------

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
    f = _finding(_run(run, AttentionPool(wrong_axis=True), *gp, select=["L206"]), "L206")
    assert f.severity == "warning" and not f.evidence["output_constant_across_samples"]


@pytest.mark.silent("L206")
def test_l206_silent_on_softmaxes_over_real_axes(run, gp):
    assert codes(_run(run, AttentionPool(), *gp, select=["L206"])) == []
    report = _run(run, LogSoftmaxCNN, *gp, loss_fn=nn.NLLLoss(), select=["L206"])
    assert codes(report) == [] and _status(report, "L206").status == "passed"
