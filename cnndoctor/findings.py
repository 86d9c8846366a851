"""The plain data a run produces: severities, findings and per-check outcomes."""

from __future__ import annotations

import enum
import numbers
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = ["Severity", "Finding", "CheckOutcome", "Status", "DOCS_PAGE", "docs_anchor", "docs_url",
           "is_data_code", "pct", "first_sentence", "VERIFIED", "NOT_VERIFIED", "NO_RESULT", "VERIFY_STATUSES"]

# Where each check is documented; generated from the docstrings by ``python -m cnndoctor.docs``.
DOCS_PAGE = "docs/checks.md"


def is_data_code(code: str) -> bool:
    """Whether a check judges the data and labels alone (D…, L1…), not the model: its finding points at the data."""
    return code.startswith("D") or code.startswith("L1")


def docs_anchor(code: str, name: str) -> str:
    """The Markdown anchor of a check's section in ``DOCS_PAGE`` (GitHub's heading slug)."""
    return f"{code}-{name}".lower()


def docs_url(code: str, name: str) -> str | None:
    """``docs/checks.md#d102-unscaled-input``, or None for a finding not yet named by the runner."""
    return f"{DOCS_PAGE}#{docs_anchor(code, name)}" if code and name else None


def pct(value, *, small: bool = False) -> str:
    """A fraction as a whole percent in a sentence: 0.42 -> "42%"; "n/a" for None or anything not a number.

    ``small=True`` keeps one decimal under 1% (0.004 -> "0.4%"), so a small share never reads as "0%"; an
    exact 0 is still "0%". Messages, headlines and reporters all write percentages with this.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return "n/a"
    if small and value < 0.01 and value != 0:
        return f"{100 * value:.1f}%"
    return f"{100 * value:.0f}%"


def first_sentence(text: str) -> str:
    """The first sentence of ``text``, without its final full stop (a ``.`` inside a number does not end it)."""
    match = re.search(r"[.!?](\s|$)", text)
    sentence = text[: match.start()] if match else text
    return sentence.rstrip(".: ")


class Severity(enum.IntEnum):
    """How bad a finding is; ordered so that ``ERROR > WARNING > INFO``."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    @classmethod
    def parse(cls, value: "Severity | str") -> "Severity":
        if isinstance(value, Severity):
            return value
        try:
            return cls[str(value).strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {value!r}: use info, warning or error") from None

    def __str__(self) -> str:
        return self.name.lower()

    def __eq__(self, other) -> bool:  # lets users write `finding.severity == "error"`
        if isinstance(other, str):
            return self.name.lower() == other.strip().lower()
        return int(self) == other

    __hash__ = enum.IntEnum.__hash__


# How a fix's verification ends (``Finding.verified["status"]`` and the diagnosis's ``combined["status"]``), with
# a ``reason`` beside it. ``diagnosis/verify.py`` decides which applies; the headline and the reporters read it.
# "verified": the fixed probe clearly beats chance and the unfixed probe; "not verified": it ran and does not;
# "no result": a probe gave no number to judge.
VERIFIED, NOT_VERIFIED, NO_RESULT = "verified", "not verified", "no result"
VERIFY_STATUSES = (VERIFIED, NOT_VERIFIED, NO_RESULT)


class Status(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    ERRORED = "errored"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Finding:
    """One problem a check found, with the numbers behind it and what to do.

    Checks build findings with ``message``, ``evidence`` and ``fix``; the runner fills in
    ``code``, ``name`` and (unless the check chose one) ``severity`` from the registration.
    """

    message: str
    evidence: Mapping[str, Any]
    fix: str
    snippet: str | None = None
    location: str | None = None
    severity: Severity | None = None
    code: str = ""
    name: str = ""
    verified: Mapping[str, Any] | None = None
    related: tuple[str, ...] = field(default=())  # symptoms this cause explains
    explained_by: str | None = None  # the cause this symptom is attributed to
    # why the severity differs from the check's registered one: the check's own rule (D102 past error_factor), or
    # the diagnosis (a warning the training probe refutes lowered to info, a primary cause raised to error by its
    # measured consequence); the runner fills a plain one when a check changes it without saying why
    severity_reason: str | None = None
    # the evidence keys that are thresholds the check judged against (its keyword-only parameters, as the runner
    # passed them), so reporters show the measured values apart from the limits they were compared with
    threshold_keys: tuple[str, ...] = field(default=())

    @property
    def measured(self) -> dict[str, Any]:
        """The evidence without the thresholds: what was measured (or read from the subject)."""
        return {k: v for k, v in self.evidence.items() if k not in self.threshold_keys}

    @property
    def judged_against(self) -> dict[str, Any]:
        """The thresholds among the evidence, in evidence order: what the measured values were compared with."""
        return {k: v for k, v in self.evidence.items() if k in self.threshold_keys}

    @property
    def summary(self) -> str:
        """The one line a symptom folded under its cause shows: the message's first sentence, or, when that
        sentence opens with a lead-in that holds no number ("Most ReLU units are dead …: in features.4, 62 of 64
        channels never activate"), what follows the lead-in's colon, so the line starts with what was measured
        (the code and name beside it already say what the lead-in says)."""
        sentence = first_sentence(self.message)
        lead, colon, rest = sentence.partition(": ")
        if colon and not re.search(r"\d", lead) and re.search(r"\d", rest):
            return rest
        return sentence

    def __str__(self) -> str:
        """``ERROR D102 unscaled-input: <message>`` then ``fix: <fix>`` — what ``print(finding)`` shows."""
        head = " ".join(p for p in (str(self.severity).upper() if self.severity else "", self.code, self.name) if p)
        text = f"{head}: {self.message}" if head else self.message
        if self.explained_by:
            text += f" (a symptom of {self.explained_by})"
        return f"{text}\nfix: {self.fix}"

    def __repr__(self) -> str:
        first = self.message if len(self.message) <= 80 else self.message[:77].rstrip() + "..."
        return f"<Finding {self.code or '?'} {self.name} {self.severity}: {first!r}>"

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "severity": str(self.severity),
            "message": self.message,
            "evidence": dict(self.evidence),
            "fix": self.fix,
            "snippet": self.snippet,
            "location": self.location,
            "related": list(self.related),
            "explained_by": self.explained_by,
            "severity_reason": self.severity_reason,
            "threshold_keys": list(self.threshold_keys),
            "verified": dict(self.verified) if self.verified is not None else None,
            "url": docs_url(self.code, self.name),
        }


@dataclass(frozen=True)
class CheckOutcome:
    """What happened when one check ran: passed, failed, skipped (with reason) or errored."""

    code: str
    name: str
    status: Status
    seconds: float
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "status": str(self.status),
            "seconds": round(self.seconds, 4),
            "reason": self.reason,
        }
