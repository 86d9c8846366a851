"""From findings to an answer: causal order, the primary root cause and a headline with numbers."""

from __future__ import annotations

import re
from typing import Iterable

import numpy as np

from .findings import Finding, Severity

__all__ = ["causal_rank", "order_findings", "build_diagnosis"]


def causal_rank(code: str) -> int:
    """Where a code sits in the causal chain; lower ranks are causes of higher ones.

    A model that cannot run comes first, then labels/outputs/loss, then data corruption and
    layout, then leakage and scaling, then architecture, then optimisation (the probes).
    """
    if code == "A101":
        return 0
    if code.startswith("L") and code != "L205":
        return 1
    if code in ("D101", "D104") or code.startswith("D3"):
        return 2
    if code.startswith("D"):
        return 3
    if code.startswith("A"):
        return 4
    return 5


def order_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Errors before warnings before infos; within a severity, causes before symptoms."""
    return sorted(findings, key=lambda f: (-int(f.severity), causal_rank(f.code), f.code))


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%" if x >= 0.01 else f"{100 * x:.1f}%"


def build_diagnosis(findings: list[Finding], labels, *, reference: dict | None = None) -> dict:
    """The diagnosis block of the report: primary code, headline and the numbers behind it."""
    k = labels.n_classes
    counts = np.bincount(labels.train - labels.train.min()) if len(labels.train) else np.array([1])
    majority = float(counts.max() / counts.sum()) if counts.sum() else float("nan")
    chance = 1.0 / k if k else float("nan")
    out = {"primary": None, "headline": "", "chance_accuracy": round(chance, 4),
           "majority_class_rate": round(majority, 4), "n_classes": k}
    if reference:
        out["reference"] = reference
    if not findings:
        out["headline"] = ("No problem found: the data, labels, architecture and loss pass every check that ran. "
                           f"For reference, chance is {_pct(chance)} for {k} classes and always predicting the "
                           f"majority class scores {_pct(majority)}.")
        return out
    primary = findings[0]
    out["primary"] = primary.code
    if primary.severity >= Severity.ERROR:
        symptom = (f"Expect accuracy near chance ({_pct(chance)} for {k} classes; always predicting the "
                   f"majority class gives {_pct(majority)}) or a run that fails")
    elif primary.severity == Severity.WARNING:
        symptom = "Expect slow, unstable or misleading training"
    else:
        symptom = "Nothing blocks training, but one thing is worth a look"
    out["cause"] = first_sentence(primary.message)
    out["headline"] = f"{symptom}, because {_lower_first(out['cause'])} ({primary.code} {primary.name})."
    out["symptom"] = symptom
    return out


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
