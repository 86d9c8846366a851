"""The same command and seed give the same findings and evidence, busy machine or not (issue 13 §4)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "chance_accuracy"
BUSY = "import time\nend = time.time() + 300\nwhile time.time() < end:\n    pass\n"


def _diagnose(out: Path) -> dict:
    """``python -m cnndoctor run`` as a user runs it: torch's own default thread count, no conftest."""
    env = {k: v for k, v in os.environ.items() if k not in ("CNNDOCTOR_THREADS", "OMP_NUM_THREADS",
                                                              "MKL_NUM_THREADS")}
    cmd = [sys.executable, "-m", "cnndoctor", "run", str(SAMPLE / "model.py"), str(SAMPLE / "data.npz"),
           "--format", "json", "--budget", "quick", "--select", "D1,L2,T", "--fail-on", "never", "-q",
           "--isolated", "-o", str(out)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(out.read_text(encoding="utf-8"))


def _verdicts(doc: dict) -> dict:
    """Everything but wall-clock numbers: those live in the timings (and the checks' own seconds)."""
    return {"findings": doc["findings"], "diagnosis": doc["diagnosis"], "notes": doc["notes"],
            "checks": [{k: v for k, v in c.items() if k != "seconds"} for c in doc["checks"]]}


@pytest.mark.slow
def test_same_seed_same_findings_and_evidence_under_cpu_load(tmp_path):
    quiet = _diagnose(tmp_path / "quiet.json")
    busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(2)]  # more runnable tasks than cores
    try:
        loaded = _diagnose(tmp_path / "loaded.json")
    finally:
        for p in busy:
            p.terminate()
        for p in busy:
            p.wait(timeout=10)
    codes = [f["code"] for f in quiet["findings"]]
    assert {"T101", "T104", "T206"} <= set(codes), codes  # several probe checks judged the probes
    a, b = _verdicts(quiet), _verdicts(loaded)
    assert [(f["code"], f["severity"], f["message"]) for f in a["findings"]] == \
        [(f["code"], f["severity"], f["message"]) for f in b["findings"]]
    for fa, fb in zip(a["findings"], b["findings"]):
        assert fa["evidence"] == fb["evidence"], fa["code"]
        assert fa["verified"] == fb["verified"], fa["code"]
    assert a == b
    assert not any("time cap" in n for n in quiet["notes"] + loaded["notes"])
    assert any(k.endswith("training_probe.seconds") for k in loaded["timings"])  # wall clock: timings only
