"""What a live run records: plain data, filled by a recorder, read by the symptoms and the report.

The recording is cheap by construction: the loss, the lr and the predicted classes of every step, and on the
scheduled steps (every ``every``-th) per-layer gradient norms, update/weight ratios, ReLU activity and a
bounded seeded sample of the batch. ``as_probe_run`` presents it as a ``ProbeRun``, the object the
training checks judge, so the same check functions judge the user's run and the probes.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ..probes.record import UnitActivity
from ..probes.train import CurvePoint, ProbeRun

__all__ = ["Recording", "Onset", "SampleReservoir", "PREDICTION_WINDOW", "LIVE_INPUTS"]

# How many recent batches the prediction histogram (every step's batch) and the ReLU activity (scheduled
# steps' batches) cover: a collapse or dead units that appear late must show, and a collapse that ended must
# not, so they are judged on the latest batches, not on all since step 1.
PREDICTION_WINDOW = 8

# ``ProbeRun.inputs`` of a run recorded live (the probes' are "real" or "zeroed"): evidence says where from.
LIVE_INPUTS = "your run"


@dataclass
class Onset:
    """Where a non-finite value first appeared: the step (1-based) and the first layer, and in what."""

    step: int
    loss: float | None
    layer: str | None  # the first module (forward order) whose output was non-finite; None: none found
    where: str  # "input batch", "layer output", "loss function" or "unknown (no batch given)"
    grad_layer: str | None = None  # the first layer whose gradient was non-finite at that step
    weight_layer: str | None = None  # the first layer whose weights were already non-finite
    last_finite_loss: float | None = None
    lr: float | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    def describe(self) -> str:
        """``at step 12, first in conv1's output`` (the sentence the warning and the finding use)."""
        if self.where == "layer output" and self.layer:
            first = f"first in the output of {self.layer}"
        elif self.where == "input batch":
            first = "already in the input batch"
        elif self.where == "loss function":
            first = "in the loss function: every layer's output was finite"
        elif self.where.startswith("unknown (no batch"):
            first = "in a layer not identified (pass the batch to step() to find it)"
        else:
            first = "in a layer not identified"
        extra = []
        if self.weight_layer:
            extra.append(f"the weights of {self.weight_layer} were already non-finite")
        if self.grad_layer:
            extra.append(f"the first non-finite gradient was in {self.grad_layer}")
        return f"at step {self.step}, {first}" + "".join(f"; {e}" for e in extra)


class SampleReservoir:
    """A bounded, seeded uniform sample of the rows of the batches offered (reservoir sampling)."""

    def __init__(self, capacity: int, seed: int):
        self.capacity = int(capacity)
        self.rng = np.random.default_rng(seed)
        self.X: np.ndarray | None = None
        self.y: np.ndarray | None = None
        self.seen = 0  # rows offered
        self.batches = 0

    def offer(self, X: np.ndarray, y: np.ndarray) -> None:
        if len(X) != len(y) or not len(X):
            return
        if self.X is not None and X.shape[1:] != self.X.shape[1:]:
            return  # a batch of another shape (e.g. variable length): the sample keeps the first shape
        self.batches += 1
        for i in range(len(X)):
            k = self.seen
            self.seen += 1
            if self.X is None:
                self.X = np.empty((self.capacity, *X.shape[1:]), dtype=X.dtype)
                self.y = np.empty((self.capacity, *y.shape[1:]), dtype=y.dtype)
            if k < self.capacity:
                self.X[k], self.y[k] = X[i], y[i]
            else:
                j = int(self.rng.integers(0, k + 1))
                if j < self.capacity:
                    self.X[j], self.y[j] = X[i], y[i]

    def arrays(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The sampled rows, each distinct row once (a loop sees every sample once per epoch)."""
        if self.X is None:
            return None
        n = min(self.seen, self.capacity)
        X, y = self.X[:n], self.y[:n]
        _, first = np.unique(np.ascontiguousarray(X.reshape(n, -1)).view(np.uint8).reshape(n, -1), axis=0,
                             return_index=True)
        keep = np.sort(first)
        return X[keep], y[keep]


@dataclass
class Recording:
    """Everything a live run recorded (steps are counted from 1 in every sentence, from 0 in the lists)."""

    every: int
    losses: list[float] = field(default_factory=list)  # per step (NaN where no loss was given)
    lrs: list[float] = field(default_factory=list)  # the lr applied at each optimizer step (largest group)
    layers: list[str] = field(default_factory=list)  # parameter-owning layers, forward order
    weight_layers: list[str] = field(default_factory=list)  # those with a weight matrix or kernel
    grad_steps: list[int] = field(default_factory=list)  # the scheduled steps with a gradient row
    grad_rows: list[list[float]] = field(default_factory=list)  # per scheduled step, per layer: grad L2 norm
    update_steps: list[int] = field(default_factory=list)
    update_rows: list[list[float]] = field(default_factory=list)  # per scheduled step, per layer: |dw| / |w|
    weight_norms: dict = field(default_factory=dict)  # the latest, per layer
    onset: Onset | None = None
    grad_nonfinite_step: int | None = None  # 0-based scheduled step whose gradient norm was first non-finite
    units: deque = field(default_factory=lambda: deque(maxlen=PREDICTION_WINDOW))  # {relu: fired channels}
    predictions: deque = field(default_factory=lambda: deque(maxlen=PREDICTION_WINDOW))  # (pred, true) arrays
    curve_steps: list[int] = field(default_factory=list)  # scheduled steps (1-based) with a curve point
    curve_losses: list = field(default_factory=list)  # the mean loss of the steps since the previous point
    eval_forwards: int = 0  # forward passes seen outside training (eval mode, or no gradient)
    eval_in_train_mode: int = 0  # of those, passes under no_grad with the model still in train mode
    mode_layers: list[str] = field(default_factory=list)  # BatchNorm/Dropout layers (what train mode changes)
    batch_size: int | None = None
    framework: str = "torch"  # torch, lightning or keras
    sample: SampleReservoir | None = None

    @property
    def steps(self) -> int:
        return max(len(self.losses), len(self.lrs))

    def scheduled(self, step: int) -> bool:
        """Whether 0-based ``step`` is recorded in full (the first step always is)."""
        return step % self.every == 0

    def window_loss(self, end: int) -> float | None:
        """Mean finite loss of the steps since the previous curve point up to ``end`` (0-based, inclusive)."""
        start = self.curve_steps[-1] if self.curve_steps and self.curve_steps[-1] <= end else 0
        part = [v for v in self.losses[start:end + 1] if math.isfinite(v)]
        return float(np.mean(part)) if part else None

    def lr_summary(self) -> dict:
        if not self.lrs:
            return {}
        peak = max(self.lrs)
        return {"first": self.lrs[0], "peak": peak, "peak_step": self.lrs.index(peak) + 1, "last": self.lrs[-1]}

    def as_probe_run(self) -> ProbeRun:
        """The recording as the ``ProbeRun`` the training checks judge (``inputs`` says it is the user's run)."""
        lr = self.lrs[-1] if self.lrs else float("nan")
        run = ProbeRun(LIVE_INPUTS, lr, self.batch_size or 0, self.steps, steps=self.steps, device="",
                       batch_order="user")
        run.losses = list(self.losses)
        run.lrs = list(self.lrs)
        finite = [v for v in self.losses if math.isfinite(v)]
        run.initial_loss = self.losses[0] if self.losses and math.isfinite(self.losses[0]) else None
        run.layers, run.weight_layers = list(self.layers), list(self.weight_layers)
        # like a probe, the run is judged up to its first non-finite loss: what follows is NaN arithmetic
        last = self.onset.step - 1 if self.onset is not None else None
        rows = [r for s, r in zip(self.grad_steps, self.grad_rows) if last is None or s <= last]
        run.grad_norms = (np.array(rows, dtype=np.float64).reshape(len(rows), len(self.layers))
                          if self.layers else None)
        run.grad_totals = [float(np.sqrt(np.sum(np.square(r)))) for r in rows]
        run.grad_nonfinite_step = self.grad_nonfinite_step
        run.weight_norms_end = dict(self.weight_norms)
        if self.update_rows:
            moved = np.array(self.update_rows, dtype=np.float64)
            run.weight_change = float(np.nanmax(moved)) if np.isfinite(moved).any() else None
            run.changed_fraction = float(np.mean(np.nan_to_num(moved, nan=1.0) > 0))
        if self.onset is not None:
            run.nonfinite, run.nonfinite_step, run.stopped_by = True, self.onset.step - 1, "non-finite loss"
            run.nonfinite_input = self.onset.where == "input batch"
        run.curve = [CurvePoint(s, self.curve_losses[i], None, None, None) for i, s in enumerate(self.curve_steps)]
        if finite and not run.curve:
            run.curve = [CurvePoint(self.steps, finite[-1], None, None, None)]
        self._predictions_into(run)
        if self.units:
            names = list(dict.fromkeys(n for u in self.units for n in u))
            fired = {n: np.logical_or.reduce([u[n] for u in self.units if n in u and u[n].shape == self._shape(n)])
                     for n in names}
            run.units_end = UnitActivity(names, [int(f.size) for f in fired.values()],
                                         [int((~f).sum()) for f in fired.values()])
        return run

    def _shape(self, name: str):
        return next(u[name].shape for u in reversed(self.units) if name in u)

    def add_curve_point(self, step: int) -> None:
        loss = self.window_loss(step)
        self.curve_steps.append(step + 1)
        self.curve_losses.append(loss)

    def _predictions_into(self, run: ProbeRun) -> None:
        pairs = [p for p in self.predictions if p[1] is not None]
        if not pairs:
            return
        pred = np.concatenate([p[0] for p in pairs])
        true = np.concatenate([p[1] for p in pairs])
        classes = sorted(set(true.tolist()) | set(pred.tolist()))
        run.predicted_counts = {int(c): int((pred == c).sum()) for c in classes if (pred == c).any()}
        run.true_counts = {int(c): int((true == c).sum()) for c in classes if (true == c).any()}
        run.prediction_split = "training"
        run.n_eval_train = len(pred)
        recalls = [float(np.mean(pred[true == c] == c)) for c in run.true_counts]
        run.balanced_accuracy = float(np.mean(recalls)) if recalls else None
        acc = float(np.mean(pred == true))
        counts = np.bincount(true - true.min()) if len(true) else np.zeros(1)
        run.train_majority = float(counts.max() / len(true)) if len(true) else None
        if run.curve:
            last = run.curve[-1]
            run.curve[-1] = CurvePoint(last.step, last.train_loss, acc, None, None)
