"""Measuring the user's trained weights as they are: nothing is trained, only forward passes in batches.

What a checkpoint stuck at 10% usually shows: predictions collapsed onto one class, ReLU units that
never fire on the real data, BatchNorm running statistics that do not describe the data flowing into
each BatchNorm layer (stats from other preprocessing, reset or never updated), and a model that
computes another function in train mode than in eval mode. Everything runs on a copy of the model,
in eval mode unless said otherwise, under ``torch.no_grad``; hooks come off and the mode and buffers
go back in ``finally`` (``record.preserved_state``, ``trace.hooks.Hooks``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..trace.hooks import Hooks
from .data import ProbeData
from .eval import ModeGap, batchnorm_layers, eval_chunks, evaluate, measure_mode_gap, rounded
from .record import UnitActivity, UnitRecorder, preserved_state

__all__ = ["SplitPredictions", "BatchNormFit", "TrainedEval", "measure_trained", "FRESH_WEIGHTS"]

# The evidence ``weights`` of a probe finding in a run that also evaluated trained weights.
FRESH_WEIGHTS = "fresh (seeded initialisation, training probe)"


@dataclass
class SplitPredictions:
    """What the trained model predicts on one split's slice, in eval mode."""

    split: str  # "train" or "test"
    n: int
    predicted_counts: dict
    true_counts: dict
    accuracy: float | None
    balanced_accuracy: float | None  # mean per-class recall over the classes present
    loss: float | None
    nonfinite_outputs: int = 0  # samples whose outputs hold NaN/Inf

    @property
    def top(self) -> tuple[int | None, int]:
        """The most-predicted class and how many samples it got."""
        if not self.predicted_counts:
            return None, 0
        return max(self.predicted_counts.items(), key=lambda kv: kv[1])

    @property
    def top_share(self) -> float | None:
        return self.top[1] / self.n if self.n else None

    def true_share(self, cls) -> float:
        return self.true_counts.get(cls, 0) / max(1, sum(self.true_counts.values()))

    def to_dict(self) -> dict:
        return {"split": self.split, "samples": self.n,
                "predicted_counts": {str(k): v for k, v in self.predicted_counts.items()},
                "true_counts": {str(k): v for k, v in self.true_counts.items()},
                "accuracy": rounded(self.accuracy), "balanced_accuracy": rounded(self.balanced_accuracy),
                "loss": rounded(self.loss), "nonfinite_outputs": self.nonfinite_outputs}


@dataclass
class BatchNormFit:
    """How well one BatchNorm layer's running statistics describe the data flowing into it (eval mode).

    ``mean_shift`` is the RMS over channels of (data mean - running mean) / running std: 0 when the
    running mean is the data's, 1 when it is off by one running standard deviation. ``scale_ratio``
    is exp of the RMS over channels of |ln(data std / running std)|: 1 when the spreads agree, 2 when
    they are off by a factor 2 either way. The worst channel of each is kept for the message.
    """

    layer: str
    channels: int
    mean_shift: float
    scale_ratio: float
    worst_channel: int
    worst_shift: float
    samples: int

    def to_dict(self) -> dict:
        return {k: rounded(float(v)) if isinstance(v, float) else v for k, v in self.__dict__.items()}


@dataclass
class TrainedEval:
    """The trained weights measured on the data: predictions per split, units, BatchNorm fit, mode gap."""

    label: str  # "trained (ckpt.pt)": the evidence ``weights`` of every finding about them
    source: str  # "ckpt.pt", "the model instance": how a message names them
    train: SplitPredictions
    test: SplitPredictions | None
    units: UnitActivity | None  # ReLU channels that never fire on the training slice (eval mode)
    batchnorm: list[BatchNormFit] = field(default_factory=list)  # in forward order
    mode_gap: ModeGap | None = None  # train mode (batch statistics) vs eval mode (their running statistics)
    batch_size: int = 0

    @property
    def judged(self) -> SplitPredictions:
        """The split a collapse is judged on: the test split when there is one."""
        return self.test if self.test is not None else self.train

    def summary(self) -> dict:
        """Compact evidence: which weights, how many samples of each split."""
        return {"weights": self.label, "train_samples": self.train.n,
                "test_samples": self.test.n if self.test is not None else 0, "batch_size": self.batch_size}


def _predictions(model, data: ProbeData, split: str, idx: np.ndarray, chunk: int) -> SplitPredictions:
    result = evaluate(model, data, split, idx, chunk=chunk, keep_outputs=True)
    labels = data.labels(split, idx)
    predicted = np.asarray(result.predictions)
    bad = int((~np.isfinite(result.outputs)).any(axis=1).sum()) if result.outputs is not None else 0
    balanced = None
    if len(predicted) == len(labels) and len(labels):
        balanced = float(np.mean([np.mean(predicted[labels == c] == c) for c in np.unique(labels)]))
    return SplitPredictions(split, len(idx),
                            {int(k): int(v) for k, v in zip(*np.unique(predicted, return_counts=True))},
                            {int(k): int(v) for k, v in zip(*np.unique(labels, return_counts=True))},
                            result.accuracy, balanced, result.loss, bad)


def _units(model, data: ProbeData, idx: np.ndarray, chunk: int) -> UnitActivity | None:
    recorder = UnitRecorder(model)
    with recorder:
        evaluate(model, data, "train", idx, chunk=chunk)
    activity = recorder.activity()
    return activity if activity.layers else None


def _batchnorm_fit(model, data: ProbeData, idx: np.ndarray, chunk: int) -> list[BatchNormFit]:
    """Per BatchNorm layer (with running statistics), its input's per-channel moments in eval mode."""
    import torch

    norms = batchnorm_layers(model)
    if not norms:
        return []
    sums: dict[str, list] = {}
    order: list[str] = []

    def hook_for(name):
        def pre(module, args):
            x = args[0].detach().double()
            dims = [d for d in range(x.ndim) if d != 1]  # torch BatchNorm normalises along dim 1
            entry = sums.setdefault(name, [0.0, 0.0, 0])
            entry[0] = entry[0] + x.sum(dim=dims)
            entry[1] = entry[1] + (x * x).sum(dim=dims)
            entry[2] += x.numel() // x.shape[1]
            if name not in order:
                order.append(name)
        return pre

    with preserved_state(model), Hooks(model) as hooks, torch.no_grad():
        for name, m in norms:
            hooks.add(m.register_forward_pre_hook(hook_for(name)))
        model.eval()
        for part in eval_chunks(idx, chunk):
            model(data.inputs("train", part))
    by_name = dict(norms)
    fits = []
    for name in order:
        total, squares, count = sums[name]
        if not count:
            continue
        m = by_name[name]
        mean = (total / count).cpu().numpy()
        var = np.maximum((squares / count).cpu().numpy() - mean ** 2, 0.0)
        run_mean = m.running_mean.detach().double().cpu().numpy()
        run_var = m.running_var.detach().double().cpu().numpy()
        eps = float(m.eps)
        shift = (mean - run_mean) / np.sqrt(run_var + eps)
        log_ratio = 0.5 * np.log((var + eps) / (run_var + eps))
        if not (np.isfinite(shift).all() and np.isfinite(log_ratio).all()):
            continue  # NaN/Inf activations: a non-finite model, not a statistics mismatch
        worst = int(np.argmax(np.abs(shift)))
        fits.append(BatchNormFit(f"{name} ({type(m).__name__})", int(len(mean)),
                                 float(np.sqrt(np.mean(shift ** 2))),
                                 float(math.exp(np.sqrt(np.mean(log_ratio ** 2)))), worst, float(shift[worst]),
                                 len(idx)))
    return fits


def measure_trained(model, data: ProbeData, train_idx: np.ndarray, test_idx: np.ndarray | None, *,
                    batch_size: int, label: str, source: str) -> TrainedEval:
    """Evaluate the trained ``model`` (a copy the caller owns) on the slices ``train_idx``/``test_idx``.

    Batches of ``batch_size`` (the user's), eval mode; the train-mode comparison uses whole
    batches of that size (``eval.measure_mode_gap``).
    """
    chunk = max(2, batch_size)
    train = _predictions(model, data, "train", train_idx, chunk)
    test = (_predictions(model, data, "test", test_idx, chunk)
            if test_idx is not None and len(test_idx) else None)
    units = _units(model, data, train_idx, chunk)
    fits = _batchnorm_fit(model, data, train_idx, chunk)
    gap = measure_mode_gap(model, data, train_idx, batch_size) if fits else None
    return TrainedEval(label, source, train, test, units, fits, gap, batch_size)
