"""LightningModules diagnosed with their own training_step, loss and configure_optimizers; LightningDataModules.

Issue 16: a model.py whose model is a LightningModule, and ``diagnose(model, datamodule)``. Real
pytorch-lightning (in the test extra), real tiny modules, GunPoint from benchmarks/data.
"""

import json
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

pl = pytest.importorskip("pytorch_lightning", reason="pytorch-lightning is in the test extra: pip install -e .[test]")

import torch  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from cnndoctor import diagnose  # noqa: E402
from cnndoctor.cli import main  # noqa: E402
from cnndoctor.load.data import data_from_arrays  # noqa: E402
from cnndoctor.load.lightning import is_lightning_module  # noqa: E402
from cnndoctor.load.model import load_model_file  # noqa: E402
from cnndoctor.load.subject import make_subject  # noqa: E402
from tests.fixtures.data import gunpoint  # noqa: E402

BODY = """
import pytorch_lightning as pl
import torch
import torch.nn as nn


def _body(in_channels):
    return nn.Sequential(nn.Conv1d(in_channels, 16, 7, padding=3), nn.BatchNorm1d(16), nn.ReLU(),
                         nn.Conv1d(16, 32, 5, padding=2), nn.BatchNorm1d(32), nn.ReLU(),
                         nn.AdaptiveAvgPool1d(1), nn.Flatten())
"""

LIT = BODY + """

class LitNet(pl.LightningModule):
    def __init__(self, in_channels=1, num_classes=2, lr={lr}):
        super().__init__()
        self.save_hyperparameters()
        self.body = _body(in_channels)
        self.head = nn.Linear(32, num_classes)
        self.loss_fn = nn.CrossEntropyLoss()

    def forward(self, x):
        return self.head(self.body(x))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = self.loss_fn(self(x), y)
        self.log("train_loss", loss, prog_bar=True)
        return {{"loss": loss}}

    def configure_optimizers(self):
        {configure}
"""

# The same network as a plain nn.Module with the same optimizer in make_optimizer: what the probes must match.
PLAIN = BODY + """

class Net(nn.Module):
    def __init__(self, in_channels=1, num_classes=2):
        super().__init__()
        self.body = _body(in_channels)
        self.head = nn.Linear(32, num_classes)

    def forward(self, x):
        return self.head(self.body(x))


def make_optimizer(params):
    return torch.optim.SGD(params, lr={lr}, momentum=0.9)
"""

SGD = "return torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.9)"
STEP_LR = ("opt = torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.9)\n"
           "        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)\n"
           "        return {'optimizer': opt, 'lr_scheduler': {'scheduler': sched, 'interval': 'epoch', "
           "'monitor': 'val_loss'}}")


def _npz(tmp_path):
    X, y, Xt, yt = gunpoint()
    mu, sd = X.mean(), X.std()
    np.savez(tmp_path / "data.npz", X_train=(X - mu) / sd, y_train=y, X_test=(Xt - mu) / sd, y_test=yt)
    return tmp_path / "data.npz"


def _cli(tmp_path, source: str, name: str, select: str):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "model.py").write_text(source)
    out = folder / "report.json"
    code = main(["run", str(folder / "model.py"), str(_npz(tmp_path)), "--format", "json", "-o", str(out),
                 "--select", select, "--budget", "quick", "-q", "--isolated"])
    return code, json.loads(out.read_text())


def _subject(tmp_path, source: str, **kw):
    (tmp_path / "model.py").write_text(source)
    mf = load_model_file(tmp_path / "model.py")
    X, y, Xt, yt = gunpoint()
    return make_subject(mf.target, mf.kind, data_from_arrays(X, y, Xt, yt), name=mf.name, options=mf.options, **kw)


@pytest.mark.slow
def test_configure_optimizers_sgd_is_what_the_probes_run(tmp_path):
    # SGD at lr 20 set only in configure_optimizers: the probes run it, with the module's own training_step,
    # and reach exactly what the same network reaches with that optimizer given as make_optimizer.
    code, lit = _cli(tmp_path, LIT.format(lr=20.0, configure=SGD), "lit", "T201,T202,T203")
    settings = lit["subject"]["settings"]
    assert settings["optimizer"] == {"value": "SGD (lr 20, momentum 0.9)",
                                     "source": "configure_optimizers in model file"}
    assert settings["lr"] == {"value": 20.0, "source": "configure_optimizers in model file"}
    assert settings["train_step"] == {"value": "LitNet.training_step", "source": "training_step in model file"}
    assert settings["loss"] == {"value": "CrossEntropyLoss", "source": "self.loss_fn in model file"}
    assert "scheduler" not in settings
    _, plain = _cli(tmp_path, PLAIN.format(lr=20.0), "plain", "T201,T202,T203")
    found = {f["code"]: f for f in lit["findings"]}
    assert "T201" in found or "T203" in found, list(found)
    f = found.get("T201") or found["T203"]
    assert f["evidence"].get("user_lr", f["evidence"].get("lr")) == 20.0
    # every measured number is the plain run's; only the record of whose step ran differs
    assert f["evidence"]["probe"]["train_step"] is True
    for run in (lit, plain):
        for finding in run["findings"]:
            finding["evidence"].get("probe", {}).pop("train_step", None)
    assert [(f["code"], f["evidence"]) for f in lit["findings"]] == \
        [(f["code"], f["evidence"]) for f in plain["findings"]]
    assert code == 1


def test_dict_form_scheduler_is_stated_in_the_settings(tmp_path):
    subject = _subject(tmp_path, LIT.format(lr=0.5, configure=STEP_LR))
    assert subject.optimizer_text() == "SGD (lr 0.5, momentum 0.9)"
    assert subject.settings_source["optimizer"] == "configure_optimizers in model file"
    assert subject.scheduler.startswith("StepLR (step_size 10, gamma 0.5), interval epoch, monitor val_loss")
    assert "not stepped by the probes" in subject.scheduler
    assert subject.settings_source["scheduler"] == "configure_optimizers in model file"
    opt = subject.make_optimizer(subject.build_model().parameters())
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["momentum"] == 0.9


def test_tuple_form_and_a_configure_optimizers_that_needs_a_trainer(tmp_path):
    tupled = _subject(tmp_path, LIT.format(lr=0.5, configure=(
        "opt = torch.optim.AdamW(self.parameters(), lr=0.003, weight_decay=0.05)\n"
        "        return [opt], [torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)]")))
    assert tupled.optimizer_text() == "AdamW (lr 0.003, betas (0.9, 0.999), weight_decay 0.05)"
    assert tupled.scheduler.startswith("ExponentialLR (gamma 0.9)")
    needs = _subject(tmp_path, LIT.format(lr=0.5, configure=(
        "steps = self.trainer.estimated_stepping_batches\n"
        "        return torch.optim.SGD(self.parameters(), lr=0.1)")))
    assert needs.settings_source["optimizer"] == "default" and needs.optimizer_settings.given_as == "none"
    assert any("configure_optimizers() raised RuntimeError" in n and "not attached to a `Trainer`" in n
               for n in needs.notes)


def test_training_step_with_self_log_runs_without_a_trainer_and_leaves_nothing_behind(tmp_path):
    subject = _subject(tmp_path, LIT.format(lr=0.05, configure=SGD))
    model = subject.build_model()
    cls = type(model)
    opt = subject.make_optimizer(model.parameters())
    X, y, _, _ = gunpoint()
    xb, yb = torch.tensor(X[:32, None, :], dtype=torch.float32), torch.tensor(y[:32])
    before = [p.detach().clone() for p in model.parameters()]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Lightning's "self.log() without a trainer" warning would raise here
        losses = [float(subject.train_step(model, xb, yb, opt, subject.loss_fn)) for _ in range(5)]
    assert losses[-1] < losses[0]
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))  # the step trained the model
    assert not {"log", "log_dict", "optimizers", "manual_backward", "loss_fn"} & set(vars(model))
    assert cls.log is pl.LightningModule.log and isinstance(model.loss_fn, torch.nn.CrossEntropyLoss)


def test_the_probes_criterion_reaches_the_training_step(tmp_path):
    # A fixer that changes the loss is verified by re-running the step with the new criterion: it must be used.
    subject = _subject(tmp_path, LIT.format(lr=0.05, configure=SGD))
    model = subject.build_model()
    X, y, _, _ = gunpoint()
    xb, yb = torch.tensor(X[:16, None, :], dtype=torch.float32), torch.tensor(y[:16])
    seen = []

    def criterion(out, target):
        seen.append(tuple(out.shape))
        return torch.nn.functional.cross_entropy(out, target) * 0 + 7.0

    loss = subject.train_step(model, xb, yb, subject.make_optimizer(model.parameters()), criterion)
    assert seen == [(16, 2)] and float(loss) == 7.0
    assert isinstance(model.loss_fn, torch.nn.CrossEntropyLoss)  # bound for that step only


MANUAL = BODY + """

class Manual(pl.LightningModule):
    def __init__(self, in_channels=1, num_classes=2):
        super().__init__()
        self.automatic_optimization = False
        self.body = _body(in_channels)
        self.head = nn.Linear(32, num_classes)

    def forward(self, x):
        return self.head(self.body(x))

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        x, y = batch
        loss = nn.functional.cross_entropy(self(x), y)
        opt.zero_grad()
        self.manual_backward(loss)
        opt.step()
        self.log_dict({"loss": loss})
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.01)
"""


def test_manual_optimisation_steps_with_the_probes_optimizer(tmp_path):
    subject = _subject(tmp_path, MANUAL)
    assert subject.optimizer_text().startswith("Adam (lr 0.01")
    assert any("automatic_optimization = False" in n for n in subject.notes)
    assert any("computes its loss inside training_step" in n for n in subject.notes)  # no self.loss_fn
    model = subject.build_model()
    X, y, _, _ = gunpoint()
    xb, yb = torch.tensor(X[:32, None, :], dtype=torch.float32), torch.tensor(y[:32])
    opt = subject.make_optimizer(model.parameters())
    losses = [float(subject.train_step(model, xb, yb, opt, None)) for _ in range(8)]
    assert losses[-1] < losses[0] and opt.state  # Adam's state exists: the step used the probe's optimizer


def test_explicit_settings_win_over_the_modules_own(tmp_path):
    source = LIT.format(lr=0.5, configure=STEP_LR) + textwrap.dedent("""
        def make_optimizer(params):
            return torch.optim.RMSprop(params, lr=0.002)
    """)
    subject = _subject(tmp_path, source)
    assert subject.optimizer_settings.name == "RMSprop" and subject.scheduler is None
    assert subject.settings_source["train_step"] == "training_step in model file"


def test_a_plain_module_is_untouched(tmp_path):
    subject = _subject(tmp_path, PLAIN.format(lr=0.1))
    assert subject.train_step is None and subject.scheduler is None
    assert not is_lightning_module(subject.build_model())


class GunPointData(pl.LightningDataModule):
    """A user's datamodule over GunPoint: fit data split off in setup, the UCR test split as validation."""

    def __init__(self, batch_size=16, with_val=True):
        super().__init__()
        self.batch_size, self.with_val, self.calls = batch_size, with_val, []

    def prepare_data(self):
        self.calls.append("prepare_data")

    def setup(self, stage=None):
        self.calls.append(f"setup:{stage}")
        X, y, Xt, yt = gunpoint()
        as_set = lambda a, b: TensorDataset(torch.tensor(a[:, None, :], dtype=torch.float32), torch.tensor(b))  # noqa: E731
        self.train_set, self.val_set = as_set(X, y), as_set(Xt, yt)

    def train_dataloader(self):
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self):
        if not self.with_val:
            return super().val_dataloader()
        return DataLoader(self.val_set, batch_size=64)


def _lit_class(tmp_path):
    (tmp_path / "lit_model.py").write_text(LIT.format(lr=0.05, configure=SGD))
    return load_model_file(tmp_path / "lit_model.py").target


@pytest.mark.slow
def test_diagnose_takes_a_lightning_module_and_a_datamodule(tmp_path):
    cls = _lit_class(tmp_path)
    dm = GunPointData()
    report = diagnose(cls(in_channels=1, num_classes=2), dm, select=["T101", "D102"], budget="quick",
                      progress=False, figures=False)
    assert dm.calls[:2] == ["prepare_data", "setup:fit"]
    subject = report.subject
    assert (subject["n_train"], subject["n_test"]) == (50, 150)  # GunPoint's train and test splits, whole
    assert subject["batch_size"] == 16 and subject["settings_source"]["batch_size"] == "DataLoader"
    settings = subject["settings"]
    assert settings["train_step"]["source"] == "training_step of the LightningModule"
    assert settings["optimizer"] == {"value": "SGD (lr 0.05, momentum 0.9)",
                                     "source": "configure_optimizers of the LightningModule"}
    assert any("train_dataloader() as the training data, val_dataloader() as the test data" in n
               for n in report.notes)
    assert [(o.status.value, o.reason) for o in report.checks if o.code == "T101"] == [("passed", None)]


def test_a_datamodule_without_validation_is_split(tmp_path):
    from cnndoctor.load.lightning import datamodule_loaders

    train, test, note = datamodule_loaders(GunPointData(with_val=False), None)
    assert isinstance(train, DataLoader) and test is None and "split 80/20" in note


def test_importing_cnndoctor_does_not_import_lightning():
    code = "import sys, cnndoctor; assert not {'lightning', 'pytorch_lightning'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_unified_lightning_package_is_recognised(tmp_path):
    L = pytest.importorskip("lightning", reason="the unified `lightning` package is not installed here")
    source = LIT.format(lr=0.5, configure=SGD).replace("pl.LightningModule", "L.LightningModule").replace(
        "import pytorch_lightning as pl", "import lightning as L")
    subject = _subject(tmp_path, source)
    assert subject.settings_source["optimizer"] == "configure_optimizers in model file" and L
