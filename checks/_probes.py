"""Small helpers shared by the probe checks (not a check module: the leading underscore keeps it out
of the automatic import in ``checks/__init__``)."""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Iterable

from cnndoctor.errors import Skip
from cnndoctor.findings import Finding, pct  # pct re-exported for the probe checks
from cnndoctor.probes.budget import truncated_reason
from cnndoctor.probes.trained import FRESH_WEIGHTS

__all__ = ["g", "pct", "require_steps", "require_complete", "is_stuck", "is_memorised", "attempt_row",
           "with_trained"]


def with_trained(trained, found: Iterable[Finding], fresh: Callable[[], Iterable[Finding]]) -> list[Finding]:
    """The findings about the trained weights (``found``), then those of the fresh-weight probe (``fresh()``).

    When the run evaluated trained weights (``trained`` is not None), the probe's findings say they are about
    fresh weights (evidence ``weights``), as the trained ones name theirs. A ``Skip`` of the probe skips the
    check only when the trained weights gave no finding; otherwise their findings stand on their own.
    """
    found = list(found)
    try:
        probe = list(fresh())
    except Skip:
        if not found:
            raise
        probe = []
    if trained is not None:
        probe = [dataclasses.replace(f, evidence={**f.evidence, "weights": FRESH_WEIGHTS}) for f in probe]
    return [*found, *probe]


def g(value, digits: int = 3) -> str:
    """A number in a sentence: 3 significant digits, or "n/a"."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a" if value is None else str(value)
    return f"{value:.{digits}g}"


def require_steps(run) -> None:
    """Skip a check when the training probe could not take a single step, or its time cap truncated it."""
    if run.error is not None and run.steps == 0:
        raise Skip(f"the training step fails before the first update ({run.error}); T102 reports it")
    require_complete(run, "training probe")


def require_complete(probe, what: str) -> None:
    """Skip a check when the wall-clock safety net stopped ``probe`` before its planned steps.

    Such a probe is inconclusive: how far it got depends on the machine's load, so a verdict
    built on it would differ from one run of the same command and seed to the next.
    """
    if probe is None or getattr(probe, "stopped_by", None) != "time":
        return
    steps = getattr(probe, "steps", None)
    if not isinstance(steps, int):
        steps = len(probe.losses)
    raise Skip(truncated_reason(what, steps, probe.max_steps))


def is_memorised(attempt, min_accuracy: float) -> bool:
    return attempt.best_accuracy is not None and attempt.best_accuracy >= min_accuracy


def is_stuck(attempt, floor: float, *, min_accuracy: float, stuck_fraction: float) -> bool:
    """Not memorised, and the loss is not even ``1 - stuck_fraction`` below what ignoring the input scores."""
    if is_memorised(attempt, min_accuracy):
        return False
    if attempt.error is not None or attempt.nonfinite or attempt.final_loss is None:
        return True
    return not math.isfinite(attempt.final_loss) or attempt.final_loss >= stuck_fraction * floor


def attempt_row(attempt) -> dict:
    return {"lr": attempt.lr, "steps": attempt.steps, "memorised": attempt.memorised,
            "steps_to_memorise": attempt.steps_to_memorise,
            "final_loss": None if attempt.final_loss is None or not math.isfinite(attempt.final_loss)
            else float(f"{attempt.final_loss:.5g}"),
            "best_accuracy": float(f"{attempt.best_accuracy:.4g}"), "non_finite": attempt.nonfinite,
            "stopped_by": attempt.stopped_by}
