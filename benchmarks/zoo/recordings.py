"""Windows cut from long recordings, split the wrong way (at random) and the right way (by recording or time).

Two sources: the BasicMotions smart-watch recordings (80 recordings of 10 s, 6 channels, four
activities), cut into windows inside each recording as activity-recognition pipelines do; and the
Daphnet gait recording (9 accelerometer channels, 7,040 steps at 64 Hz), cut into windows labelled
by their activity level (the share of motion energy), as a movement detector is trained.
"""

from __future__ import annotations

import numpy as np

from .builders import DATA, load, pooled

__all__ = ["cut", "activity_windows", "activity_windows_by_recording", "activity_sessions",
           "recalibrated_sessions", "gait_windows", "gait_windows_by_time"]


def cut(recording: np.ndarray, length: int, stride: int) -> np.ndarray:
    """Windows (n, C, length) from a (C, T) recording, every ``stride`` steps."""
    starts = range(0, recording.shape[1] - length + 1, stride)
    return np.stack([recording[:, s:s + length] for s in starts])


def _standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = train.mean(axis=(0, 2), keepdims=True)
    std = train.std(axis=(0, 2), keepdims=True)
    return ((train - mean) / std).astype(np.float32), ((test - mean) / std).astype(np.float32)


def _zscore_each(W: np.ndarray) -> np.ndarray:
    return ((W - W.mean(axis=2, keepdims=True)) / (W.std(axis=2, keepdims=True) + 1e-8)).astype(np.float32)


def _recordings():
    """The 80 BasicMotions recordings (6, 100), their activity ids, and a recording id each."""
    X, y = pooled(load("BasicMotions"))
    return X.astype(np.float32), y.astype(np.int64), np.array([f"rec-{i:02d}" for i in range(len(X))])


def _windows_of(X, y, ids, length, stride):
    W, labels, groups = [], [], []
    for rec, label, rid in zip(X, y, ids):
        w = cut(rec, length, stride)
        W.append(w)
        labels += [label] * len(w)
        groups += [rid] * len(w)
    return np.concatenate(W), np.array(labels, dtype=np.int64), np.array(groups)


def _random_split(n: int, seed: int, test: float = 0.3) -> np.ndarray:
    te = np.zeros(n, dtype=bool)
    te[np.random.default_rng(seed).permutation(n)[: int(round(test * n))]] = True
    return te


def activity_windows(*, length: int = 50, stride: int = 10, seed: int = 0) -> dict:
    """Windows of 5 s every 1 s inside each recording (80% overlap), then a random 70/30 split: the leak."""
    W, y, _ = _windows_of(*_recordings(), length, stride)
    te = _random_split(len(W), seed)
    X_train, X_test = _standardise(W[~te], W[te])
    return {"X_train": X_train, "y_train": y[~te], "X_test": X_test, "y_test": y[te]}


def activity_windows_by_recording(*, length: int = 50, stride: int = 10, seed: int = 0) -> dict:
    """The same windows, but whole recordings held out (stratified by activity) before cutting."""
    X, y, ids = _recordings()
    rng = np.random.default_rng(seed)
    held = np.zeros(len(X), dtype=bool)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        held[rng.choice(members, int(round(0.3 * len(members))), replace=False)] = True
    W_tr, y_tr, _ = _windows_of(X[~held], y[~held], ids[~held], length, stride)
    W_te, y_te, _ = _windows_of(X[held], y[held], ids[held], length, stride)
    X_train, X_test = _standardise(W_tr, W_te)
    return {"X_train": X_train, "y_train": y_tr, "X_test": X_test, "y_test": y_te}


def activity_sessions(*, by_group: bool, length: int = 25, seed: int = 0) -> dict:
    """Non-overlapping windows tagged with their recording id; split at random, or by recording."""
    X, y, ids = _recordings()
    W, labels, groups = _windows_of(X, y, ids, length, length)
    if by_group:
        held = np.random.default_rng(seed).permutation(np.unique(groups))[: len(np.unique(groups)) * 3 // 10]
        te = np.isin(groups, held)
    else:
        te = _random_split(len(W), seed)
    X_train, X_test = _standardise(W[~te], W[te])
    return {"X_train": X_train, "y_train": labels[~te], "X_test": X_test, "y_test": labels[te],
            "groups_train": groups[~te], "groups_test": groups[te]}


def recalibrated_sessions(*, length: int = 25, seed: int = 0) -> dict:
    """Sessions split by recording, where a third of the watches were re-calibrated and export in milli-units
    (1,000x) and another third in centi-units (100x); one global scaler fitted on the training windows."""
    X, y, ids = _recordings()
    rng = np.random.default_rng(seed)
    gain = rng.choice(np.array([1.0, 100.0, 1000.0], dtype=np.float32), size=len(X))
    W, labels, groups = _windows_of(X * gain[:, None, None], y, ids, length, length)
    held = rng.permutation(np.unique(groups))[: len(np.unique(groups)) * 3 // 10]
    te = np.isin(groups, held)
    X_train, X_test = _standardise(W[~te], W[te])
    return {"X_train": X_train, "y_train": labels[~te], "X_test": X_test, "y_test": labels[te],
            "groups_train": groups[~te], "groups_test": groups[te]}


def _gait() -> np.ndarray:
    with np.load(DATA / "Daphnet_S06R02E0.npz", allow_pickle=False) as d:
        return d["recording"].astype(np.float32)


def _activity_labels(W: np.ndarray, threshold: float) -> np.ndarray:
    """1 where the ankle's motion energy (std of the three ankle axes) is above ``threshold``."""
    energy = W[:, :3].std(axis=2).mean(axis=1)
    return (energy > threshold).astype(np.int64)


def _energy_threshold(rec: np.ndarray, length: int, stride: int) -> float:
    return float(np.median(cut(rec, length, stride)[:, :3].std(axis=2).mean(axis=1)))


def gait_windows(*, length: int = 128, stride: int = 32, zscore_each: bool = True, seed: int = 0) -> dict:
    """2-s windows every 0.5 s (75% overlap) of the gait recording, each z-scored, then split at random."""
    rec = _gait()
    W = cut(rec, length, stride)
    y = _activity_labels(W, _energy_threshold(rec, length, stride))
    te = _random_split(len(W), seed)
    if zscore_each:
        X_train, X_test = _zscore_each(W[~te]), _zscore_each(W[te])
    else:
        X_train, X_test = _standardise(W[~te], W[te])
    return {"X_train": X_train, "y_train": y[~te], "X_test": X_test, "y_test": y[te]}


def gait_windows_by_time(*, length: int = 128, stride: int = 32) -> dict:
    """The recording split by time first (first 70% for training), then windows cut inside each part."""
    rec = _gait()
    threshold = _energy_threshold(rec, length, stride)
    split = int(0.7 * rec.shape[1])
    W_tr, W_te = cut(rec[:, :split], length, stride), cut(rec[:, split:], length, stride)
    X_train, X_test = _standardise(W_tr, W_te)
    return {"X_train": X_train, "y_train": _activity_labels(W_tr, threshold),
            "X_test": X_test, "y_test": _activity_labels(W_te, threshold)}
