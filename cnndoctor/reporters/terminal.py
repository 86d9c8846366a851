"""The terminal (and notebook) view, built with rich from the plain report data."""

from __future__ import annotations

import io

from rich.console import Console, Group
from rich.padding import Padding
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from ..findings import VERIFIED, Severity, Status
from ._format import (
    WARNINGS_HEADING,
    combined_text,
    fmt_value,
    lr_range_rows,
    settings_rows,
    severity_word,
    stories,
    thresholds_text,
    verified_text,
    warning_text,
)

__all__ = ["renderables", "render_text", "print_report", "force_terminal_for"]


def force_terminal_for(stream, environ=None) -> bool | None:
    """``force_terminal`` for a rich ``Console`` on ``stream``, by the colour conventions.

    ``FORCE_COLOR`` set to a non-empty value other than ``0`` forces colour (rich's own reading);
    ``FORCE_COLOR=0`` or empty forces nothing, so the stream's own terminal-ness decides (rich alone
    would take any non-empty value, "0" included, as forcing). ``NO_COLOR`` always wins; rich applies it.
    """
    import os

    environ = os.environ if environ is None else environ
    if environ.get("FORCE_COLOR") in ("0", ""):
        isatty = getattr(stream, "isatty", None)
        try:
            return bool(isatty()) if isatty is not None else False
        except (OSError, ValueError):
            return False
    return None

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.INFO: "bold cyan"}


def _subject_line(report) -> str:
    s = report.subject
    parts = [f"{s.get('model')} on {s.get('data')}",
             f"{s.get('n_train')} train / {s.get('n_test')} {s.get('test_label', s.get('test_name', 'test'))}",
             f"{s.get('channels')} channel{'s' if s.get('channels') != 1 else ''} × {s.get('length')} steps",
             f"{s.get('classes')} classes", f"fed {s.get('layout')}", s.get("device", "")]
    return " · ".join(p for p in parts if p)


def _headline(report) -> Panel:
    if report.count(Severity.ERROR):
        style, title = "red", "diagnosis"
    elif report.count(Severity.WARNING):
        style, title = "yellow", "diagnosis"
    else:
        style, title = "green", "diagnosis: healthy"
    body = Text(report.diagnosis.get("headline", ""))
    return Panel(body, title=f"cnndoctor {title}", title_align="left", border_style=style)


def _snippet(code: str, indent: int = 6) -> Text:
    """A fix snippet as code that pastes: highlighted, indented, never wrapped (a wrapped comment would land on
    a line of its own without its ``#``), no trailing spaces. Wider than the terminal it overflows
    (``print_report`` prints with ``crop=False``), and the terminal wraps it for display only."""
    code = "\n".join(line.rstrip() for line in code.rstrip().splitlines())
    highlighted = Syntax(code, "python", theme="ansi_dark", background_color="default").highlight(code)
    highlighted.rstrip()
    text = Text("\n").join(Text(" " * indent) + line for line in highlighted.split("\n"))
    text.no_wrap, text.overflow = True, "ignore"
    return text


def _head(f, *, prefix: str = "", symptom: bool = False) -> Text:
    """``1. ERROR D102 unscaled-input  at features.0`` (a symptom: ``↳ ERROR L205 …  a symptom of D102``)."""
    head = Text(prefix)
    head.stylize("bold")
    head.append(f"{severity_word(f.severity)} ", style=_STYLE.get(f.severity, "bold"))
    head.append(f"{f.code} {f.name}", style="bold")
    if f.location:
        head.append(f"  at {f.location}", style="dim")
    if f.explained_by and not symptom:
        head.append(f"  ↳ a symptom of {f.explained_by}", style="dim")
    if symptom:
        head.append(f"  a symptom of {f.explained_by}", style="dim")
    return head


def _evidence(f, indent: int) -> list:
    """The measured values as rows, then one dim line with the thresholds they were judged against."""
    parts = []
    measured = f.measured
    if measured:
        table = Table.grid(padding=(0, 1))
        table.add_column(style="dim", no_wrap=True)
        table.add_column()
        for key, value in measured.items():
            table.add_row(" " * indent + key, fmt_value(value))
        parts.append(Text(" " * indent + "evidence:", style="dim"))
        parts.append(table)
    judged = thresholds_text(f)
    if judged:
        parts.append(Padding(Text(f"judged against: {judged}", style="dim"), (0, 0, 0, indent)))
    return parts


def _finding(f, *, prefix: str = "", indent: int = 3, symptom: bool = False) -> Group:
    """One finding in full: head, severity reason, message, evidence apart from thresholds, fix, snippet,
    verification. ``indent`` is the body's left margin (a symptom shown under its cause sits deeper)."""
    pad = (0, 0, 0, indent)
    head = _head(f, prefix=prefix, symptom=symptom)
    parts = [Padding(head, (0, 0, 0, indent - 3)) if indent > 3 else head]
    if f.severity_reason:
        parts.append(Padding(Text(f"severity {f.severity}: {f.severity_reason}", style="dim"), pad))
    parts.append(Padding(Text(f.message), pad))
    parts += _evidence(f, indent)
    fix = Text("fix: ", style="bold green")
    fix.append(f.fix, style="")
    parts.append(Padding(fix, pad))
    if f.snippet:
        parts.append(_snippet(f.snippet, indent=indent + 3))
    if f.verified:
        style = "green" if f.verified.get("status") == VERIFIED else "yellow"  # green only when verified
        parts.append(Padding(Text(verified_text(f.verified), style=style), pad))
    return Group(*parts)


def _folded(f, *, prefix: str) -> Text:
    """One line: ``↳ ERROR L205 initial-loss-off: <the message's first sentence>``, cut with … at the width.
    No fix: a symptom goes away with its cause's fix (-v shows its own)."""
    line = Text(prefix)
    line.append(f"{severity_word(f.severity)} ", style=_STYLE.get(f.severity, "bold"))
    line.append(f"{f.code} {f.name}", style="bold")
    line.append(f": {f.summary}")
    line.no_wrap, line.overflow = True, "ellipsis"
    return line


def _story(index: int, cause, symptoms, verbose: bool):
    """A cause in full with the symptoms it explains: folded to one line each, or in full with ``verbose``."""
    yield _finding(cause, prefix=f"{index}. ")
    if not symptoms:
        return
    if verbose:
        for s in symptoms:
            yield Text("")
            yield _finding(s, prefix="↳ ", indent=6, symptom=True)
        return
    # in a Group: printed on its own, a Text would be joined into a new one that wraps instead of cutting
    yield Group(Text(f"   symptoms it explains ({len(symptoms)}):", style="dim"),
                *(_folded(s, prefix="   ↳ ") for s in symptoms))


def _more_line(report, *, trace_hidden: bool, hidden_symptoms: int, compact: int) -> Text | None:
    """What ``-v`` would add, in one line; None when it adds nothing."""
    more = []
    if trace_hidden:
        more.append("the shape trace")
    skipped = sum(1 for c in report.checks if c.status == Status.SKIPPED)
    if skipped:
        more.append(f"{skipped} skipped check{'s' if skipped != 1 else ''}")
    if hidden_symptoms:
        more.append("each symptom's evidence and fix")
    if compact:
        more.append("the info findings in full")
    if not more:
        return None
    listed = ", ".join(more[:-1]) + (" and " if len(more) > 1 else "") + more[-1]
    return Text(f"-v shows {listed}.", style="dim")


def _trace_table(trace: dict) -> Table:
    """Every leaf call in order (channels × time steps of its output), up to the failure, marked.

    A failure raised in a block's own forward (``x + residual``, ``torch.cat``) is not a leaf
    call: it closes the table as a last row naming the operation and the shapes it was given.
    """
    table = Table(title="shape trace", title_justify="left", show_edge=False, pad_edge=False, expand=False)
    for col in ("layer", "type", "input", "output", "channels × steps", "params"):
        table.add_column(col, no_wrap=col in ("params", "channels × steps"))
    closing = None
    for call in trace["layers"]:
        if call["failed"] and not call["leaf"]:
            closing = call
            continue
        if not call["leaf"]:
            continue
        style = "bold red" if call["failed"] else None
        out = "✗ failed here" if call["failed"] else fmt_value(call["output_shape"])
        length, channels = call.get("length"), call.get("channels")
        size = f"{channels} × {length}" if length is not None and channels is not None else (
            f"{channels}" if channels is not None and not call["failed"] else "")
        table.add_row(call["name"], call["type"], fmt_value(call["input_shape"]), out, size,
                      fmt_value(call["params"]), style=style)
    if closing is not None:
        op = trace.get("failed_op") or {}
        shapes = ", ".join(fmt_value(s) for s in op.get("shapes", [])[:4])
        what = f"✗ {op['op']} failed here" if op.get("op") else "✗ failed here"
        line = trace.get("error_line")
        name = closing["name"] if closing["name"] != "(model)" else f"{closing['type']}.forward"
        table.add_row(name, line.split("  (")[0] if line else closing["type"], shapes, what, "", "", style="bold red")
    return table


def _settings_table(report) -> Table | None:
    """What the probes ran with, and where each setting came from."""
    rows = settings_rows(report.subject)
    if not rows:
        return None
    table = Table.grid(padding=(0, 2))
    table.add_column(style="dim", no_wrap=True)
    table.add_column()
    table.add_column(style="dim")
    for name, value, source in rows:
        table.add_row(f"  {name}", value, source)
    return table


def renderables(report, *, verbose: bool = False):
    """The report as rich renderables: the story first (the primary cause in full, its symptoms folded under
    it, then each other cause, then info findings in a line each); the shape trace (unless the forward pass
    failed, when it is the evidence), skipped checks and each symptom's evidence and fix with ``verbose``."""
    yield _headline(report)
    if report.diagnosis.get("combined"):  # the causes' fixes verified together, one line
        combined = report.diagnosis["combined"]
        yield Text(combined_text(combined), style="green" if combined.get("status") == VERIFIED else "yellow")
    yield Text(_subject_line(report), style="dim")
    settings = _settings_table(report)
    if settings is not None:
        yield Text("settings the probes ran with:", style="dim")
        yield settings
    for note in report.notes:
        yield Text(f"note: {note}", style="dim")
    told = stories(report.findings)
    full = [(c, s) for i, (c, s) in enumerate(told)
            if verbose or i == 0 or max([c.severity, *(x.severity for x in s)]) >= Severity.WARNING]
    compact = [(c, s) for c, s in told if all(c is not other for other, _ in full)]
    for i, (cause, symptoms) in enumerate(full, 1):
        yield Text("")
        yield from _story(i, cause, symptoms, verbose)
    if compact:
        yield Text("")
        lines = [Text("also noted:", style="dim")]
        for cause, symptoms in compact:
            lines.append(_folded(cause, prefix="   "))
            lines += [_folded(s, prefix="     ↳ ") for s in symptoms]
        yield Group(*lines)
    lr_rows = lr_range_rows(report.lr_range)
    if lr_rows:
        yield Text("")
        yield Text("learning-rate range test:", style="bold")
        table = Table.grid(padding=(0, 2))
        table.add_column(style="dim", no_wrap=True)
        table.add_column()
        for label, text in lr_rows:
            table.add_row(f"  {label}", text)
        yield table
    if report.warnings:  # torch's or the user's warnings during the run, attributed instead of printed raw
        yield Text("")
        yield Text(f"{WARNINGS_HEADING}:", style="yellow")
        for w in report.warnings:
            yield Padding(Text(warning_text(w), style="dim"), (0, 0, 0, 3))
    has_trace = bool(report.trace and report.trace.get("layers"))
    trace_shown = has_trace and (verbose or report.trace.get("ok") is False)  # a failed forward: the evidence
    if trace_shown:
        yield Text("")
        yield _trace_table(report.trace)
    skipped = [c for c in report.checks if c.status == Status.SKIPPED] if verbose else []
    errored = [c for c in report.checks if c.status == Status.ERRORED]
    if skipped or errored:
        yield Text("")
    for c in errored:
        yield Text(f"check {c.code} {c.name} errored: {c.reason}", style="red")
    if skipped:
        yield Text(f"{len(skipped)} check{'s' if len(skipped) != 1 else ''} skipped:", style="dim")
        for c in skipped:
            yield Padding(Text(f"{c.code} {c.name}: {c.reason}", style="dim"), (0, 0, 0, 3))
    passed = sum(1 for c in report.checks if c.status == Status.PASSED)
    style = "red" if report.count(Severity.ERROR) else "yellow" if report.findings else "green"
    more = None if verbose else _more_line(report, trace_hidden=has_trace and not trace_shown,
                                           hidden_symptoms=sum(len(s) for _, s in told), compact=len(compact))
    yield Text("")
    if more is not None:
        yield more
    yield Text(f"{report.summary_line()} · {passed}/{len(report.checks)} checks passed", style=f"bold {style}")


def print_report(report, console: Console, *, verbose: bool = False) -> None:
    for r in renderables(report, verbose=verbose):
        console.print(r, crop=False)  # snippets overflow rather than being cut: see _snippet


def render_text(report, *, width: int = 100, color: bool = False, verbose: bool = False) -> str:
    buf = io.StringIO()
    # force_jupyter=False: inside a notebook rich would otherwise display every renderable as an output of
    # its own and return nothing
    console = Console(file=buf, width=width, color_system="standard" if color else None,
                      force_terminal=color, force_jupyter=False, no_color=not color, highlight=False, emoji=False)
    print_report(report, console, verbose=verbose)
    return buf.getvalue()
