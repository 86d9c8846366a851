"""Keras 3 models, diagnosed through the torch backend.

With ``KERAS_BACKEND=torch`` a Keras model is an ``nn.Module`` whose parameters torch sees, so
the probes train it like any torch model. Three things differ and are handled here: the backend
must be chosen before the user's file imports Keras; the loss and optimizer live in the
``compile()`` call and are mapped to torch equivalents; and Keras layers are not registered as
torch submodules, so forward hooks see only the top model — ``trace_keras`` runs the layers one
by one instead and records torch-style ``LayerCall``s (torch type names, torch config names, the
Keras class in ``config["keras_class"]``), 3-D shapes are recorded as torch's
``(N, C, L)`` so the shape checks read time on the last axis as for torch models (the model is fed ``(N, L, C)``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable

from .errors import InputError
from .trace import LayerCall, Trace, _user_line, shape_of

__all__ = ["INSTALL_HINT", "mentions_keras", "prepare_backend", "is_keras_model", "keras_loss", "keras_optimizer",
           "keras_lr", "keras_factory", "trace_keras", "KerasLoss"]

INSTALL_HINT = 'pip install "cnndoctor[keras]"'
_IMPORT_RE = re.compile(r"^\s*(?:from\s+(?:tensorflow\s*\.\s*)?keras\b|import\s+(?:tensorflow\s*\.\s*)?keras\b"
                        r"|from\s+tensorflow\s+import\s+keras\b)", re.MULTILINE)


def mentions_keras(path: str | Path) -> bool:
    """Whether a model file imports Keras (read as text: the file is not imported yet)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return bool(_IMPORT_RE.search(text))


def prepare_backend(path: str | Path | None = None) -> bool:
    """Make the next ``import keras`` use the torch backend; True when ``path`` (if given) uses Keras.

    Raises ``InputError`` when Keras is missing, or already imported / configured with another backend.
    """
    if path is not None and not mentions_keras(path):
        return False
    where = f"{path} imports Keras, but " if path is not None else ""
    if "keras" in sys.modules:
        backend = _loaded_backend()
        if backend not in (None, "torch"):
            raise InputError(f"{where}Keras was already imported with the {backend!r} backend in this process. "
                             "cnndoctor diagnoses Keras models through the torch backend: run it in a fresh process "
                             "with KERAS_BACKEND=torch (or unset).")
        return True
    chosen = os.environ.get("KERAS_BACKEND")
    if chosen and chosen != "torch":
        raise InputError(f"{where}KERAS_BACKEND={chosen}. cnndoctor diagnoses Keras 3 models through the torch "
                         "backend; unset KERAS_BACKEND or set KERAS_BACKEND=torch and retry.")
    if importlib.util.find_spec("keras") is None:
        raise InputError(f"{where}Keras is not installed. Install it with `{INSTALL_HINT}` (Keras 3, run on the "
                         "torch backend) and retry.")
    os.environ["KERAS_BACKEND"] = "torch"
    return True


def _loaded_backend() -> str | None:
    try:
        return sys.modules["keras"].backend.backend()
    except Exception:  # noqa: BLE001 — a half-imported or Keras 2 module
        return None


def is_keras_model(obj) -> bool:
    """A ``keras.Model`` instance (never imports Keras when the user's code did not)."""
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(obj, getattr(keras, "Model", ()))


# ---------------------------------------------------------------- compile(): loss


class KerasLoss:
    """A Keras loss as a torch callable ``fn(output, target)``, with the kind the checks read.

    The probes pass integer class ids for every kind but the binary ones; a categorical loss
    given ids one-hot encodes them, as Keras would need the user to.
    """

    def __init__(self, name: str, kind: str, from_logits: bool, label_smoothing: float = 0.0,
                 fallback: Callable | None = None):
        self.name, self.kind, self.from_logits = name, kind, from_logits
        self.label_smoothing = float(label_smoothing or 0.0)
        self._fallback = fallback
        self.__name__ = name

    def __call__(self, output, target):
        import torch
        import torch.nn.functional as F

        if self._fallback is not None:  # a Keras loss object: Keras argument order is (y_true, y_pred)
            return self._fallback(target, output)
        if self.kind in ("cross_entropy", "cross_entropy_probs"):
            if target.ndim == output.ndim and target.is_floating_point():
                soft = target
            else:
                soft = F.one_hot(target.long().reshape(-1), output.shape[-1]).to(output.dtype)
            if self.label_smoothing:
                soft = soft * (1 - self.label_smoothing) + self.label_smoothing / output.shape[-1]
            if self.from_logits:
                logp = torch.log_softmax(output, dim=-1)
            else:  # Keras renormalises probabilities and clips them at epsilon = 1e-7
                p = output / output.sum(dim=-1, keepdim=True)
                logp = torch.log(p.clamp(1e-7, 1 - 1e-7))
            return -(soft * logp).sum(dim=-1).mean()
        target = target.to(output.dtype).reshape(output.shape)
        if self.label_smoothing:
            target = target * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
        if self.kind == "bce_logits":
            return F.binary_cross_entropy_with_logits(output, target)
        return F.binary_cross_entropy(output.clamp(1e-7, 1 - 1e-7), target)

    def __repr__(self):
        return f"KerasLoss({self.name}, from_logits={self.from_logits})"


_REGRESSION = {"mean_squared_error": "mse_loss", "mse": "mse_loss", "mean_absolute_error": "l1_loss",
               "mae": "l1_loss", "huber": "huber_loss", "huber_loss": "huber_loss"}
_CATEGORICAL = ("sparse_categorical_crossentropy", "categorical_crossentropy")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def keras_loss(loss) -> tuple[Any, str, str] | None:
    """``(torch callable, display name, kind)`` for a ``compile()`` loss; None when none was compiled.

    Kinds are those of ``LossInfo``, plus ``cross_entropy_probs``: categorical cross-entropy on
    probabilities (Keras's default ``from_logits=False``), which expects a softmax output.
    """
    import torch.nn.functional as F

    if loss is None:
        return None
    if isinstance(loss, (list, tuple, dict)):
        raise InputError("The Keras model was compiled with several losses (one per output); cnndoctor "
                         "diagnoses single-output classifiers. Compile it with one loss.")
    if isinstance(loss, str):
        name, config = loss.lower(), {}
    else:
        getter = getattr(loss, "get_config", None)
        config = getter() if callable(getter) else {}
        name = str(config.get("name") or _snake(getattr(loss, "__name__", type(loss).__name__)))
        if name in ("loss_function_wrapper", "lossfunctionwrapper"):
            name = _snake(getattr(getattr(loss, "fn", None), "__name__", name))
    from_logits = bool(config.get("from_logits", False))
    smoothing = config.get("label_smoothing", 0.0)
    shown = name + (" (from_logits=True)" if from_logits else "")
    if name in _CATEGORICAL:
        kind = "cross_entropy" if from_logits else "cross_entropy_probs"
        return KerasLoss(name, kind, from_logits, smoothing), shown, kind
    if name == "binary_crossentropy":
        kind = "bce_logits" if from_logits else "bce"
        return KerasLoss(name, kind, from_logits, smoothing), shown, kind
    if name in _REGRESSION:
        fn = getattr(F, _REGRESSION[name])
        return (lambda output, target: fn(output, target.to(output.dtype).reshape(output.shape))), name, "regression"
    if callable(loss) and not isinstance(loss, str):
        return KerasLoss(name, "custom", from_logits, fallback=loss), name, "custom"
    import keras

    return KerasLoss(name, "custom", False, fallback=keras.losses.get(name)), name, "custom"


# ---------------------------------------------------------------- compile(): optimizer


def keras_lr(optimizer) -> float | None:
    """The compiled optimizer's learning rate (None for a schedule or no optimizer)."""
    if optimizer is None:
        return None
    try:
        return float(optimizer.learning_rate)
    except (TypeError, ValueError, AttributeError):
        return None


def keras_optimizer(optimizer) -> Callable | None:
    """A factory ``make(params) -> torch.optim.Optimizer`` with the Keras optimizer's hyperparameters.

    The learning rate is set by the caller (``Subject.make_optimizer`` overwrites it per group).
    """
    import torch

    if optimizer is None:
        return None
    if isinstance(optimizer, str):
        import keras

        optimizer = keras.optimizers.get(optimizer)
    config = optimizer.get_config()
    name = type(optimizer).__name__.lower()
    lr = keras_lr(optimizer) or 1e-3
    eps = float(config.get("epsilon") or 1e-7)
    wd = float(config.get("weight_decay") or 0.0)
    if name == "sgd":
        cls, kw = torch.optim.SGD, {"momentum": float(config.get("momentum", 0.0)),
                                    "nesterov": bool(config.get("nesterov", False)), "weight_decay": wd}
    elif name in ("adam", "adamw"):
        cls = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
        kw = {"betas": (float(config.get("beta_1", 0.9)), float(config.get("beta_2", 0.999))), "eps": eps,
              "amsgrad": bool(config.get("amsgrad", False)), "weight_decay": wd}
    elif name == "rmsprop":
        cls, kw = torch.optim.RMSprop, {"alpha": float(config.get("rho", 0.9)), "eps": eps,
                                        "momentum": float(config.get("momentum", 0.0)),
                                        "centered": bool(config.get("centered", False)), "weight_decay": wd}
    elif name == "adagrad":
        cls, kw = torch.optim.Adagrad, {"eps": eps, "weight_decay": wd,
                                        "initial_accumulator_value": float(config.get("initial_accumulator_value",
                                                                                      0.1))}
    elif name in ("adamax", "nadam"):
        cls = torch.optim.Adamax if name == "adamax" else torch.optim.NAdam
        kw = {"betas": (float(config.get("beta_1", 0.9)), float(config.get("beta_2", 0.999))), "eps": eps,
              "weight_decay": wd}
    else:
        raise InputError(f"The Keras model was compiled with optimizer {type(optimizer).__name__}, which cnndoctor "
                         "cannot map to torch (it knows SGD, Adam, AdamW, RMSprop, Adagrad, Adamax, Nadam). "
                         "Compile with one of these, or define make_optimizer(params) in the model file.")

    def make(params):
        return cls(list(params), lr=lr, **kw)

    make.__name__ = f"keras_{name}"
    return make


# ---------------------------------------------------------------- fresh weights


def keras_factory(target, kind: str, call: Callable[[], Any] | None = None) -> Callable[[], Any]:
    """A factory of fresh, seeded Keras models: ``clone_model`` for an instance, else ``call()``.

    The Keras seed follows torch's (``Subject.build_model`` seeds torch just before calling).
    """
    import keras

    def seeded():
        import torch

        keras.utils.set_random_seed(int(torch.initial_seed()) % (2 ** 31))

    if kind == "instance":
        def factory():
            seeded()
            return keras.models.clone_model(target)
    else:
        def factory():
            seeded()
            return call()
    return factory


# ---------------------------------------------------------------- layer-by-layer trace


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


def _keras_config(layer, input_shape) -> tuple[str, dict]:
    """(torch type name, torch-style config) of one Keras layer."""
    cls = type(layer).__name__
    ttype = _TORCH_TYPE.get(cls, cls)
    channels = (input_shape[1] if len(input_shape) == 3 else input_shape[-1]) \
        if isinstance(input_shape, tuple) and input_shape else None
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
    weights = layer.trainable_weights if trainable_only else layer.weights
    total = 0
    for w in weights:
        n = 1
        for s in w.shape:
            n *= int(s)
        total += n
    return total


def _chain(model) -> list | None:
    """The model's layers in call order when they form one chain (Sequential, or a plain Functional)."""
    import keras

    if isinstance(model, keras.Sequential):
        return list(model.layers)
    layers = [layer for layer in getattr(model, "layers", []) if type(layer).__name__ != "InputLayer"]
    if not layers or len(getattr(model, "inputs", None) or []) != 1:
        return None
    previous = model.inputs[0]
    for layer in layers:
        nodes = [n for n in getattr(layer, "_inbound_nodes", [])]
        if len(nodes) != 1 or len(nodes[0].input_tensors) != 1 or nodes[0].input_tensors[0] is not previous:
            return None
        previous = nodes[0].output_tensors[0]
    return layers


def _ncl(shape):
    """A 3-D Keras shape (N, L, C) as torch's (N, C, L): the shape checks read time on the last axis."""
    if isinstance(shape, tuple) and len(shape) == 3 and all(isinstance(s, int) for s in shape):
        return (shape[0], shape[2], shape[1])
    return shape


def trace_keras(model, x) -> Trace:
    """Run a Keras model on ``x`` layer by layer (no grad, inference mode) and record every layer.

    A model whose layers do not form one chain (branches, shared layers, subclassed ``call``)
    is run whole and recorded as one call; the trace's ``time_probe`` says so.
    """
    import torch

    calls: list[LayerCall] = []
    trace = Trace(calls, _ncl(tuple(x.shape)))
    layers = _chain(model)
    try:
        with torch.no_grad():
            if layers is None:
                call = LayerCall("(model)", type(model).__name__, 0, tuple(x.shape), params=_count(model, False),
                                 trainable=_count(model, True), is_leaf=True, config={"keras_class":
                                                                                      type(model).__name__})
                calls.append(call)
                out = model(x, training=False)
                call.output_shape, call.end = shape_of(out), 0
                trace.time_probe = ("not measured per layer: the Keras model's layers do not form one chain, so it "
                                    "was traced as a whole")
            else:
                out = x
                for i, layer in enumerate(layers):
                    shape = _ncl(shape_of(out))
                    ttype, config = _keras_config(layer, shape)
                    call = LayerCall(layer.name, ttype, 1, shape, index=i, config=config,
                                     input_producer=calls[-1].name if calls else None)
                    calls.append(call)
                    out = layer(out, training=False)
                    call.output_shape, call.end = _ncl(shape_of(out)), i
                    call.params, call.trainable = _count(layer, False), _count(layer, True)
        trace.output_shape = _ncl(shape_of(out))
        if calls:
            last = calls[-1]
            act = last.config.get("activation") or (
                {v: k for k, v in _ACTIVATION_TYPE.items()}.get(last.type) if last.config.get("keras_class") ==
                "Activation" else None)
            trace.output_op = _OUTPUT_OPS.get(act) if act else None
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
