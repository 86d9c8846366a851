"""cnndoctor as an assertion inside a project's own test suite.

```python
from cnndoctor.testing import assert_healthy

def test_model_can_learn():
    assert_healthy(MyCNN, (X_train, y_train), (X_test, y_test), select=["D", "L", "A"])
```

The settings in ``[tool.cnndoctor]`` of the project's pyproject.toml apply (as for the CLI),
and keyword arguments override them. The pytest plugin offers the same as the
``cnndoctor_check`` fixture.
"""

from __future__ import annotations

from pathlib import Path

from .config import DEFAULTS, RUN_OPTIONS, Config, load_config, merge_selection, validate_thresholds
from .errors import InputError
from .findings import Severity
from .report import FAIL_ON, Report

__all__ = ["assert_healthy", "failure_message"]

# Options [tool.cnndoctor] may set for diagnose(); "format" only concerns the CLI.
_CONFIG_OPTIONS = RUN_OPTIONS


def _config(config) -> Config:
    if isinstance(config, Config):
        return config
    if config is True:
        return load_config()
    if config in (False, None):
        return Config()
    return load_config(Path(config))


def failure_message(report: Report, fail_on: str = "error") -> str:
    """The short summary: the pytest-style line, the primary finding's message and fix, the rest by name."""
    lines = [f"cnndoctor: {report.summary_line()} (fail-on: {fail_on})"]
    primary = report.primary
    if primary is not None:
        lines.append(f"{primary.code} {primary.name} ({primary.severity}): {primary.message}")
        lines.append(f"fix: {primary.fix}")
    floor = Severity.parse(fail_on) if fail_on != "never" else None
    others = [f for f in report.findings[1:] if floor is not None and f.severity >= floor]
    if others:
        lines.append("also: " + ", ".join(f"{f.code} {f.name} ({f.severity})" for f in others))
    return "\n".join(lines)


def assert_healthy(model, train, test=None, *, fail_on: str | None = None, config=True, **options) -> Report:
    """Diagnose ``model`` and raise ``AssertionError`` when a finding is at or above ``fail_on``.

    ``model``, ``train``, ``test`` and ``**options`` are those of ``cnndoctor.diagnose``
    (``select``, ``ignore``, ``thresholds``, ``budget``, ``device``, ``seed``, ``loss_fn``, ...).
    ``config``: True (default) reads ``[tool.cnndoctor]`` from the nearest pyproject.toml above the
    working directory; a path reads that file; a ``Config`` is used as given; False ignores it. Explicit options win
    (an explicit ``select`` replaces the configured select and ignore, as on the command line).
    ``fail_on`` defaults to the configured fail-on, else "error". Returns the report when healthy.
    """
    __tracebackhide__ = True
    from .api import diagnose

    cfg = _config(config)
    fail_on = fail_on or cfg.fail_on or DEFAULTS["fail_on"]
    if fail_on not in FAIL_ON:
        raise InputError(f"fail_on must be one of {', '.join(FAIL_ON)}, not {fail_on!r}.")
    select, ignore = merge_selection(options.pop("select", None), options.pop("ignore", None), cfg)
    thresholds = {code: dict(values) for code, values in cfg.thresholds.items()}
    for code, values in validate_thresholds(options.pop("thresholds", None)).items():
        thresholds.setdefault(code, {}).update(values)
    for key in _CONFIG_OPTIONS:
        if options.get(key) is None and getattr(cfg, key) is not None:
            options[key] = getattr(cfg, key)
    options.setdefault("progress", False)
    report = diagnose(model, train, test, select=select, ignore=ignore, thresholds=thresholds, **options)
    if not report.passed(fail_on):
        raise AssertionError(failure_message(report, fail_on))
    return report
