"""The torch recorder: hooks on the user's model and optimizer that fill a ``Recording``.

What runs on every step is cheap: the loss (one number), the lr the optimizer applies (read from
``param_groups`` in its step pre-hook), the predicted classes of the batch (an argmax of the output the root
hook kept) and a flag test in two root hooks and the ReLU hooks. The rest
runs on the scheduled steps only (every ``every``-th): per-layer gradient norms (read from ``.grad``
just before ``optimizer.step``), update/weight ratios (the weights cloned in the optimizer's step
pre-hook and compared in its post-hook), ReLU activity of that step's forward pass, and
a seeded sample of its batch. When the loss turns non-finite, the batch is passed through a copy of the
forward once more with a check on every layer's output, to name the first layer: the user's model, its
buffers and its mode are left as they were. Weights are never written; every hook comes off in ``close``.
"""

from __future__ import annotations

import math

import numpy as np

from ..probes.record import layer_of, merge_fired, preserved_state
from ..trace.hooks import Hooks
from .recording import Onset, Recording, SampleReservoir

__all__ = ["TorchRecorder", "DEFAULT_EVERY", "DEFAULT_SAMPLES", "predicted_classes", "class_ids"]

# Steps between two full records. At 50 the recording costs well under 5% of a step of a small 1D CNN
# (benchmarks/watch_overhead.py measures it); the loss and lr are still recorded at every step.
DEFAULT_EVERY = 50
# Rows of the batches seen kept (seeded reservoir) for the data and architecture checks of the report.
DEFAULT_SAMPLES = 1024


def _numpy(t) -> np.ndarray:
    return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)


def predicted_classes(output, *, threshold: float = 0.0) -> np.ndarray | None:
    """Class ids from a batch of outputs: argmax over classes, or ``output > threshold`` for one output."""
    out = output[0] if isinstance(output, (tuple, list)) and output else output
    if not hasattr(out, "ndim") or out.ndim == 0:
        return None
    out = out.detach()
    if out.ndim >= 2 and out.shape[1] > 1:
        return out.reshape(out.shape[0], out.shape[1], -1).mean(-1).argmax(1).cpu().numpy() \
            if out.ndim > 2 else out.argmax(1).cpu().numpy()
    return (out.reshape(out.shape[0], -1)[:, 0] > threshold).long().cpu().numpy()


def class_ids(y) -> np.ndarray | None:
    """Integer class ids from targets: integer labels as they are, one-hot rows by argmax, 0/1 floats rounded."""
    if y is None:
        return None
    y = _numpy(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(1).astype(np.int64)
    y = y.reshape(len(y), -1)[:, 0] if y.ndim > 1 else y
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.allclose(y, np.round(y)):
            return None
        return np.round(y).astype(np.int64)
    return y.astype(np.int64) if y.dtype.kind in "iub" else None


class TorchRecorder:
    """Attach to ``model`` (and ``optimizer``); call ``record_loss`` once per step, ``close`` at the end."""

    def __init__(self, model, optimizer=None, *, every: int = DEFAULT_EVERY, samples: int = DEFAULT_SAMPLES,
                 seed: int = 0, threshold: float = 0.0, framework: str = "torch"):
        import torch

        if int(every) < 1:
            raise ValueError(f"every must be a positive number of steps, not {every!r}")
        self._torch = torch
        self.model, self.optimizer = model, optimizer
        self.threshold = threshold
        self.recording = Recording(every=int(every), framework=framework, sample=SampleReservoir(samples, seed))
        self.params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self._layer_names = list(dict.fromkeys(layer_of(n) for n, _ in self.params))
        self.recording.layers = list(self._layer_names)  # forward order once the first forward is seen
        self.recording.weight_layers = [n for n in self._layer_names
                                        if any(p.ndim >= 2 for m, p in self.params if layer_of(m) == n)]
        names = {m: (n or "(model)") for n, m in model.named_modules()}
        self.recording.mode_layers = [names[m] for m in model.modules()
                                      if type(m).__name__.startswith(("BatchNorm", "Dropout"))]
        self._optimizer_steps = 0
        self._active = False  # the current forward pass belongs to a scheduled training step
        self._units: dict[str, np.ndarray] = {}
        self._output = None
        self._before: list | None = None
        self._replaying = False  # our own pass that looks for the first non-finite layer
        with Hooks() as hooks:  # all attached, or none left behind
            hooks.add(model.register_forward_pre_hook(self._root_pre))
            hooks.add(model.register_forward_hook(self._root_post))
            for module, name in names.items():
                if module is not model and type(module).__name__ in ("ReLU", "ReLU6"):
                    hooks.add(module.register_forward_hook(self._relu_hook(name)))
            if optimizer is not None:
                hooks.add(optimizer.register_step_pre_hook(self._before_update))
                hooks.add(optimizer.register_step_post_hook(self._after_update))
            self._hooks = hooks.pop_all()

    # -- the step counter ------------------------------------------------------------------------------
    @property
    def step_index(self) -> int:
        """0-based index of the step in progress: optimizer steps taken (losses given, without an optimizer)."""
        return self._optimizer_steps if self.optimizer is not None else len(self.recording.losses)

    # -- forward hooks ---------------------------------------------------------------------------------
    def _root_pre(self, module, args):
        if self._replaying:
            return None
        torch = self._torch
        training = module.training and torch.is_grad_enabled()
        if not training:
            self.recording.eval_forwards += 1
            if module.training and self.recording.mode_layers:
                self.recording.eval_in_train_mode += 1
        self._training_forward = training
        self._active = training and self.recording.scheduled(self.step_index)
        if self._active:
            self._units = {}
            if self.recording.batch_size is None and args and hasattr(args[0], "shape"):
                self.recording.batch_size = int(args[0].shape[0])
        return None

    def _root_post(self, module, args, output):
        # every training step's output is kept until its loss arrives: its argmax is a few numbers, and a
        # prediction histogram of the latest batches shows a collapse (or a recovery) when it happens, not at
        # the next scheduled step
        if getattr(self, "_training_forward", False) and not self._replaying:
            self._output = output
        self._active = False
        return None

    def _relu_hook(self, name: str):
        def hook(module, args, output):
            if self._active and hasattr(output, "ndim") and output.ndim >= 2:
                merge_fired(self._units, name, output)
            return None

        return hook

    # -- optimizer hooks -------------------------------------------------------------------------------
    def _before_update(self, optimizer, args, kwargs):
        rec = self.recording
        rec.lrs.append(max(float(g.get("lr", 0.0)) for g in optimizer.param_groups) if optimizer.param_groups
                       else 0.0)
        if rec.scheduled(self._optimizer_steps):
            self._record_gradients(self._optimizer_steps)
            self._before = [p.detach().clone() for _, p in self.params]
        return None

    def _after_update(self, optimizer, args, kwargs):
        if self._before is not None:
            self._record_updates(self._optimizer_steps, self._before)
            self._before = None
        self._optimizer_steps += 1
        return None

    # -- measurements ----------------------------------------------------------------------------------
    def _per_layer(self, squares) -> list[float]:
        index = {n: i for i, n in enumerate(self._layer_names)}
        out = np.zeros(len(self._layer_names))
        for (name, _), sq in zip(self.params, squares):
            out[index[layer_of(name)]] += sq
        return np.sqrt(out).tolist()

    def _record_gradients(self, step: int) -> None:
        torch = self._torch
        if not self.params:
            return
        zero = torch.zeros((), device=self.params[0][1].device)
        sq = torch.stack([p.grad.detach().float().pow(2).sum() if p.grad is not None else zero
                          for _, p in self.params]).cpu().numpy().astype(np.float64)
        rec = self.recording
        rec.grad_steps.append(step)
        rec.grad_rows.append(self._per_layer(sq))
        if not np.isfinite(sq.sum()) and rec.grad_nonfinite_step is None:
            rec.grad_nonfinite_step = len(rec.grad_rows) - 1

    def _record_updates(self, step: int, before: list) -> None:
        torch = self._torch
        diffs = torch.stack([(p.detach() - b).float().pow(2).sum() for (_, p), b in zip(self.params, before)])
        norms = torch.stack([b.float().pow(2).sum() for b in before])
        d, w = (self._per_layer(x.cpu().numpy().astype(np.float64)) for x in (diffs, norms))
        self.recording.update_steps.append(step)
        self.recording.update_rows.append([a / b if b > 0 else (0.0 if a == 0 else float("inf"))
                                           for a, b in zip(d, w)])
        if np.isfinite(w).all():  # the weight norms the checks read are the last finite ones
            self.recording.weight_norms = dict(zip(self._layer_names, w))

    def record_loss(self, loss, xb=None, yb=None) -> None:
        """The step's loss (a tensor or a number) and, optionally, its batch; call once per step after
        ``loss.backward()`` (the gradients are read then, when no optimizer is watched)."""
        rec = self.recording
        step = len(rec.losses)
        value = float(loss.detach()) if hasattr(loss, "detach") else (float("nan") if loss is None else float(loss))
        rec.losses.append(value)
        scheduled = rec.scheduled(step)
        if self.optimizer is None and scheduled:
            self._record_gradients(step)
        if not math.isfinite(value) and rec.onset is None:
            rec.onset = self._find_onset(step, value, xb)
        self._record_predictions(yb)
        if scheduled:
            self._record_scheduled(step, xb, yb)

    def _record_predictions(self, yb) -> None:
        """The step's predicted and true classes, into the window of the latest batches."""
        true = class_ids(yb)
        pred = predicted_classes(self._output, threshold=self.threshold) if self._output is not None else None
        self._output = None
        if pred is not None and true is not None and len(pred) == len(true):
            self.recording.predictions.append((pred, true))

    def _record_scheduled(self, step: int, xb, yb) -> None:
        rec = self.recording
        if self._units:
            rec.units.append(dict(self._units))
            self._units = {}
        if xb is not None and yb is not None and hasattr(xb, "shape"):
            y = _numpy(yb)
            if y.ndim == 2 and y.shape[1] > 1:  # one-hot targets: the class ids
                y = y.argmax(1)
            rec.sample.offer(_numpy(xb), y)
        rec.add_curve_point(step)

    def _find_onset(self, step: int, value: float, xb) -> Onset:
        """Where the first non-finite value appeared: the batch, a layer's output, or the loss function."""
        torch = self._torch
        rec = self.recording
        finite = [v for v in rec.losses[:-1] if math.isfinite(v)]
        onset = Onset(step + 1, value, None, "unknown (no batch given)",
                      last_finite_loss=finite[-1] if finite else None, lr=rec.lrs[-1] if rec.lrs else None)
        kinds = {n or "(model)": type(m).__name__ for n, m in self.model.named_modules()}
        for name, p in self.params:
            if not bool(torch.isfinite(p.detach()).all()):
                onset.weight_layer = f"{layer_of(name)} ({kinds.get(layer_of(name), '?')})"
                break
        for name, p in self.params:
            if p.grad is not None and not bool(torch.isfinite(p.grad.detach()).all()):
                onset.grad_layer = f"{layer_of(name)} ({kinds.get(layer_of(name), '?')})"
                break
        if xb is None or not hasattr(xb, "shape"):
            return onset
        if not bool(torch.isfinite(xb.detach()).all()):
            onset.where = "input batch"
            return onset
        first: list[str] = []
        names = {m: (n or "(model)") for n, m in self.model.named_modules()}

        def check(module, args, output):
            out = output[0] if isinstance(output, (tuple, list)) and output else output
            if not first and hasattr(out, "dtype") and out.dtype.is_floating_point and \
                    not bool(torch.isfinite(out.detach()).all()):
                first.append(f"{names.get(module, '?')} ({type(module).__name__})")

        # the same batch once more, in the same mode, to find the first layer: buffers and mode restored
        with preserved_state(self.model), Hooks() as hooks, torch.no_grad():
            for module in self.model.modules():
                if not list(module.children()):
                    hooks.add(module.register_forward_hook(check))
            self._active, self._replaying = False, True
            try:
                self.model(xb)
            except Exception:  # noqa: BLE001 — a forward that fails here says nothing about the onset
                return onset
            finally:
                self._replaying = False
        if first:
            onset.where, onset.layer = "layer output", first[0]
        else:
            onset.where = "loss function"
        return onset

    def close(self) -> None:
        """Remove every hook (idempotent)."""
        self._hooks.remove()
        self._output = None
        self._before = None
