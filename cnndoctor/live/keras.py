"""``CnndoctorCallback`` for Keras 3 (torch backend): the live recording inside ``model.fit``.

Keras layers do not run torch's module hooks, so this callback reads what a Keras step leaves behind:
each variable's ``.value.grad`` after the step (gradients), the weights at the start and end of a
scheduled batch (update/weight ratios), the optimizer's ``learning_rate`` (the lr applied, schedules
included), and the batch loss from the loss tracker's running sum. For the batch and the predictions it
wraps, during ``fit`` only, the model's ``train_step`` and ``compute_metrics`` (instance attributes, removed
at the end of training; the class is not touched). ReLU activity is not recorded for Keras models::

    cb = CnndoctorCallback()
    model.fit(X, y, epochs=5, callbacks=[cb])
    cb.report(); cb.save("run.cnndoctor.json")
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..findings import Finding
from ..probes.record import layer_of
from .recorder import DEFAULT_EVERY, DEFAULT_SAMPLES, class_ids, predicted_classes
from .recording import Onset, Recording, SampleReservoir
from .watch import LiveSession

__all__ = ["CnndoctorCallback"]


def _float(value) -> float:
    value = getattr(value, "value", value)  # a Keras variable holds its torch tensor in .value
    try:
        return float(value.detach().cpu()) if hasattr(value, "detach") else float(value)
    except (TypeError, ValueError):
        return float("nan")


class _Callback(LiveSession):
    """The callback's logic, apart from the Keras base class."""

    def __init__(self, *, every: int = DEFAULT_EVERY, on_symptom: Callable[[Finding], object] | None = None,
                 thresholds: dict | None = None, samples: int = DEFAULT_SAMPLES, seed: int = 0):
        super().__init__(on_symptom=on_symptom, thresholds=thresholds, seed=seed)
        self.every, self.samples = every, samples
        self._recording: Recording | None = None
        self._before = None
        self._batch = None
        self._tracked = None

    @property
    def recording(self) -> Recording:
        if self._recording is None:
            raise RuntimeError("the callback has not seen training start (pass it to model.fit(callbacks=[...]))")
        return self._recording

    # -- set-up and clean-up -------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        model = self.model
        rec = Recording(every=int(self.every), framework="keras", sample=SampleReservoir(self.samples, self.seed))
        self._recording = rec
        self._weights = [(v.path, v) for v in model.trainable_weights]
        rec.layers = list(dict.fromkeys(layer_of(p.replace(".", "/")) if "/" in p else p for p, _ in self._weights))
        rec.weight_layers = [n for n in rec.layers
                             if any(len(v.shape) >= 2 for p, v in self._weights if self._layer(p) == n)]
        original_step, original_metrics = model.train_step, model.compute_metrics
        callback = self

        def train_step(data):
            callback._batch = None
            return original_step(data)

        def compute_metrics(x, y, y_pred, sample_weight=None):
            # every step: the predicted classes of the latest batches show a collapse when it happens
            callback._batch = (x, y, y_pred)
            return original_metrics(x, y, y_pred, sample_weight)

        object.__setattr__(model, "train_step", train_step)
        object.__setattr__(model, "compute_metrics", compute_metrics)

    def on_train_end(self, logs=None):
        for name in ("train_step", "compute_metrics"):
            vars(self.model).pop(name, None)  # the class's own methods are visible again

    @staticmethod
    def _layer(path: str) -> str:
        parts = path.split("/")
        return parts[-2] if len(parts) >= 2 else path

    def _record_batch(self, *, scheduled: bool) -> None:
        """The step's predicted and true classes (every step), and its rows into the sample (scheduled steps)."""
        rec = self.recording
        if self._batch is not None and len(self._batch) == 3:
            x, y, y_pred = self._batch
            pred, true = predicted_classes(y_pred, threshold=0.0 if self._from_logits() else 0.5), class_ids(y)
            if pred is not None and true is not None and len(pred) == len(true):
                rec.predictions.append((pred, true))
                if rec.batch_size is None:
                    rec.batch_size = len(true)
                if scheduled:
                    xs = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
                    rec.sample.offer(xs, true)  # as the Keras model reads it, (N, L, C)
        self._batch = None

    def _scheduled(self) -> bool:
        return self.recording.scheduled(len(self.recording.losses))

    # -- per batch -----------------------------------------------------------------------------------
    def _tracker_sums(self):
        tracker = getattr(self.model, "_loss_tracker", None)
        if tracker is None:
            return None
        return _float(tracker.total), _float(tracker.count)

    def on_train_batch_begin(self, batch, logs=None):
        self._tracked = self._tracker_sums()
        if self._scheduled():
            self._before = [v.value.detach().clone() for _, v in self._weights]

    def on_train_batch_end(self, batch, logs=None):
        import torch

        rec = self.recording
        step = len(rec.losses)
        rec.lrs.append(_float(self.model.optimizer.learning_rate))
        after, before = self._tracker_sums(), self._tracked
        if after is not None and before is not None and after[1] > before[1]:
            loss = (after[0] - before[0]) / (after[1] - before[1])  # this batch's mean loss
        else:
            loss = _float((logs or {}).get("loss", float("nan")))
        rec.losses.append(loss)
        layers = {n: i for i, n in enumerate(rec.layers)}
        if rec.scheduled(step):
            grads = np.zeros(len(rec.layers))
            for p, v in self._weights:
                g = v.value.grad
                if g is not None:
                    grads[layers[self._layer(p)]] += float(g.detach().float().pow(2).sum())
            rec.grad_steps.append(step)
            rec.grad_rows.append(np.sqrt(grads).tolist())
            if not np.isfinite(grads).all() and rec.grad_nonfinite_step is None:
                rec.grad_nonfinite_step = len(rec.grad_rows) - 1
            if self._before is not None:
                d, w = np.zeros(len(rec.layers)), np.zeros(len(rec.layers))
                for (p, v), b in zip(self._weights, self._before):
                    i = layers[self._layer(p)]
                    d[i] += float((v.value.detach() - b).float().pow(2).sum())
                    w[i] += float(b.float().pow(2).sum())
                rec.update_steps.append(step)
                rec.update_rows.append([math.sqrt(a / c) if c > 0 else 0.0 for a, c in zip(d, w)])
                if np.isfinite(w).all():
                    rec.weight_norms = dict(zip(rec.layers, np.sqrt(w).tolist()))
                self._before = None
            self._record_batch(scheduled=True)
            rec.add_curve_point(step)
        else:
            self._record_batch(scheduled=False)
        if not math.isfinite(loss) and rec.onset is None:
            rec.onset = Onset(step + 1, loss, None, "unknown (Keras layers are not traced)", lr=rec.lrs[-1],
                              last_finite_loss=next((v for v in reversed(rec.losses[:-1]) if math.isfinite(v)), None))
            for p, v in self._weights:
                if not bool(torch.isfinite(v.value.detach()).all()):
                    rec.onset.weight_layer = self._layer(p)
                    break
            for p, v in self._weights:
                g = v.value.grad
                if g is not None and not bool(torch.isfinite(g).all()):
                    rec.onset.grad_layer = self._layer(p)
                    break
        self.judge_step()

    def _from_logits(self) -> bool:
        loss = getattr(self.model, "loss", None)
        return bool(getattr(loss, "from_logits", True))

    def report(self, *, select=None, ignore=None):
        """The diagnosis of the run: a ``Report`` like ``diagnose`` returns."""
        self.recording  # noqa: B018 — raises when training never started
        return self._build_report(self.model, select=select, ignore=ignore)


def _keras_callback_base():
    from ..keras.support import prepare_backend

    prepare_backend()  # the torch backend, or a clear InputError
    import keras

    return keras.callbacks.Callback


class CnndoctorCallback(_Callback, _keras_callback_base()):
    """Watch ``model.fit`` (Keras 3, torch backend): symptoms as they happen, ``report()`` and ``save(path)``.

    ``every``, ``on_symptom``, ``thresholds``, ``samples`` and ``seed`` mean what they mean for
    ``cnndoctor.watch``. This module imports Keras; ``cnndoctor`` itself never does.
    """
