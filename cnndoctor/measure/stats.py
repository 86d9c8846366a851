"""Streaming array statistics: one chunked pass, float64 accumulators, NaN/Inf counted apart.

``np.std`` over a large array allocates a temporary as big as the array; summing squares
over chunks of samples keeps memory flat and stays a single pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ArrayStats", "array_stats"]

_CHUNK_BYTES = 32 * 2**20


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


def _moveaxes(chunk: np.ndarray, channel_axis: int | None) -> np.ndarray:
    """A (n, C, L) view of a chunk of samples."""
    if channel_axis is None:
        return chunk[:, None, :]
    return chunk if channel_axis == 1 else np.swapaxes(chunk, 1, 2)


def array_stats(X: np.ndarray, channel_axis: int | None) -> ArrayStats:
    """Statistics of ``X`` (N, L) or (N, ·, ·) per channel, ``channel_axis`` 1 or 2 (None for 2-D)."""
    n = len(X)
    per_sample = max(1, X[0].nbytes if n else 1)
    step = max(1, _CHUNK_BYTES // per_sample)
    C = 1 if X.ndim == 2 else X.shape[channel_axis]
    s1 = np.zeros(C)
    cnt = np.zeros(C)
    lo = np.full(C, np.inf)
    hi = np.full(C, -np.inf)
    nan = pinf = ninf = 0
    bad_samples: list[int] = []
    shift = None  # subtracting a first estimate of the mean keeps the sum of squares accurate
    s2 = np.zeros(C)
    for start in range(0, n, step):
        chunk = _moveaxes(X[start:start + step], channel_axis)
        finite = np.isfinite(chunk)
        if finite.all():
            vals = chunk
            cnt += chunk.shape[0] * chunk.shape[2]
        else:
            nan += int(np.isnan(chunk).sum())
            pinf += int(np.isposinf(chunk).sum())
            ninf += int(np.isneginf(chunk).sum())
            rows = np.flatnonzero(~finite.all(axis=(1, 2)))
            bad_samples.extend((rows[: 20 - len(bad_samples)] + start).tolist())
            vals = np.where(finite, chunk, 0.0)
            cnt += finite.sum(axis=(0, 2))
        if shift is None:
            c = np.maximum(finite.sum(axis=(0, 2)), 1)
            shift = vals.sum(axis=(0, 2), dtype=np.float64) / c
        centred = vals - shift[None, :, None].astype(vals.dtype)
        if not finite.all():
            centred = np.where(finite, centred, 0.0)
        s1 += centred.sum(axis=(0, 2), dtype=np.float64)
        s2 += np.square(centred, dtype=np.float64).sum(axis=(0, 2))
        if finite.all():
            lo = np.minimum(lo, chunk.min(axis=(0, 2)))
            hi = np.maximum(hi, chunk.max(axis=(0, 2)))
        else:
            lo = np.minimum(lo, np.where(finite, chunk, np.inf).min(axis=(0, 2)))
            hi = np.maximum(hi, np.where(finite, chunk, -np.inf).max(axis=(0, 2)))
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
