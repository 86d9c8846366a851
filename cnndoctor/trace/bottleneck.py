"""The narrowest per-sample feature vector on the way from the time axis to the classifier.

After the last feature map that still has a time axis (``receptive_field.head_feature_map``),
every tensor a layer reads up to the last layer with weights is a per-sample feature vector:
global pooling, a flatten, the head's ``Linear`` input. Its width (values per sample) bounds
what the classifier can tell apart. The tensor the output layer writes is not one of them: its
width is the number of outputs. A tensor still carries time when the time-axis probe saw one of
its axes follow the input length (or, unmeasured, when it is 3-D with more than one step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .forward import LayerCall, Trace
from .ops import PARAM_TYPES
from .receptive_field import head_feature_map

__all__ = ["FeatureWidth", "narrowest_features"]


@dataclass(frozen=True)
class FeatureWidth:
    width: int  # values per sample in the narrowest feature vector
    shape: tuple  # that tensor's shape (batch first)
    reader: str  # the layer that reads it
    narrowed_by: str  # the module (or "mean() in (model)": an operation in a forward) that produced it
    narrowed_type: str | None  # that module's type (None: an operation)
    narrowed_from: int | None  # values per sample that layer received (None: unknown)
    feature_map: str | None  # the last layer output that still had a time axis
    path: list = field(default_factory=list)  # [{"layer", "width"}]: every feature vector read, in order


def _simple(shape) -> bool:
    return isinstance(shape, tuple) and len(shape) >= 2 and all(isinstance(s, int) for s in shape)


def _time_free(shape, axes) -> bool:
    if not _simple(shape):
        return False
    if axes is not None:
        return not axes
    return len(shape) == 2 or all(s == 1 for s in shape[2:])


def _width(shape) -> int:
    return int(math.prod(shape[1:]))


def narrowest_features(trace: Trace) -> FeatureWidth | None:
    """The narrowest feature vector read between the last temporal feature map and the output layer."""
    if not trace.ok or trace.output_time_axes:
        return None
    fmap = head_feature_map(trace)
    leaves = sorted((c for c in trace.calls if c.is_leaf and c.end >= 0 and (fmap is None or c.end > fmap.end)),
                    key=lambda c: c.end)
    params = [c for c in leaves if c.type in PARAM_TYPES]
    if not params:
        return None
    last = params[-1]
    readers = [c for c in leaves if c.end <= last.end and _time_free(c.input_shape, c.time_axes_in)]
    if not readers:
        return None
    path = [{"layer": c.name, "width": _width(c.input_shape)} for c in readers]
    reader = min(readers, key=lambda c: (_width(c.input_shape), c.end))
    width = _width(reader.input_shape)
    narrowed = _narrowing_layer(leaves, reader, width)
    if narrowed is not None:
        by, by_type = narrowed.name, narrowed.type
        before = narrowed.input_shape
        source = _width(before) if _simple(before) else None
    else:  # an operation in a forward(): the lineage tag names it
        by, by_type, source = reader.input_producer or "forward()", None, None
    return FeatureWidth(width, tuple(reader.input_shape), reader.name, by, by_type, source,
                        fmap.name if fmap is not None else None, path)


def _narrowing_layer(leaves: list[LayerCall], reader: LayerCall, width: int) -> LayerCall | None:
    """The last module before ``reader`` that turned a wider (or temporal) input into ``width`` values."""
    found = None
    for call in leaves:
        if call.end >= reader.end:
            break
        out, inp = call.output_shape, call.input_shape
        if not (_simple(out) and _time_free(out, call.time_axes_out) and _width(out) == width):
            continue
        if not _simple(inp) or not _time_free(inp, call.time_axes_in) or _width(inp) > width:
            found = call
    return found
