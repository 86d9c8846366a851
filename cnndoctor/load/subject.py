"""The subject of a diagnosis: a model factory, the data, and the user's training settings.

The factory always builds fresh, seeded weights; a module handed in is deep-copied first,
so the user's own object and weights are never touched.
"""

from __future__ import annotations

import copy
import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..errors import InputError
from .batch_order import stored_order
from .data import Data
from .labels import Labels, encode_labels
from .lightning import read_lightning
from .model import ConstructorArgument, construction_error, resolve_arguments
from .optimizers import DEFAULT_OPTIMIZER, OptimizerSettings, build_optimizer, optimizer_kind, own_lr, read_optimizer
from .preprocess import TrainFitted, read_preprocess

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
    preprocess: Callable | None = None  # a function X -> X, applied to each split on its own
    # steps fitted on the training split after ``preprocess`` (a transformer, fit_preprocess; load/preprocess.py)
    fit_preprocess: TrainFitted | None = None
    train_step: Callable | None = None
    device: str = "cpu"
    seed: int = 0
    layout: str = "auto"
    settings_source: dict[str, str] = field(default_factory=dict)
    optimizer_settings: OptimizerSettings | None = None  # what the user's optimizer builds (read once)
    notes: list[str] = field(default_factory=list)  # said in the report: where a setting disagrees with another
    model_arguments: dict[str, Any] = field(default_factory=dict)
    # every constructor/build_model parameter: the value used and where it came from (load/model.py)
    constructor_arguments: list[ConstructorArgument] = field(default_factory=list)
    output: int | str | None = None  # the user's choice of the logits in a tuple/list/dict output (load/outputs.py)
    output_choice: dict | None = None  # the element used as the logits, decided on the first structured output
    # the user's own loop: drop_last of its training DataLoader (model.py's `drop_last`, or the DataLoader
    # given to diagnose()), and its samples per epoch when the arrays hold fewer (a DataLoader sampled down)
    drop_last: bool = False
    epoch_samples: int | None = None
    # the labels of the first batches the user's training DataLoader yields, in its order (D205); None when
    # the data came as arrays, a file or a bare Dataset (then cnndoctor's own loops shuffle)
    loader_batches: Any = None
    # the index batches of the user's DataLoader epoch that the training probes replay (load/batch_order.py);
    # None: the probes shuffle (the loader shuffles too, or no DataLoader was given, or its order cannot be mapped)
    batch_order: Any = None
    # builds the model with some constructor arguments changed (``{name: value}``): A105 measures what
    # the user's own defaults build; None for an instance (nothing is constructed)
    variant_factory: Callable[[dict], Any] | None = None
    # the LR scheduler a LightningModule's configure_optimizers returns, described for the settings block
    scheduler: str | None = None
    # the user's trained weights (--weights, or an instance with reinit=False), evaluated as they are next to
    # the fresh-weight probes (load/weights.py); None: only fresh weights
    trained: Any = None

    @property
    def has_preprocess(self) -> bool:
        """Whether the arrays the model is fed differ from the stored ones by the user's (or a fixer's) preprocess."""
        return self.preprocess is not None or self.fit_preprocess is not None

    def build_model(self):
        """A fresh model with seeded initial weights, on the subject's device.

        When ``forward`` returns a tuple, list or dict, the model's forward is bound to return the
        element chosen as the logits (``outputs.select_output``).
        """
        import torch

        from .outputs import select_output

        torch.manual_seed(self.seed)
        model = self.factory()
        if not isinstance(model, torch.nn.Module):
            raise InputError(f"{self.model_name} returned a {type(model).__name__}, not a torch nn.Module.")
        return select_output(model.to(self.device), self)

    def build_trained_model(self):
        """A copy of the user's trained model on the subject's device, its logits chosen as for fresh ones."""
        from .outputs import select_output

        if self.trained is None:
            raise ValueError("this subject has no trained weights")
        return select_output(self.trained.build(self.device), self)

    def make_optimizer(self, params, lr: float | None = None):
        """The user's optimizer over ``params``, as their code builds it, at ``lr`` (default: ``self.lr``).

        Every hyperparameter stays the user's; only the learning rate moves when a probe (or an
        explicit ``--lr``) asks for another one, and then every param group's lr by the same factor.
        """
        return build_optimizer(self.optimizer, params, self.lr if lr is None else float(lr))

    def optimizer_text(self, lr: float | None = None) -> str:
        """``SGD (lr 0.5, momentum 0.9)``: the optimizer the probes run, at ``lr`` when one overrides it."""
        if self.optimizer_settings is None:
            return f"lr {self.lr if lr is None else lr:g}"
        return self.optimizer_settings.describe(self.lr if lr is None else lr)

    def optimizer_brief(self) -> str:
        """``SGD, momentum 0.9``: the optimizer and its settings besides the lr."""
        return self.optimizer_settings.brief() if self.optimizer_settings is not None else DEFAULT_OPTIMIZER

    def optimizer_call(self, lr: float) -> str:
        """``torch.optim.SGD(model.parameters(), lr=0.002, momentum=0.9)``: the user's optimizer at ``lr``."""
        if self.optimizer_settings is None:
            return f"torch.optim.{DEFAULT_OPTIMIZER}(model.parameters(), lr={lr:.2g})"
        return self.optimizer_settings.call(lr)


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


def make_subject(target, kind: str, data: Data, *, name: str, options: dict | None = None,
                 model_args: dict | None = None, lr=None, batch_size=None, device="auto", seed=0,
                 layout="auto", explicit_source: str = "command line",
                 options_source: str = "model file", model_args_source: str = "model_args",
                 output=None) -> Subject:
    """Build a ``Subject`` from a model target (class, factory, instance) and the data.

    ``options`` are settings found in model.py (or passed to the API; ``options_source`` names
    where they came from); ``lr``/``batch_size`` given here (the CLI flags, or ``diagnose()``'s
    arguments: ``explicit_source``) override them. ``model_args_source`` names where ``model_args``
    came from ("command line" for ``--model-arg``); ``output`` chooses the logits in a structured
    forward() result and overrides ``output`` in ``options`` (load/outputs.py).
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
        arguments, record, variant = {}, [], None
    else:
        what = f"{name}()" if kind != "class" else f"{target.__name__}(...)"
        init = target if kind != "class" else target.__init__
        arguments, record = resolve_arguments(init, facts, model_args, what=what, override_source=model_args_source)
        factory = _call_factory(target, arguments, what, record)
        variant = _variant_factory(target, arguments, what, record)
    file_output = options.pop("output", None)
    explicit_output = _output_option(output if output is not None else file_output, given=output is not None)
    output_source = explicit_source if output is not None else options_source if file_output is not None else None
    options, layout = _keras_settings(target, kind, factory, options, layout)
    is_keras = bool(options.get("_keras"))
    lightning = None if is_keras else read_lightning(target, kind, factory, options, options_source)
    if lightning is not None:  # its training_step, loss and configure_optimizers, where nothing explicit is set
        options.update(lightning.options)
    if is_keras:
        factory = options.pop("_keras")
    source = {}

    def pick(key, cli_value, default):
        if cli_value is not None:
            source[key] = explicit_source
            return cli_value
        if options.get(key) is not None:
            source[key] = options_source
            return options[key]
        source[key] = "default"
        return default

    bs = pick("batch_size", batch_size, DEFAULT_BATCH_SIZE)
    loss = options.get("loss_fn")
    if inspect.isclass(loss) and issubclass(loss, torch.nn.Module):
        loss = loss()
    for value, what in ((lr, "lr"), (options.get("lr"), "lr")):
        _check_lr(value, what)
    try:
        bs = int(bs)
    except (TypeError, ValueError):
        raise InputError(f"batch_size must be an integer; got batch_size={bs!r}.") from None
    if bs <= 0:
        raise InputError(f"batch_size must be positive; got batch_size={bs}.")
    for key in ("loss_fn", "optimizer", "preprocess", "fit_preprocess", "train_step"):
        source[key] = options_source if options.get(key) is not None else "default"
    preprocess, fit_preprocess = read_preprocess(options.get("preprocess"), options.get("fit_preprocess"))
    if options.get("_keras_default_loss"):
        source["loss_fn"] = "default"
    if options.get("_keras_compiled_optimizer"):
        source["optimizer"] = "compile() in model file" if options_source == "model file" else "compile() of the model"
    if lightning is not None:
        source.update(lightning.sources)
    source["model"] = options_source
    if output_source is not None:
        source["output"] = output_source
    subject = Subject(factory=factory, data=data, labels=labels, model_name=name, loss_fn=loss,
                      optimizer=options.get("optimizer"), lr=DEFAULT_LR, batch_size=bs,
                      preprocess=preprocess, fit_preprocess=fit_preprocess, train_step=options.get("train_step"),
                      device=resolve_device(device), seed=int(seed), layout=layout,
                      settings_source=source, model_arguments=arguments, constructor_arguments=record,
                      output=explicit_output)
    if lightning is not None:
        subject.notes.extend(lightning.notes)
        subject.scheduler = lightning.scheduler
    _settle_optimizer(subject, explicit_lr=lr, file_lr=options.get("lr"), explicit_source=explicit_source,
                      options_source=options_source)
    subject.variant_factory = None if is_keras else variant  # Keras layers build on their first input
    subject.drop_last = bool(options.get("drop_last") or False)
    subject.epoch_samples = options.get("epoch_samples")
    subject.loader_batches = options.get("loader_batches")
    _describe_loop_order(subject, options.get("shuffle"), options_source)
    return subject


def _describe_loop_order(subject: Subject, shuffle, source: str) -> None:
    """A model file's ``shuffle``: with False the user's loop reads the training rows in their stored order, so
    D205 judges those batches and the probes replay them (``batch_order.stored_order``). Only a bool is a
    setting: ``from random import shuffle`` in a model file merely shares the name."""
    if not isinstance(shuffle, (bool, np.bool_)) or subject.loader_batches is not None:
        return
    subject.settings_source["shuffle"] = source
    if not shuffle:
        subject.loader_batches, subject.batch_order, note = stored_order(subject.data, subject.batch_size,
                                                                         subject.drop_last, seed=subject.seed)
        if note:
            subject.notes.append(note)


def _check_lr(value, what: str) -> None:
    if value is None:
        return
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number; got {what}={value!r}.") from None
    if not number > 0:
        raise InputError(f"{what} must be positive; got {what}={value!r}.")


def _settle_optimizer(subject: Subject, *, explicit_lr, file_lr, explicit_source: str, options_source: str) -> None:
    """Read what the user's optimizer builds and decide the learning rate the probes use, with its source.

    A factory or an instance carries its own lr, and that is what the user's loop runs; an
    optimizer class (or cnndoctor's default Adam) is built at the model file's ``lr``, else at
    its own default. An explicit lr (``--lr``, ``diagnose(lr=...)``) overrides any of them,
    and the report says what it replaced.
    """
    opt = subject.optimizer
    kind = optimizer_kind(opt)
    where = subject.settings_source.get("optimizer", options_source)
    if where == "model file":  # say which model-file name gave it
        where = "make_optimizer in model file" if kind == "factory" else f"optimizer {kind} in model file"
    if kind in ("factory", "instance"):
        settings = read_optimizer(opt, lambda: subject.build_model().parameters(), lr=DEFAULT_LR, where=where)
        own, own_source = settings.lr, where
    elif kind == "class":
        own = float(file_lr) if file_lr is not None else own_lr(opt)
        home = "torch.optim" if opt.__module__.startswith("torch.optim") else opt.__module__
        own_source = options_source if file_lr is not None else f"{home}.{opt.__qualname__} default"
        if own is None and explicit_lr is not None:
            own, own_source = float(explicit_lr), explicit_source
        if own is None:
            raise InputError(f"The optimizer class {opt.__name__} has no default learning rate; set lr = ... in the "
                             "model file or pass --lr.")
        settings = read_optimizer(opt, None, lr=own, where=where)
    else:
        own = float(file_lr) if file_lr is not None else DEFAULT_LR
        own_source = options_source if file_lr is not None else "default"
        settings = read_optimizer(None, None, lr=own, where="default")
    if settings.caveat:
        subject.notes.append(settings.caveat)
    if kind in ("factory", "instance") and file_lr is not None and not math.isclose(float(file_lr), own):
        subject.notes.append(
            f"The model file sets lr = {float(file_lr):g}, but {where.replace(' in model file', '')} builds "
            f"{settings.describe()}; the probes use lr {own:g}, what your optimizer builds. Pass --lr to probe "
            "another learning rate.")
    lr_value, source = own, own_source
    if explicit_lr is not None:
        lr_value, source = float(explicit_lr), explicit_source
        if not math.isclose(lr_value, own):
            subject.notes.append(f"lr {lr_value:g} from the {explicit_source} overrides the lr {own:g} of "
                                 f"{settings.describe()} ({own_source}); every other setting of the optimizer is "
                                 "kept.")
    subject.lr = lr_value
    subject.settings_source["lr"] = source
    subject.optimizer_settings = settings


def _keras_settings(target, kind, factory, options, layout):
    """For a Keras model: a fresh-weights factory, the compile() loss/optimizer/lr, and (N, L, C) layout."""
    import sys

    if "keras" not in sys.modules:
        return options, layout
    from ..keras.support import default_loss, is_keras_model, keras_factory, keras_loss, keras_optimizer

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
        options["optimizer"] = keras_optimizer(opt)  # a factory carrying compile()'s lr and settings
        options["_keras_compiled_optimizer"] = True
    return options, ("nlc" if layout == "auto" else layout)


def _call_factory(target, arguments, what: str = "the model", record=()):
    """Build the user's model; an exception from their constructor (or a library's) is their error: exit 2."""
    def factory():
        try:
            return target(**arguments)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 — the user's or a library's code: reported, not a cnndoctor bug
            raise construction_error(exc, what, list(record)) from exc

    return factory


def _variant_factory(target, arguments, what: str, record):
    """``build(changes)``: the model with some arguments replaced, e.g. by the user's own defaults."""
    def build(changes: dict):
        return _call_factory(target, {**arguments, **changes}, what, record)()

    return build


def _output_option(value, *, given: bool):
    """The user's choice of the logits element: an index or a key; a model file's ``output`` of another type
    (a module-level variable that merely shares the name) is ignored."""
    from .outputs import parse_output_choice

    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, str)):
        return parse_output_choice(value)
    if given:
        raise InputError(f"output must be an index (0, 1, -1) or a key ('logits'); got a {type(value).__name__}.")
    return None


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
