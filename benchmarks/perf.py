"""Performance benchmark: what a diagnosis costs, as ratios measured in one run.

    python -m benchmarks.perf            # W1, W2, W3 on the CPU (and on CUDA when torch sees a GPU)
    python -m benchmarks.perf --only W1  # one workload

Workloads (synthetic seeded signals: class-dependent frequencies and shapes plus noise):
  W1  2,000 × 1 × 500, 5 classes    — standard diagnosis / one epoch, data checks / one mean+std pass
  W2 20,000 × 3 × 1,000, 10 classes — the same
  W2-b64  W2 diagnosed with batch_size=64 given, the epoch's own (W1 and W2 pass none: cnndoctor's default, 32)
  W3 200,000 × 1 × 1,000            — data checks only
Each workload runs in its own process so that its peak memory (max RSS) is its own.
Targets: diagnosis ≤ 1 epoch; data checks ≤ 3 numpy mean+std passes.

Data beyond memory (issue 18; ``--only B1`` …, files written once under $CNNDOCTOR_BENCH_DIR, default /tmp):
  B1       800,000 × 1 × 1,000 memory-mapped .npy (4× W3, 3.2 GB), --memory-budget 256MiB, chunks in this process
  B1-dask  the same on the default Dask LocalCluster of 2 workers (threads)
  B1-proc  the same on a LocalCluster of 2 worker processes given as --scheduler ADDRESS (their peak RSS too)
Targets: data checks time per byte within 20% of W3's (linear); peak RSS well below the array's size.

Start-up (``--only S1``):
  S1  `cnndoctor run sample_data/healthy/model.py sample_data/healthy/data.npz --select A101` (GunPoint, 150-step
      series) against `python -c "import torch"`, five interleaved runs of each, medians. Target ≤ 2×.
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
    # the same, with the batch size the epoch trains at given to diagnose: every probe step costs what the epoch's does
    "W2-b64": dict(n=20_000, channels=3, length=1_000, classes=10, model=True, batch_size=64),
    "W3": dict(n=200_000, channels=1, length=1_000, classes=5, model=False),
}


# Data beyond memory: (rows, memory budget, scheduler); the rows are W3's four times over
BIG = {"B1": "sync", "B1-dask": "auto", "B1-proc": "processes"}
BIG_ROWS = 4 * WORKLOADS["W3"]["n"]
BIG_BUDGET = "256MiB"
_BIG_BLOCK = 40_000  # rows generated and written at a time


def big_folder() -> str:
    """The .npy folder of the B rows (X_train, y_train, X_test, y_test), written once, block by block."""
    from numpy.lib.format import open_memmap

    spec = WORKLOADS["W3"]
    folder = os.path.join(os.environ.get("CNNDOCTOR_BENCH_DIR", "/tmp"), f"cnndoctor_big_{BIG_ROWS}")
    done = os.path.join(folder, "complete")
    if os.path.exists(done):
        return folder
    os.makedirs(folder, exist_ok=True)
    n_train = int(0.8 * BIG_ROWS)
    shape = (spec["channels"], spec["length"]) if spec["channels"] > 1 else (spec["length"],)
    X = {"train": open_memmap(os.path.join(folder, "X_train.npy"), "w+", np.float32, (n_train, *shape)),
         "test": open_memmap(os.path.join(folder, "X_test.npy"), "w+", np.float32, (BIG_ROWS - n_train, *shape))}
    y = {"train": np.empty(n_train, np.int64), "test": np.empty(BIG_ROWS - n_train, np.int64)}
    per = int(0.8 * _BIG_BLOCK)
    for b, start in enumerate(range(0, BIG_ROWS, _BIG_BLOCK)):
        Xtr, ytr, Xte, yte = make_data(_BIG_BLOCK, spec["channels"], spec["length"], spec["classes"], seed=b)
        at, bt = b * per, b * (_BIG_BLOCK - per)
        X["train"][at:at + per], y["train"][at:at + per] = Xtr.reshape(per, *shape), ytr
        X["test"][bt:bt + len(Xte)], y["test"][bt:bt + len(Xte)] = Xte.reshape(len(Xte), *shape), yte
    for split in ("train", "test"):
        X[split].flush()
        np.save(os.path.join(folder, f"y_{split}.npy"), y[split])
    del X
    open(done, "w").close()
    return folder


def run_big(name, device):
    """Data checks (select D) on the memory-mapped B array: time, this process's peak RSS and the workers'."""
    import cnndoctor

    folder = big_folder()
    X_train = np.load(os.path.join(folder, "X_train.npy"), mmap_mode="r")
    X_test = np.load(os.path.join(folder, "X_test.npy"), mmap_mode="r")
    y_train, y_test = np.load(os.path.join(folder, "y_train.npy")), np.load(os.path.join(folder, "y_test.npy"))
    out = {"workload": name, "device": device, "shape": [BIG_ROWS, *X_train.shape[1:]],
           "data_mb": (X_train.nbytes + X_test.nbytes) / 2**20, "memory_budget": BIG_BUDGET,
           "rss_before_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    cluster = client = None
    scheduler = BIG[name]
    if scheduler == "processes":
        from distributed import Client, LocalCluster

        start = time.perf_counter()
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
        client = Client(cluster)
        out["cluster_start_s"] = time.perf_counter() - start
        scheduler = cluster.scheduler_address

    def factory(in_channels, num_classes):
        return typical_cnn(in_channels, num_classes)
    start = time.perf_counter()
    report = cnndoctor.diagnose(factory, (X_train, y_train), (X_test, y_test), select=["D"], progress=False,
                                device=device, memory_budget=BIG_BUDGET, scheduler=scheduler)
    out["data_checks_s"] = time.perf_counter() - start
    out["notes"] = [n for n in report.notes if "rows" in n and ("chunks" in n or "sample" in n)]
    if client is not None:
        peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        out["workers_peak_rss_mb"] = sorted(peaks.values())
        client.close()
        cluster.close()
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["peak_over_data"] = out["peak_rss_mb"] / out["data_mb"]
    return out


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
    X_all = np.concatenate([X_train, X_test]) if spec["model"] else X_train
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
                                    budget="standard", device=device, batch_size=spec.get("batch_size"))
        out["diagnosis_s"] = time.perf_counter() - start
        out["diagnosis_over_epoch"] = out["diagnosis_s"] / out["epoch_s"]
        out["findings"] = [f.code for f in report.findings]
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["peak_over_data"] = out["peak_rss_mb"] / out["data_mb"]
    return out


def _big_line(r, results) -> str:
    """A B row: time, its ratio per byte to W3's data checks measured in this run, peak RSS against the data."""
    w3 = next((x for x in results if x["workload"] == "W3" and x["device"] == r["device"]), None)
    line = (f"{r['workload']} {r['device']}: data {r['data_mb']:.0f} MB on disk, budget {r['memory_budget']} · "
            f"data checks {r['data_checks_s']:.1f} s")
    if w3 is not None:
        per_byte = (r["data_checks_s"] / r["data_mb"]) / (w3["data_checks_s"] / w3["data_mb"])
        line += f" = {per_byte:.2f}× W3's time per byte (target ≤ 1.2)"
    line += f" · peak RSS {r['peak_rss_mb']:.0f} MB = {r['peak_over_data']:.2f}× the data"
    if "workers_peak_rss_mb" in r:
        line += (f" · workers' peak RSS {', '.join(f'{w:.0f}' for w in r['workers_peak_rss_mb'])} MB "
                 f"(cluster start {r['cluster_start_s']:.1f} s)")
    return line


STARTUP_RUNS = 5


def startup_row() -> dict:
    """Wall seconds of a one-check CLI run and of importing torch, interleaved so that load hits both alike."""
    import statistics

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    select = [sys.executable, "-m", "cnndoctor", "run", "sample_data/healthy/model.py",
              "sample_data/healthy/data.npz", "--select", "A101", "--format", "json", "-q"]
    torch_only = [sys.executable, "-c", "import torch"]
    times = {"select": [], "torch": []}
    for _ in range(STARTUP_RUNS):
        for key, cmd in (("torch", torch_only), ("select", select)):
            start = time.perf_counter()
            subprocess.run(cmd, cwd=root, capture_output=True, check=True)
            times[key].append(time.perf_counter() - start)
    select_s, torch_s = statistics.median(times["select"]), statistics.median(times["torch"])
    return {"workload": "S1", "select_A101_s": select_s, "import_torch_s": torch_s, "ratio": select_s / torch_s}


def _devices():
    import torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf")
    parser.add_argument("--only", choices=sorted([*WORKLOADS, *BIG, "S1"]), action="append")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one workload in this process
    parser.add_argument("--device", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.one:
        run = run_big if args.one in BIG else run_one
        print(json.dumps(run(args.one, args.device or "cpu")))
        return 0
    import torch

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"torch {torch.__version__}, numpy {np.__version__}, torch threads {torch.get_num_threads()}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results = []
    if not args.only or "S1" in args.only:
        r = startup_row()
        results.append(r)
        print(f"S1 cpu: --select A101 {r['select_A101_s']:.2f} s = {r['ratio']:.2f}× `import torch` "
              f"({r['import_torch_s']:.2f} s), medians of {STARTUP_RUNS} interleaved runs (target ≤ 2)", flush=True)
    for device in _devices():
        for name in [n for n in (args.only or [*WORKLOADS, *BIG]) if n != "S1"]:
            proc = subprocess.run([sys.executable, "-m", "benchmarks.perf", "--one", name, "--device", device],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{name} on {device} failed:\n{proc.stderr[-2000:]}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            results.append(r)
            if name in BIG:
                print(_big_line(r, results), flush=True)
                continue
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
