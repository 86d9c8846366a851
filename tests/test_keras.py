"""Keras 3 models diagnosed through the torch backend (cnndoctor.keras.support)."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from cnndoctor.errors import InputError
from cnndoctor.keras.support import mentions_keras, prepare_backend
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

from cnndoctor.keras.support import keras_loss, keras_optimizer  # noqa: E402
from cnndoctor.keras.trace import trace_keras  # noqa: E402
from cnndoctor.load.data import Data  # noqa: E402
from cnndoctor.load.subject import make_subject  # noqa: E402


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
    assert subject.settings_source["lr"] == "compile() in model file"
    assert subject.optimizer_settings.name == "RMSprop"
    assert subject.loss_fn.kind == "cross_entropy_probs"
    fresh = subject.build_model()
    assert fresh is not model and isinstance(subject.make_optimizer(fresh.parameters()), torch.optim.RMSprop)
    again = subject.build_model()  # seeded: the same fresh weights every time
    assert torch.equal(fresh.layers[0].kernel.value, again.layers[0].kernel.value)


def test_compile_sgd_settings_reach_every_probe():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((20, 1)), layers.Conv1D(4, 3), layers.Flatten(), layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9, nesterov=True),
                  loss="sparse_categorical_crossentropy")
    X, y = np.zeros((8, 20), np.float32), np.arange(8) % 2
    subject = make_subject(model, "instance", Data(X, y, X, y), name="model")
    assert subject.lr == pytest.approx(0.5) and subject.settings_source["optimizer"] == "compile() in model file"
    group = subject.make_optimizer(subject.build_model().parameters(), lr=0.01).param_groups[0]
    assert (group["lr"], group["momentum"], group["nesterov"]) == (pytest.approx(0.01), pytest.approx(0.9), True)
    assert subject.optimizer_text().startswith("SGD (lr 0.5, momentum 0.9")


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


@pytest.mark.slow
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


# ---------------------------------------------------------------- training mode, state, branched graphs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _arrowhead_fcn(last_activation="softmax", units=3, dropout=0.0):
    from tests.fixtures.data import arrowhead

    X = arrowhead()[0]
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((X.shape[1], 1)), layers.Conv1D(32, 7, padding="same"),
                             layers.BatchNormalization(), layers.Activation("relu"),
                             layers.Conv1D(64, 5, padding="same"), layers.BatchNormalization(),
                             layers.Activation("relu"), layers.GlobalAveragePooling1D(),
                             layers.Dropout(dropout), layers.Dense(units, activation=last_activation)])


def test_fresh_models_follow_torch_train_and_eval_modes():
    from cnndoctor.probes.record import dropout_off, preserved_state

    model = _arrowhead_fcn(dropout=0.5)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    X = np.random.default_rng(0).normal(size=(8, 251)).astype(np.float32)
    subject = make_subject(model, "instance", Data(X, np.arange(8) % 3, X, np.arange(8) % 3), name="model")
    fresh = subject.build_model()
    bn = fresh.layers[1]
    assert bn.momentum == pytest.approx(0.9)  # Keras's 0.99 capped for 100-step probes
    x = torch.as_tensor(X[:, :, None])
    fresh.eval()
    a, b = fresh(x), fresh(x)
    assert torch.equal(a, b)  # inference mode: no dropout, moving statistics
    before = bn.moving_mean.value.detach().clone()
    with preserved_state(fresh):
        fresh.train()
        c = fresh(x)
        assert not torch.allclose(c, a)  # batch statistics and dropout in train mode
        assert not torch.equal(bn.moving_mean.value, before)  # fit()-style update of the moving mean
        with dropout_off(fresh):
            assert fresh.layers[7].rate == 0.0
            assert torch.equal(fresh(x), fresh(x))  # batch statistics only: deterministic
        assert fresh.layers[7].rate == 0.5
    assert torch.equal(bn.moving_mean.value, before)  # Keras state restored like torch buffers
    assert fresh.training is False


def test_branched_functional_model_is_traced_layer_by_layer():
    keras.utils.set_random_seed(0)
    inp = keras.Input((60, 2))
    a = layers.Conv1D(8, 3, padding="same", name="short")(inp)
    b = layers.Conv1D(8, 9, padding="same", name="long")(inp)
    x = layers.Concatenate(name="merge")([a, b])
    x = layers.GlobalAveragePooling1D(name="gap")(x)
    out = layers.Dense(4, activation="softmax", name="head")(x)
    trace = trace_keras(keras.Model(inp, out), torch.randn(3, 60, 2))
    assert trace.ok, trace.error_text
    names = [c.name for c in trace.calls]
    assert set(names) == {"short", "long", "merge", "gap", "head"} and names[-1] == "head"
    merge = trace.calls[names.index("merge")]
    assert merge.config["input_shapes"] == [[3, 8, 60], [3, 8, 60]] and merge.output_shape == (3, 16, 60)
    assert trace.calls[names.index("gap")].input_producer == "merge"
    assert trace.calls[names.index("long")].config["kernel_size"] == [9]
    assert trace.output_op == "softmax" and trace.output_producer == "head"


# ---------------------------------------------------------------- Keras label / loss semantics


def _keras_run(run, model, loss, y, yt, metrics=(), **kw):
    from tests.fixtures.data import arrowhead

    X, _, Xt, _ = arrowhead()
    model.compile(optimizer="adam", loss=loss, metrics=list(metrics))
    return run(model, (X, y), (Xt, yt), **kw)


def _onehot(v, k=3):
    return np.eye(k, dtype=np.float32)[v]


@pytest.mark.fires("L102")
def test_categorical_crossentropy_with_class_ids_is_l102(run):
    from tests.fixtures.data import arrowhead

    _, y, _, yt = arrowhead()
    report = _keras_run(run, _arrowhead_fcn(), "categorical_crossentropy", y, yt, select=["L102"])
    found = _found(report, "L102")
    assert found, [(f.code, f.message) for f in report.findings]
    assert "expects one-hot rows" in found[0].message and "sparse_categorical_crossentropy" in found[0].fix
    assert "must have the same shape" in found[0].evidence["trial_error"]  # what Keras's fit() would raise


@pytest.mark.fires("L102")
def test_sparse_crossentropy_with_one_hot_rows_is_l102(run):
    from tests.fixtures.data import arrowhead

    _, y, _, yt = arrowhead()
    report = _keras_run(run, _arrowhead_fcn(), "sparse_categorical_crossentropy", _onehot(y), _onehot(yt),
                        select=["L102"])
    found = _found(report, "L102")
    assert found and "expects class indices" in found[0].message
    assert found[0].evidence["loss_expects"] == "indices"


@pytest.mark.silent("L102", "L202", "L204")
def test_matching_keras_label_contracts_are_silent(run):
    from tests.fixtures.data import arrowhead

    _, y, _, yt = arrowhead()
    for loss, labels in (("sparse_categorical_crossentropy", (y, yt)),
                         ("categorical_crossentropy", (_onehot(y), _onehot(yt)))):
        report = _keras_run(run, _arrowhead_fcn(), loss, *labels, select=["L102", "L202", "L204"])
        assert not report.findings, (loss, [(f.code, f.message) for f in report.findings])


@pytest.mark.fires("L202")
def test_softmax_with_from_logits_true_is_l202(run):
    from tests.fixtures.data import arrowhead

    _, y, _, yt = arrowhead()
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    found = _found(_keras_run(run, _arrowhead_fcn(), loss, y, yt, select=["L202"]), "L202")
    assert found and "softmax" in found[0].message and "from_logits=False" in found[0].fix


@pytest.mark.fires("L202")
@pytest.mark.slow
def test_raw_logits_into_a_probability_loss_is_l202_and_the_fix_is_verified(run):
    from tests.fixtures.data import arrowhead

    _, y, _, yt = arrowhead()
    report = _keras_run(run, _arrowhead_fcn(last_activation=None), "sparse_categorical_crossentropy", y, yt)
    assert report.primary is not None and report.primary.code == "L202", [(f.code, f.message) for f in report.findings]
    found = report.primary
    assert "from_logits=False, the Keras default" in found.message and "from_logits=True" in found.fix
    verified = dict(found.verified)
    assert verified["fix"] == "compiling sparse_categorical_crossentropy with from_logits=True"
    assert verified["after"] > verified["before"] + 0.1, verified


@pytest.mark.fires("L204")
def test_sigmoid_head_with_binary_crossentropy_on_k_classes_is_l204(run):
    from tests.fixtures.data import arrowhead

    _, y, _, yt = arrowhead()
    one = _keras_run(run, _arrowhead_fcn(last_activation="sigmoid", units=1), "binary_crossentropy", y, yt,
                     select=["L201", "L204"])
    assert [f.code for f in one.findings] == ["L204"]
    assert "Dense(3, activation='softmax')" in one.findings[0].fix
    # Dense(K, sigmoid) on one-hot rows is one-vs-rest: it trains, and Keras 3 reports categorical accuracy
    wide = _keras_run(run, _arrowhead_fcn(last_activation="sigmoid"), "binary_crossentropy", _onehot(y), _onehot(yt),
                      metrics=["accuracy"], select=["L204"])
    assert not _found(wide, "L204")


def test_keras_state_is_not_reported_as_frozen_but_a_frozen_layer_is(run):
    from tests.fixtures.data import arrowhead

    X, y, Xt, yt = arrowhead()
    model = _arrowhead_fcn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert not _found(run(model, (X, y), (Xt, yt), select=["T103"], budget="quick"), "T103")
    frozen = _arrowhead_fcn()
    frozen.layers[0].trainable = False
    frozen.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    found = _found(run(frozen, (X, y), (Xt, yt), select=["T103"], budget="quick"), "T103")
    assert found and "conv1d" in found[0].message and "moving_mean" not in found[0].message


# ---------------------------------------------------------------- the samples' Keras twins


def _cli_json(tmp_path, folder, model_file):
    from cnndoctor.cli import main

    out = tmp_path / f"{folder}-{model_file}.json"
    code = main(["run", os.path.join(ROOT, "sample_data", folder, model_file),
                 os.path.join(ROOT, "sample_data", folder, "data.npz"), "--budget", "quick", "--format", "json",
                 "-o", str(out), "-q"])
    import json

    return code, json.loads(out.read_text())


@pytest.mark.slow
def test_keras_twins_get_the_same_diagnoses_as_the_torch_samples(tmp_path):
    for folder in ("chance_accuracy", "healthy"):
        torch_code, torch_doc = _cli_json(tmp_path, folder, "model.py")
        keras_code, keras_doc = _cli_json(tmp_path, folder, "model_keras.py")
        assert keras_code == torch_code, folder
        assert keras_doc["diagnosis"]["primary"] == torch_doc["diagnosis"]["primary"], folder
        assert keras_doc["subject"]["layout"] != torch_doc["subject"]["layout"] or folder == "healthy"
        if folder == "healthy":
            assert keras_code == 0 and not [f for f in keras_doc["findings"] if f["severity"] == "error"]
            # 50 series in batches of 8: 7 steps per epoch, 0.99 ** 70 = 49% of the initial statistics left
            note = next(n for n in keras_doc["notes"] if "BatchNormalization momentum 0.99" in n)
            assert "7 steps per epoch" in note and "49%" in note
        else:
            assert keras_code == 1 and keras_doc["diagnosis"]["primary"] == "D102"
            fixes = [(f["verified"] or {}).get("fix") for f in (keras_doc["findings"][0], torch_doc["findings"][0])]
            assert fixes[0] == fixes[1] == "standardising each channel with training statistics"
            after = keras_doc["findings"][0]["verified"]
            assert after["after"] > after["before"] + 0.1, after


def test_loss_names_aliases_and_renamed_objects_are_recognised():
    for given, name in (("CategoricalCrossentropy", "categorical_crossentropy"),
                        ("scce", "sparse_categorical_crossentropy"), ("MeanSquaredError", "mse"),
                        (keras.losses.BinaryCrossentropy(name="my_bce"), "binary_crossentropy")):
        assert keras_loss(given)[0].name == name, given
    with pytest.raises(InputError, match="resolves from the label and output shapes"):
        keras_loss("crossentropy")


@pytest.mark.silent("L202")
def test_an_uncompiled_model_is_probed_with_the_loss_its_head_is_built_for(run):
    from tests.fixtures.data import arrowhead

    X, y, Xt, yt = arrowhead()
    report = run(_arrowhead_fcn(), (X, y), (Xt, yt), select=["L202"])  # softmax head, never compiled
    assert not report.findings
    subject = make_subject(_arrowhead_fcn(last_activation=None), "instance", Data(X, y, Xt, yt), name="model")
    assert subject.loss_fn.name == "sparse_categorical_crossentropy" and subject.loss_fn.from_logits
    assert subject.settings_source["loss_fn"] == "default"


def test_the_output_layer_of_a_subclassed_model_is_not_guessed():
    from cnndoctor.keras.support import output_layer

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.head = layers.Dense(3)
            self.hidden = layers.Dense(8)  # created last, runs first

        def call(self, x):
            return self.head(self.hidden(x))

    assert output_layer(Net()) is None
    model = _arrowhead_fcn()
    assert output_layer(model) is model.layers[-1]
