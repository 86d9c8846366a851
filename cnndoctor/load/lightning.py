"""A LightningModule diagnosed with its own training_step, loss and configure_optimizers; a LightningDataModule as data.

Lightning is an optional extra: nothing here imports it. A LightningModule is recognised only when the user's
code has already imported ``lightning`` or ``pytorch_lightning`` (both are looked up in ``sys.modules``), as
``torch_data.is_torch_data`` does for torch.

What the probes take from the module (each only when the model file or ``diagnose()`` does not set it):

- the train step: ``training_step((xb, yb), batch_idx)``, then what Lightning's automatic optimisation does
  (zero_grad, backward of the returned loss, optimizer.step); with ``automatic_optimization = False`` the
  step's own ``self.optimizers()`` / ``self.manual_backward()`` are answered with the probe's optimizer and a
  plain ``backward()``. ``self.log``/``self.log_dict`` are no-ops while a step runs (there is no Trainer), and
  every patch lives on the probe's fresh instance for the step only, never on the user's class;
- the optimizer: what ``configure_optimizers()`` returns on a fresh instance (class, every group's lr and
  hyperparameters, read like an optimizer instance in a model file), and its scheduler, stated in the settings
  block; the probes run a fixed number of steps and do not step the scheduler, which the settings say;
- the loss: a loss module the module holds as ``loss_fn``, ``criterion``, ``loss_func`` or ``loss``, bound to
  the probes' criterion while a step runs (so a fix verified on the loss reaches the training_step).
"""

from __future__ import annotations

import sys
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError

__all__ = ["LIGHTNING_PACKAGES", "LOSS_ATTRIBUTES", "LightningParts", "is_lightning_module",
           "is_lightning_module_class", "is_lightning_datamodule", "read_lightning", "datamodule_loaders"]

# Both distributions of Lightning: the unified `lightning` (L.LightningModule) and `pytorch_lightning` (pl.*).
LIGHTNING_PACKAGES = ("lightning", "pytorch_lightning")
# The attributes a LightningModule conventionally keeps its loss module in, most explicit first.
LOSS_ATTRIBUTES = ("loss_fn", "criterion", "loss_func", "loss")
# Lightning's own parameters to the scheduler dict form, read for the settings block.
_SCHEDULER_KEYS = ("interval", "frequency", "monitor")
# Scheduler state that is bookkeeping, not a setting the user chose.
_SCHEDULER_STATE = frozenset({"base_lrs", "last_epoch", "verbose", "optimizer"})


def _bases(name: str) -> tuple[type, ...]:
    """The class ``name`` (LightningModule, LightningDataModule) of each Lightning package already imported."""
    found = []
    for package in LIGHTNING_PACKAGES:
        module = sys.modules.get(package)
        cls = getattr(module, name, None) if module is not None else None
        if isinstance(cls, type):
            found.append(cls)
    return tuple(found)


def is_lightning_module(obj) -> bool:
    """True for a LightningModule instance (without importing Lightning)."""
    bases = _bases("LightningModule")
    return bool(bases) and isinstance(obj, bases)


def is_lightning_module_class(obj) -> bool:
    bases = _bases("LightningModule")
    return bool(bases) and isinstance(obj, type) and issubclass(obj, bases)


def is_lightning_datamodule(obj) -> bool:
    bases = _bases("LightningDataModule")
    return bool(bases) and isinstance(obj, bases)


@dataclass
class LightningParts:
    """What a LightningModule gives the probes, and what the report says about it."""

    options: dict[str, Any]  # loss_fn, optimizer, train_step (only those the user did not set otherwise)
    sources: dict[str, str] = field(default_factory=dict)  # settings_source entries for those options
    scheduler: str | None = None  # the scheduler configure_optimizers returns, for the settings block
    notes: list[str] = field(default_factory=list)


def _where(method: str, options_source: str) -> str:
    return f"{method} in model file" if options_source == "model file" else f"{method} of the LightningModule"


def read_lightning(target, kind: str, factory, options: dict, options_source: str) -> LightningParts | None:
    """The LightningModule's training_step, loss and optimizer as options, or None when the model is not one.

    ``factory`` builds a fresh instance (the user's own instance is never called); ``options`` are what the
    model file or ``diagnose()`` set explicitly, and those win.
    """
    if not _bases("LightningModule"):
        return None
    if kind == "class" and not is_lightning_module_class(target):
        return None
    if kind == "instance" and not is_lightning_module(target):
        return None
    try:
        sample = factory()
    except Exception:  # noqa: BLE001 — building fails again later, reported as the user's error there
        return None
    if not is_lightning_module(sample):
        return None
    name = type(sample).__name__
    parts = LightningParts(options={})
    if options.get("train_step") is None:
        parts.options["train_step"] = lightning_step(type(sample), _loss_attribute(sample))
        parts.sources["train_step"] = _where("training_step", options_source)
        if not sample.automatic_optimization:
            parts.notes.append(f"{name} sets automatic_optimization = False: its training_step steps the optimizer "
                               "itself; during the probes self.optimizers() returns the probe's optimizer and "
                               "self.manual_backward(loss) runs loss.backward().")
    if options.get("loss_fn") is None:
        attribute = _loss_attribute(sample)
        if attribute is not None:
            parts.options["loss_fn"] = getattr(sample, attribute)
            parts.sources["loss_fn"] = _where(f"self.{attribute}", options_source)
        else:
            parts.notes.append(
                f"{name} computes its loss inside training_step and holds no loss module (self.loss_fn, "
                "self.criterion): the probes train with your training_step, but the held-out losses and the checks "
                "that read the loss use the default chosen from the head's width (CrossEntropyLoss, or "
                "BCEWithLogitsLoss for one logit on two classes). Set self.loss_fn = ... in __init__ and use it "
                "in training_step so they read yours.")
    if options.get("optimizer") is None:
        _read_configure_optimizers(sample, parts, options_source)
    return parts


def _loss_attribute(module) -> str | None:
    import torch

    for attribute in LOSS_ATTRIBUTES:
        value = getattr(module, attribute, None)
        if isinstance(value, torch.nn.Module) and (attribute != "loss"
                                                   or isinstance(value, torch.nn.modules.loss._Loss)):
            return attribute
    return None


def _read_configure_optimizers(sample, parts: LightningParts, options_source: str) -> None:
    """The first optimizer configure_optimizers returns (read like an optimizer instance) and its scheduler."""
    import torch

    name = type(sample).__name__
    try:
        returned = sample.configure_optimizers()
    except Exception as exc:  # noqa: BLE001 — e.g. it reads self.trainer, which a probe has not got
        parts.notes.append(f"{name}.configure_optimizers() raised {type(exc).__name__}: {str(exc).strip()[:200]} "
                           "(called without a Trainer); the probes use cnndoctor's default optimizer. Define "
                           "make_optimizer(params) in the model file to set yours.")
        return
    optimizers, schedulers = _unpack(returned)
    optimizers = [o for o in optimizers if isinstance(o, torch.optim.Optimizer)]
    if not optimizers:
        parts.notes.append(f"{name}.configure_optimizers() returns no torch optimizer ({type(returned).__name__}); "
                           "the probes use cnndoctor's default optimizer.")
        return
    where = _where("configure_optimizers", options_source)
    parts.options["optimizer"] = optimizers[0]
    parts.sources["optimizer"] = where
    if len(optimizers) > 1:
        parts.notes.append(f"{name}.configure_optimizers() returns {len(optimizers)} optimizers; the probes train "
                           f"with the first ({type(optimizers[0]).__name__}) over all parameters.")
    first = [s for s in schedulers if s.get("optimizer") is None or s["optimizer"] is optimizers[0]] or schedulers
    if first:
        parts.scheduler = "; ".join(_describe_scheduler(s) for s in first) + (
            " — not stepped by the probes: they run a fixed number of steps at the optimizer's starting lr")
        parts.sources["scheduler"] = where


def _unpack(returned) -> tuple[list, list[dict]]:
    """(optimizers, scheduler configs ``{"scheduler", "interval", ...}``) from every form Lightning accepts."""
    import torch

    if returned is None:
        return [], []
    if isinstance(returned, torch.optim.Optimizer):
        return [returned], []
    if isinstance(returned, dict):
        scheduler = returned.get("lr_scheduler")
        optimizer = returned.get("optimizer")
        return [optimizer], ([_scheduler_config(scheduler, optimizer)] if scheduler is not None else [])
    if isinstance(returned, (list, tuple)):
        if len(returned) == 2 and isinstance(returned[0], (list, tuple)):  # ([optimizers], [schedulers])
            schedulers = returned[1] if isinstance(returned[1], (list, tuple)) else [returned[1]]
            return list(returned[0]), [_scheduler_config(s, None) for s in schedulers]
        optimizers, schedulers = [], []
        for item in returned:
            found, configs = _unpack(item)
            optimizers += found
            schedulers += configs
        return optimizers, schedulers
    return [], []


def _scheduler_config(scheduler, optimizer) -> dict:
    config = dict(scheduler) if isinstance(scheduler, dict) else {"scheduler": scheduler}
    config.setdefault("optimizer", optimizer if optimizer is not None else getattr(config["scheduler"],
                                                                                   "optimizer", None))
    return config


def _describe_scheduler(config: dict) -> str:
    """``StepLR (step_size 10, gamma 0.5), interval epoch, monitor val_loss``."""
    scheduler = config.get("scheduler")
    settings = []
    try:
        state = scheduler.state_dict()
    except Exception:  # noqa: BLE001 — a scheduler of the user's own without a state_dict
        state = {}
    for key, value in state.items():
        if key.startswith("_") or key in _SCHEDULER_STATE:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            continue
        settings.append(f"{key} {value:g}" if isinstance(value, float) else f"{key} {value}")
    text = type(scheduler).__name__ + (f" ({', '.join(settings)})" if settings else "")
    extra = [f"{key} {config[key]}" for key in _SCHEDULER_KEYS if config.get(key) is not None]
    return ", ".join([text, *extra])


def _step_loss(returned):
    """The loss a training_step returns: a tensor, a dict's "loss", or None (Lightning then skips the step)."""
    if isinstance(returned, dict):
        returned = returned.get("loss")
    return returned


def lightning_step(cls: type, loss_attribute: str | None):
    """``train_step(model, xb, yb, optimizer, criterion)`` running ``model.training_step`` as Lightning would."""
    counters: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def step(model, xb, yb, optimizer, criterion):
        batch_idx = counters.get(model, 0)
        counters[model] = batch_idx + 1
        with _without_trainer(model, optimizer, loss_attribute, criterion):
            if not model.automatic_optimization:  # the step calls self.optimizers() and steps it itself
                loss = _step_loss(model.training_step((xb, yb), batch_idx))
                return None if loss is None else loss.detach()
            loss = _step_loss(model.training_step((xb, yb), batch_idx))
            if loss is None:
                return None
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            return loss.detach()

    step.__name__ = f"{cls.__name__}.training_step"
    step.__qualname__ = step.__name__
    return step


def _quiet(*args, **kwargs) -> None:
    """``self.log`` without a Trainer: nothing to log to (Lightning itself would only warn)."""


@contextmanager
def _without_trainer(model, optimizer, loss_attribute: str | None, criterion):
    """For one step: log as a no-op, the manual-optimisation calls answered, the loss bound to ``criterion``.

    Every patch is an attribute of this fresh instance, removed in ``finally``; the class is never touched.
    """
    patches = {"log": _quiet, "log_dict": _quiet,
               "optimizers": lambda *a, **k: optimizer,
               "lr_schedulers": lambda *a, **k: None,
               "manual_backward": lambda loss, *a, **k: loss.backward(*a, **k)}
    if loss_attribute is not None and criterion is not None:
        # shadows the registered submodule from the instance dict: any callable fits, state_dict is untouched
        patches[loss_attribute] = criterion
    added = [name for name in patches if name not in vars(model)]
    try:
        for name in added:
            object.__setattr__(model, name, patches[name])
        yield
    finally:
        for name in added:
            vars(model).pop(name, None)


def _first_loader(value):
    """A dataloader method may return one loader, a list or a dict of them; the first is used."""
    if isinstance(value, dict):
        value = next(iter(value.values()), None)
    elif isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return value


def datamodule_loaders(datamodule, test) -> tuple[Any, Any, str]:
    """(training loader, test loader or ``test`` as given, a note): ``prepare_data()``, ``setup("fit")``,
    ``train_dataloader()``, then ``val_dataloader()`` (else ``setup("test")`` and ``test_dataloader()``)."""
    name = type(datamodule).__name__
    try:
        datamodule.prepare_data()
        datamodule.setup("fit")
        train = _first_loader(datamodule.train_dataloader())
    except Exception as exc:  # noqa: BLE001 — the user's data code: their error, in their words
        raise InputError(f"The LightningDataModule {name} raised {type(exc).__name__}: {str(exc).strip()[:300]} "
                         "in prepare_data(), setup('fit') or train_dataloader(); fix it and retry.") from None
    if train is None:
        raise InputError(f"{name}.train_dataloader() returned no DataLoader.")
    if test is not None:
        return train, test, f"Training data from {name}.train_dataloader() (LightningDataModule); the test data " \
                            "as given."
    held, used = None, None
    for stage, method in (("fit", "val_dataloader"), ("test", "test_dataloader")):
        try:
            if stage == "test":
                datamodule.setup("test")
            held = _first_loader(getattr(datamodule, method)())
        except Exception:  # noqa: BLE001 — not implemented (Lightning raises) or failing: try the next one
            held = None
        if held is not None:
            used = method
            break
    if held is None:
        return train, None, (f"Training data from {name}.train_dataloader() (LightningDataModule); it has no "
                             "val_dataloader() or test_dataloader(), so the training data is split 80/20.")
    return train, held, (f"Data from the LightningDataModule {name}: train_dataloader() as the training data, "
                         f"{used}() as the test data.")
