"""``python -m benchmarks.zoo``: run every scenario through the CLI, print the table, update BENCHMARKS.md."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import sys
from pathlib import Path

from .runner import ROOT, markdown_table, run_scenario, summarise
from .scenarios import SCENARIOS

BEGIN, END = "<!-- zoo:begin -->", "<!-- zoo:end -->"


def _machine() -> str:
    import torch

    return (f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"torch {torch.__version__}")


def _write(table: str, budget: str) -> Path:
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    stamp = datetime.date.today().isoformat()
    block = (f"{BEGIN}\nLast run: {stamp}, `python -m benchmarks.zoo` (budget {budget}, CPU).\n\n"
             f"{table}\n{END}")
    if BEGIN in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        text += ("\n## Bug zoo\n\nEvery catalogued fault that can be seeded, seeded into real UCR/UEA data the "
                 "way users introduce it, and diagnosed by the real CLI (`cnndoctor run MODEL DATA --format json`). "
                 "A faulty scenario is right (✓) when the primary root cause is one of the expected codes, and "
                 "top-3 when an expected code is among the first three findings; a healthy scenario is right when "
                 "the run ends with no error finding and exit code 0. Scenarios, models and data builders live in "
                 f"`benchmarks/zoo/`; misses are the next work items.\n\n{block}\n")
    path.write_text(text, encoding="utf-8")
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.zoo", description=__doc__)
    parser.add_argument("names", nargs="*", help="run only these scenarios (default: all)")
    parser.add_argument("--fast", action="store_true", help="only the regression subset (fast=True)")
    parser.add_argument("--budget", default="standard", choices=["quick", "standard", "thorough"])
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    parser.add_argument("--json-dir", type=Path, help="save each scenario's JSON report (and stderr) here")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args(argv)
    if args.list:
        for s in SCENARIOS:
            expected = "healthy" if s.healthy else "/".join(s.expected)
            print(f"{s.name:42s} {expected:10s} {'fast' if s.fast else '    '} {s.model:24s} {s.note}")
        return 0
    unknown = set(args.names) - {s.name for s in SCENARIOS}
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))} (see --list)")
    chosen = [s for s in SCENARIOS if (not args.names or s.name in args.names) and (s.fast or not args.fast)]
    outcomes = []
    for s in chosen:
        o = run_scenario(s, budget=args.budget)
        if args.json_dir:
            args.json_dir.mkdir(parents=True, exist_ok=True)
            (args.json_dir / f"{s.name}.json").write_text(json.dumps(o.report, indent=1) if o.report else "null")
            if o.stderr:
                (args.json_dir / f"{s.name}.stderr").write_text(o.stderr)
        mark = "ok " if o.top1_ok else ("top3" if o.top3_ok else "MISS")
        tail = f"  [{o.failure}]" if o.failure else ""
        print(f"{mark} {s.name:40s} expected {('healthy' if s.healthy else '/'.join(s.expected)):12s} "
              f"primary {str(o.primary):6s} top-3 {','.join(o.top3):18s} {o.seconds:5.1f}s{tail}", flush=True)
        outcomes.append(o)
    summary = summarise(outcomes)
    table = markdown_table(outcomes, summary, _machine())
    print()
    print(next(line for line in table.splitlines() if line.startswith("Faulty scenarios")))
    if not args.no_write and not args.names and not args.fast:
        print(f"wrote {_write(table, args.budget)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
