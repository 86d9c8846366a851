"""Evaluating a model without changing it: loss, accuracy and outputs on fixed slices, train vs eval mode.

Every function here restores what it touches — buffers (BatchNorm running statistics), the
train/eval mode and the random-number state — so the probes can measure a model in the
middle of a run without disturbing the run.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

import numpy as np

from .data import ProbeData, first_output
from .record import dropout_off, preserved_state

__all__ = ["EvalResult", "ModeGap", "evaluate", "measure_initial_loss", "recalibrated_eval", "measure_mode_gap",
           "eval_indices", "scalar_loss", "rounded", "batchnorm_layers", "eval_chunks"]


def scalar_loss(loss):
    """A scalar from a loss, averaging a loss computed with ``reduction='none'``."""
    return loss.mean() if getattr(loss, "ndim", 0) else loss


def rounded(value):
    """Floats to 5 significant digits; NaN and infinities (not JSON) become None."""
    if isinstance(value, float):
        return float(f"{value:.5g}") if math.isfinite(value) else None
    return value


def eval_indices(n: int, k: int, seed: int) -> np.ndarray:
    """All of ``n`` samples when ``n <= k``, else a seeded sorted sample of ``k``."""
    import torch

    if n <= k:
        return np.arange(n)
    gen = torch.Generator().manual_seed(0)  # ``idx`` is already a seeded sample: a fixed order of it suffices
    return np.sort(torch.randperm(n, generator=gen)[:k].numpy())


@dataclass
class EvalResult:
    loss: float | None
    accuracy: float | None
    predictions: np.ndarray
    outputs: np.ndarray | None = None
    nonfinite_inputs: int = 0  # samples whose input holds NaN/Inf


def eval_chunks(idx: np.ndarray, size: int) -> list[np.ndarray]:
    """Consecutive chunks of ``size``; a last chunk of one sample joins the previous one (BatchNorm needs two)."""
    parts = [idx[i:i + size] for i in range(0, len(idx), max(1, size))]
    if len(parts) > 1 and len(parts[-1]) == 1 and size > 1:
        parts[-2] = np.concatenate(parts[-2:])
        parts.pop()
    return parts


def evaluate(model, data: ProbeData, split: str, idx: np.ndarray, *, train_mode: bool = False,
             chunk: int = 64, zero: bool = False, keep_outputs: bool = False, dropout: bool = True,
             batch_norm_stats: bool = False) -> EvalResult:
    """Loss and accuracy of ``model`` on ``idx`` without changing it (buffers, mode and RNG restored).

    ``train_mode`` evaluates with BatchNorm on batch statistics, in chunks of ``chunk`` samples
    — what the model sees during training — and with dropout on unless ``dropout=False``.
    ``batch_norm_stats`` keeps eval mode for everything but torch BatchNorm layers, which use the
    chunk's own statistics (every dropout, functional or inside other modules, stays off).
    """
    import torch

    total, weight, preds, outs, bad = 0.0, 0, [], [], 0
    cuda = str(data.device).startswith("cuda")
    with preserved_state(model), torch.no_grad(), torch.random.fork_rng(devices=None if cuda else []), \
            (dropout_off(model) if train_mode and not dropout else contextlib.nullcontext()):
        model.train(train_mode)
        if batch_norm_stats and not train_mode:
            for _, m in batchnorm_layers(model):
                m.train()
        for part in eval_chunks(idx, chunk):
            xb = data.inputs(split, part, zero=zero)
            bad += int((~torch.isfinite(xb)).reshape(len(part), -1).any(1).sum())
            out = first_output(model(xb))
            loss = float(scalar_loss(data.loss_fn(out, data.targets(split, part, like=out))))
            total += loss * len(part)
            weight += len(part)
            preds.append(data.predict(out))
            if keep_outputs:
                outs.append(out.detach().float().reshape(len(part), -1).cpu().numpy())
    predictions = np.concatenate(preds) if preds else np.zeros(0, dtype=np.int64)
    accuracy = float((predictions == data.labels(split, idx)).mean()) if len(predictions) else None
    loss = total / weight if weight else None
    return EvalResult(loss if loss is None or math.isfinite(loss) else float("nan"), accuracy, predictions,
                      np.concatenate(outs) if outs else None, bad)


def measure_initial_loss(model, data: ProbeData, idx: np.ndarray, batch_size: int) -> float | None:
    """Loss of a fresh model in train mode (as the first training steps see it), nothing changed."""
    return evaluate(model, data, "train", idx, train_mode=True, chunk=max(2, batch_size)).loss


@dataclass
class ModeGap:
    """The same final weights on the same training samples, in train mode and in eval mode.

    Train mode here means BatchNorm on the statistics of batches of the user's batch size,
    with dropout off (dropout's train/eval difference is by design). ``recalibrated_*`` is eval
    mode after re-estimating the running statistics with the final weights. ``discrepancy`` is
    the RMS difference between train-mode and recalibrated eval-mode outputs divided by the RMS
    spread of the eval-mode outputs across samples: how different the two functions are,
    compared with what tells samples apart. Batch-statistics noise makes it shrink like
    1/sqrt(batch size) (about 0.1 at 32, 0.35 at 8, 0.7 at 4, 1 at 1). ``lag_discrepancy`` is the
    same with the running statistics as they are (a lag behind moving weights adds to it).
    """

    train_mode_loss: float | None
    train_mode_accuracy: float | None
    eval_mode_loss: float | None
    eval_mode_accuracy: float | None
    recalibrated_loss: float | None
    recalibrated_accuracy: float | None
    discrepancy: float | None
    lag_discrepancy: float | None
    batch_size: int
    layers: list[str]  # the BatchNorm layers
    momentum: list = field(default_factory=list)
    batches: int = 0  # whole batches compared (re-estimated statistics need several to mean anything)

    def to_dict(self) -> dict:
        return {k: rounded(v) for k, v in self.__dict__.items()}


def recalibrated_eval(model, data: ProbeData, idx: np.ndarray, batch_size: int, *, zero: bool = False,
                      keep_outputs: bool = False) -> EvalResult:
    """Eval-mode result after re-estimating BatchNorm statistics on ``idx`` (model left unchanged)."""
    import torch

    norms = [m for _, m in batchnorm_layers(model)]
    # dropout off: the statistics are those of the features eval mode will see
    with preserved_state(model), dropout_off(model):
        momenta = [m.momentum for m in norms]
        try:
            model.train()
            for m in norms:
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the pass
            with torch.no_grad():
                for part in eval_chunks(idx, batch_size):
                    model(data.inputs("train", part, zero=zero))
            return evaluate(model, data, "train", idx, zero=zero, keep_outputs=keep_outputs)
        finally:
            for m, mom in zip(norms, momenta):
                m.momentum = mom


def batchnorm_layers(model) -> list:
    """``(name, module)`` of every torch BatchNorm layer that keeps running statistics."""
    from torch.nn.modules.batchnorm import _BatchNorm

    return [(name, m) for name, m in model.named_modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


def _discrepancy(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    if a is None or b is None or a.shape != b.shape or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return None
    spread = float(np.sqrt(np.mean((b - b.mean(axis=0)) ** 2)))
    if spread <= 1e-12:
        return None
    return float(np.sqrt(np.mean((a - b) ** 2)) / spread)


def measure_mode_gap(model, data: ProbeData, idx: np.ndarray, batch_size: int, *, zero: bool = False) -> ModeGap | None:
    """Train mode vs eval mode (as is, and recalibrated) for the model's BatchNorm layers; None without any.

    Only whole batches of ``batch_size`` are compared (the remainder of the slice is left out), so
    a small leftover batch does not pass for the batch size.
    """
    import torch

    norms = batchnorm_layers(model)
    if not norms:
        return None
    # Batches drawn as training draws them — shuffled: consecutive chunks of a class- or
    # recording-ordered file would each hold one class, a gap that shuffled training never has.
    gen = torch.Generator().manual_seed(0)  # ``idx`` is already a seeded sample: a fixed order of it suffices
    idx = np.asarray(idx)[torch.randperm(len(idx), generator=gen).numpy()]
    if len(idx) >= batch_size:
        idx = idx[:len(idx) // batch_size * batch_size]
    tm = evaluate(model, data, "train", idx, train_mode=True, chunk=batch_size, zero=zero, keep_outputs=True,
                  dropout=False)
    ev = evaluate(model, data, "train", idx, zero=zero, keep_outputs=True)
    rc = recalibrated_eval(model, data, idx, batch_size, zero=zero, keep_outputs=True)
    return ModeGap(tm.loss, tm.accuracy, ev.loss, ev.accuracy, rc.loss, rc.accuracy,
                   _discrepancy(tm.outputs, rc.outputs), _discrepancy(tm.outputs, ev.outputs), batch_size,
                   [f"{name} ({type(m).__name__})" for name, m in norms],
                   sorted({m.momentum for _, m in norms}, key=str), len(idx) // batch_size)
