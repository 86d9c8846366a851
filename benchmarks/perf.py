"""Performance benchmark: what a diagnosis costs, as ratios measured in one run.

    python -m benchmarks.perf            # W1, W2, W3 on the CPU (and on CUDA when torch sees a GPU)
    python -m benchmarks.perf --only W1  # one workload

Workloads (synthetic seeded signals: class-dependent frequencies and shapes plus noise):
  W1  2,000 × 1 × 500, 5 classes    — standard diagnosis / one epoch, data checks / one mean+std pass
  W2 20,000 × 3 × 1,000, 10 classes — the same
  W3 200,000 × 1 × 1,000            — data checks only
Each workload runs in its own process so that its peak memory (max RSS) is its own.
Targets: diagnosis ≤ 1 epoch; data checks ≤ 3 numpy mean+std passes.
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

from .probe_cost import make_data as _signals
from .probe_cost import typical_cnn

WORKLOADS = {
    "W1": dict(n=2_000, channels=1, length=500, classes=5, model=True),
    "W2": dict(n=20_000, channels=3, length=1_000, classes=10, model=True),
    "W3": dict(n=200_000, channels=1, length=1_000, classes=5, model=False),
}


def make_data(n, channels, length, classes, seed=0):
    """An 80/20 split of the probe benchmark's seeded signals (class-dependent sinusoids plus noise)."""
    n_train = int(0.8 * n)
    return _signals(n_train, n - n_train, channels, length, classes, seed)


def one_epoch_seconds(X, y, classes, device, batch_size=64):
    import torch

    torch.manual_seed(0)
    model = typical_cnn(X.shape[1], classes).to(device)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    warm = Xt[:batch_size].to(device)  # the first step pays a one-off set-up cost: not part of an epoch
    loss_fn(model(warm), yt[:batch_size].to(device)).backward()
    opt.zero_grad()
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for idx in torch.randperm(len(Xt)).split(batch_size):
        opt.zero_grad()
        loss_fn(model(Xt[idx].to(device)), yt[idx].to(device)).backward()
        opt.step()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def numpy_pass_seconds(X):
    start = time.perf_counter()
    X.mean()
    X.std()
    return time.perf_counter() - start


def run_one(name, device):
    import cnndoctor

    spec = WORKLOADS[name]
    X_train, y_train, X_test, y_test = make_data(spec["n"], spec["channels"], spec["length"], spec["classes"])
    data_bytes = X_train.nbytes + X_test.nbytes
    out = {"workload": name, "device": device, "shape": [spec["n"], spec["channels"], spec["length"]],
           "data_mb": data_bytes / 2**20}
    X_all = np.concatenate([X_train, X_test]) if name != "W3" else X_train
    out["numpy_pass_s"] = numpy_pass_seconds(X_all)
    del X_all
    def factory(in_channels, num_classes):
        return typical_cnn(in_channels, num_classes)
    start = time.perf_counter()
    cnndoctor.diagnose(factory, (X_train, y_train), (X_test, y_test), select=["D"], progress=False,
                       device=device)
    out["data_checks_s"] = time.perf_counter() - start
    out["data_checks_over_pass"] = out["data_checks_s"] / out["numpy_pass_s"]
    if spec["model"]:
        out["epoch_s"] = one_epoch_seconds(X_train, y_train, spec["classes"], device)
        start = time.perf_counter()
        report = cnndoctor.diagnose(factory, (X_train, y_train), (X_test, y_test), progress=False,
                                    budget="standard", device=device)
        out["diagnosis_s"] = time.perf_counter() - start
        out["diagnosis_over_epoch"] = out["diagnosis_s"] / out["epoch_s"]
        out["findings"] = [f.code for f in report.findings]
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["peak_over_data"] = out["peak_rss_mb"] / out["data_mb"]
    return out


def _devices():
    import torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf")
    parser.add_argument("--only", choices=sorted(WORKLOADS), action="append")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one workload in this process
    parser.add_argument("--device", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one, args.device or "cpu")))
        return 0
    import torch

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"torch {torch.__version__}, numpy {np.__version__}, torch threads {torch.get_num_threads()}")
    results = []
    for device in _devices():
        for name in args.only or list(WORKLOADS):
            proc = subprocess.run([sys.executable, "-m", "benchmarks.perf", "--one", name, "--device", device],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{name} on {device} failed:\n{proc.stderr[-2000:]}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            results.append(r)
            line = (f"{name} {device}: data {r['data_mb']:.0f} MB · data checks {r['data_checks_s']:.2f} s = "
                    f"{r['data_checks_over_pass']:.2f}× one mean+std pass ({r['numpy_pass_s']:.2f} s)")
            if "epoch_s" in r:
                line += (f" · standard diagnosis {r['diagnosis_s']:.1f} s = {r['diagnosis_over_epoch']:.2f}× one "
                         f"epoch ({r['epoch_s']:.1f} s)")
            line += f" · peak RSS {r['peak_rss_mb']:.0f} MB = {r['peak_over_data']:.2f}× the data"
            print(line, flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
