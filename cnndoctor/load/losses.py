"""What kind of loss the user gave: a loss module, class or function named to its kind.

The kind decides how the probes shape targets (``probes/data.py``) and which head the checks
expect (the ``loss`` fact in ``facts/model.py``): cross_entropy, nll, bce_logits, bce,
regression, or custom for a loss not in the table.
"""

from __future__ import annotations

import functools
import inspect

__all__ = ["loss_kind"]

_KINDS = {
    "crossentropyloss": "cross_entropy", "cross_entropy": "cross_entropy",
    "nllloss": "nll", "nll_loss": "nll",
    "bcewithlogitsloss": "bce_logits", "binary_cross_entropy_with_logits": "bce_logits",
    "bceloss": "bce", "binary_cross_entropy": "bce",
    "mseloss": "regression", "mse_loss": "regression", "l1loss": "regression", "l1_loss": "regression",
    "smoothl1loss": "regression", "smooth_l1_loss": "regression", "huberloss": "regression",
    "huber_loss": "regression",
}


def loss_kind(fn) -> tuple[str, str]:
    """(display name, kind) of a loss module, class or function (a ``functools.partial`` is unwrapped)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    target = fn if inspect.isfunction(fn) or inspect.isbuiltin(fn) or inspect.isclass(fn) else type(fn)
    name = getattr(target, "__name__", type(fn).__name__)
    return name, _KINDS.get(name.lower(), "custom")
