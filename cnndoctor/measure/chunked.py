"""The data statistics as one-pass, mergeable reductions over chunks of rows.

Each chunk of rows gives a ``ChunkSummary``; two summaries of adjacent row ranges merge into the summary of
both (``merge``), so the chunks can be summarised anywhere (one process, Dask workers) and combined in a tree.
A summary holds, per channel, the count of finite values, their mean and sum of squared deviations (merged
with Chan, Golub and LeVeque's parallel update, so no sum of squares loses precision), min and max; the NaN
and ±Inf counts and the first rows holding them; the rows whose every channel is constant; per-row 64-bit
hashes of the whole row's bytes (exact duplicates across splits are found by joining the sorted hashes and
verified on the rows); the class histogram and the distinct group ids.

The per-channel statistics are kept for both candidate channel axes of a 3-D array, so that the data's own
time axis (D301) can be served later without a second pass. ``array_stats`` turns a summary into the
``measure.stats.ArrayStats`` the in-memory path computes: the same numbers to float rounding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .stats import ArrayStats

__all__ = ["ChannelMoments", "ChunkSummary", "summarize_chunk", "merge", "merge_all", "array_stats",
           "exact_cross_matches", "verified_exact_matches", "row_hashes"]

_BAD_ROWS = 20  # rows holding NaN/Inf kept as examples (ArrayStats.samples_with_nonfinite keeps as many)
_CONSTANT_EXAMPLES = 10
_HASH_BLOCK = 256  # values hashed at a time per row: bounds the uint64 temporaries to 8 x 256 bytes per row


@dataclass
class ChannelMoments:
    """Per-channel count, mean, sum of squared deviations (M2), min and max of the finite values."""

    count: np.ndarray
    mean: np.ndarray
    m2: np.ndarray
    min: np.ndarray
    max: np.ndarray

    @classmethod
    def of(cls, view: np.ndarray) -> ChannelMoments:
        """Moments of a (n, C, L) view, per channel (axis 1)."""
        finite = np.isfinite(view)
        every = bool(finite.all())
        vals = view.astype(np.float64) if every else np.where(finite, view, 0.0).astype(np.float64)
        count = finite.sum(axis=(0, 2)).astype(np.float64)
        safe = np.maximum(count, 1)
        mean = vals.sum(axis=(0, 2)) / safe
        dev = vals - mean[None, :, None]
        if not every:
            dev = np.where(finite, dev, 0.0)
        m2 = np.square(dev).sum(axis=(0, 2))
        lo = (view if every else np.where(finite, view, np.inf)).min(axis=(0, 2)).astype(np.float64)
        hi = (view if every else np.where(finite, view, -np.inf)).max(axis=(0, 2)).astype(np.float64)
        if view.shape[0] == 0:
            lo, hi = np.full(view.shape[1], np.inf), np.full(view.shape[1], -np.inf)
        return cls(count, mean, m2, lo, hi)

    def merged(self, other: ChannelMoments) -> ChannelMoments:
        n = self.count + other.count
        safe = np.maximum(n, 1)
        delta = other.mean - self.mean
        mean = self.mean + delta * other.count / safe
        m2 = self.m2 + other.m2 + delta * delta * self.count * other.count / safe
        return ChannelMoments(n, mean, m2, np.minimum(self.min, other.min), np.maximum(self.max, other.max))


@dataclass
class ChunkSummary:
    """The mergeable statistics of rows ``start``..``stop`` of one split."""

    start: int
    stop: int
    shape: tuple  # shape of one row
    moments: dict  # channel axis (None for (N, L); 1 and 2 for 3-D arrays) -> ChannelMoments
    n_nan: int
    n_posinf: int
    n_neginf: int
    bad_rows: np.ndarray  # the first rows (global indices) holding NaN/Inf
    n_constant_rows: int  # finite rows whose every channel is constant over time
    constant_rows: np.ndarray  # the first of them
    hashes: np.ndarray  # (stop - start,) uint64 per-row hashes of the row's bytes
    usable: np.ndarray  # (stop - start,) bool: finite and not constant (the rows duplicates are looked for in)
    labels: dict = field(default_factory=dict)  # class id -> count
    groups: np.ndarray | None = None  # distinct group ids, sorted

    @property
    def n_rows(self) -> int:
        return self.stop - self.start


def _mult(n: int) -> np.ndarray:
    rng = np.random.default_rng(0x5EED)
    return rng.integers(1, 2**63, size=n, dtype=np.uint64) | np.uint64(1)


def row_hashes(rows: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row's float32 bytes (identical rows hash alike; candidates are verified)."""
    flat = np.ascontiguousarray(rows, dtype=np.float32).reshape(len(rows), -1).view(np.uint32)
    mult = _mult(flat.shape[1])
    key = np.zeros(len(flat), dtype=np.uint64)
    for s in range(0, flat.shape[1], _HASH_BLOCK):
        block = flat[:, s:s + _HASH_BLOCK].astype(np.uint64)
        block *= mult[None, s:s + _HASH_BLOCK]
        key += block.sum(axis=1, dtype=np.uint64)  # uint64 arithmetic wraps: a hash, not a number
    key ^= key >> np.uint64(31)
    return key * np.uint64(0xBF58476D1CE4E5B9)


def _views(chunk: np.ndarray) -> dict:
    if chunk.ndim == 2:
        return {None: chunk[:, None, :]}
    return {1: chunk, 2: np.swapaxes(chunk, 1, 2)}


def summarize_chunk(chunk: np.ndarray, start: int, *, labels: np.ndarray | None = None,
                    groups: np.ndarray | None = None, channel_axis: int | None = None,
                    preprocess=None) -> ChunkSummary:
    """The summary of ``chunk`` (rows ``start``.. of a split, float32); ``labels`` are class ids of those rows;
    ``channel_axis`` (1 or 2; None for (N, L)) says which axis is time for the constant-row test; ``preprocess``
    (the user's) is applied to the chunk first."""
    if preprocess is not None:
        chunk = np.asarray(preprocess(chunk.copy()), dtype=np.float32)
    chunk = np.asarray(chunk, dtype=np.float32)
    n = len(chunk)
    moments = {axis: ChannelMoments.of(view) for axis, view in _views(chunk).items()}
    flat = chunk.reshape(n, -1)
    finite_rows = np.isfinite(flat).all(axis=1)
    nan = pinf = ninf = 0
    bad = np.empty(0, np.int64)
    if not finite_rows.all():
        nan, pinf, ninf = int(np.isnan(flat).sum()), int(np.isposinf(flat).sum()), int(np.isneginf(flat).sum())
        bad = np.flatnonzero(~finite_rows)[:_BAD_ROWS] + start
    # every channel constant over time: the in-memory fingerprints' test (std 0 in every channel of the row)
    series = _views(chunk)[None if chunk.ndim == 2 else (channel_axis or 1)]
    constant = finite_rows & (series == series[:, :, :1]).all(axis=(1, 2))
    ids = None
    if labels is not None:
        values, counts = np.unique(np.asarray(labels), return_counts=True)
        ids = {v.item(): int(c) for v, c in zip(values, counts)}
    return ChunkSummary(start, start + n, tuple(chunk.shape[1:]), moments, nan, pinf, ninf, bad.astype(np.int64),
                        int(constant.sum()), (np.flatnonzero(constant)[:_CONSTANT_EXAMPLES] + start).astype(np.int64),
                        row_hashes(chunk), finite_rows & ~constant, ids or {},
                        None if groups is None else np.unique(np.asarray(groups)))


def merge(a: ChunkSummary, b: ChunkSummary) -> ChunkSummary:
    """The summary of two adjacent row ranges (in either order)."""
    if b.start < a.start:
        a, b = b, a
    labels = dict(a.labels)
    for k, c in b.labels.items():
        labels[k] = labels.get(k, 0) + c
    groups = None
    if a.groups is not None or b.groups is not None:
        groups = np.union1d(a.groups if a.groups is not None else [], b.groups if b.groups is not None else [])
    return ChunkSummary(
        a.start, b.stop, a.shape, {k: a.moments[k].merged(b.moments[k]) for k in a.moments},
        a.n_nan + b.n_nan, a.n_posinf + b.n_posinf, a.n_neginf + b.n_neginf,
        np.concatenate([a.bad_rows, b.bad_rows])[:_BAD_ROWS], a.n_constant_rows + b.n_constant_rows,
        np.concatenate([a.constant_rows, b.constant_rows])[:_CONSTANT_EXAMPLES],
        np.concatenate([a.hashes, b.hashes]), np.concatenate([a.usable, b.usable]), labels, groups)


def merge_all(summaries: list) -> ChunkSummary:
    """Merge summaries of the chunks of one split, pairwise in a tree (the order of the rows kept)."""
    parts = sorted(summaries, key=lambda s: s.start)
    while len(parts) > 1:
        parts = [merge(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i] for i in range(0, len(parts), 2)]
    return parts[0]


def array_stats(summary: ChunkSummary, channel_axis: int | None) -> ArrayStats:
    """The ``ArrayStats`` of the whole split, per channel along ``channel_axis`` (None for (N, L))."""
    m = summary.moments[None if len(summary.shape) == 1 else channel_axis]
    count = m.count.copy()
    empty = count == 0
    var = m.m2 / np.maximum(count, 1)
    mean, lo, hi = m.mean.copy(), m.min.copy(), m.max.copy()
    for a in (mean, var, lo, hi):
        a[empty] = np.nan
    return ArrayStats((summary.n_rows, *summary.shape), channel_axis, count, mean, np.sqrt(var), lo, hi,
                      summary.n_nan, summary.n_posinf, summary.n_neginf, summary.bad_rows[:_BAD_ROWS])


def exact_cross_matches(train: ChunkSummary, test: ChunkSummary) -> tuple[np.ndarray, np.ndarray]:
    """(test rows, train rows) whose hashes are equal, one candidate training row per usable test row.

    Candidates only: the caller verifies them on the rows (``RowSource.take``) bit for bit.
    """
    order = np.argsort(train.hashes, kind="stable")
    keys = train.hashes[order]
    test_rows = np.flatnonzero(test.usable)
    at = np.minimum(np.searchsorted(keys, test.hashes[test_rows]), max(len(keys) - 1, 0))
    if not len(keys):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    hit = keys[at] == test.hashes[test_rows]
    return test_rows[hit].astype(np.int64), order[at[hit]].astype(np.int64)


_VERIFY_BATCH = 4096  # candidate pairs read and compared at a time


def _take(source, rows: np.ndarray, preprocess) -> np.ndarray:
    uniq, back = np.unique(rows, return_inverse=True)  # ascending reads; every source supports them
    got = source.take(uniq)
    if preprocess is not None:
        got = np.asarray(preprocess(got.copy()), dtype=np.float32)
    return got[back]


def verified_exact_matches(train: ChunkSummary, test: ChunkSummary, train_source, test_source, *,
                           preprocess=None) -> tuple[np.ndarray, np.ndarray]:
    """(test rows, train rows) of usable test rows with a bit-identical training row: the hash join
    (``exact_cross_matches``) verified on the rows themselves, read a batch of pairs at a time."""
    ti, tj = exact_cross_matches(train, test)
    keep = np.zeros(len(ti), dtype=bool)
    for s in range(0, len(ti), _VERIFY_BATCH):
        a = _take(test_source, ti[s:s + _VERIFY_BATCH], preprocess).reshape(len(ti[s:s + _VERIFY_BATCH]), -1)
        b = _take(train_source, tj[s:s + _VERIFY_BATCH], preprocess).reshape(len(a), -1)
        keep[s:s + _VERIFY_BATCH] = (a.view(np.uint32) == b.view(np.uint32)).all(axis=1)
    return ti[keep], tj[keep]
