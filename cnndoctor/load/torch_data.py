"""Turning a torch ``Dataset`` or ``DataLoader`` into the arrays the rest of cnndoctor works on.

A bounded, seeded sample is drawn (random indices for a map-style dataset, the first samples
of an iterable one) and read through the loader's own ``collate_fn``, so the arrays hold what
the user's training loop feeds the model. The report says how many samples were used.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

__all__ = ["DrawnData", "is_torch_data", "arrays_from_torch", "DEFAULT_MAX_SAMPLES"]

DEFAULT_MAX_SAMPLES = 10_000
_READ_BATCH = 256
_X_KEYS = ("x", "input", "inputs", "signal", "signals", "series", "data", "features")
_Y_KEYS = ("y", "label", "labels", "target", "targets", "class", "classes")


@dataclass
class DrawnData:
    X: np.ndarray
    y: np.ndarray
    note: str
    batch_size: int | None  # the DataLoader's batch size, when one was given


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
    return DrawnData(X, y, f"The {split} data comes from a {kind}: {what}.", batch_size)
