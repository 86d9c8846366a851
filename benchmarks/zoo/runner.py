"""Run scenarios through the real CLI (``--format json``) and score the diagnoses."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from cnndoctor.diagnosis.order import at_chance

from .scenarios import NOT_SEEDED, SCENARIOS, Scenario

__all__ = ["Outcome", "run_scenario", "summarise", "markdown_table", "ROOT"]

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_EXIT = 124  # as timeout(1) reports it


@dataclass
class Outcome:
    scenario: Scenario
    exit_code: int
    primary: str | None
    top3: list[str]
    errors: list[str]
    seconds: float
    stderr: str = ""
    codes: list[str] = field(default_factory=list)
    report: dict | None = None  # the CLI's JSON report, as parsed

    @property
    def top1_ok(self) -> bool:
        if self.scenario.healthy:
            return not self.errors and self.exit_code == 0
        return self.primary in self.scenario.expected

    @property
    def top3_ok(self) -> bool:
        if self.scenario.healthy:
            return self.top1_ok
        return any(code in self.scenario.expected for code in self.top3)

    @property
    def consequence(self) -> str:
        """What the user's run meets: the scenario's declared "crash"/"leak", else "chance" when the training
        probe at the user's settings sits at chance on a faulty scenario (measured), else ""."""
        if self.scenario.consequence:
            return self.scenario.consequence
        if self.scenario.healthy or self.report is None:
            return ""
        return "chance" if at_chance((self.report.get("diagnosis") or {}).get("probe")) else ""

    @property
    def gate_ok(self) -> bool | None:
        """A run that crashes, sits at chance or leaks must fail the gate (exit 1); None when that does not apply."""
        return None if not self.consequence else self.exit_code == 1

    @property
    def failure(self) -> str | None:
        """Why the CLI gave no report (internal error, bad input, timeout), in one line; None when it did."""
        if self.report is not None:
            return None
        if self.exit_code == TIMEOUT_EXIT:
            return "timed out"
        last = self.stderr.strip().splitlines()[-1] if self.stderr.strip() else "no output"
        return f"exit {self.exit_code}: {last}"


def run_scenario(scenario: Scenario, *, budget: str = "standard", timeout: float = 600) -> Outcome:
    with tempfile.TemporaryDirectory(prefix=f"zoo-{scenario.name}-") as tmp:
        model, data, extra = scenario.build(Path(tmp))
        cmd = [sys.executable, "-m", "cnndoctor", "run", str(model), str(data), "--format", "json", "-q",
               "--budget", budget, "--device", "cpu", *extra]
        env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
        start = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp)
        except subprocess.TimeoutExpired:
            return Outcome(scenario, TIMEOUT_EXIT, None, [], [], time.perf_counter() - start, "timed out")
        seconds = time.perf_counter() - start
    if proc.returncode == 2 or not proc.stdout.strip():
        return Outcome(scenario, proc.returncode, None, [], [], seconds, proc.stderr.strip())
    doc = json.loads(proc.stdout)
    codes = [f["code"] for f in doc["findings"]]
    errors = [f["code"] for f in doc["findings"] if f["severity"] == "error"]
    return Outcome(scenario, proc.returncode, doc["diagnosis"]["primary"], codes[:3], errors, seconds,
                   proc.stderr.strip(), codes, doc)


def summarise(outcomes: list[Outcome]) -> dict:
    faulty = [o for o in outcomes if not o.scenario.healthy]
    healthy = [o for o in outcomes if o.scenario.healthy]
    times = [o.seconds for o in outcomes]
    return {
        "scenarios": len(outcomes),
        "faulty": len(faulty),
        "healthy": len(healthy),
        "top1": sum(o.top1_ok for o in faulty) / len(faulty) if faulty else float("nan"),
        "top3": sum(o.top3_ok for o in faulty) / len(faulty) if faulty else float("nan"),
        "healthy_with_errors": sum(bool(o.errors) or o.exit_code != 0 for o in healthy),
        "gate_must_fail": sum(o.gate_ok is not None for o in outcomes),
        "gate_failed": sum(bool(o.gate_ok) for o in outcomes),
        "gate_misses": [o.scenario.name for o in outcomes if o.gate_ok is False],
        "no_report": sum(o.report is None for o in outcomes),
        "median_seconds": statistics.median(times) if times else float("nan"),
        "total_seconds": sum(times),
    }


def _exit_cell(o: Outcome) -> str:
    """The exit code, with the consequence that requires 1 (✗ when the gate let it pass)."""
    if not o.consequence:
        return str(o.exit_code)
    return f"{o.exit_code} ({o.consequence}{'' if o.gate_ok else ' ✗'})"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table(outcomes: list[Outcome], summary: dict, machine: str) -> str:
    lines = ["| scenario | fault seeded | expected | primary found | top-3 | ok | exit | seconds |",
             "|---|---|---|---|---|---|---|---|"]
    for o in outcomes:
        expected = "healthy (no error)" if o.scenario.healthy else " / ".join(o.scenario.expected)
        found = o.primary or (o.failure[:70] if o.failure else "—")
        if o.scenario.healthy and o.errors:
            found = f"errors: {', '.join(o.errors)}"
        mark = "✓" if o.top1_ok else ("top-3" if o.top3_ok else "✗")
        lines.append(f"| {o.scenario.name} | {_cell(o.scenario.note) or '—'} | {expected} | {_cell(found)} | "
                     f"{', '.join(o.top3) or '—'} | {mark} | {_exit_cell(o)} | {o.seconds:.1f} |")
    s = summary
    lines += ["", f"Faulty scenarios: {s['faulty']} · top-1 accuracy **{s['top1']:.0%}** · top-3 recall "
                  f"**{s['top3']:.0%}** · healthy scenarios: {s['healthy']}, with error findings: "
                  f"**{s['healthy_with_errors']}** · runs without a report (internal error, timeout): "
                  f"{s['no_report']} · median {s['median_seconds']:.1f} s, total {s['total_seconds']:.0f} s "
                  f"per scenario run on {machine}."]
    misses = ", ".join(s["gate_misses"]) or "none"
    lines += ["", f"Gate: of the {s['gate_must_fail']} scenarios whose run crashes, leaks (both by the fault's "
                  "nature) or sits at chance (the training probe's held-out balanced accuracy at the user's "
                  f"settings, judged by `diagnosis.order.at_chance`), "
                  f"**{s['gate_failed']}** exit 1; exit 0 on: {misses}."]
    seeded = sorted({code for sc in SCENARIOS for code in sc.expected})
    lines += ["", f"Codes seeded as a primary cause ({len(seeded)}): {', '.join(seeded)}.",
              "Codes without a scenario of their own — symptoms whose causes the zoo seeds (the scenarios "
              "named show them among their findings):"]
    lines += [f"- {code}: {why}" for code, why in sorted(NOT_SEEDED.items())]
    return "\n".join(lines)
