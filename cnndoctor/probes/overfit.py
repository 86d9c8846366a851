"""Overfit one small batch: the cheapest proof that model, loss and training step can learn.

A model that works memorises 16-32 samples within a few hundred steps: the batch is tiny,
so this needs no generalisation, only a working forward pass, loss and update. When it
fails at the user's lr the probe retries at a sane lr for the optimizer family, so the
finding can tell "your learning rate" from "a bug that no learning rate fixes".
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .data import ProbeData, label_entropy, prepare_probe_data
from .eval import evaluate
from .threads import using_threads
from .train import Runtime, error_text, runtime_for, step_loss

__all__ = ["OverfitAttempt", "OverfitResult", "overfit_indices", "sane_lrs", "overfit_probe", "run_overfit_batch"]

# A retry stops once its loss is this far below the input-independent floor: the lr clearly works.
LEARNING_FRACTION = 0.5
_SGD_LIKE = ("SGD", "ASGD")
_ADAPTIVE = ("Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop", "Adagrad", "Adadelta", "SparseAdam", "Adafactor")


@dataclass
class OverfitAttempt:
    lr: float
    max_steps: int
    steps: int = 0
    memorised: bool = False
    steps_to_memorise: int | None = None
    initial_loss: float | None = None
    final_loss: float | None = None
    final_accuracy: float | None = None
    best_accuracy: float = 0.0
    losses: list[float] = field(default_factory=list)
    nonfinite: bool = False
    nonfinite_step: int | None = None
    error: str | None = None
    stopped_by: str = "steps"  # steps | memorised | learning | stalled | non-finite loss | time | error
    seconds: float = 0.0  # wall-clock: for timings only, never for evidence

    @property
    def truncated(self) -> bool:
        """The attempt's wall-clock safety net stopped it before its planned steps: it is inconclusive."""
        return self.stopped_by == "time"

    def to_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k not in ("losses", "seconds")}
        return {k: (float(f"{v:.5g}") if math.isfinite(v) else None) if isinstance(v, float) else v
                for k, v in out.items()}


@dataclass
class OverfitResult:
    batch_size: int
    class_counts: dict
    floor_loss: float  # the best loss an input-independent model reaches on this batch
    majority: float  # the accuracy of always predicting the batch's most common class
    optimizer: str
    attempts: list[OverfitAttempt]
    nonfinite_inputs: int = 0  # samples of the batch whose input holds NaN/Inf

    @property
    def user(self) -> OverfitAttempt:
        return self.attempts[0]

    @property
    def retries(self) -> list[OverfitAttempt]:
        return self.attempts[1:]

    @property
    def memorised_at(self) -> float | None:
        for a in self.attempts:
            if a.memorised:
                return a.lr
        return None


def overfit_indices(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """``k`` training indices taking the classes in turn (every class present when k allows)."""
    import torch

    gen = torch.Generator().manual_seed(int(seed))
    pools = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        pools.append(list(members[torch.randperm(len(members), generator=gen).numpy()]))
    chosen: list[int] = []
    while len(chosen) < min(k, len(labels)):
        for pool in pools:
            if pool and len(chosen) < k:
                chosen.append(int(pool.pop(0)))
    return np.sort(np.array(chosen, dtype=np.int64))


def sane_lrs(optimizer_name: str, user_lr: float, n: int) -> list[float]:
    """Learning rates that train small CNNs reliably with this optimizer family, away from the user's."""
    if optimizer_name in _SGD_LIKE:
        candidates = [3e-2, 1e-1, 1e-2]
    elif optimizer_name in _ADAPTIVE:
        candidates = [1e-3, 1e-2, 3e-3]
    else:
        candidates = [1e-3, 1e-2]
    far = [c for c in candidates if not (user_lr / 3 <= c <= user_lr * 3)]
    return far[:n]


def _judge(model, data: ProbeData, idx: np.ndarray):
    """Loss and accuracy on the batch in eval mode, but with BatchNorm on the batch's own statistics.

    That is what eval mode gives once the running statistics have caught up with the weights;
    eval mode as is would judge how far the running averages lag behind weights that move fast
    on one repeated batch (T207 judges that gap on its own). Dropout of every kind stays off.
    Keras layers take one ``training`` flag for the whole model, so a Keras model is judged in
    eval mode; its BatchNormalization momentum is capped for the probes (see keras.support).
    """
    return evaluate(model, data, "train", idx, chunk=len(idx), batch_norm_stats=True)


def _attempt(data: ProbeData, subject, idx: np.ndarray, lr: float, steps: int, check_every: int, seed: int,
             seconds: float | None, floor: float, *, retry: bool) -> tuple[OverfitAttempt, str]:
    import torch

    attempt = OverfitAttempt(lr, steps)
    start = time.perf_counter()
    deadline = None if seconds is None else start + seconds  # each attempt has its own safety net
    model = subject.build_model()
    torch.manual_seed(seed)
    optimizer = subject.make_optimizer(model.parameters(), lr=lr)
    name = type(optimizer).__name__
    xb = data.inputs("train", idx)
    try:
        attempt.initial_loss = _judge(model, data, idx).loss
        for step in range(steps):
            value = step_loss(model, data, subject, optimizer, xb, idx)
            attempt.losses.append(value)
            attempt.steps = step + 1
            if not math.isfinite(value):
                attempt.nonfinite, attempt.nonfinite_step, attempt.stopped_by = True, step, "non-finite loss"
                break
            if (step + 1) % check_every == 0 or step + 1 == steps:
                result = _judge(model, data, idx)
                attempt.final_loss, attempt.final_accuracy = result.loss, result.accuracy
                attempt.best_accuracy = max(attempt.best_accuracy, result.accuracy or 0.0)
                if result.accuracy is not None and result.accuracy >= 1.0:
                    attempt.memorised, attempt.steps_to_memorise, attempt.stopped_by = True, step + 1, "memorised"
                    break
                loss = result.loss if result.loss is not None and math.isfinite(result.loss) else math.inf
                if retry and loss <= LEARNING_FRACTION * floor:
                    attempt.stopped_by = "learning"  # this lr clearly works: that is all a retry has to show
                    break
                if step + 1 >= steps // 2 and loss >= floor:
                    attempt.stopped_by = "stalled"  # halfway and still no better than ignoring the input
                    break
            if deadline is not None and step + 1 < steps and time.perf_counter() > deadline:
                attempt.stopped_by = "time"  # inconclusive: the checks do not judge a truncated attempt
                break
        if not attempt.memorised and not attempt.nonfinite:
            result = _judge(model, data, idx)
            attempt.final_loss, attempt.final_accuracy = result.loss, result.accuracy
            attempt.best_accuracy = max(attempt.best_accuracy, result.accuracy or 0.0)
    except Exception as exc:
        attempt.error, attempt.stopped_by = error_text(exc), "error"
    attempt.seconds = time.perf_counter() - start
    return attempt, name


def overfit_probe(data: ProbeData, subject, *, steps: int, batch: int = 32, retries: int = 1,
                  check_every: int = 10, seed: int | None = None, seconds: float | None = None,
                  runtime: Runtime | None = None, progress: Callable[[str], None] | None = None) -> OverfitResult:
    """``run_overfit_batch`` on prepared ``ProbeData``."""
    seed = subject.seed if seed is None else int(seed)
    idx = overfit_indices(data.train_y, min(batch, 32), seed + 3)
    labels = data.labels("train", idx)
    counts = {int(k): int(v) for k, v in zip(*np.unique(labels, return_counts=True))}
    runtime = runtime or runtime_for(data, subject)
    with using_threads(runtime.threads):
        if progress is not None:
            progress(f"overfit one batch of {len(idx)} at lr {subject.lr:g}")
        floor = label_entropy(labels)
        first, name = _attempt(data, subject, idx, subject.lr, steps, check_every, seed, seconds, floor, retry=False)
        attempts = [first]
        if not first.memorised and first.error is None:
            for lr in sane_lrs(name, subject.lr, retries):  # every retry runs: none is skipped for time
                if progress is not None:
                    progress(f"overfit one batch of {len(idx)} at lr {lr:g}")
                attempts.append(_attempt(data, subject, idx, lr, steps, check_every, seed, seconds, floor,
                                         retry=True)[0])
                if attempts[-1].memorised or attempts[-1].stopped_by == "learning":
                    break
    xb = data.inputs("train", idx)
    bad = int((~np.isfinite(xb.detach().cpu().numpy())).reshape(len(idx), -1).any(1).sum())
    return OverfitResult(len(idx), counts, floor, max(counts.values()) / len(idx), name, attempts, bad)


def run_overfit_batch(subject, train_X, train_y, *, steps: int, batch: int = 32, retries: int = 1,
                      check_every: int = 10, seed: int | None = None, seconds: float | None = None,
                      loss=None, step_train_y=None) -> OverfitResult:
    """Try to memorise one class-balanced batch of at most 32 training samples from fresh weights.

    ``train_X`` as fed to the model, ``train_y`` int64 class ids (as for ``run_training_probe``).
    The first attempt uses ``subject.lr``; when it fails, up to ``retries`` attempts at sane
    learning rates for the optimizer family follow. Each attempt stops once the batch is
    memorised (every sample right in eval mode with BatchNorm on the batch's statistics), at a
    non-finite loss, after ``steps``, or at half its steps when its loss is still no better than
    the label entropy of the batch (what a model ignoring its input scores: "stalled"); a retry
    also stops once its loss is half that floor ("learning": the lr works, which is all a retry has to show).
    ``seconds`` is a wall-clock safety net of *each* attempt (not a length, and not shared, so a
    slow first attempt never costs a retry); an attempt it stops is ``truncated`` (inconclusive).
    """
    data = prepare_probe_data(subject, train_X, train_y, loss=loss, step_train_y=step_train_y,
                              n_classes=subject.labels.n_classes if getattr(subject, "labels", None) else None)
    return overfit_probe(data, subject, steps=steps, batch=batch, retries=retries, check_every=check_every,
                         seed=seed, seconds=seconds)
