"""What the training probes cost, as a ratio to one training epoch, measured in one run.

    python -m benchmarks.probe_cost                 # CPU, and CUDA when torch sees a GPU
    python -m benchmarks.probe_cost --budget quick  # another budget
    python -m benchmarks.probe_cost --n 4000        # a smaller workload (for a quick look)

Workload: 20,000 training series of 3 channels x 1,000 steps, 10 classes (seeded sinusoids
whose frequency depends on the class, plus noise), 2,000 held-out series; a typical 3-conv
1D CNN (32/64/64 channels, BatchNorm, ReLU, max-pooling, global average pooling), Adam at
lr 1e-3, batch 64. "One epoch" is a plain training loop over the 20,000 series, timed after
one warm-up step. "Probes" runs every probe check (L205, T1xx, T2xx) the way ``diagnose``
does — subject, context, checks — with the probes they need (training probe, zeroed-input
baseline when needed, overfit one batch, LR range test), including cnndoctor's own warm-up,
thread choice and the forward pass that decides how the data is fed.
Target (BENCHMARKS.md, "Performance"): the standard diagnosis costs about one epoch.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

PROBE_FACTS = ("probe_data", "probe_runtime", "initial_loss", "parameter_inventory", "training_probe",
               "zero_input_probe", "overfit_batch", "lr_range")


def make_data(n: int, n_test: int, channels: int, length: int, classes: int, seed: int = 0):
    """Seeded class-dependent sinusoids plus noise, built in chunks (float32, no full-size temporaries)."""
    rng = np.random.default_rng(seed)
    total = n + n_test
    y = rng.integers(0, classes, total)
    X = np.empty((total, channels, length), dtype=np.float32)
    t = np.arange(length, dtype=np.float32) / length
    for start in range(0, total, 4_000):
        sl = slice(start, min(total, start + 4_000))
        k = y[sl, None, None].astype(np.float32)
        phase = rng.uniform(0, 2 * np.pi, (sl.stop - sl.start, channels, 1)).astype(np.float32)
        X[sl] = np.sin(2 * np.pi * (3 + 2 * k) * t + phase) + 0.5 * rng.standard_normal(
            (sl.stop - sl.start, channels, length), dtype=np.float32)
    return X[:n], y[:n], X[n:], y[n:]


def typical_cnn(in_channels: int = 3, num_classes: int = 10):
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv1d(in_channels, 32, 7, padding=3), nn.BatchNorm1d(32), nn.ReLU(), nn.MaxPool1d(2),
        nn.Conv1d(32, 64, 5, padding=2), nn.BatchNorm1d(64), nn.ReLU(), nn.MaxPool1d(2),
        nn.Conv1d(64, 64, 3, padding=1), nn.BatchNorm1d(64), nn.ReLU(),
        nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(64, num_classes))


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def one_epoch(X, y, classes: int, device: str, batch_size: int = 64, seed: int = 0) -> tuple[float, int]:
    """Seconds for one shuffled epoch of the plain loop a user writes (after one warm-up step), and its steps."""
    import torch

    torch.manual_seed(seed)
    model = typical_cnn(X.shape[1], classes).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = torch.nn.CrossEntropyLoss()
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed)).numpy()

    def step(idx):
        xb = torch.from_numpy(X[np.sort(idx)]).to(device)
        yb = torch.from_numpy(y[np.sort(idx)]).to(device)
        optimizer.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        optimizer.step()
        return loss

    step(order[:batch_size])  # warm-up: first kernels and allocator set-up
    _sync(device)
    start = time.perf_counter()
    steps = 0
    for i in range(0, len(order), batch_size):
        step(order[i:i + batch_size])
        steps += 1
    _sync(device)
    return time.perf_counter() - start, steps


def probes(X, y, Xt, yt, device: str, budget: str):
    """Run every probe check through the context, as ``diagnose`` does, and return (seconds, context, findings)."""
    from cnndoctor.context import Context
    from cnndoctor.load.data import data_from_arrays
    from cnndoctor.load.subject import make_subject
    from cnndoctor.registry import select_checks
    from cnndoctor.runner import run_checks

    start = time.perf_counter()
    subject = make_subject(typical_cnn, "build_model", data_from_arrays(X, y, Xt, yt), name="typical_cnn",
                           options={}, lr=1e-3, batch_size=64, device=device)
    ctx = Context(subject, budget=budget)
    findings, _ = run_checks(ctx, select_checks(["L205", "T"]))
    return time.perf_counter() - start, ctx, findings


def _describe(ctx) -> list[str]:
    lines = []
    if ctx.computed("probe_runtime"):
        rt = ctx.get("probe_runtime")
        reason = rt.choice.reason if rt.choice else "-"
        lines.append(f"warm-up {rt.warmup_seconds:.2f} s · threads {rt.threads} ({reason})")
    if ctx.computed("training_probe"):
        run = ctx.get("training_probe")
        lines.append(f"training probe: {run.steps}/{run.max_steps} steps ({run.stopped_by}), "
                     f"{run.step_seconds:.3f} s/step measured")
    if ctx.computed("zero_input_probe"):
        zero = ctx.get("zero_input_probe")
        lines.append(f"zeroed-input baseline: {'ran' if zero.ran else 'not needed'} ({zero.reason})")
    if ctx.computed("overfit_batch"):
        over = ctx.get("overfit_batch")
        lines.append("overfit one batch: " + "; ".join(
            f"lr {a.lr:g}: {a.steps} steps, {a.stopped_by}" for a in over.attempts))
    if ctx.computed("lr_range"):
        lr = ctx.get("lr_range")
        lines.append(f"LR range test: {len(lr.losses)}/{lr.max_steps} steps ({lr.stopped_by}), suggestion "
                     f"{lr.suggestion if lr.suggestion is None else f'{lr.suggestion:.2g}'}")
    timings = {k: v for k, v in ctx.timings.items() if k in PROBE_FACTS}
    lines.append("seconds per fact (nested facts counted in their callers too): "
                 + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    return lines


def main(argv=None) -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="training series (default 20,000)")
    parser.add_argument("--budget", default="standard", choices=("quick", "standard", "thorough"))
    parser.add_argument("--device", default="all", choices=("all", "cpu", "cuda"))
    args = parser.parse_args(argv)

    X, y, Xt, yt = make_data(args.n, max(200, args.n // 10), 3, 1_000, 10)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if args.device != "all":
        devices = [d for d in devices if d == args.device]
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    print(f"probe cost benchmark · {args.n:,} x 3 x 1,000, 10 classes, batch 64, Adam · budget {args.budget}")
    print(f"torch {torch.__version__} · {platform.processor() or platform.machine()} · {os.cpu_count()} cores · "
          f"torch threads {torch.get_num_threads()} · load average {load}")
    if not torch.cuda.is_available():
        print("CUDA: not available on this machine; only the CPU is measured.")
    from cnndoctor.probes.threads import using_threads

    for device in devices:
        seconds, ctx, findings = probes(X, y, Xt, yt, device, args.budget)
        threads = ctx.get("probe_runtime").threads if ctx.computed("probe_runtime") else None
        # the same thread count as the probes, so a busy machine slows both alike
        with using_threads(threads):
            epoch, steps = one_epoch(X, y, 10, device)
        print(f"\n[{device}] one epoch: {epoch:.1f} s ({steps} steps, {epoch / steps:.3f} s/step, {threads} threads)")
        print(f"[{device}] probes ({args.budget}): {seconds:.1f} s  ->  probe time / epoch time = "
              f"{seconds / epoch:.2f}")
        if device == "cpu" and threads is not None and threads != torch.get_num_threads():
            default, _ = one_epoch(X, y, 10, device)
            print(f"[{device}] one epoch with torch's default {torch.get_num_threads()} threads: {default:.1f} s "
                  f"(probe time / that epoch = {seconds / default:.2f}); the probes chose {threads}")
        for line in _describe(ctx):
            print(f"[{device}]   {line}")
        print(f"[{device}]   findings on this healthy workload: {[f.code for f in findings] or 'none'}")


if __name__ == "__main__":
    main()
