"""A101–A104 and A201–A205 on real data and tiny real models: the seeds' own models first."""

from functools import partial

import numpy as np
import pytest
from torch import nn

from tests.conftest import codes
from tests.fixtures.arch_models import (
    AlwaysOnDropoutCNN,
    BigFlattenHead,
    BottleneckCNN,
    ConvAttentionCNN,
    ConvLSTM,
    DilatedResidualCNN,
    KerasStyleStack,
    LazyDenseStack,
    NormAfterPoolCNN,
    ParallelKernelsCNN,
    PlainCNN,
    PoolingStackCNN,
    StridedCollapseCNN,
    fcn,
)
from tests.fixtures.data import gunpoint, ucr


def _found(report, code):
    return [f for f in report.findings if f.code == code]


def _status(report, code):
    return next(c.status for c in report.checks if c.code == code)


@pytest.fixture(scope="module")
def gp():
    X_train, y_train, X_test, y_test = gunpoint()
    return (X_train, y_train), (X_test, y_test)


# A101 forward-error: the seeds' models ---------------------------------------------------

@pytest.mark.fires("A101")
def test_a101_dilated_residual_names_both_branches_and_then_the_head(run, gp):
    report = run(DilatedResidualCNN, *gp, select=["A101"])
    first, second = _found(report, "A101")
    # 150 -> conv1 (d1) 148 -> conv2 (d2) 144 -> conv3 (d4) 136, while the 1x1 shortcut keeps 144
    assert first.location == "(model)" and first.evidence["kind"] == "branch-length"
    assert "`conv3` gives 136 steps, `shortcut` gives 144 steps" in first.message
    assert "x = x + skip" in first.message and first.evidence["operation"] == "+"
    assert "`conv1` padding=1, `conv2` padding=2, `conv3` padding=4" in first.fix
    assert "padding = dilation × (kernel_size − 1) // 2" in first.fix
    assert "nn.Conv1d(64, 128, kernel_size=3, dilation=4, padding=4)" in first.snippet
    # with that padding the head receives 128 channels x 75 steps (max-pool 2): found by running it
    assert second.location == "fc" and second.evidence["found_after"]
    assert "fails next" in second.message and "expects 128 input features but receives 9600 = 128 channels × 75 steps" \
        in second.message
    assert "in_features=9600" in second.fix and "AdaptiveAvgPool1d(1)" in second.fix
    assert "the in_features=128 it was written with" in second.fix
    assert "Checked: with these changes the forward pass runs and returns (4, 2)" in second.fix
    assert report.findings[0] is first  # the first failure is the primary cause


@pytest.mark.fires("A101")
def test_a101_attention_fed_channels_first_names_the_transpose(run, gp):
    report = run(ConvAttentionCNN, *gp, select=["A101", "A104"])
    (f,) = _found(report, "A101")
    assert f.location == "attention.q" and f.evidence["kind"] == "linear-time-axis"
    assert "receives a (B, 64, 75) tensor" in f.message and "the 75 time steps" in f.message
    assert "x = x.transpose(1, 2)" in f.fix and "`attention`" in f.fix
    assert _found(report, "A104") == []  # the failing layer is A101's


@pytest.mark.fires("A101")
def test_a101_parallel_branches_name_three_lengths_and_their_padding(run, gp):
    report = run(ParallelKernelsCNN, *gp, select=["A101"])
    (f,) = _found(report, "A101")
    assert f.evidence["operation"] == "torch.cat"
    assert [b["size"] for b in f.evidence["branches"]] == [148, 146, 144]
    assert "`branch3` gives 148 steps, `branch5` gives 146 steps, `branch7` gives 144 steps" in f.message
    assert "`branch3` padding=1, `branch5` padding=2, `branch7` padding=3" in f.fix
    assert "Checked: with these changes the forward pass runs" in f.fix and f.evidence["fix_checked"] is True


@pytest.mark.fires("A101")
def test_a101_even_kernel_span_gets_same_padding(run, gp):
    report = run(ParallelKernelsCNN, *gp, model_args={"kernels": (3, 4, 5)}, select=["A101"])
    (f,) = _found(report, "A101")
    assert "`branch5` padding='same'" in f.fix and "`branch7` padding=2" in f.fix
    assert "runs" in f.fix  # 'same' keeps the length of the even kernel too


@pytest.mark.fires("A101")
def test_a101_strided_stack_too_short_for_the_next_kernel(run):
    X_train, y_train, X_test, y_test = ucr("ItalyPowerDemand")  # 24 steps: stride-4 k8 leaves 5 < 8
    report = run(StridedCollapseCNN, (X_train, y_train), (X_test, y_test), select=["A101", "A103"])
    (f,) = _found(report, "A101")
    assert f.location == "features.2" and f.evidence["kind"] == "too-short"
    assert "needs at least 8 steps" in f.message and "24 → 5" in f.message
    assert _found(report, "A103")


@pytest.mark.silent("A101")
def test_a101_silent_on_the_fixed_seed_models(run, gp):
    for model in (partial(DilatedResidualCNN, padded=True, pooled_head=True), partial(ParallelKernelsCNN, padded=True),
                  partial(ConvAttentionCNN, transpose=True)):
        report = run(model, *gp, select=["A101"])
        assert codes(report) == [] and _status(report, "A101") == "passed"


# A102 input-channel-mismatch -----------------------------------------------------------------

@pytest.mark.fires("A102")
def test_a102_fires_on_a_three_channel_model_for_six_channel_data(run):
    X_train, y_train, X_test, y_test = ucr("BasicMotions")
    report = run(PlainCNN, (X_train, y_train), (X_test, y_test), model_args={"in_channels": 3},
                 select=["A101", "A102"])
    (f,) = _found(report, "A102")
    assert f.evidence["in_channels"] == 3 and f.evidence["data_channels"] == 6
    assert "in_channels=6" in f.fix
    assert _found(report, "A101")[0].related == ("A102",)


@pytest.mark.fires("A102")
def test_a102_fires_on_univariate_data_for_a_multichannel_model(run, gp):
    report = run(PlainCNN, *gp, model_args={"in_channels": 3}, select=["A102"])
    (f,) = _found(report, "A102")
    assert f.evidence["data_channels"] == 1 and "univariate" in f.message


@pytest.mark.silent("A102")
def test_a102_silent_when_channels_match_or_only_the_axes_are_swapped(run):
    X_train, y_train, X_test, y_test = ucr("BasicMotions")
    assert codes(run(PlainCNN, (X_train, y_train), (X_test, y_test), select=["A102"])) == []
    swapped = run(PlainCNN(in_channels=6, num_classes=4), (X_train.transpose(0, 2, 1), y_train),
                  (X_test.transpose(0, 2, 1), y_test), select=["A102"])
    assert codes(swapped) == []  # (N, L, C): a layout question for D301, not a channel count


# A103 sequence-collapse -------------------------------------------------------------------------

@pytest.mark.fires("A103")
def test_a103_fires_when_pooling_leaves_fewer_steps_than_the_kernel(run, gp):
    report = run(PoolingStackCNN, *gp, model_args={"n_blocks": 8}, select=["A103"])
    (f,) = _found(report, "A103")
    assert f.location == "features.18" and f.evidence["reason"] == "below-kernel"
    assert f.evidence["length_in"] == 2 and f.evidence["kernel_span"] == 3
    assert [h["length"] for h in f.evidence["time_length"]] == [150, 75, 37, 18, 9, 4, 2, 1]


@pytest.mark.fires("A103")
def test_a103_fires_on_a_single_step_read_by_later_layers(run):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 1, 64)).astype(np.float32)
    y = np.arange(40) % 2
    model = nn.Sequential(nn.Conv1d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool1d(64), nn.Conv1d(8, 8, 1),
                          nn.ReLU(), nn.MaxPool1d(1), nn.Conv1d(8, 8, 3, padding=1), nn.Flatten(), nn.Linear(8, 2))
    report = run(model, (X, y), (X, y), select=["A103"])
    (f,) = _found(report, "A103")
    assert f.location == "2" and f.evidence["reason"] == "one-step" and "6" in f.evidence["layers_after"]


@pytest.mark.silent("A103")
def test_a103_silent_on_moderate_pooling(run, gp):
    report = run(PoolingStackCNN, *gp, model_args={"n_blocks": 3}, select=["A103"])  # 150 -> 18
    assert codes(report) == [] and _status(report, "A103") == "passed"


# A104 per-timestep-head -------------------------------------------------------------------------

@pytest.mark.fires("A104")
def test_a104_keras_stack_outputs_one_prediction_per_step(run, gp):
    report = run(KerasStyleStack, *gp, select=["A104"])
    (f,) = _found(report, "A104")
    # num_classes=1 is kept on two classes (a one-logit binary head is what the default builds)
    assert f.evidence["output_shape"] == [4, 144, 1] and f.evidence["output_time_axis"] == [1]
    assert "one prediction per time step" in f.message and "`dense.0`" in f.message
    assert "AdaptiveAvgPool1d(1)" in f.fix and "(B, 32)" in f.fix


@pytest.mark.fires("A104")
def test_a104_lazy_linear_reads_the_time_axis(run, gp):
    report = run(LazyDenseStack, *gp, select=["A104"])
    (f,) = _found(report, "A104")
    assert f.location == "dense.0" and f.evidence["linear_along_time"][0]["time_steps"] == 146
    assert "in_features=32" in f.fix


@pytest.mark.fires("A104")
def test_a104_attention_that_runs_only_because_embed_dim_equals_the_length(run, gp):
    report = run(ConvAttentionCNN, *gp, model_args={"embed_dim": 75}, select=["A101", "A104"])
    assert _found(report, "A101") == []
    (f,) = _found(report, "A104")
    assert "`attention`" in f.message and "x = x.transpose(1, 2)" in f.fix and "embed_dim=64" in f.fix


@pytest.mark.silent("A104")
def test_a104_silent_on_pooled_heads_and_attention_over_time(run, gp):
    for model in (PlainCNN, partial(ConvAttentionCNN, transpose=True)):
        report = run(model, *gp, select=["A104"])
        assert codes(report) == [] and _status(report, "A104") == "passed"


# A201 small-receptive-field -------------------------------------------------------------------

@pytest.mark.fires("A201")
def test_a201_fires_on_one_small_kernel_before_global_pooling(run, gp):
    report = run(PlainCNN, *gp, model_args={"kernels": (3,), "pools": (1,)}, select=["A201"])
    (f,) = _found(report, "A201")
    ev = f.evidence
    assert ev["receptive_field"] == 3 and ev["method"] == "analytic"
    assert ev["receptive_field_fraction"] == pytest.approx(3 / 150)
    # GunPoint stays more than half correlated with itself over 18 samples
    assert ev["decorrelation_lag"] == 18 and ev["decorrelation_fraction"] == pytest.approx(18 / 150)
    assert "dilation 1, 2, 4" in f.fix


@pytest.mark.fires("A201")
def test_a201_measures_branching_models_by_input_gradient(run, gp):
    model = partial(ParallelKernelsCNN, padded=True, kernels=(1, 3, 5), merge_kernel=1)
    report = run(model, *gp, select=["A201"])
    (f,) = _found(report, "A201")
    assert f.evidence["method"] == "input gradient" and f.evidence["receptive_field"] == 5


@pytest.mark.silent("A201")
def test_a201_silent_on_deep_enough_stacks_and_flatten_heads(run, gp):
    for model in (PlainCNN, fcn, partial(DilatedResidualCNN, padded=True, pooled_head=True)):
        report = run(model, *gp, select=["A201"])
        assert codes(report) == [] and _status(report, "A201") == "passed"
    flat = run(BigFlattenHead, *gp, model_args={"width": 4, "hidden": 8}, select=["A201"])
    assert _status(flat, "A201") == "skipped"
    recurrent = run(ConvLSTM, *gp, select=["A201"])  # a 3-sample conv window, but the LSTM reads everything
    assert codes(recurrent) == [] and "recurrent" in recurrent.checks[0].reason


# A202 missing-nonlinearity ---------------------------------------------------------------------

@pytest.mark.fires("A202")
def test_a202_fires_on_convs_without_activations(run, gp):
    report = run(PlainCNN, *gp, model_args={"act": False}, select=["A202"])
    (f,) = _found(report, "A202")
    pairs = [(p["first"], p["second"]) for p in f.evidence["pairs"]]
    assert ("features.0", "features.1") in pairs and ("features.2", "head.0") in pairs


@pytest.mark.fires("A202")
def test_a202_fires_on_dense_layers_with_only_dropout_between(run, gp):
    report = run(PlainCNN, *gp, model_args={"hidden": 32, "hidden_act": False, "dropout": 0.1}, select=["A202"])
    (f,) = _found(report, "A202")
    assert f.evidence["pairs"] == [{"first": "head.0", "second": "head.2", "between": ["dropout"]}]


@pytest.mark.silent("A202")
def test_a202_silent_on_functional_activations_and_bottlenecks(run, gp):
    for model in (PlainCNN, partial(ParallelKernelsCNN, padded=True), BottleneckCNN):
        assert codes(run(model, *gp, select=["A202"])) == []


# A203 batchnorm-small-batch ---------------------------------------------------------------------

@pytest.mark.fires("A203")
def test_a203_fires_on_tiny_batches(run, gp):
    report = run(PlainCNN, *gp, model_args={"bn": True}, batch_size=4, select=["A203"])
    (f,) = _found(report, "A203")
    assert f.evidence["batch_size"] == 4 and f.evidence["min_batch"] == 8
    assert len(f.evidence["batchnorm_layers"]) == 3


@pytest.mark.fires("A203")
def test_a203_fires_on_a_last_batch_of_one_into_flat_batchnorm(run, gp):
    report = run(NormAfterPoolCNN, *gp, batch_size=49, select=["A203"])  # 50 = 1 x 49 + 1
    (f,) = _found(report, "A203")
    assert f.evidence["last_batch"] == 1 and "drop_last=True" in f.fix


@pytest.mark.silent("A203")
def test_a203_silent_with_ordinary_batches(run, gp):
    assert codes(run(PlainCNN, *gp, model_args={"bn": True}, batch_size=32, select=["A203"])) == []
    assert codes(run(PlainCNN, *gp, batch_size=2, select=["A203"])) == []  # no BatchNorm at all


# A204 heavy-dropout -------------------------------------------------------------------------------

@pytest.mark.fires("A204")
def test_a204_fires_on_heavy_rates(run, gp):
    report = run(PlainCNN, *gp, model_args={"dropout": 0.5}, select=["A204"])
    (f,) = _found(report, "A204")
    assert f.severity == "info" and f.evidence["max_conv_rate"] == 0.3
    assert "0.5 in `features.2` on a conv feature map (above 0.3)" in f.message


@pytest.mark.fires("A204")
def test_a204_fires_on_functional_dropout_left_on_at_evaluation(run, gp):
    report = run(AlwaysOnDropoutCNN, *gp, select=["A204"])
    (f,) = _found(report, "A204")
    assert f.severity == "warning" and "training=self.training" in f.fix


@pytest.mark.silent("A204")
def test_a204_silent_on_moderate_dropout(run, gp):
    assert codes(run(PlainCNN, *gp, model_args={"dropout": 0.2}, select=["A204"])) == []
    # 0.5 before the head is the classic dense rate
    model = nn.Sequential(nn.Conv1d(1, 8, 5, padding=2), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(),
                          nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 2))
    assert codes(run(model, *gp, select=["A204"])) == []


# A205 parameter-budget ----------------------------------------------------------------------------

@pytest.mark.fires("A205")
def test_a205_fires_on_a_dense_layer_over_every_flattened_feature(run, gp):
    report = run(BigFlattenHead, *gp, select=["A205"])
    (f,) = _found(report, "A205")
    assert f.evidence["trainable_parameters"] == 19_664_642 and f.evidence["n_train"] == 50
    assert f.location == "head.1" and "AdaptiveAvgPool1d(1)" in f.fix


@pytest.mark.silent("A205")
def test_a205_silent_on_the_reference_fcn(run, gp):
    report = run(fcn, *gp, select=["A205"])  # ~0.27 M parameters for 50 series
    assert codes(report) == [] and _status(report, "A205") == "passed"


# healthy models: nothing from the architecture and head checks ------------------------------

MINE = ["A", "L201", "L202", "L203", "L204"]

def _sample_model(folder: str, name: str):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "sample_data" / folder / "model.py"
    spec = importlib.util.spec_from_file_location(f"sample_{folder}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def test_healthy_models_get_no_architecture_or_head_findings(run, gp):
    from tests.fixtures.models import TinyCNN

    for model in (TinyCNN, fcn, _sample_model("healthy", "GunPointFCN")):
        report = run(model, *gp, batch_size=8, select=MINE)
        assert codes(report) == [], model
        assert not [c for c in report.checks if c.status == "errored"]


def test_the_unscaled_sample_gets_nothing_from_these_checks():
    from pathlib import Path

    import cnndoctor

    d = np.load(Path(__file__).resolve().parents[1] / "sample_data" / "chance_accuracy" / "data.npz")
    report = cnndoctor.diagnose(_sample_model("chance_accuracy", "AppliancesCNN"), (d["X_train"], d["y_train"]),
                                (d["X_test"], d["y_test"]), select=MINE, progress=False)
    assert codes(report) == []  # its fault is the input scale (D102), not the architecture
