"""Per-sample fingerprints in one chunked pass: per-channel mean and spread, an exact key, and a
random projection of the z-normalised sample.

Duplicate search must not compare samples pairwise. Each sample gets

- ``exact``: a 64-bit key mixed from the raw bits of 64 fixed positions; identical samples
  share it (candidates are verified exactly afterwards, so collisions cost nothing but time);
- ``proj``: ``k`` coordinates of a random projection of the sample after z-normalising each
  channel, scaled so that ``||proj_a - proj_b|| / sqrt(k)`` estimates the root-mean-square
  difference of the two z-normalised samples (Johnson-Lindenstrauss). Offsets and gains per
  channel do not change it, so re-scaled copies land on the same point and noisy copies nearby.

The pass reads each chunk once for a matrix product (projection and row sums together) and
once for the sums of squares. When the data rides on an offset that is large against its
spread (ADC counts around 2048 ± 5), each chunk is first shifted by a per-channel offset, so
the float32 products keep their precision. A channel whose estimated variance is at rounding
level is checked exactly (all values equal to the first), so constant means exactly constant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["N_PROJ", "RowFingerprints", "channels_first", "row_fingerprints"]

N_PROJ = 16
_CHUNK_BYTES = 32 * 2**20
_N_KEY_POSITIONS = 64


@dataclass(frozen=True)
class RowFingerprints:
    """Fingerprints of the samples of one split; arrays have one row per sample."""

    n_channels: int
    length: int
    mean: np.ndarray  # (n, C) float64, per sample and channel
    std: np.ndarray  # (n, C) float64; exactly 0 for a channel that is constant within the sample
    proj: np.ndarray  # (n, N_PROJ) float32; NaN for samples with non-finite values
    exact: np.ndarray  # (n,) uint64
    finite: np.ndarray  # (n,) bool

    @property
    def n(self) -> int:
        return len(self.exact)

    @property
    def constant(self) -> np.ndarray:
        """Samples whose every channel is constant over time."""
        return self.finite & (self.std.max(axis=1) == 0)

    @property
    def usable(self) -> np.ndarray:
        """Samples that can be compared after z-normalisation: finite and not constant."""
        return self.finite & (self.std.max(axis=1) > 0)


def channels_first(X: np.ndarray, channel_axis: int | None) -> np.ndarray:
    """A (N, C, L) view of ``X`` stored as (N, L), (N, C, L) or (N, L, C)."""
    if X.ndim == 2:
        return X[:, None, :]
    return X if channel_axis in (1, None) else np.swapaxes(X, 1, 2)


def _projection(length: int, n_channels: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    R = rng.standard_normal((length, N_PROJ)).astype(np.float32)
    # one matrix shared by all channels, with a random sign per channel and coordinate, keeps the
    # squared distance estimate unbiased without a matrix per channel
    signs = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(n_channels, N_PROJ))
    return R, signs


def _key_positions(row_size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    count = min(_N_KEY_POSITIONS, row_size)
    return np.sort(rng.choice(row_size, size=count, replace=False))


def exact_keys(rows: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """64-bit keys of ``rows`` (n, D) float32 from the raw bits at ``positions``."""
    bits = np.ascontiguousarray(rows[:, positions]).view(np.uint32).astype(np.uint64)
    mult = (np.arange(1, len(positions) + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)) | np.uint64(1)
    key = (bits * mult[None, :]).sum(axis=1, dtype=np.uint64)
    key ^= key >> np.uint64(29)
    return key * np.uint64(0xBF58476D1CE4E5B9)


def _offset(view: np.ndarray) -> np.ndarray | None:
    """A per-channel shift when the offset is large against the spread, else None."""
    head = np.asarray(view[: min(len(view), 256)], dtype=np.float64)
    finite = np.where(np.isfinite(head), head, np.nan)
    with np.errstate(all="ignore"):
        centre = np.nanmean(finite, axis=(0, 2))
        spread = np.nanstd(finite, axis=(0, 2))
    centre = np.nan_to_num(centre)
    spread = np.nan_to_num(spread)
    if np.all(np.abs(centre) <= 10 * np.maximum(spread, 1e-30)):
        return None
    return centre.astype(np.float32)


def row_fingerprints(X: np.ndarray, channel_axis: int | None, *, seed: int = 0) -> RowFingerprints:
    """Fingerprints of every sample of ``X`` in one chunked pass (memory: one chunk plus the results)."""
    view = channels_first(X, channel_axis)
    n, C, L = view.shape
    R, signs = _projection(L, C, seed)
    R1 = np.hstack([R, np.ones((L, 1), dtype=np.float32)])  # the last column gives the row sums
    R_sum = R.sum(axis=0, dtype=np.float64)
    positions = _key_positions(C * L, seed)
    shift = _offset(view)
    mean = np.empty((n, C))
    std = np.empty((n, C))
    proj = np.empty((n, N_PROJ), dtype=np.float32)
    exact = np.empty(n, dtype=np.uint64)
    finite = np.empty(n, dtype=bool)
    step = max(1, _CHUNK_BYTES // max(1, C * L * 4))
    scale = 1.0 / np.sqrt(C * L)
    for start in range(0, n, step):
        stop = min(n, start + step)
        rows = stop - start
        exact[start:stop] = exact_keys(X[start:stop].reshape(rows, -1), positions)
        chunk = np.ascontiguousarray(view[start:stop], dtype=np.float32)
        if shift is not None:
            chunk = chunk - shift[None, :, None]
        s2 = np.einsum("ncl,ncl->nc", chunk, chunk).astype(np.float64)
        prod = (chunk.reshape(-1, L) @ R1).reshape(rows, C, N_PROJ + 1).astype(np.float64)
        m = prod[:, :, -1] / L
        var = np.maximum(s2 / L - m * m, 0.0)
        ok = np.isfinite(s2).all(axis=1) & np.isfinite(m).all(axis=1)
        tiny = ok[:, None] & (var <= 1e-6 * (m * m) + 1e-30)
        if tiny.any():  # rounding level: decide exactly whether the channel is constant
            r, c = np.nonzero(tiny)
            flat = chunk[r, c]
            const = (flat == flat[:, :1]).all(axis=1)
            var[r[const], c[const]] = 0.0
        sd = np.sqrt(var)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (prod[:, :, :-1] - m[:, :, None] * R_sum[None, None, :]) / np.where(sd > 0, sd, np.inf)[:, :, None]
        z = (z * signs[None]).sum(axis=1) * scale
        z[~ok] = np.nan
        proj[start:stop] = z
        mean[start:stop] = m + (shift[None, :] if shift is not None else 0.0)
        std[start:stop] = sd
        finite[start:stop] = ok
    return RowFingerprints(C, L, mean, std, proj, exact, finite)
