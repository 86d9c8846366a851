"""Turning a torch ``Dataset`` or ``DataLoader`` into the arrays the rest of cnndoctor works on.

A bounded, seeded sample is drawn (random indices for a map-style dataset, the first samples
of an iterable one) and read through the loader's own ``collate_fn``, so the arrays hold what
the user's training loop feeds the model. The report says how many samples were used.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError

__all__ = ["DrawnData", "LoaderBatches", "is_torch_data", "arrays_from_torch", "read_loader_batches",
           "DEFAULT_MAX_SAMPLES", "ORDER_BATCHES", "ORDER_SAMPLES"]

DEFAULT_MAX_SAMPLES = 10_000
_READ_BATCH = 256
# The user's own batches read for their class composition (D205): the first ORDER_BATCHES batches in the order
# the DataLoader yields them, and no more than ORDER_SAMPLES labels, so a large dataset costs a few reads.
ORDER_BATCHES = 50
ORDER_SAMPLES = 5_000
_X_KEYS = ("x", "input", "inputs", "signal", "signals", "series", "data", "features")
_Y_KEYS = ("y", "label", "labels", "target", "targets", "class", "classes")


@dataclass
class DrawnData:
    X: np.ndarray
    y: np.ndarray
    note: str
    batch_size: int | None  # the DataLoader's batch size, when one was given
    # the Dataset index of each row of X (sorted), so the loader's own batches can be mapped onto the rows;
    # None for an IterableDataset (read as a stream, with no index)
    index: np.ndarray | None = None


def is_torch_data(obj) -> bool:
    """True for a torch ``Dataset`` or ``DataLoader`` (without importing torch if it is not loaded)."""
    if "torch" not in sys.modules:
        return False
    from torch.utils.data import DataLoader, Dataset

    return isinstance(obj, (DataLoader, Dataset))


def _numpy(value, what: str) -> np.ndarray:
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except Exception as exc:  # nested lists of tensors with different shapes, and the like
        raise InputError(f"{what} could not be turned into an array ({type(exc).__name__}: {exc}).") from None


def _split_batch(batch, split: str) -> tuple[object, object]:
    if isinstance(batch, dict):
        lower = {str(k).lower(): k for k in batch}
        xk = next((lower[k] for k in _X_KEYS if k in lower), None)
        yk = next((lower[k] for k in _Y_KEYS if k in lower), None)
        if xk is None or yk is None:
            raise InputError(f"The {split} data yields dicts with keys {', '.join(map(str, batch))}; cnndoctor "
                             f"looks for the input under one of {', '.join(_X_KEYS)} and the label under one of "
                             f"{', '.join(_Y_KEYS)}. Wrap it so that it yields (x, y) pairs.")
        return batch[xk], batch[yk]
    if isinstance(batch, (list, tuple)) and len(batch) >= 2:
        return batch[0], batch[1]
    raise InputError(f"The {split} data yields {type(batch).__name__} batches without labels; cnndoctor needs "
                     "(x, y) pairs (as TensorDataset(X, y) gives) or dicts with an input and a label key.")


def _read(batches, split: str, limit: int) -> tuple[np.ndarray, np.ndarray]:
    xs, ys, n = [], [], 0
    try:
        for batch in batches:
            x, y = _split_batch(batch, split)
            x, y = _numpy(x, f"An input batch of the {split} data"), _numpy(y, f"A label batch of the {split} data")
            if x.ndim == 0 or len(x) != len(y):
                raise InputError(f"The {split} data yields batches of {len(x) if x.ndim else 0} inputs and "
                                 f"{len(y)} labels; every sample needs exactly one label.")
            if xs and x.shape[1:] != xs[0].shape[1:]:
                raise InputError(
                    f"The {split} data yields batches of different shapes ({xs[0].shape[1:]} and {x.shape[1:]}): "
                    "the series have unequal lengths and the collate_fn pads each batch to its own longest "
                    "series. cnndoctor needs one length for every sample: pad or resample to one fixed length "
                    "(in the Dataset or the collate_fn) and diagnose that.")
            xs.append(x)
            ys.append(y)
            n += len(x)
            if n >= limit:
                break
    except InputError:
        raise
    except RuntimeError as exc:
        if "stack expects each tensor to be equal size" in str(exc) or "equal size" in str(exc):
            raise InputError(f"The {split} data holds samples of different shapes, so they cannot be stacked "
                             f"into one batch ({exc}). cnndoctor needs equal-length series: pad or resample "
                             "them to one length in the Dataset (or a collate_fn) and diagnose that.") from None
        raise InputError(f"Reading the {split} data raised RuntimeError: {exc}. cnndoctor reads it the way "
                         "your training loop does; fix the Dataset and retry.") from None
    except Exception as exc:
        raise InputError(f"Reading the {split} data raised {type(exc).__name__}: {exc}. cnndoctor reads it the "
                         "way your training loop does; fix the Dataset and retry.") from None
    if not xs:
        raise InputError(f"The {split} data is empty: it yielded no samples.")
    return np.concatenate(xs)[:limit], np.concatenate(ys)[:limit]


def arrays_from_torch(obj, split: str, *, max_samples: int = DEFAULT_MAX_SAMPLES, seed: int = 0) -> DrawnData:
    """Draw up to ``max_samples`` samples from a Dataset or DataLoader as arrays (X, y)."""
    from torch.utils.data import DataLoader, IterableDataset, Subset
    from torch.utils.data._utils.collate import default_collate

    if max_samples < 1:
        raise InputError(f"max_samples must be at least 1, not {max_samples}.")
    loader = obj if isinstance(obj, DataLoader) else None
    dataset = loader.dataset if loader is not None else obj
    kind = type(dataset).__name__ + (" through a DataLoader" if loader is not None else "")
    batch_size = loader.batch_size if loader is not None else None
    collate = default_collate
    if loader is not None and not (loader.batch_size is None and loader.batch_sampler is None):
        collate = loader.collate_fn  # the user's own batching (automatic batching is on)
    # A custom collate_fn may depend on the batch (padding to the longest): read with the user's batch size.
    read_batch = _READ_BATCH if collate is default_collate else (batch_size or _READ_BATCH)

    if isinstance(dataset, IterableDataset):
        source = loader if loader is not None else DataLoader(dataset, batch_size=_READ_BATCH, collate_fn=collate)
        X, y = _read(source, split, max_samples)
        note = (f"The {split} data is an iterable {kind} (no random access): cnndoctor read its first "
                f"{len(X):,} samples{' (the most it reads)' if len(X) >= max_samples else ''} and ran every "
                "check and probe on them.")
        return DrawnData(X, y, note, batch_size)

    try:
        n = len(dataset)
    except TypeError:
        raise InputError(f"The {split} {kind} has no len(); cnndoctor needs a map-style Dataset "
                         "(with __len__ and __getitem__) or an IterableDataset.") from None
    if n == 0:
        raise InputError(f"The {split} {kind} is empty.")
    if n > max_samples:
        rng = np.random.default_rng([seed, 0 if split == "train" else 1])
        index = np.sort(rng.choice(n, size=max_samples, replace=False))
        what = (f"{max_samples:,} of its {n:,} samples, drawn at random (seed {seed}), feed every data check "
                "and probe")
    else:
        index = np.arange(n)
        what = f"all {n:,} samples are used"
    reader = DataLoader(Subset(dataset, index.tolist()), batch_size=read_batch, shuffle=False,
                        collate_fn=collate, num_workers=0)
    X, y = _read(reader, split, len(index))
    return DrawnData(X, y, f"The {split} data comes from a {kind}: {what}.", batch_size, index[:len(X)])


@dataclass
class LoaderBatches:
    """The first batches a training DataLoader yields, in its own order: their labels (D205 reads them) and
    their Dataset indices (the training probes replay them, ``epoch_batches``)."""

    labels: list  # one array of raw labels per batch (as the Dataset or collate_fn gives them)
    sampler: str  # the sampler's type (SequentialSampler, RandomSampler, ...) or the custom batch_sampler's
    custom_batch_sampler: bool  # batch_sampler= was passed, not batch_size=/shuffle=
    batch_size: int | None
    drop_last: bool
    batches_per_epoch: int | None  # len(batch_sampler), when it has one
    unavailable: str | None = None  # why the batches could not be read (then ``labels`` is empty)
    indices: list = field(default_factory=list)  # the Dataset indices of each batch read, in the loader's order
    # how the whole epoch's order is known: "read" (every batch of the epoch was read), "sequential" (the cap cut
    # the reading short, but a SequentialSampler's epoch is consecutive chunks of arange(n)), "shuffled" (a
    # RandomSampler draws a new order every epoch: nothing to replay), or None (the cap cut short an order that
    # cannot be rebuilt, or the batches could not be read)
    epoch_order: str | None = None
    dataset_size: int | None = None

    def epoch_batches(self) -> list[np.ndarray] | None:
        """The Dataset indices of every batch of one epoch, in the loader's order; None when not known."""
        if self.epoch_order == "read":
            return [np.asarray(b, dtype=np.int64) for b in self.indices]
        if self.epoch_order == "sequential" and self.batch_size and self.dataset_size:
            n, size = self.dataset_size, self.batch_size
            stop = n - n % size if self.drop_last else n
            return [np.arange(i, min(i + size, n), dtype=np.int64) for i in range(0, stop, size)]
        return None


def _unavailable(loader, sampler: str, why: str) -> LoaderBatches:
    return LoaderBatches([], sampler, False, loader.batch_size, bool(loader.drop_last), None, why)


def read_loader_batches(loader, *, seed: int = 0, max_batches: int = ORDER_BATCHES,
                        max_samples: int = ORDER_SAMPLES) -> LoaderBatches:
    """The labels of the first batches ``loader`` yields, read by index from its batch sampler.

    Only the sampler is iterated (indices), and only the labels of those indices are read: for a
    ``TensorDataset`` straight from its label tensor, otherwise item by item through the loader's
    ``collate_fn``. Torch's global random state and the sampler's own generator are put back
    afterwards, and a sampler without a generator draws from a seeded one (same seed, same
    batches), so the user's loader and random streams are left as they were.
    """
    import torch
    from torch.utils.data import IterableDataset, TensorDataset

    dataset = loader.dataset
    batch_sampler = loader.batch_sampler
    sampler = type(batch_sampler if _is_custom(loader) else loader.sampler).__name__
    if isinstance(dataset, IterableDataset):
        return _unavailable(loader, sampler, "the training data is an IterableDataset: its order is the dataset's "
                                             "own stream, with no sampler to read")
    if batch_sampler is None:
        return _unavailable(loader, sampler, "the DataLoader has automatic batching off (batch_size=None): "
                                             "it yields single samples, not batches")
    generator = getattr(getattr(batch_sampler, "sampler", batch_sampler), "generator", None)
    state = generator.get_state() if isinstance(generator, torch.Generator) else None
    batches: list[list[int]] = []
    cut = False  # the cap stopped the reading before the epoch's end
    # a Dataset that augments draws from torch's, numpy's or Python's global generator: all three are put back
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            read = 0
            for index in batch_sampler:
                batches.append([int(i) for i in index])
                read += len(batches[-1])
                if len(batches) >= max_batches or read >= max_samples:
                    cut = True
                    break
            labels = _labels_of(dataset, batches, loader, TensorDataset)
    except Exception as exc:  # noqa: BLE001 — the user's sampler or Dataset: D205 says why it could not judge
        return _unavailable(loader, sampler, f"reading the DataLoader's batches raised {type(exc).__name__}: {exc}")
    finally:
        if state is not None:
            generator.set_state(state)
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    try:
        per_epoch = len(batch_sampler)
    except TypeError:
        per_epoch = None
    if cut and per_epoch is not None and len(batches) >= per_epoch:
        cut = False  # the cap fell on the epoch's last batch
    return LoaderBatches(labels, sampler, _is_custom(loader), loader.batch_size, bool(loader.drop_last), per_epoch,
                         indices=batches, epoch_order=_epoch_order(loader, cut), dataset_size=_size(dataset))


def _epoch_order(loader, cut: bool) -> str | None:
    from torch.utils.data import RandomSampler, SequentialSampler

    if not _is_custom(loader) and isinstance(loader.sampler, RandomSampler):
        return "shuffled"
    if not cut:
        return "read"
    if not _is_custom(loader) and type(loader.sampler) is SequentialSampler:
        return "sequential"
    return None


def _size(dataset) -> int | None:
    try:
        return len(dataset)
    except TypeError:
        return None


def _is_custom(loader) -> bool:
    """True when the user passed batch_sampler= (the DataLoader then has no batch_size of its own)."""
    return loader.batch_sampler is not None and loader.batch_size is None


def _labels_of(dataset, batches: list[list[int]], loader, tensor_dataset) -> list[np.ndarray]:
    from torch.utils.data._utils.collate import default_collate

    if isinstance(dataset, tensor_dataset) and len(dataset.tensors) >= 2 and loader.collate_fn is default_collate:
        y = dataset.tensors[1]
        return [_numpy(y[index], "A label batch of the train data") for index in batches]
    out = []
    for index in batches:
        _, y = _split_batch(loader.collate_fn([dataset[i] for i in index]), "train")
        out.append(_numpy(y, "A label batch of the train data"))
    return out
