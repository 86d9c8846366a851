import os
import re
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault("NO_COLOR", "1")
# The probes' thread count is one per core by default, and it changes results in their last bits: the suite fixes
# it so that its snapshots and measured numbers are the same on a machine with any number of cores.
os.environ.setdefault("CNNDOCTOR_THREADS", "1")

TESTS = Path(__file__).resolve().parent


@pytest.fixture
def run():
    """diagnose() with progress off and the given checks selected."""
    import cnndoctor

    def _run(model, train, test=None, **kw):
        kw.setdefault("progress", False)
        kw.setdefault("figures", False)  # drawing figures is the reporters' tests' business
        return cnndoctor.diagnose(model, train, test, **kw)

    return _run


def codes(report) -> list[str]:
    return [f.code for f in report.findings]


def marked_code_files(kind: str) -> dict[str, set[str]]:
    """For each code named in ``@pytest.mark.fires("X")`` / ``silent`` markers, the test files that name it."""
    pattern = re.compile(rf"mark\.{kind}\(([^)]*)\)")
    found: dict[str, set[str]] = {}
    for path in TESTS.rglob("test_*.py"):
        for args in pattern.findall(path.read_text(encoding="utf-8")):
            for code in re.findall(r"[\"']([DLAT]\d{3})[\"']", args):
                found.setdefault(code, set()).add(path.relative_to(TESTS).as_posix())
    return found


def marked_codes(kind: str) -> set[str]:
    """Codes named in ``@pytest.mark.fires("X")`` / ``silent`` markers across the test files."""
    return set(marked_code_files(kind))
