"""The receptive field at the head: how many input samples one unit of the last temporal
feature map sees.

The feature map is the last module output that still has a time axis (longer than one step)
before the head removes it. For a plain chain of convolutions and pools the receptive field
is computed exactly from kernel size, stride and dilation (padding does not change it):
``rf += (kernel - 1) * dilation * jump; jump *= stride``. A model that runs ``Conv2d`` over an
``(N, 1, C, T)`` view of the series (braindecode's ShallowFBCSPNet, EEGNet) is read the same way
along the time axis the second pass at another length found: a temporal kernel ``(1, k)`` adds
``k - 1``, a spatial kernel ``(C, 1)`` nothing. For anything else (branches,
residual additions, attention, functional code in ``forward``) it is measured: the gradient
of one position of the feature map with respect to the input, on a few real samples, is
non-zero exactly on the input samples that position depends on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .forward import LayerCall, Trace
from .hooks import Hooks

__all__ = [
    "ReceptiveField",
    "analytic_receptive_field",
    "gradient_receptive_field",
    "head_feature_map",
    "head_kind",
    "temporal_length",
]

_CONV_TYPES = ("Conv1d", "LazyConv1d", "Conv2d", "LazyConv2d")
_POOL_TYPES = ("MaxPool1d", "AvgPool1d", "LPPool1d", "MaxPool2d", "AvgPool2d", "LPPool2d")
# Leaf modules that keep the length and the alignment of the time axis.
_PASS_TYPES = ("ReLU", "LeakyReLU", "ELU", "GELU", "SELU", "SiLU", "Mish", "Tanh", "Sigmoid", "PReLU", "ReLU6",
               "Hardswish", "Softplus", "BatchNorm1d", "InstanceNorm1d", "GroupNorm", "Dropout", "Dropout1d",
               "AlphaDropout", "Identity", "LazyBatchNorm1d", "BatchNorm2d", "LazyBatchNorm2d", "InstanceNorm2d",
               "Dropout2d")


_SEQUENCE_TYPES = ("LSTM", "GRU", "RNN", "MultiheadAttention", "TransformerEncoder", "TransformerEncoderLayer",
                   "Transformer", "TransformerDecoder", "TransformerDecoderLayer")


def _simple(shape) -> bool:
    return isinstance(shape, tuple) and all(isinstance(s, int) for s in shape)


@dataclass
class ReceptiveField:
    size: int  # input samples seen by one unit of the feature map
    method: str  # "analytic" or "input gradient"
    layer: str  # the feature map it is measured at
    layer_length: int  # time steps of that feature map
    input_length: int
    head: str  # how time is removed: "global pooling", "flatten", "sequence model", "sequence output", "unknown"
    stack: list = field(default_factory=list)  # analytic: per conv/pool layer, its kernel, stride, rf after

    @property
    def fraction(self) -> float:
        return min(self.size, self.input_length) / self.input_length

    def to_dict(self) -> dict:
        return {"size": self.size, "method": self.method, "layer": self.layer, "layer_length": self.layer_length,
                "input_length": self.input_length, "fraction": self.fraction, "head": self.head,
                "stack": self.stack}


def _int(value, default=1, index: int = 0) -> int:
    if isinstance(value, (list, tuple)):
        return int(value[index]) if len(value) > index else default
    return int(value) if isinstance(value, (int, float)) else default


def _kernel_index(call: LayerCall) -> int | None:
    """Which entry of the kernel/stride/dilation tuples runs along time: 0 for 1-D layers; for 2-D layers the
    measured time axis of the (B, C, H, W) input (H: 0, W: 1); None when it is not known."""
    if not call.type.endswith("2d"):
        return 0
    axes = call.time_axes_in
    if axes is None or len(axes) != 1 or axes[0] not in (2, 3):
        return None
    return axes[0] - 2


def _ordered(trace: Trace) -> list[LayerCall]:
    """Calls in the order their forward finished (a block finishes after its children)."""
    done = [c for c in trace.calls if c.end >= 0]
    return sorted(done, key=lambda c: c.end)


def temporal_length(call: LayerCall) -> int | None:
    """Time steps of ``call``'s output: (B, C, L), or a 4-D output of a Conv2d-style model whose one time
    axis was measured by the pass at another length; None otherwise."""
    shape = call.output_shape
    if not _simple(shape):
        return None
    if len(shape) == 3:
        return call.length
    if len(shape) == 4 and call.time_axes_out is not None and len(call.time_axes_out) == 1:
        return int(shape[call.time_axes_out[0]])
    return None


def head_feature_map(trace: Trace) -> LayerCall | None:
    """The last finished call whose output still carries a time axis longer than one step."""
    best = None
    for call in _ordered(trace):
        if call.name == "(model)":
            continue
        length = temporal_length(call)
        if length is not None and length > 1:
            best = call
    return best


def head_kind(trace: Trace, feature_map: LayerCall) -> str:
    """How the head removes the time axis after ``feature_map``."""
    if trace.output_time_axes:
        return "sequence output"
    later = sorted((c for c in _ordered(trace) if c.end > feature_map.end and c.name != "(model)"),
                   key=lambda c: c.index)
    for call in later:  # a recurrent or attention layer reads the whole sequence after the feature map
        reads_sequence = isinstance(call.input_shape, tuple) and len(call.input_shape) == 3
        if call.type in _SEQUENCE_TYPES or (reads_sequence and not _simple(call.output_shape)):
            return "sequence model"
    for call in later:
        shape = call.input_shape
        if isinstance(shape, tuple) and len(shape) == 2 and all(isinstance(s, int) for s in shape):
            if call.time_axes_in is None:
                c, length = feature_map.channels, feature_map.length
                if c and length and shape[1] == c * length:
                    return "flatten"
                return "global pooling" if c and shape[1] == c else "unknown"
            return "flatten" if call.time_axes_in else "global pooling"
    return "global pooling" if trace.output_shape and isinstance(trace.output_shape, tuple) and \
        len(trace.output_shape) == 2 else "unknown"


def analytic_receptive_field(trace: Trace, feature_map: LayerCall) -> tuple[int, list] | None:
    """(size, per-layer stack) for a plain chain of leaf modules up to ``feature_map``; None otherwise."""
    leaves = [c for c in _ordered(trace) if c.is_leaf and c.end <= feature_map.end]
    rf, jump, stack, previous = 1, 1, [], None
    for call in leaves:
        if previous is not None and call.input_shape != previous.output_shape:
            return None  # a branch, or functional code that reshapes between modules
        if call.type in _CONV_TYPES or call.type in _POOL_TYPES:
            i = _kernel_index(call)
            if i is None:
                return None  # a 2-D layer whose time axis was not measured
            k = _int(call.config.get("kernel_size"), index=i)
            s = _int(call.config.get("stride"), k if call.type in _POOL_TYPES else 1, index=i)
            d = _int(call.config.get("dilation"), 1, index=i)
            rf += (k - 1) * d * jump
            jump *= s
            stack.append({"layer": call.name, "kernel": k, "stride": s, "dilation": d, "rf": rf})
        elif call.type not in _PASS_TYPES:
            return None
        previous = call
    if previous is not feature_map and (feature_map.is_leaf or previous is None
                                        or previous.output_shape != feature_map.output_shape):
        return None
    return rf, stack


def gradient_receptive_field(build_model, x, time_axis: int, feature_map: LayerCall,
                              occurrence: int) -> int | None:
    """Input samples that change the centre position of ``feature_map`` (its ``occurrence``-th call).

    ``x`` is a small batch of real samples as fed, with time on ``time_axis``. Several samples
    are used together because max-pooling and ReLU route gradient through only some inputs
    per sample.
    """
    import torch

    model = build_model()
    hooks = Hooks(model)  # remembers the training mode, given back when the hooked forward is done
    model.eval()
    captured = {}
    target = dict(model.named_modules()).get(feature_map.name)
    if target is None:
        return None
    seen = [0]

    def hook(module, args, output):
        seen[0] += 1
        if seen[0] == occurrence:
            captured["out"] = output

    with hooks:
        hooks.add(target.register_forward_hook(hook))
        inp = x.detach().clone().float().requires_grad_(True)
        with torch.enable_grad():
            model(inp)
            out = captured.get("out")
            if out is None or not hasattr(out, "shape"):
                return None
            axis = feature_map.time_axis
            if axis is None:
                return None
            centre = out.shape[axis] // 2
            picked = out.select(axis, centre)
            weights = torch.randn(picked.shape[1:], generator=torch.Generator().manual_seed(0)).to(picked.device)
            (picked * weights).sum().backward()
        grad = inp.grad.detach().abs().cpu().numpy()
    profile = grad.sum(axis=tuple(i for i in range(grad.ndim) if i != time_axis))
    if profile.max() <= 0:
        return None
    hits = np.flatnonzero(profile > profile.max() * 1e-6)
    return int(hits[-1] - hits[0] + 1)
