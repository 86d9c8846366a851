"""From findings to an answer: causes before their symptoms, the primary root cause, a headline.

Findings are grouped into stories: a cause (unscaled input, a softmax before the loss, a
too-high learning rate) and the probe symptoms it explains (cannot overfit a batch,
collapsed predictions, dead units). Stories are ordered by severity, then by measured gain
of a verified fix, then by causal precedence; the first story's cause is the primary root cause.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterable

import numpy as np

from ..findings import NO_RESULT, NOT_VERIFIED, VERIFIED, Finding, Severity, first_sentence, pct
from ..measure.baselines import balanced_chance_se
from .causes import CAUSES, row_for
from .causes import explains as _explains

__all__ = ["causal_rank", "order_findings", "build_diagnosis", "SYMPTOMS", "EXPLAINS", "first_sentence",
           "ChanceRule", "AT_CHANCE", "at_chance", "chance_consequence", "unlearnable_consequence", "escalate",
           "LEAKAGE", "CRASHES", "probe_learns", "lower_refuted", "REFUTABLE"]

# Views of the causes table (diagnosis/causes.py), which is where a code's role, rank, precedence and
# what it explains are declared.
SYMPTOMS = frozenset(code for code, r in CAUSES.items() if r.role == "symptom")
# cause -> the symptoms fixing it usually removes (by code; ``explains`` also reads the table's ``explains_where``)
EXPLAINS: dict[str, frozenset] = {code: r.explains for code, r in CAUSES.items() if r.explains}


def causal_rank(code: str) -> int:
    """Where a code sits in the causal chain; lower ranks are causes of higher ones.

    A model that cannot run comes first, then labels/outputs/loss, then data corruption and
    layout, then leakage and scaling, then architecture, then optimisation (the probes), then
    the probe symptoms. The ranks are the causes table's (``causes.RANKS``).
    """
    return row_for(code).rank


def _precedence(code: str) -> int:
    """Within one causal rank, the more specific explanation first (the table's ``precedence``)."""
    return row_for(code).precedence


def _gain(f: Finding) -> float:
    """Measured held-out accuracy gain of a verified fix, in 5-point steps (noise below that)."""
    v = f.verified or {}
    before, after = v.get("before"), v.get("after")
    if not isinstance(before, (int, float)) or not isinstance(after, (int, float)):
        return 0.0
    gain = after - before
    return math.floor(gain / 0.05) * 0.05 if gain >= 0.05 else 0.0


def order_findings(findings: Iterable[Finding], *, probe_at_chance: bool = False) -> list[Finding]:
    """Stories in diagnosis order: each cause followed by the symptoms it explains.

    ``probe_at_chance`` (``at_chance`` of the training probe) lets a cause also explain the symptoms its
    row explains only then (``explains_at_chance``: imbalanced classes and a probe that learned only them).
    """
    findings = list(findings)

    def explains(cause, symptom):
        return _explains(cause, symptom, probe_at_chance=probe_at_chance)

    causes = [f for f in findings if f.code not in SYMPTOMS]
    symptoms = [f for f in findings if f.code in SYMPTOMS]
    causes.sort(key=lambda f: (causal_rank(f.code), -int(f.severity), _precedence(f.code), f.code))
    attached: dict[int, list[Finding]] = {id(c): [] for c in causes}
    loose = []
    for s in sorted(symptoms, key=lambda f: (-int(f.severity), _precedence(f.code), f.code)):
        owner = next((c for c in causes if explains(c, s)), None)
        if owner is None:
            loose.append(s)
        else:
            attached[id(owner)].append(s)
    # Symptoms no cause explains: the most specific pathology among them heads their story.
    while loose:
        loose.sort(key=lambda f: (_precedence(f.code), -int(f.severity), f.code))
        head, rest = loose[0], loose[1:]
        causes.append(head)
        attached[id(head)] = [r for r in rest if explains(head, r)]
        loose = [r for r in rest if not explains(head, r)]
    stories = []
    for c in causes:
        kids = attached[id(c)]
        if kids:
            c = dataclasses.replace(c, related=tuple(dict.fromkeys(k.code for k in kids)))
            kids = [dataclasses.replace(k, explained_by=c.code) for k in kids]
        stories.append([c] + kids)
    stories.sort(key=lambda st: (-max(int(f.severity) for f in st), -_gain(st[0]), causal_rank(st[0].code),
                                 _precedence(st[0].code), st[0].code))
    return [f for story in stories for f in story]


# Causes whose consequence is a misleading test score or a crashed training loop, whatever the probes say:
# the table's ``kind``.
LEAKAGE = frozenset(code for code, r in CAUSES.items() if r.kind == "leak")
CRASHES = frozenset(code for code, r in CAUSES.items() if r.kind == "crash")


@dataclasses.dataclass(frozen=True)
class ChanceRule:
    """When a run fails by its consequence: the training probe sits at chance, the probes show it is not
    learning, and the reference baseline is clearly above chance (issue 13 §5). The gate's thresholds for
    it live here and nowhere else.

    - *At chance*: the probe's held-out balanced accuracy (mean per-class recall, whose chance level is
      1/K however imbalanced the classes) is within ``probe_z`` standard errors of 1/K, or within
      ``probe_margin``, whichever is wider. The standard error is that of a random guesser on the same
      held-out slice, sqrt(sum_k (1/K)(1 - 1/K) / n_k) / K over the n_k samples of each class.
    - *Not learning*, from the probes' own evidence rather than a short run alone: the training probe's
      loss fell by less than ``flat_loss``, became non-finite, or ended no lower than ``stuck_fraction``
      of the input-independent floor (the label entropy of its training slice: what a model that
      ignores its input scores — a loss that fell from a huge start only to that floor learned the
      class frequencies) *and* one batch could not be memorised at the user's lr (accuracy on it below
      ``memorised`` and its loss still above ``stuck_fraction`` of that batch's floor — T101's own
      defaults). A model that merely learns slowly has a loss falling below the floor or memorises
      the batch, and is never escalated — unless its predictions have *collapsed*: one class takes at
      least ``collapsed_share`` of the held-out predictions (T105's ``max_share``). Such a probe learned
      the class frequencies (its loss can fall well below its start doing so, and on imbalanced classes
      even below the floor of its slice) and nothing usable from its input at the user's settings,
      whether or not a class-balanced batch can be memorised.
    - *Baseline clearly above chance*: the best reference baseline beats the trivial rate (the larger of
      1/K and the majority class's share of the test split) by more than ``baseline_z`` binomial standard
      errors on the baseline's test size (the larger of the SEs at the baseline's accuracy and at the
      trivial rate), and by at least ``baseline_margin``.
    """

    probe_z: float = 2.0
    probe_margin: float = 0.05
    flat_loss: float = 0.10
    memorised: float = 0.95  # T101's min_accuracy: see for_thresholds
    stuck_fraction: float = 0.8  # T101's stuck_fraction
    collapsed_share: float = 0.95  # T105's max_share
    baseline_z: float = 3.0
    baseline_margin: float = 0.10

    @classmethod
    def for_thresholds(cls, thresholds: dict | None = None) -> "ChanceRule":
        """The rule with T101's thresholds as registered, or as the user set them: "one batch could not
        be memorised" means what T101 means by it, override included."""
        from ..registry import thresholds_of

        t101 = thresholds_of("T101", thresholds)  # the helper ctx.thresholds_for uses too (T202 reads T101's)
        t105 = thresholds_of("T105", thresholds)
        return cls(memorised=float(t101["min_accuracy"]), stuck_fraction=float(t101["stuck_fraction"]),
                   collapsed_share=float(t105["max_share"]))

    def probe_band(self, probe: dict) -> float | None:
        """How far above 1/K a balanced accuracy still counts as chance; None when unmeasured."""
        k = probe.get("n_classes")
        counts = [int(v) for v in (probe.get("n_per_class") or {}).values() if int(v) > 0]
        if not k or k < 2 or not counts:
            return None
        return max(self.probe_z * balanced_chance_se(1.0 / k, counts), self.probe_margin)

    def baseline_band(self, accuracy: float, trivial: float, n: int, per_class: dict | None = None) -> float:
        """How far above ``trivial`` the baseline must score to be clearly above chance.

        With per-class test counts (balanced accuracy against 1/K) the standard error is that of a
        random guesser's balanced accuracy, as for the probe; otherwise the binomial one at ``n``.
        """
        counts = [int(v) for v in (per_class or {}).values() if int(v) > 0]
        if counts:
            se = balanced_chance_se(trivial, counts)
        else:
            se = math.sqrt(max(accuracy * (1 - accuracy), trivial * (1 - trivial)) / max(1, n))
        return max(self.baseline_z * se, self.baseline_margin)


AT_CHANCE = ChanceRule()


def at_chance(probe: dict | None, rule: ChanceRule = AT_CHANCE) -> bool | None:
    """Whether the training probe's held-out balanced accuracy sits at chance; None when it was not measured."""
    if not probe or probe.get("balanced_accuracy") is None or probe.get("truncated"):
        return None
    band = rule.probe_band(probe)
    if band is None:
        return None
    return probe["balanced_accuracy"] <= 1.0 / probe["n_classes"] + band


def unlearnable_consequence(probe: dict | None, primary: Finding | None, rule: ChanceRule = AT_CHANCE) -> dict | None:
    """The failing consequence when the probe sits at chance and the primary cause is labels that no baseline
    can learn either (L105): no amount of training fixes that, so no "not learning" evidence is needed."""
    if primary is None or primary.code != "L105" or not at_chance(probe, rule):
        return None
    chance = 1.0 / probe["n_classes"]
    reason = (f"the training probe sits at chance (balanced accuracy {probe['balanced_accuracy']:.2f} vs chance "
              f"{chance:.2f}) and no baseline does clearly better: the labels carry no signal a model can learn")
    return {"reason": reason, "balanced_accuracy": round(float(probe["balanced_accuracy"]), 4),
            "chance": round(chance, 4), "probe_band": round(rule.probe_band(probe), 4), "cause": "L105",
            "rule": dataclasses.asdict(rule)}


def chance_consequence(probe: dict | None, reference: dict | None, rule: ChanceRule = AT_CHANCE) -> dict | None:
    """The measured consequence when the run fails by it (at chance, not learning, baseline clearly above
    chance), with the sentence that says so; None otherwise."""
    if not at_chance(probe, rule) or not reference or reference.get("accuracy") is None:
        return None
    drop, nonfinite, over = probe.get("loss_drop"), bool(probe.get("nonfinite")), probe.get("overfit")
    train_loss, floor_loss = probe.get("train_loss"), probe.get("floor_loss")
    at_floor = (train_loss is not None and floor_loss is not None and math.isfinite(train_loss) and floor_loss > 0
                and train_loss >= rule.stuck_fraction * floor_loss)
    flat = nonfinite or (drop is not None and drop < rule.flat_loss) or at_floor
    top_share = probe.get("top_share")
    collapsed = top_share is not None and top_share >= rule.collapsed_share
    if not collapsed:  # a probe still predicting several classes must also show it is not learning
        if not flat or not over or over.get("truncated"):
            return None
        floor, final = over.get("floor_loss"), over.get("final_loss")
        memorised = (over.get("best_accuracy") or 0.0) >= rule.memorised
        stuck = not memorised and (over.get("nonfinite") or over.get("error") or final is None or floor is None
                                   or not math.isfinite(final) or final >= rule.stuck_fraction * floor)
        if not stuck:
            return None
    n_test = int(reference.get("n_test") or 0)
    if reference.get("balanced_accuracy") is not None:  # judged as the probe is: mean recall against 1/K
        accuracy, trivial = float(reference["balanced_accuracy"]), 1.0 / probe["n_classes"]
        band = rule.baseline_band(accuracy, trivial, n_test, reference.get("n_test_per_class"))
    else:
        accuracy = float(reference["accuracy"])
        trivial = max(float(reference.get("chance") or 0.0), float(reference.get("majority") or 0.0))
        band = rule.baseline_band(accuracy, trivial, n_test)
    if accuracy - trivial <= band:
        return None
    chance = 1.0 / probe["n_classes"]
    moved = ("" if drop is None else f"fell {pct(drop, small=True)}" if drop >= 0 else f"rose {pct(-drop, small=True)}")
    if collapsed:
        why = f"it predicts one class for {pct(top_share, small=True)} of the held-out samples"
    else:
        loss = ("the loss became non-finite" if nonfinite else
                f"the loss {moved}" if drop is not None and drop < rule.flat_loss else
                f"the loss {moved + ' but ' if moved else ''}stayed at {train_loss:.3g}, no lower than the "
                f"{floor_loss:.3g} of a model that ignores its input")
        why = f"{loss} and one batch could not be memorised"
    reason = (f"the training probe sits at chance (balanced accuracy {probe['balanced_accuracy']:.2f} vs chance "
              f"{chance:.2f}) while the baseline reaches {accuracy:.2f}; {why}")
    return {"reason": reason, "balanced_accuracy": round(float(probe["balanced_accuracy"]), 4),
            "chance": round(chance, 4), "probe_band": round(rule.probe_band(probe), 4),
            "baseline_accuracy": round(accuracy, 4), "baseline_trivial": round(trivial, 4),
            "baseline_band": round(band, 4), "baseline_test_samples": n_test,
            "baseline_metric": "balanced accuracy" if reference.get("balanced_accuracy") is not None else "accuracy",
            "loss_drop": None if drop is None else round(float(drop), 4), "non_finite": nonfinite,
            "train_loss": None if train_loss is None else round(float(train_loss), 5), "floor_loss": floor_loss,
            "top_prediction_share": top_share, "collapsed": collapsed, "rule": dataclasses.asdict(rule)}


# Warnings that predict trouble in training, which the training probe can refute: the table's ``refutable``.
REFUTABLE = frozenset(code for code, r in CAUSES.items() if r.refutable)


def probe_learns(probe: dict | None, rule: ChanceRule = AT_CHANCE) -> bool:
    """Whether the training probe shows healthy learning: it ran to the end with a finite loss, its loss fell
    by more than the rule's ``flat_loss``, and its held-out balanced accuracy is clearly above chance (above
    the rule's probe band, the same band that decides "at chance")."""
    if not probe or probe.get("nonfinite") or probe.get("loss_drop") is None:
        return False
    return at_chance(probe, rule) is False and probe["loss_drop"] >= rule.flat_loss


def lower_refuted(findings: list[Finding], probe: dict | None, rule: ChanceRule = AT_CHANCE) -> list[Finding]:
    """Refutable warnings as info when the training probe learns (``probe_learns``), with the reason.

    A warning that predicts slow or failed training (``REFUTABLE``) is contradicted by a probe that learns
    clearly above chance; it stays in the report as a note. Errors, leakage, warnings of other kinds, and a
    warning whose verified fix measurably raised the probe's accuracy (``_gain``) keep their severity.
    """
    if not probe_learns(probe, rule):
        return findings
    chance = 1.0 / probe["n_classes"]
    reason = (f"lowered from warning: the training probe contradicts it, reaching a held-out balanced accuracy of "
              f"{pct(probe['balanced_accuracy'], small=True)} (chance {pct(chance, small=True)}, "
              f"{pct(probe.get('held_out_accuracy'), small=True)} accuracy) in {probe.get('steps', '?')} steps")
    out = []
    for f in findings:
        if (f.code in REFUTABLE and f.severity == Severity.WARNING and f.code not in LEAKAGE
                and _gain(f) == 0.0):
            f = dataclasses.replace(f, severity=Severity.INFO, severity_reason=reason)
        out.append(f)
    return out


def escalate(findings: list[Finding], consequence: dict | None) -> list[Finding]:
    """The primary cause as an error when the run fails by its consequence, whatever its default severity.

    ``findings`` are in diagnosis order; the primary story already leads by severity, so raising its
    cause keeps the order. The evidence records why (``escalated``) and from what.
    """
    if not findings or consequence is None or findings[0].severity >= Severity.ERROR:
        return findings
    primary = findings[0]
    raised = dataclasses.replace(primary, severity=Severity.ERROR,
                                 evidence={**primary.evidence, "escalated": consequence["reason"],
                                           "escalated_from": str(primary.severity)},
                                 severity_reason=f"raised from {primary.severity}: {consequence['reason']}")
    return [raised, *findings[1:]]


def _lower_first(text: str) -> str:
    # keep acronyms and code names (`fc`, NaN, X_train) as written
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def _evidence_sentence(probe: dict | None, reference: dict | None) -> str:
    parts = []
    if probe and probe.get("held_out_accuracy") is not None:
        parts.append(f"a {probe.get('steps', 'short')}-step training probe reached "
                     f"{pct(probe['held_out_accuracy'], small=True)} on held-out data")
    if reference and reference.get("accuracy") is not None:
        parts.append(f"a simple baseline ({reference.get('best', 'reference')}) reaches "
                     f"{pct(reference['accuracy'], small=True)}, so the data is "
                     f"{'learnable' if reference.get('accuracy', 0) > reference.get('chance', 0) + 0.1 else 'hard'}")
    return "; ".join(parts)


def _measured_clause(v: dict) -> str:
    """``took held-out accuracy from 10% to 61% in a 100-step probe`` (what a verification measured)."""
    start = (f"from {pct(v['before'], small=True)}" if v.get("before") is not None else
             "from a probe that could not train")
    return (f"took held-out accuracy {start} to {pct(v['after'], small=True)} in a {v.get('steps', '?')}-step "
            "probe")


def _verification_sentence(v: dict | None, combined: dict | None = None) -> str:
    """What the headline says of a verification: "Verified:" only for the status verified, else what was measured
    and why it does not verify, or why there is no number. ``combined`` (the fixes of several causes together)
    is said as such."""
    if not v or v.get("status") not in (VERIFIED, NOT_VERIFIED, NO_RESULT):
        return ""
    fix = v.get("fix", "the fix")
    if combined:
        codes = " + ".join(combined.get("codes", ()))
        if v["status"] == VERIFIED:
            return f" Fixing {codes} together is verified: it {_measured_clause(v)}."
        if v["status"] == NOT_VERIFIED:
            return f" Fixing {codes} together is not verified: it {_measured_clause(v)}; {v.get('reason')}."
        return f" Fixing {codes} together gave no result: {v.get('reason')}."
    if v["status"] == VERIFIED:
        return f" Verified: {fix} {_measured_clause(v)}."
    if v["status"] == NOT_VERIFIED:
        return f" Not verified: {fix} {_measured_clause(v)}; {v.get('reason')}."
    return f" The fix ({fix}) could not be verified: {v.get('reason')}."


def build_diagnosis(findings: list[Finding], labels, *, reference: dict | None = None,
                    probe: dict | None = None, consequence: dict | None = None,
                    combined: dict | None = None) -> dict:
    """The diagnosis block of the report: primary code, headline and the numbers behind it.

    The headline's symptom follows the primary cause's kind and what the probe measured: leakage
    inflates the test score, a crash stops training, and "near chance" is said only when the probe
    sits at chance (or was not run) — never when it reached a clearly better accuracy.
    ``consequence`` is ``chance_consequence(...)`` when the run fails by it; ``combined`` is the verification of
    several causes' fixes together (``verify.verify_fixes``), kept as the diagnosis's ``combined`` entry.
    """
    k = labels.n_classes
    counts = np.bincount(labels.train - labels.train.min()) if len(labels.train) else np.array([1])
    majority = float(counts.max() / counts.sum()) if counts.sum() else float("nan")
    chance = 1.0 / k if k else float("nan")
    out = {"primary": None, "headline": "", "chance_accuracy": round(chance, 4),
           "majority_class_rate": round(majority, 4), "n_classes": k}
    if reference:
        out["reference"] = reference
    if probe:
        out["probe"] = probe
    if consequence:
        out["consequence"] = consequence
    if combined:
        out["combined"] = combined
    numbers = _evidence_sentence(probe, reference)
    if not findings:
        if consequence:  # the checks that would name a cause were not selected (or ignored)
            out["headline"] = (f"No finding among the checks that ran, but {consequence['reason']}: run the "
                               "training-probe checks (T1, T2) to find why." + (f" Evidence: {numbers}."
                                                                               if numbers else ""))
            return out
        out["headline"] = ("No problem found: the data, labels, architecture and loss pass every check that ran. "
                           f"For reference, chance is {pct(chance, small=True)} for {k} classes and always "
                           f"predicting the majority class scores {pct(majority, small=True)}"
                           + (f"; {numbers}." if numbers else "."))
        return out
    primary = findings[0]
    out["primary"] = primary.code
    story = [f for f in findings if f.explained_by == primary.code]
    worst = max([primary.severity] + [f.severity for f in story])
    refuted = [f.code for f in findings if f.severity_reason and f.severity == Severity.INFO]
    if refuted and max(f.severity for f in findings) == Severity.INFO and not consequence:
        out["headline"] = (f"The run looks healthy: {numbers or 'the training probe learns'}. "
                           f"{len(refuted)} warning{'s' if len(refuted) != 1 else ''} about training "
                           f"({', '.join(refuted)}) {'is' if len(refuted) == 1 else 'are'} kept as "
                           "info: the probe contradicts "
                           f"{'it' if len(refuted) == 1 else 'them'}.")
        out["symptom"] = "The run looks healthy"
        out["refuted"] = refuted
        return out
    probe_at_chance = at_chance(probe)
    kind = row_for(primary.code).kind
    if kind == "cannot-start":
        symptom = "Training cannot start: the forward pass fails"
    elif kind == "crash":
        symptom = f"Training crashes {primary.evidence.get('crashes_at', 'during every epoch')}"
    elif kind == "leak":
        symptom = "The test score is inflated"
    elif primary.evidence.get("seeds_diverged") and not consequence:
        symptom = (f"Expect training to diverge on some runs ({primary.evidence['seeds_diverged']} of "
                   f"{primary.evidence.get('seeds_run', '?')} seeds here)")
    elif worst >= Severity.ERROR and (consequence or probe_at_chance is not False) and (consequence or {}).get(
            "collapsed") and majority > chance + consequence["rule"]["probe_margin"]:
        # imbalanced classes: plain accuracy sits at the majority rate and looks good; balanced accuracy tells
        symptom = (f"Expect a model that predicts only the majority class: balanced accuracy near chance "
                   f"({pct(chance, small=True)} for {k} classes) behind a plain accuracy of about "
                   f"{pct(majority, small=True)}, the majority class's share")
    elif worst >= Severity.ERROR and (consequence or probe_at_chance is not False):
        symptom = (f"Expect accuracy near chance ({pct(chance, small=True)} for {k} classes; always predicting the "
                   f"majority class gives {pct(majority, small=True)})")
    elif worst >= Severity.ERROR:  # the probe itself learns: the fault misleads or caps, it does not block
        symptom = "Expect a faulty model"
    elif worst == Severity.WARNING:
        symptom = "Expect slow, unstable or misleading training"
    else:
        symptom = "Nothing blocks training, but one thing is worth a look"
    out["cause"] = first_sentence(primary.message)
    headline = f"{symptom}, because {_lower_first(out['cause'])} ({primary.code} {primary.name})."
    if numbers:
        headline += f" Evidence: {numbers}."
    if story:
        headline += f" It also explains {', '.join(f.code for f in story)}."
    headline += _verification_sentence(primary.verified)
    if combined and primary.code in combined.get("codes", ()):
        headline += _verification_sentence(combined, combined)
    out["symptom"] = symptom
    out["headline"] = headline
    return out
