"""Keras 3 models, diagnosed through the torch backend.

With ``KERAS_BACKEND=torch`` a Keras model is an ``nn.Module`` whose parameters torch sees, so
the probes train it like any torch model. What differs is handled here: the backend must be
chosen before the user's file imports Keras; the loss and optimizer live in the ``compile()``
call and are mapped to torch equivalents (keeping what the Keras loss expects of the labels);
and a Keras model ignores ``model.train()`` — its layers read a ``training`` argument — so the
fresh models the probes build pass ``training=self.training`` on every call. The layer-by-layer
shape trace is in ``keras.trace``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable

from ..errors import InputError

__all__ = ["INSTALL_HINT", "mentions_keras", "prepare_backend", "is_keras_model", "is_keras_loss", "keras_layers",
           "keras_loss", "keras_optimizer", "keras_lr", "keras_state_ids", "output_layer", "default_loss",
           "keras_factory", "momentum_note", "probe_ready", "train_aware", "KerasLoss"]

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


def is_keras_loss(fn) -> bool:
    """Whether a loss came from a Keras ``compile()`` (findings then say their fixes in Keras terms)."""
    return isinstance(fn, KerasLoss)


def keras_layers(model, *, include_self: bool = False) -> list:
    """Every layer of a Keras model, nested ones included; empty for a torch model."""
    if not is_keras_model(model):
        return []
    return list(model._flatten_layers(include_self=include_self, recursive=True))


def keras_state_ids(model) -> set[int]:
    """ids of the torch parameters that are Keras state, not weights (BatchNorm moving statistics,
    seed-generator states): Keras creates them untrainable by design. Empty for a torch model.

    A weight frozen with ``layer.trainable = False`` is not state: it stays in its layer's
    trainable variables, only its ``trainable`` flag is off.
    """
    if not is_keras_model(model):
        return set()
    designed = {id(v.value) for layer in keras_layers(model, include_self=True)
                for v in getattr(layer, "_trainable_variables", ())}
    return {id(p) for p in model.parameters() if id(p) not in designed}


def output_layer(model):
    """The layer that produces a Sequential or Functional model's output; None for a subclassed model.

    ``model.layers[-1]`` is the last layer *created*, which in a subclassed model need not be the
    one whose output is returned.
    """
    import keras

    if isinstance(model, keras.Sequential):
        return model.layers[-1] if model.layers else None
    outputs = getattr(model, "outputs", None)
    if not outputs or len(outputs) != 1:
        return None
    history = getattr(outputs[0], "_keras_history", None)
    return history[0] if history else None


def default_loss(model):
    """The loss that matches an uncompiled Keras model's last layer, as ``keras_loss`` returns it.

    One output: binary cross-entropy; K outputs: sparse categorical cross-entropy; from_logits
    unless the layer ends in a sigmoid / softmax. An unknown last layer gets the Keras default.
    """
    import keras

    last = output_layer(model)
    act = getattr(getattr(last, "activation", None), "__name__", None)
    if getattr(last, "units", None) == 1:
        return keras_loss(keras.losses.BinaryCrossentropy(from_logits=act != "sigmoid"))
    return keras_loss(keras.losses.SparseCategoricalCrossentropy(from_logits=last is not None and act != "softmax"))


# ---------------------------------------------------------------- compile(): loss


class KerasLoss:
    """A Keras loss as a torch callable ``fn(output, target)``, with the kind the checks read.

    The probes pass integer class ids for every kind but the binary ones; a categorical loss
    given ids one-hot encodes them, so the probes measure the model, not the label format.
    What the Keras loss itself demands of the labels is kept in ``expects`` ("one-hot",
    "indices", "binary", or None), and ``keras_call`` runs the real Keras loss on the labels as
    stored, so a label/loss mismatch is shown with the error Keras would raise in ``fit()``.
    """

    def __init__(self, name: str, kind: str, from_logits: bool, label_smoothing: float = 0.0,
                 fallback: Callable | None = None, regression: Callable | None = None):
        self.name, self.kind, self.from_logits = name, kind, from_logits
        self.label_smoothing = float(label_smoothing or 0.0)
        self._fallback, self._regression = fallback, regression
        self.expects = _EXPECTS.get(name)
        self.__name__ = name

    def __call__(self, output, target):
        import torch
        import torch.nn.functional as F

        if self._fallback is not None:  # a Keras loss object: Keras argument order is (y_true, y_pred)
            return self._fallback(target, output)
        if self._regression is not None:  # Keras gives (N,) targets a trailing axis, then broadcasts
            target = target.to(output.dtype)
            if target.ndim == output.ndim - 1:
                target = target.unsqueeze(-1)
            return self._regression(output, target.expand_as(output))
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

    def keras_call(self, output, target):
        """The real Keras loss on ``target`` as stored (raises what ``fit()`` would raise)."""
        import keras

        classes = {"categorical_crossentropy": keras.losses.CategoricalCrossentropy,
                   "sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
                   "binary_crossentropy": keras.losses.BinaryCrossentropy}
        if self.name not in classes:
            return self(output, target)
        return classes[self.name](from_logits=self.from_logits)(target, output)

    def with_from_logits(self, from_logits: bool) -> "KerasLoss":
        """The same loss compiled with ``from_logits`` set (what the L202 fix changes)."""
        kind = {"cross_entropy": "cross_entropy_probs", "cross_entropy_probs": "cross_entropy",
                "bce": "bce_logits", "bce_logits": "bce"}[self.kind] if from_logits != self.from_logits else self.kind
        return KerasLoss(self.name, kind, from_logits, self.label_smoothing)

    @property
    def shown(self) -> str:
        return self.name + (" (from_logits=True)" if self.from_logits else "")

    def __repr__(self):
        return f"KerasLoss({self.name}, from_logits={self.from_logits})"


_EXPECTS = {"categorical_crossentropy": "one-hot", "sparse_categorical_crossentropy": "indices",
            "binary_crossentropy": "binary"}
_REGRESSION = {"mse": "mse_loss", "mae": "l1_loss", "huber": "huber_loss"}
_CATEGORICAL = ("sparse_categorical_crossentropy", "categorical_crossentropy")
_KNOWN = (*_CATEGORICAL, "binary_crossentropy", *_REGRESSION)


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
        name, config = _canonical(loss), {}
    else:
        getter = getattr(loss, "get_config", None)
        config = getter() if callable(getter) else {}
        by_class = _canonical(type(loss).__name__)  # a user-given name= must not hide what the loss is
        if by_class in _KNOWN:
            name = by_class
        else:
            name = str(config.get("name") or _snake(getattr(loss, "__name__", type(loss).__name__)))
        if name in ("loss_function_wrapper", "lossfunctionwrapper"):
            name = _canonical(getattr(getattr(loss, "fn", None), "__name__", name))
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
        return KerasLoss(name, "regression", False, regression=getattr(F, _REGRESSION[name])), name, "regression"
    if callable(loss) and not isinstance(loss, str):
        return KerasLoss(name, "custom", from_logits, fallback=loss), name, "custom"
    import keras

    if name in ("crossentropy", "ce"):
        raise InputError(f"The Keras model was compiled with loss={loss!r}, which Keras resolves from the label and "
                         "output shapes inside fit(). Name the loss cnndoctor should probe: "
                         "'sparse_categorical_crossentropy' (class ids), 'categorical_crossentropy' (one-hot rows) "
                         "or 'binary_crossentropy' (one sigmoid output).")
    try:
        fallback = keras.losses.get(loss if isinstance(loss, str) else name)
    except (ValueError, TypeError) as exc:
        raise InputError(f"The Keras model was compiled with loss={loss!r}, which Keras cannot resolve ({exc}). "
                         "Compile with a loss Keras knows, e.g. 'sparse_categorical_crossentropy'.") from None
    return KerasLoss(name, "custom", False, fallback=fallback), name, "custom"


# Keras's aliases, and the names its loss classes and functions go by, to one canonical name.
_ALIASES = {"cce": "categorical_crossentropy", "scce": "sparse_categorical_crossentropy",
            "bce": "binary_crossentropy", "mean_squared_error": "mse", "mean_absolute_error": "mae",
            "huber_loss": "huber"}


def _canonical(name: str) -> str:
    snake = _snake(name) if any(c.isupper() for c in name) else name.lower()
    snake = snake.replace("cross_entropy", "crossentropy")
    return _ALIASES.get(snake, snake)


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

    The factory carries compile()'s learning rate; a probe that needs another one scales it
    (``cnndoctor.load.optimizers.build_optimizer``).
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
    """A factory of fresh, seeded, train-aware Keras models: ``clone_model`` for an instance, else ``call()``.

    The Keras seed follows torch's (``Subject.build_model`` seeds torch just before calling).
    Each fresh model passes ``training=self.training`` to Keras, so ``model.train()`` turns on
    Dropout and batch statistics in BatchNormalization as ``fit()`` does, and ``model.eval()``
    gives inference mode. BatchNormalization momentum above ``PROBE_BN_MOMENTUM`` is lowered to
    it: Keras's 0.99 averages over ~100 steps, as long as a whole probe, so eval-mode numbers
    at the end of a probe would still carry a third of the initial statistics — a lag fit()
    outgrows in its first epochs. 0.9 is torch's default (its ``momentum=0.1``).
    """
    import keras

    def fresh():
        import torch

        keras.utils.set_random_seed(int(torch.initial_seed()) % (2 ** 31))
        model = keras.models.clone_model(target) if kind == "instance" else call()
        return probe_ready(model) if is_keras_model(model) else model

    fresh.keras = True
    return fresh


def probe_ready(model):
    """``model`` made train-aware, its BatchNormalization momentum capped at ``PROBE_BN_MOMENTUM``."""
    model.__class__ = train_aware(type(model))
    capped = []
    for layer in keras_layers(model):
        if type(layer).__name__ == "BatchNormalization" and float(layer.momentum) > PROBE_BN_MOMENTUM:
            capped.append((layer.name, float(layer.momentum)))
            layer.momentum = PROBE_BN_MOMENTUM
    model._cnndoctor_capped_momentum = capped
    return model


def momentum_note(subject, *, epochs: int = 10, min_left: float = 0.1) -> str | None:
    """A note when the probes capped Keras BatchNormalization momentum and fit()'s epochs are short.

    After ``epochs`` epochs of ``N / batch_size`` steps a moving average with momentum m still
    holds m ** steps of its initial value (mean 0, variance 1); above ``min_left`` eval-mode
    results in fit() — validation accuracy — lag behind the training accuracy.
    """
    if not getattr(subject.factory, "keras", False):
        return None
    try:
        capped = getattr(subject.build_model(), "_cnndoctor_capped_momentum", [])
    except Exception:  # noqa: BLE001 — a model that cannot be built is A101's finding, not this note's
        return None
    if not capped:
        return None
    momentum = max(m for _, m in capped)
    steps = -(-len(subject.data.X_train) // max(1, subject.batch_size))
    left = momentum ** (epochs * steps)
    if left <= min_left:
        return None
    return (f"Keras BatchNormalization momentum {momentum:g} ({len(capped)} layer(s)) was set to "
            f"{PROBE_BN_MOMENTUM:g} for the probes. With {steps} steps per epoch, fit()'s moving statistics still "
            f"hold {left:.0%} of their initial values after {epochs} epochs, so validation accuracy can sit near "
            "chance while training accuracy climbs; use BatchNormalization(momentum=0.9) when epochs are this short.")


PROBE_BN_MOMENTUM = 0.9
_TRAIN_AWARE: dict[type, type] = {}


def train_aware(cls: type) -> type:
    """A subclass of the Keras model class whose calls default ``training`` to torch's ``self.training``."""
    if getattr(cls, "_cnndoctor_train_aware", False):
        return cls
    if cls not in _TRAIN_AWARE:
        def __call__(self, *args, **kwargs):
            kwargs.setdefault("training", bool(self.training))
            return cls.__call__(self, *args, **kwargs)

        _TRAIN_AWARE[cls] = type(cls.__name__, (cls,), {"__call__": __call__, "__module__": cls.__module__,
                                                       "__qualname__": cls.__qualname__,
                                                       "_cnndoctor_train_aware": True})
    return _TRAIN_AWARE[cls]
