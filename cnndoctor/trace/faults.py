"""Why a forward pass failed, in numbers, and the change that makes it run.

``analyse(trace)`` reads a failed ``Trace`` — the innermost module that was running, the torch
operation that raised with the shapes it was given, the calls that finished before it — and
returns a ``ShapeFault``: what kind of mismatch it is, the numbers behind it, and, where the
change is a module setting (a padding, ``in_features``, ``in_channels``, ``num_features``),
``Patch``es that apply it to a fresh model so the fix can be checked by running the forward
pass again (``apply_patches``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from .forward import LayerCall, Trace

__all__ = ["Patch", "ShapeFault", "analyse", "apply_patches", "attention_block", "length_history", "same_padding"]

_LINEAR_TYPES = ("Linear", "LazyLinear")
_CONV_TYPES = ("Conv1d", "LazyConv1d")
_NORM_TYPES = ("BatchNorm1d", "InstanceNorm1d", "LazyBatchNorm1d", "SyncBatchNorm")
_POOL_TYPES = ("MaxPool1d", "AvgPool1d", "LPPool1d")
_BRANCH_OPS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "cat": "torch.cat", "concat": "torch.cat",
               "stack": "torch.stack", "where": "torch.where", "maximum": "torch.maximum",
               "minimum": "torch.minimum"}
_JOIN_OPS = ("cat", "concat", "stack")


@dataclass(frozen=True)
class Patch:
    """A module setting to change: ``module.attr = value``."""

    module: str
    attr: str
    value: Any

    def describe(self) -> str:
        value = f"'{self.value}'" if isinstance(self.value, str) else self.value
        return f"`{self.module}` {self.attr}={value}"


@dataclass
class ShapeFault:
    kind: str  # branch-length, branch-channels, branch-shape, linear-flatten, linear-time-axis,
    # linear-features, conv-channels, norm-channels, too-short, attention-layout, recurrent-layout, view-size,
    # unknown
    layer: str | None  # innermost module whose forward raised
    layer_type: str | None
    op: str | None  # the torch operation that raised
    error: str | None
    source_line: str | None
    input_shape: Any
    details: dict = field(default_factory=dict)
    patches: list[Patch] = field(default_factory=list)
    after: list[Patch] = field(default_factory=list)  # changes applied before this failure appeared


def same_padding(kernel: int, dilation: int) -> int | str:
    """The padding that keeps a stride-1 convolution's length: an int for odd spans, 'same' otherwise."""
    span = dilation * (kernel - 1)
    return span // 2 if span % 2 == 0 else "same"


def _first(value, default=1) -> int:
    if isinstance(value, (list, tuple)):
        return int(value[0]) if value and isinstance(value[0], (int, float)) else default
    return int(value) if isinstance(value, (int, float)) else default


def _simple(shape) -> bool:
    return isinstance(shape, tuple) and all(isinstance(s, int) for s in shape)


def _in_scope(call: LayerCall, scope: LayerCall | None) -> bool:
    if scope is None or scope.name == "(model)":
        return True
    return call.name.startswith(scope.name + ".")


def length_history(trace: Trace, upto: LayerCall | None = None) -> list[dict]:
    """The time length through every conv/pool leaf that changed it: [{layer, length}, ...]."""
    steps = [{"layer": "input", "length": int(trace.input_shape[-1])}] if len(trace.input_shape) == 3 else []
    for call in trace.calls:
        if upto is not None and call is upto:
            break
        if not call.is_leaf or call.type not in _CONV_TYPES + _POOL_TYPES + ("AdaptiveAvgPool1d", "AdaptiveMaxPool1d"):
            continue
        if _simple(call.input_shape) and _simple(call.output_shape) and len(call.output_shape) == 3:
            if not steps:
                steps.append({"layer": "input", "length": call.input_shape[-1]})
            if call.output_shape[-1] != call.input_shape[-1]:
                steps.append({"layer": call.name, "length": call.output_shape[-1]})
    return steps


def _shrinking_convs(trace: Trace, scope: LayerCall | None) -> list[dict]:
    """Convolutions inside ``scope`` that ran and made the sequence shorter."""
    out, seen = [], set()
    for call in trace.calls:
        if call.name in seen or not call.is_leaf or call.type not in _CONV_TYPES or call.end < 0:
            continue
        if not (_in_scope(call, scope) and _simple(call.input_shape) and _simple(call.output_shape)):
            continue
        if len(call.input_shape) != 3 or call.output_shape[-1] >= call.input_shape[-1]:
            continue
        seen.add(call.name)
        k, d = _first(call.config.get("kernel_size")), _first(call.config.get("dilation"))
        s = _first(call.config.get("stride"))
        pad = call.config.get("padding")
        out.append({"layer": call.name, "kernel": k, "dilation": d, "stride": s,
                    "padding": pad[0] if isinstance(pad, list) and pad else pad,
                    "in_channels": call.config.get("in_channels"), "out_channels": call.config.get("out_channels"),
                    "length_in": call.input_shape[-1], "length_out": call.output_shape[-1],
                    "shrink": call.input_shape[-1] - call.output_shape[-1],
                    "padding_fix": same_padding(k, d) if s == 1 else None})
    return out


def _call_named(trace: Trace, name: str | None) -> LayerCall | None:
    found = None
    for call in trace.calls:
        if call.name == name and call.end >= 0:
            found = call
    return found


def _branches(trace: Trace, call: LayerCall | None, op) -> dict | None:
    shapes = [s for s in op.shapes if len(s) == len(op.shapes[0])]
    if len(shapes) < 2:
        return None
    ndim = len(shapes[0])
    join = op.name in _JOIN_OPS
    skip = (op.dim if op.dim is not None else 0) % ndim if op.name in ("cat", "concat") else None
    axes = [a for a in range(1, ndim) if a != skip and len({s[a] for s in shapes}) > 1
            and (join or not any(s[a] == 1 for s in shapes))]
    if not axes:
        return None
    axis = axes[0]
    time_axis = None
    for producer in op.producers:
        source = _call_named(trace, producer)
        if source is not None and source.time_axis is not None:
            time_axis = source.time_axis
            break
    if time_axis is None and ndim == 3:
        time_axis = 2
    label = _BRANCH_OPS.get(op.name, op.name)
    branches = [{"from": producer or "the input", "shape": list(shape), "size": int(shape[axis])}
                for shape, producer in zip(op.shapes, op.producers) if len(shape) == ndim]
    details = {"operation": label, "axis": axis, "branches": branches}
    if axis == time_axis:
        convs = _shrinking_convs(trace, call)
        patches = [Patch(c["layer"], "padding", c["padding_fix"]) for c in convs if c["padding_fix"] is not None]
        details.update(convs=convs, input_length=int(trace.input_shape[-1]) if len(trace.input_shape) == 3 else None)
        return {"kind": "branch-length", "details": details, "patches": patches}
    if ndim == 3 and axis == 3 - (time_axis or 2):
        return {"kind": "branch-channels", "details": details, "patches": []}
    return {"kind": "branch-shape", "details": details, "patches": []}


def _source_3d(trace: Trace, call: LayerCall, features: int) -> LayerCall | None:
    """The (B, C, L) output that was flattened into ``features`` before ``call``."""
    named = _call_named(trace, call.input_producer)
    candidates = ([named] if named is not None else []) + [
        c for c in sorted(trace.calls, key=lambda c: -c.end) if c.end >= 0 and c.index < call.index]
    for c in candidates:
        shape = c.output_shape
        if _simple(shape) and len(shape) == 3 and shape[1] * shape[2] == features:
            return c
    return None


_ATTENTION_WORDS = ("attention", "attn", "transformer", "encoder", "mha")
_PROJECTION_NAMES = {"q", "k", "v", "query", "key", "value", "qkv", "to_q", "to_k", "to_v", "q_proj", "k_proj",
                     "v_proj", "in_proj", "w_q", "w_k", "w_v", "wq", "wk", "wv"}


def attention_block(trace: Trace, call: LayerCall) -> str | None:
    """The block a Linear belongs to when that block is an attention block: its type says so, the
    Linear is named like a query/key/value projection, or sibling Linears read the same tensor."""
    if "." not in call.name:
        return None
    parent, own = call.name.rsplit(".", 1)
    parent_call = _call_named_any(trace, parent)
    if parent_call is not None and any(w in parent_call.type.lower() for w in _ATTENTION_WORDS):
        return parent
    if own.lower() in _PROJECTION_NAMES:
        return parent
    parallel = [c for c in trace.calls if c.type in _LINEAR_TYPES and c.name.rsplit(".", 1)[0] == parent
                and c.name != call.name and c.input_producer == call.input_producer
                and c.input_shape == call.input_shape]
    return parent if parallel else None


def _call_named_any(trace: Trace, name: str) -> LayerCall | None:
    return next((c for c in trace.calls if c.name == name), None)


def _linear(trace: Trace, call: LayerCall) -> dict | None:
    expected = call.config.get("in_features")
    shape = call.input_shape
    if not _simple(shape) or not shape or not isinstance(expected, int) or shape[-1] == expected:
        return None
    got = shape[-1]
    if len(shape) == 2:
        src = _source_3d(trace, call, got)
        if src is not None:
            c, length = src.output_shape[1], src.output_shape[2]
            return {"kind": "linear-flatten", "patches": [Patch(call.name, "in_features", got)],
                    "details": {"expected": expected, "got": got, "channels": c, "steps": length,
                                "source": src.name, "pooled_matches": c == expected,
                                "out_features": call.config.get("out_features")}}
        return {"kind": "linear-features", "patches": [Patch(call.name, "in_features", got)],
                "details": {"expected": expected, "got": got}}
    if len(shape) == 3:
        if call.time_axes_in is not None:  # measured by the pass at another length
            along_time = 2 in call.time_axes_in
        else:  # (B, C, L) straight from a conv/pool, or the channels are what it expects
            along_time = shape[1] == expected or _producer_is_conv(trace, call)
        if along_time:
            block = attention_block(trace, call)
            return {"kind": "linear-time-axis", "patches": [],
                    "details": {"expected": expected, "got": got, "channels": shape[1], "steps": shape[2],
                                "block": block, "channels_match": shape[1] == expected}}
    return {"kind": "linear-features", "patches": [Patch(call.name, "in_features", got)] if len(shape) == 2 else [],
            "details": {"expected": expected, "got": got}}


def _producer_is_conv(trace: Trace, call: LayerCall) -> bool:
    src = _call_named(trace, call.input_producer)
    return src is not None and src.type in _CONV_TYPES + _POOL_TYPES and src.output_shape == call.input_shape


def _conv(trace: Trace, call: LayerCall) -> dict | None:
    shape = call.input_shape
    expected = call.config.get("in_channels")
    if not _simple(shape) or len(shape) != 3 or not isinstance(expected, int):
        return None
    got = shape[1]
    earlier = [c for c in trace.calls if c.is_leaf and c.index < call.index and
               ("in_channels" in c.config or "in_features" in c.config or "num_features" in c.config)]
    if got != expected:
        return {"kind": "conv-channels", "patches": [Patch(call.name, "in_channels", got)],
                "details": {"expected": expected, "got": got, "first_layer": not earlier,
                            "swapped": shape[2] == expected, "source": call.input_producer}}
    k, d = _first(call.config.get("kernel_size")), _first(call.config.get("dilation"))
    pad = call.config.get("padding")
    p = pad[0] if isinstance(pad, list) and pad and isinstance(pad[0], int) else 0
    span = d * (k - 1) + 1
    if shape[2] + 2 * p < span:
        return {"kind": "too-short", "patches": [],
                "details": {"kernel": k, "dilation": d, "padding": p, "span": span, "length": shape[2],
                            "history": length_history(trace, call)}}
    return None


def _pool(trace: Trace, call: LayerCall) -> dict | None:
    shape = call.input_shape
    if not _simple(shape) or len(shape) != 3:
        return None
    k = _first(call.config.get("kernel_size"))
    p = _first(call.config.get("padding"), 0)
    if shape[2] + 2 * p >= k:
        return None
    return {"kind": "too-short", "patches": [],
            "details": {"kernel": k, "dilation": 1, "padding": p, "span": k, "length": shape[2],
                        "history": length_history(trace, call)}}


def _norm(call: LayerCall) -> dict | None:
    shape = call.input_shape
    expected = call.config.get("num_features")
    if not _simple(shape) or len(shape) < 2 or not isinstance(expected, int) or shape[1] == expected:
        return None
    return {"kind": "norm-channels", "patches": [Patch(call.name, "num_features", shape[1])],
            "details": {"expected": expected, "got": shape[1]}}


def _channels_first(call: LayerCall, features: str) -> dict | None:
    """The details when a sequence layer that reads (B, L, C) — its ``features`` per step — receives the
    convolutions' (B, C, L) instead: the channels sit on axis 1 and the last axis is time. None otherwise."""
    shape = call.input_shape
    if isinstance(shape, tuple) and shape and isinstance(shape[0], tuple):
        shape = shape[0]
    expected = call.config.get(features)
    if not _simple(shape) or len(shape) != 3 or not isinstance(expected, int) or shape[-1] == expected:
        return None
    if shape[1] != expected:
        return None
    return {"expected": expected, "got": shape[2], "channels": shape[1], "steps": shape[2], "block": call.name}


def _attention(call: LayerCall) -> dict | None:
    details = _channels_first(call, "embed_dim")
    return None if details is None else {"kind": "linear-time-axis", "patches": [],
                                         "details": {**details, "channels_match": True}}


_RECURRENT_TYPES = ("LSTM", "GRU", "RNN")


def _recurrent(call: LayerCall) -> dict | None:
    """An LSTM/GRU/RNN fed the convolutions' (B, C, L): it reads the last axis (the L steps) as input_size."""
    details = _channels_first(call, "input_size")
    return None if details is None else {
        "kind": "recurrent-layout", "patches": [],
        "details": {**details, "batch_first": bool(call.config.get("batch_first", False))}}


def _view(trace: Trace, op) -> dict | None:
    if not op.shapes or not _simple(op.shapes[0]):
        return None
    shape = op.shapes[0]
    per_sample = math.prod(shape[1:]) if len(shape) > 1 else None
    target = next((s for s in op.scalars if isinstance(s, list)), [s for s in op.scalars if isinstance(s, int)])
    return {"kind": "view-size", "patches": [],
            "details": {"input": list(shape), "target": target, "per_sample": per_sample,
                        "channels": shape[1] if len(shape) == 3 else None,
                        "steps": shape[2] if len(shape) == 3 else None}}


_BROADCAST = re.compile(r"size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\) at "
                        r"non-singleton dimension (\d+)")
_JOIN = re.compile(r"Expected size (\d+) but got size (\d+) for tensor number (\d+)")


def _origin(trace: Trace, call: LayerCall) -> LayerCall:
    """Walk back through shape-preserving leaves (activations, dropout, norms) to the call that shaped it."""
    while call.is_leaf and call.input_shape == call.output_shape and call.type not in _CONV_TYPES + _LINEAR_TYPES:
        before = [c for c in trace.calls if 0 <= c.end < call.end and c.is_leaf and c.output_shape == call.input_shape]
        if not before:
            break
        call = max(before, key=lambda c: c.end)
    return call


def _op_from_message(trace: Trace, call: LayerCall | None):
    """When the operation that raised was not recorded: its sizes from the error message, and the
    branches from the last finished calls inside the failing module whose outputs have those sizes."""
    from .ops import FailedOp

    text = str(trace.error or trace.error_text or "")
    found = _BROADCAST.search(text)
    name, dim = "add", None
    if found:
        sizes, dim = [int(found.group(1)), int(found.group(2))], int(found.group(3))
    else:
        found = _JOIN.search(text)
        if not found:
            return None
        sizes, name = [int(found.group(1)), int(found.group(2))], "cat"
    done = [c for c in trace.calls if c.end >= 0 and _in_scope(c, call) and _simple(c.output_shape)
            and c is not call]
    shapes, producers = [], []
    for size in sizes:
        axis = dim if dim is not None else -1
        matches = [c for c in done if len(c.output_shape) > abs(axis) and c.output_shape[axis] == size]
        if not matches:
            return None
        source = _origin(trace, max(matches, key=lambda c: c.end))
        shapes.append(tuple(source.output_shape))
        producers.append(source.name)
    return FailedOp(name, call.name if call else None, shapes, producers, 1 if name == "cat" else None)


def analyse(trace: Trace) -> ShapeFault:
    """The mismatch behind a failed trace, with its numbers and (where possible) patches."""
    call, op = trace.failing, trace.failed_op
    if op is None and call is not None and not call.is_leaf:
        op = _op_from_message(trace, call)
    base = {"layer": call.name if call else None, "layer_type": call.type if call else None,
            "op": op.name if op else None, "error": trace.error_text, "source_line": trace.error_line,
            "input_shape": call.input_shape if call else None}
    found = None
    if op is not None and op.name in _BRANCH_OPS and len(op.shapes) >= 2:
        found = _branches(trace, call, op)
    if found is None and call is not None and call.type == "MultiheadAttention":
        found = _attention(call)
    if found is None and call is not None and call.type in _RECURRENT_TYPES:
        found = _recurrent(call)
    if found is None and call is not None and call.is_leaf:
        if call.type in _LINEAR_TYPES:
            found = _linear(trace, call)
        elif "in_channels" in call.config:
            found = _conv(trace, call)
        elif call.type in _NORM_TYPES:
            found = _norm(call)
        elif call.type in _POOL_TYPES:
            found = _pool(trace, call)
    if found is None and op is not None and op.name in ("view", "reshape"):
        found = _view(trace, op)
    if found is None:
        found = {"kind": "unknown", "details": {}, "patches": []}
    if op is not None:
        found["details"].setdefault("op_shapes", [list(s) for s in op.shapes])
    return ShapeFault(**base, kind=found["kind"], details=found["details"], patches=found["patches"])


def apply_patches(model, patches: list[Patch]) -> None:
    """Apply module-setting changes to ``model`` in place (fresh weights where a shape changes)."""
    import torch

    modules = dict(model.named_modules())
    for patch in patches:
        module = modules[patch.module]
        if patch.attr == "padding":
            module.padding = patch.value if isinstance(patch.value, str) else (int(patch.value),)
            if hasattr(module, "_reversed_padding_repeated_twice") and not isinstance(patch.value, str):
                module._reversed_padding_repeated_twice = [int(patch.value)] * 2
        elif patch.attr == "in_features":
            module.in_features = int(patch.value)
            module.weight = torch.nn.Parameter(module.weight.new_empty(module.out_features, int(patch.value)))
            module.reset_parameters()
        elif patch.attr == "in_channels":
            module.in_channels = int(patch.value)
            shape = (module.out_channels, int(patch.value) // module.groups, *module.kernel_size)
            module.weight = torch.nn.Parameter(module.weight.new_empty(shape))
            module.reset_parameters()
        elif patch.attr == "num_features":
            n = int(patch.value)
            module.num_features = n
            if module.affine:
                module.weight = torch.nn.Parameter(module.weight.new_ones(n))
                module.bias = torch.nn.Parameter(module.bias.new_zeros(n))
            if module.track_running_stats:
                module.running_mean = module.running_mean.new_zeros(n)
                module.running_var = module.running_var.new_ones(n)
        else:
            raise ValueError(f"unknown patch {patch}")
