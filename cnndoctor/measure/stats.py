"""Streaming array statistics: one chunked pass, float64 accumulators, NaN/Inf counted apart.

``np.std`` over a large array allocates a temporary as big as the array; summing squares
over chunks of samples keeps memory flat and stays a single pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .parallel import MAX_WORKERS, map_parts

__all__ = ["ArrayStats", "array_stats"]

# per chunk: up to MAX_WORKERS chunks and their float64 temporaries are in flight at once, together no more than one
# 32 MiB chunk (the size when they ran one at a time); the same chunks on any thread count, so the same sums
_CHUNK_BYTES = 32 * 2**20 // MAX_WORKERS


@dataclass(frozen=True)
class ArrayStats:
    """Per-channel statistics of finite values of an array of samples."""

    shape: tuple
    channel_axis: int | None  # axis of the channels in the stored array; None for (N, L)
    count: np.ndarray  # finite values per channel
    mean: np.ndarray
    std: np.ndarray
    min: np.ndarray
    max: np.ndarray
    n_nan: int
    n_posinf: int
    n_neginf: int
    samples_with_nonfinite: np.ndarray  # indices (at most 20) of samples holding NaN/Inf

    @property
    def n_channels(self) -> int:
        return int(len(self.mean))

    @property
    def n_nonfinite(self) -> int:
        return self.n_nan + self.n_posinf + self.n_neginf

    @property
    def overall_mean(self) -> float:
        total = self.count.sum()
        return float((self.mean * self.count).sum() / total) if total else float("nan")

    @property
    def overall_std(self) -> float:
        total = self.count.sum()
        if not total:
            return float("nan")
        m = self.overall_mean
        second = ((self.std ** 2 + self.mean ** 2) * self.count).sum() / total
        return float(np.sqrt(max(second - m * m, 0.0)))

    @property
    def overall_min(self) -> float:
        return float(np.nanmin(self.min)) if self.count.sum() else float("nan")

    @property
    def overall_max(self) -> float:
        return float(np.nanmax(self.max)) if self.count.sum() else float("nan")


def _chunk_sums(chunk: np.ndarray, shift: np.ndarray, start: int) -> dict:
    """One chunk's share of :func:`array_stats`: counts, sums about ``shift``, extremes, non-finite values."""
    finite = np.isfinite(chunk)
    out = {"nan": 0, "pinf": 0, "ninf": 0, "bad": []}
    if finite.all():
        vals = chunk
        out["cnt"] = chunk.shape[0] * chunk.shape[2]
        out["lo"], out["hi"] = chunk.min(axis=(0, 2)), chunk.max(axis=(0, 2))
    else:
        out["nan"] = int(np.isnan(chunk).sum())
        out["pinf"] = int(np.isposinf(chunk).sum())
        out["ninf"] = int(np.isneginf(chunk).sum())
        rows = np.flatnonzero(~finite.all(axis=(1, 2)))
        out["bad"] = (rows[:20] + start).tolist()
        vals = np.where(finite, chunk, 0.0)
        out["cnt"] = finite.sum(axis=(0, 2))
        out["lo"] = np.where(finite, chunk, np.inf).min(axis=(0, 2))
        out["hi"] = np.where(finite, chunk, -np.inf).max(axis=(0, 2))
    centred = vals - shift[None, :, None].astype(vals.dtype)
    if not finite.all():
        centred = np.where(finite, centred, 0.0)
    out["s1"] = centred.sum(axis=(0, 2), dtype=np.float64)
    out["s2"] = np.square(centred, dtype=np.float64).sum(axis=(0, 2))
    return out


def _moveaxes(chunk: np.ndarray, channel_axis: int | None) -> np.ndarray:
    """A (n, C, L) view of a chunk of samples."""
    if channel_axis is None:
        return chunk[:, None, :]
    return chunk if channel_axis == 1 else np.swapaxes(chunk, 1, 2)


def array_stats(X: np.ndarray, channel_axis: int | None) -> ArrayStats:
    """Statistics of ``X`` (N, L) or (N, ·, ·) per channel, ``channel_axis`` 1 or 2 (None for 2-D).

    One pass in chunks of ``_CHUNK_BYTES``: each chunk's sums (about the first chunk's mean, which keeps the sum of
    squares accurate), extremes and non-finite counts are computed on ``parallel.workers()`` threads and added
    up in chunk order, so the numbers do not depend on the thread count."""
    n = len(X)
    per_sample = max(1, X[0].nbytes if n else 1)
    step = max(1, _CHUNK_BYTES // per_sample)
    C = 1 if X.ndim == 2 else X.shape[channel_axis]
    shift = None  # subtracting a first estimate of the mean keeps the sum of squares accurate
    if n:
        first = _moveaxes(X[:step], channel_axis)
        finite = np.isfinite(first)
        vals = first if finite.all() else np.where(finite, first, 0.0)
        shift = vals.sum(axis=(0, 2), dtype=np.float64) / np.maximum(finite.sum(axis=(0, 2)), 1)
    parts = map_parts(lambda start: _chunk_sums(_moveaxes(X[start:start + step], channel_axis), shift, start),
                      range(0, n, step))
    s1, s2, cnt = np.zeros(C), np.zeros(C), np.zeros(C)
    lo, hi = np.full(C, np.inf), np.full(C, -np.inf)
    nan = pinf = ninf = 0
    bad_samples: list[int] = []
    for part in parts:
        cnt += part["cnt"]
        s1 += part["s1"]
        s2 += part["s2"]
        lo, hi = np.minimum(lo, part["lo"]), np.maximum(hi, part["hi"])
        nan, pinf, ninf = nan + part["nan"], pinf + part["pinf"], ninf + part["ninf"]
        bad_samples.extend(part["bad"][: 20 - len(bad_samples)])
    safe = np.maximum(cnt, 1)
    d = s1 / safe
    mean = (shift if shift is not None else np.zeros(C)) + d
    var = np.maximum(s2 / safe - d * d, 0.0)
    empty = cnt == 0
    mean[empty] = np.nan
    var[empty] = np.nan
    lo[empty] = np.nan
    hi[empty] = np.nan
    return ArrayStats(tuple(X.shape), channel_axis, cnt, mean, np.sqrt(var), lo, hi, nan, pinf, ninf,
                      np.asarray(bad_samples, dtype=np.int64))
