"""Reading the user's data into arrays, with a clear error for every malformed case.

Accepted: an ``.npz``; a UCR/UEA pair ``<Name>_TRAIN.<ext>`` + ``<Name>_TEST.<ext>`` (``.ts``,
``.tsv``, ``.csv`` or ``.txt``) found from a folder, a ``path/to/Name`` prefix or either file;
or one such file alone, which is split 80/20. Labels stay as stored (1-based stays 1-based).
Series of unequal length are rejected by the readers (cnndoctor never pads; see load/formats.py).
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

__all__ = ["Data", "SplitName", "SPLIT_BY_CNNDOCTOR", "load_data", "data_from_arrays", "cast_note", "split_rows",
           "split_train_test", "TEXT_FORMATS"]

_EXPECTED = ("Expected an .npz file with X_train, y_train and X_test, y_test (or X_val, y_val), "
             "or X and y alone (cnndoctor then splits them 80/20); key case does not matter.")
_EXPECTED_ANY = (_EXPECTED + " Or a UCR/UEA pair <Name>_TRAIN.tsv + <Name>_TEST.tsv (also .ts, .csv, .txt): "
                 "pass the folder, path/to/<Name>, or either file.")
TEXT_FORMATS = (".ts", ".tsv", ".csv", ".txt")
_LABEL_NAMES = ("label", "labels", "class", "target", "y")
_SPLIT_FILE = re.compile(r"(.+)_(train|test)\.(\w+)$", re.IGNORECASE)
# Data.test_name when no test split was given and cnndoctor split X, y itself: a machine value that code branches on
# (the rows no longer map onto the user's Dataset); the report never shows it (SplitName names that split).
SPLIT_BY_CNNDOCTOR = "split"


@dataclass(frozen=True)
class SplitName:
    """How the report names the split the model is not trained on, in every message, snippet and subject line.

    The user's own split keeps the user's name ("test", "val"). The split cnndoctor cut off X itself has no
    name in the user's code, so it is called "held-out", with its share of X where it is first named.
    """

    noun: str  # "test", "val", "held-out": before "samples", "accuracy", "windows"; legends
    split: str  # "test split", "val split", "held-out split (20% of X)": after "the"
    title: str  # "test", "val", "held-out (20% of X)": the subject line "160 train / 40 held-out (20% of X)"
    var: str  # "test", "val", "heldout": snippet variables (X_test, y_val, groups_heldout) and evidence keys


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
    # when cnndoctor split the data itself (test_name "split"): the row of each training sample in the user's
    # stored X, ascending, as loaded; None when the user gave the training split (its rows are theirs as stored)
    train_rows: np.ndarray | None = None
    # data beyond the memory budget (load/big.py): the whole splits, read chunk by chunk; X_train/X_test above
    # then hold a seeded stratified sample of their rows
    full: Any = None

    @property
    def n_train_rows(self) -> int:
        """Rows of the user's whole training split (more than ``len(X_train)`` when only a sample is held)."""
        return self.full.n_train if self.full is not None else len(self.X_train)

    @property
    def n_test_rows(self) -> int:
        if self.full is not None:
            return self.full.n_test
        return 0 if self.X_test is None else len(self.X_test)

    @property
    def split_by_cnndoctor(self) -> bool:
        """No test split was given: cnndoctor split X, y 80/20 (``train_rows`` says which rows it trained on)."""
        return self.test_name == SPLIT_BY_CNNDOCTOR

    @property
    def held_out(self) -> SplitName:
        """The name of the test split as the report writes it (``SplitName``)."""
        if not self.split_by_cnndoctor:
            return SplitName(self.test_name, f"{self.test_name} split", self.test_name, self.test_name)
        n_test = self.n_test_rows
        share = f"{n_test / max(n_test + self.n_train_rows, 1):.0%} of X"
        return SplitName("held-out", f"held-out split ({share})", f"held-out ({share})", "heldout")


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


def split_rows(y, *, seed: int = 0, test_size: float = 0.2) -> tuple[np.ndarray, np.ndarray, str]:
    """(training rows, test rows, how): a seeded 80/20 split of the row indices, each ascending (the stored
    order kept), stratified when every class has at least two samples."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    flat = y if y.ndim == 1 else np.argmax(y, 1)
    _, counts = np.unique(flat, return_counts=True)
    stratify = flat if counts.min() >= 2 and len(counts) <= test_size * len(y) else None
    tr, te = train_test_split(idx, test_size=test_size, random_state=seed, stratify=stratify)
    how = "stratified by class" if stratify is not None else "not stratified (a class has a single sample)"
    return np.sort(tr), np.sort(te), how


def split_train_test(X, y, groups=None, *, seed: int = 0, test_size: float = 0.2):
    """A seeded 80/20 split, stratified when every class has at least two samples."""
    tr, te, how = split_rows(y, seed=seed, test_size=test_size)
    g = (None, None) if groups is None else (groups[tr], groups[te])
    return X[tr], y[tr], X[te], y[te], g, how


def cast_note(dtype, name: str) -> str | None:
    """What casting stored integers to float32 hides from the user: their own ``torch.tensor(X)`` keeps the
    integer dtype, which a float layer rejects; ``.float()`` keeps every 16-bit value exact, and above 2**24
    float32 rounds."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "iub":
        return None
    exact = dtype.itemsize <= 2 or dtype.kind == "b"
    return (f"{name} is stored as {dtype}: cnndoctor casts it to float32 for its checks and probes, but "
            f"torch.tensor({name}) in your own loop keeps {dtype}, and a Conv1d/Linear then raises \"expected "
            "scalar type Float\" — convert with .float() (or X.astype(np.float32))"
            + (", which keeps every value exactly." if exact else
               "; values above 2**24 lose precision in float32."))


def data_from_arrays(X_train, y_train, X_test=None, y_test=None, *, groups_train=None, groups_test=None,
                     source="arrays", test_name="test", seed=0, split_if_missing=True) -> Data:
    """Validate arrays (numpy or torch) and build ``Data``; with no test split, split 80/20."""
    stored_dtype = _numpy(X_train).dtype
    X_train = _as_float(_numpy(X_train), "X_train" if X_test is not None else "X", source)
    y_train = _labels(_numpy(y_train), "y_train", source)
    notes = []
    cast = cast_note(stored_dtype, "X_train" if X_test is not None else "X")
    if cast:
        notes.append(cast)
    train_rows = None
    if X_test is None and split_if_missing:
        if len(X_train) != len(y_train):
            raise InputError(f"X has {len(X_train)} samples but y has {len(y_train)} in {source}; "
                             "every sample needs exactly one label.")
        if len(X_train) < 2:
            raise InputError(f"{source} holds {len(X_train)} sample(s) and no test split; cnndoctor splits such "
                             "data 80/20 into train and test and needs at least two samples (in practice many "
                             "more) to do so.")
        groups = None if groups_train is None else np.asarray(groups_train)
        train_rows, test_rows, how = split_rows(y_train, seed=seed)
        X_train, y_train, X_test, y_test = (X_train[train_rows], y_train[train_rows], X_train[test_rows],
                                            y_train[test_rows])
        groups_train, groups_test = (None, None) if groups is None else (groups[train_rows], groups[test_rows])
        test_name = SPLIT_BY_CNNDOCTOR
        notes.append(f"No test split was given: cnndoctor split X, y 80/20 ({len(X_train)} train, "
                     f"{len(X_test)} held out), {how}, seed {seed}.")
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
                source, test_name, notes, train_rows)


def _numpy(a):
    if a is None:
        return None
    if hasattr(a, "detach"):  # a torch tensor; avoid importing torch here
        return a.detach().cpu().numpy()
    return np.asarray(a)


def load_data(path: str | Path, *, seed: int = 0, label_column: int | str | None = None, memory_budget=None,
              budget: str = "standard", scheduler: str | None = None) -> Data:
    """Load ``.npz`` data, a UCR/UEA ``_TRAIN``/``_TEST`` pair, one ``.ts``/``.tsv``/``.csv`` file, a folder or
    prefix of ``.npy`` files (``X_train.npy``, ``y_train.npy``, …; memory-mapped) or a ``.zarr`` store.

    ``label_column`` (CSV only) is a column index or header name; by default a header column named
    label/class/target/y, else the first column (the UCR convention). ``.npy`` and zarr data larger than
    ``memory_budget`` stays on disk (load/big.py): its statistics run chunk by chunk (on ``scheduler``), the rest
    on a sample sized for ``budget``.
    """
    path = Path(path)
    if not path.is_file():
        from .big import data_from_parts, npy_files, open_split_files, zarr_store

        if zarr_store(path) or npy_files(path) is not None:
            parts, where = open_split_files(path)
            return data_from_parts(parts, where, seed=seed, memory_budget=memory_budget, budget=budget,
                                   scheduler=scheduler)
    if path.is_file():
        if path.suffix.lower() == ".npz" or (path.suffix.lower() not in TEXT_FORMATS and zipfile.is_zipfile(path)):
            return _load_npz(path, seed)
        if path.suffix.lower() in TEXT_FORMATS:
            pair = _pair_for_file(path)
            if pair is not None:
                return _load_pair(*pair, seed=seed, label_column=label_column)
            return _load_single(path, seed=seed, label_column=label_column)
        raise InputError(f"{path} is not an .npz file, nor a .ts, .tsv, .csv or .txt file. {_EXPECTED_ANY} "
                         "Save arrays with np.savez('data.npz', X_train=..., y_train=..., X_test=..., y_test=...).")
    from .formats import find_split_pair

    pair = find_split_pair(path)
    if pair is not None:
        return _load_pair(*pair, seed=seed, label_column=label_column)
    if path.is_dir():
        raise InputError(f"{path} is a folder without a {path.name}_TRAIN / {path.name}_TEST pair (looked for "
                         f"{path.name}_TRAIN.ts/.tsv/.csv/.txt and the matching _TEST file). {_EXPECTED_ANY}")
    if path.parent.is_dir() and not path.suffix:
        raise InputError(f"Found neither {path} nor a pair {path.name}_TRAIN.<ext> + {path.name}_TEST.<ext> "
                         f"(ext: ts, tsv, csv, txt) in {path.parent}. {_EXPECTED_ANY}")
    raise InputError(f"Data file {path} does not exist. {_EXPECTED_ANY}")


def _pair_for_file(path: Path) -> tuple[Path, Path] | None:
    from .formats import find_split_pair

    return find_split_pair(path) if _SPLIT_FILE.match(path.name) else None


def _read_text_file(path: Path, label_column) -> tuple[np.ndarray, np.ndarray]:
    """X (N, C, L) and labels as stored, from one .ts / .tsv / .txt / .csv file."""
    from .formats import csv_header, read_csv, read_ts, read_ucr_tsv, typed_labels

    suffix = path.suffix.lower()
    if suffix == ".ts":
        X, y, _ = read_ts(path)
        if len(y) == 0:
            raise InputError(f"{path} has no class labels (@classLabel false); cnndoctor diagnoses "
                             "classifiers and needs a label at the end of every case.")
        return X, typed_labels(y.tolist())  # numeric labels stay numbers as written: 1-based stays 1-based
    if suffix != ".csv":
        return read_ucr_tsv(path)
    if label_column is not None:
        return read_csv(path, label_column=label_column)
    header = csv_header(path) or []
    named = next((h for h in header if h.lower() in _LABEL_NAMES), None)
    if named is not None:
        return read_csv(path, label_column=named)
    X, y = read_csv(path, label_column=0)
    if y.dtype.kind == "f":
        raise InputError(f"{path}: the first column holds non-integer values (e.g. {y[0]:g}), so it is not a "
                         "class label. cnndoctor takes a CSV's label from a header column named label, class, "
                         "target or y, else from the first column (the UCR layout); name the label column with "
                         "--label-column NAME or give its index, e.g. --label-column -1 for the last column.")
    return X, y


def _squeeze(X: np.ndarray) -> np.ndarray:
    # The readers give (N, C, L); a univariate set is stored (N, L) like the UCR .npz copies.
    return X[:, 0, :] if X.ndim == 3 and X.shape[1] == 1 else X


def _load_pair(train: Path, test: Path, *, seed: int, label_column) -> Data:
    X_train, y_train = _read_text_file(train, label_column)
    X_test, y_test = _read_text_file(test, label_column)
    source = f"{train} + {test.name}"
    if X_train.shape[1:] != X_test.shape[1:]:
        raise InputError(f"{train.name} holds series of shape (channels, length) {X_train.shape[1:]} but "
                         f"{test.name} holds {X_test.shape[1:]}; both splits must share one channel count and "
                         "length (cnndoctor does not pad or resample).")
    if y_train.dtype.kind != y_test.dtype.kind and "U" in (y_train.dtype.kind, y_test.dtype.kind):
        raise InputError(f"{train.name} has {'text' if y_train.dtype.kind == 'U' else 'numeric'} labels but "
                         f"{test.name} has {'text' if y_test.dtype.kind == 'U' else 'numeric'} ones; both splits "
                         "must label classes the same way.")
    return data_from_arrays(_squeeze(X_train), y_train, _squeeze(X_test), y_test, source=source, seed=seed)


def _load_single(path: Path, *, seed: int, label_column) -> Data:
    X, y = _read_text_file(path, label_column)
    if len(X) < 2:
        how = {".ts": "a .ts file", ".csv": "a CSV (one series per row, label column as set by --label-column)"}
        raise InputError(f"{path} is not an .npz file, and read as "
                         f"{how.get(path.suffix.lower(), 'a UCR file (label first, then the values)')} it holds "
                         f"{len(X)} series: with no matching _TEST file cnndoctor splits it 80/20 and needs many "
                         f"series to do so. {_EXPECTED_ANY}")
    data = data_from_arrays(_squeeze(X), y, source=str(path), seed=seed)
    if _SPLIT_FILE.match(path.name):
        data.notes.insert(0, f"{path.name} has no matching {_SPLIT_FILE.match(path.name).group(1)}_"
                             f"{'TEST' if 'train' in path.name.lower() else 'TRAIN'} file next to it, so it was "
                             "split on its own.")
    return data


def _load_npz(path: Path, seed: int) -> Data:
    """Load ``.npz`` data with ``allow_pickle=False`` and case-insensitive keys."""
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises several types for a corrupt zip
        raise InputError(f"{path} could not be read as an .npz file ({exc}). {_EXPECTED}") from None
    if not hasattr(archive, "files"):  # a plain .npy saved under an .npz name
        raise InputError(f"{path} holds a single array, not an .npz archive of named arrays. {_EXPECTED}")
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
