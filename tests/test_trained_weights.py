"""Trained weights as they are: ``cnndoctor run ... --weights ckpt.pt`` and ``diagnose(model, reinit=False)``.

Real tiny BatchNorm CNNs trained for a few epochs on ItalyPowerDemand (67 training series), checkpoints
saved with ``torch.save`` to tmp_path; the fresh-weight probes run next to them on the quick budget.
"""

import copy
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn as nn

import cnndoctor
from cnndoctor.cli import main
from cnndoctor.errors import InputError
from cnndoctor.load.weights import load_trained, read_checkpoint
from tests.fixtures.data import save_npz, ucr
from tests.fixtures.probe_models import ProbeCNN

TRAINED_CODES = ["T105", "T206", "T207", "T208", "T301"]
MODEL = textwrap.dedent("""
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self, in_channels, num_classes, width=8):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv1d(in_channels, width, 5, padding=2), nn.BatchNorm1d(width), nn.ReLU(),
                nn.Conv1d(width, 2 * width, 3, padding=1), nn.BatchNorm1d(2 * width), nn.ReLU(),
                nn.AdaptiveAvgPool1d(1), nn.Flatten())
            self.head = nn.Linear(2 * width, num_classes)

        def forward(self, x):
            return self.head(self.features(x))
""")
_NAMESPACE: dict = {}
exec(MODEL, _NAMESPACE)  # the same class in this process and in the model file the CLI imports
Net = _NAMESPACE["Net"]


def _trained_findings(report):
    return [f for f in report.findings if str(f.evidence.get("weights", "")).startswith("trained")]


def _diagnose(model, train, test, **kw):
    kw.setdefault("budget", "quick")
    kw.setdefault("progress", False)
    kw.setdefault("figures", False)
    kw.setdefault("select", TRAINED_CODES)
    return cnndoctor.diagnose(model, train, test, **kw)


@pytest.fixture(scope="module")
def italy():
    return ucr("ItalyPowerDemand")


@pytest.fixture(scope="module")
def trained_state(italy):
    """A healthy checkpoint: Net trained 15 epochs on the training split (about 98% train, 95% test)."""
    X, y, _, _ = italy
    torch.manual_seed(0)
    model = Net(1, 2)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xs, ys = torch.tensor(X[:, None], dtype=torch.float32), torch.tensor(y)
    for _ in range(15):
        for idx in torch.randperm(len(xs)).split(16):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xs[idx]), ys[idx]).backward()
            opt.step()
    return copy.deepcopy(model.state_dict())


def _collapsed_net() -> nn.Module:
    """Fresh Net whose head bias is huge: every series goes to class 0, whatever the input."""
    torch.manual_seed(0)
    model = Net(1, 2)
    with torch.no_grad():
        model.head.bias.copy_(torch.tensor([50.0, -50.0]))
    return model


@pytest.mark.slow
def test_a_checkpoint_whose_predictions_collapse_onto_one_class(tmp_path, italy):
    X, y, Xt, yt = italy
    (tmp_path / "model.py").write_text(MODEL)
    save_npz(tmp_path / "data.npz", X_train=X, y_train=y, X_test=Xt, y_test=yt)
    torch.save(_collapsed_net().state_dict(), tmp_path / "ckpt.pt")
    proc = subprocess.run([sys.executable, "-m", "cnndoctor", "run", "model.py", "data.npz", "--weights", "ckpt.pt",
                           "--select", "T105", "--budget", "quick", "--format", "json", "-q"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    trained = [f for f in doc["findings"] if f["evidence"].get("weights") == "trained (ckpt.pt)"]
    assert [f["code"] for f in trained] == ["T105"]
    evidence = trained[0]["evidence"]
    assert evidence["top_class"] == 0 and evidence["top_share"] == 1.0 and evidence["split"] == "test"
    assert "The trained weights (ckpt.pt) predict (almost) only class 0" in trained[0]["message"]
    weights = doc["subject"]["settings"]["weights"]
    assert weights["source"] == "command line" and weights["value"].startswith("ckpt.pt")
    t105 = next(c for c in doc["checks"] if c["code"] == "T105")
    assert t105["status"] == "failed"
    # the fresh-weight probe still ran: its findings, if any, say they are about fresh weights
    assert all(f["evidence"]["weights"].startswith("fresh") for f in doc["findings"] if f not in trained)


@pytest.mark.silent("T301")
def test_a_healthy_checkpoint_is_silent_on_the_trained_weight_checks(tmp_path, italy, trained_state):
    X, y, Xt, yt = italy
    torch.save(trained_state, tmp_path / "ckpt.pt")
    report = _diagnose(Net, (X, y), (Xt, yt), weights=tmp_path / "ckpt.pt")
    assert _trained_findings(report) == []
    status = {c.code: c.status.value for c in report.checks}
    assert status["T301"] == "passed" and status["T105"] in ("passed", "failed")
    assert report.subject["settings"]["weights"]["source"] == "diagnose() argument"


@pytest.mark.fires("T301")
def test_batchnorm_running_stats_that_do_not_match_the_data(italy, trained_state):
    """Trained on the standardised series, evaluated on raw-scale ones (x10 + 5): the running statistics of
    the first BatchNorm no longer describe its input, and in eval mode the model collapses."""
    X, y, Xt, yt = italy
    # the 1029-series split as the training data: enough whole batches of 32 for the train/eval comparison
    report = _diagnose(Net, (Xt * 10 + 5, yt), (X * 10 + 5, y), weights=trained_state)
    found = {f.code: f for f in _trained_findings(report)}
    assert {"T301", "T207"} <= set(found), [(f.code, f.evidence.get("weights")) for f in report.findings]
    t301 = found["T301"]
    assert t301.evidence["layer"] == "features.1 (BatchNorm1d)"
    assert t301.evidence["per_layer"]["features.1 (BatchNorm1d)"]["scale_ratio"] > 5
    assert t301.evidence["weights"] == "trained (the state_dict given)"
    assert found["T207"].evidence["discrepancy"] > found["T207"].evidence["max_discrepancy"]
    # the mismatch explains what the same trained weights show, never a fresh-weight probe's finding
    for f in report.findings:
        if f.code != "T301":
            assert (f.explained_by == "T301") == (f.evidence.get("weights") == t301.evidence["weights"]), f.code


def test_dead_units_and_a_generalization_gap_of_trained_weights(italy, trained_state):
    X, y, Xt, yt = italy
    dead = copy.deepcopy(trained_state)
    dead["features.1.bias"] = torch.full_like(dead["features.1.bias"], -100.0)  # nothing passes the first ReLU
    found = {f.code: f for f in _trained_findings(_diagnose(Net, (X, y), (Xt, yt), weights=dead,
                                                            select=["T206"]))}
    assert found["T206"].evidence["all_dead_layers"] == ["features.2"]
    assert found["T206"].severity == cnndoctor.Severity.ERROR
    shuffled = np.random.default_rng(0).permutation(yt)  # test labels no longer belong to their series
    found = {f.code: f for f in _trained_findings(_diagnose(Net, (X, y), (Xt, shuffled), weights=trained_state,
                                                            select=["T208"]))}
    assert found["T208"].evidence["train_accuracy"] > 0.9 >= 0.6 > found["T208"].evidence["test_accuracy"]


def test_reinit_false_evaluates_the_instance_and_never_changes_it(italy):
    X, y, Xt, yt = italy
    model = _collapsed_net()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = _diagnose(model, (X, y), (Xt, yt), reinit=False, select=["T105"])
    assert model.training is True
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    trained = _trained_findings(report)
    assert [f.code for f in trained] == ["T105"]
    assert trained[0].evidence["weights"] == "trained (the model instance)"
    assert report.subject["settings"]["weights"]["value"].startswith("the model instance")
    # the default (reinit=True) keeps cnndoctor's old behaviour: fresh weights only
    assert _trained_findings(_diagnose(model, (X, y), (Xt, yt), select=["T105"])) == []


def test_reinit_false_needs_weights_to_evaluate(italy):
    X, y, Xt, yt = italy
    with pytest.raises(InputError, match="reinit=False evaluates the weights a model instance holds"):
        _diagnose(Net, (X, y), (Xt, yt), reinit=False)


def test_a_checkpoint_of_another_shape_exits_2_naming_the_keys(tmp_path, italy, capsys):
    X, y, Xt, yt = italy
    (tmp_path / "model.py").write_text(MODEL)
    save_npz(tmp_path / "data.npz", X_train=X, y_train=y, X_test=Xt, y_test=yt)
    other = Net(1, 3).state_dict()  # trained for three classes
    other.pop("features.4.running_var")
    torch.save(other, tmp_path / "ckpt.pt")
    code = main(["run", str(tmp_path / "model.py"), str(tmp_path / "data.npz"), "--weights",
                 str(tmp_path / "ckpt.pt"), "-q", "--budget", "quick"])
    assert code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "does not fit the model" in err
    assert "features.4.running_var" in err
    assert "head.weight: checkpoint (3, 16), model (2, 16)" in err


def test_checkpoints_that_cannot_be_read_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_checkpoint(tmp_path / "missing.pt", "cpu")
    with pytest.raises(InputError, match="is not a file"):
        read_checkpoint(tmp_path, "cpu")
    torch.save(ProbeCNN(1, 2), tmp_path / "pickled.pt")  # the whole module: unpickling it would run code
    with pytest.raises(InputError, match=r"weights_only=False\), which runs code"):
        read_checkpoint(tmp_path / "pickled.pt", "cpu")
    torch.save({"epoch": 3, "lr": 0.1}, tmp_path / "nostate.pt")
    with pytest.raises(InputError, match="no state_dict in it"):
        read_checkpoint(tmp_path / "nostate.pt", "cpu")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(InputError, match="could not be read as a torch checkpoint"):
        read_checkpoint(tmp_path / "text.pt", "cpu")


def test_lightning_and_data_parallel_prefixes_are_matched(tmp_path):
    torch.manual_seed(1)
    source = Net(1, 2)
    state = source.state_dict()
    lightning = {"state_dict": {**{f"model.{k}": v for k, v in state.items()},
                                "criterion.weight": torch.ones(2)},  # a loss module's buffer in the LightningModule
                 "epoch": 3, "global_step": 120, "pytorch-lightning_version": "2.4.0"}
    torch.save(lightning, tmp_path / "last.ckpt")
    loaded = load_trained(tmp_path / "last.ckpt", Net(1, 2), device="cpu", model_name="Net")
    assert loaded.prefix == "model." and loaded.ignored == ("criterion.weight",)
    assert all(torch.equal(v, loaded.model.state_dict()[k]) for k, v in state.items())
    assert "prefix 'model.' stripped" in loaded.describe()
    wrapped = load_trained({"model_state_dict": {f"module.{k}": v for k, v in state.items()}}, Net(1, 2),
                           device="cpu", model_name="Net")
    assert wrapped.prefix == "module."
    with pytest.raises(InputError, match="key\\(s\\) the model does not have"):
        load_trained({f"net.{k}": v for k, v in list(state.items())[:3]}, Net(1, 2), device="cpu", model_name="Net")


def test_a_checkpoint_without_batchnorm_step_counters_loads():
    """Checkpoints saved before torch 0.4.1 have no num_batches_tracked; torch fills it in, and so does cnndoctor."""
    state = {k: v for k, v in Net(1, 2).state_dict().items() if not k.endswith("num_batches_tracked")}
    loaded = load_trained(state, Net(1, 2), device="cpu", model_name="Net")
    assert all(torch.equal(v, loaded.model.state_dict()[k]) for k, v in state.items())
