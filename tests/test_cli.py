"""The command line end to end: samples, formats, exit codes, bad input."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnndoctor.cli import main
from tests.fixtures.data import gunpoint
from tests.fixtures.models import TINY_MODEL_FILE

ROOT = Path(__file__).resolve().parents[1]
BROKEN = [str(ROOT / "sample_data/chance_accuracy/model.py"), str(ROOT / "sample_data/chance_accuracy/data.npz")]
HEALTHY = [str(ROOT / "sample_data/healthy/model.py"), str(ROOT / "sample_data/healthy/data.npz")]
GOOD_MODEL = TINY_MODEL_FILE


@pytest.mark.slow
def test_broken_sample_names_the_cause_and_exits_1(capsys):
    assert main(["run", *BROKEN, "-q", "--budget", "quick"]) == 1
    out = capsys.readouterr().out
    words = " ".join(out.replace("│", " ").split())
    assert "because the model is fed unscaled input (D102 unscaled-input)" in words
    assert "10% for 10 classes" in words
    last = out.strip().splitlines()[-1]
    assert " error" in last and "primary cause: D102" in last
    assert "verified:" in words and "after standardising each channel with training statistics" in words


@pytest.mark.slow
def test_healthy_sample_exits_0(capsys):
    assert main(["run", *HEALTHY, "-q", "--budget", "quick"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "error" not in last.split("·")[0]


def _schema_ok(doc):
    assert doc["schema"] == "cnndoctor.report/1"
    for key in ("model", "data", "n_train", "n_test", "channels", "length", "classes", "layout", "device"):
        assert key in doc["subject"]
    assert {"primary", "headline", "chance_accuracy"} <= set(doc["diagnosis"])
    for f in doc["findings"]:
        assert {"code", "name", "severity", "message", "evidence", "fix", "verified"} <= set(f)
    for c in doc["checks"]:
        assert set(c) == {"code", "name", "status", "seconds", "reason"}
        assert c["status"] in ("passed", "failed", "skipped", "errored")
    assert "total" in doc["timings"]


@pytest.mark.slow
def test_json_follows_the_schema_for_both_samples(capsys):
    assert main(["run", *BROKEN, "--format", "json", "-q", "--budget", "quick"]) == 1
    doc = json.loads(capsys.readouterr().out)
    _schema_ok(doc)
    assert doc["diagnosis"]["primary"] == "D102" and doc["findings"][0]["code"] == "D102"
    assert doc["diagnosis"]["chance_accuracy"] == 0.1
    verified = doc["findings"][0]["verified"]
    assert verified["before"] < 0.2 and verified["after"] > verified["before"]
    assert main(["run", *HEALTHY, "--format", "json", "-q", "--budget", "quick"]) == 0
    healthy = json.loads(capsys.readouterr().out)
    _schema_ok(healthy)
    assert [f for f in healthy["findings"] if f["severity"] == "error"] == []


def test_markdown_and_output_file(tmp_path, capsys):
    out = tmp_path / "report.md"
    assert main(["run", *BROKEN, "--format", "markdown", "-o", str(out), "-q", "--select", "D1,L1"]) == 1
    text = out.read_text()
    assert text.startswith("## cnndoctor: 1 error") and "`D102` unscaled-input" in text
    assert capsys.readouterr().out == ""


def test_text_to_file_has_no_colour_codes(tmp_path):
    out = tmp_path / "report.txt"
    main(["run", *BROKEN, "-o", str(out), "-q", "--select", "D102"])
    assert "\x1b[" not in out.read_text() and "D102" in out.read_text()


@pytest.mark.parametrize("fail_on, code", [("error", 1), ("never", 0), ("warning", 1)])
def test_fail_on(fail_on, code, capsys):
    assert main(["run", *BROKEN, "--fail-on", fail_on, "-q", "--select", "D102"]) == code


def test_ignore_the_cause_gives_exit_0(capsys):
    assert main(["run", *BROKEN, "--select", "D1", "-q"]) == 1
    assert main(["run", *BROKEN, "--select", "D1", "--ignore", "D102", "-q"]) == 0


def test_list_and_explain(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "D102" in out and "unscaled-input" in out
    assert main(["explain", "D102"]) == 0
    out = capsys.readouterr().out
    for section in ("What it does", "Why is this bad?", "Example", "Fix"):
        assert section in out
    assert main(["explain", "Q999"]) == 2


def test_explain_says_what_a_code_explains_and_what_explains_it(capsys):
    assert main(["explain", "D102"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Role: cause" in out and "fix verified automatically: yes" in out
    assert "Explains: L205, T101, T102, T104" in out and "Explained by: nothing" in out
    assert main(["explain", "T206"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Role: symptom" in out and "Explains: T101, T104, T105" in out
    by = out.split("Explained by: ", 1)[1]
    assert by.startswith("A101") and "D102" in by and "A205 (where the dead units" in by


# Bad input: exit 2 and one paragraph, no traceback

def _bad(tmp_path, capsys, model_text=None, data=None, args=(), data_path=None):
    model = tmp_path / "model.py"
    model.write_text(model_text if model_text is not None else GOOD_MODEL)
    if data_path is None:
        data_path = tmp_path / "data.npz"
        if data is not None:
            np.savez(data_path, **data)
    code = main(["run", str(model), str(data_path), "-q", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert err.startswith("cnndoctor: error: ") and err.count("\n") == 1
    return err


def _good_data():
    X_train, y_train, X_test, y_test = gunpoint()
    return dict(X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test)


def test_model_file_that_raises_on_import(tmp_path, capsys):
    err = _bad(tmp_path, capsys, model_text="import torch\nraise RuntimeError('no GPU here')\n", data=_good_data())
    assert "failed to import at line 2: RuntimeError: no GPU here" in err


def test_model_file_with_syntax_error(tmp_path, capsys):
    err = _bad(tmp_path, capsys, model_text="def broken(:\n", data=_good_data())
    assert "SyntaxError" in err


def test_model_file_without_a_model(tmp_path, capsys):
    err = _bad(tmp_path, capsys, model_text="x = 1\n", data=_good_data())
    assert "defines no model" in err


def test_missing_model_file(tmp_path, capsys):
    code = main(["run", str(tmp_path / "nope.py"), str(tmp_path / "d.npz"), "-q"])
    assert code == 2 and "does not exist" in capsys.readouterr().err


def test_missing_data_file(tmp_path, capsys):
    assert "does not exist" in _bad(tmp_path, capsys)


def test_file_that_is_not_npz(tmp_path, capsys):
    path = tmp_path / "data.csv"
    path.write_text("1,2,3\n")
    assert "is not an .npz file" in _bad(tmp_path, capsys, data_path=path)


def test_corrupt_npz(tmp_path, capsys):
    path = tmp_path / "data.npz"
    path.write_bytes(b"PK\x03\x04 definitely not a zip")
    assert "could not be read as an .npz" in _bad(tmp_path, capsys, data_path=path)


def test_npz_without_recognisable_keys(tmp_path, capsys):
    err = _bad(tmp_path, capsys, data={"signals": np.zeros((4, 10)), "targets": np.zeros(4)})
    assert "no recognisable arrays (found: signals, targets)" in err and "X_train" in err


def test_x_and_y_of_different_lengths(tmp_path, capsys):
    d = _good_data()
    d["y_train"] = d["y_train"][:-3]
    assert "X_train has 50 samples but y_train has 47" in _bad(tmp_path, capsys, data=d)


def test_ragged_object_arrays(tmp_path, capsys):
    ragged = np.empty(3, dtype=object)
    ragged[:] = [np.zeros(5), np.zeros(7), np.zeros(6)]
    d = dict(X_train=ragged, y_train=np.array([0, 1, 0]), X_test=ragged, y_test=np.array([0, 1, 0]))
    assert "object array (ragged rows" in _bad(tmp_path, capsys, data=d)


def test_unknown_select_code(tmp_path, capsys):
    assert "matches no check" in _bad(tmp_path, capsys, data=_good_data(), args=["--select", "Q1"])


def test_verbose_shows_the_traceback(tmp_path, capsys):
    model = tmp_path / "model.py"
    model.write_text("raise RuntimeError('boom')\n")
    assert main(["run", str(model), str(tmp_path / "d.npz"), "-q", "-v"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_user_files_are_not_changed(tmp_path, capsys):
    model = tmp_path / "model.py"
    model.write_text(GOOD_MODEL)
    np.savez(tmp_path / "data.npz", **_good_data())
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    main(["run", str(model), str(tmp_path / "data.npz"), "-q"])
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert after == before


@pytest.mark.slow
def test_module_entry_point_and_console_script():
    proc = subprocess.run([sys.executable, "-m", "cnndoctor", "run", *BROKEN, "--format", "json", "--select", "D1"],
                          capture_output=True, text=True, env={"PATH": "", "NO_COLOR": "1"})
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["diagnosis"]["primary"] == "D102"
    assert proc.stderr == ""  # no progress when stderr is not a terminal


def test_run_help_says_what_each_budget_costs(capsys):
    from cnndoctor.probes.budget import BUDGETS

    with pytest.raises(SystemExit) as exit_:
        main(["run", "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps the help: compare with the spaces folded
    for name, budget in BUDGETS.items():
        assert f"{name}: {budget.train_steps}-step training probe" in text
        assert f"{budget.lr_steps}-step lr range test" in text
