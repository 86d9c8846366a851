"""Class purity of training batches: how much of each batch its most common class fills, next to what
batches drawn at random (a shuffled loader) would give under the same class frequencies."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BatchPurity", "batch_purity", "class_keys", "SHUFFLE_DRAWS"]

# Random batches drawn per batch size to estimate the purity a shuffled loader gives: the standard error
# of that estimate is below 1% of the purity's own spread, far finer than any threshold judged on it.
SHUFFLE_DRAWS = 4000


def class_keys(y: np.ndarray) -> np.ndarray:
    """One hashable class value per sample: the label itself, or the column of a one-hot (or soft) row."""
    y = np.asarray(y)
    if y.ndim == 2:
        return np.argmax(y, axis=1) if y.shape[1] > 1 else y[:, 0]
    return y.reshape(len(y))


@dataclass(frozen=True)
class BatchPurity:
    n_batches: int
    batch_sizes: list  # the size of each batch inspected
    purity: list  # per batch: the share of its most common class
    mean_purity: float
    single_class_fraction: float  # batches that hold one class only
    run_fraction: float  # batches that hold one class, or one class's run ending and the next one's beginning
    classes_seen: int  # distinct classes over all inspected batches
    n_classes: int  # distinct classes in the training labels
    expected_purity: float  # the mean purity shuffled batches of the same sizes give
    expected_se: float  # standard error of a mean over n_batches shuffled batches
    expected_single_class_fraction: float
    partial_last_left_out: bool  # the epoch's incomplete last batch was read and left out of the statistic

    @property
    def z(self) -> float:
        """How many standard errors the observed mean purity sits above the shuffled one."""
        if self.expected_se <= 0:
            return float("inf") if self.mean_purity > self.expected_purity else 0.0
        return (self.mean_purity - self.expected_purity) / self.expected_se

    @property
    def excess(self) -> float:
        """The share of the way from shuffled batches (0) to single-class batches (1)."""
        room = 1.0 - self.expected_purity
        return (self.mean_purity - self.expected_purity) / room if room > 0 else 0.0


def batch_purity(batches: list, train_labels: np.ndarray, *, seed: int = 0) -> BatchPurity:
    """Purity of ``batches`` (arrays of labels, in loader order) against random batches of the same sizes
    drawn without replacement from ``train_labels`` (their class frequencies)."""
    keys = [class_keys(b) for b in batches if len(b)]
    # the incomplete last batch of an epoch (drop_last=False) holds what is left over: its few samples say little
    # about the order and, being small, swamp the standard error of the mean
    partial = len(keys) > 2 and len(keys[-1]) < max(len(k) for k in keys[:-1])
    if partial:
        keys = keys[:-1]
    train = class_keys(train_labels)
    _, counts = np.unique(train, return_counts=True)
    purity, single, runs = [], [], []
    for k in keys:
        _, c = np.unique(k, return_counts=True)
        purity.append(float(c.max() / len(k)))
        single.append(len(c) == 1)
        runs.append(int(np.count_nonzero(k[1:] != k[:-1])) <= 1)  # one class, or where one class's run ends
    sizes = [len(k) for k in keys]
    rng = np.random.default_rng(seed)
    mean_by_size, var_by_size, single_by_size = {}, {}, {}
    for size in sorted(set(sizes)):
        if size > counts.sum():
            drawn = rng.multinomial(size, counts / counts.sum(), size=SHUFFLE_DRAWS)
        else:  # a shuffled epoch draws without replacement
            drawn = rng.multivariate_hypergeometric(counts, size, size=SHUFFLE_DRAWS)
        p = drawn.max(axis=1) / size
        mean_by_size[size], var_by_size[size] = float(p.mean()), float(p.var())
        single_by_size[size] = float((p == 1).mean())
    n = len(keys)
    seen = len(np.unique(np.concatenate(keys))) if keys else 0
    expected = float(np.mean([mean_by_size[s] for s in sizes])) if n else float("nan")
    se = float(np.sqrt(sum(var_by_size[s] for s in sizes)) / n) if n else float("nan")
    expected_single = float(np.mean([single_by_size[s] for s in sizes])) if n else float("nan")
    return BatchPurity(n, sizes, purity, float(np.mean(purity)) if n else float("nan"),
                       float(np.mean(single)) if n else float("nan"), float(np.mean(runs)) if n else float("nan"),
                       seen, len(counts), expected, se,
                       expected_single, partial)
