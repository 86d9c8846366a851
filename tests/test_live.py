"""Live mode: cnndoctor.watch on real plain loops, the Lightning and Keras callbacks, saved reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn

import cnndoctor
from cnndoctor.report import Report


def _data(n=256, length=64, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    t = np.linspace(0, 1, length)
    X = np.sin(2 * np.pi * (3 + 4 * y[:, None]) * t[None]) + 0.3 * rng.standard_normal((n, length))
    return torch.tensor(X[:, None], dtype=torch.float32), torch.tensor(y)


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv1d(1, 8, 5, padding=2), nn.ReLU(), nn.Conv1d(8, 8, 5, padding=2), nn.ReLU(),
                         nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(8, 2))


def _loop(model, optimizer, w=None, *, epochs=5, scheduler=None, X=None, y=None):
    X, y = (X, y) if X is not None else _data()
    criterion = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(1)
    for _ in range(epochs):
        perm = torch.randperm(len(X), generator=gen)
        for i in range(0, len(X), 32):
            xb, yb = X[perm[i:i + 32]], y[perm[i:i + 32]]
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            if w is not None:
                w.step(loss, xb, yb)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()


def _watched(model, optimizer, **kw):
    seen = []
    loop_kw = {k: kw.pop(k) for k in ("epochs", "scheduler", "X", "y") if k in kw}
    with cnndoctor.watch(model, optimizer, every=kw.pop("every", 5), on_symptom=seen.append, **kw) as w:
        _loop(model, optimizer, w, **loop_kw)
    return w, seen


def test_lr_too_high_goes_nan_and_the_handle_names_step_and_layer():
    model = _net()
    w, seen = _watched(model, torch.optim.SGD(model.parameters(), lr=1e6, momentum=0.9), epochs=2)
    nan = next(f for f in seen if f.code == "T203")
    assert nan.evidence["step"] == w.recording.onset.step
    assert 1 < nan.evidence["step"] <= 10
    assert nan.evidence["where"] == "layer output" and nan.evidence["layer"]
    assert f"step {nan.evidence['step']}" in nan.message and nan.evidence["layer"] in nan.message
    report = w.report()
    assert report.primary.code == "T203"
    assert any(o.code == "T203" and str(o.status) == "failed" for o in report.checks)


def test_collapsing_model_is_reported_as_collapsed_predictions():
    X, y = _data()
    model = _net()
    with torch.no_grad():
        model[-1].bias.copy_(torch.tensor([0.0, 50.0]))  # every series starts out as class 1
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6)
    w, seen = _watched(model, optimizer, epochs=3, X=X, y=y)
    t105 = next(f for f in seen if f.code == "T105")
    assert t105.evidence["top_class"] == 1 and t105.evidence["top_share"] >= 0.95
    assert "T105" in [f.code for f in w.report().findings]


def test_healthy_loop_stays_silent_and_reports_healthy():
    model = _net()
    with warnings.catch_warnings():
        warnings.simplefilter("error", cnndoctor.CnndoctorWarning)  # any symptom would raise here
        with cnndoctor.watch(model, torch.optim.Adam(model.parameters(), lr=1e-2), every=5) as w:
            _loop(model, w.optimizer, w, epochs=5)
    report = w.report()
    assert not [f for f in report.findings if f.severity >= cnndoctor.Severity.WARNING], report.to_text()
    assert report.passed() and any("Live report" in n for n in report.notes)


def test_an_optimizer_over_another_models_parameters_is_announced_live_as_no_learning():
    model, other = _net(), _net(seed=1)
    before = [p.detach().clone() for p in model.parameters()]
    w, seen = _watched(model, torch.optim.SGD(other.parameters(), lr=0.1), epochs=3)
    t102 = next(f for f in seen if f.code == "T102")
    assert "No weight of your model changed" in t102.message and "optimizer does not update" in t102.message
    assert t102.evidence["largest_update_ratio"] == 0.0 and not t102.evidence["gradients_all_zero"]
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_a_healthy_loop_never_announces_no_learning():
    model = _net()
    w, seen = _watched(model, torch.optim.Adam(model.parameters(), lr=1e-2), epochs=3)
    assert "T102" not in [f.code for f in seen]


def test_predictions_are_judged_on_the_latest_batches_not_on_the_last_scheduled_step():
    # 40 steps at the default schedule (every 50): only step 1 is a scheduled step, where an untrained model
    # may well put every series in one class; the run then learns, and the histogram must say so
    model = _net()
    with torch.no_grad():
        model[-1].bias.copy_(torch.tensor([0.0, 5.0]))  # starts out predicting class 1 for everything
    with cnndoctor.watch(model, torch.optim.Adam(model.parameters(), lr=1e-2), on_symptom=lambda f: None) as w:
        _loop(model, w.optimizer, w, epochs=5)
    assert w.recording.steps == 40 and w.recording.every == 50
    X, y = _data()
    with torch.no_grad():
        accuracy = float((model(X).argmax(1) == y).float().mean())
    assert accuracy > 0.9  # it did learn
    assert "T105" not in [f.code for f in w.report().findings]


def test_hooks_come_off_and_weights_match_an_unwatched_run():
    plain, watched = _net(), _net()
    _loop(plain, torch.optim.SGD(plain.parameters(), lr=0.05, momentum=0.9), epochs=2)
    optimizer = torch.optim.SGD(watched.parameters(), lr=0.05, momentum=0.9)
    with cnndoctor.watch(watched, optimizer, every=1) as w:  # every step recorded in full
        _loop(watched, optimizer, w, epochs=2)
        assert watched._forward_hooks and optimizer._optimizer_step_pre_hooks
    for m in watched.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks
    assert not optimizer._optimizer_step_pre_hooks and not optimizer._optimizer_step_post_hooks
    for a, b in zip(plain.state_dict().values(), watched.state_dict().values()):
        assert torch.equal(a, b)
    w.report()  # the report deep-copies: the weights stay as they are
    for a, b in zip(plain.state_dict().values(), watched.state_dict().values()):
        assert torch.equal(a, b)


def test_report_round_trips_through_from_dict():
    model = _net()
    w, _ = _watched(model, torch.optim.SGD(model.parameters(), lr=1e6), epochs=1)
    data = json.loads(w.report().to_json())
    again = Report.from_dict(data)
    assert json.loads(again.to_json()) == data
    with pytest.raises(ValueError, match="not a cnndoctor report"):
        Report.from_dict({"findings": []})


def test_lightning_callback_names_the_nan_step():
    pl = pytest.importorskip("pytorch_lightning")
    from cnndoctor.live.lightning import CnndoctorCallback

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = _net()

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, i):
            return nn.functional.cross_entropy(self(batch[0]), batch[1])

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=1e5)

    X, y = _data()
    module, seen = Module(), []
    callback = CnndoctorCallback(every=5, on_symptom=seen.append)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=32)
    pl.Trainer(max_epochs=2, callbacks=[callback], logger=False, enable_checkpointing=False,
               enable_progress_bar=False, enable_model_summary=False, accelerator="cpu").fit(module, loader)
    nan = next(f for f in seen if f.code == "T203")
    assert nan.evidence["layer"].startswith("net.")
    assert not module._forward_hooks
    assert callback.report().primary.code == "T203"


def test_keras_callback_names_the_nan_step(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    from cnndoctor.live.keras import CnndoctorCallback

    X, y = _data()
    X = X.numpy().transpose(0, 2, 1)  # Keras reads (N, L, C)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64, 1)), keras.layers.Conv1D(8, 5, activation="relu"),
                              keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(1e6),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    seen = []
    callback = CnndoctorCallback(every=4, on_symptom=seen.append)
    model.fit(X, y.numpy(), epochs=2, batch_size=32, verbose=0, callbacks=[callback])
    assert "train_step" not in vars(model)  # the wrapper is gone after fit
    nan = next(f for f in seen if f.code == "T203")
    assert nan.evidence["step"] == callback.recording.onset.step > 1
    assert callback.recording.lrs[0] == pytest.approx(1e6)
    assert callback.report().primary.code == "T203"


@pytest.mark.slow
def test_saved_report_renders_with_cnndoctor_report(tmp_path):
    model = _net()
    w, _ = _watched(model, torch.optim.SGD(model.parameters(), lr=1e6), epochs=1)
    path = tmp_path / "run.cnndoctor.json"
    w.save(path)
    env = {**os.environ, "NO_COLOR": "1"}
    for fmt in ("text", "markdown", "html", "github", "gitlab", "junit", "json"):
        out = subprocess.run([sys.executable, "-m", "cnndoctor", "report", str(path), "--format", fmt],
                             capture_output=True, text=True, env=env)
        assert out.returncode == 1, out.stderr  # T203 is an error: the exit code follows --fail-on
        assert "T203" in out.stdout
    (tmp_path / "bad.json").write_text('{"a": 1}')
    out = subprocess.run([sys.executable, "-m", "cnndoctor", "report", str(tmp_path / "bad.json")],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 2 and "not a cnndoctor report" in out.stderr and "Traceback" not in out.stderr
