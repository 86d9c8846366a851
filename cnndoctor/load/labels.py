"""Labels as the user stored them, and the class ids the model is trained on.

Integer-valued labels keep the user's numbering (1-based stays 1-based), because that
is what their own loop feeds the loss; strings and non-integer floats are indexed
0..K-1 in sorted order, the only way such labels can reach a classification loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

__all__ = ["Labels", "encode_labels"]


@dataclass(frozen=True)
class Labels:
    kind: str  # "integer", "float-integer", "float", "one-hot", "string"
    raw_train: np.ndarray
    raw_test: np.ndarray | None
    classes: np.ndarray  # sorted distinct values over both splits (one-hot: column ids)
    train: np.ndarray  # int64 targets the probes feed
    test: np.ndarray | None

    @property
    def n_classes(self) -> int:
        return int(len(self.classes))

    @property
    def zero_based(self) -> bool:
        """True when the targets are exactly the ids 0..K-1 (each id may or may not occur)."""
        ids = np.unique(np.concatenate([self.train] + ([self.test] if self.test is not None else [])))
        return bool(ids.min() >= 0 and ids.max() <= self.n_classes - 1)

    def counts(self, split: str = "train") -> dict:
        y = self.train if split == "train" else self.test
        if y is None:
            return {}
        values, counts = np.unique(y, return_counts=True)
        return {int(v): int(c) for v, c in zip(values, counts)}


def _kind(y: np.ndarray) -> str:
    if y.ndim == 2:
        return "one-hot"
    if y.dtype.kind in "iub":
        return "integer"
    if y.dtype.kind == "f":
        finite = y[np.isfinite(y)]
        return "float-integer" if np.all(finite == np.round(finite)) else "float"
    if y.dtype.kind in "US":
        return "string"
    raise InputError(f"Labels have dtype {y.dtype}, which cnndoctor cannot read as classes. "
                     "Store labels as integers, one-hot rows, integer-valued floats or strings.")


def _check_one_hot(y: np.ndarray, split: str) -> None:
    if y.dtype.kind not in "iubf":
        raise InputError(f"y_{split} is two-dimensional {y.shape} but not numeric ({y.dtype}); "
                         "two-dimensional labels must be one-hot rows of 0/1.")


def encode_labels(y_train: np.ndarray, y_test: np.ndarray | None = None) -> Labels:
    """Describe the raw labels and derive int64 class ids for the probes."""
    y_train = np.asarray(y_train)
    y_test = None if y_test is None else np.asarray(y_test)
    if y_train.ndim not in (1, 2) or (y_train.ndim == 2 and y_train.shape[1] == 1):
        if y_train.ndim == 2:  # a column vector (N, 1) is plain labels
            y_train = y_train[:, 0]
            y_test = y_test[:, 0] if y_test is not None and y_test.ndim == 2 else y_test
        else:
            raise InputError(f"y_train has shape {y_train.shape}; expected (N,) class labels or (N, K) one-hot rows.")
    kind = _kind(y_train)
    if y_test is not None and y_test.ndim != y_train.ndim:
        raise InputError(f"y_train has shape {y_train.shape} but y_test has shape {y_test.shape}; "
                         "both splits must use the same label encoding.")
    if kind == "one-hot":
        _check_one_hot(y_train, "train")
        if y_test is not None:
            _check_one_hot(y_test, "test")
            if y_test.shape[1] != y_train.shape[1]:
                raise InputError(f"One-hot labels have {y_train.shape[1]} columns in train and "
                                 f"{y_test.shape[1]} in test; they must match.")
        classes = np.arange(y_train.shape[1])
        return Labels(kind, y_train, y_test, classes, np.argmax(y_train, 1).astype(np.int64),
                      None if y_test is None else np.argmax(y_test, 1).astype(np.int64))
    both = y_train if y_test is None else np.concatenate([y_train, y_test.astype(y_train.dtype, copy=False)])
    if kind in ("float", "float-integer"):  # NaN labels are D101's to report, not a class
        classes = np.unique(both[np.isfinite(both)])
    else:
        classes = np.unique(both)
    if kind in ("integer", "float-integer"):
        def ids(y):
            y = np.where(np.isfinite(y), y, -1) if y.dtype.kind == "f" else y
            return y.astype(np.int64)
    else:
        def ids(y):
            return np.minimum(np.searchsorted(classes, y), len(classes) - 1).astype(np.int64)
    return Labels(kind, y_train, y_test, classes, ids(y_train), None if y_test is None else ids(y_test))
