"""What happens between the modules: the torch operations of one forward pass.

Module hooks see ``self.conv3(x)`` but not ``x + residual``, ``torch.cat(...)``,
``F.relu(x)`` or ``x.softmax(1)`` written in a ``forward``. A ``TorchFunctionMode``
sees every one of them. During a traced forward pass this recorder keeps, per tensor,
a small lineage tag (the module that last shaped it, the last operation that changed its
values, the last linear layer it came from and whether a nonlinearity followed), and
records the operation that raised, dropout calls, and pairs of linear layers with no
nonlinearity between them. Tags are keyed by ``id`` and checked through weak references,
so no activation is kept alive.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field, replace
from typing import Any

from torch.overrides import TorchFunctionMode

__all__ = ["PARAM_TYPES", "FailedOp", "LinearPair", "OpRecorder", "Tag", "op_name"]

# Modules whose weights make a linear map of their input.
PARAM_TYPES = ("Conv1d", "Conv2d", "ConvTranspose1d", "Linear", "LazyLinear", "LazyConv1d", "Bilinear")
_PARAM_OPS = {"linear", "conv1d", "conv2d", "conv_transpose1d"}
# Operations that only move values around: they keep a tensor's values.
_SHAPE_OPS = {"view", "reshape", "flatten", "unflatten", "transpose", "permute", "contiguous", "squeeze",
              "unsqueeze", "getitem", "to", "clone", "detach", "expand", "expand_as", "narrow", "select",
              "movedim", "swapaxes", "t", "float", "type", "type_as", "view_as", "reshape_as", "chunk",
              "split", "unbind", "cpu", "cuda"}
# Operations that are linear in their (single) tensor input, or sum branches.
_LINEAR_OPS = _SHAPE_OPS | {"add", "sub", "neg", "cat", "concat", "stack", "batch_norm", "instance_norm",
                            "group_norm", "avg_pool1d", "adaptive_avg_pool1d", "mean", "sum", "dropout",
                            "alpha_dropout", "feature_alpha_dropout", "dropout1d", "pad", "roll", "flip",
                            "interpolate", "upsample", "identity"}
_SCALING_OPS = {"mul", "div"}  # linear when one side is a constant or a parameter
_DROPOUT_OPS = {"dropout", "dropout1d", "alpha_dropout", "feature_alpha_dropout"}
_RENAME = {"iadd": "add", "radd": "add", "isub": "sub", "rsub": "sub", "imul": "mul", "rmul": "mul",
           "truediv": "div", "itruediv": "div", "rtruediv": "div", "div": "div", "rmatmul": "matmul",
           "concatenate": "cat", "true_divide": "div", "multiply": "mul", "subtract": "sub"}


def op_name(func) -> str:
    """``Tensor.__add__`` → add, ``torch.relu_`` → relu, ``F.softmax`` → softmax."""
    name = getattr(func, "__name__", None) or type(func).__name__
    name = name.strip("_")
    if name.endswith("_") and len(name) > 1:
        name = name[:-1]
    return _RENAME.get(name, name)


@dataclass(frozen=True)
class Tag:
    """The lineage of one tensor."""

    producer: str  # the module (or "op()") that last changed this tensor's shape
    value_op: str | None  # the last operation that changed its values (shape moves excluded)
    value_module: str | None  # the module running when ``value_op`` was applied
    last_param: str | None  # the last linear layer in its lineage
    nonlinear: bool  # a nonlinearity was applied after ``last_param``
    ops_since: tuple = ()  # operations applied since ``last_param`` (at most 8 kept)


@dataclass
class FailedOp:
    """The torch operation that raised, with what it was given."""

    name: str
    module: str | None  # innermost module running when it raised
    shapes: list  # shapes of the tensor arguments, in order (lists/tuples of tensors flattened)
    producers: list  # the module that shaped each tensor argument (None when unknown)
    dim: int | None = None
    scalars: list = field(default_factory=list)  # non-tensor positional arguments (view sizes, ...)
    exception: Any = None

    def to_dict(self) -> dict:
        return {"op": self.name, "module": self.module, "shapes": [list(s) for s in self.shapes],
                "producers": list(self.producers), "dim": self.dim}


@dataclass(frozen=True)
class LinearPair:
    first: str
    second: str
    between: tuple  # the operations found between them (all linear)


def _is_tensor(value) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype") and hasattr(value, "grad_fn")


def _tensors(args) -> list:
    out = []
    for a in args:
        if _is_tensor(a):
            out.append(a)
        elif isinstance(a, (list, tuple)):
            out.extend(t for t in a if _is_tensor(t))
    return out


class OpRecorder(TorchFunctionMode):
    """Records lineage tags, the failing operation, dropouts and stacked linear layers."""

    def __init__(self, module_stack: list):
        super().__init__()
        self.stack = module_stack  # the LayerCalls currently running (innermost last)
        self._tags: dict[int, tuple[Any, Tag]] = {}
        self.failed: FailedOp | None = None
        self.dropouts: list[dict] = []
        self.linear_pairs: list[LinearPair] = []

    # lineage -------------------------------------------------------------------------
    def tag(self, tensor) -> Tag | None:
        entry = self._tags.get(id(tensor))
        if entry is None:
            return None
        ref, tag = entry
        return tag if ref() is tensor else None

    def set_tag(self, tensor, tag: Tag) -> None:
        try:
            self._tags[id(tensor)] = (weakref.ref(tensor), tag)
        except TypeError:  # not weak-referenceable
            pass

    def _current(self):
        return self.stack[-1] if self.stack else None

    def _in_param_module(self) -> bool:
        call = self._current()
        return call is not None and call.is_leaf and call.type in PARAM_TYPES

    def note_param_input(self, name: str, tensor) -> None:
        """A linear layer ``name`` reads ``tensor``: record it when no nonlinearity came between."""
        tag = self.tag(tensor)
        if tag is not None and tag.last_param and not tag.nonlinear and tag.last_param != name:
            self.linear_pairs.append(LinearPair(tag.last_param, name, tag.ops_since))

    def module_output(self, call, args, output) -> None:
        """Called after a module's forward: its output gets the module's name where it matters."""
        outs = [output] if _is_tensor(output) else _tensors(output if isinstance(output, (list, tuple)) else ())
        ins = _tensors(args)
        src = self.tag(ins[0]) if ins else None
        for out in outs:
            current = self.tag(out)
            if call.is_leaf and call.type in PARAM_TYPES:
                self.set_tag(out, Tag(call.name, call.type, call.name, call.name, False))
            elif call.is_leaf:
                base = current or src or Tag(call.name, None, None, None, True)
                same = bool(ins) and tuple(out.shape) == tuple(ins[0].shape)
                self.set_tag(out, base if same else replace(base, producer=call.name))
            elif current is None and src is not None:
                self.set_tag(out, src)

    # the mode ------------------------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        try:
            result = func(*args, **kwargs)
        except Exception as exc:
            self._record_failure(func, args, kwargs, exc)
            raise
        try:
            self._after(func, args, kwargs, result)
        except Exception:  # noqa: BLE001, S110 — bookkeeping must never break the user's forward pass
            pass
        return result

    def _record_failure(self, func, args, kwargs, exc) -> None:
        tensors = _tensors(args) + _tensors(kwargs.values())
        tags = [self.tag(t) for t in tensors]
        dim = kwargs.get("dim")
        scalars = [a for a in args if isinstance(a, (int, float)) and not isinstance(a, bool)]
        for a in args:
            if isinstance(a, (list, tuple)) and a and all(isinstance(v, int) for v in a):
                scalars.append(list(a))
        if dim is None and op_name(func) in ("cat", "stack", "concat") and len(args) > 1 and isinstance(args[1], int):
            dim = args[1]
        current = self._current()
        self.failed = FailedOp(op_name(func), current.name if current else None,
                               [tuple(int(s) for s in t.shape) for t in tensors],
                               [t.producer if t else None for t in tags], dim, scalars, exc)

    def _after(self, func, args, kwargs, result) -> None:
        name = op_name(func)
        outs = [result] if _is_tensor(result) else (
            [r for r in result if _is_tensor(r)] if isinstance(result, tuple) else [])
        if not outs:
            return
        tensors = _tensors(args)
        tags = [t for t in (self.tag(x) for x in tensors) if t is not None]
        src = tags[0] if tags else None
        current = self._current()
        where = current.name if current is not None else None
        if name in _DROPOUT_OPS:
            p = kwargs.get("p", args[1] if len(args) > 1 and isinstance(args[1], (int, float)) else 0.5)
            training = kwargs.get("training", args[2] if len(args) > 2 and isinstance(args[2], bool) else True)
            self.dropouts.append({"op": name, "module": where, "p": float(p), "training": bool(training),
                                  "on_input": src is None, "ndim": tensors[0].dim() if tensors else None})
        if name in _PARAM_OPS:
            if not self._in_param_module():
                label = f"{name}() in {where}" if where else f"{name}()"
                if tensors:
                    self.note_param_input(label, tensors[0])
                tag = Tag(label, name, where, label, False)
            else:
                tag = Tag(where, name, where, where, False)
        elif src is None:
            tag = Tag(f"{name}()", name, where, None, True)
        else:
            linear = name in _LINEAR_OPS or (name in _SCALING_OPS and self._scaling_is_linear(args))
            if name in ("add", "sub", "cat", "stack", "concat") and len(tags) > 1:
                nonlinear = any(t.nonlinear for t in tags)  # a branch that passed a nonlinearity
            else:
                nonlinear = src.nonlinear or not linear
            ops = (src.ops_since + (name,))[-8:]
            same_shape = bool(tensors) and tuple(outs[0].shape) == tuple(tensors[0].shape)
            producer = src.producer if (same_shape or name in _SHAPE_OPS) else (
                f"{name}() in {where}" if where else f"{name}()")
            shape_only = name in _SHAPE_OPS
            tag = Tag(producer, src.value_op if shape_only else name, src.value_module if shape_only else where,
                      src.last_param, nonlinear, ops)
        for out in outs:
            self.set_tag(out, tag)

    @staticmethod
    def _scaling_is_linear(args) -> bool:
        import torch

        tensors = _tensors(args)
        if len(tensors) < 2:
            return True
        return any(isinstance(t, torch.nn.Parameter) or t.numel() == 1 for t in tensors[1:])
