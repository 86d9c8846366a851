"""A shape trace of one forward pass, recorded with forward hooks.

Per module call: qualified name, type, input and output shapes, parameter count. When
the forward pass raises, the trace keeps every call up to the failure and names the
innermost module that was running. Hooks are always removed and ``model.training``
restored in ``finally``.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LayerCall", "Trace", "trace_forward", "shape_of"]


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

    def to_dict(self) -> dict:
        return {"name": self.name, "type": self.type, "depth": self.depth,
                "input_shape": _jsonable(self.input_shape), "output_shape": _jsonable(self.output_shape),
                "params": self.params, "trainable": self.trainable, "leaf": self.is_leaf,
                "failed": self.failed, "config": self.config}


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

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        return {"input_shape": list(self.input_shape), "output_shape": _jsonable(self.output_shape),
                "ok": self.ok, "error": self.error_text,
                "failing_layer": self.failing.name if self.failing else None,
                "layers": [c.to_dict() for c in self.calls]}


_CONFIG_ATTRS = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
                 "in_features", "out_features", "output_size", "p", "num_features", "embed_dim", "dim",
                 "start_dim", "end_dim")


def _config(module) -> dict:
    out = {}
    for attr in _CONFIG_ATTRS:
        if hasattr(module, attr):
            value = getattr(module, attr)
            if isinstance(value, (int, float, str, bool)) or (
                    isinstance(value, tuple) and all(isinstance(v, (int, float)) for v in value)):
                out[attr] = list(value) if isinstance(value, tuple) else value
    return out


def trace_forward(model, x) -> Trace:
    """Run ``model(x)`` once under ``no_grad`` in eval mode and record every module call."""
    import torch

    names = {m: n for n, m in model.named_modules()}
    calls: list[LayerCall] = []
    stack: list[LayerCall] = []
    handles = []

    def pre_hook(module, args):
        name = names.get(module, type(module).__name__) or "(model)"
        params = sum(p.numel() for p in module.parameters(recurse=False))
        trainable = sum(p.numel() for p in module.parameters(recurse=False) if p.requires_grad)
        call = LayerCall(name, type(module).__name__, name.count(".") + (name != "(model)"),
                         shape_of(args), params=params, trainable=trainable,
                         is_leaf=not any(True for _ in module.children()), config=_config(module))
        calls.append(call)
        stack.append(call)

    def post_hook(module, args, output):
        if stack:
            stack.pop().output_shape = shape_of(output)

    was_training = model.training
    trace = Trace(calls, tuple(x.shape))
    try:
        for module in model.modules():
            handles.append(module.register_forward_pre_hook(pre_hook))
            handles.append(module.register_forward_hook(post_hook))
        model.eval()
        with torch.no_grad():
            out = model(x)
        trace.output_shape = shape_of(out)
    except Exception as exc:  # the user's forward may raise anything; the trace keeps it
        trace.error = exc
        trace.error_text = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        if stack:
            stack[-1].failed = True
            trace.failing = stack[-1]
        trace.error_line = _user_line(exc)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return trace


def _user_line(exc: BaseException) -> str | None:
    """The last source line outside torch that was executing when ``exc`` was raised."""
    import os

    import torch

    ours = (os.path.dirname(torch.__file__), os.path.dirname(os.path.abspath(__file__)))
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = os.path.abspath(frame.filename)
        if not path.startswith(ours) and frame.line:
            return f"{frame.line.strip()}  ({os.path.basename(path)}:{frame.lineno})"
    return None
