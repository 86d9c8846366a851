"""The user's model as their own code builds it: constructor arguments, their sources, and exceptions
raised by the user's (or a library's) constructor. A105's firing and silent cases are in test_architecture.py."""

import json
import textwrap

import numpy as np
import pytest
from torch import nn

from cnndoctor.cli import main
from cnndoctor.errors import UserCodeError
from tests.conftest import codes
from tests.fixtures.arch_models import GuessedDefaultsNet as Net
from tests.fixtures.data import gunpoint, ucr


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


@pytest.fixture(scope="module")
def osuleaf():  # six classes, one channel, 427 steps
    X_train, y_train, X_test, y_test = ucr("OSULeaf")
    return (X_train[:60], y_train[:60]), (X_test[:60], y_test[:60])


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


# An exception inside the constructor is the user's error: exit 2 -------------------------------

LIBRARY = textwrap.dedent("""
    import torch.nn as nn

    class ShallowNet(nn.Module):
        def __init__(self, n_chans=None, n_outputs=None, n_times=None, sfreq=None, drop_prob=0.5):
            super().__init__()
            if sfreq is None:  # braindecode's sinc-filter models need the sampling rate, which no array carries
                raise ValueError("sfreq could not be inferred")
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
    assert "ShallowNet(...) raised ValueError: sfreq could not be inferred" in err
    assert "fakelib.py:8" in err
    assert "n_chans = 1 (from the data: channels); n_outputs = 2 (from the data: classes); n_times = 150" in err
    assert "left to your defaults: sfreq = None, drop_prob = 0.5" in err


def test_a_raising_constructor_is_a_user_code_error_in_the_api(run, gp):
    class Broken(nn.Module):
        def __init__(self, in_channels, num_classes):
            super().__init__()
            raise RuntimeError(f"no head for {num_classes} classes")

    with pytest.raises(UserCodeError, match=r"raised RuntimeError: no head for 2 classes.*in_channels = 1"):
        run(Broken, *gp, select=["L201"])
