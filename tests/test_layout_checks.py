"""Time-axis checks D301-D303: swapped axes, view instead of permute, and tabular data as a series."""

import numpy as np
import pytest

from cnndoctor.context import Context
from cnndoctor.load.data import data_from_arrays
from cnndoctor.load.subject import make_subject
from cnndoctor.measure.temporal import continuity
from tests.conftest import codes
from tests.fixtures import seeded
from tests.fixtures.arch_models import ShallowConvNet
from tests.fixtures.data import gunpoint, ucr
from tests.fixtures.library_style import EEGConv2dNet, ImageConvNet, SpatialFirstEEGNet
from tests.fixtures.models import TinyCNN


def _finding(report, code):
    found = [f for f in report.findings if f.code == code]
    assert found, f"{code} did not fire: {[(c.code, str(c.status), c.reason) for c in report.checks]}"
    return found[0]


def _nlc(X):
    return np.ascontiguousarray(X.transpose(0, 2, 1))


def _basicmotions_nlc():
    X_train, y_train, X_test, y_test = ucr("BasicMotions")  # stored (N, 6, 100)
    return _nlc(X_train), y_train, _nlc(X_test), y_test  # as a Keras user holds it: (N, 100, 6)


# D301 axis-layout

@pytest.mark.fires("D301")
def test_d301_fires_when_channels_last_data_meets_a_channels_first_model(run):
    X_train, y_train, X_test, y_test = _basicmotions_nlc()
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D301"])
    f = _finding(report, "D301")
    assert "expects (N, C, L)" in f.message and f.evidence["feed"] == "transposed"
    assert f.evidence["data_time_axis"] == 1 and f.evidence["model_time_axis"] == 1
    readings = list(f.evidence["continuity"].values())
    assert readings[0] > 0.4 and readings[1] < 0.0  # time (100 long) is continuous, the 6 sensors are not
    assert "transpose(0, 2, 1)" in f.snippet


@pytest.mark.fires("D301")
def test_d301_fires_on_univariate_series_stored_channels_last(run):
    X_train, y_train, X_test, y_test = gunpoint()
    report = run(TinyCNN, (X_train[:, :, None], y_train), (X_test[:, :, None], y_test), select=["D301"])
    f = _finding(report, "D301")
    assert f.evidence["stored_sample_shape"] == [150, 1] and f.evidence["data_time_axis"] == 1


@pytest.mark.fires("D301")
def test_d301_fires_when_the_model_was_built_on_the_time_axis(run):
    X_train, y_train, X_test, y_test = _basicmotions_nlc()
    model = TinyCNN(in_channels=100, num_classes=4)  # in_channels=X.shape[1] on (N, L, C) data: it runs
    report = run(model, (X_train, y_train), (X_test, y_test), select=["D301"])
    f = _finding(report, "D301")
    assert "convolves across channels" in f.message and f.evidence["model_channel_axis"] == 1
    X_train, y_train, X_test, y_test = ucr("BasicMotions")  # (N, 6, 100) but a model for 100 channels
    f = _finding(run(TinyCNN(in_channels=100, num_classes=4), (X_train, y_train), (X_test, y_test),
                     select=["D301"]), "D301")
    assert "built for the wrong axis" in f.message and "6 input channels" in f.fix


@pytest.mark.silent("D301")
def test_d301_silent_on_matching_layouts(run):
    X_train, y_train, X_test, y_test = ucr("BasicMotions")
    assert codes(run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D301"])) == []
    X_train, y_train, X_test, y_test = _basicmotions_nlc()  # (N, L, C) with a model that permutes
    assert codes(run(seeded.ChannelsLastCNN, (X_train, y_train), (X_test, y_test), select=["D301"])) == []
    X_train, y_train, X_test, y_test = gunpoint()
    assert codes(run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D301"])) == []


@pytest.mark.fires("D301")
def test_d301_reads_the_time_axis_of_a_conv2d_eeg_model(run):
    """An EEG net views (N, C, T) as one plane (N, 1, C, T) and slides a (1, k) kernel along its last axis: fed the
    (N, T, C) arrays it runs, with the 6 sensors as its time axis and the 100 steps as its spatial filter's rows."""
    X_train, y_train, X_test, y_test = _basicmotions_nlc()
    f = _finding(run(EEGConv2dNet, (X_train, y_train), (X_test, y_test), select=["D301"]), "D301")
    assert "convolves across channels" in f.message and f.evidence["feed"] == "as stored"
    assert f.evidence["data_time_axis"] == 1 and f.evidence["model_channel_axis"] == 1
    assert "100 channels of length 6" in f.evidence["model_reading"]
    # braindecode's own kernels do not fit six steps: only the transposed arrays run, and time is read right
    f = _finding(run(ShallowConvNet, (X_train, y_train), (X_test, y_test), select=["D301"]), "D301")
    assert "expects (N, C, L)" in f.message and f.evidence["feed"] == "transposed"
    assert f.evidence["model_time_axis"] == 1 and "6 channels of length 100" in f.evidence["model_reading"]


@pytest.mark.silent("D301")
def test_d301_silent_on_conv2d_eeg_models_fed_their_layout(run):
    X_train, y_train, X_test, y_test = ucr("BasicMotions")
    for model in (EEGConv2dNet, SpatialFirstEEGNet, ShallowConvNet):  # (N, C, T), temporal or spatial filter first
        report = run(model, (X_train, y_train), (X_test, y_test), select=["D301"])
        assert codes(report) == [] and report.checks[0].status == "passed"
    ctx = Context(make_subject(SpatialFirstEEGNet, "class", data_from_arrays(X_train, y_train, X_test, y_test),
                               name="SpatialFirstEEGNet"))
    assert ctx.time_axis.model_time_axis == 2  # the (6, 1) kernel spans the sensors: time is the other axis
    X_train, y_train, X_test, y_test = _basicmotions_nlc()  # viewed as (N, 1, T, C), kernels (k, 1) then (1, C)
    model = EEGConv2dNet(time_first=True)
    assert codes(run(model, (X_train, y_train), (X_test, y_test), select=["D301"])) == []
    ctx = Context(make_subject(ImageConvNet, "class", data_from_arrays(X_train, y_train, X_test, y_test),
                               name="ImageConvNet"))
    reading = ctx.time_axis  # a 3x3 kernel slides along both axes: the model's time axis is not guessed
    assert reading.model_time_axis is None and "slides along both axes" in reading.model_source


def _near_the_margin(n: int, seed: int):
    """(n, 20, 30) samples, smooth along both axes (AR(1), 0.75 along axis 1 and 0.5 along axis 2): lag-1
    continuity about 0.60 on axis 1 and 0.43 on axis 2, a margin of about 0.17, just under D301's 0.2."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 20, 30))
    for i in range(1, 20):
        X[:, i, :] = 0.75 * X[:, i - 1, :] + np.sqrt(1 - 0.75 ** 2) * X[:, i, :]
    for j in range(1, 30):
        X[:, :, j] = 0.5 * X[:, :, j - 1] + np.sqrt(1 - 0.5 ** 2) * X[:, :, j]
    return X.astype(np.float32), rng.integers(0, 2, n)


@pytest.mark.fires("D301")
def test_d301_min_margin_override_reaches_the_check_and_every_per_channel_statistic(run):
    """One owner: D301's min_margin decides the data's time axis for D301 and for the channel axis the scale
    checks (D102/D103), the baselines and the leakage scans use; thresholds= changes both together."""
    from cnndoctor.context import Context
    from cnndoctor.load.data import data_from_arrays
    from cnndoctor.load.subject import make_subject

    (X, y), (Xt, yt) = _near_the_margin(200, 0), _near_the_margin(100, 1)
    model = TinyCNN(in_channels=20, num_classes=2)  # convolves along axis 2: the data leans to axis 1 as time
    assert codes(run(model, (X, y), (Xt, yt), select=["D301"])) == []  # by default the data cannot tell
    report = run(model, (X, y), (Xt, yt), select=["D301"], thresholds={"D301": {"min_margin": 0.1}})
    f = _finding(report, "D301")
    assert "convolves across channels" in f.message and f.evidence["data_time_axis"] == 1
    axis1, axis2 = f.evidence["continuity"].values()
    assert f.evidence["min_margin"] == 0.1 and axis1 > 0.3 and 0.1 < axis1 - axis2 < 0.2  # near the default margin

    data = data_from_arrays(X, y, Xt, yt)
    default = Context(make_subject(model, "instance", data, name="TinyCNN"))
    override = Context(make_subject(model, "instance", data, name="TinyCNN"),
                       thresholds={"D301": {"min_margin": 0.1}})
    assert default.data_time_axis is None and override.data_time_axis == 1
    # the per-channel statistics follow: the model's channel axis by default, the data's reading with the override
    assert default.series_channel_axis == 1 and override.series_channel_axis == 2
    assert default.channel_scales.layout == "(N, C, L)" and override.channel_scales.layout == "(N, L, C)"
    assert len(override.channel_scales.inputs["train"].mean) == 30


# D302 scrambled-time-axis

@pytest.mark.fires("D302")
def test_d302_fires_on_view_instead_of_permute_inside_forward(run):
    X_train, y_train, X_test, y_test = _basicmotions_nlc()
    report = run(seeded.ViewInsteadOfPermuteCNN, (X_train, y_train), (X_test, y_test), select=["D302"])
    f = _finding(report, "D302")
    assert f.evidence["where"] == "model forward" and f.location == "body.features.0"
    captured = seeded.conv_input_of(seeded.ViewInsteadOfPermuteCNN(), X_train[:64]).numpy().astype(np.float64)
    assert f.evidence["continuity_as_fed"] == pytest.approx(continuity(captured), abs=1e-6)
    proper = X_train[:64].transpose(0, 2, 1).astype(np.float64)  # what permute would have fed
    assert f.evidence["continuity_reshape_undone"] == pytest.approx(continuity(proper), abs=1e-6)
    assert f.evidence["continuity_as_fed"] < 0.2 and f.evidence["continuity_reshape_undone"] > 0.4
    assert "permute(0, 2, 1)" in f.snippet


@pytest.mark.fires("D302")
def test_d302_fires_on_reshape_in_preprocess_and_in_the_stored_arrays(run):
    X_train, y_train, X_test, y_test = _basicmotions_nlc()
    report = run(TinyCNN(6, 4), (X_train, y_train), (X_test, y_test), select=["D302"],
                 preprocess=lambda X: X.reshape(len(X), 6, 100))
    assert _finding(report, "D302").evidence["where"] == "preprocess"
    def scrambled(X):
        return X.reshape(len(X), 6, 100)
    report = run(TinyCNN, (scrambled(X_train), y_train), (scrambled(X_test), y_test), select=["D302"])
    f = _finding(report, "D302")
    assert f.evidence["where"] == "stored data" and ".transpose(0, 2, 1)" in f.snippet


@pytest.mark.fires("D302")
def test_d302_reads_a_temporal_conv2d_over_a_one_plane_view(run):
    from tests.fixtures.arch_models import ShallowConvNet

    X_train, y_train, X_test, y_test = _basicmotions_nlc()
    def scrambled(X):
        return X.reshape(len(X), 6, 100)  # (N, 100, 6) memory read as (N, 6, 100)
    report = run(ShallowConvNet, (scrambled(X_train), y_train), (scrambled(X_test), y_test), select=["D302"])
    f = _finding(report, "D302")  # the model unsqueezes to (N, 1, 6, 100) for a Conv2d (1, 13)
    assert f.evidence["layer"] == "temporal" and f.evidence["conv_input_shape"][1:] == [6, 100]
    X, y, Xt, yt = ucr("BasicMotions")
    report = run(ShallowConvNet, (X, y), (Xt, yt), select=["D302"])
    assert codes(report) == [] and report.checks[0].status == "passed"


@pytest.mark.fires("D302")
def test_d302_reads_spatial_first_and_time_first_conv2d_planes(run):
    """A spatial Conv2d (6, 1) spanning the sensor rows leaves time on the columns; a (k, 1) kernel on an
    (N, 1, T, C) view runs along the rows: both planes are read as (C, L) before measuring continuity."""
    X_train, y_train, X_test, y_test = _basicmotions_nlc()
    scrambled = [X.reshape(len(X), 6, 100) for X in (X_train, X_test)]  # (N, 100, 6) memory read as (N, 6, 100)
    f = _finding(run(SpatialFirstEEGNet, (scrambled[0], y_train), (scrambled[1], y_test), select=["D302"]), "D302")
    assert f.evidence["layer"] == "spatial" and f.evidence["where"] == "stored data"
    assert f.evidence["continuity_as_fed"] < 0.1 < 0.4 < f.evidence["continuity_reshape_undone"]
    report = run(EEGConv2dNet(time_first=True), (X_train, y_train), (X_test, y_test), select=["D302"])
    assert codes(report) == [] and report.checks[0].status == "passed"


@pytest.mark.silent("D302")
def test_d302_silent_when_axes_are_moved_properly(run):
    X_train, y_train, X_test, y_test = _basicmotions_nlc()
    assert codes(run(seeded.ChannelsLastCNN, (X_train, y_train), (X_test, y_test), select=["D302"])) == []
    X_train, y_train, X_test, y_test = seeded.clean_windows()
    assert codes(run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D302"])) == []


# D303 no-temporal-structure

@pytest.mark.fires("D303")
def test_d303_fires_on_a_table_fed_as_a_series(run):
    X_train, y_train, X_test, y_test = seeded.tabular_as_series()
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D303"])
    f = _finding(report, "D303")
    e = f.evidence
    assert e["random_conv_ordered"] - e["random_conv_shuffled"] <= e["tolerance"]
    assert e["excess"] < e["max_excess"]
    assert e["best_accuracy"] > 0.8 and e["order_free_accuracy"] > 0.8  # the table itself is learnable
    assert "HistGradientBoostingClassifier" in f.snippet


@pytest.mark.silent("D303")
@pytest.mark.parametrize("name", ["GunPoint", "ItalyPowerDemand", "BasicMotions"])
def test_d303_silent_on_real_series(run, name):
    X_train, y_train, X_test, y_test = ucr(name)
    assert codes(run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D303"])) == []
