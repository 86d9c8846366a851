"""forward() returning a tuple, list or dict: which element is the logits (cnndoctor/load/outputs.py)."""

import copy
import json
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

from cnndoctor.cli import main
from cnndoctor.load.outputs import OutputChoiceError
from tests.fixtures.data import arrowhead, gunpoint


class Base(nn.Module):
    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(nn.Conv1d(in_channels, 8, 5, padding=2), nn.ReLU(),
                                      nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.head = nn.Linear(8, num_classes)


class LogitsFirst(Base):
    def forward(self, x):
        f = self.features(x)
        return self.head(f), f


class FeaturesFirst(Base):
    def forward(self, x):
        f = self.features(x)
        return f, self.head(f)


class DictOutput(Base):
    def forward(self, x):
        f = self.features(x)
        return {"embedding": f, "Logits": self.head(f)}


class Plain(Base):
    def forward(self, x):
        return self.head(self.features(x))


@pytest.fixture(scope="module")
def ah():  # three classes
    X_train, y_train, X_test, y_test = arrowhead()
    return (X_train, y_train), (X_test, y_test)


CHECKS = ["A101", "L201", "L202", "T101"]


@pytest.mark.parametrize("model, element, rule", [
    (LogitsFirst, 0, "width matches 3 classes"),
    (FeaturesFirst, 1, "width matches 3 classes"),
    (DictOutput, "Logits", "key name"),
], ids=["(logits, features)", "(features, logits)", "dict"])
def test_the_logits_are_found_and_every_consumer_gets_them(run, ah, model, element, rule):
    report = run(model, *ah, select=CHECKS, budget="quick")
    choice = report.subject["output"]
    assert (choice["element"], choice["rule"], choice["shape"]) == (element, rule, "(N, 3)")
    assert all(c.status in ("passed", "failed") for c in report.checks), [(c.code, c.reason) for c in report.checks]
    assert "L201" not in [f.code for f in report.findings]
    assert any(f"cnndoctor uses element [{element!r}]" in n for n in report.notes)
    # the same probes as the plain-tensor twin: the wrapper changes nothing but the returned element
    plain = run(Plain, *ah, select=CHECKS, budget="quick")
    assert [f.evidence for f in report.findings] == [f.evidence for f in plain.findings]
    assert plain.subject["output"] is None


def test_the_bound_forward_survives_deepcopy_hooks_and_keeps_module_names(ah):
    from cnndoctor.load.data import data_from_arrays
    from cnndoctor.load.subject import make_subject

    (X, y), (Xt, yt) = ah
    subject = make_subject(FeaturesFirst, "class", data_from_arrays(X, y, Xt, yt), name="FeaturesFirst")
    model = subject.build_model()
    seen = []
    model.register_forward_hook(lambda m, a, out: seen.append(tuple(out.shape)))
    x = torch.from_numpy(X[:4, None].astype(np.float32))
    twin = copy.deepcopy(model)
    assert tuple(model(x).shape) == (4, 3) and seen == [(4, 3)]
    assert tuple(twin(x).shape) == (4, 3) and twin.forward.__self__ is twin
    assert [n for n, _ in model.named_modules()] == [n for n, _ in Plain(1, 3).named_modules()]


def test_an_instance_with_a_tuple_output_is_handled_too(run, ah):
    report = run(FeaturesFirst(1, 3), *ah, select=["L201"])
    assert report.subject["output"]["element"] == 1


def test_an_explicit_api_choice_wins(run, ah):
    report = run(LogitsFirst, *ah, select=["L201"], output=1)
    assert report.subject["output"]["rule"] == "explicit"
    assert [f.code for f in report.findings] == ["L201"]  # the features (N, 8) are not 3 logits


TWO_HEADS = textwrap.dedent("""
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self, in_channels, num_classes):
            super().__init__()
            self.conv = nn.Conv1d(in_channels, 4, 3, padding=1)
            self.head = nn.Linear(4, num_classes)
            self.aux = nn.Linear(4, num_classes)
        def forward(self, x):
            f = self.conv(x).mean(-1)
            return self.head(f), self.aux(f)  # two (N, K) outputs: the width rule cannot choose
""")


@pytest.fixture
def two_heads(tmp_path):
    X_train, y_train, X_test, y_test = gunpoint()
    np.savez(tmp_path / "data.npz", X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test)

    def write(extra=""):
        (tmp_path / "model.py").write_text(TWO_HEADS + extra)
        return ["run", str(tmp_path / "model.py"), str(tmp_path / "data.npz"), "-q", "--select", "L201",
                "--format", "json"]

    return write


def test_output_in_model_py_picks_the_element_through_the_cli(two_heads, capsys):
    assert main(two_heads("output = 1\n")) == 0
    choice = json.loads(capsys.readouterr().out)["subject"]["output"]
    assert choice == {"element": 1, "rule": "explicit", "of": "tuple of 2", "shape": "(N, 2)"}
    assert main([*two_heads("output = 1\n"), "--model-output", "0"]) == 0  # the flag wins over the file
    assert json.loads(capsys.readouterr().out)["subject"]["output"]["element"] == 0


def test_an_ambiguous_output_exits_2_and_says_how_to_choose(two_heads, capsys):
    assert main(two_heads()) == 2
    err = capsys.readouterr().err
    assert err.startswith("cnndoctor: error: forward() returns a tuple of 2: [0] (N, 2); [1] (N, 2).")
    assert "2 elements are (N, 2)" in err
    assert "`output = 0` in model.py" in err and "--model-output 0" in err and "output=0" in err
    assert "bug in cnndoctor" not in err and "Traceback" not in err


def test_an_explicit_choice_that_names_nothing_is_an_input_error(run, ah):
    with pytest.raises(OutputChoiceError, match=r"'probs' names no element.*\[0\] \(N, 3\); \[1\] \(N, 8\)"):
        run(LogitsFirst, *ah, select=["L201"], output="probs")


def test_a_plain_tensor_output_is_untouched(run, ah):
    report = run(Plain, *ah, select=["L201"])
    assert report.subject["output"] is None and not any("cnndoctor uses element" in n for n in report.notes)


def test_the_users_train_step_still_gets_the_whole_tuple(run, ah):
    seen = []

    def train_step(model, xb, yb, optimizer, criterion):
        logits, features = model(xb)  # the user's own code unpacks what their forward returns
        seen.append((tuple(logits.shape[1:]), tuple(features.shape[1:])))
        optimizer.zero_grad()
        loss = criterion(logits, yb)
        loss.backward()
        optimizer.step()
        return loss

    report = run(LogitsFirst, *ah, select=["T102"], budget="quick", train_step=train_step)
    assert [c.status for c in report.checks] in (["passed"], ["failed"]), report.checks
    assert seen and set(seen) == {((3,), (8,))}
    assert report.subject["output"]["element"] == 0
