"""The command line: ``cnndoctor run | list | explain``.

Exit codes (as ruff and mypy): 0 no finding at or above ``--fail-on``; 1 such findings;
2 usage, input or internal error.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

from ._version import __version__
from .errors import InputError

__all__ = ["main", "build_parser"]

FORMATS = ("text", "json", "markdown", "html")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse exits 2 already; keep its one-line usage
        self.print_usage(sys.stderr)
        self.exit(2, f"cnndoctor: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cnndoctor", description="Tell why a 1D CNN does not learn, with evidence and a fix.")
    parser.add_argument("--version", action="version", version=f"cnndoctor {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="diagnose a model file on a data file")
    run.add_argument("model", help="model.py, or model.py:Name to pick a class, function or instance")
    run.add_argument("data", help="data.npz with X_train/y_train and X_test/y_test (or X/y)")
    run.add_argument("--select", action="append", help="codes, prefixes or names to run (comma-separated)")
    run.add_argument("--ignore", action="append", help="codes, prefixes or names to skip (comma-separated)")
    run.add_argument("--fail-on", default="error", choices=("error", "warning", "info", "never"),
                     help="exit 1 when a finding is at or above this severity (default: error)")
    run.add_argument("--format", default="text", choices=FORMATS, help="report format (default: text)")
    run.add_argument("-o", "--output", help="write the report to this file instead of stdout")
    run.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--budget", default="standard", choices=("quick", "standard", "thorough"))
    run.add_argument("--layout", default="auto", choices=("auto", "ncl", "nlc"),
                     help="how the stored arrays are laid out (default: work it out)")
    run.add_argument("--model-arg", action="append", default=[], metavar="K=V",
                     help="a constructor/build_model argument (repeatable)")
    run.add_argument("--lr", type=float, help="learning rate (overrides the model file)")
    run.add_argument("--batch-size", type=int, help="batch size (overrides the model file)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    run.add_argument("-v", "--verbose", action="store_true", help="show tracebacks")

    sub.add_parser("list", help="the catalogue of checks")
    explain = sub.add_parser("explain", help="a check's documentation")
    explain.add_argument("code", help="a code (D102) or a name (unscaled-input)")
    return parser


def _cmd_list(console) -> int:
    from rich.table import Table

    from .registry import all_checks

    table = Table(show_edge=False, pad_edge=False, box=None)
    for col in ("code", "name", "severity", "what it does"):
        table.add_column(col, no_wrap=col != "what it does")
    for spec in all_checks():
        table.add_row(spec.code, spec.name, str(spec.severity), spec.summary)
    console.print(table)
    return 0


def _cmd_explain(code: str, console) -> int:
    from rich.markdown import Markdown

    from .registry import get_check

    spec = get_check(code)
    thresholds = ", ".join(f"`{k}={v!r}`" for k, v in spec.thresholds.items()) or "none"
    console.print(Markdown(f"# {spec.code} {spec.name}\n\nDefault severity: **{spec.severity}** · "
                           f"stage: {spec.stage} · thresholds: {thresholds}\n\n{spec.doc}"))
    return 0


def _render(report, fmt: str, to_file: bool, console) -> str | None:
    if fmt == "json":
        return report.to_json() + "\n"
    if fmt == "markdown":
        return report.to_markdown()
    if fmt == "html":
        from .reporters.terminal import render_html

        return render_html(report)
    if to_file:
        return report.to_text(width=100, color=False)
    from .reporters.terminal import print_report

    print_report(report, console)
    return None


def _cmd_run(args, console) -> int:
    from .api import run_diagnosis
    from .load_data import load_data
    from .load_model import load_model_file, parse_model_args
    from .subject import make_subject

    model_file = load_model_file(args.model, verbose=args.verbose)
    data = load_data(args.data, seed=args.seed)
    data.source = str(args.data)
    name = f"{Path(model_file.path).name}:{model_file.name}"
    subject = make_subject(model_file.target, model_file.kind, data, name=name, options=model_file.options,
                           model_args=parse_model_args(args.model_arg), lr=args.lr, batch_size=args.batch_size,
                           device=args.device, seed=args.seed, layout=args.layout)
    report = run_diagnosis(subject, select=args.select, ignore=args.ignore, budget=args.budget,
                           progress=not args.quiet, verbose=args.verbose)
    text = _render(report, args.format, bool(args.output), console)
    if text is not None:
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
            if not args.quiet:
                print(f"cnndoctor: report written to {args.output} · {report.summary_line()}", file=sys.stderr)
        else:
            sys.stdout.write(text)
    return 0 if report.passed(args.fail_on) else 1


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    args = build_parser().parse_args(argv)
    console = Console(highlight=False)
    verbose = getattr(args, "verbose", False)
    try:
        if args.command == "list":
            return _cmd_list(console)
        if args.command == "explain":
            return _cmd_explain(args.code, console)
        return _cmd_run(args, console)
    except InputError as exc:
        print(f"cnndoctor: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cnndoctor: interrupted", file=sys.stderr)
        return 2
    except Exception as exc:  # an internal error: never a traceback unless -v
        if verbose:
            traceback.print_exc()
        print(f"cnndoctor: internal error: {type(exc).__name__}: {exc}. This is a bug in cnndoctor; "
              "run again with -v for the traceback and report it.", file=sys.stderr)
        return 2
