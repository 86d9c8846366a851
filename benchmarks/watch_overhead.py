"""What cnndoctor.watch costs a user's training step, as a ratio measured in one run.

    python -m benchmarks.watch_overhead              # CPU, and CUDA when torch sees a GPU
    python -m benchmarks.watch_overhead --steps 100  # a quicker look

Workload: an FCN (3 blocks of Conv1d 128 channels, kernels 8/5/3, BatchNorm, ReLU; global average pooling;
a linear head for 10 classes) on 1 x 512 series, batch 64, Adam at lr 1e-3: the plain loop of the README.
Each round times ``--steps`` steps without the recorder, then ``--steps`` with it (``cnndoctor.watch`` at
its default schedule, ``w.step(loss, xb, yb)`` in the loop), alternating, and reports the median of the
per-round ratios: both arms see the same machine load. Target (BENCHMARKS.md, "Live mode"): <= 1.05.
"""

from __future__ import annotations

import argparse
import statistics
import time


def _model(torch):
    nn = torch.nn
    layers, channels = [], 1
    for kernel in (8, 5, 3):
        layers += [nn.Conv1d(channels, 128, kernel, padding="same"), nn.BatchNorm1d(128), nn.ReLU()]
        channels = 128
    return nn.Sequential(*layers, nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(128, 10))


def _run(torch, device: str, steps: int, rounds: int) -> dict:
    import cnndoctor

    torch.manual_seed(0)
    X = torch.randn(64 * 16, 1, 512, device=device)
    y = torch.randint(0, 10, (64 * 16,), device=device)
    model = _model(torch).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = torch.nn.CrossEntropyLoss()

    def loop(w=None) -> float:
        sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
        sync()
        t0 = time.perf_counter()
        for i in range(steps):
            j = (i % 16) * 64
            xb, yb = X[j:j + 64], y[j:j + 64]
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            if w is not None:
                w.step(loss, xb, yb)
            else:
                float(loss.detach())  # a loop that logs its loss reads it too: the same sync in both arms
            optimizer.step()
        sync()
        return (time.perf_counter() - t0) / steps

    loop()  # warm-up
    ratios, plain_times, watched_times = [], [], []
    for _ in range(rounds):
        plain = loop()
        with cnndoctor.watch(model, optimizer, on_symptom=lambda f: None) as w:
            watched = loop(w)
        ratios.append(watched / plain)
        plain_times.append(plain)
        watched_times.append(watched)
    return {"device": device, "plain_ms": 1e3 * statistics.median(plain_times),
            "watched_ms": 1e3 * statistics.median(watched_times), "ratio": statistics.median(ratios),
            "every": w.recording.every}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="steps per arm and round (default 200)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        r = _run(torch, device, args.steps, args.rounds)
        print(f"{r['device']}: plain step {r['plain_ms']:.2f} ms, watched (every {r['every']}) "
              f"{r['watched_ms']:.2f} ms, ratio {r['ratio']:.3f} (median of {args.rounds} interleaved rounds of "
              f"{args.steps} steps)")


if __name__ == "__main__":
    main()
