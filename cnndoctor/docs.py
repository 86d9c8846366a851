"""docs/checks.md, generated from the registered checks' docstrings.

``python -m cnndoctor.docs -o docs/checks.md`` (or ``cnndoctor docs -o docs/checks.md``) writes
it; ``--check`` exits 1 when the file differs from what the checks say now. Each finding's
``url`` in the JSON report points at its check's section here.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from .findings import DOCS_PAGE, docs_anchor
from .registry import CheckSpec, all_checks

__all__ = ["builtin_checks", "render_checks_markdown", "main"]

_FAMILIES = {
    "D": ("Data", "what the model is fed: values, scale, leakage, layout"),
    "L": ("Labels, outputs and loss", "the contract between the model's output, the labels and the loss"),
    "A": ("Architecture", "static and traced properties of the network"),
    "T": ("Training probes", "short training runs on the real data, from fresh weights"),
}
_FENCE = re.compile(r"^\s*(```|~~~)")


def builtin_checks() -> list[CheckSpec]:
    """The checks shipped in ``cnndoctor.checks`` (not ones a user or a test registered)."""
    return [s for s in all_checks() if s.func.__module__.startswith("cnndoctor.checks")]


def _demote(markdown: str, levels: int = 2) -> str:
    """Push the docstring's ``## Section`` headings down under the check's own heading."""
    out, fenced = [], False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            line = "#" * levels + line
        out.append(line)
    return "\n".join(out)


def _toml_value(value) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _section(spec: CheckSpec) -> str:
    lines = [f"### {spec.code} {spec.name}", "",
             f"Default severity: **{spec.severity}** · stage: {spec.stage} · reads: "
             + ", ".join(f"`{f}`" for f in spec.facts), ""]
    if spec.thresholds:
        lines += ["Thresholds (override them in `pyproject.toml`, or with `thresholds=` in the API):", "",
                  "```toml", f"[tool.cnndoctor.thresholds.{spec.code}]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in spec.thresholds.items()]
        lines += ["```", ""]
    else:
        lines += ["No thresholds to set.", ""]
    lines += [_demote(spec.doc), "", "[back to the list](#checks)", ""]
    return "\n".join(lines)


def render_checks_markdown(specs: list[CheckSpec] | None = None) -> str:
    """The whole page, deterministic for a given set of checks."""
    specs = builtin_checks() if specs is None else specs
    out = ["# cnndoctor checks", "",
           f"<!-- Generated from the checks' docstrings by `python -m cnndoctor.docs -o {DOCS_PAGE}`. "
           "Do not edit by hand: tests/test_docs.py fails when this page is out of date. -->", "",
           "Every check has a code and a name (`D102 unscaled-input`); `--select` and `--ignore` take codes, "
           "prefixes (`D`, `L2`) or names. `cnndoctor explain CODE` prints a check's section in the terminal, "
           "and each finding in the JSON report links here in its `url` field.", "",
           "## Checks", "",
           "| code | name | severity | what it does |", "|---|---|---|---|"]
    for s in specs:
        out.append(f"| [{s.code}](#{docs_anchor(s.code, s.name)}) | {s.name} | {s.severity} | {_cell(s.summary)} |")
    out.append("")
    for letter, (title, blurb) in _FAMILIES.items():
        family = [s for s in specs if s.code.startswith(letter)]
        if not family:
            continue
        out += [f"## {title} ({letter})", "", f"{letter} checks look at {blurb}.", ""]
        out += [_section(s) for s in family]
    others = [s for s in specs if s.code[:1] not in _FAMILIES]
    if others:
        out += ["## Other checks", ""] + [_section(s) for s in others]
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cnndoctor docs", description="Generate docs/checks.md from the checks.")
    parser.add_argument("-o", "--output", help=f"write the page here (e.g. {DOCS_PAGE}) instead of stdout")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when the file given with -o (default docs/checks.md) is out of date")
    args = parser.parse_args(argv)
    text = render_checks_markdown()
    if args.check:
        path = Path(args.output or DOCS_PAGE)
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            print(f"{path} is up to date.", file=sys.stderr)
            return 0
        print(f"{path} is out of date; regenerate it with `python -m cnndoctor.docs -o {path}`.", file=sys.stderr)
        return 1
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
