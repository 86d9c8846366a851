"""The amplitude of each recording (group of windows): the median over its windows of each window's spread,
per channel, taken relative to the typical spread of the window's class so that classes that differ in
loudness (running next to standing) do not read as recordings at different scales."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RecordingAmplitudes", "recording_amplitudes"]


@dataclass(frozen=True)
class RecordingAmplitudes:
    groups: list  # "train:<id>" / "test:<id>": one entry per recording, in the order of ``amplitude``
    amplitude: np.ndarray  # (n_groups, C): median per-window std, relative to the window's class
    raw_amplitude: np.ndarray  # (n_groups, C): the same without the class reference, in the units of the input
    windows: np.ndarray  # windows per recording
    class_relative: bool  # False when the labels are not classes (then amplitude == raw_amplitude)

    def spread(self, channel: int) -> tuple[np.ndarray, float, float, float] | None:
        """(recordings with a live channel, lower decile, upper decile, their ratio) of one channel's amplitudes;
        None with fewer than two live recordings. The deciles are order statistics: with ten recordings or fewer
        they are the smallest and the largest, with more one outlying recording on either side does not decide."""
        live = np.flatnonzero(self.amplitude[:, channel] > 0)
        if len(live) < 2:
            return None
        values = self.amplitude[live, channel]
        lo = float(np.percentile(values, 10, method="lower"))
        hi = float(np.percentile(values, 90, method="higher"))
        return live, lo, hi, hi / lo


def _window_std(X: np.ndarray, channel_axis: int | None) -> np.ndarray:
    """(n, C) spread of every window and channel over its time axis."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 2:
        return np.nanstd(X, axis=1)[:, None]
    return np.nanstd(X, axis=2 if channel_axis in (1, None) else 1)


def recording_amplitudes(splits: dict, channel_axis: int | None, *, class_relative: bool = True
                         ) -> RecordingAmplitudes:
    """``splits`` maps a split name to (X, groups, class ids or None); every recording gets one row."""
    stds, keys, ids = [], [], []
    for split, (X, groups, y) in splits.items():
        stds.append(_window_std(X, channel_axis))
        keys.append(np.array([f"{split}:{g}" for g in np.asarray(groups).ravel()]))
        ids.append(np.zeros(len(X), dtype=np.int64) if y is None else np.asarray(y))
    std, key, cls = np.concatenate(stds), np.concatenate(keys), np.concatenate(ids)
    relative = std.copy()
    if class_relative:
        for c in np.unique(cls):
            typical = np.median(std[cls == c], axis=0)
            relative[cls == c] = std[cls == c] / np.where(typical > 0, typical, 1.0)
    names, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(counts)[:-1]
    amp = np.stack([np.median(part, axis=0) for part in np.split(relative[order], bounds)])
    raw = np.stack([np.median(part, axis=0) for part in np.split(std[order], bounds)])
    return RecordingAmplitudes(names.tolist(), amp, raw, counts, class_relative)
