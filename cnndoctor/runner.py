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


def _normalise(spec: CheckSpec, item: Any, options: Mapping[str, Any]) -> Finding:
    """The finding as the report keeps it: named by the registration, its severity filled in (with a reason
    whenever it differs from the catalogue's default) and the evidence keys that are thresholds recorded."""
    if not isinstance(item, Finding):
        raise TypeError(f"{spec.code} yielded {type(item).__name__}, not a Finding")
    if not item.evidence:
        raise ValueError(f"{spec.code} yielded a finding without evidence")
    if not item.fix:
        raise ValueError(f"{spec.code} yielded a finding without a fix")
    severity = item.severity or spec.severity
    reason = item.severity_reason
    if severity != spec.severity and not reason:
        # the check chose another severity than its registration without saying why: say at least that it did
        reason = (f"{'raised' if severity > spec.severity else 'lowered'} from {spec.severity}, the catalogue's "
                  f"default, by the check's own rule (`cnndoctor explain {spec.code}`)")
    # a threshold is a keyword-only parameter the check was given; the check may name more (a derived limit)
    keys = tuple(dict.fromkeys([*item.threshold_keys, *(k for k in item.evidence if k in options)]))
    return dataclasses.replace(item, code=spec.code, name=spec.name, severity=severity, severity_reason=reason,
                               threshold_keys=keys)


def run_checks(ctx: Context, specs: Iterable[CheckSpec], *, thresholds: Mapping[str, Mapping] | None = None,
               progress=None) -> tuple[list[Finding], list[CheckOutcome]]:
    """Run ``specs`` against ``ctx``; return the findings and one outcome per check.

    ``progress(text, done=, total=)`` (``cnndoctor.progress.RunProgress``) hears each check as it starts, with
    the number of checks finished and the number selected, and once more when all are done."""
    findings: list[Finding] = []
    outcomes: list[CheckOutcome] = []
    thresholds = ctx.thresholds if thresholds is None else thresholds  # api gives the Context the same table
    specs = list(specs)
    for done, spec in enumerate(specs):
        if progress is not None:
            progress(f"{spec.code} {spec.name}", done=done, total=len(specs))
        start = time.perf_counter()
        status, reason, found = Status.PASSED, None, []
        try:
            with phase(f"{spec.code} {spec.name}", kind="check"):  # named in the --timeout message
                args = {name: ctx.get(name) for name in spec.facts}
                options = spec.options(thresholds)
                found = [_normalise(spec, f, options) for f in (spec.func(**args, **options) or ())]
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
    if progress is not None and specs:  # what follows (verifying fixes) reports its steps under this line
        progress("checks done", done=len(specs), total=len(specs))
    return findings, outcomes
