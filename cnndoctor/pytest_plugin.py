"""The pytest plugin (entry point ``pytest11``): the ``cnndoctor_check`` fixture.

```python
def test_model_is_healthy(cnndoctor_check):
    cnndoctor_check(MyCNN, (X_train, y_train), (X_test, y_test), select=["D", "L", "A"])
```

pytest loads this module in every run once cnndoctor is installed, so it imports nothing
heavy: torch and the diagnosis machinery load only when a test calls the fixture.
"""

from __future__ import annotations

import pytest

__all__ = ["cnndoctor_check"]


@pytest.fixture
def cnndoctor_check(request):
    """``assert_healthy`` with the project's ``[tool.cnndoctor]`` settings (found from pytest's
    rootdir upwards); returns the Report, and records its summary in the test's JUnit properties."""

    def check(model, train, test=None, **options):
        __tracebackhide__ = True
        from cnndoctor.testing import assert_healthy

        if options.get("config", True) is True:
            from cnndoctor.config import load_config

            options["config"] = load_config(start=request.config.rootpath)
        try:
            report = assert_healthy(model, train, test, **options)
        except AssertionError as exc:
            request.node.user_properties.append(("cnndoctor", str(exc).splitlines()[0]))
            raise
        request.node.user_properties.append(("cnndoctor", f"cnndoctor: {report.summary_line()}"))
        return report

    return check
