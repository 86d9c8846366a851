"""Label noise: how many training labels look wrong, which ones, and how consistent each split's labels are.

Two measurements, both on (n, C, L) float arrays and int class ids:

- **Confident learning** (Northcutt, Jiang & Chuang, "Confident Learning: Estimating Uncertainty in
  Dataset Labels", JAIR 70, 2021): out-of-fold predicted probabilities of a cheap probabilistic
  baseline (logistic regression on the reference baselines' summary/spectral features and on their
  random-convolution features, probabilities averaged), per-class thresholds (the mean self-confidence
  of each class), the confident joint, its calibration to the class counts, the estimated noise rate
  (the off-diagonal mass of the calibrated joint) and the label issues found by pruning by noise rate,
  ranked by self-confidence (lowest first).
- **Neighbour agreement**: the share of samples whose nearest neighbour *within the same split*
  (z-normalised, downsampled series: the 1-NN baseline's representation) carries the same label.

Confident learning always flags some hard examples, so neither number means much alone: the fact
measures both on the training split and, at the same class composition and size, on the test split, whose labels
serve as the reference for what the same procedure gives on this data without extra noise.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import cache, cached_property

import numpy as np

from .baselines import features_of, nearest_labels, nn_representation
from .linear import logistic_regression

__all__ = ["ConfidentLearning", "LabelNoise", "SplitLabels", "confident_learning", "features_for_noise",
           "label_noise", "matched_counts", "neighbour_agreement", "out_of_fold_probabilities"]

FOLDS = 5  # out-of-fold probabilities: each sample is scored by a model that never saw it (cleanlab's default)
_DRAWS = 5  # most seeded draws of a split at the matched class composition, averaged


@dataclass(frozen=True)
class ConfidentLearning:
    """Confident learning on one set of (features, labels)."""

    probabilities: np.ndarray  # (n, K) out-of-fold predicted probabilities, columns = classes
    classes: np.ndarray  # the class ids of the columns
    thresholds: np.ndarray  # (K,) per-class mean self-confidence
    confident_joint: np.ndarray  # (K, K) counts: given label (rows) x confidently predicted label (columns)
    joint: np.ndarray  # (K, K) calibrated joint distribution of given and true labels (sums to 1)
    noise_rate: float  # off-diagonal mass of ``joint``: the estimated share of wrong labels
    issues: np.ndarray  # positions (into the labels given) of the label issues, lowest self-confidence first
    self_confidence: np.ndarray  # (n,) probability of the given label
    out_of_fold_accuracy: float  # argmax of the out-of-fold probabilities against the given labels


def features_for_noise(V: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The reference baselines' summary/spectral features and their random-convolution features, each
    standardised per column over the split (no labels are used, so no fold leaks into another)."""
    blocks = []
    for F in (features_of(V, "summary"), features_of(V, "conv", seed)):
        m, s = F.mean(0), F.std(0)
        blocks.append(np.clip((F - m) / np.where(s > 0, s, 1.0), -1e3, 1e3))
    return blocks[0], blocks[1]


def _folds(y: np.ndarray, k: int, rng) -> np.ndarray:
    """A fold id per sample, each class dealt round-robin after a seeded shuffle (stratified K-fold)."""
    fold = np.empty(len(y), dtype=np.int64)
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        fold[idx] = np.arange(len(idx)) % k
    return fold


def out_of_fold_probabilities(blocks, y: np.ndarray, classes: np.ndarray, *, seed: int = 0,
                              folds: int = FOLDS) -> np.ndarray:
    """(n, K) probabilities, each row from logistic regressions fitted on the other folds (one per feature
    block, probabilities averaged). A class absent from a fold's training part gets probability 0 there."""
    rng = np.random.default_rng(seed)
    counts = np.bincount(np.searchsorted(classes, y), minlength=len(classes))
    k = int(max(2, min(folds, counts[counts > 0].min()))) if len(y) >= 4 else 2
    fold = _folds(y, k, rng)
    probs = np.zeros((len(y), len(classes)))
    for f in range(k):
        test, train = fold == f, fold != f
        if not test.any():
            continue
        present = np.unique(y[train])
        cols = np.searchsorted(classes, present)
        if len(present) < 2:
            probs[np.ix_(test, cols)] = 1.0
            continue
        for F in blocks:
            # Newton-CG (measure/linear): L-BFGS needed ~160 iterations a fit on the strongly correlated summary
            # features, Newton steps ~10 to the same optimum (W2: 2.4x faster on clean labels, 4.3x on noisy)
            fitted = logistic_regression(F[train], y[train], C=1.0, max_iter=200)
            probs[np.ix_(test, cols)] += fitted.predict_proba(F[test]) / len(blocks)
    return probs


def confident_learning(probs: np.ndarray, y: np.ndarray, classes: np.ndarray) -> ConfidentLearning:
    """The confident joint, its calibration, the noise rate and the issues (prune by noise rate), as in
    Northcutt et al. (2021), sections 3.1-3.2 and 4 (Cconfusion/PBNR)."""
    n, K = probs.shape
    given = np.searchsorted(classes, y)
    self_conf = probs[np.arange(n), given]
    counts = np.bincount(given, minlength=K)
    thresholds = np.array([self_conf[given == j].mean() if counts[j] else 1.0 for j in range(K)])
    above = probs >= thresholds[None, :] - 1e-12
    masked = np.where(above, probs, -1.0)
    confident = above.any(axis=1)
    guess = np.argmax(masked, axis=1)
    C = np.zeros((K, K))
    np.add.at(C, (given[confident], guess[confident]), 1.0)
    rows = C.sum(axis=1, keepdims=True)
    calibrated = np.where(rows > 0, C / np.where(rows > 0, rows, 1.0), np.eye(K)) * counts[:, None]
    joint = calibrated / max(calibrated.sum(), 1e-12)
    noise_rate = float(joint.sum() - np.trace(joint))
    # prune by noise rate: per off-diagonal cell (i, j), the round(n * Q[i, j]) samples labelled i with the
    # largest margin p_j - p_i; a sample the model predicts as its given label is never an issue
    flagged = np.zeros(n, dtype=bool)
    argmax = probs.argmax(axis=1)
    for i in range(K):
        members = np.flatnonzero(given == i)
        for j in range(K):
            take = int(round(n * joint[i, j])) if i != j else 0
            if take <= 0 or not len(members):
                continue
            margin = probs[members, j] - probs[members, i]
            flagged[members[np.argsort(-margin, kind="stable")[:take]]] = True
    flagged &= argmax != given
    issues = np.flatnonzero(flagged)
    issues = issues[np.argsort(self_conf[issues], kind="stable")]
    return ConfidentLearning(probs, classes, thresholds, C.astype(np.int64), joint, noise_rate, issues, self_conf,
                             float(np.mean(argmax == given)))


def neighbour_agreement(V: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per sample, whether its nearest other sample of the same split (Euclidean, the 1-NN baseline's
    representation) has the same label (leave-one-out 1-NN)."""
    a = nn_representation(V)
    return nearest_labels(a, y, a, leave_one_out=True) == y


@dataclass(frozen=True)
class SplitLabels:
    """Both measurements on one split, on draws of the class composition both splits share."""

    n: int  # samples per draw (the same for both splits)
    draws: int
    n_split: int  # samples in the split
    noise_rate: float  # confident learning's estimate, mean over draws
    agreement: float  # leave-one-out 1-NN label agreement, mean over draws
    out_of_fold_accuracy: float

    @property
    def n_effective(self) -> int:
        """Samples the averaged numbers stand on: the draws' samples, at most the split's."""
        return min(self.n * self.draws, self.n_split)


@dataclass(frozen=True)
class LabelNoise:
    """Both splits measured alike, and confident learning on the whole (sub)sampled training split.

    The whole split's confident learning (``train``: the label issues) is run when first read: L106 reads it
    only when the splits' comparison fires, and it costs as many fits as both splits' draws together."""

    train_split: SplitLabels
    test_split: SplitLabels
    whole_train: Callable[[], ConfidentLearning] = field(repr=False, compare=False)

    @cached_property
    def train(self) -> ConfidentLearning:
        """Confident learning on every training sample examined: the issues come from here."""
        return self.whole_train()


def matched_counts(y_train: np.ndarray, y_test: np.ndarray) -> dict:
    """Per class present in both splits, the smaller of its two counts: both splits are measured on draws of
    this class composition, since a split's numbers depend on its size (fewer neighbours, smaller folds) and
    on its classes (fewer classes agree more often)."""
    common = np.intersect1d(y_train, y_test)
    return {int(c): int(min(np.sum(y_train == c), np.sum(y_test == c))) for c in common}


def _draw(y: np.ndarray, counts: dict, rng) -> np.ndarray:
    picks = [rng.choice(np.flatnonzero(y == c), m, replace=False) for c, m in counts.items()]
    return np.sort(np.concatenate(picks))


def _split_labels(blocks, V, y, counts: dict, *, seed: int,
                  whole_split: Callable[[], ConfidentLearning] | None = None) -> SplitLabels:
    """Both measurements on seeded draws of the matched class composition: one draw when the split holds
    exactly that, else as many as the split holds over (at least 2, at most ``_DRAWS``), averaged.
    ``whole_split`` gives confident learning on this whole split over the same classes (computed once), reused
    when the one draw is the whole split."""
    rng = np.random.default_rng(seed + 29)
    size = sum(counts.values())
    whole = len(y) == size
    draws = 1 if whole else int(min(_DRAWS, max(2, len(y) // size)))
    classes = np.array(sorted(counts))
    reuse = whole and whole_split is not None
    noise, agree, acc = [], [], []
    for _ in range(draws):
        pick = _draw(y, counts, rng)
        cl = whole_split() if reuse else confident_learning(
            out_of_fold_probabilities([F[pick] for F in blocks], y[pick], classes, seed=seed), y[pick], classes)
        noise.append(cl.noise_rate)
        acc.append(cl.out_of_fold_accuracy)
        agree.append(float(np.mean(neighbour_agreement(V[pick], y[pick]))))
    return SplitLabels(size, draws, len(y), float(np.mean(noise)), float(np.mean(agree)), float(np.mean(acc)))


def label_noise(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, *,
                seed: int = 0, within=nullcontext) -> LabelNoise:
    """Both measurements on both splits at the same class composition (``matched_counts``), and confident
    learning on the whole training split when ``train`` is first read, inside ``within()`` (a fact passes its
    fixed thread count: BLAS sums in another order on another count)."""
    classes = np.unique(np.concatenate([y_train, y_test]))
    train_blocks = features_for_noise(X_train, seed)
    counts = matched_counts(y_train, y_test)

    @cache
    def whole() -> ConfidentLearning:
        with within():
            return confident_learning(out_of_fold_probabilities(train_blocks, y_train, classes, seed=seed), y_train,
                                      classes)

    same_classes = np.array_equal(classes, np.array(sorted(counts)))
    return LabelNoise(_split_labels(train_blocks, X_train, y_train, counts, seed=seed,
                                    whole_split=whole if same_classes else None),
                      _split_labels(features_for_noise(X_test, seed), X_test, y_test, counts, seed=seed), whole)
