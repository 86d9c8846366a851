"""How the stored arrays can be fed to a model: the layouts tried, in order, and what each one means.

A feed ``transform`` is "as stored", "channel axis added" (``(N, L)`` → ``(N, 1, L)``),
"channel axis added last" (→ ``(N, L, 1)``) or "transposed" (``(N, a, b)`` → ``(N, b, a)``).
The ``feed`` fact (``facts/model.py``) tries the candidates with one small forward pass each;
the facts that look at the arrays as fed apply the transform it chose.
"""

from __future__ import annotations

import numpy as np

__all__ = ["apply_transform", "fed_time_axis", "feed_candidates"]


def feed_candidates(X: np.ndarray, declared: str) -> list[tuple[str, np.ndarray]]:
    """The (transform, array) pairs to try, the likeliest first (``declared`` is the --layout)."""
    if X.ndim == 2:
        first = [("channel axis added", X[:, None, :]), ("channel axis added last", X[:, :, None])]
        if declared == "nlc":
            first.reverse()
        return first + [("as stored", X)]
    return [("as stored", X), ("transposed", np.swapaxes(X, 1, 2))]


def apply_transform(X: np.ndarray | None, transform: str) -> np.ndarray | None:
    """``X`` laid out as the model is fed it, given the feed's ``transform`` (a view, never a copy)."""
    if X is None:
        return None
    if transform == "channel axis added":
        return X[:, None, :]
    if transform == "channel axis added last":
        return X[:, :, None]
    if transform == "transposed":
        return np.swapaxes(X, 1, 2)
    return X


def fed_time_axis(transform: str, ndim_stored: int, channel_axis: int | None) -> int | None:
    """The time axis of the arrays as fed, from how they were fed and the stored layout."""
    if ndim_stored == 2:
        return {"channel axis added": 2, "channel axis added last": 1}.get(transform)
    if channel_axis not in (1, 2):
        return None
    return 3 - channel_axis if transform == "as stored" else channel_axis
