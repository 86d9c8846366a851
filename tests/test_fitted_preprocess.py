"""A preprocess fitted on the training split: a scikit-learn-style transformer (or Pipeline) given as
``preprocess``, or ``fit_preprocess(X_train) -> transform``, in model.py or ``diagnose()``."""

import copy
import textwrap

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils.validation import check_is_fitted

from cnndoctor.cli import main
from cnndoctor.context import Context
from cnndoctor.diagnosis.fixes import fix_for
from cnndoctor.errors import InputError, UserCodeError
from cnndoctor.load.data import data_from_arrays
from cnndoctor.load.subject import make_subject
from tests.conftest import codes
from tests.fixtures.data import gunpoint
from tests.fixtures.models import TinyCNN


class ChannelStandardiser:
    """Per-channel mean and std of the arrays it is fitted on, for (N, C, L); every fit is recorded."""

    learned: list = []

    def fit(self, X, y=None):
        self.mean_ = X.mean(axis=(0, 2), keepdims=True)
        self.std_ = X.std(axis=(0, 2), keepdims=True) + 1e-8
        ChannelStandardiser.learned.append((X.shape, self.mean_.ravel().copy(), self.std_.ravel().copy()))
        return self

    def transform(self, X):
        return (X - self.mean_) / self.std_


def _subject(X_train, y_train, X_test, y_test, options):
    return make_subject(TinyCNN, "class", data_from_arrays(X_train, y_train, X_test, y_test), name="TinyCNN",
                        options=options)


def _counts():
    """GunPoint as 12-bit-style counts, (N, 1, L); the test split sits 500 counts higher than the training split,
    so statistics fitted on the test split (or on both) differ from the training split's."""
    X_train, y_train, X_test, y_test = gunpoint()
    to_counts = lambda X: (2048 + 400 * X[:, None, :]).astype(np.float32)  # noqa: E731
    return to_counts(X_train), y_train, to_counts(X_test) + 500, y_test


def test_a_transformer_is_fitted_on_the_training_split_only_and_the_users_object_is_untouched(run):
    X_train, y_train, X_test, y_test = _counts()
    scaler = ChannelStandardiser()
    ChannelStandardiser.learned.clear()
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), preprocess=scaler, select=["D102"])
    assert codes(report) == []
    assert not hasattr(scaler, "mean_")  # a copy was fitted, never the user's object
    shapes = {shape for shape, _, _ in ChannelStandardiser.learned}
    assert shapes == {X_train.shape}  # fitted on the training split, as stored: (N, C, L), three-dimensional
    for _, mean, std in ChannelStandardiser.learned:
        assert mean == pytest.approx(X_train.mean(axis=(0, 2)), rel=1e-5)
        assert std == pytest.approx(X_train.std(axis=(0, 2)), rel=1e-3)
    setting = report.subject["settings"]["preprocess"]
    assert setting == {"value": "ChannelStandardiser (fitted on the training split)",
                       "source": "diagnose() argument"}


def test_the_test_split_is_transformed_with_the_training_statistics():
    X_train, y_train, X_test, y_test = _counts()
    subject = _subject(X_train, y_train, X_test, y_test, {"preprocess": ChannelStandardiser()})
    inputs = Context(subject).inputs
    assert abs(float(inputs["train"].mean())) < 1e-4
    shift = 500 / X_train.std()  # the test split's extra 500 counts, in training standard deviations
    assert float(inputs["test"].mean()) == pytest.approx(shift, rel=0.01)
    assert np.array_equal(subject.data.X_test, X_test)  # the stored arrays are not changed


def test_a_scikit_learn_pipeline_works_on_two_dimensional_data(run):
    X_train, y_train, X_test, y_test = (a[:, 0] if a.ndim == 3 else a for a in _counts())
    pipe = make_pipeline(StandardScaler(), FunctionTransformer(np.clip, kw_args={"a_min": -5, "a_max": 5}))
    before = copy.deepcopy(pipe.get_params())
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), preprocess=pipe, select=["D102"])
    assert codes(report) == []
    with pytest.raises(NotFittedError):
        check_is_fitted(pipe[0])  # the user's StandardScaler: cnndoctor fitted a clone
    assert pipe.get_params().keys() == before.keys()
    assert report.subject["settings"]["preprocess"]["value"] == (
        "Pipeline(standardscaler, functiontransformer) (fitted on the training split)")


def test_fit_preprocess_gets_the_training_split_and_its_transform_scales_every_split(run):
    X_train, y_train, X_test, y_test = _counts()
    seen = []

    def fit_preprocess(X):
        seen.append(X.copy())
        mean, std = X.mean(axis=(0, 2), keepdims=True), X.std(axis=(0, 2), keepdims=True)
        return lambda X: (X - mean) / std

    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), fit_preprocess=fit_preprocess, select=["D102"])
    assert codes(report) == []
    assert len(seen) == 1 and np.array_equal(seen[0], X_train)
    assert report.subject["settings"]["preprocess"]["value"] == "fit_preprocess (fitted on the training split)"


def test_d102_says_where_the_fitted_standardiser_goes_and_its_snippet_silences_it(run):
    X_train, y_train, X_test, y_test = _counts()
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D102"])
    (f,) = report.findings
    assert "fit_preprocess below in model.py" in f.fix and "fit_preprocess=" in f.fix
    scope = {}
    exec(compile(f.snippet, "<D102 snippet>", "exec"), scope)  # pasted into model.py as it is
    fixed = run(TinyCNN, (X_train, y_train), (X_test, y_test), fit_preprocess=scope["fit_preprocess"],
                select=["D102"])
    assert codes(fixed) == []


def test_the_d102_fixer_runs_after_the_fitted_steps():
    X_train, y_train, X_test, y_test = _counts()
    subject = _subject(X_train, y_train, X_test, y_test, {"fit_preprocess": lambda X: (lambda X: X * 2.0)})
    ctx = Context(subject)
    fixed, _ = fix_for("D102")(subject, ctx, None)
    assert len(fixed.fit_preprocess.steps) == 2 and subject.fit_preprocess.steps[0] is fixed.fit_preprocess.steps[0]
    inputs = Context(fixed).inputs
    assert abs(float(inputs["train"].mean())) < 1e-3 and float(inputs["train"].std()) == pytest.approx(1, rel=1e-3)
    assert fixed.settings_source == subject.settings_source


def test_a_transformer_whose_fit_raises_is_reported_as_the_users_error():
    X_train, y_train, X_test, y_test = _counts()
    subject = _subject(X_train, y_train, X_test, y_test, {"preprocess": StandardScaler()})
    with pytest.raises(UserCodeError) as caught:
        Context(subject).inputs
    message = str(caught.value)
    assert "Your preprocess failed: StandardScaler.fit raised ValueError" in message
    assert "on the training split (an array of shape (50, 1, 150), float32)" in message
    assert "not from cnndoctor" in message and "reshape inside your transformer" in message


@pytest.mark.parametrize("options, words", [
    ({"preprocess": StandardScaler}, "give an instance"),
    ({"fit_preprocess": lambda X: X.mean()}, "it must return the function applied to every split"),
    ({"preprocess": 3}, "it must be a function X -> X"),
])
def test_a_preprocess_of_the_wrong_kind_is_a_clear_input_error(options, words):
    X_train, y_train, X_test, y_test = _counts()
    with pytest.raises(InputError, match=words):
        subject = _subject(X_train, y_train, X_test, y_test, options)
        Context(subject).inputs


MODEL = textwrap.dedent("""
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self, in_channels, num_classes):
            super().__init__()
            self.conv = nn.Conv1d(in_channels, 4, 3, padding=1)
            self.head = nn.Linear(4, num_classes)

        def forward(self, x):
            return self.head(self.conv(x).mean(-1))

    class ChannelStandardiser:
        def fit(self, X, y=None):
            {fit}
            self.mean_ = X.mean(axis=(0, 2), keepdims=True)
            self.std_ = X.std(axis=(0, 2), keepdims=True) + 1e-8
            return self

        def transform(self, X):
            return (X - self.mean_) / self.std_

    preprocess = ChannelStandardiser()
""")


def _model_file(tmp_path, fit_line="pass"):
    X_train, y_train, X_test, y_test = _counts()
    np.savez(tmp_path / "data.npz", X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test)
    model = tmp_path / "model.py"
    model.write_text(MODEL.replace("{fit}", fit_line))
    return [str(model), str(tmp_path / "data.npz")]


def test_a_transformer_in_model_py_is_fitted_on_the_training_split(tmp_path, capsys):
    import json

    files = _model_file(tmp_path)
    code = main(["run", *files, "-q", "--select", "D102", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["findings"] == []
    assert doc["subject"]["settings"]["preprocess"] == {
        "value": "ChannelStandardiser (fitted on the training split)", "source": "model file"}


def test_a_transformer_in_model_py_whose_fit_raises_exits_2_naming_the_users_line(tmp_path, capsys):
    files = _model_file(tmp_path, fit_line="raise ValueError('needs y')")
    code = main(["run", *files, "-q", "--select", "D102"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1
    assert "ChannelStandardiser.fit raised ValueError: needs y at " in err
    assert f"{files[0]}:15 (`raise ValueError('needs y')`)" in err and "not from cnndoctor" in err
