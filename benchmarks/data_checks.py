"""Benchmark of the data checks (D1xx-D3xx): their time as a ratio to one numpy mean+std pass.

    python -m benchmarks.data_checks                  # both workloads, each in its own process
    python -m benchmarks.data_checks --only big       # 200,000 x 1 x 1,000 only
    python -m benchmarks.data_checks --zscore         # every window standardised on its own (slower D202 path)

Workloads (seeded sinusoids whose frequency depends on the class, plus noise; float32, built in chunks):
  big    200,000 x 1 x 1,000 (0.8 GB), split 160,000 / 40,000 as views of one array
  multi   20,000 x 3 x 1,000 (0.24 GB), split 16,000 / 4,000
The reference pass is ``X.mean(); X.std()`` over the whole array, timed after the checks. Memory
is the peak resident set of the process during the checks beyond what it held once torch was
imported and the array existed (libraries the checks import count against them). The model is a
small 1-D CNN; the checks that need a forward pass (layout,
scrambled time axis) run one on a handful of samples. Target: data checks <= 3 passes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

WORKLOADS = {"big": {"n": 200_000, "channels": 1, "length": 1_000, "classes": 5},
             "multi": {"n": 20_000, "channels": 3, "length": 1_000, "classes": 10}}


def make_data(n: int, channels: int, length: int, classes: int, *, zscore: bool = False, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n).astype(np.int64)
    X = np.empty((n, channels, length), dtype=np.float32)
    t = np.arange(length, dtype=np.float32) / length
    for start in range(0, n, 1_000):  # small chunks: generating the data leaves no large transient peak
        sl = slice(start, min(n, start + 1_000))
        k = y[sl, None, None].astype(np.float32)
        phase = rng.uniform(0, 2 * np.pi, (sl.stop - sl.start, channels, 1)).astype(np.float32)
        chunk = np.sin(2 * np.pi * (3 + 2 * k) * t + phase) + 0.5 * rng.standard_normal(
            (sl.stop - sl.start, channels, length), dtype=np.float32)
        if zscore:
            chunk = (chunk - chunk.mean(axis=2, keepdims=True)) / chunk.std(axis=2, keepdims=True)
        X[sl] = chunk
    return X, y


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_one(name: str, zscore: bool) -> dict:
    import torch
    from torch import nn

    import cnndoctor

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    spec = WORKLOADS[name]
    X, y = make_data(spec["n"], spec["channels"], spec["length"], spec["classes"], zscore=zscore)
    cut = int(0.8 * len(X))

    def factory(in_channels, num_classes):
        return nn.Sequential(nn.Conv1d(in_channels, 16, 7, padding=3), nn.ReLU(), nn.Conv1d(16, 16, 5, padding=2),
                             nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(16, num_classes))

    mark = _current_rss_mb()  # torch and the array are resident; np.std's own temporary comes later
    start = time.perf_counter()
    report = cnndoctor.diagnose(factory, (X[:cut], y[:cut]), (X[cut:], y[cut:]), select=["D"], progress=False,
                                device="cpu")
    checks = time.perf_counter() - start
    extra = _peak_rss_mb() - mark
    start = time.perf_counter()
    X.mean()
    X.std()
    numpy_pass = time.perf_counter() - start
    facts = {k.split(":", 1)[1]: round(v, 3) for k, v in report.timings.items() if k.startswith("fact:")}
    top = dict(sorted(facts.items(), key=lambda kv: -kv[1])[:10])
    return {"workload": name, "shape": [spec["n"], spec["channels"], spec["length"]], "zscore": zscore,
            "data_mb": X.nbytes / 2**20, "numpy_pass_s": numpy_pass, "data_checks_s": checks,
            "ratio": checks / numpy_pass, "extra_peak_mb": extra,
            "findings": [f.code for f in report.findings],
            "statuses": {c.code: str(c.status) for c in report.checks}, "slowest_facts_s": top}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.data_checks")
    parser.add_argument("--only", choices=sorted(WORKLOADS), action="append")
    parser.add_argument("--zscore", action="store_true", help="standardise every window on its own")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one, args.zscore)))
        return 0
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, "
          f"Python {platform.python_version()}, numpy {np.__version__}")
    results = []
    for name in args.only or ["big", "multi"]:
        cmd = [sys.executable, "-m", "benchmarks.data_checks", "--one", name] + (["--zscore"] if args.zscore else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(f"{name} failed:\n{proc.stderr[-3000:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        results.append(r)
        shape = " x ".join(f"{s:,}" for s in r["shape"])
        print(f"{shape} float32 ({r['data_mb']:.0f} MB{', windows z-scored' if r['zscore'] else ''}): data checks "
              f"{r['data_checks_s']:.2f} s = {r['ratio']:.2f}x one mean+std pass ({r['numpy_pass_s']:.2f} s); "
              f"extra peak memory {r['extra_peak_mb']:.0f} MB; findings {r['findings'] or 'none'}")
        print(f"    slowest facts (s): {r['slowest_facts_s']}")
        skipped = {k: v for k, v in r["statuses"].items() if v in ("skipped", "errored")}
        if skipped:
            print(f"    not run: {skipped}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
