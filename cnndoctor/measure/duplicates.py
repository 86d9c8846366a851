"""Cross-split duplicates: exact copies by hashing, near copies by locality-sensitive hashing.

No pair of samples is compared unless hashing made it a candidate:

1. **exact** — the 64-bit key of each test sample (``RowFingerprints.exact``) is looked up in the
   sorted training keys; every hit is verified by comparing the whole samples bit for bit;
2. **near** — the z-normalised projections are cut into grid cells (several tables with random
   offsets); a test sample meets only the training samples of its cells. The closest candidates
   (estimated from the projections) are verified on the real data: the root-mean-square
   difference of the two samples after z-normalising each channel (``distance``; 0 for a copy
   that was shifted or re-scaled, about 0.01 for a copy with 1% noise, about 1.4 for unrelated
   series).

A near match counts as a duplicate when it is closer than ``max_distance`` AND at most
``max_ratio`` times the distance from that training sample to its own nearest other training
sample: a copy is far closer to its source than samples of the data set are to each other, while
a data set of many look-alike series (appliance signatures in standby) has close pairs everywhere.
Matches closer than ``IDENTICAL`` are copies up to offset and gain and always count.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .fingerprints import RowFingerprints, channels_first

__all__ = ["IDENTICAL", "MAX_DISTANCE", "MAX_RATIO", "DuplicateScan", "find_cross_duplicates", "z_distance"]

IDENTICAL = 1e-3  # float rounding of a re-scaled copy stays far below this
MAX_DISTANCE = 0.1  # correlation >= 0.995 after z-normalisation
MAX_RATIO = 0.2  # a copy is at least five times closer to its source than the source to its own neighbour
_TABLES = 8
_CELL = 2.0  # grid cell width in projection units (unrelated series differ by about 1.4 per coordinate)
_PER_CELL = 8  # training samples looked at per test sample and table (the nearest along one coordinate)
_VERIFY = 4  # closest candidates verified per test sample
_RATIO_SAMPLE = 256  # matched training samples whose own nearest neighbour is measured
_PAIR_CHUNK = 2048


@dataclass
class DuplicateScan:
    """Result of the duplicate search between a training and a test split."""

    n_test: int
    n_train: int
    exact: np.ndarray  # (n_test,) bool: a bit-identical training sample exists
    near: np.ndarray  # (n_test,) bool: a near-identical training sample exists (not exact)
    match: np.ndarray  # (n_test,) int64: index of the matched training sample, -1 if none
    distance: np.ndarray  # (n_test,) float64: z-normalised RMS distance to ``match`` (NaN if none)
    ratio: np.ndarray  # (n_test,) float64: distance / the match's nearest-other-training distance
    excluded: int  # test samples left out: constant or holding non-finite values
    ratio_sampled: int  # matched training samples whose own neighbour distance was measured
    ratio_candidates: int  # matched training samples that needed it
    extrapolated: int = 0  # near copies estimated among matches whose source was not measured (big data)
    notes: list[str] = field(default_factory=list)
    # the share of copies whose label equals their source's, when measured with labels other than the sample's
    # (data beyond the memory budget: indices are rows of the whole splits)
    same_label: float | None = None

    @property
    def duplicate(self) -> np.ndarray:
        """Test samples with a verified copy in the training split."""
        return self.exact | self.near

    @property
    def count(self) -> int:
        """Verified copies plus the estimate for unmeasured matches."""
        return int(self.duplicate.sum()) + self.extrapolated


def z_distance(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """RMS difference of paired samples (m, C, L) after z-normalising each channel of each sample."""
    A = A.astype(np.float64)
    B = B.astype(np.float64)

    def z(V):
        m = V.mean(axis=2, keepdims=True)
        s = V.std(axis=2, keepdims=True)
        return np.where(s > 0, (V - m) / np.where(s > 0, s, 1.0), 0.0)

    return np.sqrt(np.mean((z(A) - z(B)) ** 2, axis=(1, 2)))


def _cells(proj: np.ndarray, seed: int) -> np.ndarray:
    """(tables, n) int64 cell keys of each projection, one random grid offset per table."""
    rng = np.random.default_rng(seed + 7)
    offsets = rng.uniform(0, _CELL, size=(_TABLES, proj.shape[1]))
    mult = rng.integers(1, 2**62, size=proj.shape[1], dtype=np.int64) | 1
    safe = np.nan_to_num(proj, nan=0.0)
    keys = np.empty((_TABLES, len(proj)), dtype=np.int64)
    for t in range(_TABLES):
        q = np.floor((safe + offsets[t]) / _CELL).astype(np.int64)
        keys[t] = (q * mult).sum(axis=1)  # int64 overflow wraps: a hash, not a number
    return keys


def _join(train_keys: np.ndarray, test_keys: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (test index, train index) sharing a key, at most ``cap`` train samples per test sample."""
    order = np.argsort(train_keys, kind="stable")
    sorted_keys = train_keys[order]
    lo = np.searchsorted(sorted_keys, test_keys, side="left")
    hi = np.searchsorted(sorted_keys, test_keys, side="right")
    counts = np.minimum(hi - lo, cap)
    test_idx = np.repeat(np.arange(len(test_keys)), counts)
    first = np.repeat(lo, counts)
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return test_idx, order[first + within]


def _join_nearby(train_keys, train_coord, test_keys, test_coord, width: int):
    """Pairs sharing a cell key, at most ``2 * width`` training samples per test sample: those nearest
    to it along one projection coordinate, so a crowded cell still yields the closest candidates."""
    if not len(train_keys):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    uniq, cell = np.unique(train_keys, return_inverse=True)
    def squash(c):
        return 0.5 + np.arctan(np.nan_to_num(c.astype(np.float64))) / np.pi
    comp_train = cell + squash(train_coord) * 0.999
    order = np.argsort(comp_train, kind="stable")
    comp_sorted = comp_train[order]
    rank = np.minimum(np.searchsorted(uniq, test_keys), len(uniq) - 1)
    present = uniq[rank] == test_keys
    test_idx = np.flatnonzero(present)
    rank = rank[present]
    lo = np.searchsorted(comp_sorted, rank)
    hi = np.searchsorted(comp_sorted, rank + 1)
    at = np.searchsorted(comp_sorted, rank + squash(test_coord[present]) * 0.999)
    start = np.clip(at - width, lo, hi)
    stop = np.clip(at + width, lo, hi)
    counts = stop - start
    ti = np.repeat(test_idx, counts)
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return ti, order[np.repeat(start, counts) + within]


def _pairs_equal(Xa: np.ndarray, ia: np.ndarray, Xb: np.ndarray, ib: np.ndarray) -> np.ndarray:
    out = np.empty(len(ia), dtype=bool)
    for s in range(0, len(ia), _PAIR_CHUNK):
        a = Xa[ia[s:s + _PAIR_CHUNK]].reshape(len(ia[s:s + _PAIR_CHUNK]), -1)
        b = Xb[ib[s:s + _PAIR_CHUNK]].reshape(len(a), -1)
        out[s:s + _PAIR_CHUNK] = (a.view(np.uint32) == b.view(np.uint32)).all(axis=1)
    return out


def _pair_distances(Va: np.ndarray, ia: np.ndarray, Vb: np.ndarray, ib: np.ndarray) -> np.ndarray:
    out = np.empty(len(ia))
    for s in range(0, len(ia), _PAIR_CHUNK):
        out[s:s + _PAIR_CHUNK] = z_distance(Va[ia[s:s + _PAIR_CHUNK]], Vb[ib[s:s + _PAIR_CHUNK]])
    return out


def _best_per_test(test_idx, train_idx, estimate, keep: int):
    """The ``keep`` candidates with the smallest estimate for each test sample."""
    order = np.lexsort((estimate, test_idx))
    t, j, e = test_idx[order], train_idx[order], estimate[order]
    uniq = np.ones(len(t), dtype=bool)
    uniq[1:] = (t[1:] != t[:-1]) | (j[1:] != j[:-1])
    t, j, e = t[uniq], j[uniq], e[uniq]
    start = np.searchsorted(t, t, side="left")
    rank = np.arange(len(t)) - start
    sel = rank < keep
    return t[sel], j[sel], e[sel]


def _exact_matches(fp_train, fp_test, X_train, X_test):
    test_idx, train_idx = _join(fp_train.exact, fp_test.exact, cap=8)
    ok = fp_test.usable[test_idx]  # flat samples match each other trivially: they are D104's
    test_idx, train_idx = test_idx[ok], train_idx[ok]
    equal = _pairs_equal(X_test, test_idx, X_train, train_idx)
    exact = np.zeros(fp_test.n, dtype=bool)
    match = np.full(fp_test.n, -1, dtype=np.int64)
    exact[test_idx[equal]] = True
    match[test_idx[equal]] = train_idx[equal]
    return exact, match


def _own_neighbour(fp_train: RowFingerprints, V_train: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Distance from each training sample in ``rows`` to its nearest other (usable) training sample.

    Brute force on the projections (len(rows) x n_train x 16 numbers), then the closest few
    candidates verified on the data; linear in the size of the training split.
    """
    P = np.nan_to_num(fp_train.proj.astype(np.float32), nan=1e6)
    P[~fp_train.usable] = 1e6
    norms = (P * P).sum(1)
    k = min(_VERIFY, len(P) - 1)
    if k <= 0:
        return np.full(len(rows), np.inf)
    cand = np.empty((len(rows), k), dtype=np.int64)
    step = max(1, 2**22 // len(P))  # about 16 MB of distances at a time
    for s in range(0, len(rows), step):
        part = rows[s:s + step]
        q = P[part]
        d2 = (q * q).sum(1)[:, None] + norms[None, :] - 2.0 * (q @ P.T)
        d2[np.arange(len(part)), part] = np.inf
        cand[s:s + step] = np.argpartition(d2, k - 1, axis=1)[:, :k]
    dist = _pair_distances(V_train, np.repeat(rows, k), V_train, cand.ravel()).reshape(len(rows), k)
    return dist.min(axis=1)


def find_cross_duplicates(fp_train: RowFingerprints, fp_test: RowFingerprints, X_train: np.ndarray,
                          X_test: np.ndarray, channel_axis: int | None, *, max_distance: float = MAX_DISTANCE,
                          max_ratio: float = MAX_RATIO, seed: int = 0) -> DuplicateScan:
    """Find test samples that are exact or near copies of training samples (see the module doc)."""
    V_train, V_test = channels_first(X_train, channel_axis), channels_first(X_test, channel_axis)
    exact, match = _exact_matches(fp_train, fp_test, X_train, X_test)
    distance = np.full(fp_test.n, np.nan)
    distance[exact] = 0.0
    near = np.zeros(fp_test.n, dtype=bool)
    ratio = np.full(fp_test.n, np.nan)
    usable_test = fp_test.usable & ~exact
    train_rows = np.flatnonzero(fp_train.usable)
    P_train, P_test = fp_train.proj[train_rows], fp_test.proj
    train_cells, test_cells = _cells(P_train, seed), _cells(P_test, seed)
    cutoff = 2.0 * max_distance + 0.05  # the projected estimate is within ~30% of the true distance
    pairs_t, pairs_j, pairs_e = [], [], []
    for t in range(_TABLES):
        coord = t % P_train.shape[1]
        ti, tj = _join_nearby(train_cells[t], P_train[:, coord], test_cells[t], P_test[:, coord], _PER_CELL // 2)
        keep = usable_test[ti]
        ti, tj = ti[keep], tj[keep]
        estimate = np.sqrt(np.mean((P_test[ti] - P_train[tj]) ** 2, axis=1))
        close = estimate <= cutoff
        pairs_t.append(ti[close])
        pairs_j.append(train_rows[tj[close]])
        pairs_e.append(estimate[close])
    ti, tj, estimate = np.concatenate(pairs_t), np.concatenate(pairs_j), np.concatenate(pairs_e)
    notes = []
    ratio_sampled = ratio_candidates = extrapolated = 0
    if len(ti):
        ti, tj, estimate = _best_per_test(ti, tj, estimate, _VERIFY)
        d = _pair_distances(V_test, ti, V_train, tj)
        order = np.lexsort((d, ti))
        ti, tj, d = ti[order], tj[order], d[order]
        first = np.ones(len(ti), dtype=bool)
        first[1:] = ti[1:] != ti[:-1]
        ti, tj, d = ti[first], tj[first], d[first]
        close = d <= max_distance
        ti, tj, d = ti[close], tj[close], d[close]
        distance[ti] = d
        match[ti] = tj
        identical = d <= IDENTICAL
        near[ti[identical]] = True
        ratio[ti[identical]] = 0.0
        rest_t, rest_j, rest_d = ti[~identical], tj[~identical], d[~identical]
        if len(rest_t):
            sources = np.unique(rest_j)
            ratio_candidates = len(sources)
            if len(sources) > _RATIO_SAMPLE:
                sources = np.sort(np.random.default_rng(seed).choice(sources, _RATIO_SAMPLE, replace=False))
                notes.append(f"the nearest-neighbour distance of {_RATIO_SAMPLE} of {ratio_candidates} matched "
                             "training samples was measured; the near-duplicate count is extrapolated from them")
            ratio_sampled = len(sources)
            own = _own_neighbour(fp_train, V_train, sources)
            at = np.minimum(np.searchsorted(sources, rest_j), len(sources) - 1)
            measured = sources[at] == rest_j
            with np.errstate(divide="ignore", invalid="ignore"):
                r = np.where(own[at] > 0, rest_d / own[at], np.inf)
            ratio[rest_t] = np.where(measured, r, np.nan)
            passed = measured & (r <= max_ratio)
            near[rest_t[passed]] = True
            if not measured.all():  # the same share of the unmeasured matches, counted but not flagged
                share = float(passed[measured].mean()) if measured.any() else 0.0
                extrapolated = round(share * int((~measured).sum()))
    excluded = int((~fp_test.finite | fp_test.constant).sum())
    return DuplicateScan(fp_test.n, fp_train.n, exact, near & ~exact, match, distance, ratio, excluded,
                         ratio_sampled, ratio_candidates, extrapolated, notes)
