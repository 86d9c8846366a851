"""Reading the user's data file into arrays, with a clear error for every malformed case."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError

__all__ = ["Data", "load_data", "data_from_arrays", "split_train_test"]

_EXPECTED = ("Expected an .npz file with X_train, y_train and X_test, y_test (or X_val, y_val), "
             "or X and y alone (cnndoctor then splits them 80/20); key case does not matter.")


@dataclass
class Data:
    """The user's arrays exactly as stored (X as float32), plus where they came from."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray | None
    y_test: np.ndarray | None
    groups_train: np.ndarray | None = None
    groups_test: np.ndarray | None = None
    source: str = "arrays"
    test_name: str = "test"
    notes: list[str] = field(default_factory=list)


def _as_float(X, name: str, source: str) -> np.ndarray:
    X = np.asarray(X)
    if X.dtype == object:
        raise InputError(f"{name} in {source} is an object array (ragged rows or mixed types). "
                         "cnndoctor needs a rectangular numeric array of shape (N, L), (N, C, L) or (N, L, C): "
                         "pad or resample the series to one length and store them as floats.")
    if X.dtype.kind not in "iufb":
        raise InputError(f"{name} in {source} has dtype {X.dtype}, not numbers. Store the series as floats.")
    if X.ndim not in (2, 3):
        raise InputError(f"{name} in {source} has shape {X.shape}; expected (N, L) for single-channel series "
                         "or (N, C, L) / (N, L, C) for several channels.")
    return X if X.dtype == np.float32 else X.astype(np.float32)


def _labels(y, name: str, source: str) -> np.ndarray:
    y = np.asarray(y)
    if y.dtype == object:
        raise InputError(f"{name} in {source} is an object array. Store labels as integers, "
                         "integer-valued floats, strings (a unicode array) or one-hot rows.")
    if y.ndim not in (1, 2):
        raise InputError(f"{name} in {source} has shape {y.shape}; expected (N,) labels or (N, K) one-hot rows.")
    return y


def split_train_test(X, y, groups=None, *, seed: int = 0, test_size: float = 0.2):
    """A seeded 80/20 split, stratified when every class has at least two samples."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(X))
    flat = y if y.ndim == 1 else np.argmax(y, 1)
    _, counts = np.unique(flat, return_counts=True)
    stratify = flat if counts.min() >= 2 and len(counts) <= test_size * len(X) else None
    tr, te = train_test_split(idx, test_size=test_size, random_state=seed, stratify=stratify)
    tr, te = np.sort(tr), np.sort(te)
    g = (None, None) if groups is None else (groups[tr], groups[te])
    how = "stratified by class" if stratify is not None else "not stratified (a class has a single sample)"
    return X[tr], y[tr], X[te], y[te], g, how


def data_from_arrays(X_train, y_train, X_test=None, y_test=None, *, groups_train=None, groups_test=None,
                     source="arrays", test_name="test", seed=0, split_if_missing=True) -> Data:
    """Validate arrays (numpy or torch) and build ``Data``; with no test split, split 80/20."""
    X_train = _as_float(_numpy(X_train), "X_train" if X_test is not None else "X", source)
    y_train = _labels(_numpy(y_train), "y_train", source)
    notes = []
    if X_test is None and split_if_missing:
        if len(X_train) != len(y_train):
            raise InputError(f"X has {len(X_train)} samples but y has {len(y_train)} in {source}; "
                             "every sample needs exactly one label.")
        groups = None if groups_train is None else np.asarray(groups_train)
        X_train, y_train, X_test, y_test, (groups_train, groups_test), how = split_train_test(
            X_train, y_train, groups, seed=seed)
        test_name = "split"
        notes.append(f"No test split was given: cnndoctor split X, y 80/20 ({len(X_train)} train, "
                     f"{len(X_test)} test), {how}, seed {seed}.")
    elif X_test is not None:
        X_test = _as_float(_numpy(X_test), f"X_{test_name}", source)
        y_test = _labels(_numpy(y_test), f"y_{test_name}", source)
    for xs, ys, split in ((X_train, y_train, "train"), (X_test, y_test, test_name)):
        if xs is None:
            continue
        if len(xs) != len(ys):
            raise InputError(f"X_{split} has {len(xs)} samples but y_{split} has {len(ys)} in {source}; "
                             "every sample needs exactly one label.")
        if len(xs) == 0:
            raise InputError(f"X_{split} in {source} is empty.")
    if X_test is not None and X_test.shape[1:] != X_train.shape[1:]:
        raise InputError(f"X_train has samples of shape {X_train.shape[1:]} but X_{test_name} has "
                         f"{X_test.shape[1:]} in {source}; both splits must share one layout and length.")
    return Data(X_train, y_train, X_test, y_test,
                None if groups_train is None else np.asarray(groups_train),
                None if groups_test is None else np.asarray(groups_test),
                source, test_name, notes)


def _numpy(a):
    if a is None:
        return None
    if hasattr(a, "detach"):  # a torch tensor; avoid importing torch here
        return a.detach().cpu().numpy()
    return np.asarray(a)


def load_data(path: str | Path, *, seed: int = 0) -> Data:
    """Load ``.npz`` data with ``allow_pickle=False`` and case-insensitive keys."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"Data file {path} does not exist. {_EXPECTED}")
    if path.is_dir() or path.suffix.lower() != ".npz" and not zipfile.is_zipfile(path):
        raise InputError(f"{path} is not an .npz file. {_EXPECTED} Save one with "
                         "np.savez('data.npz', X_train=..., y_train=..., X_test=..., y_test=...).")
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises several types for a corrupt zip
        raise InputError(f"{path} could not be read as an .npz file ({exc}). {_EXPECTED}") from None
    with archive:
        keys = {k.lower(): k for k in archive.files}

        def get(name):
            if name not in keys:
                return None
            try:
                return archive[keys[name]]
            except ValueError as exc:
                if "allow_pickle" in str(exc):
                    raise InputError(
                        f"'{keys[name]}' in {path} is an object array (ragged rows or Python objects), which "
                        "cnndoctor does not unpickle. Pad or resample the series to one length and save "
                        "rectangular numeric arrays.") from None
                raise

        found = ", ".join(archive.files) or "no arrays"
        if "x_train" in keys and "y_train" in keys:
            test_name = "test" if "x_test" in keys else "val" if "x_val" in keys else None
            if test_name and f"y_{test_name}" not in keys:
                raise InputError(f"{path} has X_{test_name} but no y_{test_name} (found: {found}). {_EXPECTED}")
            return data_from_arrays(
                get("x_train"), get("y_train"),
                get(f"x_{test_name}") if test_name else None, get(f"y_{test_name}") if test_name else None,
                groups_train=get("groups_train"), groups_test=get("groups_test"),
                source=str(path), test_name=test_name or "test", seed=seed)
        if "x" in keys and "y" in keys:
            return data_from_arrays(get("x"), get("y"), groups_train=get("groups"), source=str(path), seed=seed)
        raise InputError(f"{path} has no recognisable arrays (found: {found}). {_EXPECTED}")
