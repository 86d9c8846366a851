"""GitHub Actions workflow commands: one annotation per finding, pointing at the model file (a finding about
the data and labels alone points at the data file, without a line, or at no file for in-memory data).

``::error file=model.py,line=12,title=cnndoctor D102 unscaled-input::The model is fed ...``

GitHub shows at most ten annotations of each level (error, warning, notice) per step, so the
first ten of each level in diagnosis order are annotated and a plain log line says how many
were left out; the Markdown summary for ``$GITHUB_STEP_SUMMARY`` lists every finding.
"""

from __future__ import annotations

from ..findings import Severity, Status, is_data_code
from ._format import fmt_value

__all__ = ["render_github", "step_summary", "MAX_PER_LEVEL"]

MAX_PER_LEVEL = 10
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
_EVIDENCE_ITEMS = 8


def _escape_data(text: str) -> str:
    # The escaping of @actions/core (toCommandValue / escapeData).
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _command(level: str, message: str, **properties) -> str:
    props = ",".join(f"{k}={_escape_property(str(v))}" for k, v in properties.items() if v is not None)
    return f"::{level}{' ' + props if props else ''}::{_escape_data(message)}"


def _evidence_line(evidence) -> str:
    items = list(evidence.items())
    text = ", ".join(f"{k}={fmt_value(v, limit=4)}" for k, v in items[:_EVIDENCE_ITEMS])
    return text + (", …" if len(items) > _EVIDENCE_ITEMS else "")


def render_github(report, *, max_per_level: int = MAX_PER_LEVEL) -> str:
    """Annotations for the findings (then errored checks), in diagnosis order, and a closing log line."""
    file = report.subject.get("model_file")
    line = report.subject.get("model_line") if file else None
    data_file = report.subject.get("data_file")
    entries = []
    for f in report.findings:
        body = f.message
        if f.evidence:
            body += f"\nEvidence: {_evidence_line(f.evidence)}"
        body += f"\nFix: {f.fix}"
        if f.location:
            body += f"\nAt: {f.location}"
        where = (data_file, None) if is_data_code(f.code) else (file, line)
        entries.append((_LEVEL.get(f.severity, "warning"), f"cnndoctor {f.code} {f.name}", body, where))
    for c in report.checks:
        if c.status == Status.ERRORED:
            reason = (c.reason or "").splitlines()[0] if c.reason else "no reason recorded"
            entries.append(("warning", f"cnndoctor {c.code} {c.name} errored",
                            f"The check {c.code} crashed and could not judge this model: {reason}", (file, line)))
    shown: dict[str, int] = {}
    left: dict[str, int] = {}
    lines = []
    for level, title, body, (at_file, at_line) in entries:
        if shown.get(level, 0) < max_per_level:
            shown[level] = shown.get(level, 0) + 1
            lines.append(_command(level, body, file=at_file, line=at_line, title=title))
        else:
            left[level] = left.get(level, 0) + 1
    if left:
        counts = ", ".join(f"{n} {level}{'s' if n != 1 else ''}" for level, n in left.items())
        lines.append(f"cnndoctor: {counts} not annotated (GitHub shows at most {max_per_level} annotations of each "
                     "level per step); the step summary and `--format json` list every finding.")
    headline = report.diagnosis.get("headline", "")
    lines.append(f"cnndoctor: {report.summary_line()}" + (f" · {headline}" if headline else ""))
    return "\n".join(lines) + "\n"


def step_summary(report) -> str:
    """The Markdown appended to ``$GITHUB_STEP_SUMMARY`` (the job page shows it)."""
    return report.to_markdown()
