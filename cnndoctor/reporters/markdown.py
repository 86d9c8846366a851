"""Markdown for CI summaries and issue comments."""

from __future__ import annotations

from ..findings import Status
from ._format import fmt_value, lr_range_rows, settings_rows, severity_word, verified_text

__all__ = ["render_markdown"]


def render_markdown(report) -> str:
    s = report.subject
    lines = [f"## cnndoctor: {report.summary_line()}", "",
             f"**{s.get('model')}** on **{s.get('data')}** — {s.get('n_train')} train / {s.get('n_test')} "
             f"{s.get('test_name', 'test')}, {s.get('channels')} channel(s) × {s.get('length')} steps, "
             f"{s.get('classes')} classes, fed {s.get('layout')}", "",
             f"> {report.diagnosis.get('headline', '')}", ""]
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
    for i, f in enumerate(report.findings, 1):
        lines.append(f"### {i}. {severity_word(f.severity)} `{f.code}` {f.name}")
        lines.append("")
        if f.severity_reason:
            lines += [f"*Severity {f.severity}: {f.severity_reason}.*", ""]
        lines.append(f.message)
        lines.append("")
        if f.evidence:
            lines.append("| evidence | value |")
            lines.append("|---|---|")
            for k, v in f.evidence.items():
                lines.append(f"| {k} | {fmt_value(v).replace('|', '/')} |")
            lines.append("")
        lines.append(f"**Fix:** {f.fix}")
        lines.append("")
        if f.snippet:
            lines += ["```python", f.snippet.rstrip(), "```", ""]
        if f.verified:
            lines.append(f"**{verified_text(f.verified).capitalize()}**")
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
