"""L201–L204: the contract between the model's output, the labels and the loss."""

from functools import partial

import numpy as np
import pytest
from torch import nn

from tests.conftest import codes
from tests.fixtures.arch_models import ManualSoftmaxCNN, PlainCNN
from tests.fixtures.data import arrowhead, gunpoint
from tests.fixtures.models import TinyCNN


def _found(report, code):
    return [f for f in report.findings if f.code == code]


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
