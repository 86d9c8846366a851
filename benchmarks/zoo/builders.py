"""Deterministic data builders: real UCR/UEA sets from benchmarks/data with faults seeded the way users do.

Every builder returns a dict of arrays for ``np.savez`` and takes no randomness it does not seed.
Builders compose: ``one_based(load("ArrowHead"))``. Windows cut from long recordings live in
``recordings.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = [
    "DATA", "load", "pooled", "standardise_channels", "global_standardise", "adc_counts", "rescale",
    "with_nans", "as_channel_axis", "to_nlc", "reshape_nlc_as_ncl", "one_based", "plus_minus_one",
    "float_labels", "one_hot", "augmented_before_split", "oversampled_before_split", "merged_with_copies",
    "sorted_unshuffled_split", "shuffled_separately", "test_labels_sorted", "annotator_confusion",
    "label_line_dropped", "thinned_class",
    "few_of_class", "rare_events", "mixed_units", "dead_channel", "scaler_on_train_only", "tabular_as_series",
]

DATA = Path(__file__).resolve().parents[1] / "data"


def load(name: str, *, zero_based: bool = True) -> dict:
    """A data set as stored in benchmarks/data, labels mapped to 0..K-1 unless ``zero_based=False``."""
    with np.load(DATA / f"{name}.npz", allow_pickle=False) as d:
        out = {k: d[k] for k in d.files}
    if zero_based and "y_train" in out:
        classes, out["y_train"] = np.unique(out["y_train"], return_inverse=True)
        out["y_test"] = np.searchsorted(classes, out["y_test"])
    return out


def pooled(d: dict) -> tuple[np.ndarray, np.ndarray]:
    """Train and test put back together, as a user who downloads "the data set" has it."""
    return np.concatenate([d["X_train"], d["X_test"]]), np.concatenate([d["y_train"], d["y_test"]])


def _split(X: np.ndarray, y: np.ndarray, *, test: float = 0.3, seed: int = 0) -> dict:
    """``train_test_split(X, y, test_size=test, shuffle=True, random_state=seed)`` without sklearn."""
    perm = np.random.default_rng(seed).permutation(len(X))
    cut = int(round((1 - test) * len(X)))
    tr, te = perm[:cut], perm[cut:]
    return {"X_train": X[tr], "y_train": y[tr], "X_test": X[te], "y_test": y[te]}


# --- values -----------------------------------------------------------------------------------------


def _channel_axes(X: np.ndarray) -> tuple[int, ...]:
    return (0, 1) if X.ndim == 2 else (0, 2)


def standardise_channels(d: dict) -> dict:
    """Per-channel standardisation with training statistics (what a careful user does)."""
    X = d["X_train"]
    axes = _channel_axes(X)
    mean, std = X.mean(axis=axes, keepdims=True), X.std(axis=axes, keepdims=True) + 1e-8
    f = lambda A: ((A - mean) / std).astype(np.float32)  # noqa: E731
    return {**d, "X_train": f(X), "X_test": f(d["X_test"])}


def global_standardise(d: dict) -> dict:
    """``X = (X - X.mean()) / X.std()``: one mean and one spread for all channels together."""
    mean, std = float(d["X_train"].mean()), float(d["X_train"].std())
    f = lambda A: ((A - mean) / std).astype(np.float32)  # noqa: E731
    return {**d, "X_train": f(d["X_train"]), "X_test": f(d["X_test"])}


def adc_counts(d: dict, *, offset: float = 32768, gain: float = 2000, bits: int = 16) -> dict:
    """Values as an ADC logs them: integer counts around mid-scale."""
    top = 2 ** bits - 1
    f = lambda X: np.clip(np.round(offset + gain * X), 0, top).astype(np.float32)  # noqa: E731
    return {**d, "X_train": f(d["X_train"]), "X_test": f(d["X_test"])}


def rescale(d: dict, *, gain: float = 1.0, offset: float = 0.0) -> dict:
    """A change of units: ``offset + gain * X`` on every split (pixels, microvolts, volts...)."""
    f = lambda X: (offset + gain * X).astype(np.float32)  # noqa: E731
    return {**d, "X_train": f(d["X_train"]), "X_test": f(d["X_test"])}


def with_nans(d: dict, *, fraction: float = 0.05, seed: int = 0) -> dict:
    """Dropped readings: short NaN gaps in a fraction of the training series."""
    rng = np.random.default_rng(seed)
    X = d["X_train"].copy()
    rows = rng.choice(len(X), max(1, int(fraction * len(X))), replace=False)
    for r in rows:
        start = rng.integers(0, X.shape[-1] - 5)
        X[r, ..., start:start + 5] = np.nan
    return {**d, "X_train": X}


# --- axes -------------------------------------------------------------------------------------------


def as_channel_axis(d: dict) -> dict:
    """(N, L) stored as (N, 1, L), the shape a PyTorch pipeline saves."""
    return {**d, "X_train": d["X_train"][:, None, :], "X_test": d["X_test"][:, None, :]}


def to_nlc(d: dict) -> dict:
    """(N, C, L) stored as (N, L, C), the Keras habit; (N, L) becomes (N, L, 1) (``X[..., None]``)."""
    def f(X):
        return X[:, :, None] if X.ndim == 2 else np.ascontiguousarray(np.swapaxes(X, 1, 2))
    return {**d, "X_train": f(d["X_train"]), "X_test": f(d["X_test"])}


def reshape_nlc_as_ncl(d: dict) -> dict:
    """Channels-last arrays 'converted' with ``X.reshape(N, C, L)`` instead of a transpose."""
    def f(X):
        n, length, channels = X.shape
        return np.ascontiguousarray(X).reshape(n, channels, length)
    return {**d, "X_train": f(d["X_train"]), "X_test": f(d["X_test"])}


# --- labels -----------------------------------------------------------------------------------------


def one_based(d: dict) -> dict:
    return {**d, "y_train": d["y_train"] + 1, "y_test": d["y_test"] + 1}


def plus_minus_one(d: dict) -> dict:
    return {**d, "y_train": 2 * d["y_train"] - 1, "y_test": 2 * d["y_test"] - 1}


def float_labels(d: dict) -> dict:
    """Labels read from a CSV column: floats (``1.0, 2.0``), as the UCR files write them."""
    return {**d, "y_train": d["y_train"].astype(np.float64), "y_test": d["y_test"].astype(np.float64)}


def one_hot(d: dict) -> dict:
    """``keras.utils.to_categorical(y)``: float one-hot rows."""
    k = int(max(d["y_train"].max(), d["y_test"].max())) + 1
    eye = np.eye(k, dtype=np.float32)
    return {**d, "y_train": eye[d["y_train"]], "y_test": eye[d["y_test"]]}


# --- splits and duplicates ----------------------------------------------------------------------------


def augmented_before_split(name: str = "GunPoint", *, sigma: float = 0.01, seed: int = 0) -> dict:
    """Every series jittered once (noise at 1% of its spread), the copies pooled with the originals, THEN split."""
    X, y = pooled(load(name))
    rng = np.random.default_rng(seed)
    jitter = sigma * X.std(axis=-1, keepdims=True) * rng.standard_normal(X.shape)
    X_all = np.concatenate([X, X + jitter]).astype(np.float32)
    return _split(X_all, np.concatenate([y, y]), seed=seed)


def oversampled_before_split(name: str = "OSULeaf", *, seed: int = 0) -> dict:
    """Every class oversampled (random copies) to the size of the largest, THEN split at random."""
    X, y = pooled(load(name))
    rng = np.random.default_rng(seed)
    counts = np.bincount(y)
    extra = np.concatenate([rng.choice(np.flatnonzero(y == c), counts.max() - n) for c, n in enumerate(counts)])
    X_all, y_all = np.concatenate([X, X[extra]]), np.concatenate([y, y[extra]])
    return _split(X_all, y_all, seed=seed)


def merged_with_copies(name: str = "ArrowHead", *, share: float = 0.4, seed: int = 0) -> dict:
    """A second export of the same recordings (other units: gain and offset) merged in before the split."""
    X, y = pooled(load(name))
    rng = np.random.default_rng(seed)
    again = rng.choice(len(X), int(share * len(X)), replace=False)
    copies = 1.8 * X[again] + 0.3
    return _split(np.concatenate([X, copies]).astype(np.float32), np.concatenate([y, y[again]]), seed=seed)


def sorted_unshuffled_split(name: str = "OSULeaf") -> dict:
    """The pooled set sorted by label (as many UCR files are) and split 80/20 without shuffling."""
    X, y = pooled(load(name))
    order = np.argsort(y, kind="stable")
    X, y = X[order], y[order]
    cut = int(0.8 * len(X))
    return {"X_train": X[:cut], "y_train": y[:cut], "X_test": X[cut:], "y_test": y[cut:]}


def exported_class_by_class(name: str = "ItalyPowerDemand") -> dict:
    """The whole set exported from its database one class after another (a query per class) as X, y alone,
    no test split: every row of class 0, then every row of class 1, each class's rows in their stored order."""
    X, y = pooled(load(name))
    order = np.argsort(y, kind="stable")
    return {"X": X[order], "y": y[order]}


def shuffled_separately(name: str = "GunPoint", *, seed: int = 0) -> dict:
    """``np.random.shuffle(X_train); np.random.shuffle(y_train)``: two different permutations."""
    d = load(name)
    rng = np.random.default_rng(seed)
    return {**d, "X_train": d["X_train"][rng.permutation(len(d["X_train"]))],
            "y_train": d["y_train"][rng.permutation(len(d["y_train"]))]}


def test_labels_sorted(name: str = "GunPoint") -> dict:
    """The test labels sorted on their own (read from a file sorted by class); the test series keep their order."""
    d = load(name)
    return {**d, "y_test": np.sort(d["y_test"], kind="stable")}


def annotator_confusion(name: str = "BasicMotions", *, rate: float = 0.3, seed: int = 0) -> dict:
    """An annotator who confuses each class with the next one: ``rate`` of every class's training labels
    moved to class ``(c + 1) % K`` (class-dependent noise); the test split was labelled by an expert."""
    d = load(name)
    rng = np.random.default_rng(seed)
    y = d["y_train"].copy()
    k = int(y.max()) + 1
    for c in range(k):
        members = np.flatnonzero(d["y_train"] == c)
        moved = rng.choice(members, int(round(rate * len(members))), replace=False)
        y[moved] = (c + 1) % k
    return {**d, "y_train": y}


def label_line_dropped(name: str = "OSULeaf", *, at: float = 0.3) -> dict:
    """The training labels read from a separate file that lost one line at ``at`` of the way: from there on,
    each series carries the label of the series after it (the last one repeats its own)."""
    d = load(name)
    y = d["y_train"].copy()
    cut = int(round(at * len(y)))
    y[cut:-1] = d["y_train"][cut + 1:]
    return {**d, "y_train": y}


def thinned_class(name: str = "GunPoint", *, cls: int = 1, keep: float = 0.1, seed: int = 0) -> dict:
    """One class thinned out to ``keep`` of its samples in both splits (a rare-event data set)."""
    d = load(name)
    rng = np.random.default_rng(seed)
    out = dict(d)
    for split in ("train", "test"):
        X, y = d[f"X_{split}"], d[f"y_{split}"]
        members = np.flatnonzero(y == cls)
        drop = rng.choice(members, len(members) - max(1, int(round(keep * len(members)))), replace=False)
        kept = np.setdiff1d(np.arange(len(y)), drop)
        out[f"X_{split}"], out[f"y_{split}"] = X[kept], y[kept]
    return out


def rare_events(name: str = "ItalyPowerDemand", *, cls: int = 1, ratio: int = 19, seed: int = 0) -> dict:
    """The whole set pooled, class ``cls`` kept at one sample per ``ratio`` of the others (events are rare in
    the recording), then split 70/30 with one shuffled, unstratified cut."""
    X, y = pooled(load(name))
    rng = np.random.default_rng(seed)
    rest = np.flatnonzero(y != cls)
    events = rng.choice(np.flatnonzero(y == cls), len(rest) // ratio, replace=False)
    kept = np.sort(np.concatenate([rest, events]))
    return _split(X[kept], y[kept], seed=seed)


def few_of_class(name: str = "OSULeaf", *, cls: int = 5, keep: int = 3, seed: int = 0) -> dict:
    """Only ``keep`` training samples of class ``cls`` were recorded; the test split is untouched."""
    d = load(name)
    members = np.flatnonzero(d["y_train"] == cls)
    drop = np.random.default_rng(seed).choice(members, len(members) - keep, replace=False)
    kept = np.setdiff1d(np.arange(len(d["y_train"])), drop)
    return {**d, "X_train": d["X_train"][kept], "y_train": d["y_train"][kept]}


# --- channels ---------------------------------------------------------------------------------------


def mixed_units(d: dict, *, channels=(0, 1, 2), gain: float = 1000.0) -> dict:
    """Some channels exported in milli-units (the accelerometer in milli-g), the others as they were."""
    out = {**d}
    for split in ("X_train", "X_test"):
        X = d[split].copy()
        X[:, list(channels)] *= gain
        out[split] = X
    return out


def dead_channel(d: dict, *, channel: int = 5) -> dict:
    """A sensor that was unplugged for the whole campaign: the channel records 0 throughout."""
    out = {**d}
    for split in ("X_train", "X_test"):
        X = d[split].copy()
        X[:, channel] = 0.0
        out[split] = X
    return out


def scaler_on_train_only(d: dict) -> dict:
    """``X_train = scaler.fit_transform(X_train)`` — and X_test left in raw units."""
    scaled = standardise_channels(d)
    return {**d, "X_train": scaled["X_train"]}


def tabular_as_series(*, seed: int = 0) -> dict:
    """The breast-cancer table (30 features, sklearn's bundled copy) standardised and fed as (N, 1, 30)."""
    from sklearn.datasets import load_breast_cancer

    table = load_breast_cancer()
    d = _split(table.data, table.target.astype(np.int64), seed=seed)
    mean, std = d["X_train"].mean(axis=0), d["X_train"].std(axis=0)
    as_series = lambda X: ((X - mean) / std).astype(np.float32)[:, None, :]  # noqa: E731
    return {**d, "X_train": as_series(d["X_train"]), "X_test": as_series(d["X_test"])}
