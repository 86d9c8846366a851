"""The user's model as their own code builds it: constructor arguments, their sources, A105, and
exceptions raised by the user's (or a library's) constructor."""

import json
import textwrap

import numpy as np
import pytest
from torch import nn

from cnndoctor.cli import main
from cnndoctor.errors import UserCodeError
from tests.conftest import codes
from tests.fixtures.data import gunpoint, ucr


class Net(nn.Module):
    """A small conv net whose defaults are the user's own guesses."""

    def __init__(self, in_channels=1, num_classes=5, seq_len=None, width=8):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, width, 5, padding=2)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.head(self.conv(x).relu().mean(-1))


class TCN(nn.Module):
    """pytorch-tcn style: ``num_channels`` is the list of hidden widths, not the input channel count."""

    def __init__(self, num_inputs, num_channels=(8, 8), num_classes=None, kernel_size=3):
        super().__init__()
        layers, width = [], num_inputs
        for out in num_channels:
            layers += [nn.Conv1d(width, out, kernel_size, padding=kernel_size // 2), nn.ReLU()]
            width = out
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.head(self.body(x).mean(-1))


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


@pytest.fixture(scope="module")
def gp():
    X_train, y_train, X_test, y_test = gunpoint()
    return (X_train, y_train), (X_test, y_test)


def _args(report):
    return {a["name"]: a for a in report.subject["constructor_arguments"]}


# Recording what was passed, and from where ------------------------------------------------------

def test_every_parameter_is_recorded_with_its_source(run, osuleaf):
    report = run(Net, *osuleaf, select=["A105"])
    args = _args(report)
    assert args["num_classes"] == {"name": "num_classes", "value": 6, "source": "data", "default": 5,
                                   "fact": "classes"}
    assert args["in_channels"]["source"] == "data" and args["in_channels"]["value"] == 1
    assert args["seq_len"] == {"name": "seq_len", "value": 427, "source": "data", "default": None, "fact": "length"}
    assert args["width"] == {"name": "width", "value": 8, "source": "your default", "default": 8}
    assert report.subject["model_arguments"] == {"in_channels": 1, "num_classes": 6, "seq_len": 427}
    json.dumps(report.subject["constructor_arguments"])


def test_a_list_default_is_never_overwritten_by_a_synonym(run, osuleaf):
    report = run(TCN, *osuleaf, model_args={"num_inputs": 1}, select=["A105", "L201"])
    args = _args(report)
    assert args["num_inputs"]["source"] == "model_args"
    assert args["num_channels"] == {"name": "num_channels", "value": "(8, 8)", "source": "your default",
                                    "default": "(8, 8)"}
    assert args["num_classes"]["source"] == "data" and "default" in args["num_classes"]
    assert codes(report) == []


def test_one_logit_default_on_two_classes_is_kept(run, gp):
    class Binary(Net):
        def __init__(self, in_channels=1, num_classes=1):
            super().__init__(in_channels, num_classes)

    report = run(Binary, *gp, select=["A105", "L201"])
    assert _args(report)["num_classes"]["source"] == "your default"
    assert report.subject["loss"] == "BCEWithLogitsLoss" and codes(report) == []


# A105 constructor-default-mismatch --------------------------------------------------------------

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


# An exception inside the constructor is the user's error: exit 2 -------------------------------

LIBRARY = textwrap.dedent("""
    import torch.nn as nn

    class ShallowNet(nn.Module):
        def __init__(self, n_chans=None, n_outputs=None, n_times=None, drop_prob=0.5):
            super().__init__()
            if n_times is None:
                raise ValueError("n_times could not be inferred")
            self.conv = nn.Conv1d(n_chans, 4, 3)
            self.head = nn.Linear(4, n_outputs)
""")


def test_a_library_constructor_that_raises_exits_2_with_the_arguments(tmp_path, capsys):
    X_train, y_train, X_test, y_test = gunpoint()
    np.savez(tmp_path / "data.npz", X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test)
    (tmp_path / "fakelib.py").write_text(LIBRARY)
    (tmp_path / "model.py").write_text("from fakelib import ShallowNet\n")
    code = main(["run", f"{tmp_path / 'model.py'}:ShallowNet", str(tmp_path / "data.npz"), "-q"])
    err = capsys.readouterr().err
    assert code == 2
    assert "bug in cnndoctor" not in err and "internal error" not in err and "Traceback" not in err
    assert "ShallowNet(...) raised ValueError: n_times could not be inferred" in err
    assert "fakelib.py:8" in err
    assert "n_outputs = 2 (from the data: classes)" in err
    assert "left to your defaults: n_chans = None, n_times = None, drop_prob = 0.5" in err


def test_a_raising_constructor_is_a_user_code_error_in_the_api(run, gp):
    class Broken(nn.Module):
        def __init__(self, in_channels, num_classes):
            super().__init__()
            raise RuntimeError(f"no head for {num_classes} classes")

    with pytest.raises(UserCodeError, match=r"raised RuntimeError: no head for 2 classes.*in_channels = 1"):
        run(Broken, *gp, select=["L201"])
