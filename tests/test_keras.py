"""Keras 3 models diagnosed through the torch backend (cnndoctor.keras_support)."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from cnndoctor.errors import InputError
from cnndoctor.keras_support import mentions_keras, prepare_backend

from tests.fixtures.data import gunpoint

try:
    prepare_backend()
    import keras
    from keras import layers
except (InputError, ImportError) as exc:  # visible in `pytest -rs`
    pytest.skip(f"Keras 3 with the torch backend is not available ({exc}); install cnndoctor[keras]",
                allow_module_level=True)
if keras.backend.backend() != "torch":
    pytest.skip(f"Keras was imported with the {keras.backend.backend()} backend", allow_module_level=True)

import torch  # noqa: E402

from cnndoctor.keras_support import keras_loss, keras_optimizer, trace_keras  # noqa: E402
from cnndoctor.subject import make_subject  # noqa: E402
from cnndoctor.load_data import Data  # noqa: E402


def _found(report, code):
    return [f for f in report.findings if f.code == code]


def _conv_dense_no_flatten(length, k):
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((length, 1)), layers.Conv1D(8, 5, activation="relu"),
                             layers.MaxPooling1D(2), layers.Dense(16, activation="relu"),
                             layers.Dense(k, activation="softmax")])


def test_trace_reports_torch_style_config():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([layers.Conv1D(8, 5, strides=2, dilation_rate=1, padding="same", activation="relu"),
                              layers.BatchNormalization(), layers.MaxPooling1D(2), layers.Dropout(0.3),
                              layers.GlobalAveragePooling1D(), layers.Dense(3, activation="softmax")])
    trace = trace_keras(model, torch.randn(4, 40, 2))
    assert trace.ok, trace.error_text
    types = [c.type for c in trace.calls]
    assert types == ["Conv1d", "BatchNorm1d", "MaxPool1d", "Dropout", "AdaptiveAvgPool1d", "Linear"]
    conv = trace.calls[0].config
    assert conv["keras_class"] == "Conv1D"
    assert (conv["in_channels"], conv["out_channels"], conv["kernel_size"], conv["stride"], conv["padding"]) == \
        (2, 8, [5], [2], "same")
    assert trace.calls[0].output_shape == (4, 8, 20)  # Keras's (N, L, C) recorded as torch's (N, C, L)
    assert trace.calls[1].config["num_features"] == 8
    assert trace.calls[3].config["p"] == pytest.approx(0.3)
    assert trace.calls[4].config["output_size"] == 1
    assert trace.calls[5].config["in_features"] == 8 and trace.calls[5].config["out_features"] == 3
    assert trace.output_shape == (4, 3) and trace.output_op == "softmax"


def test_loss_mapping_matches_keras():
    probs = torch.softmax(torch.randn(6, 4), dim=-1)
    y = torch.tensor([0, 1, 2, 3, 1, 0])
    fn, name, kind = keras_loss("sparse_categorical_crossentropy")
    assert kind == "cross_entropy_probs"
    expected = keras.losses.SparseCategoricalCrossentropy()(y, probs)
    assert float(fn(probs, y)) == pytest.approx(float(expected), rel=1e-4)
    fn, name, kind = keras_loss(keras.losses.CategoricalCrossentropy(from_logits=True))
    assert kind == "cross_entropy" and "from_logits" in name
    logits = torch.randn(6, 4)
    assert float(fn(logits, y)) == pytest.approx(float(torch.nn.functional.cross_entropy(logits, y)), rel=1e-5)
    fn, _, kind = keras_loss("binary_crossentropy")
    p = torch.sigmoid(torch.randn(6, 1))
    t = torch.tensor([0, 1, 1, 0, 1, 0.])
    assert kind == "bce"
    assert float(fn(p, t)) == pytest.approx(float(keras.losses.BinaryCrossentropy()(t[:, None], p)), rel=1e-4)
    make = keras_optimizer(keras.optimizers.SGD(0.05, momentum=0.9))
    opt = make([torch.nn.Parameter(torch.zeros(2))])
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["momentum"] == 0.9


def test_subject_takes_compile_settings():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((20, 1)), layers.Conv1D(4, 3), layers.Flatten(), layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.RMSprop(0.003), loss="sparse_categorical_crossentropy")
    X, y = np.zeros((8, 20), np.float32), np.arange(8) % 2
    subject = make_subject(model, "instance", Data(X, y, X, y), name="model")
    assert subject.layout == "nlc" and subject.lr == pytest.approx(0.003)
    assert subject.loss_fn.kind == "cross_entropy_probs"
    fresh = subject.build_model()
    assert fresh is not model and isinstance(subject.make_optimizer(fresh.parameters()), torch.optim.RMSprop)
    again = subject.build_model()  # seeded: the same fresh weights every time
    assert torch.equal(fresh.layers[0].kernel.value, again.layers[0].kernel.value)


@pytest.mark.fires("A104")
def test_conv_then_dense_without_flatten_is_a104(run):
    X, y, Xt, yt = gunpoint()
    test = (Xt, yt)
    model = _conv_dense_no_flatten(X.shape[1], 2)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    report = run(model, (X, y), test, select=["A104"])
    found = _found(report, "A104")
    assert found, [(f.code, f.message) for f in report.findings]
    assert found[0].evidence["output_time_axis"] == [2]


@pytest.mark.silent("A104")
def test_ecg_style_binary_sigmoid_model_is_healthy(run):
    X, y, Xt, yt = gunpoint()
    test = (Xt, yt)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((X.shape[1], 1)), layers.Conv1D(8, 7, activation="relu"),
                              layers.MaxPooling1D(2), layers.Conv1D(16, 5, activation="relu"),
                              layers.GlobalAveragePooling1D(), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    report = run(model, (X, y), test, select=["A", "L"])
    errors = [(f.code, f.message) for f in report.findings if str(f.severity).lower().endswith("error")]
    assert not errors
    assert not _found(report, "A104")


def test_chained_compile_names_the_cause(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(textwrap.dedent("""
        import keras
        from keras import layers
        model = keras.Sequential([layers.Conv1D(8, 3), layers.Flatten(), layers.Dense(2)]).compile(
            optimizer="adam", loss="sparse_categorical_crossentropy")
    """))
    assert mentions_keras(path)
    X, y, Xt, yt = gunpoint()
    data = tmp_path / "d.npz"
    np.savez(data, X_train=X, y_train=y, X_test=Xt, y_test=yt)
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    done = subprocess.run([sys.executable, "-m", "cnndoctor", "run", str(path), str(data)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert ".compile()" in done.stderr and "None" in done.stderr


def test_other_backend_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "m.py"
    path.write_text("import keras\n")
    monkeypatch.setitem(sys.modules, "keras", keras)
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(InputError, match="already imported with the 'jax' backend"):
        prepare_backend(path)
