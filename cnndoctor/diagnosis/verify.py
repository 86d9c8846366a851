"""Verified fixes: apply a finding's fix to a copy of the subject and re-run the training probe.

The "before" numbers come from the training probe already run at the user's settings; the
"after" numbers from the same probe (same budget, seed, steps and slices) on the fixed copy.
Each cause's fix is verified alone against that one unfixed probe; where two or more causes'
fixes were verified alone, their fixes composed on one copy (in diagnosis order, each fixer
seeing the subject the previous ones left) are verified too, as the diagnosis's ``combined``.
How many probe re-runs that takes is the budget's ``verify_fixes``: a count, never a time
(``probes.budget.fixes_verified_alone`` says how it is shared), so the same command and seed
verify the same fixes on a busy machine. What is cut is said in a note.

Each verification ends in one status of ``findings.VERIFY_STATUSES`` with its reason
(``judge``): *verified* only when the fixed probe's held-out balanced accuracy is clearly above
chance (outside the chance band the gate uses, ``order.ChanceRule``) and clearly above the
unfixed probe's (by more than ``GAIN_Z`` standard errors of the difference); *not verified*
when it ran and is not; *no result* when a probe gave no number. A probe stopped by its time cap
(``probes.budget.time_cap``) gives no number: never numbers from a truncated run. The seconds each
verification took go to the report's timings, not into the finding. The user's files and weights
are never touched.
"""

from __future__ import annotations

import dataclasses
import math
import time

from ..context import Context
from ..errors import CnndoctorError, FactUnavailable
from ..findings import NO_RESULT, NOT_VERIFIED, VERIFIED, Finding, pct
from ..measure.baselines import balanced_chance_se
from ..probes.budget import fixes_verified_alone, probe_budget_for
from .causes import row_for
from .fixes import fix_for
from .order import ChanceRule, at_chance

__all__ = ["verify_fixes", "judge", "measured", "Measured", "gain_band", "GAIN_Z"]

# A fix beats the unfixed probe when the fixed probe's balanced accuracy exceeds the unfixed one's by more than
# GAIN_Z standard errors of their difference. A balanced accuracy is the mean of K per-class recalls, each a
# binomial proportion on that class's held-out count n_k; its variance taken at the run's own balanced accuracy p,
# sum_k p(1-p)/n_k / K^2, is at least the true one (p(1-p) is concave), and the two runs are taken as independent,
# which overstates the spread of two runs scored on the same samples. Two such SEs: a gain that mere noise in the
# held-out sample would show about once in forty (one-sided).
GAIN_Z = 2.0


@dataclasses.dataclass(frozen=True)
class Measured:
    """What one training probe gave to judge a fix by: its numbers, or why it gave none (``why``)."""

    accuracy: float | None = None  # held-out accuracy, as the report shows it
    balanced: float | None = None  # held-out balanced accuracy: what the verdict is taken on
    loss: float | None = None
    counts: dict | None = None  # held-out samples per class the balanced accuracy was taken on
    n_classes: int = 0
    steps: int = 0
    max_steps: int = 0
    why: str | None = None  # why there is no number (the probe failed, stopped at its time cap, ...)
    truncated: bool = False  # its time cap stopped it: it says nothing either way


def _round(x):
    return None if x is None else round(float(x), 4)


def measured(ctx: Context) -> Measured:
    """The training probe of ``ctx``'s subject, reduced to what a verdict needs; never numbers from a run that
    failed or that its time cap stopped."""
    k = int(ctx.subject.labels.n_classes or 0)
    try:
        run = ctx.get("training_probe")
    except (FactUnavailable, CnndoctorError) as exc:
        return Measured(n_classes=k, why=str(exc).rstrip("."))
    if run.error:
        return Measured(n_classes=k, steps=run.steps, max_steps=run.max_steps, why=str(run.error).rstrip("."))
    if run.truncated:
        return Measured(n_classes=k, steps=run.steps, max_steps=run.max_steps, truncated=True,
                        why=f"it stopped at its time cap after {run.steps} of {run.max_steps} steps")
    if run.balanced_accuracy is None:
        return Measured(n_classes=k, steps=run.steps, max_steps=run.max_steps,
                        why="it measured no held-out predictions")
    return Measured(accuracy=_round(run.held_out_accuracy), balanced=_round(run.balanced_accuracy),
                    loss=_round(run.held_out_loss), counts={str(c): int(n) for c, n in run.true_counts.items()},
                    n_classes=k, steps=run.steps, max_steps=run.max_steps)


def _standard_error(m: Measured) -> float:
    se = balanced_chance_se(m.balanced, (m.counts or {}).values())  # the formula at p = m.balanced (see GAIN_Z)
    return 0.0 if math.isnan(se) else se


def gain_band(before: Measured, after: Measured) -> float:
    """How much the fixed probe's balanced accuracy must exceed the unfixed one's to beat it (``GAIN_Z``)."""
    return GAIN_Z * math.hypot(_standard_error(before), _standard_error(after))


def judge(before: Measured, after: Measured, rule: ChanceRule) -> dict:
    """The status of a verification, its reason, and the bands it was judged with."""
    if after.balanced is None:
        if before.balanced is None and before.why == after.why:
            reason = f"neither probe gave a number, both for one reason: {after.why}"
        elif before.balanced is None:
            reason = f"neither probe gave a number (at your settings: {before.why}; with the fix: {after.why})"
        else:
            reason = f"the probe with the fix gave no number: {after.why}"
        return {"status": NO_RESULT, "reason": reason}
    k = after.n_classes
    probe = {"balanced_accuracy": after.balanced, "n_classes": k, "n_per_class": after.counts}
    band = rule.probe_band(probe)  # the band the gate's "at chance" uses (ChanceRule), not a copy of it
    if band is None:
        return {"status": NO_RESULT, "reason": "the held-out predictions cover fewer than two classes"}
    chance = 1.0 / k
    out = {"chance": round(chance, 4), "chance_band": round(band, 4)}
    if at_chance(probe, rule):
        return {**out, "status": NOT_VERIFIED,
                "reason": f"still at chance: balanced accuracy {pct(after.balanced)} vs {pct(chance)} chance (up to "
                          f"{pct(chance + band)} counts as chance on these held-out samples)"}
    if before.balanced is None:
        if before.truncated:  # a run that says nothing either way: nothing to compare with
            return {**out, "status": NO_RESULT,
                    "reason": f"the probe at your settings gave no number to compare with: {before.why}"}
        return {**out, "status": VERIFIED,
                "reason": f"balanced accuracy {pct(after.balanced)}, clearly above {pct(chance)} chance, where the "
                          f"probe at your settings could not train ({before.why})"}
    margin = gain_band(before, after)
    out["gain_band"] = round(margin, 4)
    if after.balanced - before.balanced <= margin:
        n = sum((after.counts or {}).values())
        return {**out, "status": NOT_VERIFIED,
                "reason": f"no better than unfixed: balanced accuracy {pct(after.balanced)} vs {pct(before.balanced)} "
                          f"(a gain under {100 * margin:.0f} points is noise on {n} held-out samples)"}
    return {**out, "status": VERIFIED,
            "reason": f"balanced accuracy {pct(after.balanced)}, clearly above {pct(chance)} chance and the "
                      f"{pct(before.balanced)} of the probe at your settings"}


def _record(description: str, before: Measured, after: Measured, rule: ChanceRule) -> dict:
    """The ``verified`` entry of a finding (or the diagnosis's ``combined``): the verdict and its numbers."""
    record = {"fix": description, **judge(before, after, rule), "metric": "held-out accuracy",
              "before": before.accuracy, "after": after.accuracy,
              "balanced_before": before.balanced, "balanced_after": after.balanced,
              "loss_before": before.loss, "loss_after": after.loss,
              "steps": after.steps, "max_steps": after.max_steps}
    if before.why:
        record["before_note"] = before.why
    if after.why:
        record["after_note"] = after.why
    return record


@dataclasses.dataclass
class _Fix:
    finding: Finding
    subject: object
    description: str
    fixer: object


def _apply(ctx: Context, subject, finding: Finding):
    """``(fixed_subject, description)`` from the finding's fixer on ``subject`` (whose facts ``ctx`` measures), None
    when it does not apply here, or the exception it raised."""
    try:
        return fix_for(finding.code)(subject, ctx, finding)
    except Exception as exc:  # a fixer that cannot apply here must not stop the report
        return exc


def _probe(ctx: Context, subject, what: str) -> tuple[Measured, object]:
    """The training probe on ``subject``: what it measured, and the run for the figures (None without numbers)."""
    fixed_ctx = Context(subject, budget=ctx.budget, progress=ctx.progress, verbose=ctx.verbose,
                        thresholds=ctx.thresholds)
    if ctx.progress is not None:
        ctx.progress(f"verifying {what}")
    try:
        after = measured(fixed_ctx)
    except Exception as exc:  # the fixed copy may fail in ways the original did not; never stop the report
        return Measured(n_classes=int(subject.labels.n_classes or 0), why=f"{type(exc).__name__}: {exc}"), None
    return after, (fixed_ctx.training_probe if after.balanced is not None else None)


def _combine(ctx: Context, fixes: list[_Fix]) -> tuple[object, list[str]] | None:
    """The fixes composed on one copy of the subject, in diagnosis order: each fixer sees the subject the previous
    ones left (its facts measured afresh). None, with a note, when one of them does not apply after the others."""
    subject, descriptions = fixes[0].subject, [fixes[0].description]
    for fix in fixes[1:]:
        step_ctx = Context(subject, budget=ctx.budget, verbose=ctx.verbose, thresholds=ctx.thresholds)
        applied = _apply(step_ctx, subject, fix.finding)
        if applied is None or isinstance(applied, Exception):
            why = "" if applied is None else f" ({type(applied).__name__}: {applied})"
            ctx.note(f"The fixes for {' + '.join(f.finding.code for f in fixes)} were not verified together: the fix "
                     f"for {fix.finding.code} does not apply after the others{why}.")
            return None
        subject = applied[0]
        descriptions.append(applied[1])
    return subject, descriptions


def verify_fixes(ctx: Context, findings: list[Finding]) -> tuple[list[Finding], dict, dict | None]:
    """Return the findings with ``verified`` filled where a fix was applied and probed, the runs, and the combined
    verification.

    The second value maps a code to ``(before_run, after_run)`` for the figures. The third is the diagnosis's
    ``combined`` entry (the causes' fixes together, with ``codes`` and ``fixes``) or None when fewer than two
    different fixes were verified alone.
    """
    if not ctx.computed("training_probe") and ctx.failure("training_probe") is None:
        return findings, {}, None  # the probes were not selected: nothing to compare with
    budget = probe_budget_for(ctx.budget)  # a count of probe re-runs from the budget, never a time
    rule = ChanceRule.for_thresholds(ctx.thresholds)  # the gate's chance rule, with the user's overrides
    before = measured(ctx)
    before_run = ctx.training_probe if ctx.computed("training_probe") else None
    # the causes table says which causes have a fix a registered fixer applies (never a symptom)
    candidates = [f for f in findings if row_for(f.code).verifiable and fix_for(f.code) and not f.explained_by]
    fixes: list[_Fix] = []
    for f in candidates:
        applied = _apply(ctx, ctx.subject, f)
        if isinstance(applied, Exception):
            ctx.note(f"The automatic fix for {f.code} could not be applied ({type(applied).__name__}: {applied}).")
        elif applied is not None:
            fixes.append(_Fix(f, applied[0], applied[1], fix_for(f.code)))
    # causes whose fixes are the same change (D102 and D105 both standardise) share one run
    distinct: dict[tuple, _Fix] = {}
    for fix in fixes:
        distinct.setdefault((fix.fixer, fix.description), fix)
    n_alone = fixes_verified_alone(budget, len(distinct))
    alone = list(distinct.values())[:n_alone]
    cut = [fix.finding.code for fix in fixes if (fix.fixer, fix.description) not in
           {(a.fixer, a.description) for a in alone}]
    results: dict[tuple, tuple[dict, object]] = {}
    for fix in alone:
        t0 = time.perf_counter()
        after, after_run = _probe(ctx, fix.subject, f"the fix for {fix.finding.code}: {fix.description}")
        ctx.timings[f"verify.{fix.finding.code}.seconds"] = time.perf_counter() - t0
        results[(fix.fixer, fix.description)] = (_record(fix.description, before, after, rule), after_run)
    verified: dict[int, dict] = {}  # by finding: two findings of one code are two causes
    runs = {}
    for fix in fixes:
        result = results.get((fix.fixer, fix.description))
        if result is not None:
            verified[id(fix.finding)] = result[0]
            if result[1] is not None:  # a fixed run that gave numbers, for the before/after figure
                runs[fix.finding.code] = (before_run, result[1])
    out = [dataclasses.replace(f, verified=verified[id(f)]) if id(f) in verified else f for f in findings]
    combined = None
    together = [fix for fix in alone if (fix.fixer, fix.description) in results]
    if len(together) >= 2:
        composed = _combine(ctx, together)
        if composed is not None:
            codes = [fix.finding.code for fix in together]
            t0 = time.perf_counter()
            after, _ = _probe(ctx, composed[0], f"the fixes for {' + '.join(codes)} together")
            ctx.timings["verify.combined.seconds"] = time.perf_counter() - t0
            combined = {"codes": codes, "fixes": composed[1],
                        **_record(" and ".join(composed[1]), before, after, rule)}
    if cut:
        ctx.note(f"Fixes not verified within the {ctx.budget} budget (at most {budget.verify_fixes} probe re-runs, "
                 f"alone and combined): {', '.join(cut)}; use --budget thorough to verify more.")
    return out, runs, combined
