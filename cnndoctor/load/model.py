"""Finding the model in a user's model.py and building it with arguments taken from the data.

Discovery order (README, "The model file"): ``build_model(...)``, a module-level ``model``
instance, then the model class — the one ``nn.Module`` subclass the file defines, or the one no other class in the
file uses. ``model.py:Name`` picks an attribute explicitly.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import numbers
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import PACKAGE_DIR, InputError
from ..guard.timeout import DiagnosisTimeout

__all__ = ["ModelFile", "load_model_file", "fill_arguments", "resolve_arguments", "parse_model_args",
           "ARG_SYNONYMS", "OPTIONAL_NAMES", "ConstructorArgument", "construction_error", "raised_at", "display_path",
           "model_source"]

# The parameter names each data fact fills, most specific first: when a signature has several, only the first
# is filled (``_one_per_fact``). The time-series libraries' own names are here so that their models need no
# glue: tsai (c_in, c_out, seq_len), braindecode (n_chans, n_outputs, n_times; in_chans, n_classes,
# input_window_samples before 0.8), pytorch-tcn (num_inputs: its num_channels are the hidden widths, so
# num_inputs comes first), sktime torch networks (input_size, num_classes), aeon (n_channels, n_timepoints).
ARG_SYNONYMS = {
    "in_channels": ("in_channels", "n_channels", "c_in", "n_chans", "in_chans", "num_inputs", "input_channels",
                    "in_ch", "n_vars", "input_size", "input_dim", "n_features", "channels", "num_channels"),
    "num_classes": ("num_classes", "n_classes", "nb_classes", "c_out", "n_outputs", "num_outputs", "n_out",
                    "classes"),
    "seq_len": ("seq_len", "n_times", "input_window_samples", "input_time_length", "series_length",
                "n_timepoints", "sequence_length", "seq_length", "input_length", "n_timesteps", "timesteps",
                "length"),
    # Keras, aeon and sktime's Keras networks take the shape of one sample, channels last: (length, channels).
    "input_shape": ("input_shape",),
}
# Parameters that, passed together with --model-arg, fix a fact themselves: braindecode derives n_times from
# input_window_seconds * sfreq and raises when a given n_times disagrees, so the data's length is then not filled.
DERIVING_ARGS = {"seq_len": ("input_window_seconds", "sfreq")}
# Names model.py may define besides the model, and the synonym each one also answers to.
OPTIONAL_NAMES = {
    "loss_fn": ("loss_fn", "criterion"),
    "optimizer": ("make_optimizer", "optimizer"),
    "lr": ("lr", "learning_rate"),
    "batch_size": ("batch_size",),
    "preprocess": ("preprocess",),
    "fit_preprocess": ("fit_preprocess",),  # fit_preprocess(X_train) -> transform (load/preprocess.py)
    "train_step": ("train_step",),
    "drop_last": ("drop_last",),  # the training DataLoader's drop_last (A207)
    "shuffle": ("shuffle",),  # whether the training DataLoader shuffles (D205; False: the stored order)
    "output": ("output",),  # which element of a tuple/list/dict forward() result is the logits (load/outputs.py)
}
# The data fact each synonym family is filled from, as the report names it.
FACT_NAMES = {"in_channels": "channels", "num_classes": "classes", "seq_len": "length",
              "input_shape": "shape (length, channels)"}


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
        if isinstance(exc, (KeyboardInterrupt, DiagnosisTimeout)):
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


def _imported_models(module) -> list[str]:
    """The names model.py imports that are ``nn.Module`` subclasses from another module (a library's model,
    ``from braindecode.models import ShallowFBCSPNet``), torch's own layers left out."""
    import torch.nn as nn

    return sorted(name for name, obj in vars(module).items()
                  if inspect.isclass(obj) and issubclass(obj, nn.Module) and obj.__module__ != module.__name__
                  and not (obj.__module__ or "").startswith("torch.") and not name.startswith("_"))


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
    from ..keras.support import prepare_backend

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
        imported = _imported_models(module)
        route = (f" It imports {', '.join(imported)}: `{path}:{imported[0]}` picks an imported class or factory, "
                 "and cnndoctor fills its channel, class and length parameters from the data."
                 if imported else f" `{path}:Name` picks any class or factory it imports, a library's included.")
        raise InputError(f"{path} defines no model. Expected one of: a function build_model() returning an "
                         "nn.Module, a module-level `model = ...` instance, or an nn.Module subclass." + route)
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


@dataclass(frozen=True)
class ConstructorArgument:
    """One parameter of the user's constructor or ``build_model``: the value cnndoctor passed (or left)
    and where it came from.

    ``source`` is "data" (``fact`` says which: classes, channels or length), "command line"
    (``--model-arg``), "model_args" (``diagnose(model_args=...)``) or "your default" (not passed:
    the parameter's own default applies). ``default`` is the parameter's default when
    ``has_default``.
    """

    name: str
    value: Any
    source: str
    default: Any = None
    has_default: bool = False
    fact: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "value": _jsonable(self.value), "source": self.source}
        if self.has_default:
            out["default"] = _jsonable(self.default)
        if self.fact is not None:
            out["fact"] = self.fact
        return out

    def describe(self) -> str:
        """``num_classes = 6 (from the data: classes)``, for messages."""
        where = f"from the data: {self.fact}" if self.source == "data" else self.source
        return f"{self.name} = {self.value!r} ({where})"


def _jsonable(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def _fillable(default, fact: str = "in_channels") -> bool:
    """A default the data may replace: None, or a whole number for a count (never a bool, float, string, list,
    tuple or dict: pytorch-tcn's ``input_shape='NCL'`` names a layout, ``num_channels=[32, 32]`` hidden widths).
    A shape is filled only over None."""
    if default is None:
        return True
    return fact != "input_shape" and isinstance(default, numbers.Integral) and not isinstance(default, bool)


def _answers(fact: str, value) -> bool:
    """Whether a value passed for a synonym is this fact's value (a count; a shape for ``input_shape``) rather than
    something that shares the name: a list passed as ``num_channels`` is hidden widths, not the input channels."""
    if fact == "input_shape":
        return isinstance(value, (tuple, list))
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _binary_single_logit(fact: str, default, facts: dict[str, Any]) -> bool:
    """``num_classes=1`` on two classes: one logit is a binary head (with BCEWithLogitsLoss), not a placeholder."""
    return fact == "num_classes" and default == 1 and facts.get("num_classes") == 2


def fill_arguments(func: Callable, facts: dict[str, Any], overrides: dict[str, Any], *, what: str) -> dict:
    """Keyword arguments for a constructor/``build_model``: overrides, then data facts by name."""
    return resolve_arguments(func, facts, overrides, what=what)[0]


def resolve_arguments(func: Callable, facts: dict[str, Any], overrides: dict[str, Any], *, what: str,
                      override_source: str = "model_args") -> tuple[dict, list[ConstructorArgument]]:
    """(keyword arguments, one ``ConstructorArgument`` per parameter) for a constructor/``build_model``.

    An explicit override wins; then a parameter named like ``in_channels``/``num_classes``/
    ``seq_len`` (``ARG_SYNONYMS``) is filled from the data unless its default is something the
    data cannot replace (a list, tuple, dict, string or bool: hidden widths such as
    ``num_channels=[32, 32]``, a flag) or ``num_classes=1`` on two classes (a one-logit binary head);
    everything else keeps its default. ``input_shape`` is filled with (length, channels) over None only.
    ``override_source`` is "command line" for ``--model-arg``.
    """
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return dict(overrides), [ConstructorArgument(k, v, override_source) for k, v in overrides.items()]
    facts = _with_input_shape(facts)
    kwargs, missing, record = {}, [], []
    accepts_kwargs = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    chosen = _one_per_fact(sig, facts, overrides)
    for p in sig.parameters.values():
        if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        has_default = p.default is not p.empty
        default = p.default if has_default else None
        if p.name in overrides:
            kwargs[p.name] = overrides[p.name]
            record.append(ConstructorArgument(p.name, overrides[p.name], override_source, default, has_default))
            continue
        for fact, synonyms in ARG_SYNONYMS.items():
            if chosen.get(fact) == p.name and facts.get(fact) is not None:
                kwargs[p.name] = facts[fact]
                record.append(ConstructorArgument(p.name, facts[fact], "data", default, has_default,
                                                  FACT_NAMES[fact]))
                break
        else:
            if has_default:
                record.append(ConstructorArgument(p.name, default, "your default", default, True))
            else:
                missing.append(p.name)
    unknown = [k for k in overrides if k not in kwargs]
    if unknown and not accepts_kwargs:
        raise InputError(f"--model-arg {', '.join(unknown)}: {what} takes no such parameter "
                         f"(its parameters: {', '.join(sig.parameters) or 'none'}).")
    kwargs.update({k: overrides[k] for k in unknown})
    record.extend(ConstructorArgument(k, overrides[k], override_source) for k in unknown)
    if missing:
        raise InputError(
            f"{what} needs {', '.join(missing)}, which cnndoctor cannot fill from the data."
            + _why_unfilled(missing, chosen, overrides)
            + " Parameters named like in_channels/c_in/n_chans, num_classes/c_out/n_outputs and seq_len/n_times "
              "(README, \"Your library's model\") are filled from the data; give the others a default or pass "
            + " ".join(f"--model-arg {name}={_example_value(name)}" for name in missing) + ".")
    return kwargs, record


def _with_input_shape(facts: dict[str, Any]) -> dict[str, Any]:
    """The facts plus ``input_shape``, one sample's shape channels last as Keras and aeon take it."""
    if facts.get("input_shape") is not None or facts.get("seq_len") is None or facts.get("in_channels") is None:
        return facts
    return {**facts, "input_shape": (int(facts["seq_len"]), int(facts["in_channels"]))}


def _why_unfilled(missing: list[str], chosen: dict[str, str], overrides: dict[str, Any]) -> str:
    """For a missing parameter that is a synonym of a fact another parameter already takes (pytorch-tcn's
    ``num_channels`` next to ``num_inputs``, filled or passed): why the data's value was not given to it too."""
    notes = []
    for name in missing:
        for fact, synonyms in ARG_SYNONYMS.items():
            taken = chosen.get(fact) or next((n for n, v in overrides.items()
                                              if n.lower() in synonyms and _answers(fact, v)), None)
            if name.lower() in synonyms and taken not in (None, name):
                notes.append(f" {name} was left unfilled: {taken} takes the data's {FACT_NAMES[fact]} "
                             f"(one parameter per fact, the most specific name), so {name} is something else, "
                             "such as hidden widths.")
    return "".join(notes)


def _example_value(name: str) -> str:
    """A plausible VALUE for the message's --model-arg example: a list for a plural of widths, else a number."""
    return "[32,32]" if name.lower() in ("num_channels", "channels", "widths", "hidden_sizes") else "VALUE"


def _one_per_fact(sig, facts: dict[str, Any], overrides: dict[str, Any]) -> dict[str, str]:
    """``{fact: parameter}``: the one parameter each data fact fills, the most specific name first.

    ``Net(in_channels=1, channels=64)`` fills ``in_channels`` and keeps ``channels=64`` (a hidden
    width): a fact fills one parameter only, and none when an explicit override gives the most specific of its
    names the fact's value (a count; a list passed as ``num_channels`` is hidden widths and does not count), or
    when the overrides derive it (``DERIVING_ARGS``). A default the data cannot replace (a list, tuple, dict,
    string, float or bool, or ``num_classes=1`` on two classes: a one-logit binary head) is kept.
    """
    chosen = {}
    for fact, synonyms in ARG_SYNONYMS.items():
        if facts.get(fact) is None:
            continue
        names = [(synonyms.index(p.name.lower()), p.name) for p in sig.parameters.values()
                 if p.name.lower() in synonyms]
        if not names or all(name in overrides for name in DERIVING_ARGS.get(fact, ("",))):
            continue  # the overrides determine this fact themselves (input_window_seconds * sfreq)
        for _, name in sorted(names):
            if name in overrides and _answers(fact, overrides[name]):
                break  # the most specific name is given by the user: the fact is theirs
            if name in overrides:  # a synonym passed as something else (pytorch-tcn's num_channels=[32, 32])
                continue
            default = sig.parameters[name].default
            if default is inspect.Parameter.empty or (_fillable(default, fact)
                                                      and not _binary_single_logit(fact, default, facts)):
                chosen[fact] = name
                break
    return chosen


def raised_at(exc: BaseException) -> str:
    """`` at file:line (`code`), called from file:line``: where the user's code (or a library it calls) raised,
    the innermost frame outside cnndoctor and, in another file, the outermost one; "" when every frame is ours."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not str(Path(f.filename).resolve()).startswith(PACKAGE_DIR)]
    if not frames:
        return ""
    last = frames[-1]
    where = f" at {last.filename}:{last.lineno}" + (f" (`{last.line.strip()}`)" if last.line else "")
    if len(frames) > 1 and frames[0].filename != last.filename:
        where += f", called from {frames[0].filename}:{frames[0].lineno}"
    return where


def construction_error(exc: BaseException, what: str, arguments: list[ConstructorArgument]) -> InputError:
    """The exit-2 error for an exception raised while the user's constructor/``build_model`` ran.

    It names the exception, where it was raised (the innermost frame outside cnndoctor: the
    user's or the library's file and line), the arguments cnndoctor passed with their source, and
    the parameters it left to their defaults.
    """
    from ..errors import UserCodeError

    where = raised_at(exc)
    passed = [a.describe() for a in arguments if a.source != "your default"]
    left = [f"{a.name} = {a.value!r}" for a in arguments if a.source == "your default"]
    text = str(exc).strip() or "(no message)"
    return UserCodeError(
        f"Building the model failed: {what} raised {type(exc).__name__}: {text}{where}. The error comes from "
        "the model's own code or a library it calls, not from cnndoctor. cnndoctor passed "
        + ("; ".join(passed) if passed else "no arguments")
        + (f"; and left to your defaults: {', '.join(left)}" if left else "")
        + ". Pass the value the constructor needs with --model-arg NAME=VALUE (model_args={...} in the API), or "
          "fix the constructor; run with -v for the full traceback.")


def display_path(path: str | Path) -> str:
    """Relative to the working directory when inside it (as CI annotations want), else absolute."""
    p = Path(path).resolve()
    try:
        return p.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(p)


def model_source(target) -> tuple[str | None, int | None]:
    """The file and line that define a model class, factory or instance's class; (None, None) when the
    definition is not the user's (a torch container such as nn.Sequential) or cannot be found."""
    obj = target if inspect.isclass(target) or inspect.isfunction(target) else type(target)
    try:
        file = inspect.getsourcefile(obj)
        line = inspect.getsourcelines(obj)[1]
    except (TypeError, OSError):
        return None, None
    if file is None or _installed(file):
        return None, None
    return display_path(file), int(line) or 1


def _installed(file: str) -> bool:
    """True for the standard library and installed packages (a torch container, functools.partial)."""
    import sysconfig

    path = Path(file).resolve()
    roots = {sysconfig.get_paths().get(key) for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    return any(part in ("site-packages", "dist-packages") for part in path.parts) or any(
        root and path.is_relative_to(Path(root).resolve()) for root in roots)
