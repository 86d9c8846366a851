"""A torch-style shape trace of a Keras 3 model, run layer by layer.

Keras layers are not registered as torch submodules, so forward hooks see only the top
model. ``trace_keras`` runs the layers itself — a Sequential in order, a Functional model
(chains and branches alike) through its own graph — and records one ``LayerCall`` per layer
with torch type names and torch config names (the Keras class in ``config["keras_class"]``).
3-D shapes are recorded as torch's ``(N, C, L)`` so the shape checks read time on the last
axis as for torch models, while the model itself is fed ``(N, L, C)``.
"""

from __future__ import annotations

from ..trace.forward import LayerCall, Trace, _user_line, shape_of

__all__ = ["trace_keras", "keras_layer_config"]

_TORCH_TYPE = {"Conv1D": "Conv1d", "MaxPooling1D": "MaxPool1d", "AveragePooling1D": "AvgPool1d",
               "GlobalAveragePooling1D": "AdaptiveAvgPool1d", "GlobalMaxPooling1D": "AdaptiveMaxPool1d",
               "Dense": "Linear", "Flatten": "Flatten", "Dropout": "Dropout", "SpatialDropout1D": "Dropout1d",
               "BatchNormalization": "BatchNorm1d", "LayerNormalization": "LayerNorm", "LSTM": "LSTM",
               "GRU": "GRU", "SimpleRNN": "RNN", "MultiHeadAttention": "MultiheadAttention",
               "Reshape": "Reshape", "Permute": "Permute"}
_ACTIVATION_TYPE = {"relu": "ReLU", "sigmoid": "Sigmoid", "softmax": "Softmax", "tanh": "Tanh", "elu": "ELU",
                    "selu": "SELU", "gelu": "GELU", "silu": "SiLU", "swish": "SiLU", "leaky_relu": "LeakyReLU",
                    "log_softmax": "LogSoftmax", "relu6": "ReLU6", "mish": "Mish"}
_OUTPUT_OPS = {"softmax": "softmax", "sigmoid": "sigmoid", "log_softmax": "log_softmax", "relu": "relu",
               "tanh": "tanh"}


def _ints(value) -> list[int]:
    return [int(v) for v in (value if isinstance(value, (tuple, list)) else (value,))]


def _activation_name(layer) -> str | None:
    act = getattr(layer, "activation", None)
    name = getattr(act, "__name__", None)
    return None if name in (None, "linear") else name


def keras_layer_config(layer, input_shape) -> tuple[str, dict]:
    """(torch type name, torch-style config) of one Keras layer; ``input_shape`` is torch-style."""
    cls = type(layer).__name__
    ttype = _TORCH_TYPE.get(cls, cls)
    channels = (input_shape[1] if len(input_shape) == 3 else input_shape[-1]) \
        if isinstance(input_shape, tuple) and input_shape and isinstance(input_shape[-1], int) else None
    config: dict = {"keras_class": cls}
    if cls == "Conv1D":
        pad = layer.padding
        config.update(in_channels=channels, out_channels=int(layer.filters), kernel_size=_ints(layer.kernel_size),
                      stride=_ints(layer.strides), dilation=_ints(layer.dilation_rate), groups=int(layer.groups),
                      padding="same" if pad == "same" else [0] if pad == "valid" else pad)
    elif cls == "Dense":
        config.update(in_features=channels, out_features=int(layer.units))
    elif cls in ("MaxPooling1D", "AveragePooling1D"):
        config.update(kernel_size=_ints(layer.pool_size), stride=_ints(layer.strides),
                      padding="same" if layer.padding == "same" else [0])
    elif cls in ("GlobalAveragePooling1D", "GlobalMaxPooling1D"):
        config.update(output_size=1)
    elif cls in ("Dropout", "SpatialDropout1D"):
        config.update(p=float(layer.rate))
    elif cls == "BatchNormalization":
        if isinstance(input_shape, tuple) and len(input_shape) >= 2:
            config.update(num_features=int(input_shape[1]))
    elif cls == "Flatten":
        config.update(start_dim=1, end_dim=-1)
    elif cls == "Activation":
        ttype = _ACTIVATION_TYPE.get(_activation_name(layer) or "", "Identity")
    activation = _activation_name(layer)
    if activation is not None and cls != "Activation":
        config["activation"] = activation
    return ttype, config


def _count(layer, trainable_only: bool) -> int:
    weights = getattr(layer, "trainable_weights" if trainable_only else "weights", None) or []
    total = 0
    for w in weights:
        n = 1
        for s in w.shape:
            n *= int(s)
        total += n
    return total


def _ncl(shape):
    """A 3-D Keras shape (N, L, C) as torch's (N, C, L): the shape checks read time on the last axis."""
    if isinstance(shape, tuple) and len(shape) == 3 and all(isinstance(s, int) for s in shape):
        return (shape[0], shape[2], shape[1])
    return shape


def _tensors(value) -> list:
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    return []


class _Recorder:
    """Records each Keras layer call: shapes, torch-style config, and which layer made its input."""

    def __init__(self, calls: list[LayerCall]):
        self.calls = calls
        self.producers: dict[int, str] = {}
        self.finished = 0

    def run(self, layer, fn, args: tuple, kwargs: dict):
        inputs = _tensors((args, kwargs))
        first = inputs[0] if inputs else None
        shape = _ncl(shape_of(first))
        ttype, config = keras_layer_config(layer, shape)
        if len(inputs) > 1:
            config["input_shapes"] = [list(_ncl(shape_of(t))) for t in inputs]
        call = LayerCall(layer.name, ttype, 1, shape, index=len(self.calls), config=config,
                         input_producer=self.producers.get(id(first)) if first is not None else None)
        self.calls.append(call)
        out = fn(*args, **kwargs)
        call.output_shape, call.end = _ncl(shape_of(out)), self.finished
        self.finished += 1
        call.params, call.trainable = _count(layer, False), _count(layer, True)
        for t in _tensors(out):
            self.producers[id(t)] = layer.name
        return out


def _run_sequential(model, x, recorder: _Recorder):
    out = x
    for layer in model.layers:
        out = recorder.run(layer, layer, (out,), {"training": False})
    return out


def _run_functional(model, x, recorder: _Recorder):
    """Run the Functional graph in Keras's own order, recording every operation it calls."""

    def operation_fn(operation):
        def call(*args, **kwargs):
            if "training" in getattr(operation, "_call_context_args", {"training"}):
                kwargs["training"] = False
            return recorder.run(operation, operation, args, kwargs)

        return call

    return model._run_through_graph(x, operation_fn=operation_fn)


def trace_keras(model, x) -> Trace:
    """Run a Keras model on ``x`` layer by layer (no grad, inference mode) and record every layer.

    A subclassed model (its own ``call``) is run whole and recorded as one call; the trace's
    ``time_probe`` says so.
    """
    import keras
    import torch

    calls: list[LayerCall] = []
    trace = Trace(calls, _ncl(tuple(x.shape)))
    recorder = _Recorder(calls)
    try:
        with torch.no_grad():
            if isinstance(model, keras.Sequential):
                out = _run_sequential(model, x, recorder)
            elif hasattr(model, "_run_through_graph") and getattr(model, "inputs", None) is not None:
                out = _run_functional(model, x, recorder)
            else:
                out = recorder.run(model, model, (x,), {"training": False})
                calls[0].name = "(model)"
                trace.time_probe = ("not measured per layer: the Keras model defines its own call(), so it was "
                                    "traced as a whole")
        trace.output_shape = _ncl(shape_of(out))
        producer = recorder.producers.get(id(_tensors(out)[0])) if _tensors(out) else None
        last = next((c for c in reversed(calls) if c.name == producer), calls[-1] if calls else None)
        if last is not None:
            act = last.config.get("activation") or (
                {v: k for k, v in _ACTIVATION_TYPE.items()}.get(last.type) if last.config.get("keras_class") ==
                "Activation" else None)
            trace.output_op = _OUTPUT_OPS.get(act) if act else None
            if trace.output_op is None and last.type in ("Linear", "Conv1d") and not act:
                trace.output_op = last.type.lower()  # straight from a Dense/Conv1D: certainly raw logits
            trace.output_producer = last.name
            trace.output_op_module = last.name if trace.output_op else None
        trace.dropouts = [{"op": "dropout", "module": c.name, "p": c.config["p"], "training": False}
                          for c in calls if "p" in c.config]
    except Exception as exc:  # noqa: BLE001 — the user's model may raise anything; the trace keeps it
        trace.error = exc
        text = str(exc).strip()
        trace.error_text = f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"
        if calls and calls[-1].end < 0:
            calls[-1].failed = True
            trace.failing = calls[-1]
        trace.error_line = _user_line(exc)
    return trace
