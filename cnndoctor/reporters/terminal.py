"""The terminal (and notebook) view, built with rich from the plain report data."""

from __future__ import annotations

import io

from rich.console import Console, Group
from rich.padding import Padding
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from ..findings import Severity, Status
from ._format import fmt_value, lr_range_rows, settings_rows, severity_word, verified_text

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
             f"{s.get('n_train')} train / {s.get('n_test')} {s.get('test_name', 'test')}",
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


def _snippet(code: str) -> Text:
    """A fix snippet as code that pastes: highlighted, indented, never wrapped (a wrapped comment would land on
    a line of its own without its ``#``), no trailing spaces. Wider than the terminal it overflows
    (``print_report`` prints with ``crop=False``), and the terminal wraps it for display only."""
    code = "\n".join(line.rstrip() for line in code.rstrip().splitlines())
    highlighted = Syntax(code, "python", theme="ansi_dark", background_color="default").highlight(code)
    highlighted.rstrip()
    text = Text("\n").join(Text(" " * 6) + line for line in highlighted.split("\n"))
    text.no_wrap, text.overflow = True, "ignore"
    return text


def _finding(index: int, f) -> Group:
    parts = []
    head = Text()
    head.append(f"{index}. ", style="bold")
    head.append(f"{severity_word(f.severity)} ", style=_STYLE.get(f.severity, "bold"))
    head.append(f"{f.code} {f.name}", style="bold")
    if f.location:
        head.append(f"  at {f.location}", style="dim")
    if f.explained_by:
        head.append(f"  ↳ a symptom of {f.explained_by}", style="dim")
    parts.append(head)
    if f.severity_reason:
        parts.append(Padding(Text(f"severity {f.severity}: {f.severity_reason}", style="dim"), (0, 0, 0, 3)))
    parts.append(Padding(Text(f.message), (0, 0, 0, 3)))
    if f.evidence:
        table = Table.grid(padding=(0, 1))
        table.add_column(style="dim", no_wrap=True)
        table.add_column()
        for key, value in f.evidence.items():
            table.add_row(f"   {key}", fmt_value(value))
        parts.append(Text("   evidence:", style="dim"))
        parts.append(table)
    fix = Text("fix: ", style="bold green")
    fix.append(f.fix, style="")
    parts.append(Padding(fix, (0, 0, 0, 3)))
    if f.snippet:
        parts.append(_snippet(f.snippet))
    if f.verified:
        parts.append(Padding(Text(verified_text(f.verified), style="green"), (0, 0, 0, 3)))
    return Group(*parts)


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


def renderables(report):
    yield _headline(report)
    yield Text(_subject_line(report), style="dim")
    settings = _settings_table(report)
    if settings is not None:
        yield Text("settings the probes ran with:", style="dim")
        yield settings
    for note in report.notes:
        yield Text(f"note: {note}", style="dim")
    for i, f in enumerate(report.findings, 1):
        yield Text("")
        yield _finding(i, f)
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
    if report.trace and report.trace.get("layers"):
        yield Text("")
        yield _trace_table(report.trace)
    skipped = [c for c in report.checks if c.status == Status.SKIPPED]
    errored = [c for c in report.checks if c.status == Status.ERRORED]
    if skipped or errored:
        yield Text("")
    for c in errored:
        yield Text(f"check {c.code} {c.name} errored: {c.reason}", style="red")
    if skipped:
        reasons = "; ".join(f"{c.code} ({c.reason})" for c in skipped[:6])
        more = f"; … {len(skipped) - 6} more" if len(skipped) > 6 else ""
        yield Text(f"{len(skipped)} check{'s' if len(skipped) != 1 else ''} skipped: {reasons}{more}",
                   style="dim")
    passed = sum(1 for c in report.checks if c.status == Status.PASSED)
    style = "red" if report.count(Severity.ERROR) else "yellow" if report.findings else "green"
    yield Text("")
    yield Text(f"{report.summary_line()} · {passed}/{len(report.checks)} checks passed", style=f"bold {style}")


def print_report(report, console: Console) -> None:
    for r in renderables(report):
        console.print(r, crop=False)  # snippets overflow rather than being cut: see _snippet


def render_text(report, *, width: int = 100, color: bool = False) -> str:
    buf = io.StringIO()
    # force_jupyter=False: inside a notebook rich would otherwise display every renderable as an output of
    # its own and return nothing
    console = Console(file=buf, width=width, color_system="standard" if color else None,
                      force_terminal=color, force_jupyter=False, no_color=not color, highlight=False, emoji=False)
    print_report(report, console)
    return buf.getvalue()
