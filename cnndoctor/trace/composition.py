"""What two linear layers with nothing nonlinear between them cost, against the one map they compose to.

A conv (or linear) layer followed, through reshapes, sums, batch norm or average pooling only, by
another is one linear map. Writing it as two is a waste when the pair has at least as many
parameters as that single map, and a deliberate factorisation when it has fewer: a depthwise
conv and its pointwise conv, an EEGNet temporal conv and its depthwise spatial conv, a 1×1
bottleneck before a wider conv all restrict the single map to a cheaper family.

The single map of two convolutions is a convolution from the first one's input channels to the
second one's output channels. Its kernel spans, per spatial axis, what the two kernels span
together, ``(k1 − 1)·d1 + (k2 − 1)·d2·s1 + 1`` (a stride of the first conv spreads the second's
taps on the input grid), and it connects an output channel to an input channel wherever a path
through the two layers' channel groups does. A conv whose feature map is pooled over time and
read by a ``Linear`` composes to a conv with the first kernel; one that is flattened into the
``Linear`` composes to a dense layer on the flattened input. A pair this module cannot size
(functional convolutions, lazy layers before they are built, other combinations) gets ``None``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .forward import LayerCall, Trace
from .ops import LinearPair

__all__ = ["PairCost", "composed_params", "pair_costs"]

_CONVS = ("Conv1d", "Conv2d", "LazyConv1d")
_LINEARS = ("Linear", "LazyLinear")


@dataclass(frozen=True)
class PairCost:
    """Two linear layers with only linear operations between them, and what they cost."""

    first: str
    second: str
    between: tuple  # the operations found between them (all linear)
    params: int | None  # the two layers' parameters (weights and biases); None: not both are modules
    composed_params: int | None  # parameters of the single map they compose to; None: not sized

    def to_dict(self) -> dict:
        return {"first": self.first, "second": self.second, "between": list(self.between),
                "params": self.params, "composed_params": self.composed_params}


def _ints(value) -> list[int]:
    if isinstance(value, (list, tuple)):
        return [int(v) for v in value]
    return [int(value)] if isinstance(value, (int, float)) else []


def _per_axis(value, n: int) -> list[int]:
    """A stride or dilation as one value per spatial axis (torch stores ``(2,)`` or ``(1, 2)``; absent is 1)."""
    values = _ints(value) or [1]
    return values if len(values) == n else values[:1] * n


def _connections(out_ch: int, in_ch: int, groups: int) -> np.ndarray:
    """Which input channels each output channel reads (block diagonal for grouped convolutions)."""
    if groups <= 1 or out_ch % groups or in_ch % groups:
        return np.ones((out_ch, in_ch), dtype=np.int64)
    return np.kron(np.eye(groups, dtype=np.int64), np.ones((out_ch // groups, in_ch // groups), dtype=np.int64))


def _conv_weights(call: LayerCall) -> int:
    c = call.config
    groups = int(c.get("groups", 1) or 1)
    return int(c["out_channels"]) * (int(c["in_channels"]) // groups) * math.prod(_ints(c.get("kernel_size", 1)))


def _has_bias(first: LayerCall, second: LayerCall, weights: int) -> bool:
    return first.params + second.params > weights


def _conv_conv(a: LayerCall, b: LayerCall) -> int | None:
    ca, cb = a.config, b.config
    if a.type[-2:] != b.type[-2:] or int(cb.get("in_channels", -1)) != int(ca.get("out_channels", -2)):
        return None
    ka, kb = _ints(ca.get("kernel_size")), _ints(cb.get("kernel_size"))
    if not ka or len(ka) != len(kb):
        return None
    da, db, sa = _per_axis(ca.get("dilation"), len(ka)), _per_axis(cb.get("dilation"), len(kb)), \
        _per_axis(ca.get("stride"), len(ka))
    span = math.prod((k1 - 1) * d1 + (k2 - 1) * d2 * s1 + 1 for k1, d1, s1, k2, d2 in zip(ka, da, sa, kb, db))
    paths = (_connections(int(cb["out_channels"]), int(cb["in_channels"]), int(cb.get("groups", 1) or 1))
             @ _connections(int(ca["out_channels"]), int(ca["in_channels"]), int(ca.get("groups", 1) or 1)))
    weights = int(np.count_nonzero(paths)) * span
    bias = int(cb["out_channels"]) if _has_bias(a, b, _conv_weights(a) + _conv_weights(b)) else 0
    return weights + bias


def _conv_linear(a: LayerCall, b: LayerCall) -> int | None:
    ca, cb = a.config, b.config
    width, out = int(cb.get("in_features", 0)), int(cb.get("out_features", 0))
    if not width or not out:
        return None
    own = _conv_weights(a) + width * out
    bias = out if _has_bias(a, b, own) else 0
    if width == int(ca["out_channels"]):  # pooled over time: a conv with the first kernel, to `out` channels
        paths = np.ones((out, width), dtype=np.int64) @ _connections(
            int(ca["out_channels"]), int(ca["in_channels"]), int(ca.get("groups", 1) or 1))
        return int(np.count_nonzero(paths)) * math.prod(_ints(ca.get("kernel_size"))) + bias
    if isinstance(a.output_shape, tuple) and isinstance(a.input_shape, tuple) and \
            width == math.prod(a.output_shape[1:]):  # flattened: a dense layer on the flattened input
        return math.prod(a.input_shape[1:]) * out + bias
    return None


def _linear_linear(a: LayerCall, b: LayerCall) -> int | None:
    ca, cb = a.config, b.config
    n_in, n_out = int(ca.get("in_features", 0)), int(cb.get("out_features", 0))
    if not n_in or not n_out or int(cb.get("in_features", -1)) != int(ca.get("out_features", -2)):
        return None
    own = n_in * int(ca["out_features"]) + int(cb["in_features"]) * n_out
    return n_in * n_out + (n_out if _has_bias(a, b, own) else 0)


def composed_params(first: LayerCall, second: LayerCall) -> int | None:
    """Parameters of the single linear map ``first`` then ``second`` make; None when it cannot be sized."""
    try:
        if first.type in _CONVS and second.type in _CONVS:
            return _conv_conv(first, second)
        if first.type in _CONVS and second.type in _LINEARS:
            return _conv_linear(first, second)
        if first.type in _LINEARS and second.type in _LINEARS:
            return _linear_linear(first, second)
    except (KeyError, TypeError, ValueError):  # a config this module does not read: not sized
        return None
    return None


def pair_costs(trace: Trace, pairs: list[LinearPair]) -> list[PairCost]:
    """Each pair of stacked linear layers, with its parameter count and its single map's."""
    calls: dict[str, LayerCall] = {}
    for call in trace.calls:
        calls.setdefault(call.name, call)
    out = []
    for p in pairs:
        a, b = calls.get(p.first), calls.get(p.second)
        if a is None or b is None or not (a.is_leaf and b.is_leaf):
            out.append(PairCost(p.first, p.second, tuple(p.between), None, None))
            continue
        out.append(PairCost(p.first, p.second, tuple(p.between), a.params + b.params, composed_params(a, b)))
    return out
