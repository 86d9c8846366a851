"""Finding the model in a user's model.py and building it with arguments taken from the data.

Discovery order (DESIGN §3): ``build_model(...)``, a module-level ``model`` instance, then the
model class — the one ``nn.Module`` subclass the file defines, or the one no other class in the
file uses. ``model.py:Name`` picks an attribute explicitly.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import InputError

__all__ = ["ModelFile", "load_model_file", "fill_arguments", "parse_model_args", "ARG_SYNONYMS",
           "OPTIONAL_NAMES"]

ARG_SYNONYMS = {
    "in_channels": ("in_channels", "n_channels", "channels", "input_channels", "num_channels",
                    "in_ch", "n_features"),
    "num_classes": ("num_classes", "n_classes", "classes", "n_outputs", "num_outputs", "nb_classes"),
    "seq_len": ("seq_len", "length", "input_length", "sequence_length", "series_length", "seq_length",
                "n_timesteps", "timesteps"),
}
# Names model.py may define besides the model, and the synonym each one also answers to.
OPTIONAL_NAMES = {
    "loss_fn": ("loss_fn", "criterion"),
    "optimizer": ("make_optimizer", "optimizer"),
    "lr": ("lr", "learning_rate"),
    "batch_size": ("batch_size",),
    "preprocess": ("preprocess",),
    "train_step": ("train_step",),
}


@dataclass
class ModelFile:
    """What a model.py provides: how to build the model, and the optional training settings."""

    path: str
    kind: str  # "build_model", "instance", "class", or "attribute"
    target: Any
    name: str
    options: dict[str, Any] = field(default_factory=dict)
    module: Any = None


def _import(path: Path, verbose: bool):
    name = f"cnndoctor_user_model_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InputError(f"{path} cannot be imported as Python; expected a .py file that defines a model.")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)  # let model.py import its siblings, as `python model.py` would
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # a user file may raise anything, SystemExit included
        sys.modules.pop(name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
        where = f" at line {frames[-1].lineno}" if frames else ""
        detail = "".join(traceback.format_exception(exc)) if verbose else ""
        raise InputError(
            f"{path} failed to import{where}: {type(exc).__name__}: {exc}. cnndoctor imports the model file as "
            "Python before anything else; fix the error (run `python " + str(path) + "` to see it) and retry."
            + (f"\n{detail}" if detail else "")) from None
    finally:
        if sys.path and sys.path[0] == folder:
            sys.path.pop(0)
    return module


def _module_classes(module, path: Path):
    import torch.nn as nn

    return [obj for obj in vars(module).values()
            if inspect.isclass(obj) and issubclass(obj, nn.Module) and obj.__module__ == module.__name__]


def _outermost(classes, path: Path):
    """The classes no other class in the file refers to by name (the network, not its blocks)."""
    tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    used: set[str] = set()
    names = {c.__name__ for c in classes}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name in names:
            for inner in ast.walk(node):
                if isinstance(inner, ast.Name) and inner.id in names and inner.id != node.name:
                    used.add(inner.id)
                elif isinstance(inner, ast.Attribute) and inner.attr in names and inner.attr != node.name:
                    used.add(inner.attr)
    return [c for c in classes if c.__name__ not in used]


def load_model_file(spec: str | Path, *, verbose: bool = False) -> ModelFile:
    """Import ``model.py`` (or ``model.py:Name``) and find the model in it."""
    import torch.nn as nn

    text = str(spec)
    attr = None
    if ":" in text and not Path(text).exists():
        text, attr = text.rsplit(":", 1)
    path = Path(text)
    if not path.exists():
        raise InputError(f"Model file {path} does not exist. Expected a Python file defining build_model(), "
                         "a module-level `model`, or an nn.Module subclass.")
    if path.suffix != ".py":
        raise InputError(f"Model file {path} is not a .py file. cnndoctor imports a Python file that defines "
                         "build_model(), a module-level `model`, or an nn.Module subclass.")
    from .keras_support import prepare_backend

    prepare_backend(path)  # before the import: Keras picks its backend once, when first imported
    module = _import(path, verbose)
    options = {}
    for key, names in OPTIONAL_NAMES.items():
        found = [n for n in names if getattr(module, n, None) is not None]
        if found:
            options[key] = getattr(module, found[0])
    if attr is not None:
        if not hasattr(module, attr):
            raise InputError(f"{path} defines no name {attr!r} (asked for with {spec}).")
        target = getattr(module, attr)
        kind = ("instance" if isinstance(target, nn.Module) else
                "class" if inspect.isclass(target) else "build_model" if callable(target) else None)
        if kind is None:
            raise InputError(f"{spec} is a {type(target).__name__}, not an nn.Module, a class or a function.")
        return ModelFile(str(path), kind, target, attr, options, module)
    if callable(getattr(module, "build_model", None)):
        return ModelFile(str(path), "build_model", module.build_model, "build_model", options, module)
    if hasattr(module, "model"):
        target = module.model
        if isinstance(target, nn.Module):
            return ModelFile(str(path), "instance", target, "model", options, module)
        hint = (" It is None: a chained call such as `model = Sequential([...]).compile(...)` leaves `model` as "
                "None, because Keras's .compile() returns None; build the model first (`model = Sequential([...])`) "
                "and call `model.compile(...)` on its own line." if target is None else "")
        raise InputError(f"{path} defines `model`, but it is a {type(target).__name__}, not an nn.Module.{hint}")
    classes = _module_classes(module, path)
    if not classes:
        raise InputError(f"{path} defines no model. Expected one of: a function build_model() returning an "
                         "nn.Module, a module-level `model = ...` instance, or an nn.Module subclass.")
    if len(classes) > 1:
        outer = _outermost(classes, path)
        if len(outer) != 1:
            names = ", ".join(c.__name__ for c in (outer or classes))
            raise InputError(f"{path} defines several nn.Module classes that could be the model ({names}). "
                             f"Pick one with {path}:ClassName, or define build_model().")
        classes = outer
    cls = classes[0]
    return ModelFile(str(path), "class", cls, cls.__name__, options, module)


def parse_model_args(pairs) -> dict[str, Any]:
    """``["k=v", ...]`` to a dict, values read as Python literals where they are one."""
    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise InputError(f"--model-arg expects NAME=VALUE, got {pair!r}.")
        key, value = pair.split("=", 1)
        try:
            out[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key.strip()] = value
    return out


def fill_arguments(func: Callable, facts: dict[str, Any], overrides: dict[str, Any], *, what: str) -> dict:
    """Keyword arguments for a constructor/``build_model``: overrides, then data facts by name."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return dict(overrides)
    kwargs, missing = {}, []
    accepts_kwargs = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    for p in sig.parameters.values():
        if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name in overrides:
            kwargs[p.name] = overrides[p.name]
            continue
        for fact, synonyms in ARG_SYNONYMS.items():
            if p.name.lower() in synonyms and facts.get(fact) is not None:
                kwargs[p.name] = facts[fact]
                break
        else:
            if p.default is p.empty:
                missing.append(p.name)
    unknown = [k for k in overrides if k not in kwargs]
    if unknown and not accepts_kwargs:
        raise InputError(f"--model-arg {', '.join(unknown)}: {what} takes no such parameter "
                         f"(its parameters: {', '.join(sig.parameters) or 'none'}).")
    kwargs.update({k: overrides[k] for k in unknown})
    if missing:
        raise InputError(
            f"{what} needs {', '.join(missing)}, which cnndoctor cannot fill from the data. Parameters named "
            "in_channels/n_channels/channels, num_classes/n_classes/classes and seq_len/length/input_length are "
            f"filled automatically; give the others a default or pass --model-arg {missing[0]}=VALUE.")
    return kwargs
