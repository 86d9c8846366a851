"""The report: plain data about one diagnosis. Reporters render it; it computes nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from .findings import CheckOutcome, Finding, Severity, Status

__all__ = ["Report", "SCHEMA", "FAIL_ON"]

SCHEMA = "cnndoctor.report/1"
FAIL_ON = ("error", "warning", "info", "never")


@dataclass
class Report:
    version: str
    subject: dict[str, Any]
    diagnosis: dict[str, Any]
    findings: list[Finding]
    checks: list[CheckOutcome]
    timings: dict[str, float] = field(default_factory=dict)
    trace: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    figures: list[Any] = field(default_factory=list)
    # the learning-rate range test's advice whenever it ran (probes/lr_range.suggested_range), else None
    lr_range: dict[str, Any] | None = None
    # warnings raised while cnndoctor ran the user's code, one dict per distinct warning: category, message,
    # origin (torch, your code, ...), location, user_line, phases (guard/user_warnings.CapturedWarning)
    warnings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def primary(self) -> Finding | None:
        return self.findings[0] if self.findings else None

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def errored_checks(self) -> list[CheckOutcome]:
        return [c for c in self.checks if c.status == Status.ERRORED]

    def passed(self, fail_on: str = "error") -> bool:
        """True when no finding is at or above ``fail_on`` (error, warning, info, never).

        A run whose measured consequence is a failure (``diagnosis.consequence``: the training probe
        sits at chance, is not learning, and a baseline clearly learns) never passes, even when no
        check that ran named its cause: the gate follows the consequence, not the findings alone.
        """
        if fail_on not in FAIL_ON:
            raise ValueError(f"fail_on must be one of {FAIL_ON}, not {fail_on!r}")
        if fail_on == "never":
            return True
        if self.diagnosis.get("consequence"):
            return False
        floor = Severity.parse(fail_on)
        return not any(f.severity >= floor for f in self.findings)

    @staticmethod
    def fails_run(finding: Finding, fail_on: str = "error") -> bool:
        """Whether ``finding`` alone fails the run at ``fail_on`` (what ``passed`` counts; CI formats mark it)."""
        if fail_on not in FAIL_ON:
            raise ValueError(f"fail_on must be one of {FAIL_ON}, not {fail_on!r}")
        return fail_on != "never" and finding.severity >= Severity.parse(fail_on)

    def summary_line(self) -> str:
        """``2 errors, 1 warning · primary cause: L202 · 14.2 s`` (pytest-style closing line)."""
        parts = []
        for sev, word in ((Severity.ERROR, "error"), (Severity.WARNING, "warning"), (Severity.INFO, "info")):
            n = self.count(sev)
            if n:
                parts.append(f"{n} {word}{'s' if n != 1 and word != 'info' else ''}")
        text = ", ".join(parts) if parts else "no problems"
        if self.errored_checks:
            n = len(self.errored_checks)
            text += f", {n} check{'s' if n != 1 else ''} errored"
        if self.primary is not None:
            text += f" · primary cause: {self.primary.code}"
        total = self.timings.get("total")
        if total is not None:
            text += f" · {total:.1f} s"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "version": self.version,
            "subject": self.subject,
            "diagnosis": self.diagnosis,
            "findings": [f.to_dict() for f in self.findings],
            "checks": [c.to_dict() for c in self.checks],
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "trace": self.trace,
            "notes": list(self.notes),
            "lr_range": self.lr_range,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Report":
        """The report ``to_dict`` wrote (``cnndoctor run --format json``, ``w.save(...)``), read back.

        ``Report.from_dict(r.to_dict()).to_dict() == r.to_dict()``; figures are not part of the JSON, so a
        report read back has none. Raises ``ValueError`` for anything that is not such a report.
        """
        if not isinstance(data, Mapping) or data.get("schema") != SCHEMA:
            found = data.get("schema") if isinstance(data, Mapping) else type(data).__name__
            raise ValueError(f"not a cnndoctor report (schema {SCHEMA!r} expected, found {found!r})")
        try:
            known = {f.name for f in fields(cls)} - {"findings", "checks", "figures"}
            kept = {k: data[k] for k in known if k in data}
            return cls(findings=[_finding(f) for f in data["findings"]], checks=[_outcome(c) for c in data["checks"]],
                       **kept)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"a cnndoctor report with a missing or malformed part ({type(exc).__name__}: {exc})") \
                from None

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=_json_default)

    def to_markdown(self) -> str:
        from .reporters.markdown import render_markdown

        return render_markdown(self)

    def to_text(self, width: int = 100, color: bool = False, verbose: bool = False) -> str:
        """The terminal report: the story (primary cause in full, symptoms folded to a line each, other causes,
        info in a line each); ``verbose=True`` adds the shape trace, skipped checks and every finding in full."""
        from .reporters.terminal import render_text

        return render_text(self, width=width, color=color, verbose=verbose)

    def __rich_console__(self, console, options):
        from .reporters.terminal import renderables

        yield from renderables(self)

    def to_html(self) -> str:
        """One self-contained HTML document, figures embedded."""
        from .reporters.html import render_html_report

        return render_html_report(self)

    def save_html(self, path) -> None:
        from pathlib import Path

        Path(path).write_text(self.to_html(), encoding="utf-8")

    def _repr_mimebundle_(self, include=None, exclude=None):
        """Jupyter shows one output: the HTML report (figures included), with the headline and the closing
        line as its plain-text form (what a text-only front end shows; ``to_text()`` has it all)."""
        from .reporters.html import render_html_report

        return {"text/plain": str(self), "text/html": render_html_report(self, fragment=True)}

    def __repr__(self) -> str:
        return f"<Report {self.summary_line()}>"

    def __str__(self) -> str:
        """The headline and the closing line — what ``print(report)`` shows (``to_text()`` has it all)."""
        return f"{self.diagnosis.get('headline', '')}\n{self.summary_line()}"


def _finding(data: Mapping[str, Any]) -> Finding:
    """A ``Finding`` from its ``to_dict``: the fields it has (``url`` is derived), tuples and severity restored."""
    names = {f.name for f in fields(Finding)}
    kept = {k: v for k, v in data.items() if k in names}
    kept["severity"] = Severity.parse(data["severity"]) if data.get("severity") not in (None, "None") else None
    for key in ("related", "threshold_keys"):
        if key in kept:
            kept[key] = tuple(kept[key] or ())
    return Finding(**kept)


def _outcome(data: Mapping[str, Any]) -> CheckOutcome:
    return CheckOutcome(data["code"], data["name"], Status(data["status"]), float(data["seconds"]), data.get("reason"))


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    if isinstance(value, Severity):
        return str(value)
    return str(value)
