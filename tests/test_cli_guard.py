"""User code must not break the tool's outputs (issue 13 §6): prints stay off stdout, hangs hit --timeout."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import cnndoctor.guard.timeout as timeout_mod
from cnndoctor.cli import main
from cnndoctor.config import parse_config
from cnndoctor.errors import InputError
from tests.fixtures.data import gunpoint

ROOT = Path(__file__).resolve().parents[1]
HEALTHY = [str(ROOT / "sample_data/healthy/model.py"), str(ROOT / "sample_data/healthy/data.npz")]

PRINTING_MODEL = textwrap.dedent("""
    import os
    import torch.nn as nn
    print("user: at import")
    os.write(1, b"user: raw write to fd 1\\n")  # as a C extension's printf would
    class Net(nn.Module):
        def __init__(self, in_channels, num_classes):
            super().__init__()
            print("user: in __init__")
            self.conv = nn.Conv1d(in_channels, 4, 3, padding=1)
            self.head = nn.Linear(4, num_classes)
        def forward(self, x):
            print("user: in forward")
            return self.head(self.conv(x).mean(-1))
    def preprocess(X):
        print("user: in preprocess")
        return (X - X.mean()) / X.std()
    def train_step(model, xb, yb, optimizer, criterion):
        print("user: in train_step")
        optimizer.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        optimizer.step()
        return loss
""")

SPIN_MODEL = textwrap.dedent("""
    import torch.nn as nn
    class Spin(nn.Module):
        def forward(self, x):
            while x.shape[0] > 0:  # always true, and never returns
                pass
            return x
    class Net(nn.Module):
        def __init__(self, in_channels, num_classes):
            super().__init__()
            self.conv = nn.Conv1d(in_channels, 4, 3, padding=1)
            self.spin = Spin()
            self.head = nn.Linear(4, num_classes)
        def forward(self, x):
            return self.head(self.spin(self.conv(x)).mean(-1))
""")


@pytest.fixture
def data_file(tmp_path):
    X_train, y_train, X_test, y_test = gunpoint()
    path = tmp_path / "data.npz"
    np.savez(path, X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test)
    return path


def _model(tmp_path, text, name="model.py"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _cli(*args, timeout=60):
    """`python -m cnndoctor ...` in a subprocess, with a hard limit so a broken watchdog cannot hang the suite."""
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "cnndoctor", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=str(ROOT))
    return proc, time.monotonic() - start


# user prints ---------------------------------------------------------------------------------------

def test_user_prints_go_to_stderr_and_json_stays_valid(tmp_path, data_file, capsys):
    model = _model(tmp_path, PRINTING_MODEL)
    code = main(["run", str(model), str(data_file), "--format", "json", "-q", "--budget", "quick",
                 "--select", "D102,A101,T102"])
    out, err = capsys.readouterr()
    assert code in (0, 1)
    doc = json.loads(out)  # the whole of stdout is the report
    assert doc["schema"] == "cnndoctor.report/1"
    for where in ("at import", "in __init__", "in forward", "in preprocess", "in train_step"):
        assert f"user: {where}" in err
    assert "user:" not in out


@pytest.mark.slow
def test_user_prints_at_fd_level_stay_off_stdout(tmp_path, data_file):
    model = _model(tmp_path, PRINTING_MODEL)
    proc, _ = _cli("run", model, data_file, "--format", "json", "--budget", "quick", "--select", "D102,A101")
    assert proc.returncode in (0, 1), proc.stderr
    assert json.loads(proc.stdout)["schema"] == "cnndoctor.report/1"
    assert "user: raw write to fd 1" in proc.stderr and "user: at import" in proc.stderr
    assert "user: in forward" in proc.stderr and "user:" not in proc.stdout


def test_the_api_leaves_prints_alone(tmp_path, capsys):
    import torch.nn as nn

    import cnndoctor

    class Loud(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(1, 2, 3, padding=1)
            self.head = nn.Linear(2, 2)

        def forward(self, x):
            print("loud forward")
            return self.head(self.conv(x).mean(-1))

    X_train, y_train, X_test, y_test = gunpoint()
    cnndoctor.diagnose(Loud(), (X_train, y_train), (X_test, y_test), select=["A101"], progress=False,
                       budget="quick", figures=False)
    assert "loud forward" in capsys.readouterr().out  # a notebook user sees their own prints


# --timeout -----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_timeout_stops_a_forward_that_never_returns(tmp_path, data_file):
    model = _model(tmp_path, SPIN_MODEL)
    proc, elapsed = _cli("run", model, data_file, "--timeout", "5", "--format", "json")
    assert proc.returncode == 2, proc.stderr
    assert elapsed < 30
    assert proc.stdout == ""
    err = proc.stderr
    assert err.startswith("cnndoctor: error: the run took longer than the 5 s timeout") and err.count("\n") == 1
    assert "first forward pass" in err and "fact feed" in err  # the phase
    assert "`spin` (Spin) inside `Net`" in err  # the innermost module, by name and class
    assert "model.py line 5, in forward" in err and "--timeout 0" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("text, phase", [
    ("import time\nwhile time.time() > 0:\n    pass\n", "while importing the model file"),
    ("import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self, in_channels):\n"
     "        super().__init__()\n        n = 1\n        while n > 0:\n            n += 1\n",
     "while building the model (its constructor)"),
], ids=["import", "constructor"])
@pytest.mark.slow
def test_timeout_names_the_phase(tmp_path, data_file, text, phase):
    proc, elapsed = _cli("run", _model(tmp_path, text), data_file, "--timeout", "3", "-q")
    assert proc.returncode == 2 and elapsed < 30
    assert phase in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.skipif(not hasattr(signal, "sigwait"), reason="needs POSIX signals")
@pytest.mark.slow
def test_timeout_ends_a_hang_in_native_code(tmp_path, data_file):
    model = _model(tmp_path, textwrap.dedent("""
        import signal
        import torch.nn as nn
        class Net(nn.Module):
            def __init__(self, in_channels, num_classes):
                super().__init__()
                self.conv = nn.Conv1d(in_channels, 4, 3, padding=1)
            def forward(self, x):
                signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2])
                signal.sigwait([signal.SIGUSR2])  # waits in C: the interpreter never gets control back
                return x
    """))
    proc, elapsed = _cli("run", model, data_file, "--timeout", "4", "-q")  # ended 4 s after the deadline
    assert proc.returncode == 2 and elapsed < 30
    assert "`Net` (the model itself)" in proc.stderr and "was ended" in proc.stderr


def test_a_normal_run_with_a_timeout_passes(capsys):
    before = signal.getsignal(signal.SIGALRM) if hasattr(signal, "SIGALRM") else None
    assert main(["run", *HEALTHY, "-q", "--budget", "quick", "--select", "D1,A1", "--timeout", "120"]) == 0
    if hasattr(signal, "SIGALRM"):
        assert signal.getsignal(signal.SIGALRM) == before
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    from torch.nn.modules import module as torch_module

    assert not torch_module._global_forward_hooks and not torch_module._global_forward_pre_hooks


class _Recorder:
    seen: list = []

    def __init__(self, seconds, grace, advice):
        _Recorder.seen.append(seconds)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("args, expected", [
    (["--budget", "quick"], [1440.0]),
    ([], [3600.0]),
    (["--budget", "thorough"], [10800.0]),
    (["--timeout", "45"], [45.0]),
    (["--timeout", "0"], []),  # 0: no watchdog at all
])
def test_timeout_default_per_budget_and_zero_disables(monkeypatch, capsys, args, expected):
    monkeypatch.setattr(timeout_mod, "_Watchdog", _Recorder)
    monkeypatch.setattr(_Recorder, "seen", [])
    assert main(["run", *HEALTHY, "-q", "--isolated", "--select", "D101", *args]) == 0
    assert _Recorder.seen == expected


def test_timeout_from_the_config(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(timeout_mod, "_Watchdog", _Recorder)
    monkeypatch.setattr(_Recorder, "seen", [])
    config = tmp_path / "pyproject.toml"
    config.write_text("[tool.cnndoctor]\ntimeout = 90\n")
    assert main(["run", *HEALTHY, "-q", "--config", str(config), "--select", "D101"]) == 0
    assert main(["run", *HEALTHY, "-q", "--config", str(config), "--select", "D101", "--timeout", "5"]) == 0
    assert _Recorder.seen == [90.0, 5.0]
    assert parse_config({"timeout": 0}).timeout == 0.0
    for bad in (-1, "10", True):
        with pytest.raises(InputError, match="timeout"):
            parse_config({"timeout": bad})


def test_bad_timeout_flag_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", *HEALTHY, "--timeout", "-3"])
    assert exc.value.code == 2 and "--timeout" in capsys.readouterr().err


def test_watchdog_without_sigalrm_interrupts_the_main_thread():
    """Windows has no SIGALRM: the watchdog thread interrupts the main thread instead."""
    watch = timeout_mod._Watchdog(0.5, 60.0, "advice.")
    watch.use_alarm = False
    start = time.monotonic()
    with pytest.raises(timeout_mod.DiagnosisTimeout, match="0.5 s timeout"):
        with watch, timeout_mod.phase("training_probe", kind="fact"):
            while time.monotonic() - start < 20:  # bounded, so a broken watchdog fails instead of hanging
                pass
    assert time.monotonic() - start < 15
    assert "the training probe (fact training_probe)" in watch.message
