"""Verified fixes: apply a finding's fix to a copy of the subject and re-run the training probe.

The "before" numbers come from the training probe already run at the user's settings; the
"after" numbers from the same probe (same budget, seed and slices) on the fixed copy. Causes
are tried in diagnosis order, at most the budget's ``verify_fixes`` of them: a count, never a
time, so the same command and seed verify the same fixes on a busy machine. What is cut is
said in a note. The only time limit is each probe's own safety net (``probes.budget.time_cap``):
a verification whose probe it stops (or whose "before" probe it stopped) is marked "not
verified: time cap" with the steps reached, never given numbers from a truncated run. The
seconds each verification took go to the report's timings, not into the finding. The user's
files and weights are never touched.
"""

from __future__ import annotations

import dataclasses
import time

from ..context import Context
from ..errors import CnndoctorError, FactUnavailable
from ..findings import Finding
from ..probes.budget import probe_budget_for
from .causes import row_for
from .fixes import fix_for

__all__ = ["verify_fixes", "NOT_VERIFIED_TIME_CAP"]

NOT_VERIFIED_TIME_CAP = "not verified: time cap"


def _probe(ctx: Context):
    try:
        run = ctx.get("training_probe")
    except (FactUnavailable, CnndoctorError) as exc:
        return None, str(exc)
    if run.error:
        return run, run.error
    return run, None


def _round(x):
    return None if x is None else round(float(x), 4)


def verify_fixes(ctx: Context, findings: list[Finding]) -> tuple[list[Finding], dict]:
    """Return the findings with ``verified`` filled where a fix was applied and probed, and the runs.

    The second value maps a code to ``(before_run, after_run)`` for the figures.
    """
    max_fixes = probe_budget_for(ctx.budget).verify_fixes  # a count from the budget, never a time
    if not ctx.computed("training_probe") and ctx.failure("training_probe") is None:
        return findings, {}  # the probes were not selected: nothing to compare with
    before, before_error = _probe(ctx)
    out, runs, tried, cut = [], {}, 0, []
    for f in findings:
        # the causes table says which causes have a fix a registered fixer applies (never a symptom)
        fixer = fix_for(f.code) if row_for(f.code).verifiable else None
        if fixer is None or f.explained_by:
            out.append(f)
            continue
        if tried >= max_fixes:
            cut.append(f.code)
            out.append(f)
            continue
        tried += 1
        t0 = time.perf_counter()
        try:
            applied = fixer(ctx.subject, ctx, f)
        except Exception as exc:  # a fixer that cannot apply here must not stop the report
            ctx.note(f"The automatic fix for {f.code} could not be applied ({type(exc).__name__}: {exc}).")
            out.append(f)
            continue
        if applied is None:
            out.append(f)
            continue
        fixed_subject, description = applied
        fixed_ctx = Context(fixed_subject, budget=ctx.budget, progress=ctx.progress, verbose=ctx.verbose,
                            thresholds=ctx.thresholds)
        if ctx.progress is not None:
            ctx.progress(f"verifying the fix for {f.code}: {description}")
        try:
            after, after_error = _probe(fixed_ctx)
        except Exception as exc:  # the fixed copy may fail in ways the original did not; never stop the report
            ctx.note(f"The fix for {f.code} ({description}) could not be probed ({type(exc).__name__}: {exc}).")
            out.append(f)
            continue
        ctx.timings[f"verify.{f.code}.seconds"] = time.perf_counter() - t0
        capped = [(what, run) for what, run in (("at your settings", before), ("on the fixed copy", after))
                  if run is not None and run.truncated]
        if capped:  # numbers from a truncated run would change with the machine's load
            what, run = capped[0]
            out.append(dataclasses.replace(f, verified={
                "fix": description, "status": NOT_VERIFIED_TIME_CAP, "metric": "held-out accuracy",
                "steps": run.steps, "max_steps": run.max_steps,
                "note": f"the training probe {what} stopped at its time cap after {run.steps} of {run.max_steps} "
                        "steps"}))
            continue
        verified = {
            "fix": description,
            "metric": "held-out accuracy",
            "before": _round(before.held_out_accuracy) if before is not None else None,
            "after": _round(after.held_out_accuracy) if after is not None else None,
            "loss_before": _round(before.held_out_loss) if before is not None else None,
            "loss_after": _round(after.held_out_loss) if after is not None else None,
            "steps": after.steps if after is not None else 0,
        }
        if before_error:
            verified["before_note"] = before_error
        if after_error:
            verified["after_note"] = after_error
        runs[f.code] = (before, after)
        out.append(dataclasses.replace(f, verified=verified))
    if cut:
        ctx.note(f"Fixes not verified within the {ctx.budget} budget (at most {max_fixes}): "
                 f"{', '.join(cut)}; use --budget thorough to verify more.")
    return out, runs
