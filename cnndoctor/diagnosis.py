"""From findings to an answer: causes before their symptoms, the primary root cause, a headline.

Findings are grouped into stories: a cause (unscaled input, a softmax before the loss, a
too-high learning rate) and the probe symptoms it explains (cannot overfit a batch,
collapsed predictions, dead units). Stories are ordered by severity, then by measured gain
of a verified fix, then by causal precedence; the first story's cause is the primary root cause.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Iterable

import numpy as np

from .findings import Finding, Severity

__all__ = ["causal_rank", "order_findings", "build_diagnosis", "SYMPTOMS", "EXPLAINS", "first_sentence"]

# Probe observations that are consequences of some other fault more often than faults themselves.
SYMPTOMS = frozenset({"T101", "T102", "T104", "T105", "T204", "T205", "T206", "T207", "T208", "L205", "T203"})

_TRAINING = frozenset({"T101", "T102", "T104", "T105", "T203", "T204", "T205", "T206", "L205"})
# cause -> the symptoms fixing it usually removes
EXPLAINS: dict[str, frozenset] = {
    "D101": _TRAINING | {"T208"},
    "D102": _TRAINING,
    "D103": _TRAINING,
    "D104": frozenset({"T102", "T104", "T105"}),
    "D105": frozenset({"T208"}),
    "D301": _TRAINING | {"T208"},
    "D302": frozenset({"T101", "T104", "T105", "T208"}),
    "D303": frozenset({"T104", "T208"}),
    "L101": _TRAINING,
    "L102": _TRAINING,
    "L105": frozenset({"T101", "T104", "T105", "T208"}),
    "L103": frozenset({"T105"}),
    "L201": _TRAINING,
    "L202": _TRAINING,
    "L203": _TRAINING,
    "L204": _TRAINING,
    "A101": _TRAINING | {"T207", "T208"},
    "A102": _TRAINING | {"T207", "T208"},
    "A103": frozenset({"T101", "T104", "T105"}),
    "A104": frozenset({"T101", "T104", "T105"}),
    "A201": frozenset({"T101", "T104", "T105", "T208"}),
    "A202": frozenset({"T101"}),
    "A203": frozenset({"T207", "T208"}),
    "A204": frozenset({"T101", "T207"}),
    "A205": frozenset({"T208"}),
    "T201": _TRAINING,
    "T202": frozenset({"T101", "T102", "T105", "T205"}),
    "T103": frozenset({"T101", "T102", "T105"}),
    # probe pathologies that explain more generic probe symptoms when no other cause was found
    "T203": frozenset({"T101", "T104", "T105", "T204", "T206", "L205"}),
    "T102": frozenset({"T101", "T104", "T105"}),
    "T205": frozenset({"T101", "T104", "T105"}),
    "T204": frozenset({"T101", "T105", "T206"}),
    "T104": frozenset({"T101", "T105"}),
    "T206": frozenset({"T101", "T104", "T105"}),
}


def causal_rank(code: str) -> int:
    """Where a code sits in the causal chain; lower ranks are causes of higher ones.

    A model that cannot run comes first, then labels/outputs/loss, then data corruption and
    layout, then leakage and scaling, then architecture, then optimisation (the probes).
    """
    if code in ("A101", "A102"):  # a model that cannot run, or whose first layer cannot read the data
        return 0
    if code == "L105":  # "no signal found" is judged after corruption, layout and scaling
        return 3
    if code.startswith("L") and code != "L205":
        return 1
    if code in ("D101", "D104") or code.startswith("D3"):
        return 2
    if code.startswith("D"):
        return 3
    if code.startswith("A"):
        return 4
    if code in SYMPTOMS:
        return 6
    return 5


# Within one causal rank, the more specific explanation first: a wrong loss explains a wrong head
# width, a wrong first-layer in_channels explains the forward error it causes, and among probe
# symptoms with no cause found, a specific pathology (NaN loss, no update at all, an input that is
# ignored, vanishing gradients) says more than "cannot overfit one batch".
_PRECEDENCE = {"A102": -1, "L204": -1, "T203": -6, "T102": -5, "T205": -4, "T204": -3, "T104": -2,
               "T206": -1, "T101": 1}


def explains(cause: Finding, symptom: Finding) -> bool:
    """Whether fixing ``cause`` usually removes ``symptom``: by code, or by where they happen.

    An oversized dense layer (A205) explains the dead units (T206) of the layer right after it:
    thousands of inputs per unit give pre-activations whose scale makes most units die early.
    """
    if symptom.code in EXPLAINS.get(cause.code, ()):
        return True
    if cause.code == "A205" and symptom.code == "T206":
        return symptom.evidence.get("layer") in (cause.evidence.get("followed_by") or ())
    return False


def _gain(f: Finding) -> float:
    """Measured held-out accuracy gain of a verified fix, in 5-point steps (noise below that)."""
    v = f.verified or {}
    before, after = v.get("before"), v.get("after")
    if not isinstance(before, (int, float)) or not isinstance(after, (int, float)):
        return 0.0
    gain = after - before
    return math.floor(gain / 0.05) * 0.05 if gain >= 0.05 else 0.0


def order_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Stories in diagnosis order: each cause followed by the symptoms it explains."""
    findings = list(findings)
    causes = [f for f in findings if f.code not in SYMPTOMS]
    symptoms = [f for f in findings if f.code in SYMPTOMS]
    causes.sort(key=lambda f: (causal_rank(f.code), -int(f.severity), _PRECEDENCE.get(f.code, 0), f.code))
    attached: dict[int, list[Finding]] = {id(c): [] for c in causes}
    loose = []
    for s in sorted(symptoms, key=lambda f: (-int(f.severity), _PRECEDENCE.get(f.code, 0), f.code)):
        owner = next((c for c in causes if explains(c, s)), None)
        if owner is None:
            loose.append(s)
        else:
            attached[id(owner)].append(s)
    # Symptoms no cause explains: the most specific pathology among them heads their story.
    while loose:
        loose.sort(key=lambda f: (_PRECEDENCE.get(f.code, 0), -int(f.severity), f.code))
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
                                 _PRECEDENCE.get(st[0].code, 0), st[0].code))
    return [f for story in stories for f in story]


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%" if x >= 0.01 or x == 0 else f"{100 * x:.1f}%"


def first_sentence(text: str) -> str:
    """The first sentence of ``text``, without its final full stop."""
    match = re.search(r"[.!?](\s|$)", text)
    sentence = text[: match.start()] if match else text
    return sentence.rstrip(".: ")


def _lower_first(text: str) -> str:
    # keep acronyms and code names (`fc`, NaN, X_train) as written
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def _evidence_sentence(probe: dict | None, reference: dict | None) -> str:
    parts = []
    if probe and probe.get("held_out_accuracy") is not None:
        parts.append(f"a {probe.get('steps', 'short')}-step training probe reached "
                     f"{_pct(probe['held_out_accuracy'])} on held-out data")
    if reference and reference.get("accuracy") is not None:
        parts.append(f"a simple baseline ({reference.get('best', 'reference')}) reaches "
                     f"{_pct(reference['accuracy'])}, so the data is "
                     f"{'learnable' if reference.get('accuracy', 0) > reference.get('chance', 0) + 0.1 else 'hard'}")
    return "; ".join(parts)


def build_diagnosis(findings: list[Finding], labels, *, reference: dict | None = None,
                    probe: dict | None = None) -> dict:
    """The diagnosis block of the report: primary code, headline and the numbers behind it."""
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
    numbers = _evidence_sentence(probe, reference)
    if not findings:
        out["headline"] = ("No problem found: the data, labels, architecture and loss pass every check that ran. "
                           f"For reference, chance is {_pct(chance)} for {k} classes and always predicting the "
                           f"majority class scores {_pct(majority)}" + (f"; {numbers}." if numbers else "."))
        return out
    primary = findings[0]
    out["primary"] = primary.code
    story = [f for f in findings if f.explained_by == primary.code]
    worst = max([primary.severity] + [f.severity for f in story])
    if primary.code == "A101":
        symptom = "Training cannot start: the forward pass fails"
    elif worst >= Severity.ERROR:
        symptom = (f"Expect accuracy near chance ({_pct(chance)} for {k} classes; always predicting the "
                   f"majority class gives {_pct(majority)})")
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
    if primary.verified and primary.verified.get("after") is not None:
        v = primary.verified
        start = (f"from {_pct(v['before'])}" if v.get("before") is not None else
                 "from a probe that could not train")
        headline += (f" Verified: {v.get('fix', 'the fix')} took held-out accuracy {start} to "
                     f"{_pct(v['after'])} in a {v.get('steps', '?')}-step probe.")
    out["symptom"] = symptom
    out["headline"] = headline
    return out
