"""Benchmark of L106's label-noise detector against cleanlab's ``find_label_issues``, in the same run.

    python -m benchmarks.label_noise                      # GunPoint, ArrowHead, OSULeaf at 10/30/50% noise
    python -m benchmarks.label_noise --sets GunPoint --rates 0.3

For each set and rate, a seeded share of the training labels is flipped uniformly to another class (the
test split untouched). Both detectors get the same out-of-fold predicted probabilities: logistic
regression on cnndoctor's summary/spectral features and on its random-convolution features,
probabilities averaged, stratified 5-fold over the training split (``measure.label_noise``). So the
comparison isolates the confident-learning step: cnndoctor's own implementation (prune by noise rate,
Northcutt et al. 2021) against cleanlab's default (``filter_by="prune_by_noise_rate"``). Recall and
precision are against the flipped indices. "fires" is whether the check L106 fires (it also needs the
training split to stand out from the test split measured alike). Seconds: cnndoctor's whole fact (the
probabilities, confident learning and the test split's reference draws) and cleanlab's
``find_label_issues`` plus the same probabilities.

cleanlab is optional (``pip install -e .[bench]``); without it the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

import numpy as np

SETS = ("GunPoint", "ArrowHead", "OSULeaf")
RATES = (0.1, 0.3, 0.5)


def _flipped(name: str, rate: float, seed: int):
    from benchmarks.zoo.builders import load

    d = load(name)
    X_train, y_train = d["X_train"].astype(np.float64)[:, None], d["y_train"].astype(np.int64)
    rng = np.random.default_rng(seed)
    k = int(y_train.max()) + 1
    flipped = np.sort(rng.choice(len(y_train), int(round(rate * len(y_train))), replace=False))
    y = y_train.copy()
    y[flipped] = (y[flipped] + rng.integers(1, k, len(flipped))) % k
    return X_train, y, d["X_test"].astype(np.float64)[:, None], d["y_test"].astype(np.int64), flipped


def _scores(found, truth) -> tuple[float, float]:
    hits = len(np.intersect1d(found, truth))
    return hits / max(1, len(truth)), (hits / len(found) if len(found) else float("nan"))


def _fires(X_train, y_train, X_test, y_test) -> bool:
    from torch import nn

    import cnndoctor

    k = int(max(y_train.max(), y_test.max())) + 1
    model = nn.Sequential(nn.Conv1d(1, 8, 5, padding=2), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(),
                          nn.Linear(8, k))
    report = cnndoctor.diagnose(model, (X_train, y_train), (X_test, y_test), select=["L106"], progress=False,
                                figures=False)
    return any(f.code == "L106" for f in report.findings)


def run(sets, rates, seed: int) -> list[dict]:
    from cleanlab.filter import find_label_issues

    from cnndoctor.measure.label_noise import features_for_noise, label_noise, out_of_fold_probabilities

    rows = []
    for name in sets:
        for rate in rates:
            X_train, y_train, X_test, y_test, flipped = _flipped(name, rate, seed)
            start = time.perf_counter()
            ours = label_noise(X_train, y_train, X_test, y_test, seed=seed)
            ours_s = time.perf_counter() - start
            start = time.perf_counter()
            classes = np.unique(np.concatenate([y_train, y_test]))
            probs = out_of_fold_probabilities(features_for_noise(X_train, seed), y_train, classes, seed=seed)
            theirs = find_label_issues(np.searchsorted(classes, y_train), probs, filter_by="prune_by_noise_rate",
                                       return_indices_ranked_by="self_confidence")
            theirs_s = time.perf_counter() - start
            r_ours, p_ours = _scores(ours.train.issues, flipped)
            r_theirs, p_theirs = _scores(theirs, flipped)
            rows.append({"set": name, "rate": rate, "n": len(y_train), "flipped": len(flipped),
                         "noise_est": ours.train.noise_rate, "fires": _fires(X_train, y_train, X_test, y_test),
                         "ours": (r_ours, p_ours, len(ours.train.issues), ours_s),
                         "cleanlab": (r_theirs, p_theirs, len(theirs), theirs_s)})
    return rows


def table(rows) -> str:
    lines = ["| set | noise | train n | flipped | L106 fires | est. noise | cnndoctor recall | precision | flagged | s "
             "| cleanlab recall | precision | flagged | s |",
             "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        o, c = r["ours"], r["cleanlab"]
        lines.append(f"| {r['set']} | {r['rate']:.0%} | {r['n']} | {r['flipped']} | {'yes' if r['fires'] else 'no'} "
                     f"| {r['noise_est']:.0%} | {o[0]:.2f} | {o[1]:.2f} | {o[2]} | {o[3]:.2f} "
                     f"| {c[0]:.2f} | {c[1]:.2f} | {c[2]} | {c[3]:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.label_noise", description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    parser.add_argument("--rates", nargs="+", type=float, default=list(RATES))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        import cleanlab
    except ImportError:
        print("cleanlab is not installed, so there is nothing to compare with: pip install -e .[bench]")
        return 0
    import torch

    torch.set_num_threads(1)
    rows = run(args.sets, args.rates, args.seed)
    print(table(rows))
    print(f"\ncleanlab {cleanlab.__version__}, seed {args.seed}, {platform.machine()}, Python "
          f"{platform.python_version()}, torch {torch.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
