"""The command line: ``cnndoctor run | report | list | explain | docs``.

Exit codes (as ruff and mypy): 0 no finding at or above ``--fail-on``; 1 such findings;
2 usage, configuration, input or internal error. Settings come from ``[tool.cnndoctor]`` in the
nearest pyproject.toml (see config.py); every flag given on the command line overrides them.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

from ._version import __version__
from .config import DEFAULTS, FORMATS, LAYOUTS, RUN_OPTIONS
from .errors import InputError, UserCodeError
from .guard.timeout import BUDGET_TIMEOUTS, DiagnosisTimeout
from .guard.user_warnings import within_capture
from .probes.budget import BUDGETS
from .report import FAIL_ON

__all__ = ["main", "build_parser"]


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds ≥ 0 (0: no limit), got {text!r}")
    return value


def _memory_budget(text: str) -> int:
    from .load.big import parse_memory_budget

    try:
        return parse_memory_budget(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
    run.add_argument("data", help="data.npz with X_train/y_train and X_test/y_test (or X/y); or a UCR/UEA pair "
                                  "<Name>_TRAIN/<Name>_TEST (.ts, .tsv, .csv, .txt) given as its folder, "
                                  "path/to/<Name> or either file; or one such file (split 80/20); or a folder "
                                  "or prefix of .npy files (X_train.npy, y_train.npy, ...; memory-mapped) or a "
                                  ".zarr store")
    run.add_argument("--select", action="append", help="codes, prefixes or names to run (comma-separated)")
    run.add_argument("--ignore", action="append", help="codes, prefixes or names to skip (comma-separated)")
    run.add_argument("--fail-on", choices=FAIL_ON,
                     help=f"exit 1 when a finding is at or above this severity (default: {DEFAULTS['fail_on']})")
    run.add_argument("--format", "--output-format", dest="format", choices=FORMATS,
                     help=f"report format (default: {DEFAULTS['format']}); github, gitlab and junit are for CI")
    run.add_argument("-o", "--output", help="write the report to this file instead of stdout")
    run.add_argument("--device", help="auto (CUDA when available, the default), cpu or cuda")
    run.add_argument("--seed", type=int, help="seed for weights, splits and sampling (default: 0)")
    run.add_argument("--budget", choices=tuple(BUDGETS),
                     help=f"default: {DEFAULTS['budget']}. What each costs: "
                          + "; ".join(f"{name}: {b.describe()}" for name, b in BUDGETS.items()))
    timeouts = ", ".join(f"{seconds:g} s {'for --budget ' if i == 0 else ''}{name}"
                         for i, (name, seconds) in enumerate(BUDGET_TIMEOUTS.items()))
    run.add_argument("--timeout", type=_timeout, metavar="SECONDS",
                     help=f"stop with exit code 2 when the run takes longer (default: {timeouts}; 0: no limit)")
    run.add_argument("--memory-budget", type=_memory_budget, metavar="SIZE",
                     help="data above this size (2GB, 512MiB; default 2GiB) stays on disk: its statistics run over "
                          "every row chunk by chunk, near-duplicates, baselines and probes on a seeded sample")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="where the chunks of big data run: auto (a Dask LocalCluster of 2 workers when dask is "
                          "installed; the default), sync (this process), local, or a Dask scheduler's address "
                          "(tcp://host:8786)")
    run.add_argument("--layout", choices=LAYOUTS, help="how the stored arrays are laid out (default: work it out)")
    run.add_argument("--label-column", metavar="COL",
                     help="CSV data: the label column, an index (0, -1) or a header name (default: a column "
                          "named label/class/target/y, else the first)")
    run.add_argument("--model-arg", action="append", default=[], metavar="K=V",
                     help="a constructor/build_model argument (repeatable); it wins over the value "
                          "cnndoctor would fill from the data")
    run.add_argument("--model-output", metavar="INDEX_OR_KEY",
                     help="when forward() returns a tuple, list or dict: the element that holds the logits, an "
                          "index (1) or a key (logits); overrides `output = ...` in the model file. Not -o/--output, "
                          "which names the report file")
    run.add_argument("--weights", metavar="PATH",
                     help="a trained checkpoint (a state_dict, a checkpoint dict holding one, or a Lightning "
                          ".ckpt), loaded with torch.load(weights_only=True) into the model the file builds and "
                          "evaluated as it is, next to the probes from fresh weights")
    run.add_argument("--lr", type=float, help="learning rate (overrides the model file)")
    run.add_argument("--batch-size", type=int, help="batch size (overrides the model file)")
    config = run.add_mutually_exclusive_group()
    config.add_argument("--config", metavar="FILE",
                        help="read settings from this pyproject.toml (or .toml file) instead of searching for one")
    config.add_argument("--isolated", action="store_true", help="ignore every configuration file")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    run.add_argument("-v", "--verbose", action="store_true",
                     help="the full report (shape trace, skipped checks, each symptom's evidence and fix) and "
                          "tracebacks of errors")

    saved = sub.add_parser("report", help="render a saved report (run --format json, or cnndoctor.watch's save())")
    saved.add_argument("path", help="the report's JSON file, e.g. run.cnndoctor.json")
    saved.add_argument("--format", "--output-format", dest="format", choices=FORMATS, default=DEFAULTS["format"],
                       help=f"report format (default: {DEFAULTS['format']})")
    saved.add_argument("-o", "--output", help="write the report to this file instead of stdout")
    saved.add_argument("--fail-on", choices=FAIL_ON, default=DEFAULTS["fail_on"],
                       help=f"exit 1 when a finding is at or above this severity (default: {DEFAULTS['fail_on']})")
    sub.add_parser("list", help="the catalogue of checks")
    explain = sub.add_parser("explain", help="a check's documentation")
    explain.add_argument("code", help="a code (D102) or a name (unscaled-input)")
    docs = sub.add_parser("docs", help="write docs/checks.md from the checks' docstrings")
    docs.add_argument("-o", "--output", help="write the page here (e.g. docs/checks.md) instead of stdout")
    docs.add_argument("--readme", metavar="README", help="also rewrite the checks table in this README")
    docs.add_argument("--check", action="store_true",
                      help="exit 1 when the page (-o, default docs/checks.md) is out of date")
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

    from .diagnosis.causes import RANKS, explained_by, row_for
    from .registry import get_check

    spec = get_check(code)
    thresholds = ", ".join(f"`{k}={v!r}`" for k, v in spec.thresholds.items()) or "none"
    row = row_for(spec.code)
    explains = sorted([*row.explains, *(f"{w.symptom} ({w.says})" for w in row.explains_where),
                       *(f"{c} (when the training probe's balanced accuracy sits at chance)"
                         for c in row.explains_at_chance)])
    by = [f"{c} ({says})" if says else c for c, says in explained_by(spec.code)]
    causes = (f"Role: {row.role} · causal rank {row.rank} ({RANKS[row.rank]}) · fix verified automatically: "
              f"{'yes' if row.verifiable else 'no'}"
              + (" · a warning the training probe can refute (lowered to info when it learns)" if row.refutable
                 else "") + f"\n\nExplains: {', '.join(explains) or 'nothing'}\n\n"
              f"Explained by: {', '.join(by) or 'nothing'}")
    console.print(Markdown(f"# {spec.code} {spec.name}\n\nDefault severity: **{spec.severity}** · "
                           f"stage: {spec.stage} · thresholds: {thresholds}\n\n{causes}\n\n{spec.doc}"))
    return 0


def _render(report, fmt: str, to_file: bool, console, fail_on: str = "error", verbose: bool = False) -> str | None:
    if fmt == "json":
        return report.to_json() + "\n"
    if fmt == "markdown":
        return report.to_markdown()
    if fmt == "html":
        return report.to_html()
    if fmt == "github":
        from .reporters.github import render_github

        return render_github(report)
    if fmt == "gitlab":
        from .reporters.gitlab import render_gitlab

        return render_gitlab(report)
    if fmt == "junit":
        from .reporters.junit import render_junit

        return render_junit(report, fail_on)
    if to_file:
        return report.to_text(width=100, color=False, verbose=verbose)
    from .reporters.terminal import print_report

    print_report(report, console, verbose=verbose)
    return None


def _append_step_summary(report) -> None:
    """GitHub Actions shows Markdown appended to $GITHUB_STEP_SUMMARY on the job page."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    from .reporters.github import step_summary

    try:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(step_summary(report) + "\n")
    except OSError as exc:
        print(f"cnndoctor: could not append to $GITHUB_STEP_SUMMARY ({target}): {exc.strerror or exc}",
              file=sys.stderr)


def _label_column(value: str | None):
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return value


def _settings(args):
    """Command-line flags over [tool.cnndoctor] over the defaults."""
    from .config import Config, load_config, merge_selection

    cfg = Config() if args.isolated else load_config(args.config)
    chosen = {key: getattr(args, key) if getattr(args, key) is not None else getattr(cfg, key)
              for key in DEFAULTS}
    chosen = {key: DEFAULTS[key] if value is None else value for key, value in chosen.items()}
    select, ignore = merge_selection(args.select, args.ignore, cfg)
    return cfg, chosen, select, ignore


def _sources(args, cfg) -> dict[str, str]:
    """Where each run option came from, for the report's settings block."""
    return {key: "command line" if getattr(args, key, None) is not None else
            "config file" if getattr(cfg, key, None) is not None else "default"
            for key in RUN_OPTIONS}


def _cmd_report(args, console) -> int:
    """Render a report saved as JSON; exit as ``run`` would have for ``--fail-on``."""
    import json

    from .report import Report

    path = Path(args.path)
    try:
        report = Report.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise InputError(f"Cannot read {args.path}: {exc.strerror or exc}.") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{args.path} is not JSON ({exc}); give a file written by `cnndoctor run --format json` "
                         "or by save() of cnndoctor.watch.") from None
    except ValueError as exc:
        raise InputError(f"{args.path} is {exc}; give a file written by `cnndoctor run --format json` or by "
                         "save() of cnndoctor.watch.") from None
    text = _render(report, args.format, bool(args.output), console, args.fail_on)
    if text is not None:
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    return 0 if report.passed(args.fail_on) else 1


def _cmd_run(args, console) -> int:
    from .guard.streams import stdout_to_stderr
    from .guard.timeout import preload_torch, watchdog

    cfg, opt, select, ignore = _settings(args)
    limit = BUDGET_TIMEOUTS[opt["budget"]] if opt["timeout"] is None else opt["timeout"]
    if limit:
        preload_torch(training=_selection_trains(select, ignore))  # import time does not count against --timeout
    # User code runs in here: its prints go to stderr, so the report alone reaches stdout; and a model
    # that never returns stops the run after `limit` seconds (DiagnosisTimeout, exit code 2).
    with stdout_to_stderr(), watchdog(limit):
        report = _diagnose(args, cfg, opt, select, ignore)
    fmt = opt["format"]
    if fmt == "github":
        _append_step_summary(report)
    text = _render(report, fmt, bool(args.output), console, opt["fail_on"], verbose=args.verbose)
    if text is not None:
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
            if not args.quiet:
                print(f"cnndoctor: report written to {args.output} · {report.summary_line()}", file=sys.stderr)
        else:
            sys.stdout.write(text)
    return 0 if report.passed(opt["fail_on"]) else 1


def _selection_trains(select, ignore) -> bool:
    """Whether the selected checks include training probes (and so an optimizer step, and verified fixes)."""
    from .api import selected_checks

    try:
        specs, _ = selected_checks(select, ignore)
    except Exception:  # a bad selection is reported inside the run, with its own message
        return True
    return any(spec.stage == "probes" for spec in specs)


@within_capture  # warnings from importing model.py and building the model go in the report, not to stderr
def _diagnose(args, cfg, opt, select, ignore):
    """Everything that runs user code: import model.py, load the data, build the subject, run the checks."""
    from .api import run_diagnosis
    from .guard.timeout import step
    from .load.data import load_data
    from .load.model import display_path, load_model_file, model_source, parse_model_args
    from .load.subject import make_subject

    step("importing the model file")
    model_file = load_model_file(args.model, verbose=args.verbose)
    step("loading the data")
    data = load_data(args.data, seed=opt["seed"], label_column=_label_column(args.label_column),
                     memory_budget=opt["memory_budget"], budget=opt["budget"], scheduler=opt["scheduler"])
    if data.source == str(Path(args.data)):
        data.source = str(args.data)  # as the user wrote it
    step("preparing the model")
    name = f"{Path(model_file.path).name}:{model_file.name}"
    subject = make_subject(model_file.target, model_file.kind, data, name=name, options=model_file.options,
                           model_args=parse_model_args(args.model_arg), lr=args.lr, batch_size=args.batch_size,
                           device=opt["device"], seed=opt["seed"], layout=opt["layout"],
                           model_args_source="command line", output=args.model_output)
    if args.weights is not None:
        from .load.weights import trained_for

        step("loading the trained weights")
        subject.trained = trained_for(subject, model_file.target, model_file.kind, weights=args.weights)
        subject.settings_source["weights"] = "command line"
    _, line = model_source(model_file.target)
    fmt = opt["format"]
    step("running the checks")
    report = run_diagnosis(subject, select=select, ignore=ignore, budget=opt["budget"],
                           progress=not args.quiet, verbose=args.verbose, thresholds=cfg.thresholds,
                           model_file=display_path(model_file.path), model_line=line, config_file=cfg.path,
                           figures=fmt == "html", sources=_sources(args, cfg))
    return report


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    args = build_parser().parse_args(argv)
    from .reporters.terminal import force_terminal_for

    console = Console(highlight=False, force_terminal=force_terminal_for(sys.stdout))
    verbose = getattr(args, "verbose", False)
    try:
        if args.command == "list":
            return _cmd_list(console)
        if args.command == "explain":
            return _cmd_explain(args.code, console)
        if args.command == "docs":
            from .docs import main as docs_main

            return docs_main([*(["-o", args.output] if args.output else []), *(["--check"] if args.check else []),
                              *(["--readme", args.readme] if args.readme else [])])
        if args.command == "report":
            return _cmd_report(args, console)
        return _cmd_run(args, console)
    except InputError as exc:
        if verbose and isinstance(exc, UserCodeError) and exc.__cause__ is not None:
            traceback.print_exception(exc.__cause__)  # the user's constructor raised: their traceback
        print(f"cnndoctor: error: {exc}", file=sys.stderr)
        return 2
    except DiagnosisTimeout as exc:  # --timeout: the message names the phase and the module
        if verbose:
            traceback.print_exception(exc)
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
