"""Where the class information lives in time: a baseline restricted to windows of a given span,
pooled over time, against the same baseline that may span the whole series.

A network whose head pools globally over time (``AdaptiveAvgPool1d(1)``, ``x.mean(-1)``) sees a
bag of local features, each computed from one receptive field of ``r`` samples: it is invariant
to where in the series a window sits, and blind to anything longer than ``r``. The local baseline
has the same invariance. Random zero-mean kernels whose span ``(k − 1)·d + 1`` is at most the
window (dilated after ROCKET, Dempster et al., 2020) slide over the series; each response is pooled
over time (proportions above three thresholds, mean and maximum — what global pooling keeps), and a
ridge classifier reads the pooled features. A window under 9 samples gets kernels of its own
length; from 9 samples on, 9-tap kernels dilated 1, 2, 4, … and the widest that fits.

Every span gets the same number of kernels (``_KERNELS``), shared out over the blocks that fit it,
so a wider window wins only by what it sees, not by having more features. A block's kernels are
drawn once (seeded by its taps and dilation) and a span that needs fewer of them takes the first
ones, so the responses are computed once per block. The windows tried are ``r``, ``2r``, ``4r``,
… and the whole series, the last being the whole-series baseline.

Every span is scored on the same test samples, so two spans are compared pairwise. The scale is
balanced accuracy (mean per-class recall): its trivial level is ``1/K`` whatever the class
balance, where plain accuracy would sit at the majority rate and dilute a shortfall in a small
class. A test sample of class ``c`` weighs ``n / (K · n_c)``, so balanced accuracy is the mean of
the weighted hits, and the standard error of a difference comes from the per-sample differences
(the samples one span gets right and the other wrong, as in McNemar's test).

Series are standardised per channel with the training split's statistics (not per series: a
level is something a pooled model can use) and, past ``_MAX_STEPS`` steps, averaged into bins,
with spans converted to bins (rounded up, so a window never shrinks below the receptive field).
Works on (n, C, L) float arrays and int64 class ids.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .baselines import balanced_accuracy, bin_means
from .linear import ridge_classifier
from .parallel import map_parts, workers

__all__ = ["SETTLED_MARGIN", "LocalBaselines", "SpanScore", "local_baselines", "span_ladder"]

_TAPS = 9  # taps of a dilated kernel once the span allows it (ROCKET's length)
_KERNELS = 192  # random kernels per span, whatever its width: the same feature budget for every window
_MAX_STEPS = 512  # longer series are averaged into bins of equal width first
_GROUPS = 4  # random mixes of the channels that the kernels read (multichannel series)
_CHUNK = 8  # series per block of responses: the (chunk, groups, positions, kernels) array stays in the CPU's
# cache through the five pooling passes over it (128 series made them read main memory: 2.4x slower)
_MAX_SAMPLES = 512  # per split: keeps the ladder to a few seconds; the paired standard error says what it costs
# per split, the first look when the caller says what settles its verdict (``settled``): a clear case (most are
# far from the line) costs half, a close one is scored again on all ``_MAX_SAMPLES``
_FIRST_SAMPLES = 256
# standard errors of the shortfall within which a verdict must hold to be settled by the first look: the first
# look is half of the full sample, so the full sample's shortfall differs from it with a standard error ~0.7 of
# the first look's, and 3 of these are over 4 of that
SETTLED_MARGIN = 3.0
# training series whose responses set each kernel's thresholds: 16 series give a kernel thousands of responses
# (16 x the positions), enough for its quartiles; 64 made the quantiles a third of the ladder's time
_THRESHOLD_SERIES = 16
_LEVELS = (0.25, 0.5, 0.75)  # quantiles of a kernel's training responses used as its thresholds
_FEATURES = len(_LEVELS) + 2  # per kernel and channel group: proportions above each level, mean, maximum


@dataclass(frozen=True)
class SpanScore:
    span: int  # window, in input samples (the series length for the whole-series baseline)
    accuracy: float  # on the test sample
    balanced_accuracy: float  # mean per-class recall on the test sample
    correct: tuple  # per test sample, 1 when right (for paired comparisons)
    n_features: int

    def to_dict(self) -> dict:
        return {"span": self.span, "accuracy": self.accuracy, "balanced_accuracy": self.balanced_accuracy,
                "n_features": self.n_features}


@dataclass(frozen=True)
class LocalBaselines:
    receptive_field: int
    length: int
    bin_width: int  # input samples averaged into one step before the kernels run (1: none)
    ladder: tuple  # SpanScore per span, the receptive field first and the whole series last
    weights: tuple  # per test sample n / (K · n_c): the mean of weighted hits is the balanced accuracy
    n_classes: int  # classes in the test sample: balanced accuracy's trivial level is 1 / n_classes
    n_train: int
    n_test: int
    seconds: float

    @property
    def local(self) -> SpanScore:
        return self.ladder[0]

    @property
    def whole(self) -> SpanScore:
        return self.ladder[-1]

    @property
    def chance(self) -> float:
        """Balanced accuracy of any constant guess."""
        return 1.0 / max(1, self.n_classes)

    def shortfall(self, score: SpanScore) -> tuple[float, float]:
        """(whole-series − ``score`` balanced accuracy, its standard error), paired on the same test samples."""
        w = np.asarray(self.weights, dtype=float)
        d = w * (np.asarray(self.whole.correct, dtype=float) - np.asarray(score.correct, dtype=float))
        n = len(d)
        gap = float(d.mean()) if n else 0.0
        se = float(np.sqrt(max(d.var(ddof=1), 0.0) / n)) if n > 1 else float("inf")
        return gap, se

    def share_lost(self, score: SpanScore) -> float | None:
        """The part of the whole-series baseline's balanced accuracy above chance that ``score`` lacks;
        None when the whole-series baseline is not above chance."""
        above = self.whole.balanced_accuracy - self.chance
        return self.shortfall(score)[0] / above if above > 0 else None

    def recovery_span(self, z: float) -> int:
        """The first window wider than the receptive field whose shortfall is within ``z`` standard errors: the
        scale at which the accuracy recovers (the series length when none does sooner)."""
        for score in self.ladder[1:]:
            gap, se = self.shortfall(score)
            if gap <= z * se:
                return score.span
        return self.length

    def fires(self, *, z: float, min_share: float, gap: float | None = None) -> bool:
        """A201's verdict: the windows lose at least ``min_share`` of the whole-series baseline's balanced accuracy
        above chance, by more than ``z`` standard errors of the paired shortfall (``gap``: this shortfall instead
        of the measured one)."""
        if self.local.span >= self.length:
            return False  # the receptive field covers the series: the local baseline is the whole-series one
        above = self.whole.balanced_accuracy - self.chance
        measured, se = self.shortfall(self.local)
        gap = measured if gap is None else gap
        return above > 0 and gap / above >= min_share and gap > z * se

    def settled(self, *, z: float, min_share: float, margin: float = SETTLED_MARGIN) -> bool:
        """Whether :meth:`fires` gives the same verdict with the shortfall anywhere within ``margin`` standard
        errors of the measured one (the verdict only grows with the shortfall, so both ends decide): then a
        larger sample would not change it. A whole-series baseline at chance settles nothing."""
        if self.local.span >= self.length:
            return True
        if self.whole.balanced_accuracy <= self.chance:
            return False
        gap, se = self.shortfall(self.local)
        return (self.fires(z=z, min_share=min_share, gap=gap - margin * se)
                == self.fires(z=z, min_share=min_share, gap=gap + margin * se))

    def to_dict(self) -> dict:
        return {"receptive_field": self.receptive_field, "length": self.length, "bin_width": self.bin_width,
                "ladder": [s.to_dict() for s in self.ladder], "chance": self.chance, "n_train": self.n_train,
                "n_test": self.n_test, "seconds": self.seconds}


def span_ladder(receptive_field: int, length: int) -> list[int]:
    """The windows tried: the receptive field, then doubling, and the whole series last."""
    spans, span = [], max(1, receptive_field)
    while span < length:
        spans.append(span)
        span *= 2
    spans.append(length)
    return spans


def _blocks(span: int, length: int) -> list[tuple[int, int]]:
    """(taps, dilation) of every kernel block whose span fits in ``span`` binned steps (and the series)."""
    span = max(1, min(span, length))
    blocks = []
    if span < _TAPS:
        blocks.append((span, 1))
    d = 1
    while (_TAPS - 1) * d + 1 <= span:
        blocks.append((_TAPS, d))
        d *= 2
    top = (span - 1) // (_TAPS - 1)
    if top >= 1 and (_TAPS, top) not in blocks:
        blocks.append((_TAPS, top))  # the widest kernel that still fits the window
    return blocks


def _shares(blocks: list, budget: int) -> dict:
    """``budget`` kernels shared out over ``blocks`` as evenly as they go (the first blocks get the remainder)."""
    base, extra = divmod(budget, len(blocks))
    return {blk: base + (i < extra) for i, blk in enumerate(blocks)}


class _Features:
    """Pooled responses of random kernel blocks, each block computed once for the most kernels any span
    takes from it."""

    def __init__(self, train: np.ndarray, test: np.ndarray, seed: int):
        self.train, self.test = train, test
        self.seed = seed
        C = train.shape[1]
        rng = np.random.default_rng(seed)
        mix = rng.standard_normal((C, min(C, _GROUPS))) if C > 1 else np.ones((1, 1))
        self.mix = mix.astype(np.float32)

    def block(self, taps: int, dilation: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """(train, test) features of the block's first ``count`` kernels, shaped (n, groups, count, features)."""
        rng = np.random.default_rng([self.seed, taps, dilation])
        W = rng.standard_normal((taps, _KERNELS))[:, :count]  # the same first kernels whatever the count
        if taps > 1:
            W -= W.mean(axis=0, keepdims=True)  # zero-mean: a shape detector, not a level
        W = W.astype(np.float32)
        sample = self._responses(self.train[:min(len(self.train), _THRESHOLD_SERIES)], taps, dilation, W)
        # (levels, groups, count): thresholds of the positive-value proportions, at fixed quantiles of the
        # responses on training series, so that each kernel reports the spread of its responses too
        # (each kernel's quantiles are its own: the kernels are split between the workers)
        parts = np.array_split(np.arange(W.shape[1]), min(workers(), W.shape[1]))
        biases = np.concatenate(map_parts(lambda k: np.quantile(sample[..., k], _LEVELS, axis=(0, 2)), parts),
                                axis=-1).astype(np.float32)
        return (self._pooled(self.train, taps, dilation, W, biases),
                self._pooled(self.test, taps, dilation, W, biases))

    def _responses(self, V, taps, dilation, W):
        X = np.einsum("ncl,cg->ngl", V, self.mix)
        idx = np.arange(X.shape[2] - (taps - 1) * dilation)[:, None] + dilation * np.arange(taps)[None, :]
        return X[:, :, idx] @ W  # (n, groups, positions, K)

    def _pooled(self, V, taps, dilation, W, biases):
        out = np.empty((len(V), self.mix.shape[1], W.shape[1], _FEATURES), dtype=np.float32)
        positions = V.shape[2] - (taps - 1) * dilation

        def pool(s):
            r = self._responses(V[s:s + _CHUNK], taps, dilation, W)
            for i, bias in enumerate(biases):
                # a count over positions, divided once: the same numbers as the mean of the booleans, without
                # casting every comparison to float64
                above = np.add.reduce(r > bias[None, :, None, :], axis=2, dtype=np.int32)
                out[s:s + _CHUNK, :, :, i] = above / positions
            out[s:s + _CHUNK, :, :, -2] = r.mean(axis=2)
            out[s:s + _CHUNK, :, :, -1] = r.max(axis=2)

        map_parts(pool, range(0, len(V), _CHUNK))
        return out


def _fit_score(a: np.ndarray, ytr: np.ndarray, b: np.ndarray, yte: np.ndarray) -> tuple[np.ndarray, float]:
    a, b = a.astype(np.float64), b.astype(np.float64)
    m, s = a.mean(0), a.std(0)
    s = np.where(s > 0, s, 1.0)
    pred = ridge_classifier((a - m) / s, ytr).predict(np.clip((b - m) / s, -1e3, 1e3))
    return (pred == yte).astype(np.int8), balanced_accuracy(pred, yte)


def _cap(X: np.ndarray, y: np.ndarray, limit: int, rng) -> tuple[np.ndarray, np.ndarray]:
    if len(y) <= limit:
        return X, y
    keep = np.sort(rng.choice(len(y), limit, replace=False))
    return X[keep], y[keep]


def local_baselines(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
                    receptive_field: int, *, seed: int = 0, max_samples: int = _MAX_SAMPLES,
                    first_samples: int = _FIRST_SAMPLES, settled=None) -> LocalBaselines:
    """Score the pooled random-kernel baseline at every span of :func:`span_ladder`.

    ``X_*`` are (n, C, L) with time last; at most ``max_samples`` of each split are used (seeded random
    subsets). The receptive field is in input samples. Facts run it with BLAS on the probes' fixed thread
    count (``probes.threads.using_threads``): one count sums in one order, so the same seed gives the same
    scores on any machine load. The pooling runs its chunks of series on that many threads (``measure.parallel``).

    With ``settled`` (a predicate on the result, e.g. :meth:`LocalBaselines.settled`), the ladder is first
    scored on a seeded ``first_samples`` of those samples per split; that result is returned when ``settled``
    says a larger sample would not change the verdict, and the ladder is scored again on all of them otherwise
    (or when the smaller sample lacks a class the larger one has).
    """
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    X_train, y_train = _cap(X_train, y_train, max_samples, rng)
    X_test, y_test = _cap(X_test, y_test, max_samples, rng)
    if settled is not None and min(len(y_train), len(y_test)) > first_samples:
        a_tr, b_tr = _cap(X_train, y_train, first_samples, rng)
        a_te, b_te = _cap(X_test, y_test, first_samples, rng)
        same = (np.array_equal(np.unique(b_tr), np.unique(y_train))
                and np.array_equal(np.unique(b_te), np.unique(y_test)))
        if same:
            first = _ladder(a_tr, b_tr, a_te, b_te, receptive_field, seed, start)
            if settled(first):
                return first
    return _ladder(X_train, y_train, X_test, y_test, receptive_field, seed, start)


def _ladder(X_train, y_train, X_test, y_test, receptive_field: int, seed: int, start: float) -> LocalBaselines:
    n, C, L = X_train.shape
    mean = X_train.mean(axis=(0, 2), keepdims=True)
    std = X_train.std(axis=(0, 2), keepdims=True)
    std = np.where(std > 0, std, 1.0)
    width = max(1, -(-L // _MAX_STEPS))
    tr = bin_means((X_train - mean) / std, width).astype(np.float32)
    te = bin_means((X_test - mean) / std, width).astype(np.float32)
    steps = tr.shape[2]
    spans = span_ladder(receptive_field, L)
    shares = [_shares(_blocks(-(-span // width), steps), _KERNELS) for span in spans]
    most: dict = {}  # per block, the most kernels any span takes from it
    for share in shares:
        for blk, count in share.items():
            most[blk] = max(most.get(blk, 0), count)
    feats = _Features(tr, te, seed)
    computed = {blk: feats.block(*blk, count) for blk, count in most.items()}
    ladder = []
    for span, share in zip(spans, shares):
        a = np.concatenate([computed[blk][0][:, :, :k].reshape(len(tr), -1) for blk, k in share.items()], axis=1)
        b = np.concatenate([computed[blk][1][:, :, :k].reshape(len(te), -1) for blk, k in share.items()], axis=1)
        correct, balanced = _fit_score(a, y_train, b, y_test)
        ladder.append(SpanScore(int(span), float(correct.mean()), balanced, tuple(int(c) for c in correct),
                                int(a.shape[1])))
    classes, counts = np.unique(y_test, return_counts=True)
    per_class = dict(zip(classes.tolist(), counts.tolist()))
    weights = tuple(len(y_test) / (len(classes) * per_class[int(c)]) for c in y_test)
    return LocalBaselines(int(receptive_field), int(L), int(width), tuple(ladder), weights, len(classes),
                          len(y_train), len(y_test), time.perf_counter() - start)
