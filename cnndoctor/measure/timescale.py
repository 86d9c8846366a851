"""The time scale of a signal, from its autocorrelation.

For each sampled series and channel the mean is removed and the autocorrelation is computed
with an FFT (linear in the length); the unbiased estimates are averaged over series and
channels. Two numbers come out of the mean autocorrelation function (ACF):

- the **decorrelation lag**: the first lag at which the ACF falls below 1/2 — samples closer
  than this are more alike than not, so a window shorter than it sees little more than a
  level and a slope;
- the **dominant period**: the first peak of the ACF after its first zero crossing, when it
  rises to at least ``min_period_strength`` (that share of the variance repeats at that lag)
  and lies within half the series length (so at least two cycles are in every series).

The time scale of the signal is the dominant period when there is one (a model must see one
cycle to see its shape), otherwise four decorrelation lags — for a sinusoid the ACF falls to
1/2 at a sixth of the period and crosses zero at a quarter of it, so four lags of 1/2
correlation is two thirds of a cycle: the span of one rise and fall.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TimeScale", "estimate_time_scale", "mean_autocorrelation"]

_MAX_SERIES = 256
_CHUNK_VALUES = 2_000_000
_MAX_SERIES_CHANNELS = 4096  # series × channels averaged at most


@dataclass(frozen=True)
class TimeScale:
    scale: int  # samples: the dominant period, or 4 decorrelation lags
    kind: str  # "period" or "decorrelation"
    period: int | None
    period_strength: float | None
    decorrelation_lag: int | None
    length: int
    n_series: int  # series actually used (sampled when there are more)
    n_total: int
    channels: int
    acf: tuple = ()  # the mean autocorrelation at lags 0, 1, 2, … (unbiased)

    def change_over(self, span: int) -> float | None:
        """How far the signal moves inside a window of ``span`` samples, in standard deviations.

        For a stationary signal two samples ``k`` steps apart differ by
        ``sqrt(E[(x(t+k) − x(t))²]) = σ·sqrt(2(1 − ACF(k)))``; the largest such difference over the
        lags a window holds (1 … span − 1) is how much it can see the signal change — a window
        spanning a whole cycle of a periodic signal sees it all, though its ends agree. None
        beyond half the series length, where too few pairs of samples remain for the ACF to be
        trusted (and a window that long sees a lot anyway).
        """
        lag = span - 1
        if lag > len(self.acf) // 2 or lag < 0:
            return None
        lowest = min(self.acf[1:lag + 1]) if lag >= 1 else 1.0
        return float(np.sqrt(max(0.0, 2.0 * (1.0 - lowest))))

    def to_dict(self) -> dict:
        return {"scale": self.scale, "kind": self.kind, "period": self.period,
                "period_strength": self.period_strength, "decorrelation_lag": self.decorrelation_lag,
                "length": self.length, "n_series": self.n_series, "n_total": self.n_total,
                "channels": self.channels}


def _as_ncl(X: np.ndarray, channel_axis: int | None) -> np.ndarray:
    if X.ndim == 2:
        return X[:, None, :]
    return X if channel_axis in (1, None) else np.swapaxes(X, 1, 2)


def mean_autocorrelation(X: np.ndarray, channel_axis: int | None, *, max_series: int = _MAX_SERIES):
    """(unbiased mean ACF over lags 0..L-1, series used) of ``X`` (N, L), (N, C, L) or (N, L, C)."""
    X = _as_ncl(X, channel_axis)
    n, channels, length = X.shape
    wanted = min(n, max_series, max(16, _MAX_SERIES_CHANNELS // channels))  # enough curves to average
    idx = np.unique(np.linspace(0, n - 1, wanted).round().astype(int)) if n else np.arange(0)
    total = np.zeros(length)
    used = 0
    fft_n = 1 << int(np.ceil(np.log2(max(2 * length - 1, 2))))
    step = max(1, _CHUNK_VALUES // (X.shape[1] * fft_n))  # bounded memory: a few tens of MB per chunk
    for start in range(0, len(idx), step):
        chunk = X[idx[start:start + step]].astype(np.float64)  # (n, C, L)
        finite = np.isfinite(chunk)
        chunk = np.where(finite, chunk, 0.0)
        counts = np.maximum(finite.sum(-1, keepdims=True), 1)
        chunk = np.where(finite, chunk - chunk.sum(-1, keepdims=True) / counts, 0.0)
        spec = np.fft.rfft(chunk, n=fft_n, axis=-1)
        acf = np.fft.irfft(spec * np.conj(spec), n=fft_n, axis=-1)[..., :length]
        var = acf[..., :1]
        ok = var[..., 0] > 1e-12 * max(float(var.max()), 1e-300)
        if not ok.any():
            continue
        acf = acf[ok] / var[ok]
        total += acf.sum(axis=0)
        used += int(ok.sum())
    if not used:
        return None, 0
    acf = total / used
    acf = acf * length / (length - np.arange(length))  # unbiased: each lag averaged over L - lag pairs
    return acf, len(idx)


def estimate_time_scale(X: np.ndarray, channel_axis: int | None, *, min_period_strength: float = 0.3,
                        max_series: int = _MAX_SERIES) -> TimeScale | None:
    """The signal's time scale in samples (see the module docstring); None for constant data."""
    acf, n_used = mean_autocorrelation(X, channel_axis, max_series=max_series)
    if acf is None:
        return None
    length = len(acf)
    half = length // 2
    below = np.flatnonzero(acf[1:] < 0.5)
    decorrelation = int(below[0] + 1) if len(below) else None
    period = strength = None
    crossing = np.flatnonzero(acf[1:half + 1] < 0)
    if len(crossing):
        z = int(crossing[0] + 1)
        for lag in range(z + 1, half):
            if acf[lag] >= acf[lag - 1] and acf[lag] >= acf[lag + 1] and acf[lag] >= min_period_strength:
                period, strength = lag, float(acf[lag])
                break
    if period is not None:
        scale, kind = period, "period"
    else:
        lag = decorrelation if decorrelation is not None else length
        scale, kind = min(4 * lag, length), "decorrelation"
    channels = 1 if X.ndim == 2 else X.shape[1 if channel_axis in (1, None) else 2]
    return TimeScale(int(scale), kind, period, strength, decorrelation, int(length), int(n_used), len(X),
                     int(channels), tuple(float(a) for a in acf))
