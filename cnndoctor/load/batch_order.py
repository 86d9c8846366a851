"""The order the training probes draw their batches in: the user's own DataLoader's, or cnndoctor's shuffle.

A probe reproduces the user's settings, and the order of the batches is one of them: a DataLoader
read with ``shuffle=False`` over class-sorted data feeds one class after another, and a probe that
shuffled instead would never see what that does to training (D205). So when the training data came
as a DataLoader whose order is not a fresh shuffle every epoch (a ``SequentialSampler``, a custom
``sampler`` or ``batch_sampler``), its epoch's index batches are mapped onto the rows of the training
arrays and the probes replay them, epoch after epoch. A ``RandomSampler`` (``shuffle=True``) keeps
cnndoctor's own seeded shuffle, the same in distribution. On the command line a model file that sets
``shuffle = False`` describes such a loop over the stored rows: ``stored_order`` reads the batches a
``DataLoader(..., shuffle=False)`` gives and maps them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

__all__ = ["BatchOrder", "batch_order_for", "stored_order", "describe_batch_order", "SHUFFLED"]

SHUFFLED = "shuffled (cnndoctor)"


@dataclass(frozen=True)
class BatchOrder:
    """One epoch of index batches into the training arrays, in the user's DataLoader's order."""

    batches: tuple  # np.ndarray of row indices per batch, in the order the loader yields them
    sampler: str  # the sampler's type, or the custom batch_sampler's
    # "read" (the epoch as read), "sequential" (consecutive chunks of arange(n)), "subset", "rebatched", or
    # "split" (the stored order over the training rows cnndoctor kept when it split off a test set itself)
    how: str

    @property
    def n_samples(self) -> int:
        return int(sum(len(b) for b in self.batches))

    def describe(self) -> str:
        extra = {"subset": ", restricted to the samples drawn", "rebatched": ", in batches of the batch size given",
                 "split": ", over the training rows cnndoctor kept", "sequential": ""}.get(self.how, "")
        return f"your DataLoader's order ({self.sampler}{extra})"

    def restricted(self, keep: np.ndarray) -> BatchOrder | None:
        """The same order over the rows that ``keep`` (a boolean mask over the rows) retains, renumbered;
        batches left empty are dropped. None when no row is kept."""
        position = np.cumsum(keep) - 1
        batches = tuple(position[b[keep[b]]] for b in self.batches)
        batches = tuple(b for b in batches if len(b))
        return BatchOrder(batches, self.sampler, self.how) if batches else None


def _rebatch(flat: np.ndarray, size: int, drop_last: bool) -> tuple:
    stop = len(flat) - len(flat) % size if drop_last and len(flat) > size else len(flat)
    return tuple(flat[i:min(i + size, stop)] for i in range(0, stop, size))


def batch_order_for(loader_batches, rows: np.ndarray | None, n_train: int,
                    batch_size: int) -> tuple[BatchOrder | None, str | None]:
    """(the order the probes follow, a note when the user's order cannot be followed).

    ``loader_batches`` is what ``torch_data.read_loader_batches`` read from the training DataLoader;
    ``rows`` the Dataset index of each training row (``DrawnData.index``), None when the rows do not map
    onto the Dataset one to one (an iterable dataset, or a split cnndoctor made); ``batch_size`` the one
    the probes use (the loader's, or one passed explicitly: then the user's order is re-cut at it).
    Returns ``(None, None)`` when the loader shuffles: cnndoctor's own shuffle is the same in distribution.
    """
    if loader_batches is None or loader_batches.epoch_order == "shuffled":
        return None, None
    sampler = loader_batches.sampler
    cannot = f"The training probes could not follow your DataLoader's order ({sampler}): "
    if loader_batches.unavailable:
        return None, cannot + f"{loader_batches.unavailable}. They shuffle the training data instead."
    epoch = loader_batches.epoch_batches()
    if epoch is None:
        return None, cannot + ("its epoch is longer than cnndoctor reads and cannot be rebuilt. They shuffle the "
                               "training data instead.")
    if rows is None or len(rows) != n_train:
        return None, cannot + ("the training rows are not the Dataset's samples one to one (cnndoctor split them "
                               "off for a test set). Pass a test set to follow your order; the probes shuffle "
                               "the training data instead.")
    how = "sequential" if loader_batches.epoch_order == "sequential" else "read"
    full = len(rows) == (loader_batches.dataset_size or -1) and bool(np.all(rows == np.arange(len(rows))))
    if full:
        batches = tuple(epoch)
    else:  # a subset was drawn: the loader's order over the drawn samples, at the loader's batch size
        where = np.searchsorted(rows, np.concatenate(epoch)) if epoch else np.zeros(0, dtype=np.int64)
        flat = np.concatenate(epoch) if epoch else np.zeros(0, dtype=np.int64)
        hit = (where < len(rows)) & (rows[np.minimum(where, len(rows) - 1)] == flat)
        batches = _rebatch(where[hit], batch_size, loader_batches.drop_last)
        how = "subset"
    if loader_batches.batch_size is not None and batch_size != loader_batches.batch_size and how != "subset":
        batches = _rebatch(np.concatenate(batches), batch_size, loader_batches.drop_last)
        how = "rebatched"
    if not batches or max(int(b.max()) for b in batches if len(b)) >= n_train:
        return None, cannot + "its indices do not map onto the training rows. They shuffle the training data instead."
    return BatchOrder(batches, sampler, how), None


def stored_order(data, batch_size: int, drop_last: bool, *, seed: int = 0):
    """(LoaderBatches, the order the probes follow, a note): the loop a model file describes with
    ``shuffle = False``, a ``DataLoader(..., batch_size, shuffle=False, drop_last)`` over the user's rows.

    Its batches are read by ``torch_data.read_loader_batches`` (D205 judges them) and mapped onto the training
    rows by ``batch_order_for``. When cnndoctor split off the test set itself, the user's loop still walks
    their whole stored X: the loader runs over every stored row, and the probes replay that order over the
    training rows cnndoctor kept (its held-out rows are not trained on), re-cut at ``batch_size``.
    """
    from torch.utils.data import DataLoader

    from .torch_data import read_loader_batches

    rows = data.train_rows
    labels = data.y_train if rows is None else _stored_labels(data.y_train, data.y_test, rows)
    # (row, label) pairs: a map-style dataset whose SequentialSampler walks the rows in their stored order
    loader = DataLoader(list(zip(range(len(labels)), labels)), batch_size=batch_size, shuffle=False,
                        drop_last=drop_last)
    batches = read_loader_batches(loader, seed=seed)
    n_train = len(data.y_train)
    order, note = batch_order_for(batches, np.arange(n_train) if rows is None else rows, n_train, batch_size)
    return batches, (replace(order, how="split") if order is not None and rows is not None else order), note


def _stored_labels(y_train: np.ndarray, y_test: np.ndarray, train_rows: np.ndarray) -> np.ndarray:
    """The labels of every stored row, in the stored order, from cnndoctor's split of them."""
    n = len(y_train) + len(y_test)
    y = np.empty((n, *y_train.shape[1:]), dtype=np.result_type(y_train, y_test))
    held_out = np.ones(n, dtype=bool)
    held_out[train_rows] = False
    y[train_rows], y[held_out] = y_train, y_test
    return y


def describe_batch_order(subject) -> tuple[str, str]:
    """(value, source) of the settings block's "batch order" entry."""
    order = getattr(subject, "batch_order", None)
    loader = getattr(subject, "loader_batches", None)
    described = getattr(subject, "settings_source", {}).get("shuffle")  # a model file's `shuffle`
    if order is not None:
        return order.describe(), described or "DataLoader"
    if loader is None:
        return SHUFFLED, described or "default"
    if loader.epoch_order == "shuffled":
        return SHUFFLED, f"DataLoader ({loader.sampler}: shuffle=True)"
    return f"{SHUFFLED}: your DataLoader's order ({loader.sampler}) could not be followed", "default"
