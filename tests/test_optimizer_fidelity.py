"""The user's optimizer, exactly: a factory's lr and hyperparameters reach every probe, --lr is named.

Issue 13 §1: ``make_optimizer(params)`` returning ``SGD(params, lr=0.5)`` used to be probed at
the default lr 0.001 (only optimizer *instances* were read, and every group's lr was then
overwritten). These tests build the user's optimizer the ways a model file gives it, and run
the real probes on GunPoint with a factory that is the only place the lr is set.
"""

import functools
import json
import textwrap

import pytest
import torch

from cnndoctor.cli import main
from cnndoctor.load.model import load_model_file
from cnndoctor.load.subject import make_subject
from tests.fixtures.data import gunpoint
from tests.fixtures.models import TinyCNN
from tests.test_loading import data, write

NET = textwrap.dedent("""
    class Net(nn.Module):
        def __init__(self, in_channels, num_classes):
            super().__init__()
            self.conv = nn.Conv1d(in_channels, 4, 3, padding=1)
            self.head = nn.Linear(4, num_classes)
        def forward(self, x):
            return self.head(torch.relu(self.conv(x)).mean(-1))
""")


def _subject(tmp_path, body, **kw):
    mf = load_model_file(write(tmp_path, NET + textwrap.dedent(body)))
    return make_subject(mf.target, mf.kind, data(tmp_path), name=mf.name, options=mf.options, **kw)


def test_factory_lr_and_hyperparameters_are_the_users(tmp_path):
    subject = _subject(tmp_path, """
        def make_optimizer(params):
            return torch.optim.SGD(params, lr=0.5, momentum=0.9, nesterov=True, weight_decay=1e-4)
    """)
    assert subject.lr == 0.5 and subject.settings_source["lr"] == "make_optimizer in model file"
    opt = subject.make_optimizer(subject.build_model().parameters())
    group = opt.param_groups[0]
    assert isinstance(opt, torch.optim.SGD)
    assert (group["lr"], group["momentum"], group["nesterov"], group["weight_decay"]) == (0.5, 0.9, True, 1e-4)
    assert subject.optimizer_text() == "SGD (lr 0.5, momentum 0.9, weight_decay 0.0001, nesterov)"
    # a probe at another lr moves only the lr
    other = subject.make_optimizer(subject.build_model().parameters(), lr=0.01).param_groups[0]
    assert (other["lr"], other["momentum"], other["nesterov"]) == (0.01, 0.9, True)
    assert not subject.notes


def test_param_group_ratios_are_kept(tmp_path):
    subject = _subject(tmp_path, """
        def make_optimizer(params):
            params = list(params)
            return torch.optim.Adam([{"params": params[:2], "lr": 1e-2}, {"params": params[2:], "lr": 1e-3}],
                                    betas=(0.8, 0.99))
    """)
    assert subject.lr == 1e-2
    assert subject.optimizer_settings.lrs == (1e-2, 1e-3)
    built = subject.make_optimizer(subject.build_model().parameters())
    assert [g["lr"] for g in built.param_groups] == [1e-2, 1e-3]  # exactly as the user builds it
    scaled = subject.make_optimizer(subject.build_model().parameters(), lr=1e-1)
    assert [round(g["lr"], 12) for g in scaled.param_groups] == [1e-1, 1e-2]
    assert all(g["betas"] == (0.8, 0.99) for g in scaled.param_groups)
    assert "over 2 param groups" in subject.optimizer_text()


def test_partial_class_and_instance(tmp_path):
    X, y, Xt, yt = gunpoint()
    partial = make_subject(TinyCNN, "class", _data(tmp_path), name="TinyCNN",
                           options={"optimizer": functools.partial(torch.optim.SGD, lr=0.2, momentum=0.5)})
    assert partial.lr == 0.2 and partial.optimizer_settings.name == "SGD"
    assert partial.make_optimizer(partial.build_model().parameters()).param_groups[0]["momentum"] == 0.5

    cls = make_subject(TinyCNN, "class", _data(tmp_path), name="TinyCNN", options={"optimizer": torch.optim.RMSprop})
    assert cls.lr == pytest.approx(1e-2)  # RMSprop's own default, not cnndoctor's 1e-3
    assert cls.settings_source["lr"] == "torch.optim.RMSprop default"

    cls_lr = make_subject(TinyCNN, "class", _data(tmp_path), name="TinyCNN",
                          options={"optimizer": torch.optim.SGD, "lr": 0.05})
    assert cls_lr.lr == 0.05 and cls_lr.settings_source["lr"] == "model file"

    instance = torch.optim.AdamW(TinyCNN().parameters(), lr=3e-3, weight_decay=0.05)
    inst = make_subject(TinyCNN, "class", _data(tmp_path), name="TinyCNN", options={"optimizer": instance})
    group = inst.make_optimizer(inst.build_model().parameters()).param_groups[0]
    assert inst.lr == 3e-3 and (group["lr"], group["weight_decay"]) == (3e-3, 0.05)


def _data(tmp_path):
    return data(tmp_path)


def test_explicit_lr_overrides_and_is_named(tmp_path):
    subject = _subject(tmp_path, """
        def make_optimizer(params):
            return torch.optim.SGD(params, lr=0.5, momentum=0.9)
    """, lr=0.01)
    assert subject.lr == 0.01 and subject.settings_source["lr"] == "command line"
    assert any("overrides the lr 0.5" in n and "momentum 0.9" in n for n in subject.notes)
    group = subject.make_optimizer(subject.build_model().parameters()).param_groups[0]
    assert (group["lr"], group["momentum"]) == (0.01, 0.9)


def test_default_adam_and_module_lr(tmp_path):
    subject = _subject(tmp_path, "lr = 3e-4\n")
    assert subject.lr == 3e-4 and subject.settings_source["lr"] == "model file"
    assert subject.optimizer_settings.given_as == "none"
    bare = _subject(tmp_path, "")
    assert bare.lr == 1e-3 and bare.settings_source["lr"] == "default"


def test_factory_that_raises_is_the_users_error(tmp_path):
    from cnndoctor.errors import InputError

    with pytest.raises(InputError, match="make_optimizer/optimizer raised AttributeError"):
        _subject(tmp_path, """
            def make_optimizer(model):
                return torch.optim.SGD(model.parameters(), lr=0.1)
        """)


# ---------------------------------------------------------------- the probes at the factory's lr

FACTORY_ONLY = """
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, in_channels=1, num_classes=2):
        super().__init__()
        self.body = nn.Sequential(nn.Conv1d(in_channels, 16, 7, padding=3), nn.BatchNorm1d(16), nn.ReLU(),
                                  nn.Conv1d(16, 32, 5, padding=2), nn.BatchNorm1d(32), nn.ReLU(),
                                  nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.head = nn.Linear(32, num_classes)

    def forward(self, x):
        return self.head(self.body(x))


def make_optimizer(params):
    return {optimizer}
"""


def _run_cli(tmp_path, optimizer: str, *extra, select="T201,T202,T203", budget="quick"):
    import numpy as np

    X, y, Xt, yt = gunpoint()
    mu, sd = X.mean(), X.std()
    np.savez(tmp_path / "data.npz", X_train=(X - mu) / sd, y_train=y, X_test=(Xt - mu) / sd, y_test=yt)
    (tmp_path / "model.py").write_text(FACTORY_ONLY.format(optimizer=optimizer))
    out = tmp_path / "report.json"
    code = main(["run", str(tmp_path / "model.py"), str(tmp_path / "data.npz"), "--format", "json", "-o", str(out),
                 "--select", select, "--budget", budget, "-q", "--isolated", *extra])
    return code, json.loads(out.read_text())


@pytest.mark.slow
def test_factory_only_sgd_lr_too_high_is_probed_at_that_lr(tmp_path):
    code, report = _run_cli(tmp_path, "torch.optim.SGD(params, lr=20.0)")
    assert report["subject"]["settings"]["lr"] == {"value": 20.0, "source": "make_optimizer in model file"}
    found = {f["code"]: f for f in report["findings"]}
    assert "T201" in found or "T203" in found, list(found)
    f = found.get("T201") or found["T203"]
    assert f["evidence"].get("user_lr", f["evidence"].get("lr")) == 20.0
    assert code == 1


@pytest.mark.slow
def test_factory_only_adam_lr_too_high_is_named_as_the_cause(tmp_path):
    # Adam at lr 3 kills every ReLU of this net (the loss sits at ln 2 instead of rising): the overfit
    # probe at the user's lr fails and succeeds at a sane lr, so the lr is named as the cause.
    code, report = _run_cli(tmp_path, "torch.optim.Adam(params, lr=3.0)", select="T101,T201,T202,T203")
    assert report["subject"]["settings"]["optimizer"]["value"].startswith("Adam (lr 3,")
    found = {f["code"]: f for f in report["findings"]}
    assert "T201" in found or "T101" in found, list(found)
    if "T201" not in found:
        assert found["T101"]["message"].startswith("At your learning rate 3 ")
        assert "so the learning rate is what" in found["T101"]["message"]
    assert code == 1


@pytest.mark.slow
def test_factory_only_lr_far_too_low_is_probed_at_that_lr(tmp_path):
    code, report = _run_cli(tmp_path, "torch.optim.SGD(params, lr=1e-6, momentum=0.9)")
    assert report["subject"]["settings"]["lr"]["value"] == 1e-6
    found = {f["code"]: f for f in report["findings"]}
    assert "T202" in found, list(found)
    assert "1e-06 (SGD, momentum 0.9)" in found["T202"]["message"]
    assert found["T202"]["evidence"]["optimizer"] == "SGD (lr 1e-06, momentum 0.9)"
    assert "T201" not in found


def test_settings_block_lists_every_setting_with_its_source(tmp_path):
    code, report = _run_cli(tmp_path, "torch.optim.SGD(params, lr=0.05, momentum=0.9)", "--seed", "3",
                            select="D102")
    settings = report["subject"]["settings"]
    assert set(settings) >= {"optimizer", "lr", "batch_size", "loss", "preprocess", "train_step", "constructor",
                             "layout", "device", "budget", "seed"}
    assert settings["optimizer"]["value"].startswith("SGD (lr 0.05, momentum 0.9")
    assert settings["seed"] == {"value": 3, "source": "command line"}
    assert settings["budget"] == {"value": "quick", "source": "command line"}
    assert settings["device"]["source"] == "default"
    assert settings["layout"]["source"] == "data (inferred)"
    assert settings["batch_size"] == {"value": 32, "source": "default"}
    assert settings["loss"]["value"] == "CrossEntropyLoss" and settings["loss"]["source"] == "default"


def test_instance_param_groups_are_kept_by_position(tmp_path):
    reference = TinyCNN()
    params = list(reference.parameters())
    instance = torch.optim.SGD([{"params": params[:4], "lr": 0.1, "momentum": 0.9},
                                {"params": params[4:], "lr": 0.01, "momentum": 0.5}])
    subject = make_subject(TinyCNN, "class", _data(tmp_path), name="TinyCNN", options={"optimizer": instance})
    built = subject.make_optimizer(subject.build_model().parameters())
    assert [(g["lr"], g["momentum"], len(g["params"])) for g in built.param_groups] == [(0.1, 0.9, 4),
                                                                                      (0.01, 0.5, 2)]
    assert not subject.notes
    # groups over a model of another shape cannot be matched: one group, and the report says so
    other = torch.optim.SGD([{"params": [torch.zeros(3, requires_grad=True)], "lr": 0.1},
                             {"params": [torch.zeros(2, requires_grad=True)], "lr": 0.01}])
    odd = make_subject(TinyCNN, "class", _data(tmp_path), name="TinyCNN", options={"optimizer": other})
    assert len(odd.make_optimizer(odd.build_model().parameters()).param_groups) == 1
    assert any("2 param groups" in n and "make_optimizer(params)" in n for n in odd.notes)


class NoDefaultLR(torch.optim.SGD):
    """An optimizer outside torch.optim whose lr has no default."""

    def __init__(self, params, lr, momentum=0.0):
        super().__init__(params, lr=lr, momentum=momentum)


def test_a_class_without_a_default_lr_takes_the_explicit_one(tmp_path):
    from cnndoctor.errors import InputError

    with pytest.raises(InputError, match="has no default learning rate"):
        make_subject(TinyCNN, "class", _data(tmp_path), name="TinyCNN", options={"optimizer": NoDefaultLR})
    subject = make_subject(TinyCNN, "class", _data(tmp_path), name="TinyCNN", options={"optimizer": NoDefaultLR},
                           lr=0.05)
    assert subject.lr == 0.05 and subject.settings_source["lr"] == "command line"
    assert isinstance(subject.make_optimizer(subject.build_model().parameters()), NoDefaultLR)


def test_snippets_name_an_optimizer_outside_torch_optim_by_its_own_path(tmp_path):
    subject = make_subject(TinyCNN, "class", _data(tmp_path), name="TinyCNN",
                           options={"optimizer": lambda p: NoDefaultLR(p, lr=0.5, momentum=0.9)})
    assert subject.optimizer_call(0.01) == (f"{NoDefaultLR.__module__}.NoDefaultLR(model.parameters(), "
                                            "lr=0.01, momentum=0.9)")


@pytest.mark.parametrize("lr", [1e-3, 3e-4, 0.1])
def test_the_default_adam_read_off_its_signature_equals_the_built_one(lr):
    # cnndoctor's default optimizer is described without building it (building any torch optimizer imports
    # torch._dynamo, seconds a run that never trains should not pay): the description must be what building says
    from cnndoctor.load.optimizers import _settings, build_optimizer, read_optimizer

    read = read_optimizer(None, None, lr=lr, where="default")
    built = _settings(build_optimizer(None, [torch.zeros(1, requires_grad=True)], lr), "none", "default")
    assert read == built and list(read.hyperparameters) == list(built.hyperparameters)


@pytest.mark.slow
def test_a_run_that_never_trains_does_not_import_what_the_first_optimizer_imports(tmp_path):
    import subprocess
    import sys

    code = ("import sys; from cnndoctor.cli import main; "
            "rc = main(['run', 'sample_data/healthy/model.py', 'sample_data/healthy/data.npz', '--select', 'A101', "
            "'--format', 'json', '-o', sys.argv[1]]); "
            "print('DYNAMO' if 'torch._dynamo' in sys.modules else 'NO-DYNAMO', rc)")
    from pathlib import Path

    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "r.json")], capture_output=True, text=True,
                         timeout=300, cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.split() == ["NO-DYNAMO", "0"], out.stderr[-2000:]
