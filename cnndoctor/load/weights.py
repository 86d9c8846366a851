"""The user's trained weights: a checkpoint file (``--weights ckpt.pt``) or a module's current weights.

cnndoctor's probes start from fresh weights; a trained model is evaluated as it is, next to them. The
checkpoint is read with ``torch.load(weights_only=True)`` only: a file that needs ``weights_only=False``
would run code from the pickle, so it is refused with the one line that converts it. A plain
``state_dict``, a dict holding one under ``state_dict``, ``model_state_dict`` or ``model`` (a training
loop's checkpoint), and a Lightning checkpoint are accepted; parameter names with an extra or a missing
prefix (``model.`` of a LightningModule that wraps the network, ``module.`` of DataParallel,
``_orig_mod.`` of ``torch.compile``) are matched when every key then fits. Anything else that does
not fit the model the factory builds (missing or unexpected keys, other shapes) is an ``InputError``
naming a few of them. Nothing here changes the user's file or module.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..errors import InputError

__all__ = ["TrainedWeights", "read_checkpoint", "load_trained", "instance_weights", "trained_for",
           "CHECKPOINT_KEYS", "trained_label"]

# Where a training loop's checkpoint dict keeps the model's state_dict, in the order they are tried.
CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")
# Nested prefixes tried when the checkpoint's names do not fit as they are (a wrapper's attribute names).
_PREFIX_DEPTH = 3
_SHOWN = 4  # keys named in an error message


def trained_label(source: str) -> str:
    """``trained (ckpt.pt)``: how findings about the trained weights name them (evidence ``weights``)."""
    return f"trained ({source})"


@dataclass
class TrainedWeights:
    """The user's trained model, loaded once and kept aside; ``build()`` returns a copy to measure."""

    model: Any  # the loaded torch module: never handed out, only copied
    source: str  # "ckpt.pt" (as the user wrote it) or "the model instance"
    given_as: str  # "checkpoint" or "instance"
    prefix: str | None = None  # the key prefix stripped ("model.") or added ("+model."), when one was
    ignored: tuple = ()  # checkpoint keys outside the matched prefix (a Lightning module's loss weights)

    @property
    def label(self) -> str:
        return trained_label(self.source)

    def build(self, device: str):
        """A deep copy of the trained model on ``device`` (the kept one is never run)."""
        return copy.deepcopy(self.model).to(device)

    def describe(self) -> str:
        """The settings block's value: what was loaded, and how its names were matched."""
        what = f"{self.source} (trained weights, evaluated as they are)"
        if self.prefix:
            how = (f"prefix '{self.prefix[1:]}' added" if self.prefix.startswith("+")
                   else f"prefix '{self.prefix}' stripped")
            what += f"; {how}"
        if self.ignored:
            what += f"; {len(self.ignored)} checkpoint key(s) outside it ignored"
        return what


def _is_tensor_dict(obj) -> bool:
    import torch

    return isinstance(obj, Mapping) and bool(obj) and all(isinstance(k, str) for k in obj) and \
        any(isinstance(v, torch.Tensor) for v in obj.values())


def read_checkpoint(path, device: str) -> tuple[Mapping, str]:
    """The state_dict stored in ``path`` and where in the file it was (``""`` at the top level).

    Read with ``weights_only=True`` on ``device``; every failure is an ``InputError`` saying what the
    file holds and what to do.
    """
    import pickle

    import torch

    shown = os.fspath(path)
    p = Path(path)
    if not p.exists():
        raise InputError(f"--weights {shown}: no such file.")
    if not p.is_file():
        raise InputError(f"--weights {shown} is not a file; pass the checkpoint file torch.save wrote.")
    try:
        obj = torch.load(p, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))  # the class or function the pickle would import
        if found is None:  # torch words every unpickling failure as a weights_only one; this is not a pickle
            raise InputError(f"--weights {shown} could not be read as a torch checkpoint: it is not a file "
                             "torch.save wrote, or it is damaged.") from None
        raise InputError(
            f"--weights {shown} holds more than tensors (a pickled {found.group(1)}): reading it needs "
            "torch.load(weights_only=False), which runs code stored in the file, and cnndoctor does not do that. "
            "If you trust the file, save its weights alone once and pass that file: "
            f"torch.save(torch.load({shown!r}, weights_only=False).state_dict(), 'weights.pt') for a pickled "
            "model, or ...['state_dict'] for a checkpoint dict.") from None
    except Exception as exc:  # noqa: BLE001 — not a torch file, truncated, another format: the user's input
        raise InputError(f"--weights {shown} could not be read as a torch checkpoint "
                         f"({type(exc).__name__}: {exc}).") from None
    if _is_tensor_dict(obj):
        return obj, ""
    if isinstance(obj, Mapping):
        for key in CHECKPOINT_KEYS:
            if _is_tensor_dict(obj.get(key)):
                return obj[key], key
        keys = ", ".join(map(str, list(obj)[:8]))
        raise InputError(f"--weights {shown} holds a dict (keys: {keys}) with no state_dict in it: expected "
                         "parameter names mapped to tensors, at the top level or under "
                         f"{', '.join(repr(k) for k in CHECKPOINT_KEYS)}.")
    raise InputError(f"--weights {shown} holds a {type(obj).__name__}, not a state_dict; save "
                     "model.state_dict() and pass that file.")


def _strip(state: Mapping, head: str) -> dict:
    cut = len(head) + 1
    return {k[cut:]: v for k, v in state.items() if k.startswith(head + ".")}


# BatchNorm's step counter: torch fills it in when a checkpoint lacks it (checkpoints from before torch 0.4.1)
_OPTIONAL = "num_batches_tracked"


def _fits(keys, expected: set) -> bool:
    """Every key the model has (its step counters aside) and no other."""
    keys = set(keys)
    return keys <= expected and {k for k in expected if not k.endswith(_OPTIONAL)} <= keys


def _match_prefix(state: Mapping, expected: set) -> tuple[Mapping, str | None]:
    """``state`` with its names fitted to ``expected``: as they are, a nested prefix stripped, or one added."""
    if _fits(state, expected):
        return state, None
    frontier = [("", state)]
    for _ in range(_PREFIX_DEPTH):
        deeper = []
        for prefix, sub in frontier:
            for head in sorted({k.split(".", 1)[0] for k in sub if "." in k}):
                inner = _strip(sub, head)
                if _fits(inner, expected):
                    return inner, f"{prefix}{head}."
                if len(inner) >= len(expected):
                    deeper.append((f"{prefix}{head}.", inner))
        frontier = deeper
    for head in sorted({k.split(".", 1)[0] for k in expected if "." in k}):
        added = {f"{head}.{k}": v for k, v in state.items()}
        if _fits(added, expected):
            return added, f"+{head}."
    return state, None


def _mismatch(state: Mapping, model) -> tuple[list[str], list[str], list[str]]:
    """Missing keys, unexpected keys and ``name: checkpoint (..) vs model (..)`` shape differences."""
    from torch.nn.parameter import is_lazy

    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.endswith(_OPTIONAL)]
    unexpected = [k for k in state if k not in own]
    shapes = []
    for k, v in own.items():
        theirs = state.get(k)
        if theirs is None or is_lazy(v) or not hasattr(theirs, "shape"):
            continue
        if tuple(theirs.shape) != tuple(v.shape):
            shapes.append(f"{k}: checkpoint {tuple(theirs.shape)}, model {tuple(v.shape)}")
    return missing, unexpected, shapes


def _few(items: list[str]) -> str:
    more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return ", ".join(items[:_SHOWN]) + more


def load_trained(weights, model, *, device: str, model_name: str) -> TrainedWeights:
    """Load ``weights`` (a checkpoint path, or a state_dict) into ``model`` (a module just built for it, never
    the user's own).

    Every key must fit: an ``InputError`` lists missing and unexpected keys and shape differences.
    """
    import torch

    if isinstance(weights, Mapping):
        shown, where = "the state_dict given", ""
        state = weights
        if not _is_tensor_dict(state):
            state = next((weights[k] for k in CHECKPOINT_KEYS if _is_tensor_dict(weights.get(k))), None)
            if state is None:
                raise InputError("weights= is a dict without tensors: pass model.state_dict() or a checkpoint path.")
    else:
        shown = os.fspath(weights)
        state, where = read_checkpoint(weights, device)
    expected = set(model.state_dict())
    fitted, prefix = _match_prefix(state, expected)
    stripped = prefix is not None and not prefix.startswith("+")
    ignored = tuple(sorted(k for k in state if not k.startswith(prefix))) if stripped else ()
    missing, unexpected, shapes = _mismatch(fitted, model)
    if missing or unexpected or shapes:
        inside = f" (under '{where}')" if where else ""
        parts = []
        if missing:
            parts.append(f"{len(missing)} key(s) the model has are missing from it ({_few(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} key(s) the model does not have ({_few(unexpected)})")
        if shapes:
            parts.append(f"{len(shapes)} shape(s) differ ({_few(shapes)})")
        raise InputError(
            f"The checkpoint {shown}{inside} does not fit the model {model_name} builds: "
            + "; ".join(parts) + ". Build the model with the arguments it was trained with (--model-arg "
            "NAME=VALUE, or the model file's defaults) and pass the checkpoint saved from that model.")
    try:
        with torch.no_grad():
            model.load_state_dict(fitted, strict=False)  # every key checked above; step counters may be absent
    except Exception as exc:  # noqa: BLE001 — a module's own _load_from_state_dict refused it
        raise InputError(f"The checkpoint {shown} could not be loaded into {model_name}: {exc}") from None
    return TrainedWeights(model.to(device), shown, "checkpoint", prefix, ignored)


def instance_weights(instance) -> TrainedWeights:
    """The current weights of the user's module, deep-copied (the instance itself is never run or changed)."""
    return TrainedWeights(copy.deepcopy(instance), "the model instance", "instance")


def trained_for(subject, target, kind: str, *, weights=None, reinit: bool = True) -> TrainedWeights | None:
    """The trained weights a run evaluates, or None (fresh weights only).

    ``weights`` (a path or a state_dict) is loaded into a model built as the probes build theirs: the
    factory with the same constructor arguments, or a copy of the instance. ``reinit=False`` takes an
    instance's current weights; a class or factory has none, so that is an ``InputError``.
    """
    import torch

    from ..keras.support import is_keras_model

    if weights is None and reinit:
        return None
    if kind == "instance" and is_keras_model(target):
        raise InputError("Trained weights (--weights, reinit=False) are supported for torch models only; a Keras "
                         "model is diagnosed from fresh weights.")
    if weights is None:
        if kind != "instance":
            raise InputError(f"reinit=False evaluates the weights a model instance holds, but {subject.model_name} "
                             f"is a {'class' if kind == 'class' else 'factory function'}, which has none: pass the "
                             "trained nn.Module itself, or weights='ckpt.pt' (a state_dict) with the factory.")
        return instance_weights(target)
    model = copy.deepcopy(target) if kind == "instance" else subject.factory()
    if is_keras_model(model):
        raise InputError("Trained weights (--weights) are supported for torch models only; a Keras model is "
                         "diagnosed from fresh weights.")
    if not isinstance(model, torch.nn.Module):
        raise InputError(f"{subject.model_name} returned a {type(model).__name__}, not a torch nn.Module, so no "
                         "checkpoint can be loaded into it.")
    return load_trained(weights, model, device=subject.device, model_name=subject.model_name)
