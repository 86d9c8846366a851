"""Firing and silent cases for the foundation checks, on real data and tiny real models."""

import numpy as np
import pytest
import torch.nn as nn

from tests.conftest import codes
from tests.fixtures.data import arrowhead, gunpoint
from tests.fixtures.models import FlattenHeadCNN, NormFirstCNN, TinyCNN


def _finding(report, code):
    return next(f for f in report.findings if f.code == code)


# D101 non-finite-values

@pytest.mark.fires("D101")
def test_d101_fires_on_nan_readings(run):
    X_train, y_train, X_test, y_test = gunpoint()
    X_train[[3, 17], 0, ] = np.nan  # dropped readings at the start of two series
    X_test[5, 40:45] = np.inf
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D101"])
    found = [f for f in report.findings if f.code == "D101"]
    assert len(found) == 2
    train = next(f for f in found if f.evidence["split"] == "train")
    assert train.evidence["nan"] == 2 and train.evidence["example_samples"] == [3, 17]
    test = next(f for f in found if f.evidence["split"] == "test")
    assert test.evidence["inf"] == 5


@pytest.mark.fires("D101")
def test_d101_names_preprocess_as_the_origin(run):
    X_train, y_train, X_test, y_test = gunpoint()
    X_train[0] = 1.0  # a flat series: per-series std is 0

    def preprocess(X):
        return (X - X.mean(axis=1, keepdims=True)) / X.std(axis=1, keepdims=True)

    with np.errstate(all="ignore"):
        report = run(TinyCNN, (X_train, y_train), (X_test, y_test), preprocess=preprocess, select=["D101"])
    f = _finding(report, "D101")
    assert "only after preprocess" in f.message


@pytest.mark.silent("D101")
def test_d101_silent_on_clean_data(run):
    X_train, y_train, X_test, y_test = gunpoint()
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D101"])
    assert codes(report) == []
    assert report.checks[0].status == "passed"


# D102 unscaled-input

@pytest.mark.fires("D102")
def test_d102_fires_on_adc_counts(run):
    X_train, y_train, X_test, y_test = gunpoint()
    to_counts = lambda X: np.round(2048 + 400 * X).astype(np.float32)  # noqa: E731
    report = run(TinyCNN, (to_counts(X_train), y_train), (to_counts(X_test), y_test), select=["D102"])
    f = _finding(report, "D102")
    assert f.severity == "error"
    assert f.evidence["rms"] == pytest.approx(np.sqrt(2048 ** 2 + 400 ** 2), rel=0.02)
    assert f.evidence["max_rms"] == 10.0
    assert "X_train.mean" in f.snippet


@pytest.mark.fires("D102")
def test_d102_fires_on_volts_when_signal_is_millivolts(run):
    X_train, y_train, X_test, y_test = gunpoint()
    report = run(TinyCNN, (X_train * 1e-4, y_train), (X_test * 1e-4, y_test), select=["D102"])
    f = _finding(report, "D102")
    assert f.evidence["std"] < f.evidence["min_std"]


@pytest.mark.silent("D102")
@pytest.mark.parametrize("scaling", ["standardised", "min-max"])
def test_d102_silent_on_standardised_and_minmax(run, scaling):
    X_train, y_train, X_test, y_test = gunpoint()
    if scaling == "min-max":
        lo, hi = X_train.min(), X_train.max()
        X_train, X_test = (X_train - lo) / (hi - lo), (X_test - lo) / (hi - lo)
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D102"])
    assert codes(report) == []


@pytest.mark.silent("D102")
def test_d102_silent_when_preprocess_standardises(run):
    X_train, y_train, X_test, y_test = gunpoint()
    counts = lambda X: 2048 + 400 * X  # noqa: E731
    report = run(TinyCNN, (counts(X_train), y_train), (counts(X_test), y_test),
                 preprocess=lambda X: (X - 2048.0) / 400.0, select=["D102"])
    assert codes(report) == []


@pytest.mark.silent("D102")
def test_d102_silent_when_model_normalises_its_input(run):
    X_train, y_train, X_test, y_test = gunpoint()
    report = run(NormFirstCNN, (2048 + 400 * X_train, y_train), (2048 + 400 * X_test, y_test), select=["D102"])
    assert codes(report) == []


# L101 label-range

@pytest.mark.fires("L101")
def test_l101_fires_on_one_based_ucr_labels(run):
    X_train, y_train, X_test, y_test = arrowhead()
    report = run(TinyCNN, (X_train, y_train + 1), (X_test, y_test + 1), select=["L101"])
    f = _finding(report, "L101")
    assert f.evidence["min_label"] == 1 and f.evidence["max_label"] == 3
    assert "1-based" in f.message and "np.unique" in f.snippet


@pytest.mark.fires("L101")
def test_l101_fires_on_minus_one_plus_one(run):
    X_train, y_train, X_test, y_test = gunpoint()
    report = run(TinyCNN, (X_train, 2 * y_train - 1), (X_test, 2 * y_test - 1), select=["L101"])
    assert "-1/+1" in _finding(report, "L101").message


@pytest.mark.fires("L101")
def test_l101_fires_on_gaps(run):
    X_train, y_train, X_test, y_test = arrowhead()
    remap = np.array([0, 2, 7])
    report = run(TinyCNN, (X_train, remap[y_train]), (X_test, remap[y_test]), select=["L101"])
    f = _finding(report, "L101")
    assert "gaps" in f.message and f.evidence["max_label"] == 7


@pytest.mark.silent("L101")
@pytest.mark.parametrize("kind", ["ints", "strings", "float-ints"])
def test_l101_silent_on_zero_based_and_strings(run, kind):
    X_train, y_train, X_test, y_test = arrowhead()
    if kind == "strings":
        names = np.array(["avonlea", "clovis", "mix"])
        y_train, y_test = names[y_train], names[y_test]
    elif kind == "float-ints":
        y_train, y_test = y_train.astype(np.float64), y_test.astype(np.float64)
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["L101"])
    assert codes(report) == []


# L201 output-class-mismatch

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


# A101 forward-error

@pytest.mark.fires("A101")
def test_a101_fires_with_the_exact_in_features(run):
    X_train, y_train, X_test, y_test = gunpoint()  # length 150: conv k3 -> 148, pool 2 -> 74, 8 x 74 = 592
    report = run(FlattenHeadCNN, (X_train, y_train), (X_test, y_test), select=["A101"])
    f = _finding(report, "A101")
    assert f.location == "fc"
    assert "expects 128 input features but receives 592 = 8 channels × 74 steps" in f.message
    assert "in_features=592" in f.fix and "AdaptiveAvgPool1d(1)" in f.fix
    assert report.trace["layers"][-1]["failed"] and report.trace["layers"][-1]["name"] == "fc"


@pytest.mark.fires("A101")
def test_a101_fires_on_conv_channel_mismatch(run):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6, 100)).astype(np.float32)
    y = np.arange(40) % 4
    report = run(TinyCNN(in_channels=3, num_classes=4), (X, y), (X, y), select=["A101"])
    f = _finding(report, "A101")
    assert "expects 3 input channels but receives" in f.message


@pytest.mark.silent("A101")
def test_a101_silent_when_forward_runs(run):
    X_train, y_train, X_test, y_test = gunpoint()
    report = run(FlattenHeadCNN(in_features=592), (X_train, y_train), (X_test, y_test), select=["A101"])
    assert codes(report) == []
