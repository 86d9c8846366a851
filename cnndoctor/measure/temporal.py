"""Temporal structure: which axis is time, whether a tensor's time axis was scrambled, whether order matters.

All three rest on one statistic, the **continuity** of an axis: the pooled lag-k autocorrelation
along it, after standardising each index of the other axis (each channel) over the samples,
so channels in different units do not fake structure. Neighbouring steps of a sampled signal
are alike (continuity near 1 for a smooth signal, about 0.5 for 10 Hz motion sensors), while
neighbouring channels or randomly ordered features are not (near 0). Samples are subsampled
(``max_samples``): the statistic is an average, and a few hundred series pin it down.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..trace.hooks import Hooks
from .parallel import map_parts

__all__ = [
    "ConvInput",
    "axis_continuity",
    "capture_conv_input",
    "continuity",
    "order_structure",
    "sample_rows",
    "scramble_continuity",
]

LAGS = (1, 2, 3, 4)


def sample_rows(X: np.ndarray, max_samples: int, seed: int = 0) -> np.ndarray:
    """Up to ``max_samples`` rows of ``X`` (a seeded random subset, in order), as float64."""
    if len(X) > max_samples:
        idx = np.sort(np.random.default_rng(seed).choice(len(X), max_samples, replace=False))
        X = X[idx]
    return np.asarray(X, dtype=np.float64)


def _standardised(V: np.ndarray) -> np.ndarray:
    """Each channel standardised over samples and time, each series centred; NaN/Inf set to the mean."""
    V = np.where(np.isfinite(V), V, np.nan)
    with np.errstate(all="ignore"):
        m = np.nanmean(V, axis=(0, 2), keepdims=True)
        s = np.nanstd(V, axis=(0, 2), keepdims=True)
    Z = np.nan_to_num((V - m) / np.where(s > 0, s, np.inf))
    return Z - Z.mean(axis=2, keepdims=True)


def _lag_correlation(Z: np.ndarray, lag: int) -> float:
    den = float(np.einsum("ncl,ncl->", Z, Z))
    if den <= 0 or Z.shape[2] <= lag:
        return float("nan")
    return float(np.einsum("ncl,ncl->", Z[..., lag:], Z[..., :-lag]) / den)


def continuity(V: np.ndarray, lag: int = 1) -> float:
    """Pooled lag-``lag`` autocorrelation along the last axis of ``V`` (n, C, L).

    Each channel is standardised over samples and time first; each series is centred on its own
    mean. NaN/Inf values are set to the channel mean. NaN when the axis is shorter than ``lag + 1``.
    """
    if V.shape[2] <= lag or V.shape[0] == 0:
        return float("nan")
    return _lag_correlation(_standardised(V), lag)


def axis_continuity(X: np.ndarray, time_axis: int, *, max_samples: int = 512, seed: int = 0) -> float:
    """Continuity along ``time_axis`` (1 or 2) of ``X`` (N, A, B) or (N, L), other axis as channels."""
    V = sample_rows(X, max_samples, seed)
    if V.ndim == 2:
        V = V[:, None, :]
    elif time_axis == 1:
        V = np.swapaxes(V, 1, 2)
    return continuity(V)


@dataclass(frozen=True)
class ConvInput:
    """The tensor that reached the first 1-D convolution (or temporal Conv2d over an (n, 1, C, L) view), as
    numpy (n, C, L)."""

    array: np.ndarray
    layer: str  # qualified module name
    layer_type: str


def _time_is_last(module, height: int) -> bool:
    """Whether a Conv2d on a one-plane (n, 1, H, W) input runs along W in time: a (1, k) kernel does, and so
    does a (H, 1) kernel that spans all H rows unpadded (a spatial filter over the sensors, time left on W);
    a shorter (k, 1) kernel slides along H, so H is time (the (n, 1, L, C) view)."""
    kh, kw = module.kernel_size
    padding = module.padding
    unpadded = padding == "valid" or (isinstance(padding, tuple) and padding[0] == 0)
    return kh == 1 or (kw == 1 and kh == height and unpadded)


def capture_conv_input(model, batch, *, max_samples: int = 64) -> ConvInput | None:
    """Run ``model(batch)`` once (eval mode, no grad) and keep the input of the first Conv1d-like layer.

    A forward pre-hook on every module whose weight is three-dimensional (Conv1d and its kin)
    records the first call; the hooks are removed and ``model.training`` restored in ``finally``.
    A Conv2d with a ``(1, k)`` kernel on a one-plane input ``(n, 1, C, L)`` — the braindecode way,
    ``x.unsqueeze(1)`` then a temporal convolution — counts too: its kernel runs along the last
    axis, so that plane is read as (n, C, L); so does a spatial ``(C, 1)`` kernel spanning the rows,
    while a shorter ``(k, 1)`` kernel runs along the rows of an ``(n, 1, L, C)`` view, read transposed.
    Returns None when no such layer runs; exceptions of the user's forward propagate.
    """
    import torch

    names = {m: n for n, m in model.named_modules()}
    seen: dict = {}

    def hook(module, args):
        if "x" in seen or not args or not hasattr(args[0], "shape"):
            return
        x = args[0]
        if module.weight.dim() == 4 and x.dim() == 4 and x.shape[1] == 1:
            x = x[:, 0] if _time_is_last(module, x.shape[2]) else x[:, 0].transpose(1, 2)  # the plane as (C, L)
        if x.dim() != 3:
            return
        seen["x"] = x.detach()[:max_samples].float().cpu().numpy()
        seen["module"] = module

    with Hooks(model) as hooks:
        for module in model.modules():
            weight = getattr(module, "weight", None)
            temporal_2d = (isinstance(weight, torch.Tensor) and weight.dim() == 4
                           and (weight.shape[2] == 1) != (weight.shape[3] == 1))  # a kernel long along one axis
            if isinstance(weight, torch.Tensor) and (weight.dim() == 3 or temporal_2d):
                hooks.add(module.register_forward_pre_hook(hook))
        model.eval()
        with torch.no_grad():
            model(batch)
    if "x" not in seen:
        return None
    module = seen["module"]
    return ConvInput(seen["x"], names.get(module, type(module).__name__) or "(model)", type(module).__name__)


def scramble_continuity(T: np.ndarray) -> tuple[float, float]:
    """(continuity as fed, continuity after undoing a reshape) of a conv input ``T`` (n, C, L).

    The classic bug is ``x.view(N, C, L)`` on (N, L, C) memory: each "channel" row then holds
    consecutive (time, channel) pairs, so time steps and channels interleave. Undoing it —
    reading the same memory as (N, L, C) and moving the channels first — restores continuity
    when that is what happened, and destroys it when the tensor was fine.
    """
    n, C, L = T.shape
    fed = continuity(T)
    undone = continuity(np.ascontiguousarray(T).reshape(n, L, C).transpose(0, 2, 1))
    return fed, undone


def order_structure(V: np.ndarray, *, n_perm: int = 8, seed: int = 0) -> dict:
    """Continuity at lags 1-4 of ``V`` (n, C, L) in its own order and under random orders.

    For each lag the ordered value is compared with the mean over ``n_perm`` random permutations
    of the time axis (one permutation for all samples): a real time axis stands far above them,
    features in arbitrary order do not. ``excess`` is the largest absolute difference over lags.
    """
    L = V.shape[2]
    lags = [k for k in LAGS if k < L]
    Z = _standardised(V)  # centring and scaling do not depend on the order, so one pass serves every permutation
    ordered = np.array([_lag_correlation(Z, k) for k in lags])
    rng = np.random.default_rng(seed)
    perms = [rng.permutation(L) for _ in range(n_perm)]  # drawn in order, then measured on parallel.workers()

    def shuffled_lags(perm):
        Zp = np.ascontiguousarray(Z[:, :, perm])
        return [_lag_correlation(Zp, k) for k in lags]

    shuffled = np.array(map_parts(shuffled_lags, perms))
    mean = shuffled.mean(axis=0)
    spread = shuffled.std(axis=0)
    excess = np.abs(ordered - mean)
    return {"lags": lags, "ordered": ordered.tolist(), "shuffled_mean": mean.tolist(),
            "shuffled_std": spread.tolist(), "excess": float(np.nanmax(excess)) if len(excess) else 0.0}
