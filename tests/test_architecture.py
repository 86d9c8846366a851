"""A101–A105, A201–A205 and A207 on real data and tiny real models: the seeds' own models first."""

import json
import textwrap
from functools import partial

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from cnndoctor.cli import main
from cnndoctor.measure.local_baselines import local_baselines
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
    ShallowConvNet,
    StridedCollapseCNN,
    fcn,
)
from tests.fixtures.arch_models import GuessedDefaultsNet as Net
from tests.fixtures.data import gunpoint, ucr
from tests.fixtures.library_style import TCN, FinalConvShallowNet
from tests.fixtures.models import FlattenHeadCNN, TinyCNN
from tests.fixtures.probe_models import ProbeCNN
from tests.fixtures.representation_models import (
    ConvRecurrentHead,
    EEGNetStyle,
    NarrowHiddenHead,
    PoolEverythingCNN,
    SelfAttentionCNN,
    SeparableCNN,
    ViewedTimeMajorLSTM,
)


def _found(report, code):
    return [f for f in report.findings if f.code == code]


def _status(report, code):
    return next(c.status for c in report.checks if c.code == code)


def _finding(report, code):
    found = [f for f in report.findings if f.code == code]
    assert found, (code, codes(report), [(c.code, c.status, c.reason) for c in report.checks])
    return found[0]


@pytest.fixture(scope="module")
def gp():
    X_train, y_train, X_test, y_test = gunpoint()
    return (X_train, y_train), (X_test, y_test)


# A101 forward-error: the seeds' models ---------------------------------------------------

class _ConvThenLSTM(nn.Module):
    """Convolutions straight into an LSTM, without the transpose: it reads the time steps as its features."""

    def __init__(self, in_channels=1, num_classes=2, batch_first=False):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, 16, 5, padding=2)
        self.lstm = nn.LSTM(16, 32, batch_first=batch_first)
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x):
        out, _ = self.lstm(self.conv(x))
        return self.fc(out[:, -1])


@pytest.mark.fires("A101")
@pytest.mark.parametrize("batch_first", [False, True])
def test_a101_recurrent_layer_fed_channels_first_says_transpose(run, gp, batch_first):
    report = run(partial(_ConvThenLSTM, batch_first=batch_first), *gp, select=["A101"])
    (f,) = [f for f in report.findings if f.code == "A101"]
    assert f.evidence["kind"] == "recurrent-layout" and f.evidence["expected"] == 16 and f.evidence["got"] == 150
    assert "x.transpose(1, 2)" in f.fix and "x = x.transpose(1, 2)" in f.snippet
    assert ("batch_first=True" in f.fix) is (not batch_first)  # the default axes would mix the batch (A208)
    assert "operation" not in f.evidence  # not measured here: left out, not shown as None


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


# A101 forward-error: the foundation cases -------------------------------------------------

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


@pytest.mark.fires("A104")
def test_a104_leads_for_a_tcn_returned_per_time_step(run, gp):
    """pytorch-tcn without an output projection: the last block has K channels and ends in ReLU. The output is
    a sequence of per-step values, so the head is the cause; the ReLU is named in A104's finding (L203 judges
    logits per sample only)."""
    report = run(TCN(head="none"), *gp)
    assert report.diagnosis["primary"] == "A104" and _status(report, "L203") == "skipped"
    f = _finding(report, "A104")
    assert f.evidence["output_shape"] == [4, 2, 150] and f.evidence["output_time_axis"] == [2]
    assert f.evidence["output_op"] == "relu" and "relu last" in f.message
    assert "nn.Linear(C, K)" in f.fix and "h[:, :, -1]" in f.snippet


@pytest.mark.fires("A104")
@pytest.mark.parametrize("head", ["conv", "linear"])
def test_a104_fires_on_a_tcn_projection_per_step(run, gp, head):
    """A 1x1 Conv1d to the classes (pytorch-tcn's output projection) or braindecode's Linear over the channels of
    every step: raw values, but still (B, K, L)."""
    f = _finding(run(TCN(head=head), *gp, select=["A104", "L203"]), "A104")
    assert f.evidence["output_time_axis"] == [2] and "output_op" not in f.evidence
    assert "one prediction per time step" in f.message


@pytest.mark.fires("A104")
def test_a104_fires_on_leftover_axes_of_size_one(run, gp):
    """(B, K, 1) from keeping the last step with [:, :, -1:], and braindecode's final Conv2d left unsqueezed
    (B, K, 1, 1): CrossEntropyLoss would ask for (B, 1) targets."""
    f = _finding(run(TCN(head="last-step"), *gp, select=["A104"]), "A104")
    assert f.evidence["output_shape"] == [4, 2, 1] and f.evidence["extra_axes"] == [1]
    assert "(B, 1)" in f.message and "flatten(1)" in f.fix
    X_train, y_train, X_test, y_test = ucr("BasicMotions")
    f = _finding(run(FinalConvShallowNet(squeeze=False), (X_train, y_train), (X_test, y_test), select=["A104"]),
                 "A104")
    # the final kernel spans the time left at 100 steps: one step here, more on a longer series
    assert f.evidence["output_shape"] == [4, 4, 1, 1] and f.evidence["extra_axes"] == [1, 1]
    assert f.evidence["output_time_axis"] == [3] and "(B, 1, 1)" in f.message and f.location == "final_layer"


@pytest.mark.silent("A104")
def test_a104_silent_on_pooled_tcn_and_squeezed_conv2d_head(run, gp):
    report = run(TCN(head="pooled"), *gp, select=["A104", "L201"])
    assert codes(report) == [] and _status(report, "A104") == "passed"
    X_train, y_train, X_test, y_test = ucr("BasicMotions")
    report = run(FinalConvShallowNet, (X_train, y_train), (X_test, y_test), select=["A104", "L201"])
    assert codes(report) == [] and _status(report, "A104") == "passed" and _status(report, "L201") == "passed"


# A105 constructor-default-mismatch: models whose defaults are the user's guesses ------------

class FlatHead(nn.Module):
    """Sizes its head from ``seq_len``: a length default that disagrees with the data breaks the user's own run."""

    def __init__(self, in_channels=1, num_classes=2, seq_len=128):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, 4, 3, padding=1)
        self.head = nn.Linear(4 * seq_len, num_classes)

    def forward(self, x):
        return self.head(self.conv(x).flatten(1))


@pytest.fixture(scope="module")
def osuleaf():  # six classes, one channel, 427 steps
    X_train, y_train, X_test, y_test = ucr("OSULeaf")
    return (X_train[:60], y_train[:60]), (X_test[:60], y_test[:60])


@pytest.fixture(scope="module")
def basicmotions():  # four classes, six channels
    X_train, y_train, X_test, y_test = ucr("BasicMotions")
    return (X_train, y_train), (X_test, y_test)


def _args(report):
    return {a["name"]: a for a in report.subject["constructor_arguments"]}


# A105 constructor-default-mismatch: the cases --------------------------------------------------------------

@pytest.mark.fires("A105")
def test_a105_fires_on_a_class_count_default_that_disagrees(run, osuleaf):
    report = run(Net, *osuleaf, select=["A105"])
    (f,) = report.findings
    assert f.severity == "error"
    assert f.evidence == {"parameter": "num_classes", "default": 5, "value_from_data": 6, "fact": "classes",
                          "default_output_shape": [4, 5], "filled_output_shape": [4, 6]}  # measured: Net() built
    assert "`num_classes` defaults to 5" in f.message and "6 classes" in f.message
    assert "Pass num_classes=6 where you build the model" in f.fix
    assert "--model-arg num_classes=6" in f.fix and 'model_args={"num_classes": 6}' in f.fix


@pytest.mark.fires("A105")
def test_a105_fires_on_a_channel_default_that_disagrees(run, basicmotions):
    report = run(Net, *basicmotions, model_args={"num_classes": 4}, select=["A105"])
    (f,) = report.findings
    assert f.severity == "error" and f.evidence["parameter"] == "in_channels"
    assert (f.evidence["default"], f.evidence["value_from_data"]) == (1, 6)


@pytest.mark.fires("A105")
def test_a105_length_default_that_crashes_the_users_run_is_an_error(run, gp):
    report = run(FlatHead, *gp, select=["A105"])
    (f,) = report.findings
    # FlatHead(seq_len=128) sizes its Linear for 128 steps: on 150 steps the user's own forward fails
    assert f.severity == "error" and f.evidence["fact"] == "length"
    assert (f.evidence["default"], f.evidence["value_from_data"]) == (128, 150)
    assert "mat1 and mat2 shapes cannot be multiplied" in f.evidence["default_error"]


class PerStepHead(nn.Module):
    """Uses seq_len only to shape its output: the default runs, with another output shape."""

    def __init__(self, in_channels=1, num_classes=2, seq_len=100):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, num_classes, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool1d(seq_len // 50)  # 2 steps at the default, 3 on 150-step data

    def forward(self, x):
        return self.pool(self.conv(x)).flatten(1)


@pytest.mark.fires("A105")
def test_a105_length_default_that_runs_with_another_output_is_a_warning(run, gp):
    report = run(PerStepHead, *gp, select=["A105"])
    (f,) = report.findings
    assert f.severity == "warning"
    assert (f.evidence["default_output_shape"], f.evidence["filled_output_shape"]) == ([4, 4], [4, 6])


class HiddenWidth(nn.Module):
    """``channels`` is a hidden width here, next to the real ``in_channels``."""

    def __init__(self, in_channels=1, num_classes=2, channels=64, n_features=32):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, channels, 3, padding=1)
        self.fc = nn.Linear(channels, n_features)
        self.head = nn.Linear(n_features, num_classes)

    def forward(self, x):
        return self.head(self.fc(self.conv(x).relu().mean(-1)).relu())


def test_a105_hidden_widths_next_to_the_channel_parameter_are_kept(run, basicmotions):
    report = run(HiddenWidth, *basicmotions, model_args={"num_classes": 4}, select=["A105"])
    args = _args(report)
    assert args["in_channels"]["value"] == 6 and args["in_channels"]["source"] == "data"
    assert args["channels"] == {"name": "channels", "value": 64, "source": "your default", "default": 64}
    assert args["n_features"]["value"] == 32 and args["n_features"]["source"] == "your default"
    (f,) = report.findings  # in_channels=1 on 6-channel data: the user's own Net() cannot read it
    assert f.severity == "error" and f.evidence["parameter"] == "in_channels"


class OnlyWidth(nn.Module):
    """The only channel-like parameter is a hidden width: its default also runs on 6-channel data."""

    def __init__(self, num_classes=2, channels=16):
        super().__init__()
        self.conv = nn.LazyConv1d(channels, 3, padding=1)
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x):
        return self.head(self.conv(x).relu().mean(-1))


def test_a105_a_default_that_builds_the_same_model_is_only_info(run, basicmotions):
    report = run(OnlyWidth, *basicmotions, model_args={"num_classes": 4}, select=["A105"])
    (f,) = report.findings
    assert f.severity == "info" and f.evidence["parameter"] == "channels"
    assert "may not be the input channel count" in f.message and "--model-arg channels=16" in f.fix


@pytest.mark.silent("A105")
def test_a105_silent_when_the_value_is_passed_explicitly(run, osuleaf):
    report = run(Net, *osuleaf, model_args={"num_classes": 6}, select=["A105"])
    assert codes(report) == []
    assert _args(report)["num_classes"]["source"] == "model_args"


@pytest.mark.silent("A105")
def test_a105_silent_on_agreeing_or_placeholder_defaults(run, gp):
    class Placeholders(Net):
        def __init__(self, in_channels=None, num_classes=2, seq_len=150):
            super().__init__(in_channels, num_classes)

    assert codes(run(Placeholders, *gp, select=["A105"])) == []


def test_a105_through_the_cli_names_the_source(tmp_path, capsys):
    X_train, y_train, X_test, y_test = ucr("OSULeaf")
    np.savez(tmp_path / "data.npz", X_train=X_train[:60], y_train=y_train[:60], X_test=X_test[:60],
             y_test=y_test[:60])
    (tmp_path / "model.py").write_text(textwrap.dedent("""
        import torch.nn as nn
        class Net(nn.Module):
            def __init__(self, in_channels=1, num_classes=5):
                super().__init__()
                self.conv = nn.Conv1d(in_channels, 4, 3, padding=1)
                self.head = nn.Linear(4, num_classes)
            def forward(self, x):
                return self.head(self.conv(x).mean(-1))
    """))
    base = ["run", str(tmp_path / "model.py"), str(tmp_path / "data.npz"), "-q", "--select", "A105",
            "--format", "json"]
    assert main(base) == 1
    doc = json.loads(capsys.readouterr().out)
    assert [f["code"] for f in doc["findings"]] == ["A105"]
    assert main([*base, "--model-arg", "num_classes=6"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (arg,) = [a for a in doc["subject"]["constructor_arguments"] if a["name"] == "num_classes"]
    assert arg == {"name": "num_classes", "value": 6, "source": "command line", "default": 5}


# A201 small-receptive-field -------------------------------------------------------------------

def _slow_shape(name="OSULeaf", amplitude=0.5, seed=0):
    """Real series (z-normalised) whose two classes differ only in the sign of one slow sine spanning the series."""
    X, _, Xt, _ = ucr(name)
    V = np.concatenate([X, Xt]).astype(np.float32)
    V = (V - V.mean(1, keepdims=True)) / V.std(1, keepdims=True)
    y = np.random.default_rng(seed).permutation(np.arange(len(V)) % 2).astype(np.int64)
    wave = np.sin(2 * np.pi * np.linspace(0, 1, V.shape[1], dtype=np.float32))
    V = V + amplitude * np.where(y[:, None] == 1, 1.0, -1.0).astype(np.float32) * wave
    return (V[:len(X)], y[:len(X)]), (V[len(X):], y[len(X):])


def _dilated_stack(in_channels=1, num_classes=2, width=16):
    """Kernel-3 convs with dilations 1 … 64: a 255-sample receptive field before global pooling."""
    layers, c = [], in_channels
    for d in (1, 2, 4, 8, 16, 32, 64):
        layers += [nn.Conv1d(c, width, 3, dilation=d, padding=d), nn.ReLU()]
        c = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(width, num_classes))


@pytest.fixture(scope="module")
def slow():
    return _slow_shape()


@pytest.mark.fires("A201")
def test_a201_fires_when_classes_differ_in_a_slow_shape(run, slow):
    report = run(PlainCNN, *slow, model_args={"kernels": (3,), "pools": (1,)}, select=["A201"])
    (f,) = _found(report, "A201")
    ev = f.evidence
    assert ev["receptive_field"] == 3 and ev["method"] == "analytic" and ev["input_length"] == 427
    # pooled 3-sample windows barely beat a coin; windows over the whole series separate the classes
    assert ev["local_balanced_accuracy"] < 0.65 and ev["whole_series_balanced_accuracy"] > 0.95
    assert ev["chance"] == 0.5 and ev["share_lost"] >= ev["min_share"]
    assert ev["share_lost"] == pytest.approx(ev["gap"] / (ev["whole_series_balanced_accuracy"] - ev["chance"]))
    assert ev["gap"] > ev["z"] * ev["gap_standard_error"]
    # every window gets the same feature budget: the whole series wins by what it sees, not by more features
    assert ev["features_per_span"] == 192 * 5
    # the information is in a shape of half the series or more: it comes back only with windows that long
    assert 96 <= ev["recovery_span"] <= 256 and ev["ladder"][0]["span"] == 3 and ev["ladder"][-1]["span"] == 427
    assert "recovers at" in f.message and f"at least {ev['recovery_span']} samples" in f.fix
    # the same seed gives the same reading
    again = run(PlainCNN, *slow, model_args={"kernels": (3,), "pools": (1,)}, select=["A201"])
    assert _found(again, "A201")[0].evidence == ev


@pytest.mark.silent("A201")
def test_a201_silent_when_short_windows_keep_most_of_the_signal(run, gp):
    # GunPoint's classes differ in a dip around the hand's peak: 3-sample windows already hold most of it
    (X, y), (Xt, yt) = gp
    report = run(PlainCNN, *gp, model_args={"kernels": (3,), "pools": (1,)}, select=["A201"])
    assert codes(report) == [] and _status(report, "A201") == "passed"
    classes, y = np.unique(y, return_inverse=True)
    lb = local_baselines(X[:, None].astype(float), y, Xt[:, None].astype(float), np.searchsorted(classes, yt), 3)
    gap, se = lb.shortfall(lb.local)
    # the windows do lose something, clearly (the paired test alone would fire) ...
    assert gap > 2 * se and lb.whole.balanced_accuracy > 0.95
    # ... but well under half of what the whole-series baseline learns above chance: training makes that up
    assert lb.share_lost(lb.local) < 0.35 and lb.recovery_span(2.0) <= 48


@pytest.mark.fires("A201")
def test_a201_measures_branching_and_conv2d_models(run, slow):
    model = partial(ParallelKernelsCNN, padded=True, kernels=(1, 3, 5), merge_kernel=1)
    (f,) = _found(run(model, *slow, select=["A201"]), "A201")
    assert f.evidence["method"] == "input gradient" and f.evidence["receptive_field"] == 5
    # braindecode-style: x.unsqueeze(1), Conv2d (1, 3) along time, Conv2d (C, 1) across channels
    eeg = partial(ShallowConvNet, in_channels=1, num_classes=2, kernel=3, pool=1)
    (f,) = _found(run(eeg, *slow, select=["A201"]), "A201")
    assert f.evidence["method"] == "analytic" and f.evidence["receptive_field"] == 3
    assert [s["kernel"] for s in f.evidence["stack"]] == [3, 1, 1]


@pytest.mark.silent("A201")
def test_a201_silent_when_the_receptive_field_holds_the_class_shape(run, slow):
    report = run(_dilated_stack, *slow, select=["A201"])  # 255 of 427 samples
    assert codes(report) == [] and _status(report, "A201") == "passed"


@pytest.mark.silent("A201")
def test_a201_silent_when_the_class_information_is_local(run):
    X, y, Xt, yt = ucr("BasicMotions")  # running, walking, badminton, standing: texture, not shape
    report = run(PlainCNN, (X, y), (Xt, yt), model_args={"in_channels": 6, "num_classes": 4, "kernels": (3,),
                                                         "pools": (1,)}, select=["A201"])
    assert codes(report) == [] and _status(report, "A201") == "passed"
    eeg = run(ShallowConvNet, (X, y), (Xt, yt), select=["A201"])  # Conv2d over (N, 1, 6, 100), rf 13 + 7
    assert codes(eeg) == [] and _status(eeg, "A201") == "passed"


@pytest.mark.silent("A201")
def test_a201_silent_on_deep_enough_stacks_and_flatten_heads(run, gp):
    for model in (PlainCNN, fcn, partial(DilatedResidualCNN, padded=True, pooled_head=True)):
        report = run(model, *gp, select=["A201"])
        assert codes(report) == [] and _status(report, "A201") == "passed"
    flat = run(BigFlattenHead, *gp, model_args={"width": 4, "hidden": 8}, select=["A201"])
    assert _status(flat, "A201") == "skipped"
    recurrent = run(ConvLSTM, *gp, select=["A201"])  # a 3-sample conv window, but the LSTM reads everything
    assert codes(recurrent) == [] and "recurrent" in recurrent.checks[0].reason



def test_a201_figure_draws_the_ladder_from_the_computed_fact(gp):
    from cnndoctor.reporters.plots import _receptive_field

    (X, y), (Xt, yt) = gp
    classes, y = np.unique(y, return_inverse=True)
    lb = local_baselines(X[:, None].astype(float), y, Xt[:, None].astype(float), np.searchsorted(classes, yt), 3)
    fig = _receptive_field(lb, 2.0)
    (ax,) = fig.axes
    curve = ax.lines[0]
    assert list(curve.get_xdata()) == [s.span for s in lb.ladder] and ax.get_xscale() == "log"
    vertical = {line.get_label(): line.get_xdata()[0] for line in ax.lines[3:]}
    assert vertical["receptive field at the head: 3 samples"] == 3
    assert vertical[f"accuracy recovers: {lb.recovery_span(2.0)} samples"] == lb.recovery_span(2.0)
    assert not ax.get_legend() and fig.legends  # the legend sits below the axes, off the curve

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
    # Linear(16, 32) then Linear(32, 2): 610 parameters for what one Linear(16, 2) (34) computes
    assert f.evidence["pairs"] == [{"first": "head.0", "second": "head.2", "between": ["dropout"], "params": 610,
                                    "composed_params": 34}]


@pytest.mark.silent("A202")
def test_a202_silent_on_functional_activations_and_bottlenecks(run, gp):
    for model in (PlainCNN, partial(ParallelKernelsCNN, padded=True), BottleneckCNN):
        assert codes(run(model, *gp, select=["A202"])) == []


@pytest.mark.silent("A202")
def test_a202_silent_on_factorised_convolutions_with_fewer_parameters(run, gp):
    from cnndoctor.trace.composition import pair_costs
    from cnndoctor.trace.forward import trace_forward

    X, y, Xt, yt = ucr("BasicMotions")
    # EEGNet: temporal Conv2d (1 -> 8, kernel (1, 16)), BatchNorm2d, depthwise spatial Conv2d (8 -> 16, (6, 1))
    report = run(EEGNetStyle, (X, y), (Xt, yt), select=["A202"])
    assert codes(report) == [] and _status(report, "A202") == "passed"
    trace = trace_forward(EEGNetStyle(), torch.tensor(X[:4]))
    (pair,) = pair_costs(trace, trace.linear_pairs)  # one linear map written as two, on purpose:
    assert (pair.first, pair.second, pair.between) == ("temporal", "spatial", ("batch_norm",))
    assert (pair.params, pair.composed_params) == (8 * 16 + 16 * 6, 16 * 6 * 16)  # 224 < one (6, 16) conv's 1536
    # depthwise Conv1d (32 channels, kernel 9) straight into its pointwise 1x1 conv (32 -> 64)
    report = run(SeparableCNN, *gp, select=["A202"])
    assert codes(report) == [] and _status(report, "A202") == "passed"
    trace = trace_forward(SeparableCNN(), torch.tensor(gp[0][0][:4, None, :]))
    (pair,) = pair_costs(trace, trace.linear_pairs)
    assert (pair.params, pair.composed_params) == (32 * 9 + 32 + 32 * 64 + 64, 32 * 64 * 9 + 64)


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


def _run(run, model, train, test, **kw):
    kw.setdefault("budget", "quick")
    return run(model, train, test, **kw)


# A207 batchnorm-batch-of-one -----------------------------------------------------------------------

@pytest.mark.fires("A207")
def test_a207_fires_when_the_last_batch_of_one_reaches_a_flat_batchnorm(run, gp):
    report = _run(run, NormAfterPoolCNN, *gp, batch_size=7, select=["A207"])  # 50 = 7 x 7 + 1
    f = _finding(report, "A207")
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
    assert _finding(report, "A207").evidence["drop_last"] is False
    dropped = _run(run, NormAfterPoolCNN, DataLoader(dataset, batch_size=7, shuffle=True, drop_last=True), test,
                   select=["A207"])
    assert codes(dropped) == []


@pytest.mark.silent("A207")
def test_a207_silent_where_the_loop_does_not_crash(run, gp):
    assert codes(_run(run, NormAfterPoolCNN, *gp, batch_size=8, select=["A207"])) == []  # last batch: 2
    # BatchNorm inside the conv blocks gets (1, C, L): it trains on one sample without an error
    report = _run(run, ProbeCNN, *gp, batch_size=7, select=["A207"])
    assert codes(report) == [] and _status(report, "A207") == "passed"


# A206 feature-bottleneck -------------------------------------------------------------------------

@pytest.mark.fires("A206")
def test_a206_one_hidden_unit_before_three_classes_is_an_error(run):
    X, y, Xt, yt = ucr("ArrowHead")
    report = run(NarrowHiddenHead, (X, y), (Xt, yt), select=["A206"])
    (f,) = _found(report, "A206")
    assert f.severity == "error" and f.location == "head.0"
    assert (f.evidence["width"], f.evidence["n_classes"], f.evidence["narrowed_from"]) == (1, 3, 16)
    assert f.evidence["reader"] == "head.1" and f.evidence["narrowed_type"] == "Linear"
    assert "only 1 feature per sample for 3 classes" in f.message and "at least 3 outputs" in f.fix


@pytest.mark.fires("A206")
def test_a206_names_a_functional_2d_pooling_that_averages_the_filters(run):
    X, y, Xt, yt = ucr("ArrowHead")
    report = run(PoolEverythingCNN, (X, y), (Xt, yt), select=["A206"])
    (f,) = _found(report, "A206")
    assert f.severity == "error" and f.evidence["narrowed_by"] == "adaptive_avg_pool2d() in (model)"
    assert f.evidence["feature_map"] == "conv2" and f.evidence["shape"] == [4, 1]
    assert "x.mean(dim=-1)" in f.fix


@pytest.mark.fires("A206")
def test_a206_three_features_for_six_classes_is_a_warning(run):
    X, y, Xt, yt = ucr("OSULeaf")
    report = run(partial(NarrowHiddenHead, hidden=3), (X, y), (Xt, yt), select=["A206"])
    (f,) = _found(report, "A206")
    assert f.severity == "warning" and (f.evidence["width"], f.evidence["n_classes"]) == (3, 6)


@pytest.mark.silent("A206")
def test_a206_silent_when_the_head_reads_at_least_one_feature_per_class(run, gp):
    X, y, Xt, yt = ucr("ArrowHead")
    for model, data in ((fcn, ((X, y), (Xt, yt))), (PlainCNN, gp), (ConvLSTM, gp),
                        (partial(NarrowHiddenHead, hidden=3), ((X, y), (Xt, yt)))):
        report = run(model, *data, select=["A206"])
        assert codes(report) == [] and _status(report, "A206") == "passed", model


@pytest.mark.fires("A206")
def test_a206_is_named_first_by_the_diagnosis(run):
    X, y, Xt, yt = ucr("ArrowHead")
    report = run(PoolEverythingCNN, (X, y), (Xt, yt), budget="quick")
    assert report.findings[0].code == "A206", codes(report)


# A208 batch-mixing ------------------------------------------------------------------------------

@pytest.mark.fires("A208")
def test_a208_fires_on_a_default_lstm_fed_batch_first(run, gp):
    report = run(partial(ConvRecurrentHead, batch_first=False, cell="LSTM"), *gp, select=["A208"])
    (f,) = _found(report, "A208")
    assert f.severity == "error" and f.location == "rnn"
    assert f.evidence["noise_floor"] == 0.0 and f.evidence["relative_change"] > 10 * f.evidence["min_change"]
    assert f.evidence["mixing_module_input_shape"] == [7, 150, 16] and f.evidence["last_per_sample_module"] == "conv"
    assert f.evidence["mixing_cause"] == "batch_first" and "batch_first=True" in f.fix
    assert "(L=7, B=150, C=16)" in f.fix


@pytest.mark.fires("A208")
def test_a208_fires_on_a_view_that_folds_the_batch_into_time(run, gp):
    report = run(ViewedTimeMajorLSTM, *gp, select=["A208"])
    (f,) = _found(report, "A208")
    assert f.evidence["mixing_module"] == "lstm" and f.evidence["mixing_module_input_shape"] == [150, 7, 16]
    assert f.evidence["mixing_cause"] == "reshape" and "x.permute(2, 0, 1)" in f.fix


@pytest.mark.silent("A208")
def test_a208_silent_on_batchnorm_in_eval_and_correct_sequence_axes(run, gp):
    for model in (fcn, ConvRecurrentHead, partial(ConvRecurrentHead, cell="LSTM"), SelfAttentionCNN, ConvLSTM):
        report = run(model, *gp, select=["A208"])
        assert codes(report) == [] and _status(report, "A208") == "passed", model


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
