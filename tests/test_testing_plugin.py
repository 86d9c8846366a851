"""cnndoctor inside a project's own tests: ``assert_healthy`` and the ``cnndoctor_check`` fixture."""

import importlib.metadata
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from cnndoctor import Report
from cnndoctor.testing import assert_healthy
from tests.fixtures.data import gunpoint
from tests.fixtures.models import TinyCNN

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
SELECT = ["D101", "D102", "L101", "L201", "A101"]


def _raw_counts():
    """GunPoint as a 12-bit ADC would log it: the unscaled-input fault (D102, an error)."""
    X, y, Xt, yt = gunpoint()
    return (2048 + 400 * X, y), (2048 + 400 * Xt, yt)


def test_assert_healthy_returns_the_report_of_a_healthy_model():
    X, y, Xt, yt = gunpoint()
    report = assert_healthy(TinyCNN, (X, y), (Xt, yt), select=SELECT, config=False)
    assert isinstance(report, Report) and report.passed() and report.findings == []


def test_assert_healthy_raises_with_the_short_summary():
    train, test = _raw_counts()
    with pytest.raises(AssertionError) as info:
        assert_healthy(TinyCNN, train, test, select=SELECT, config=False)
    lines = str(info.value).splitlines()
    assert lines[0].startswith("cnndoctor: 1 error · primary cause: D102") and lines[0].endswith("(fail-on: error)")
    assert lines[1].startswith("D102 unscaled-input (error): The model is fed unscaled input. Values are large")
    assert lines[2].startswith("fix: Standardise each channel with the training split's mean and std, and apply "
                               "the same transform to every split")
    assert "fit_preprocess" in lines[2]  # and where that code goes


def test_assert_healthy_follows_the_project_configuration(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""
        [tool.cnndoctor]
        select = ["D101", "D102", "L101"]
        ignore = [{ code = "D102", reason = "the model standardises its input" }]
    """))
    monkeypatch.chdir(tmp_path)
    train, test = _raw_counts()
    report = assert_healthy(TinyCNN, train, test)
    assert [(c.code, c.status) for c in report.checks] == [("D101", "passed"), ("D102", "skipped"),
                                                           ("L101", "passed")]
    assert report.checks[1].reason == "ignored (pyproject.toml): the model standardises its input"
    with pytest.raises(AssertionError, match="primary cause: D102"):
        assert_healthy(TinyCNN, train, test, select=["D102"])  # an explicit select starts from scratch
    with pytest.raises(AssertionError, match="D102"):
        assert_healthy(TinyCNN, train, test, config=False, select=["D102"])
    # Thresholds merge: the config's, then the call's.
    report = assert_healthy(TinyCNN, train, test, select=["D102"], fail_on="warning",
                            thresholds={"D102": {"max_rms": 1e4, "max_offset": 1e3}})
    assert report.findings == []


def test_fail_on_from_the_config_and_from_the_call(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.cnndoctor]\nfail-on = "never"\n')
    monkeypatch.chdir(tmp_path)
    train, test = _raw_counts()
    assert assert_healthy(TinyCNN, train, test, select=["D102"]).primary.code == "D102"
    with pytest.raises(AssertionError, match=r"\(fail-on: error\)"):
        assert_healthy(TinyCNN, train, test, select=["D102"], fail_on="error")


def test_the_plugin_module_does_not_import_torch():
    code = ("import sys, cnndoctor.pytest_plugin as p; "
            "assert 'torch' not in sys.modules, 'torch imported'; assert callable(p.cnndoctor_check)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_the_entry_point_is_declared():
    tomllib = pytest.importorskip("tomllib")
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["entry-points"]["pytest11"] == {"cnndoctor": "cnndoctor.pytest_plugin"}


def _plugin_args() -> list[str]:
    """Load the plugin explicitly unless the installed metadata already registers it (pytest would
    then refuse a second registration)."""
    installed = any(ep.value == "cnndoctor.pytest_plugin"
                    for ep in importlib.metadata.entry_points(group="pytest11"))
    return [] if installed else ["-p", "cnndoctor.pytest_plugin"]


SAMPLE_MODEL = textwrap.dedent("""
    import torch.nn as nn

    class SensorNet(nn.Module):
        def __init__(self, in_channels, num_classes):
            super().__init__()
            self.features = nn.Sequential(nn.Conv1d(in_channels, 8, 5, padding=2), nn.ReLU(),
                                          nn.AdaptiveAvgPool1d(1), nn.Flatten())
            self.head = nn.Linear(8, num_classes)

        def forward(self, x):
            return self.head(self.features(x))
""")

SAMPLE_TESTS = textwrap.dedent("""
    import numpy as np
    from sensornet import SensorNet

    data = np.load("data.npz")
    train, test = (data["X_train"], data["y_train"]), (data["X_test"], data["y_test"])

    def test_model_is_healthy(cnndoctor_check):
        report = cnndoctor_check(SensorNet, train, test)
        assert report.passed()

    def test_raw_sensor_counts(cnndoctor_check):
        cnndoctor_check(SensorNet, (2048 + 400 * train[0], train[1]), (2048 + 400 * test[0], test[1]))
""")


@pytest.mark.slow
def test_fixture_in_a_sample_project(pytester):
    X, y, Xt, yt = gunpoint()
    np.savez(pytester.path / "data.npz", X_train=X, y_train=y, X_test=Xt, y_test=yt)
    pytester.makepyfile(sensornet=SAMPLE_MODEL, test_sensornet=SAMPLE_TESTS)
    pytester.makefile(".toml", pyproject='[tool.cnndoctor]\nselect = ["D101", "D102", "L101", "L201", "A101"]\n')
    result = pytester.runpytest_subprocess("--junitxml=junit.xml", *_plugin_args())
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*AssertionError: cnndoctor: 1 error · primary cause: D102*(fail-on: error)",
        "*D102 unscaled-input (error): The model is fed unscaled input.*",
        "*fix: Standardise each channel*",
    ])
    cases = {c.get("name"): c for c in ET.parse(pytester.path / "junit.xml").getroot().iter("testcase")}
    props = {name: {p.get("name"): p.get("value") for p in case.iter("property")} for name, case in cases.items()}
    assert props["test_model_is_healthy"]["cnndoctor"].startswith("cnndoctor: no problems")
    assert props["test_raw_sensor_counts"]["cnndoctor"].startswith("cnndoctor: 1 error · primary cause: D102")


def test_the_plugin_stays_light_in_tests_that_do_not_use_it(pytester):
    pytester.makepyfile(test_light="""
        import sys

        def test_no_torch(pytestconfig):
            names = [getattr(p, "__name__", "") for p in pytestconfig.pluginmanager.get_plugins()]
            assert "cnndoctor.pytest_plugin" in names
            assert "torch" not in sys.modules
    """)
    result = pytester.runpytest_subprocess(*_plugin_args())
    result.assert_outcomes(passed=1)
