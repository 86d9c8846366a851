"""Data beyond the memory budget: row sources read chunk by chunk, and the seeded sample held in memory.

A split larger than the memory budget (``DEFAULT_MEMORY_BUDGET``, ``--memory-budget``) is never loaded whole.
Its rows stay where they are — a memory-mapped ``.npy`` file, a zarr array, a ``dask.array`` or a numpy array
the caller already holds — behind a ``RowSource`` that reads a range of rows into fresh memory. The data
statistics (``measure/chunked.py``) read every row once, chunk by chunk; the near-duplicate search, the
baselines and the probes run on a seeded, stratified sample of rows (``Data.X_train`` / ``X_test``), sized by
what they need (``sample_sizes``), and ``BigData`` keeps the whole splits for the statistics.

Labels and groups (one value per row) are read whole: they are small next to the series.

Inputs: a folder (or ``path/to/prefix``) holding ``X_train.npy``, ``y_train.npy`` and optionally
``X_test.npy``, ``y_test.npy`` (or ``_val``), ``groups_train.npy``, ``groups_test.npy`` (``prefix_X_train.npy``
… for a prefix); a ``.zarr`` store with arrays of those names (the ``big`` extra); in the API, a numpy memmap or a
``dask.array.Array``. ``.npy`` files are opened with ``np.load(..., mmap_mode="r")`` and read with plain file
reads, so the pages read never stay in the process's resident memory; nothing is ever written to them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..probes.budget import ProbeBudget

__all__ = ["BigData", "RowSource", "NpySource", "ArraySource", "ZarrSource", "DaskSource", "SubsetSource",
           "DEFAULT_MEMORY_BUDGET", "CHUNK_BYTES", "parse_memory_budget", "as_source", "is_lazy", "sample_sizes",
           "stratified_rows", "npy_files", "zarr_store", "open_split_files", "data_from_parts"]

DEFAULT_MEMORY_BUDGET = 2 * 2**30  # fixed, not a share of this machine's RAM: the same data gives the same report
CHUNK_BYTES = 32 * 2**20  # rows read per chunk (at most; a sixteenth of a smaller budget)
# The batch size the sample is sized for: the training probe's steps times this many rows is one pass over the
# sample (a larger batch cycles through it again, as a small data set would)
_SAMPLE_BATCH = 64
# Rows per split the sample keeps however small the budget: fewer leave the baselines nothing to judge (L105
# needs a few hundred test samples to tell a score from chance)
_MIN_SAMPLE_ROWS = 512
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9, "t": 10**12,
          "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([a-z]*)\s*$", re.IGNORECASE)
_SPLITS = ("train", "test", "val")


def parse_memory_budget(value) -> int:
    """Bytes from ``2GB``, ``512MiB``, ``1.5g`` or a number of bytes; an ``InputError`` otherwise."""
    if value is None:
        return DEFAULT_MEMORY_BUDGET
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value > 0:
            return int(value)
    elif isinstance(value, str):
        match = _SIZE.match(value)
        if match and match.group(2).lower() in _UNITS and float(match.group(1)) > 0:
            return int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    raise InputError(f"memory budget {value!r} is not a size: give bytes or a number with a unit, e.g. 2GB, "
                     "512MiB or 1.5g (default 2GiB).")


class RowSource:
    """Rows of one array, read a range at a time into fresh float32 memory; picklable (by reference) so that
    a Dask worker can read its own chunks."""

    kind = "array"
    shape: tuple
    dtype: np.dtype
    # whether two threads may read chunks at once (measure/cluster's "sync" runs): files opened per read and arrays
    # in memory may; a reader of the user's own (an h5py dataset, a custom array-like, a dask array) is read one
    # chunk at a time
    concurrent_reads = False

    def __len__(self) -> int:
        return int(self.shape[0])

    @property
    def row_bytes(self) -> int:
        return int(np.prod(self.shape[1:], dtype=np.int64)) * 4

    @property
    def nbytes(self) -> int:
        return len(self) * self.row_bytes

    def read(self, start: int, stop: int) -> np.ndarray:
        raise NotImplementedError

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The rows at the (ascending) indices ``rows``."""
        raise NotImplementedError

    def load(self) -> np.ndarray:
        """The whole array in memory, as stored (data within the memory budget)."""
        raise NotImplementedError

    def ranges(self, chunk_bytes: int) -> list[tuple[int, int]]:
        step = max(1, int(chunk_bytes) // max(1, self.row_bytes))
        return [(s, min(len(self), s + step)) for s in range(0, len(self), step)]


def _float32(a) -> np.ndarray:
    a = np.asarray(a)
    return a if a.dtype == np.float32 else a.astype(np.float32)


class NpySource(RowSource):
    """A ``.npy`` file (or a numpy memmap of one): opened with ``mmap_mode="r"``, chunks read with file reads."""

    kind = "npy"
    concurrent_reads = True  # each read opens the file (or gathers through the read-only map)

    def __init__(self, path, *, offset: int | None = None, shape=None, dtype=None, fortran: bool = False):
        self.path = str(path)
        if offset is None:
            mm = np.load(self.path, mmap_mode="r")
            offset, shape, dtype, fortran = mm.offset, mm.shape, mm.dtype, np.isfortran(mm) and mm.ndim > 1
        self.offset, self.shape, self.dtype, self.fortran = int(offset), tuple(shape), np.dtype(dtype), fortran

    @classmethod
    def from_memmap(cls, mm: np.memmap) -> NpySource:
        return cls(mm.filename, offset=mm.offset, shape=mm.shape, dtype=mm.dtype,
                   fortran=bool(np.isfortran(mm) and mm.ndim > 1))

    def memmap(self) -> np.memmap:
        """The file as a read-only memmap (what the sample's rows are gathered from)."""
        return np.memmap(self.path, dtype=self.dtype, mode="r", offset=self.offset, shape=self.shape,
                         order="F" if self.fortran else "C")

    def read(self, start: int, stop: int) -> np.ndarray:
        if self.fortran:  # rows are not contiguous on disk: gather them through the map
            return np.array(self.memmap()[start:stop], dtype=np.float32)
        per_row = int(np.prod(self.shape[1:], dtype=np.int64))
        with open(self.path, "rb") as fh:  # a file read: the page cache holds it, not this process
            fh.seek(self.offset + start * per_row * self.dtype.itemsize)
            flat = np.fromfile(fh, dtype=self.dtype, count=(stop - start) * per_row)
        return _float32(flat.reshape((stop - start,) + self.shape[1:]))

    def take(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        if self.fortran:
            return _float32(np.array(self.memmap()[rows]))
        # one positioned read per row: gathering through the map would fault in the pages around every row
        # (the kernel maps neighbours it already caches), and those count as this process's resident memory
        per_row = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        out = np.empty((len(rows),) + self.shape[1:], dtype=self.dtype)
        flat = out.reshape(len(rows), -1).view(np.uint8)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for i, r in enumerate(rows.tolist()):
                flat[i] = np.frombuffer(os.pread(fd, per_row, self.offset + r * per_row), dtype=np.uint8)
        finally:
            os.close(fd)
        return _float32(out)

    def load(self) -> np.ndarray:
        return np.array(self.memmap())


class ArraySource(RowSource):
    """An array already in memory (or any array-like indexed by rows), read in chunks like the others."""

    kind = "array"

    def __init__(self, array):
        self.array = array
        self.shape, self.dtype = tuple(array.shape), np.dtype(array.dtype)
        self.concurrent_reads = isinstance(array, np.ndarray)  # numpy arrays and memmaps, not array-likes

    def read(self, start: int, stop: int) -> np.ndarray:
        return _float32(self.array[start:stop]).copy()

    def take(self, rows: np.ndarray) -> np.ndarray:
        return _float32(self.array[np.asarray(rows)])

    def load(self) -> np.ndarray:
        return np.asarray(self.array[:])


class ZarrSource(RowSource):
    """One array of a zarr store, opened read-only by path (each Dask worker opens its own)."""

    kind = "zarr"
    concurrent_reads = True  # zarr reads chunks of a store opened read-only

    def __init__(self, store: str, name: str):
        self.store, self.name = str(store), name
        arr = self._array()
        self.shape, self.dtype = tuple(arr.shape), np.dtype(arr.dtype)

    def _array(self):
        import zarr

        return zarr.open_group(self.store, mode="r")[self.name]

    def __getstate__(self):
        return {"store": self.store, "name": self.name, "shape": self.shape, "dtype": self.dtype}

    def read(self, start: int, stop: int) -> np.ndarray:
        return _float32(self._array()[start:stop])

    def take(self, rows: np.ndarray) -> np.ndarray:
        return _float32(self._array().get_orthogonal_selection((np.asarray(rows),)))

    def load(self) -> np.ndarray:
        return np.asarray(self._array()[...])


class DaskSource(RowSource):
    """A ``dask.array.Array``: chunks are its row blocks (rechunked to whole rows), computed where they run."""

    kind = "dask"

    def __init__(self, array):
        self.array = array
        self.shape, self.dtype = tuple(int(s) for s in array.shape), np.dtype(array.dtype)

    def read(self, start: int, stop: int) -> np.ndarray:
        return _float32(self.array[start:stop].compute())

    def take(self, rows: np.ndarray) -> np.ndarray:
        return _float32(self.array[np.asarray(rows)].compute())

    def load(self) -> np.ndarray:
        return np.asarray(self.array.compute())

    def blocks(self, chunk_bytes: int):
        """((start, stop), dask block) per row block, every block holding whole rows."""
        step = max(1, int(chunk_bytes) // max(1, self.row_bytes))
        arr = self.array.rechunk({0: step, **{a: -1 for a in range(1, self.array.ndim)}})
        starts = np.concatenate([[0], np.cumsum(arr.chunks[0])]).astype(int)
        return [((int(starts[i]), int(starts[i + 1])), arr.blocks[i]) for i in range(len(arr.chunks[0]))]


class SubsetSource(RowSource):
    """The rows ``rows`` (ascending) of another source: cnndoctor's own 80/20 split of big data. A chunk reads
    the contiguous stretch that covers its rows and keeps those."""

    def __init__(self, base: RowSource, rows: np.ndarray):
        self.base, self.rows = base, np.asarray(rows, dtype=np.int64)
        self.kind, self.concurrent_reads = base.kind, base.concurrent_reads
        self.shape, self.dtype = (len(self.rows),) + tuple(base.shape[1:]), base.dtype

    def read(self, start: int, stop: int) -> np.ndarray:
        rows = self.rows[start:stop]
        if not len(rows):
            return np.empty((0,) + self.shape[1:], np.float32)
        lo, hi = int(rows[0]), int(rows[-1]) + 1
        return self.base.read(lo, hi)[rows - lo]

    def take(self, rows: np.ndarray) -> np.ndarray:
        return self.base.take(self.rows[np.asarray(rows)])

    def load(self) -> np.ndarray:
        return self.base.take(self.rows)


def is_lazy(X) -> bool:
    """True for inputs that must not be loaded whole unasked: a numpy memmap or a dask array."""
    return isinstance(X, np.memmap) or type(X).__module__.startswith("dask.")


def as_source(X) -> RowSource:
    """A ``RowSource`` for an array handed in (memmap, dask array, numpy array, zarr array)."""
    if isinstance(X, RowSource):
        return X
    if type(X).__module__.startswith("dask."):
        return DaskSource(X)
    if isinstance(X, np.memmap) and X.filename and (X.flags.c_contiguous or X.flags.f_contiguous):
        return NpySource.from_memmap(X)
    if hasattr(X, "shape") and hasattr(X, "dtype") and not isinstance(X, np.ndarray) and not hasattr(X, "detach"):
        return ArraySource(X)  # a zarr array or another array-like read by slices
    return ArraySource(np.asarray(X.detach().cpu().numpy() if hasattr(X, "detach") else X))


@dataclass
class BigData:
    """The whole splits of data beyond the memory budget; ``Data`` holds the sample drawn from them."""

    X_train: RowSource
    y_train: np.ndarray
    X_test: RowSource | None
    y_test: np.ndarray | None
    groups_train: np.ndarray | None
    groups_test: np.ndarray | None
    memory_budget: int
    chunk_bytes: int
    sample_train: np.ndarray  # the rows of X_train (ascending) that Data.X_train holds
    sample_test: np.ndarray | None
    scheduler: str | None = None  # None/"auto": a LocalCluster when dask is installed; "sync"; or an address
    stored_dtype: str = "float32"
    notes: list[str] = field(default_factory=list)

    @property
    def n_train(self) -> int:
        return len(self.X_train)

    @property
    def n_test(self) -> int:
        return 0 if self.X_test is None else len(self.X_test)

    def n_chunks(self) -> int:
        return sum(len(s.ranges(self.chunk_bytes)) for s in (self.X_train, self.X_test) if s is not None)

    def describe(self) -> str:
        """What ran on all rows and what on the sample, for the report's notes."""
        n_sample = len(self.sample_train) + (0 if self.sample_test is None else len(self.sample_test))
        size = self.X_train.nbytes + (self.X_test.nbytes if self.X_test is not None else 0)
        return (f"The data ({self.n_train + self.n_test:,} rows, {_size(size)} as float32) "
                f"exceeds the memory budget of {_size(self.memory_budget)}: statistics over all "
                f"{self.n_train + self.n_test:,} rows in {self.n_chunks()} chunks; near-duplicates, the "
                f"window-overlap scan, baselines and probes on a seeded stratified sample of {n_sample:,} rows "
                f"({len(self.sample_train):,} train"
                + (f", {len(self.sample_test):,} test" if self.sample_test is not None else "") + ").")


def _size(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def sample_sizes(budget: ProbeBudget, row_bytes: int, memory_budget: int) -> tuple[int, int]:
    """(training rows, test rows) of the sample: what the budget's baselines, overlap scan, evaluations and
    training probe (``train_steps`` batches of ``_SAMPLE_BATCH``) use at most, within a quarter of the memory
    budget for both splits together, and never fewer than ``_MIN_SAMPLE_ROWS`` each."""
    train = max(budget.baseline_train, budget.eval_samples, budget.train_steps * _SAMPLE_BATCH,
                budget.overfit_batch)
    test = max(budget.baseline_test, budget.eval_samples, budget.overlap_test_windows)
    cap = max(2 * _MIN_SAMPLE_ROWS, memory_budget // (4 * max(1, row_bytes)))
    if train + test > cap:
        train, test = cap * train // (train + test), cap * test // (train + test)
    return max(train, _MIN_SAMPLE_ROWS), max(test, _MIN_SAMPLE_ROWS)


def stratified_rows(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` row indices (ascending) drawn without replacement, in proportion to each class, every class kept."""
    total = len(y)
    if n >= total:
        return np.arange(total)
    flat = y if y.ndim == 1 else np.argmax(y, axis=1)
    rng = np.random.default_rng(seed)
    classes, inverse = np.unique(flat, return_inverse=True)
    if len(classes) > n or len(classes) > total // 2:  # regression targets or too many classes: plain draw
        return np.sort(rng.choice(total, n, replace=False))
    counts = np.bincount(inverse)
    share = np.maximum(1, np.floor(counts * n / total)).astype(int)
    rest = n - share.sum()
    if rest > 0:  # the remaining rows to the classes with the largest remainders
        order = np.argsort(-(counts * n / total - share), kind="stable")
        share[order[:rest]] += 1
    share = np.minimum(share, counts)
    picked = [rng.choice(np.flatnonzero(inverse == k), share[k], replace=False) for k in range(len(classes))]
    return np.sort(np.concatenate(picked))


def _name_of(path: Path, prefix: str, key: str) -> Path | None:
    for split_name in (key, key.upper(), key.capitalize()):
        candidate = path / f"{prefix}{split_name}.npy"
        if candidate.is_file():
            return candidate
    return None


def npy_files(path: str | Path) -> dict[str, Path] | None:
    """The ``.npy`` files of a folder or prefix (``X_train.npy`` …); None when there is no ``X_train``/``X``."""
    path = Path(path)
    folder, prefix = (path, "") if path.is_dir() else (path.parent, path.name + "_")
    if not folder.is_dir():
        return None
    found = {}
    for key in ("X_train", "y_train", "X_test", "y_test", "X_val", "y_val", "groups_train", "groups_test",
                "X", "y", "groups"):
        hit = _name_of(folder, prefix, key)
        if hit is not None:
            found[key] = hit
    return found if ("X_train" in found or "X" in found) else None


def zarr_store(path: str | Path) -> bool:
    """True for a zarr store: a ``.zarr`` folder, or a folder with zarr metadata at its top."""
    path = Path(path)
    return path.is_dir() and (path.suffix == ".zarr" or any((path / m).is_file() for m in
                                                            ("zarr.json", ".zgroup", ".zattrs")))


def open_split_files(path: str | Path) -> tuple[dict, str]:
    """``{key: source or array}`` for an .npy folder/prefix or a zarr store, and a description of the source.

    X arrays become ``RowSource``s (nothing read); labels and groups are read whole. A missing label file,
    an X without its y, or a y without its X is an ``InputError`` naming the file to add.
    """
    path = Path(path)
    if zarr_store(path):
        try:
            import zarr
        except ModuleNotFoundError:
            raise InputError(f"{path} is a zarr store; reading it needs the zarr package: pip install "
                             "'cnndoctor[big]' (or pip install zarr).") from None
        try:
            group = zarr.open_group(str(path), mode="r")
        except Exception as exc:  # noqa: BLE001 — zarr raises several types for a broken store
            raise InputError(f"{path} could not be opened as a zarr group ({type(exc).__name__}: {exc}).") from None
        names = {n.lower(): n for n in group.array_keys()}
        out = {}
        for key in ("x_train", "y_train", "x_test", "y_test", "x_val", "y_val", "groups_train", "groups_test",
                    "x", "y", "groups"):
            if key in names:
                nice = key.replace("x", "X", 1) if key.startswith("x") else key
                out[nice] = (ZarrSource(str(path), names[key]) if key.startswith("x") else
                             np.asarray(group[names[key]][...]))
        where = f"zarr store {path}"
    else:
        files = npy_files(path)
        if files is None:
            return {}, str(path)
        out = {}
        for key, file in files.items():
            try:
                out[key] = NpySource(file) if key.startswith("X") else np.load(file, allow_pickle=False)
            except ValueError as exc:
                raise InputError(f"{file} could not be read as a numeric .npy array ({exc}); cnndoctor does not "
                                 "unpickle object arrays.") from None
        where = str(path)
    for x_key in ("X_train", "X_test", "X_val", "X"):
        y_key = "y" + x_key[1:]
        if x_key in out and y_key not in out:
            raise InputError(f"{where} has {x_key} but no {y_key} (expected {y_key}.npy next to {x_key}.npy, or an "
                             f"array named {y_key} in the store); every split needs its labels.")
        if y_key in out and x_key not in out:
            raise InputError(f"{where} has {y_key} but no {x_key}; every split needs its series.")
    if "X_train" not in out and "X" not in out:
        raise InputError(f"{where} holds no X_train (or X) array. Expected X_train.npy and y_train.npy "
                         "(optionally X_test.npy, y_test.npy, groups_train.npy, groups_test.npy).")
    return out, where


def _labels_whole(y, name: str, where: str) -> np.ndarray:
    y = np.asarray(y.load() if isinstance(y, RowSource) else y)
    if y.dtype == object or y.ndim not in (1, 2):
        raise InputError(f"{name} in {where} has shape {y.shape} and dtype {y.dtype}; expected (N,) labels or "
                         "(N, K) one-hot rows of numbers or strings.")
    return y


def _check_series(X: RowSource, name: str, where: str) -> None:
    if X.dtype.kind not in "iufb":
        raise InputError(f"{name} in {where} has dtype {X.dtype}, not numbers. Store the series as floats.")
    if len(X.shape) not in (2, 3):
        raise InputError(f"{name} in {where} has shape {X.shape}; expected (N, L) for single-channel series "
                         "or (N, C, L) / (N, L, C) for several channels.")


def data_from_parts(parts: dict, where: str, *, seed: int = 0, memory_budget=None, budget: str = "standard",
                    scheduler: str | None = None, source_name: str | None = None):
    """``Data`` from ``{X_train, y_train, X_test, y_test, groups_train, groups_test}`` (or X, y, groups) whose X
    are sources or arrays: loaded whole within ``memory_budget``, else a sample plus ``BigData``."""
    from ..probes.budget import probe_budget_for
    from .data import SPLIT_BY_CNNDOCTOR, cast_note, data_from_arrays, split_rows

    limit = parse_memory_budget(memory_budget)
    test_key = "test" if "X_test" in parts else "val" if "X_val" in parts else None
    X_train = as_source(parts["X_train"] if "X_train" in parts else parts["X"])
    X_test = as_source(parts[f"X_{test_key}"]) if test_key else None
    train_name = "X_train" if "X_train" in parts else "X"
    y_train = _labels_whole(parts["y_train"] if "y_train" in parts else parts["y"], "y" + train_name[1:], where)
    y_test = _labels_whole(parts[f"y_{test_key}"], f"y_{test_key}", where) if test_key else None
    g_train = parts.get("groups_train", parts.get("groups"))
    g_test = parts.get("groups_test")
    source = source_name or where
    total = X_train.nbytes + (X_test.nbytes if X_test is not None else 0)
    if total <= limit:  # within the budget: the ordinary in-memory path, read once
        return data_from_arrays(X_train.load(), y_train, None if X_test is None else X_test.load(), y_test,
                                groups_train=g_train, groups_test=g_test, source=source,
                                test_name=test_key or "test", seed=seed)
    _check_series(X_train, train_name, where)
    if X_test is not None:
        _check_series(X_test, f"X_{test_key}", where)
        if X_test.shape[1:] != X_train.shape[1:]:
            raise InputError(f"X_train has samples of shape {X_train.shape[1:]} but X_{test_key} has "
                             f"{X_test.shape[1:]} in {where}; both splits must share one layout and length.")
    for X, y, name in ((X_train, y_train, train_name[2:] or "train"), (X_test, y_test, test_key)):
        if X is not None and len(X) != len(y):
            raise InputError(f"X_{name} has {len(X):,} samples but y_{name} has {len(y):,} in {where}; every "
                             "sample needs exactly one label.")
    notes = []
    test_name = test_key or "test"
    if X_test is None:
        tr, te, how = split_rows(y_train, seed=seed)
        X_train, X_test = SubsetSource(X_train, tr), SubsetSource(X_train, te)
        y_train, y_test = y_train[tr], y_train[te]
        if g_train is not None:
            g_all = np.asarray(g_train)
            g_train, g_test = g_all[tr], g_all[te]
        test_name = SPLIT_BY_CNNDOCTOR
        notes.append(f"No test split was given: cnndoctor split X, y 80/20 ({len(tr):,} train, {len(te):,} test), "
                     f"{how}, seed {seed}; the rows stay on disk.")
    n_tr, n_te = sample_sizes(probe_budget_for(budget), X_train.row_bytes, limit)
    s_tr = stratified_rows(y_train, n_tr, seed)
    s_te = stratified_rows(y_test, n_te, seed + 1)
    data = data_from_arrays(X_train.take(s_tr), y_train[s_tr], X_test.take(s_te), y_test[s_te],
                            groups_train=None if g_train is None else np.asarray(g_train)[s_tr],
                            groups_test=None if g_test is None else np.asarray(g_test)[s_te],
                            source=source, test_name=test_name, seed=seed)
    cast = cast_note(X_train.dtype, train_name)
    if cast:
        notes.append(cast)
    data.full = BigData(X_train, y_train, X_test, y_test, None if g_train is None else np.asarray(g_train),
                        None if g_test is None else np.asarray(g_test), limit,
                        min(CHUNK_BYTES, max(X_train.row_bytes, limit // 16)), s_tr, s_te, scheduler,
                        str(X_train.dtype))
    data.notes[:0] = [*notes, data.full.describe()]
    return data
