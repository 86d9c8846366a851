"""Running checks: in stage order, each isolated, timed and given a status.

A check that raises is recorded as *errored* and the run goes on; one whose facts are
unavailable, or that raises ``Skip``, is *skipped* with the reason.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from typing import Any, Iterable, Mapping

from .context import Context
from .errors import FactUnavailable, InputError, Skip
from .findings import CheckOutcome, Finding, Status
from .guard.timeout import phase
from .registry import CheckSpec

__all__ = ["run_checks"]


def _normalise(spec: CheckSpec, item: Any) -> Finding:
    if not isinstance(item, Finding):
        raise TypeError(f"{spec.code} yielded {type(item).__name__}, not a Finding")
    if not item.evidence:
        raise ValueError(f"{spec.code} yielded a finding without evidence")
    if not item.fix:
        raise ValueError(f"{spec.code} yielded a finding without a fix")
    return dataclasses.replace(item, code=spec.code, name=spec.name, severity=item.severity or spec.severity)


def run_checks(ctx: Context, specs: Iterable[CheckSpec], *, thresholds: Mapping[str, Mapping] | None = None,
               progress=None) -> tuple[list[Finding], list[CheckOutcome]]:
    """Run ``specs`` against ``ctx``; return the findings and one outcome per check."""
    findings: list[Finding] = []
    outcomes: list[CheckOutcome] = []
    thresholds = ctx.thresholds if thresholds is None else thresholds  # api gives the Context the same table
    for spec in specs:
        if progress is not None:
            progress(f"{spec.code} {spec.name}")
        start = time.perf_counter()
        status, reason, found = Status.PASSED, None, []
        try:
            with phase(f"{spec.code} {spec.name}", kind="check"):  # named in the --timeout message
                args = {name: ctx.get(name) for name in spec.facts}
                options = spec.options(thresholds)
                found = [_normalise(spec, f) for f in (spec.func(**args, **options) or ())]
            status = Status.FAILED if found else Status.PASSED
        except (Skip, FactUnavailable) as exc:
            status, reason = Status.SKIPPED, str(exc)
        except InputError:
            raise  # bad input found while measuring: the whole run stops with exit code 2
        except Exception as exc:  # a crashing check must never stop the run
            status = Status.ERRORED
            reason = f"{type(exc).__name__}: {exc}"
            if ctx.verbose:
                reason += "\n" + "".join(traceback.format_exception(exc))
            found = []
        findings.extend(found)
        outcomes.append(CheckOutcome(spec.code, spec.name, status, time.perf_counter() - start, reason))
    return findings, outcomes
