"""A shape trace of one forward pass, recorded with forward hooks.

Per module call: qualified name, type, input and output shapes, parameter count, and — once
``mark_time_axes`` has compared it with a trace at another input length — which axes carry
time. When the forward pass raises, the trace keeps every call up to the failure, names the
innermost module that was running, the torch operation that raised (``x + residual``,
``torch.cat``) with the shapes it was given, and the user's source line. Hooks are always
removed and ``model.training`` restored in ``finally``.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Any

from ..errors import PACKAGE_DIR, InputError
from .hooks import Hooks
from .ops import FailedOp, LinearPair, OpRecorder

__all__ = ["LayerCall", "Trace", "mark_time_axes", "shape_of", "trace_forward"]


def shape_of(value: Any):
    """Shapes of tensors inside ``value`` (a tensor, or tuples/lists/dicts of them)."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return tuple(int(s) for s in value.shape)
    if isinstance(value, (list, tuple)):
        shapes = [shape_of(v) for v in value]
        shapes = [s for s in shapes if s is not None]
        return shapes[0] if len(shapes) == 1 else (tuple(shapes) if shapes else None)
    if isinstance(value, dict):
        return shape_of(list(value.values()))
    return None


def _simple(shape) -> bool:
    return isinstance(shape, tuple) and all(isinstance(s, int) for s in shape)


@dataclass
class LayerCall:
    name: str
    type: str
    depth: int
    input_shape: Any
    output_shape: Any = None
    params: int = 0
    trainable: int = 0
    is_leaf: bool = True
    failed: bool = False
    config: dict = field(default_factory=dict)
    index: int = 0  # order in which the call started
    end: int = -1  # order in which it finished (-1: it did not finish)
    # axes whose size follows the input length (None: not measured)
    time_axes_in: tuple | None = None
    time_axes_out: tuple | None = None
    input_producer: str | None = None  # the module that shaped this call's input

    @property
    def time_axis(self) -> int | None:
        """The output's single time axis, when measured; (B, C, L) is assumed for 3-D outputs otherwise."""
        shape = self.output_shape
        if not _simple(shape):
            return None
        if self.time_axes_out is not None:
            return self.time_axes_out[0] if len(self.time_axes_out) == 1 else None
        return 2 if len(shape) == 3 else None

    @property
    def length(self) -> int | None:
        """Time steps in the output (None when the output carries no time axis)."""
        axis = self.time_axis
        if axis is None or len(self.output_shape) != 3:
            return None
        return int(self.output_shape[axis])

    @property
    def channels(self) -> int | None:
        shape = self.output_shape
        if not _simple(shape) or len(shape) < 2:
            return None
        if len(shape) == 2:
            return int(shape[1])
        axis = self.time_axis
        if axis in (1, 2) and len(shape) == 3:
            return int(shape[3 - axis])
        return None

    def to_dict(self) -> dict:
        return {"name": self.name, "type": self.type, "depth": self.depth,
                "input_shape": _jsonable(self.input_shape), "output_shape": _jsonable(self.output_shape),
                "params": self.params, "trainable": self.trainable, "leaf": self.is_leaf,
                "failed": self.failed, "config": self.config, "channels": self.channels, "length": self.length,
                "time_axis": list(self.time_axes_out) if self.time_axes_out is not None else None}


def _jsonable(shape):
    if isinstance(shape, tuple):
        return [_jsonable(s) for s in shape]
    return shape


@dataclass
class Trace:
    calls: list[LayerCall]
    input_shape: tuple
    output_shape: Any = None
    error: BaseException | None = None
    error_text: str | None = None
    failing: LayerCall | None = None  # innermost module running when the error was raised
    error_line: str | None = None  # the user's source line that raised, when it is in a forward()
    failed_op: FailedOp | None = None  # the torch operation that raised, with its argument shapes
    output_op: str | None = None  # the last value-changing operation behind the output (softmax, relu…)
    output_producer: str | None = None  # the module that shaped the output
    output_op_module: str | None = None  # the module in which ``output_op`` ran (None: in a forward())
    output_time_axes: tuple | None = None
    dropouts: list = field(default_factory=list)  # every dropout call: op, module, p, training
    linear_pairs: list[LinearPair] = field(default_factory=list)
    time_probe: str | None = None  # how the time axes were measured, or why they were not

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        return {"input_shape": list(self.input_shape), "output_shape": _jsonable(self.output_shape),
                "ok": self.ok, "error": self.error_text,
                "failing_layer": self.failing.name if self.failing else None,
                "failing_type": self.failing.type if self.failing else None,
                "failing_leaf": self.failing.is_leaf if self.failing else None,
                "failed_op": self.failed_op.to_dict() if self.failed_op else None,
                "error_line": self.error_line, "output_op": self.output_op,
                "output_op_module": self.output_op_module,
                "output_time_axis": list(self.output_time_axes) if self.output_time_axes is not None else None,
                "time_probe": self.time_probe,
                "layers": [c.to_dict() for c in self.calls]}


_CONFIG_ATTRS = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
                 "in_features", "out_features", "output_size", "p", "num_features", "embed_dim", "dim",
                 "start_dim", "end_dim", "normalized_shape", "num_heads", "batch_first", "ceil_mode",
                 "input_size", "hidden_size")


def _config(module) -> dict:
    out = {}
    for attr in _CONFIG_ATTRS:
        if hasattr(module, attr):
            value = getattr(module, attr)
            if isinstance(value, (int, float, str, bool)) or (
                    isinstance(value, tuple) and all(isinstance(v, (int, float)) for v in value)):
                out[attr] = list(value) if isinstance(value, tuple) else value
    return out


def _count(module, trainable_only: bool) -> int:
    total = 0
    for p in module.parameters(recurse=False):
        if trainable_only and not p.requires_grad:
            continue
        try:
            total += p.numel()
        except ValueError:  # an uninitialised lazy parameter
            pass
    return total


def trace_forward(model, x) -> Trace:
    """Run ``model(x)`` once under ``no_grad`` in eval mode and record every module call."""
    import torch

    names = {m: n for n, m in model.named_modules()}
    calls: list[LayerCall] = []
    stack: list[LayerCall] = []
    finished = [0]
    recorder = OpRecorder(stack)

    def pre_hook(module, args):
        name = names.get(module, type(module).__name__) or "(model)"
        call = LayerCall(name, type(module).__name__, name.count(".") + (name != "(model)"),
                         shape_of(args), params=_count(module, False), trainable=_count(module, True),
                         is_leaf=not any(True for _ in module.children()), config=_config(module),
                         index=len(calls))
        first = args[0] if args else None
        tag = recorder.tag(first) if first is not None and hasattr(first, "shape") else None
        call.input_producer = tag.producer if tag else None
        if call.is_leaf and call.type in ("Conv1d", "Linear", "Conv2d", "ConvTranspose1d") and first is not None:
            recorder.note_param_input(name, first)
        calls.append(call)
        stack.append(call)

    def post_hook(module, args, output):
        if stack:
            call = stack.pop()
            call.output_shape = shape_of(output)
            call.end = finished[0]
            finished[0] += 1
            try:
                recorder.module_output(call, args, output)
            except Exception:  # noqa: BLE001, S110 — bookkeeping must never break the user's forward pass
                pass

    trace = Trace(calls, tuple(x.shape))
    with Hooks(model) as hooks:  # the hooks come off and the training mode goes back, whatever happens
        try:
            for module in model.modules():
                hooks.add(module.register_forward_pre_hook(pre_hook))
                hooks.add(module.register_forward_hook(post_hook))
            model.eval()
            with torch.no_grad(), recorder:
                out = model(x)
            trace.output_shape = shape_of(out)
            first = out[0] if isinstance(out, (tuple, list)) and out else out
            tag = recorder.tag(first) if hasattr(first, "shape") else None
            if tag is not None:
                trace.output_op, trace.output_producer = tag.value_op, tag.producer
                trace.output_op_module = tag.value_module
        except InputError:  # not the user's forward failing: e.g. no way to tell which output is the logits (exit 2)
            raise
        except Exception as exc:  # noqa: BLE001 — the user's forward may raise anything; the trace keeps it
            trace.error = exc
            trace.error_text = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            if stack:
                stack[-1].failed = True
                trace.failing = stack[-1]
            trace.error_line = _user_line(exc)
            if recorder.failed is not None and recorder.failed.exception is exc:
                trace.failed_op = recorder.failed
                trace.failed_op.exception = None  # do not keep the traceback (and its frames) alive
    trace.dropouts = list(recorder.dropouts)
    trace.linear_pairs = list(dict.fromkeys(recorder.linear_pairs))
    return trace


def mark_time_axes(trace: Trace, probe: Trace, how: str) -> None:
    """Mark, on ``trace``, the axes whose size changed in ``probe`` (the same model at another length).

    Calls are matched in order; matching stops where the two passes diverge (different
    module, or the probe failed earlier).
    """
    matched = 0
    for a, b in zip(trace.calls, probe.calls):
        if a.name != b.name:
            break
        a.time_axes_in = _changed(a.input_shape, b.input_shape)
        if not (b.failed or a.failed):
            a.time_axes_out = _changed(a.output_shape, b.output_shape)
        matched += 1
    if trace.ok and probe.ok:
        trace.output_time_axes = _changed(trace.output_shape, probe.output_shape)
    trace.time_probe = f"{how}; {matched} of {len(trace.calls)} module calls compared"


def _changed(a, b) -> tuple | None:
    if not (_simple(a) and _simple(b)) or len(a) != len(b):
        return None
    return tuple(i for i in range(1, len(a)) if a[i] != b[i])


def _user_line(exc: BaseException) -> str | None:
    """The last source line outside torch that was executing when ``exc`` was raised."""
    import os

    import torch

    ours = (os.path.dirname(torch.__file__), PACKAGE_DIR)
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = os.path.abspath(frame.filename)
        if not path.startswith(ours) and frame.line:
            return f"{frame.line.strip()}  ({os.path.basename(path)}:{frame.lineno})"
    return None
