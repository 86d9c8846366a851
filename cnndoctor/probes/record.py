"""Recorders the probes attach to a model: gradients per layer and ReLU activity per unit.

``GradientRecorder`` puts a hook on every trainable tensor, so it sees the gradient of each
backward pass even inside the user's own ``train_step`` — and, by comparing it with what
is left in ``.grad`` after the step, whether the step ever clears gradients.
``UnitRecorder`` intercepts every ReLU (``nn.ReLU`` modules and ``F.relu``/``torch.relu``
calls in ``forward``) with a ``TorchFunctionMode`` and records which channels ever fire.
Both remove everything they attach in ``finally``/``close``.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ..keras.support import is_keras_model, keras_layers
from ..trace.hooks import Hooks

__all__ = ["GradientRecorder", "UnitRecorder", "UnitActivity", "dropout_off", "layer_of", "weight_norms",
           "preserved_state", "forward_order", "merge_fired"]


def layer_of(param_name: str) -> str:
    """``features.0.weight`` -> ``features.0``; a parameter of the model itself -> ``(model)``.

    A Keras variable's path (``..._torch_params.sequential/conv1d/kernel``) gives its layer's
    name, ``conv1d``, as the shape trace names it.
    """
    last = param_name.rsplit(".", 1)[-1]
    if "/" in last:
        return last.split("/")[-2]
    return param_name.rsplit(".", 1)[0] if "." in param_name else "(model)"


def weight_norms(model) -> dict[str, float]:
    """L2 norm of each layer's trainable parameters."""
    sq: dict[str, float] = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            sq[layer_of(name)] = sq.get(layer_of(name), 0.0) + float(p.detach().float().pow(2).sum())
    return {k: math.sqrt(v) for k, v in sq.items()}


def forward_order(model, run) -> list[str]:
    """Names of the modules that own parameters, in the order ``run()`` calls them."""
    owners = {layer_of(n) for n, _ in model.named_parameters()}
    names = {m: (n or "(model)") for n, m in model.named_modules()}
    seen: list[str] = []

    def hook(module, args):
        name = names.get(module)
        if name in owners and name not in seen:
            seen.append(name)

    with Hooks() as hooks:
        for module in model.modules():
            hooks.add(module.register_forward_pre_hook(hook))
        run()
    seen += sorted(owners - set(seen) - {"(model)"})  # layers forward never called
    if "(model)" in owners and "(model)" not in seen:
        seen.append("(model)")
    return seen


@contextmanager
def preserved_state(model):
    """Restore buffers and untrained parameters and the train/eval mode after the block.

    Buffers hold torch's BatchNorm running statistics; a Keras model keeps its moving
    statistics as parameters that need no gradient, so those are restored too.
    """
    saved = {n: b.detach().clone() for n, b in _state(model)}
    was = model.training
    try:
        yield
    finally:
        import torch

        with torch.no_grad():
            for n, b in _state(model):
                if n in saved:
                    b.copy_(saved[n])
        model.train(was)


def _state(model):
    yield from (("buffer:" + n, b) for n, b in model.named_buffers())
    yield from (("param:" + n, p) for n, p in model.named_parameters() if not p.requires_grad)


@contextmanager
def dropout_off(model):
    """Dropout disabled for the block, whatever the mode: torch modules set to eval, Keras rates set to 0."""
    from torch.nn.modules.dropout import _DropoutNd

    torch_dropouts = [m for m in model.modules() if isinstance(m, _DropoutNd) and m.training]
    keras_dropouts = [(layer, layer.rate) for layer in keras_layers(model)
                      if "Dropout" in type(layer).__name__ and isinstance(getattr(layer, "rate", None), (int, float))]
    try:
        for m in torch_dropouts:
            m.eval()
        for layer, _ in keras_dropouts:
            layer.rate = 0.0
        yield
    finally:
        for m in torch_dropouts:
            m.train()
        for layer, rate in keras_dropouts:
            layer.rate = rate


class GradientRecorder:
    """Per-step gradient norms per layer, seen through tensor hooks on the trainable parameters."""

    def __init__(self, model, optimizer=None):
        import torch

        self._torch = torch
        self.params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.layers = sorted({layer_of(n) for n, _ in self.params})
        self._layer_index = {name: i for i, name in enumerate(self.layers)}
        in_opt = set()
        if optimizer is not None:
            in_opt = {id(p) for g in optimizer.param_groups for p in g["params"]}
        self._optimised = [id(p) in in_opt for _, p in self.params]
        self._sq: list = [None] * len(self.params)
        self.ever_nonzero = np.zeros(len(self.params), dtype=bool)
        self.rows: list[list[float]] = []  # per step, per layer: gradient L2 norm
        self.totals: list[float] = []
        self.accumulation: list[float] = []  # ||.grad after the step|| / ||gradient of this step||
        self.nonfinite_step: int | None = None
        with Hooks() as hooks:  # all attached, or none left behind
            for i, (_, p) in enumerate(self.params):
                hooks.add(p.register_hook(self._hook(i)))
            self._hooks = hooks.pop_all()

    def _hook(self, i: int):
        def record(grad):
            sq = grad.detach().float().pow(2).sum()
            self._sq[i] = sq if self._sq[i] is None else self._sq[i] + sq
            return None

        return record

    def begin_step(self) -> None:
        self._sq = [None] * len(self.params)

    def end_step(self) -> None:
        torch = self._torch
        zero = torch.zeros((), device=self.params[0][1].device) if self.params else None
        got = [s if s is not None else zero for s in self._sq]
        left = []
        for (_, p), opt in zip(self.params, self._optimised):
            if opt:
                left.append(p.grad.detach().float().pow(2).sum() if p.grad is not None else zero)
        values = torch.stack(got + left).cpu().numpy().astype(np.float64) if got else np.zeros(0)
        step_sq, left_sq = values[:len(got)], values[len(got):]
        self.ever_nonzero |= step_sq > 0
        layer_sq = np.zeros(len(self.layers))
        for (name, _), sq in zip(self.params, step_sq):
            layer_sq[self._layer_index[layer_of(name)]] += sq
        self.rows.append(np.sqrt(layer_sq).tolist())
        total = float(np.sqrt(step_sq.sum()))
        self.totals.append(total)
        if not np.isfinite(total) and self.nonfinite_step is None:
            self.nonfinite_step = len(self.totals) - 1
        mine = np.array([sq for sq, opt in zip(step_sq, self._optimised) if opt])
        if len(mine) and mine.sum() > 0 and np.isfinite(mine.sum()):
            self.accumulation.append(float(np.sqrt(left_sq.sum() / mine.sum())))

    @property
    def never_nonzero(self) -> list[str]:
        """Trainable tensors whose gradient was zero or absent at every recorded step."""
        return [n for (n, _), ok in zip(self.params, self.ever_nonzero) if not ok]

    def close(self) -> None:
        self._hooks.remove()


@dataclass
class UnitActivity:
    """Which ReLU units (channels) ever output a positive value on the samples seen."""

    layers: list[str]
    units: list[int]
    dead: list[int]

    def fractions(self) -> dict[str, float]:
        return {name: d / u for name, u, d in zip(self.layers, self.units, self.dead) if u}

    @property
    def overall(self) -> float | None:
        total = sum(self.units)
        return sum(self.dead) / total if total else None

    def to_dict(self) -> dict:
        return {name: {"units": u, "dead": d, "fraction": round(d / u, 4) if u else None}
                for name, u, d in zip(self.layers, self.units, self.dead)}


def merge_fired(fired: dict, site: str, out, channel_dim: int = 1) -> None:
    """Add one batch's activations at ``site`` to ``fired``: per channel, whether it was positive anywhere
    (any sample, any position), OR-ed with what the earlier batches showed (restarted if the width changed)."""
    channel = channel_dim % out.ndim
    dims = [d for d in range(out.ndim) if d != channel]
    now = (out.detach() > 0).any(dim=dims).cpu().numpy()
    prev = fired.get(site)
    fired[site] = now if prev is None or prev.shape != now.shape else (prev | now)


class UnitRecorder:
    """Record, per ReLU call site, which channels fire; use as a context manager around forward passes."""

    def __init__(self, model):
        import torch
        import torch.nn.functional as F
        from torch.overrides import TorchFunctionMode

        self._funcs = {F.relu, F.relu6, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_}
        self.model = model
        self._channel_dim = -1 if is_keras_model(model) else 1  # Keras tensors are (N, L, C)
        self._names = {m: (n or "(model)") for n, m in model.named_modules()}
        self._by_name = {n: m for m, n in self._names.items()}
        self._stack: list[str] = []
        self._count: dict[str, int] = {}
        self.fired: dict[str, np.ndarray] = {}
        self._hooks = Hooks()
        recorder = self

        class _Mode(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                if func in recorder._funcs:
                    recorder._record(out)
                return out

        self._mode = _Mode()

    def _record(self, out) -> None:
        if not hasattr(out, "ndim") or out.ndim < 2:
            return
        owner = self._stack[-1] if self._stack else "(model)"
        module_is_relu = type(self._by_name.get(owner)).__name__ in ("ReLU", "ReLU6")
        if module_is_relu:
            site = owner
        else:
            k = self._count.get(owner, 0)
            self._count[owner] = k + 1
            site = f"{owner}:relu#{k + 1}"
        merge_fired(self.fired, site, out, self._channel_dim)

    def __enter__(self):
        root = self.model

        def pre(module, args):
            if module is root:
                self._count = {}
            self._stack.append(self._names.get(module, type(module).__name__))

        def post(module, args, output):
            if self._stack:
                self._stack.pop()

        with Hooks() as hooks:  # all attached and the mode entered, or nothing left behind
            for module in self.model.modules():
                hooks.add(module.register_forward_pre_hook(pre))
                hooks.add(module.register_forward_hook(post))
            self._mode.__enter__()
            self._hooks = hooks.pop_all()
        return self

    def __exit__(self, *exc):
        try:
            self._mode.__exit__(*exc)
        finally:
            self._hooks.remove()
            self._stack = []
        return False

    def activity(self) -> UnitActivity:
        layers = list(self.fired)
        return UnitActivity(layers, [int(f.size) for f in self.fired.values()],
                            [int((~f).sum()) for f in self.fired.values()])
