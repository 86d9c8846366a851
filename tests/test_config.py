"""[tool.cnndoctor] in pyproject.toml: discovery, validation, and the command line overriding it."""

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

import cnndoctor.config as config_module
from cnndoctor.cli import main
from cnndoctor.config import Ignore, find_config, load_config, merge_selection, parse_config, parse_ignore
from cnndoctor.errors import InputError
from tests.fixtures.data import gunpoint
from tests.fixtures.models import TinyCNN

ROOT = Path(__file__).resolve().parents[1]
BROKEN = [str(ROOT / "sample_data/chance_accuracy/model.py"), str(ROOT / "sample_data/chance_accuracy/data.npz")]
# Only the checks these tests are about: the broken sample then has exactly one finding, D102 (an error).
SELECT = 'select = ["D101", "D102", "L101"]\n'


def project(tmp_path: Path, body: str, monkeypatch=None) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'user-project'\n\n" + textwrap.dedent(body))
    if monkeypatch is not None:
        monkeypatch.chdir(tmp_path)
    return tmp_path / "pyproject.toml"


def run_cli(capsys, *args):
    code = main(["run", *BROKEN, "-q", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


# --- discovery -----------------------------------------------------------------------------


def test_found_from_a_subfolder_and_pyproject_without_the_table_is_passed_over(tmp_path):
    outer = project(tmp_path, "[tool.cnndoctor]\nfail-on = 'warning'\n")
    inner = tmp_path / "pkg"
    (inner / "deep").mkdir(parents=True)
    (inner / "pyproject.toml").write_text("[tool.black]\nline-length = 100\n")
    assert find_config(inner / "deep") == outer
    cfg = load_config(start=inner / "deep")
    assert cfg.path == outer and cfg.fail_on == "warning"


def test_no_configuration_anywhere_gives_empty_settings(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    cfg = load_config(start=tmp_path)
    if cfg.path is not None:  # a [tool.cnndoctor] above the temp folder is outside this test's control
        pytest.skip(f"a configuration above {tmp_path} was found: {cfg.path}")
    assert cfg.select is None and cfg.ignore == [] and cfg.thresholds == {} and cfg.fail_on is None


# --- parsing -------------------------------------------------------------------------------


def test_every_key_and_both_ignore_forms():
    cfg = parse_config({
        "select": ["D", "L101"], "ignore": ["D102", {"code": "L101", "reason": "1-based by design"}],
        "fail-on": "warning", "output-format": "junit", "device": "cpu", "seed": 3, "budget": "quick",
        "layout": "ncl", "thresholds": {"unscaled-input": {"max_rms": 20}},
    }, "pyproject.toml")
    assert cfg.select == ["D", "L101"]
    assert cfg.ignore == [Ignore("D102", None, "pyproject.toml"), Ignore("L101", "1-based by design", "pyproject.toml")]
    assert (cfg.fail_on, cfg.format, cfg.device, cfg.seed, cfg.budget, cfg.layout) == \
        ("warning", "junit", "cpu", 3, "quick", "ncl")
    # Keyed by code whatever the spelling, and converted to the default's type (max_rms is a float).
    assert cfg.thresholds == {"D102": {"max_rms": 20.0}}
    assert isinstance(cfg.thresholds["D102"]["max_rms"], float)
    # The table form of ignore, and snake_case keys.
    table = parse_config({"ignore": {"A101": "the model is built elsewhere"}, "fail_on": "never"})
    assert table.ignore == [Ignore("A101", "the model is built elsewhere", None)] and table.fail_on == "never"


@pytest.mark.parametrize("table, fragments", [
    ({"fail_when": "error"}, ["unknown key 'fail_when'", "fail-on"]),
    ({"fail-on": "sometimes"}, ["fail-on = 'sometimes'", "error, warning, info, never"]),
    ({"format": "sarif"}, ["format = 'sarif'", "github, gitlab, junit"]),
    ({"seed": "zero"}, ["seed = 'zero'", "whole number"]),
    ({"device": "tpu"}, ["device = 'tpu'", "cuda:N"]),
    ({"select": "Q9"}, ["select names 'Q9'", "matches no check"]),
    ({"ignore": [{"code": "D102", "why": "x"}]}, ["an ignore entry must be"]),
    ({"ignore": {"D102": ""}}, ["reason as a non-empty string"]),
    ({"thresholds": {"Q999": {"x": 1}}}, ["[tool.cnndoctor.thresholds.Q999] names no check"]),
    ({"thresholds": {"D102": {"max_rmss": 20}}},
     ["sets 'max_rmss'", "D102 unscaled-input does not have", "max_rms (default 10.0)", "min_std"]),
    ({"thresholds": {"D101": {"limit": 1}}}, ["it has no thresholds to set"]),
    ({"thresholds": {"D102": {"max_rms": "20"}}}, ["max_rms = '20' (a string)", "a number like its default 10.0"]),
    ({"thresholds": {"D102": 20}}, ["must be a table of parameter = value"]),
])
def test_mistakes_are_input_errors_that_name_the_file(table, fragments):
    with pytest.raises(InputError) as info:
        parse_config(table, "/proj/pyproject.toml")
    message = str(info.value)
    assert message.startswith("/proj/pyproject.toml [tool.cnndoctor]: ")
    for fragment in fragments:
        assert fragment in message, message


def test_invalid_toml_is_an_input_error(tmp_path):
    path = project(tmp_path, "[tool.cnndoctor]\nselect = [\n")
    with pytest.raises(InputError, match="is not valid TOML"):
        load_config(start=tmp_path)
    with pytest.raises(InputError, match="is not valid TOML"):
        load_config(path)


def test_without_a_toml_reader_only_a_present_configuration_is_an_error(tmp_path, monkeypatch):
    # Python 3.10 without tomli: pyproject files that do not configure cnndoctor must not break anything.
    monkeypatch.setattr(config_module, "_toml", lambda: None)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\ndependencies = ['cnndoctor']\n")
    assert find_config(tmp_path) != tmp_path / "pyproject.toml"  # names cnndoctor, but has no table
    sub = tmp_path / "configured"
    sub.mkdir()
    project(sub, "[tool.cnndoctor]\nfail-on = 'warning'\n")
    with pytest.raises(InputError, match="needs the tomli package: run `pip install tomli`"):
        load_config(start=sub)


def test_explicit_select_starts_from_scratch_and_explicit_ignore_adds():
    cfg = parse_config({"select": ["D"], "ignore": ["D101", {"code": "D102", "reason": "r"}]})
    select, ignore = merge_selection(None, ["L101"], cfg)
    assert select == ["D"] and [i.token for i in ignore] == ["D101", "D102", "L101"]
    select, ignore = merge_selection(["A"], None, cfg)
    assert select == ["A"] and ignore == []
    assert parse_ignore("D101, D102") == [Ignore("D101"), Ignore("D102")]


# --- the command line honours it, and overrides it ---------------------------------------------


def test_fail_on_from_config_and_cli_override(tmp_path, monkeypatch, capsys):
    project(tmp_path, "[tool.cnndoctor]\n" + SELECT + "fail-on = 'never'\n", monkeypatch)
    assert run_cli(capsys)[0] == 0  # D102 is an error, but the project gates on nothing
    assert run_cli(capsys, "--fail-on", "error")[0] == 1
    assert run_cli(capsys, "--isolated", "--select", "D101,D102,L101")[0] == 1


def test_format_from_config_and_cli_override(tmp_path, monkeypatch, capsys):
    path = project(tmp_path, "[tool.cnndoctor]\n" + SELECT + "format = 'json'\nseed = 5\n", monkeypatch)
    code, out, _ = run_cli(capsys)
    doc = json.loads(out)
    assert code == 1 and doc["subject"]["seed"] == 5
    assert doc["subject"]["config"] == "pyproject.toml"
    assert any(str(path.name) in n and "[tool.cnndoctor]" in n for n in doc["notes"])
    code, out, _ = run_cli(capsys, "--format", "text", "--seed", "1")
    assert out.strip().splitlines()[-1].startswith("1 error · primary cause: D102")


def test_ignore_with_a_reason_is_shown_as_skipped(tmp_path, monkeypatch, capsys):
    project(tmp_path, "[tool.cnndoctor]\n" + SELECT +
            'ignore = [{ code = "D102", reason = "the model standardises in forward()" }]\n', monkeypatch)
    code, out, _ = run_cli(capsys, "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["findings"] == []
    d102 = next(c for c in doc["checks"] if c["code"] == "D102")
    assert d102["status"] == "skipped"
    assert d102["reason"] == "ignored (pyproject.toml): the model standardises in forward()"
    assert [c["code"] for c in doc["checks"]] == ["D101", "D102", "L101"]  # in run order
    code, out, _ = run_cli(capsys, "-v")  # the verbose terminal report lists it with the reason
    assert "D102 unscaled-input: ignored (pyproject.toml): the model standardises in forward()" in " ".join(out.split())
    # An explicit --select starts from scratch, as in ruff: the configured ignore no longer applies.
    assert run_cli(capsys, "--select", "D102")[0] == 1


def test_thresholds_from_config_change_the_verdict(tmp_path, monkeypatch, capsys):
    # The sample's counts have rms 3.3e4 and sit 16 stds from zero; a project may accept that.
    project(tmp_path, "[tool.cnndoctor]\n" + SELECT + "format = 'json'\n"
            "[tool.cnndoctor.thresholds.D102]\nmax_rms = 1e5\nmax_offset = 100\n", monkeypatch)
    code, out, _ = run_cli(capsys)
    assert code == 0 and json.loads(out)["findings"] == []
    project(tmp_path, "[tool.cnndoctor]\n" + SELECT + "format = 'json'\n"
            "[tool.cnndoctor.thresholds.D102]\nmax_rms = 1e4\nmax_offset = 100\n")
    code, out, _ = run_cli(capsys)
    finding = json.loads(out)["findings"][0]  # above 1e4 but within error_factor (10) of it: a warning
    assert code == 0 and finding["severity"] == "warning"
    assert finding["evidence"]["max_rms"] == 1e4 and finding["evidence"]["max_offset"] == 100
    assert run_cli(capsys, "--fail-on", "warning")[0] == 1


def test_config_errors_exit_2_with_one_paragraph(tmp_path, monkeypatch, capsys):
    project(tmp_path, "[tool.cnndoctor]\n[tool.cnndoctor.thresholds.D102]\nmax_rmss = 20\n", monkeypatch)
    code, out, err = run_cli(capsys)
    assert code == 2 and out == ""
    assert err.startswith("cnndoctor: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert "'max_rmss'" in err and "max_rms (default 10.0)" in err
    # --isolated runs without it; --config reads an explicit file instead.
    assert run_cli(capsys, "--isolated", "--select", "D101")[0] == 0
    other = tmp_path / "ci" / "cnndoctor.toml"
    other.parent.mkdir()
    other.write_text(SELECT + "fail-on = 'never'\n")
    assert run_cli(capsys, "--config", str(other))[0] == 0
    code, _, err = run_cli(capsys, "--config", str(tmp_path / "missing.toml"))
    assert code == 2 and "does not exist" in err


def test_api_thresholds_are_validated_too():
    import cnndoctor

    X, y, Xt, yt = gunpoint()
    with pytest.raises(InputError, match="thresholds\\['D102'\\] sets 'limit'"):
        cnndoctor.diagnose(TinyCNN, (X, y), (Xt, yt), select=["D102"], progress=False,
                           thresholds={"D102": {"limit": 1}})
    report = cnndoctor.diagnose(TinyCNN, (X * 50, y), (Xt * 50, yt), select=["D102"], progress=False,
                                thresholds={"unscaled-input": {"max_rms": 1000}})
    assert report.findings == [] and np.isfinite(report.timings["total"])
