"""One self-contained HTML file: inline CSS, figures embedded as base64 PNG, no external references."""

from __future__ import annotations

import base64
import html
import io

from ..findings import VERIFIED, Severity, Status
from ._format import (
    WARNINGS_HEADING,
    combined_text,
    fmt_value,
    lr_range_rows,
    sentence_case,
    settings_rows,
    thresholds_text,
    verified_text,
    warning_text,
)

__all__ = ["render_html_report", "figure_png"]

_CSS = """
.cnndoctor{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d232a}
.cnndoctor main{max-width:1200px;margin:0 auto;padding:24px}
.cnndoctor h1{font-size:20px;margin:0 0 4px}
.cnndoctor .sub{color:#5b6570;font-size:13px;margin-bottom:16px}
.cnndoctor .headline{border-left:6px solid #2e7d32;background:#fff;padding:14px 18px;border-radius:6px;font-size:16px; line-height:1.45;box-shadow:0 1px 2px rgba(0,0,0,.06)}
.cnndoctor .headline.error{border-color:#c62828}
.cnndoctor .headline.warning{border-color:#ef6c00}
.cnndoctor .card{background:#fff;border-radius:6px;padding:14px 18px;margin:14px 0;box-shadow:0 1px 2px rgba(0,0,0,.06)}
.cnndoctor .card.symptom{margin-left:28px;border-left:3px solid #b0bec5}
.cnndoctor .badge{display:inline-block;font-size:11px;font-weight:700;padding:2px 7px;border-radius:10px;color:#fff; margin-right:8px;vertical-align:middle}
.cnndoctor .error .badge,.cnndoctor .badge.error{background:#c62828}
.cnndoctor .badge.warning{background:#ef6c00}
.cnndoctor .badge.info{background:#0277bd}
.cnndoctor .code{font-weight:700;font-family:ui-monospace,Menlo,Consolas,monospace}
.cnndoctor table{border-collapse:collapse;font-size:13px;margin:8px 0}
.cnndoctor td,.cnndoctor th{border-bottom:1px solid #e3e6ea;padding:3px 10px 3px 0;text-align:left;vertical-align:top}
.cnndoctor th{color:#5b6570;font-weight:600}
.cnndoctor pre{background:#263238;color:#eceff1;padding:10px 12px;border-radius:5px;overflow-x:auto;font-size:12.5px}
.cnndoctor .fix{color:#1b5e20;font-weight:600}
.cnndoctor .verified{color:#1b5e20;background:#e8f5e9;padding:6px 10px;border-radius:4px}
.cnndoctor .unverified{color:#4e342e;background:#fff8e1;padding:6px 10px;border-radius:4px}
.cnndoctor .failed td{color:#c62828;font-weight:700}
.cnndoctor .figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,480px),1fr));grid-auto-flow:dense;gap:14px}
.cnndoctor .figs figure{background:#fff;margin:0;padding:8px;border-radius:6px; box-shadow:0 1px 2px rgba(0,0,0,.06);min-width:0}
.cnndoctor .figs figure.wide{grid-column:1/-1}
.cnndoctor .figs img{max-width:100%;height:auto;display:block;margin:0 auto}
.cnndoctor tr.check-failed td{background:#fdecea}
.cnndoctor tr.check-errored td{background:#fff3e0}
.cnndoctor tr.check-skipped td{color:#5b6570}
.cnndoctor tr[class^=check-] td:nth-child(2){white-space:nowrap}
.cnndoctor .badge.errored{background:#ef6c00}
.cnndoctor .badge.failed{background:#c62828}
.cnndoctor figcaption{font-size:12px;color:#5b6570;text-align:center}
.cnndoctor .muted{color:#5b6570;font-size:12.5px}
"""


# Figures are drawn at 100 px an inch of their size and saved at this many dots an inch, so they stay sharp
# on high-density screens and when the browser is zoomed.
PNG_DPI = 150
CSS_PX_PER_INCH = 100
# A figure wider than this (in CSS px) does not fit two to a row of the report and gets a row of its own.
WIDE_PX = 600


def figure_png(fig, dpi: int = PNG_DPI) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _e(text) -> str:
    return html.escape(str(text))


def _finding(index: int, f) -> str:
    sev = str(f.severity)
    cls = "card symptom" if f.explained_by else "card"
    parts = [f'<section class="{cls} {sev}"><div><span class="badge {sev}">{sev.upper()}</span>'
             f'<span class="code">{index}. {_e(f.code)} {_e(f.name)}</span>'
             + (f' <span class="muted">at {_e(f.location)}</span>' if f.location else "")
             + (f' <span class="muted">— a symptom of {_e(f.explained_by)}</span>' if f.explained_by else "")
             + "</div>"]
    if f.severity_reason:
        parts.append(f'<p class="muted">Severity {_e(f.severity)}: {_e(f.severity_reason)}</p>')
    parts.append(f"<p>{_e(f.message)}</p>")
    if f.measured:
        rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(fmt_value(v))}</td></tr>" for k, v in f.measured.items())
        parts.append(f"<table>{rows}</table>")
    if f.threshold_keys:
        parts.append(f'<p class="muted">Judged against: {_e(thresholds_text(f))}</p>')
    parts.append(f'<p class="fix">Fix: {_e(f.fix)}</p>')
    if f.snippet:
        parts.append(f"<pre>{_e(f.snippet)}</pre>")
    if f.verified:
        parts.append(f'<p class="{_verified_class(f.verified)}">{_e(sentence_case(verified_text(f.verified)))}</p>')
    if f.related:
        parts.append(f'<p class="muted">Also explains: {_e(", ".join(f.related))}</p>')
    parts.append("</section>")
    return "".join(parts)


def _verified_class(v: dict) -> str:
    """Green only for a fix whose status is verified; not verified and no result are told apart in their text."""
    return "verified" if v.get("status") == VERIFIED else "unverified"


def _trace(trace: dict) -> str:
    rows = []
    for call in trace.get("layers", []):
        if not (call["leaf"] or call["failed"]):
            continue
        cls = ' class="failed"' if call["failed"] else ""
        out = "✗ failed here" if call["failed"] else fmt_value(call["output_shape"])
        rows.append(f"<tr{cls}><td>{_e(call['name'])}</td><td>{_e(call['type'])}</td>"
                    f"<td>{_e(fmt_value(call['input_shape']))}</td><td>{_e(out)}</td>"
                    f"<td>{_e(fmt_value(call['params']))}</td></tr>")
    head = "<tr><th>layer</th><th>type</th><th>input</th><th>output</th><th>params</th></tr>"
    return f'<section class="card"><h2>Shape trace</h2><table>{head}{"".join(rows)}</table></section>'


def _settings(report) -> str:
    rows = "".join(f"<tr><td>{_e(n)}</td><td>{_e(v)}</td><td class=\"muted\">{_e(src)}</td></tr>"
                   for n, v, src in settings_rows(report.subject))
    if not rows:
        return ""
    return (f'<details class="card"><summary>Settings the probes ran with</summary><table>'
            f"<tr><th>setting</th><th>value</th><th>source</th></tr>{rows}</table></details>")


# Outcomes that need the reader's eye: their rows are tinted and their status is a badge.
_MARKED = (Status.FAILED, Status.ERRORED)


def _checks(report) -> str:
    """Every check in run order; failed and errored rows carry the class ``check-failed`` / ``check-errored``
    (tinted, status as a badge), and a line above the table counts each status."""
    rows = []
    for c in report.checks:
        status = Status(c.status)
        shown = f'<span class="badge {status}">{_e(status)}</span>' if status in _MARKED else _e(status)
        reason = (c.reason or "").splitlines()[0] if c.reason else ""
        rows.append(f"<tr class='check-{status}'><td class='code'>{_e(c.code)}</td><td>{_e(c.name)}</td>"
                    f"<td>{shown}</td><td>{c.seconds:.2f}</td><td>{_e(reason)}</td></tr>")
    order = (*_MARKED, Status.SKIPPED, Status.PASSED)
    counts = [f"{n} {status}" for status in order if (n := sum(1 for c in report.checks if Status(c.status) == status))]
    head = "<tr><th>code</th><th>check</th><th>status</th><th>s</th><th>reason</th></tr>"
    return (f'<section class="card"><h2>Checks</h2><p class="muted">{_e(" · ".join(counts))}</p>'
            f'<table>{head}{"".join(rows)}</table></section>')




def render_html_report(report, *, title: str = "cnndoctor report", fragment: bool = False) -> str:
    """The whole report as one HTML document (or a ``<div>`` for notebooks) with figures embedded."""
    level = "error" if report.count(Severity.ERROR) else "warning" if report.findings else "ok"
    s = report.subject
    sub = (f"{_e(s.get('model'))} on {_e(s.get('data'))} · {s.get('n_train')} train / {s.get('n_test')} "
           f"{_e(s.get('test_label', s.get('test_name', 'test')))} · {s.get('channels')} channel(s) × {s.get('length')} steps · "
           f"{s.get('classes')} classes · fed {_e(s.get('layout'))} · {_e(s.get('device'))}")
    body = [f"<h1>cnndoctor: {_e(report.summary_line())}</h1>", f'<div class="sub">{sub}</div>',
            f'<div class="headline {level}">{_e(report.diagnosis.get("headline", ""))}</div>']
    combined = report.diagnosis.get("combined")
    if combined:  # the causes' fixes verified together
        body.append(f'<p class="{_verified_class(combined)}">{_e(sentence_case(combined_text(combined)))}</p>')
    body.append(_settings(report))
    body += [f'<p class="muted">Note: {_e(n)}</p>' for n in report.notes]
    if report.warnings:  # torch's or the user's warnings during the run, attributed
        items = "".join(f"<li>{_e(warning_text(w))}</li>" for w in report.warnings)
        body.append(f'<details class="card warnings"><summary>{len(report.warnings)} {_e(WARNINGS_HEADING)}'
                    f"</summary><ul>{items}</ul></details>")
    body += [_finding(i, f) for i, f in enumerate(report.findings, 1)]
    if report.figures:
        figs = []
        for fig in report.figures:
            data = base64.b64encode(figure_png(fig)).decode("ascii")
            label = fig.get_label() or "figure"
            width = round(fig.get_figwidth() * CSS_PX_PER_INCH)  # its drawn size; narrower screens shrink it
            wide = ' class="wide"' if width > WIDE_PX else ""  # a two-panel figure takes a row of its own
            figs.append(f'<figure{wide}><img alt="{_e(label)}" src="data:image/png;base64,{data}" width="{width}">'
                        f"<figcaption>{_e(label)}</figcaption></figure>")
        body.append(f'<h2>Figures</h2><div class="figs">{"".join(figs)}</div>')
    lr_rows = lr_range_rows(report.lr_range)
    if lr_rows:
        rows = "".join(f"<tr><th>{_e(label)}</th><td>{_e(text)}</td></tr>" for label, text in lr_rows)
        body.append(f'<section class="card"><h2>Learning-rate range test</h2><table>{rows}</table></section>')
    if report.trace and report.trace.get("layers"):
        body.append(_trace(report.trace))
    body.append(_checks(report))
    errored = [c for c in report.checks if c.status == Status.ERRORED]
    if errored:
        body.append(f'<p class="muted">{len(errored)} check(s) errored; see the table.</p>')
    content = f'<div class="cnndoctor"><style>{_CSS}</style><main>{"".join(body)}</main></div>'
    if fragment:
        return content
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f'</head><body style="margin:0">{content}</body></html>\n')
