"""Library models with zero glue: the constructor names of tsai, braindecode, pytorch-tcn and aeon/sktime are
filled from the data, list defaults are never overwritten, an imported class is picked with ``model.py:Name``,
and a library's own error is the user's error (exit 2), never a cnndoctor bug.

The classes in tests/fixtures/library_signatures.py copy these libraries' public signatures; the tests marked
``library`` run the real libraries and skip where they are not installed (they are not in the test extra)."""

import json
import textwrap

import numpy as np
import pytest
from torch import nn

from cnndoctor.cli import main
from cnndoctor.errors import InputError
from tests.conftest import codes
from tests.fixtures.data import gunpoint, ucr
from tests.fixtures.library_signatures import TCN, InceptionTime, ShallowFBCSPNet, build_fcn_network


@pytest.fixture(scope="module")
def motions():  # UEA BasicMotions: six channels, 100 steps, four classes
    X_train, y_train, X_test, y_test = ucr("BasicMotions")
    return (X_train, y_train), (X_test, y_test)


@pytest.fixture(scope="module")
def gp():
    X_train, y_train, X_test, y_test = gunpoint()
    return (X_train, y_train), (X_test, y_test)


def _args(report):
    return {a["name"]: a for a in report.subject["constructor_arguments"]}


def _from_data(args, name):
    return args[name]["value"] if args[name]["source"] == "data" else None


def test_braindecode_names_are_filled_and_the_model_trains(run, motions):
    report = run(ShallowFBCSPNet, *motions, select=["A105", "L201", "T101"], seed=0)
    args = _args(report)
    assert [_from_data(args, n) for n in ("n_chans", "n_outputs", "n_times")] == [6, 4, 100]
    for name in ("chs_info", "input_window_seconds", "sfreq"):  # derived names: only ever from --model-arg
        assert args[name]["source"] == "your default"
    assert report.subject["model_arguments"] == {"n_chans": 6, "n_outputs": 4, "n_times": 100}
    assert codes(report) == []  # it memorises a batch (T101) with the filled arguments


def test_braindecode_window_in_seconds_leaves_n_times_to_the_library(run, motions):
    # BasicMotions: 10 s at 10 Hz. Given both, braindecode derives n_times and raises on a disagreeing one
    report = run(ShallowFBCSPNet, *motions, model_args={"input_window_seconds": 10.0, "sfreq": 10.0},
                 select=["A105", "L201"])
    args = _args(report)
    assert args["n_times"]["source"] == "your default" and args["n_chans"]["source"] == "data"
    assert args["sfreq"] == {"name": "sfreq", "value": 10.0, "source": "model_args", "default": None}


def test_tsai_names_are_filled(run, gp):
    report = run(InceptionTime, *gp, select=["A105", "L201"])
    args = _args(report)
    assert [_from_data(args, n) for n in ("c_in", "c_out", "seq_len")] == [1, 2, 150]
    assert args["nf"]["source"] == "your default" and args["nb_filters"]["source"] == "your default"
    assert codes(report) == []


def test_pytorch_tcn_hidden_widths_are_never_filled_with_the_channel_count(run, gp):
    with pytest.raises(InputError) as caught:
        run(TCN, *gp, select=["A105"])
    text = str(caught.value)
    assert "TCN(...) needs num_channels" in text
    assert "num_channels was left unfilled: num_inputs takes the data's channels" in text
    assert "--model-arg num_channels=[32,32]" in text


def test_pytorch_tcn_builds_with_its_widths_passed(run, gp):
    report = run(TCN, *gp, model_args={"num_channels": [8, 8], "output_projection": 2}, select=["A105"])
    args = _args(report)
    assert _from_data(args, "num_inputs") == 1
    assert args["num_channels"]["source"] == "model_args" and args["num_channels"]["value"] == "[8, 8]"
    assert args["input_shape"] == {"name": "input_shape", "value": "NCL", "source": "your default",
                                   "default": "NCL"}  # a layout string, never replaced by a shape


def test_input_shape_is_one_sample_channels_last(run, motions):
    report = run(build_fcn_network, *motions, select=["A105", "L201"])
    args = _args(report)
    assert args["input_shape"]["source"] == "data" and args["input_shape"]["value"] == "(100, 6)"
    assert args["input_shape"]["fact"] == "shape (length, channels)"
    assert _from_data(args, "n_classes") == 4 and codes(report) == []


def test_a_shape_or_float_default_is_kept(run, motions):
    def build(input_shape=(100, 6), n_classes=4, input_size=6.0):
        assert isinstance(input_size, float)  # the default reaches the function: nothing replaced it
        return build_fcn_network(input_shape, n_classes)

    args = _args(run(build, *motions, select=["A105"]))
    assert args["input_shape"]["source"] == "your default" and args["input_size"]["source"] == "your default"
    assert _from_data(args, "n_classes") == 4  # an int default is a count: the data's value replaces it


# model.py and the command line -----------------------------------------------------------------------------

def _files(tmp_path, model_text):
    X_train, y_train, X_test, y_test = gunpoint()
    np.savez(tmp_path / "data.npz", X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test)
    (tmp_path / "model.py").write_text(textwrap.dedent(model_text))
    return str(tmp_path / "model.py"), str(tmp_path / "data.npz")


def test_a_model_file_that_only_imports_names_the_route(tmp_path, capsys):
    model, data = _files(tmp_path, """
        from torch import nn
        from tests.fixtures.library_signatures import InceptionTime
    """)
    assert main(["run", model, data, "-q"]) == 2
    err = capsys.readouterr().err
    assert "defines no model" in err and "It imports InceptionTime" in err
    assert f"`{model}:InceptionTime` picks an imported class" in err
    assert "Conv1d" not in err and "bug in cnndoctor" not in err  # torch's own layers are not offered


def test_an_imported_class_is_picked_by_name(tmp_path, capsys):
    model, data = _files(tmp_path, "from tests.fixtures.library_signatures import InceptionTime\n")
    code = main(["run", f"{model}:InceptionTime", data, "-q", "--select", "A105,L201", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["subject"]["model_arguments"] == {"c_in": 1, "c_out": 2, "seq_len": 150}


def test_a_library_that_raises_on_the_filled_arguments_exits_2(tmp_path, capsys):
    # pytorch-tcn given a channel count where it wants widths raises inside the library: the user's error
    model, data = _files(tmp_path, "from tests.fixtures.library_signatures import TCN\n")
    code = main(["run", f"{model}:TCN", data, "-q", "--model-arg", "num_channels=8", "--model-arg",
                 "dilations=[1]"])
    err = capsys.readouterr().err
    assert code == 2
    assert "bug in cnndoctor" not in err and "internal error" not in err
    assert "TCN(...) raised TypeError" in err and "library_signatures.py:" in err
    assert "num_inputs = 1 (from the data: channels)" in err and "num_channels = 8 (command line)" in err


# The real libraries, where installed -----------------------------------------------------------------------

@pytest.mark.library
def test_real_braindecode_shallow_fbcsp(run, motions):
    models = pytest.importorskip("braindecode.models", reason="braindecode is not installed (optional: it pulls "
                                 "torchaudio, whose wheels need a matching torch build)")
    report = run(models.ShallowFBCSPNet, *motions, select=["A105", "L201"])
    assert [_from_data(_args(report), n) for n in ("n_chans", "n_outputs", "n_times")] == [6, 4, 100]


@pytest.mark.library
def test_real_tsai_inception_time(run, gp):
    models = pytest.importorskip("tsai.models.InceptionTime", reason="tsai is not installed (optional: it pulls "
                                 "fastai)")
    report = run(models.InceptionTime, *gp, select=["A105", "L201"])
    assert [_from_data(_args(report), n) for n in ("c_in", "c_out", "seq_len")] == [1, 2, 150]


@pytest.mark.library
def test_real_pytorch_tcn(run, gp):
    tcn = pytest.importorskip("pytorch_tcn", reason="pytorch-tcn is not installed (optional)")
    with pytest.raises(InputError, match="num_channels was left unfilled: num_inputs"):
        run(tcn.TCN, *gp, select=["A105"])
    report = run(tcn.TCN, *gp, model_args={"num_channels": [8, 8], "output_projection": 2}, select=["A105"])
    assert _from_data(_args(report), "num_inputs") == 1


class _WindowedNet(nn.Module):
    """A library-style model whose forward raises on inputs its design cannot take (here: a length that its
    fixed pooling windows do not divide), the way library code fails on the arguments it was built with."""

    def __init__(self, n_chans=None, n_outputs=None, n_times=None, window=7):
        super().__init__()
        self.window = window
        self.conv = nn.Conv1d(n_chans, 8, 3, padding=1)
        self.head = nn.Linear(8, n_outputs)

    def forward(self, x):
        if x.shape[-1] % self.window:
            raise ValueError(f"input length {x.shape[-1]} is not a multiple of window={self.window}")
        return self.head(self.conv(x).mean(-1))


def test_a_library_forward_that_fails_says_what_cnndoctor_built_it_with(run, motions):
    report = run(_WindowedNet, *motions, select=["A101"])
    (f,) = [f for f in report.findings if f.code == "A101"]
    assert "not a multiple of window=7" in f.message
    assert "cnndoctor built the model with" in f.message and "n_times = 100" in f.message
    assert f.evidence["constructor_arguments"] == {"n_chans": 6, "n_outputs": 4, "n_times": 100}
