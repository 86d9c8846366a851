"""Markdown for CI summaries and issue comments."""

from __future__ import annotations

from ..findings import Status
from ._format import (
    WARNINGS_HEADING,
    combined_text,
    fmt_value,
    lr_range_rows,
    sentence_case,
    settings_rows,
    severity_word,
    thresholds_text,
    verified_text,
    warning_text,
)

__all__ = ["render_markdown"]


def render_markdown(report) -> str:
    s = report.subject
    lines = [f"## cnndoctor: {report.summary_line()}", "",
             f"**{s.get('model')}** on **{s.get('data')}** — {s.get('n_train')} train / {s.get('n_test')} "
             f"{s.get('test_label', s.get('test_name', 'test'))}, {s.get('channels')} channel(s) × {s.get('length')} "
             "steps, "
             f"{s.get('classes')} classes, fed {s.get('layout')}", "",
             f"> {report.diagnosis.get('headline', '')}", ""]
    if report.diagnosis.get("combined"):  # the causes' fixes verified together
        lines += [f"**{sentence_case(combined_text(report.diagnosis['combined']))}**", ""]
    rows = settings_rows(s)
    if rows:
        lines += ["<details><summary>Settings the probes ran with</summary>", "", "| setting | value | source |",
                  "|---|---|---|"]
        lines += [f"| {n} | {v.replace('|', '/')} | {src.replace('|', '/')} |" for n, v, src in rows]
        lines += ["", "</details>", ""]
    for note in report.notes:
        lines.append(f"- note: {note}")
    if report.notes:
        lines.append("")
    if report.warnings:
        lines += [f"<details><summary>{len(report.warnings)} {WARNINGS_HEADING}</summary>", ""]
        lines += [f"- {warning_text(w)}" for w in report.warnings]
        lines += ["", "</details>", ""]
    for i, f in enumerate(report.findings, 1):
        lines.append(f"### {i}. {severity_word(f.severity)} `{f.code}` {f.name}")
        lines.append("")
        if f.severity_reason:
            lines += [f"*Severity {f.severity}: {f.severity_reason}.*", ""]
        lines.append(f.message)
        lines.append("")
        if f.measured:
            lines.append("| evidence | value |")
            lines.append("|---|---|")
            for k, v in f.measured.items():
                lines.append(f"| {k} | {fmt_value(v).replace('|', '/')} |")
            lines.append("")
        if f.threshold_keys:
            lines += [f"*Judged against:* {thresholds_text(f).replace('|', '/')}", ""]
        lines.append(f"**Fix:** {f.fix}")
        lines.append("")
        if f.snippet:
            lines += ["```python", f.snippet.rstrip(), "```", ""]
        if f.verified:
            lines.append(f"**{sentence_case(verified_text(f.verified))}**")
            lines.append("")
    lr_rows = lr_range_rows(report.lr_range)
    if lr_rows:
        lines += ["### Learning-rate range test", "", "| | |", "|---|---|"]
        lines += [f"| {label} | {text.replace('|', '/')} |" for label, text in lr_rows]
        lines.append("")
    lines.append("| check | status | seconds | reason |")
    lines.append("|---|---|---|---|")
    for c in report.checks:
        reason = (c.reason or "").splitlines()[0].replace("|", "/") if c.reason else ""
        mark = {Status.PASSED: "passed", Status.FAILED: "**failed**", Status.SKIPPED: "skipped",
                Status.ERRORED: "**errored**"}[c.status]
        lines.append(f"| `{c.code}` {c.name} | {mark} | {c.seconds:.2f} | {reason} |")
    return "\n".join(lines) + "\n"
