"""Facts about wrong labels: confident learning on the training split, and label consistency per split."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..context import fact
from ..errors import FactUnavailable
from ..measure.label_noise import LabelNoise, SplitLabels, matched_counts
from ..measure.label_noise import label_noise as measure_label_noise
from ..probes.threads import fact_threads

__all__ = ["MIN_MATCHED", "MODEL", "LabelNoiseEstimate"]


def _two_proportion_z(high: float, low: float, n_high: int, n_low: int) -> float:
    """z of ``high - low`` for two proportions, pooled standard error (the textbook two-proportion test)."""
    pooled = (high * n_high + low * n_low) / max(1, n_high + n_low)
    se = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / max(1, n_high) + 1 / max(1, n_low)))
    return float((high - low) / se)


@dataclass(frozen=True)
class LabelNoiseEstimate:
    """Estimated wrong training labels, and the test split measured the same way as the reference.

    ``noise_rate``, ``suspect_indices`` and ``out_of_fold_accuracy`` come from confident learning on the whole
    training sample, run when one of them is first read (L106 reads them when it fires)."""

    indexed: str  # which of the user's arrays the indices count in: "X_train", or "X" when cnndoctor split X
    n_examined: int  # training samples examined (the baselines' seeded subsample)
    n_train_total: int
    train: SplitLabels  # both splits measured at the same size
    test: SplitLabels
    model: str  # what produced the out-of-fold probabilities, in words
    measured: LabelNoise = field(repr=False, compare=False)
    rows: np.ndarray = field(repr=False, compare=False)  # per training sample examined, its row in ``indexed``

    @property
    def noise_rate(self) -> float:
        """Confident learning's estimate on every training sample examined."""
        return self.measured.train.noise_rate

    @cached_property
    def suspect_indices(self) -> list:
        """The label issues as indices into ``indexed`` (the user's array), most suspect first."""
        return self.rows[self.measured.train.issues].tolist()

    @property
    def out_of_fold_accuracy(self) -> float:
        """The probabilistic baseline's out-of-fold accuracy on the given training labels."""
        return self.measured.train.out_of_fold_accuracy

    @property
    def excess_noise(self) -> float:
        """Estimated noise rate of the training split above the test split's, at the same size."""
        return self.train.noise_rate - self.test.noise_rate

    @property
    def noise_z(self) -> float:
        return _two_proportion_z(self.train.noise_rate, self.test.noise_rate, self.train.n_effective,
                                 self.test.n_effective)

    @property
    def agreement_gap(self) -> float:
        """Test split's neighbour agreement above the training split's, at the same size."""
        return self.test.agreement - self.train.agreement

    @property
    def agreement_z(self) -> float:
        return _two_proportion_z(self.test.agreement, self.train.agreement, self.test.n_effective,
                                 self.train.n_effective)


# Fewer samples than this in the matched draws leave a two-proportion test no power at all: a 30% difference
# between the splits would stand under 2 standard errors.
MIN_MATCHED = 20
MODEL = ("logistic regression on summary/spectral features and on random-convolution features, probabilities "
         "averaged, 5-fold out-of-fold")


@fact
def label_noise(ctx) -> LabelNoiseEstimate:
    """Confident learning (Northcutt et al., 2021) on the baselines' training sample, with the test split
    measured alike at the same size as the reference for what hard-but-correct examples give (L106)."""
    sub = ctx.baseline_sample
    if len(np.unique(sub.y_train)) < 2:
        raise FactUnavailable("the training split has a single class, so no label can be told wrong")
    counts = matched_counts(sub.y_train, sub.y_test)
    if len(counts) < 2 or sum(counts.values()) < MIN_MATCHED:
        raise FactUnavailable(f"the splits share {len(counts)} class(es) and {sum(counts.values())} samples of "
                              f"matched class composition: too few (at least 2 classes, {MIN_MATCHED} samples) to "
                              "compare their labels")
    # the whole split's confident learning runs when L106 reads it, after this fact: on the same fixed threads
    measured = measure_label_noise(sub.X_train, sub.y_train, sub.X_test, sub.y_test, seed=ctx.subject.seed,
                                   within=lambda: fact_threads(ctx.subject.device))
    rows = sub.train_index if sub.train_index is not None else np.arange(len(sub.y_train))
    indexed = "X_train"
    stored = ctx.subject.data.train_rows
    if stored is not None:  # cnndoctor split X itself: name the rows of the X the user passed
        rows, indexed = stored[rows], "X"
    return LabelNoiseEstimate(indexed, len(sub.y_train), sub.n_train_total, measured.train_split,
                              measured.test_split, MODEL, measured, np.asarray(rows))
