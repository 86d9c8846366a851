"""Scale checks D102-D105 on real data with seeded faults, and their silent clean counterparts."""

import numpy as np
import pytest

from tests.conftest import codes
from tests.fixtures import seeded
from tests.fixtures.data import gunpoint, ucr
from tests.fixtures.models import NormFirstCNN, TinyCNN


def _finding(report, code):
    found = [f for f in report.findings if f.code == code]
    assert found, f"{code} did not fire: {[(c.code, str(c.status), c.reason) for c in report.checks]}"
    return found[0]


def _raw_daphnet_windows():
    W, _ = seeded.cut_windows(seeded.daphnet(), 256, 256)
    y = (np.arange(len(W)) % 2).astype(np.int64)
    return W[:20], y[:20], W[20:], y[20:]


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


# D102 unscaled-input (deepened: per channel, stored vs preprocess)

@pytest.mark.fires("D102")
def test_d102_reports_each_raw_accelerometer_channel(run):
    X_train, y_train, X_test, y_test = _raw_daphnet_windows()
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D102"])
    f = _finding(report, "D102")
    assert f.severity == "error"
    assert f.evidence["unscaled_channels"] == list(range(9))
    by_hand = np.sqrt(X_train[:, 1].mean() ** 2 + X_train[:, 1].std() ** 2)
    ch1 = f.evidence["per_channel"]["ch1"]
    assert np.hypot(ch1["mean"], ch1["std"]) == pytest.approx(by_hand, rel=1e-3)
    assert "axis=(0, 2)" in f.snippet and "model.py" in f.fix and "fit_preprocess" in f.fix
    scope = {}
    exec(compile(f.snippet, "<pasted snippet>", "exec"), scope)  # the fit_preprocess the fix puts in model.py
    scale = scope["fit_preprocess"](X_train)
    assert np.allclose(scale(X_train).mean(axis=(0, 2)), 0, atol=1e-3)  # every channel, with train statistics
    assert np.allclose(scale(X_train).std(axis=(0, 2)), 1, atol=1e-3)


@pytest.mark.fires("D102")
def test_d102_names_preprocess_when_it_unscales(run):
    X_train, y_train, X_test, y_test = gunpoint()
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), preprocess=lambda X: X * 1000.0, select=["D102"])
    f = _finding(report, "D102")
    assert "preprocess() makes them unscaled" in f.message
    assert f.evidence["stored"]["std"] == pytest.approx(X_train.std(), rel=1e-3)
    assert f.evidence["rms"] == pytest.approx(1000 * np.sqrt(np.mean(X_train.astype(np.float64) ** 2)), rel=1e-3)


@pytest.mark.silent("D102")
def test_d102_silent_on_raw_basicmotions_and_standardised_windows(run):
    X_train, y_train, X_test, y_test = ucr("BasicMotions")  # m/s^2 and rad/s: rms below 10
    assert codes(run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D102"])) == []
    X_train, y_train, X_test, y_test = seeded.clean_windows()
    assert codes(run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D102"])) == []


# D103 channel-scale-mismatch

@pytest.mark.fires("D103")
def test_d103_fires_on_mixed_units(run):
    X_train, y_train, X_test, y_test = seeded.basicmotions_mixed_units()
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D103"])
    f = _finding(report, "D103")
    std = X_train.astype(np.float64).std(axis=(0, 2))
    assert f.evidence["ratio"] == pytest.approx(std.max() / std.min(), rel=1e-3)
    assert f.evidence["large_channels"] == [0, 1, 2] and f.evidence["small_channels"] == [3, 4, 5]
    assert f.evidence["max_ratio"] == 10.0


@pytest.mark.fires("D103")
@pytest.mark.silent("D102")
def test_d103_not_d102_after_one_global_scaler_over_mixed_units(run):
    X_train, y_train, X_test, y_test = seeded.basicmotions_mixed_units()
    mean, std = X_train.mean(), X_train.std()  # one scaler for all channels: overall unit scale
    X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D102", "D103"])
    assert codes(report) == ["D103"]
    assert _finding(report, "D103").evidence["ratio"] > 1000


@pytest.mark.silent("D103")
def test_d103_silent_on_one_unit_per_sensor_and_on_a_normalising_model(run):
    X_train, y_train, X_test, y_test = ucr("BasicMotions")  # raw, but channel stds within 4x
    assert codes(run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D103"])) == []
    X_train, y_train, X_test, y_test = seeded.basicmotions_mixed_units()
    model = NormFirstCNN(in_channels=6, num_classes=4)  # BatchNorm1d first: scales each channel itself
    assert codes(run(model, (X_train, y_train), (X_test, y_test), select=["D103"])) == []


# D104 constant-input

@pytest.mark.fires("D104")
def test_d104_fires_when_preprocess_normalises_over_the_channel_axis(run):
    X_train, y_train, X_test, y_test = gunpoint()
    X_train, X_test = X_train[:, None, :], X_test[:, None, :]  # (N, 1, L)
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), preprocess=seeded.channel_axis_normalise,
                 select=["D104"])
    f = _finding(report, "D104")
    assert f.severity == "error"
    assert f.evidence["splits"]["train"]["all_identical"] is True
    assert f.evidence["splits"]["train"]["stored_samples_that_vary"] == len(X_train)
    assert "preprocess() flattens them" in f.message and "axis=-1" in f.snippet
    both = run(TinyCNN, (X_train, y_train), (X_test, y_test), preprocess=seeded.channel_axis_normalise,
               select=["D104", "D201"])
    assert codes(both) == ["D104"]  # flat samples trivially equal each other: not reported as duplicates


@pytest.mark.fires("D104")
def test_d104_fires_on_a_dead_gyroscope_channel(run):
    X_train, y_train, X_test, y_test = ucr("BasicMotions")
    X_train[:, 4] = 0.0
    X_test[:, 4] = 0.0
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D104"])
    f = _finding(report, "D104")
    assert f.severity == "warning"
    assert f.evidence["splits"]["train"]["constant_channels"] == [4]
    assert "np.delete" in f.snippet


@pytest.mark.silent("D104")
def test_d104_silent_on_real_series(run):
    for data in (ucr("BasicMotions"), gunpoint()):
        X_train, y_train, X_test, y_test = data
        assert codes(run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D104"])) == []
    X_train, y_train, X_test, y_test = gunpoint()  # stored (N, L, 1): per-channel statistics still run along time
    report = run(TinyCNN, (X_train[:, :, None], y_train), (X_test[:, :, None], y_test), select=["D104"])
    assert codes(report) == []


# D105 train-test-shift

@pytest.mark.fires("D105")
def test_d105_fires_when_only_train_was_standardised(run):
    X_train, y_train, _, y_test = seeded.basicmotions_standardised()
    X_test_raw = ucr("BasicMotions")[2]
    report = run(TinyCNN, (X_train, y_train), (X_test_raw, y_test), select=["D105"])
    f = _finding(report, "D105")
    assert "applied to X_train only" in f.message
    c = f.evidence["flagged_channels"][0]
    ch = f.evidence["channels"][f"ch{c}"]
    assert ch["std_ratio"] == pytest.approx(X_test_raw[:, c].std() / X_train[:, c].std(), rel=1e-3)


@pytest.mark.fires("D105")
def test_d105_is_an_error_for_adc_counts_in_test(run):
    X_train, y_train, X_test, y_test = gunpoint()
    report = run(TinyCNN, (X_train, y_train), (seeded.to_adc_counts(X_test), y_test), select=["D105"])
    f = _finding(report, "D105")
    assert f.severity == "error" and f.evidence["worst_shift"] > 1000


@pytest.mark.silent("D105")
def test_d105_silent_on_consistent_splits_and_time_split_recording(run):
    X_train, y_train, X_test, y_test = seeded.basicmotions_standardised()
    assert codes(run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D105"])) == []
    X_train, y_train, X_test, y_test = seeded.clean_windows()  # later part of one walk: real, mild drift
    assert codes(run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D105"])) == []


# D106 recording-scale-mismatch

def _recalibrated_daphnet_sessions(*, gain: float = 1000.0):
    """Daphnet windows in sessions (tenths of the recording); sessions 2, 5 and 8 exported after a re-calibration
    (``gain`` times the units), sessions 3, 5 and 9 held out, one global per-channel scaler fitted on the training
    windows. The first two tenths, where the subject stands still (40-75x less motion), are left out: D106 cannot
    tell a recording at rest from one at a lower gain unless the labels say which windows are at rest."""
    rec = seeded.daphnet()
    W, starts = seeded.cut_windows(rec, 128, 128)
    y = ((starts * 4) // rec.shape[1] % 2).astype(np.int64)
    session = starts * 10 // rec.shape[1]
    walking = session >= 2
    W, y, session = W[walking], y[walking], session[walking]
    W = W * np.where(np.isin(session, [2, 5, 8]), gain, 1.0).astype(np.float32)[:, None, None]
    groups = np.array([f"session-{s:02d}" for s in session])
    te = np.isin(session, [3, 5, 9])
    mean, std = W[~te].mean(axis=(0, 2), keepdims=True), W[~te].std(axis=(0, 2), keepdims=True)
    X_train, X_test = ((W[~te] - mean) / std).astype(np.float32), ((W[te] - mean) / std).astype(np.float32)
    return X_train, y[~te], X_test, y[te], groups[~te], groups[te]


@pytest.mark.fires("D106")
def test_d106_fires_on_sessions_recorded_at_another_gain(run):
    X_train, y_train, X_test, y_test, g_train, g_test = _recalibrated_daphnet_sessions()
    report = run(lambda: TinyCNN(9, 2), (X_train, y_train), (X_test, y_test), groups=(g_train, g_test),
                 select=["D102", "D103", "D106"])
    assert codes(report) == ["D106"]  # one global scaler leaves the pooled scale looking fine
    f = report.findings[0]
    assert f.severity == "warning" and f.evidence["ratio"] >= f.evidence["max_ratio"] == 10
    assert f.evidence["n_recordings"] == 8 and f.evidence["class_relative"]
    loud = {g.split(":")[1] for g in f.evidence["loudest_recordings"] if f.evidence["loudest_recordings"][g]
            >= f.evidence["upper_decile"]}
    assert loud <= {"session-02", "session-05", "session-08"} and loud
    # checkable by hand: the loudest session's amplitude is the median over its windows of each window's std,
    # relative to the median std of that window's class
    ch, name = f.evidence["channel"], next(iter(f.evidence["loudest_recordings"]))
    split, session = name.split(":")
    X, y, g = (X_train, y_train, g_train) if split == "train" else (X_test, y_test, g_test)
    std = np.concatenate([X_train, X_test])[:, ch].std(axis=1)
    cls = np.concatenate([y_train, y_test])
    typical = {c: np.median(std[cls == c]) for c in (0, 1)}
    mine = X[g == session][:, ch].std(axis=1) / np.array([typical[c] for c in y[g == session]])
    assert f.evidence["loudest_recordings"][name] == pytest.approx(np.median(mine), rel=1e-4)
    assert "per_recording" in f.snippet and "groups_train" in f.snippet


class _InstanceNormFirstCNN(TinyCNN):
    """Normalises every sample per channel over time (InstanceNorm1d) before its first convolution."""

    def __init__(self, in_channels: int = 1, num_classes: int = 2):
        import torch.nn as nn

        super().__init__(in_channels, num_classes)
        self.features = nn.Sequential(nn.InstanceNorm1d(in_channels), *self.features)


@pytest.mark.silent("D106")
def test_d106_silent_on_one_gain_and_when_the_gain_is_removed(run):
    X_train, y_train, X_test, y_test, g_train, g_test = _recalibrated_daphnet_sessions(gain=1.0)
    report = run(lambda: TinyCNN(9, 2), (X_train, y_train), (X_test, y_test), groups=(g_train, g_test),
                 select=["D106"])
    assert codes(report) == [] and report.checks[0].status == "passed"
    data = _recalibrated_daphnet_sessions()
    train, test, groups = (data[0], data[1]), (data[2], data[3]), (data[4], data[5])

    def zscore_each_window(X):
        return (X - X.mean(axis=2, keepdims=True)) / (X.std(axis=2, keepdims=True) + 1e-8)

    report = run(lambda: TinyCNN(9, 2), train, test, groups=groups, preprocess=zscore_each_window, select=["D106"])
    assert codes(report) == [] and report.checks[0].status == "passed"
    report = run(lambda: _InstanceNormFirstCNN(9, 2), train, test, groups=groups, select=["D106"])
    assert codes(report) == [] and report.checks[0].status == "passed"
    report = run(lambda: TinyCNN(9, 2), train, test, select=["D106"])
    assert report.checks[0].status == "skipped" and "groups" in report.checks[0].reason


@pytest.mark.silent("D106")
def test_d106_silent_on_raw_recordings_whose_classes_differ_in_loudness(run):
    """BasicMotions in raw units: standing and running differ 20-90x in spread, recordings of one activity ~2x."""
    X_train, y_train, X_test, y_test = ucr("BasicMotions")
    raw = np.concatenate([X_train, X_test]).std(axis=2)
    y = np.concatenate([y_train, y_test])
    per_class = np.stack([np.median(raw[y == c], axis=0) for c in np.unique(y)])  # (classes, channels)
    assert (per_class.max(axis=0) / per_class.min(axis=0)).max() >= 10  # loud and quiet activities
    groups = (np.array([f"rec-{i}" for i in range(len(X_train))]),
              np.array([f"rec-{i + len(X_train)}" for i in range(len(X_test))]))
    report = run(lambda: TinyCNN(6, 4), (X_train, y_train), (X_test, y_test), groups=groups, select=["D106"])
    assert codes(report) == [] and report.checks[0].status == "passed"
