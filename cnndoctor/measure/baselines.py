"""Cheap reference classifiers: is there a link between inputs and labels, and does order matter?

Three baselines, each a few seconds at most on a subsample (the linear models are ``measure.linear``'s):

- ``1nn_znorm``: 1-nearest-neighbour (Euclidean) on series z-normalised per channel and
  downsampled to at most 64 steps by bin means — the classic time-series baseline;
- ``logreg_features``: logistic regression on per-channel summary statistics (mean, spread,
  quantiles) and spectral features (band powers, autocorrelations) — catches level and frequency;
- ``random_conv``: random dilated convolution kernels with global pooling (proportion of positive
  values and maximum) and a ridge classifier, after ROCKET (Dempster et al., 2020): a
  convolutional network's own prior without training, so it is also the baseline that loses
  accuracy when the time axis is shuffled.

Everything here works on (n, C, L) float arrays and int64 class ids.
"""

from __future__ import annotations

import itertools
import time
import weakref
from dataclasses import dataclass

import numpy as np

from .linear import logistic_regression, ridge_classifier
from .parallel import map_parts, row_parts

__all__ = ["BASELINES", "BASELINE_NAMES", "Subsample", "balanced_accuracy", "balanced_chance_se", "bin_means",
           "conv_features", "features_of", "nearest_labels", "nn_representation", "order_gain", "score_baselines",
           "subsample", "summary_features"]

BASELINES = ("1nn_znorm", "logreg_features", "random_conv")
BASELINE_NAMES = {
    "1nn_znorm": "1-nearest-neighbour on z-normalised, downsampled series",
    "logreg_features": "logistic regression on summary and spectral features",
    "random_conv": "random convolution kernels with a ridge classifier",
}
_MAX_STEPS = 64
_CONV_STEPS = 128
_KERNELS = 16
_CHUNK = 512


@dataclass(frozen=True)
class Subsample:
    X_train: np.ndarray  # (n, C, L) float64
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_train_total: int
    n_test_total: int
    # the rows of the user's arrays each sample came from, so findings can name the user's own indices
    train_index: np.ndarray | None = None
    test_index: np.ndarray | None = None

    @property
    def note(self) -> str:
        parts = []
        if len(self.y_train) < self.n_train_total:
            parts.append(f"trained on {len(self.y_train):,} of {self.n_train_total:,} training samples")
        if len(self.y_test) < self.n_test_total:
            parts.append(f"scored on {len(self.y_test):,} of {self.n_test_total:,} held-out samples")
        return (", ".join(parts) + " (random subsets, seeded)") if parts else ""


def _pick(n: int, limit: int, rng) -> np.ndarray:
    return np.arange(n) if n <= limit else np.sort(rng.choice(n, limit, replace=False))


def subsample(X_train, y_train, X_test, y_test, *, max_train: int, max_test: int, seed: int = 0) -> Subsample:
    """Seeded random subsets of both splits as float64 (n, C, L); samples with label < 0 are dropped."""
    rng = np.random.default_rng(seed)
    keep_tr, keep_te = np.flatnonzero(y_train >= 0), np.flatnonzero(y_test >= 0)
    tr = keep_tr[_pick(len(keep_tr), max_train, rng)]
    te = keep_te[_pick(len(keep_te), max_test, rng)]

    def take(X, idx):
        V = np.asarray(X[idx], dtype=np.float64)
        return np.nan_to_num(V, nan=0.0, posinf=0.0, neginf=0.0)

    return Subsample(take(X_train, tr), y_train[tr], take(X_test, te), y_test[te], len(keep_tr), len(keep_te),
                     train_index=tr, test_index=te)


def bin_means(V: np.ndarray, width: int) -> np.ndarray:
    """(n, C, L) averaged over consecutive bins of ``width`` steps (a partial last bin is dropped)."""
    if width == 1:
        return V
    m = V.shape[2] // width
    return V[:, :, :m * width].reshape(V.shape[0], V.shape[1], m, width).mean(axis=3)


def _bins(V: np.ndarray, max_steps: int) -> np.ndarray:
    return bin_means(V, max(1, -(-V.shape[2] // max_steps)))


def _znorm(V: np.ndarray) -> np.ndarray:
    m = V.mean(axis=2, keepdims=True)
    s = V.std(axis=2, keepdims=True)
    return (V - m) / np.where(s > 0, s, 1.0)


def _by_rows(per_row, V: np.ndarray) -> np.ndarray:
    """``per_row(V)`` for a function whose rows depend on their own series only, computed in parts of rows on
    ``parallel.workers()`` threads and stacked (the same numbers on any thread count)."""
    if not len(V):
        return per_row(V)
    return np.concatenate(map_parts(lambda rows: per_row(V[rows]), row_parts(len(V))), axis=0)


def nn_representation(V: np.ndarray) -> np.ndarray:
    """The 1-NN baseline's representation: series z-normalised per channel, binned to at most 64 steps, flat."""
    return _by_rows(lambda W: _bins(_znorm(W), _MAX_STEPS).reshape(len(W), -1), V)


def nearest_labels(a: np.ndarray, y: np.ndarray, b: np.ndarray, *, leave_one_out: bool = False) -> np.ndarray:
    """The label of the nearest row of ``a`` (Euclidean) for each row of ``b``; with ``leave_one_out`` ``b`` is
    ``a`` and a row is never its own neighbour."""
    sq = (a * a).sum(1)
    pred = np.empty(len(b), dtype=y.dtype)
    for s in range(0, len(b), _CHUNK):
        d = sq[None, :] - 2.0 * (b[s:s + _CHUNK] @ a.T)
        if leave_one_out:
            d[np.arange(d.shape[0]), np.arange(s, s + d.shape[0])] = np.inf
        pred[s:s + _CHUNK] = y[np.argmin(d, axis=1)]
    return pred


def _one_nn(tr, ytr, te) -> np.ndarray:
    return nearest_labels(nn_representation(tr), ytr, nn_representation(te))


def summary_features(V: np.ndarray) -> np.ndarray:
    """Per channel: moments, extremes, quantiles, roughness, autocorrelations and log band powers (one row per
    series)."""
    return _by_rows(_summary_rows, V)


def _summary_rows(V: np.ndarray) -> np.ndarray:
    n, _, L = V.shape
    q = np.percentile(V, [10, 50, 90], axis=2)
    centred = V - V.mean(axis=2, keepdims=True)
    var = (centred ** 2).mean(axis=2)
    safe = np.where(var > 0, var, 1.0)
    feats = [V.mean(axis=2), np.sqrt(var), V.min(axis=2), V.max(axis=2), *q]
    if L > 1:
        feats.append(np.abs(np.diff(V, axis=2)).mean(axis=2) / np.sqrt(safe))
    for k in (1, 2, 4):
        if L > k:
            feats.append((centred[..., k:] * centred[..., :-k]).mean(axis=2) / safe)
    power = np.abs(np.fft.rfft(centred, axis=2)) ** 2
    if power.shape[2] > 2:
        edges = np.unique(np.round(np.geomspace(1, power.shape[2], min(8, power.shape[2] - 1) + 1)).astype(int))
        total = power[..., 1:].sum(axis=2) + 1e-12
        for a, b in itertools.pairwise(edges):
            feats.append(np.log(power[..., a:b].sum(axis=2) / total + 1e-6))
    return np.stack(feats, axis=2).reshape(n, -1)


def _logreg(tr, ytr, te) -> np.ndarray:
    a, b = features_of(tr, "summary"), features_of(te, "summary")
    m, s = a.mean(0), a.std(0)
    s = np.where(s > 0, s, 1.0)
    return logistic_regression((a - m) / s, ytr, C=1.0, max_iter=100).predict(np.clip((b - m) / s, -1e3, 1e3))


def conv_features(V: np.ndarray, seed: int) -> np.ndarray:
    """Random dilated kernels (length 9, zero-mean weights) with PPV and max pooling."""
    rng = np.random.default_rng(seed)
    V = _znorm(_bins(V, _CONV_STEPS))
    n, C, L = V.shape
    groups = min(C, 4)
    mix = rng.standard_normal((C, groups)) if C > 1 else np.ones((1, 1))
    W = rng.standard_normal((9, _KERNELS))
    W -= W.mean(axis=0, keepdims=True)
    top = np.log2(max(1.0, (L - 1) / 8))
    dilations = np.unique(np.floor(2 ** np.linspace(0, top, 5)).astype(int))
    dilations = [d for d in dilations if 8 * d < L]
    if not dilations:
        return np.zeros((n, 1))
    probe = np.einsum("ncl,cg->ngl", V[:min(n, 32)], mix)
    biases = {}
    for d in dilations:
        idx = np.arange(L - 8 * d)[:, None] + d * np.arange(9)[None, :]
        out = probe[:, :, idx] @ W  # (m, groups, L_out, K)
        levels = rng.uniform(0.25, 0.75, size=_KERNELS)
        biases[d] = np.stack([np.quantile(out[..., k], levels[k], axis=(0, 2)) for k in range(_KERNELS)],
                             axis=1)  # (groups, K)
    feats = np.empty((n, len(dilations), groups, _KERNELS, 2))

    def rows(part: slice) -> None:  # each part writes its own rows
        for s in range(part.start, part.stop, _CHUNK):
            e = min(s + _CHUNK, part.stop)
            X = np.einsum("ncl,cg->ngl", V[s:e], mix)
            for i, d in enumerate(dilations):
                idx = np.arange(L - 8 * d)[:, None] + d * np.arange(9)[None, :]
                out = X[:, :, idx] @ W  # (m, groups, L_out, K)
                feats[s:e, i, :, :, 0] = (out > biases[d][None, :, None, :]).mean(axis=2)
                feats[s:e, i, :, :, 1] = out.max(axis=2)

    map_parts(rows, row_parts(n))
    return feats.reshape(n, -1)


# (id of the series array, kind, seed) -> (a weak reference to the array, its features): see features_of
_FEATURES: dict = {}


def features_of(V: np.ndarray, kind: str, seed: int = 0) -> np.ndarray:
    """``summary_features(V)`` (kind "summary") or ``conv_features(V, seed)`` ("conv"), computed once while ``V``
    lives: the reference baselines (L105) and confident learning (L106) read the features of the same
    subsample, which cost more than either's classifier. The result is read-only; the entry goes with ``V``.
    ``V`` must not be changed in place afterwards (the baselines' subsample never is): its features would not be."""
    key = (id(V), kind, seed)
    hit = _FEATURES.get(key)
    if hit is not None and hit[0]() is V:
        return hit[1]
    F = summary_features(V) if kind == "summary" else conv_features(V, seed)
    F.setflags(write=False)
    _FEATURES[key] = (weakref.ref(V, lambda _, key=key: _FEATURES.pop(key, None)), F)
    return F


def _random_conv(tr, ytr, te, seed: int = 0) -> np.ndarray:
    a, b = features_of(tr, "conv", seed), features_of(te, "conv", seed)
    m, s = a.mean(0), a.std(0)
    s = np.where(s > 0, s, 1.0)
    return ridge_classifier((a - m) / s, ytr).predict((b - m) / s)


_RUNNERS = {"1nn_znorm": _one_nn, "logreg_features": _logreg, "random_conv": _random_conv}


def balanced_accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    """Mean recall over the classes present in ``y``: 1/K for any guesser, however imbalanced the classes."""
    classes = np.unique(y)
    return float(np.mean([np.mean(pred[y == c] == c) for c in classes])) if len(classes) else float("nan")


def balanced_chance_se(chance: float, per_class_counts) -> float:
    """The standard error of a random guesser's balanced accuracy (``chance`` = 1/K) when the classes have these
    test counts: each class's recall is a binomial proportion on its own count, and the mean averages K of them."""
    counts = [int(n) for n in per_class_counts if int(n) > 0]
    if not counts:
        return float("nan")
    return float(np.sqrt(sum(chance * (1 - chance) / n for n in counts)) / len(counts))


def score_baselines(sub: Subsample, names=BASELINES) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """(accuracy, balanced accuracy on the test subsample, seconds) per baseline; a baseline needs two
    classes in train."""
    acc, balanced, seconds = {}, {}, {}
    if len(np.unique(sub.y_train)) < 2 or len(sub.y_test) == 0:
        return acc, balanced, seconds
    for name in names:
        start = time.perf_counter()
        pred = _RUNNERS[name](sub.X_train, sub.y_train, sub.X_test)
        acc[name] = float(np.mean(pred == sub.y_test))
        balanced[name] = balanced_accuracy(pred, sub.y_test)
        seconds[name] = time.perf_counter() - start
    return acc, balanced, seconds


def order_gain(sub: Subsample, *, n_perm: int = 2, seed: int = 0) -> dict:
    """Accuracy of ``random_conv`` on the series as ordered and with the time axis shuffled.

    The same permutation is applied to every sample of both splits (a fixed re-ordering of the
    features), averaged over ``n_perm`` permutations.
    """
    L = sub.X_train.shape[2]
    ordered = float(np.mean(_random_conv(sub.X_train, sub.y_train, sub.X_test) == sub.y_test))
    rng = np.random.default_rng(seed + 11)
    shuffled = []
    for _ in range(n_perm):
        perm = rng.permutation(L)
        pred = _random_conv(sub.X_train[:, :, perm], sub.y_train, sub.X_test[:, :, perm])
        shuffled.append(float(np.mean(pred == sub.y_test)))
    return {"ordered": ordered, "shuffled": float(np.mean(shuffled)), "shuffled_runs": shuffled,
            "n_test": len(sub.y_test)}
