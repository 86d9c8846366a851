"""Facts about runs the user's own loop would meet and the short probes do not: the one-sample last
batch of an epoch (the probes merge it into the previous batch), training at the same settings on other
seeds, and softmax calls over an axis of size 1.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ..context import fact
from ..errors import FactUnavailable
from ..probes.data import first_output
from ..probes.train import ProbeRun, error_text, train_probe
from ..trace.hooks import Hooks
from ..trace.ops import op_name
from .probes import training_cap

__all__ = ["BatchOfOne", "OtherSeeds", "SoftmaxAxes", "BATCHNORM_ONE_SAMPLE"]

# What torch's batch_norm raises in train mode when a channel has a single value (one sample, and one
# step or no time axis): measured with BatchNorm1d on (1, C) and (1, C, 1), BatchNorm2d on (1, C, 1, 1),
# LazyBatchNorm1d, SyncBatchNorm and F.batch_norm; BatchNorm1d on (1, C, L > 1) trains without error.
BATCHNORM_ONE_SAMPLE = "Expected more than 1 value per channel when training"


def _torch_model(ctx):
    import torch

    try:
        model = ctx.subject.build_model()
    except Exception as exc:  # noqa: BLE001 — a Keras model, or one that does not build: nothing to run here
        raise FactUnavailable(f"the model could not be built as a torch module ({type(exc).__name__})") from None
    if not isinstance(model, torch.nn.Module):
        raise FactUnavailable("the model is not a torch nn.Module")
    return model


def _pop(stack: list) -> None:
    """Leave a module on a hook stack; returns None, so a forward hook keeps the module's output as it is."""
    if stack:
        stack.pop()


@dataclass(frozen=True)
class BatchOfOne:
    """The last batch of the user's epoch, and what a train-mode forward pass does on one sample."""

    n_train: int  # samples per epoch in the user's loop
    batch_size: int
    last_batch: int  # samples in the last batch of an epoch (batch_size when it divides n_train)
    drop_last: bool
    batchnorm: list  # BatchNorm modules (batch statistics in train mode), in module order
    ran: bool  # a batch of one was run through a fresh model in train mode
    error: str | None = None  # what that forward pass raised (only errors raised by batch norm are kept)
    module: str | None = None  # the BatchNorm module that raised (None: a functional batch_norm call)
    module_type: str | None = None
    input_shape: tuple | None = None  # the input that module received


@fact
def batch_of_one(ctx) -> BatchOfOne:
    """Whether the user's loop ends each epoch with a one-sample batch that a BatchNorm cannot train on.

    The forward pass on one sample runs only when the last batch holds one sample, the loop does not
    drop it, and the model has a BatchNorm layer.
    """
    import torch
    from torch.nn.modules.batchnorm import _BatchNorm

    subject = ctx.subject
    if subject.epoch_samples is None and ctx.data.split_by_cnndoctor:
        raise FactUnavailable("no test split was given, so cnndoctor split the data 80/20 itself and cannot tell "
                              "how many samples an epoch of your own loop holds")
    n = int(subject.epoch_samples or ctx.data.n_train_rows)
    bs = int(subject.batch_size)
    last = n % bs or bs
    model = _torch_model(ctx)
    norms = [(name, m) for name, m in model.named_modules() if isinstance(m, _BatchNorm)]
    out = {"n_train": n, "batch_size": bs, "last_batch": last, "drop_last": bool(subject.drop_last),
           "batchnorm": [name for name, _ in norms]}
    if not norms or last != 1 or subject.drop_last or n <= bs:
        return BatchOfOne(**out, ran=False)
    data = ctx.probe_data  # raises FactUnavailable when the data cannot be fed at all
    running: list = []
    error = None
    with Hooks() as hooks:
        for name, m in norms:
            hooks.add(m.register_forward_pre_hook(
                lambda mod, args, name=name: running.append((name, type(mod).__name__,
                                                              tuple(args[0].shape) if args else None))))
            hooks.add(m.register_forward_hook(lambda mod, args, output: _pop(running)))
        try:
            model.train()
            with torch.no_grad():
                first_output(model(data.inputs("train", np.array([0]))))
        except Exception as exc:  # noqa: BLE001 — the failure is the measurement
            error = error_text(exc)
    if error is None or BATCHNORM_ONE_SAMPLE not in error:
        return BatchOfOne(**out, ran=True)  # a batch of one trains (e.g. BatchNorm1d on (1, C, L > 1))
    module, kind, shape = running[-1] if running else (None, None, None)
    return BatchOfOne(**out, ran=True, error=error, module=module, module_type=kind, input_shape=shape)


class OtherSeeds:
    """Training probes at the user's settings on other seeds (``subject.seed + k``: other initial weights,
    batch order and dropout), run only when a check asks for one and kept, so each seed trains at most
    once per diagnosis."""

    def __init__(self, ctx):
        self._ctx = ctx
        self._runs: dict[int, ProbeRun] = {}
        self.base_seed = int(ctx.subject.seed)

    def seed(self, offset: int) -> int:
        return self.base_seed + offset

    def run(self, offset: int) -> ProbeRun:
        if offset not in self._runs:
            ctx = self._ctx
            b = ctx.probe_budget
            cap = training_cap(ctx)
            seed = self.seed(offset)
            if ctx.progress is not None:
                ctx.progress(f"training probe on seed {seed}")
            subject = dataclasses.replace(ctx.subject, seed=seed)
            self._runs[offset] = train_probe(ctx.probe_data, subject, steps=b.train_steps, seed=seed,
                                             eval_samples=b.eval_samples, curve_points=b.curve_points,
                                             seconds=cap, runtime=ctx.probe_runtime,
                                             label=f"training probe (seed {seed})")
            ctx.timings[f"other_seed_probes.seed_{seed}.seconds"] = float(self._runs[offset].seconds)
        return self._runs[offset]

    @property
    def ran(self) -> dict[int, ProbeRun]:
        return dict(self._runs)


@fact
def other_seed_probes(ctx) -> OtherSeeds:
    """The training probe on other seeds, trained lazily (T201 asks near the divergence point)."""
    if not ctx.has("probe_data"):
        raise FactUnavailable("the data cannot be fed to the model, so no training probe can run")
    return OtherSeeds(ctx)


@dataclass(frozen=True)
class SoftmaxAxes:
    """Every softmax / log-softmax of one forward pass, with the size of the axis it normalises."""

    calls: list  # [{"op", "module", "dim", "axis_size", "shape"}] in call order
    output_constant: bool  # the model's outputs are identical for every sample of the batch
    output_sample: list = field(default_factory=list)  # the first sample's outputs (at most 8 values)
    n_samples: int = 0

    @property
    def singleton(self) -> list:
        return [c for c in self.calls if c["axis_size"] == 1]


def _softmax_dim(x, dim) -> int:
    """torch's rule for a softmax called without ``dim`` (``_get_softmax_dim``)."""
    if dim is not None:
        return int(dim)
    return 0 if x.dim() in (0, 1, 3) else 1


@fact
def softmax_axes(ctx) -> SoftmaxAxes:
    """The softmax/log-softmax calls of a forward pass on a few training samples (modules and functional calls
    alike), and whether the outputs differ between samples."""
    import torch
    from torch.overrides import TorchFunctionMode

    data = ctx.probe_data
    model = _torch_model(ctx)
    stack: list[str] = []
    calls: list[dict] = []

    class Recorder(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            name = op_name(func)
            if name in ("softmax", "log_softmax") and args and isinstance(args[0], torch.Tensor):
                x = args[0]
                given = kwargs.get("dim", args[1] if len(args) > 1 and isinstance(args[1], int) else None)
                dim = _softmax_dim(x, given)
                size = int(x.shape[dim]) if x.dim() else 1
                calls.append({"op": name, "module": stack[-1] if stack else None, "dim": dim,
                              "dim_given": given is not None, "axis_size": size, "shape": list(x.shape)})
            return func(*args, **kwargs)

    n = min(4, data.n_train)
    with Hooks() as hooks:
        for name, m in model.named_modules():
            hooks.add(m.register_forward_pre_hook(lambda mod, args, name=name: stack.append(name or "(model)")))
            hooks.add(m.register_forward_hook(lambda mod, args, output: _pop(stack)))
        try:
            model.eval()
            with torch.no_grad(), Recorder():
                out = first_output(model(data.inputs("train", np.arange(n))))
        except Exception as exc:  # noqa: BLE001 — A101 reports a failing forward pass
            raise FactUnavailable(f"the forward pass fails ({type(exc).__name__}: {exc})") from exc
    values = out.detach().float().cpu().reshape(len(out), -1).numpy()
    constant = bool(len(values) > 1 and np.isfinite(values).all() and np.ptp(values, axis=0).max() == 0)
    return SoftmaxAxes(calls, constant, [float(v) for v in values[0][:8]], len(values))
