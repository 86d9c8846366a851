"""The subject of a diagnosis: a model factory, the data, and the user's training settings.

The factory always builds fresh, seeded weights; a module handed in is deep-copied first,
so the user's own object and weights are never touched.
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .errors import InputError
from .labels import Labels, encode_labels
from .load_data import Data
from .load_model import fill_arguments

__all__ = ["Subject", "make_subject", "resolve_device", "DEFAULT_LR", "DEFAULT_BATCH_SIZE"]

DEFAULT_LR = 1e-3
DEFAULT_BATCH_SIZE = 32


@dataclass
class Subject:
    factory: Callable[[], Any]
    data: Data
    labels: Labels
    model_name: str
    loss_fn: Any = None  # None: chosen from the head (CrossEntropyLoss or BCEWithLogitsLoss)
    optimizer: Any = None  # None: Adam
    lr: float = DEFAULT_LR
    batch_size: int = DEFAULT_BATCH_SIZE
    preprocess: Callable | None = None
    train_step: Callable | None = None
    device: str = "cpu"
    seed: int = 0
    layout: str = "auto"
    settings_source: dict[str, str] = field(default_factory=dict)
    model_arguments: dict[str, Any] = field(default_factory=dict)

    def build_model(self):
        """A fresh model with seeded initial weights, on the subject's device."""
        import torch

        torch.manual_seed(self.seed)
        model = self.factory()
        if not isinstance(model, torch.nn.Module):
            raise InputError(f"{self.model_name} returned a {type(model).__name__}, not a torch nn.Module.")
        return model.to(self.device)

    def make_optimizer(self, params, lr: float | None = None):
        """The user's optimizer (or Adam) over ``params`` at ``lr`` (default: the subject's lr)."""
        import torch

        lr = self.lr if lr is None else lr
        params = list(params)
        opt = self.optimizer
        if opt is None:
            return torch.optim.Adam(params, lr=lr)
        if isinstance(opt, torch.optim.Optimizer):  # a module-level instance bound to another model
            return type(opt)(params, **{**opt.defaults, "lr": lr})
        if inspect.isclass(opt) and issubclass(opt, torch.optim.Optimizer):
            return opt(params, lr=lr)
        made = opt(params)
        if not isinstance(made, torch.optim.Optimizer):
            raise InputError(f"make_optimizer/optimizer returned {type(made).__name__}, not a torch optimizer.")
        for group in made.param_groups:
            group["lr"] = lr
        return made


def resolve_device(device: str | None) -> str:
    import torch

    device = (device or "auto").lower()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {device} was asked for, but torch sees no CUDA device on this machine. "
                         "Use --device cpu or --device auto.")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise InputError(f"Unknown device {device!r}; use auto, cpu or cuda.")
    return device


def _channels_and_length(X: np.ndarray, layout: str) -> tuple[int, int]:
    """Channel count and length for filling constructor arguments (the data checks verify the reading)."""
    if X.ndim == 2:
        return 1, X.shape[1]
    a, b = X.shape[1:]
    if layout == "nlc" or (layout == "auto" and b < a):
        return b, a
    return a, b


def _optimizer_lr(opt) -> float | None:
    import torch

    if isinstance(opt, torch.optim.Optimizer):
        return float(opt.param_groups[0]["lr"])
    return None


def make_subject(target, kind: str, data: Data, *, name: str, options: dict | None = None,
                 model_args: dict | None = None, lr=None, batch_size=None, device="auto", seed=0,
                 layout="auto") -> Subject:
    """Build a ``Subject`` from a model target (class, factory, instance) and the data.

    ``options`` are settings found in model.py (or passed to the API); ``lr``/``batch_size``
    given here (the CLI flags) override them.
    """
    import torch

    options = dict(options or {})
    labels = encode_labels(data.y_train, data.y_test)
    channels, length = _channels_and_length(data.X_train, layout)
    facts = {"in_channels": channels, "num_classes": labels.n_classes, "seq_len": length}
    model_args = dict(model_args or {})
    if kind == "instance":
        original = target
        factory = _instance_factory(original)
        arguments = {}
    else:
        what = f"{name}()" if kind != "class" else f"{target.__name__}(...)"
        init = target if kind != "class" else target.__init__
        arguments = fill_arguments(init, facts, model_args, what=what)
        factory = _call_factory(target, arguments)
    options, layout = _keras_settings(target, kind, factory, options, layout)
    if options.get("_keras"):
        factory = options.pop("_keras")
    source = {}

    def pick(key, cli_value, default):
        if cli_value is not None:
            source[key] = "command line"
            return cli_value
        if options.get(key) is not None:
            source[key] = "model file"
            return options[key]
        source[key] = "default"
        return default

    lr_value = pick("lr", lr, None)
    if lr_value is None and _optimizer_lr(options.get("optimizer")) is not None:
        lr_value, source["lr"] = _optimizer_lr(options["optimizer"]), "optimizer in model file"
    lr_value = DEFAULT_LR if lr_value is None else lr_value
    bs = pick("batch_size", batch_size, DEFAULT_BATCH_SIZE)
    loss = options.get("loss_fn")
    if inspect.isclass(loss) and issubclass(loss, torch.nn.Module):
        loss = loss()
    try:
        lr_value, bs = float(lr_value), int(bs)
    except (TypeError, ValueError):
        raise InputError(f"lr must be a number and batch_size an integer; got lr={lr_value!r}, "
                         f"batch_size={bs!r}.") from None
    if lr_value <= 0 or bs <= 0:
        raise InputError(f"lr and batch_size must be positive; got lr={lr_value}, batch_size={bs}.")
    for key in ("loss_fn", "optimizer", "preprocess", "train_step"):
        source[key] = "model file" if options.get(key) is not None else "default"
    if options.get("_keras_default_loss"):
        source["loss_fn"] = "default"
    return Subject(factory=factory, data=data, labels=labels, model_name=name, loss_fn=loss,
                   optimizer=options.get("optimizer"), lr=lr_value, batch_size=bs,
                   preprocess=options.get("preprocess"), train_step=options.get("train_step"),
                   device=resolve_device(device), seed=int(seed), layout=layout,
                   settings_source=source, model_arguments=arguments)


def _keras_settings(target, kind, factory, options, layout):
    """For a Keras model: a fresh-weights factory, the compile() loss/optimizer/lr, and (N, L, C) layout."""
    import sys

    if "keras" not in sys.modules:
        return options, layout
    from .keras_support import default_loss, is_keras_model, keras_factory, keras_loss, keras_lr, keras_optimizer

    sample = target if kind == "instance" else None
    if sample is None:
        try:
            sample = factory()
        except Exception:  # noqa: BLE001 — building fails later with the user's own error
            return options, layout
    if not is_keras_model(sample):
        return options, layout
    options = dict(options)
    options["_keras"] = keras_factory(target, kind, factory)
    if options.get("loss_fn") is None:
        compiled = keras_loss(getattr(sample, "loss", None)) if getattr(sample, "compiled", False) else None
        if compiled is None:  # not compiled: probe with the loss its last layer is built for
            compiled = default_loss(sample)
            options["_keras_default_loss"] = True
        options["loss_fn"] = compiled[0]
    opt = getattr(sample, "optimizer", None) if getattr(sample, "compiled", False) else None
    if opt is not None and options.get("optimizer") is None:
        options["optimizer"] = keras_optimizer(opt)
        if options.get("lr") is None and keras_lr(opt) is not None:
            options["lr"] = keras_lr(opt)
    return options, ("nlc" if layout == "auto" else layout)


def _call_factory(target, arguments):
    def factory():
        return target(**arguments)

    return factory


def _instance_factory(original):
    """Deep-copy the user's module and re-initialise it, so probes start from fresh weights."""
    snapshot = copy.deepcopy(original)

    def factory():
        model = copy.deepcopy(snapshot)
        for module in model.modules():
            reset = getattr(module, "reset_parameters", None)
            if callable(reset):
                reset()
        return model

    return factory
