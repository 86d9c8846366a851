"""Which element of a tuple, list or dict that ``forward`` returns is the logits.

The rule, decided once per subject on the first forward pass that returns such a structure:

1. an explicit choice wins: ``output = 1`` / ``output = "logits"`` in model.py,
   ``--model-output`` on the command line, ``diagnose(..., output=...)`` in the API (an index
   for a tuple or list, a key — or an index into the keys — for a dict, a field name for a
   named tuple);
2. otherwise, for a dict (or named tuple), the key named like the logits: ``LOGIT_KEYS``,
   case-insensitive, in that order of preference;
3. otherwise the only tensor in the structure, or the one 2-D tensor ``(N, K)`` with the batch
   first and ``K`` equal to the number of classes (or ``K == 1`` for two classes), when exactly
   one element has that shape;
4. otherwise it is ambiguous: ``OutputChoiceError`` (exit code 2) lists the elements and their
   shapes and says how to choose.

``Subject.build_model`` binds a ``forward`` on each fresh torch model (``select_output``) that
calls the class's own ``forward`` and returns the chosen element, so every consumer — the shape
trace, the probes, the output analyses — sees the logits tensor, module names are unchanged,
forward hooks on the root module see the chosen tensor, and ``copy.deepcopy`` keeps the binding
on the copy. A plain tensor output passes through untouched; Keras models are never wrapped.
"""

from __future__ import annotations

import types
from contextlib import contextmanager
from typing import Any

from ..errors import InputError

__all__ = ["LOGIT_KEYS", "OutputChoiceError", "choose_output", "take", "select_output", "describe_choice",
           "parse_output_choice", "raw_forward"]

LOGIT_KEYS = ("logits", "logit", "output", "outputs", "out", "pred", "preds", "prediction", "predictions",
              "y_hat", "yhat", "scores")


class OutputChoiceError(InputError):
    """forward() returns several tensors and cnndoctor cannot tell which one is the logits."""


def parse_output_choice(value) -> int | str | None:
    """``"1"`` → 1, ``"logits"`` → "logits"; None stays None (the CLI's ``--model-output`` text)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        return text


def _is_tensor(value) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype") and hasattr(value, "ndim")


def _items(out) -> list[tuple[Any, Any]]:
    """(element, value) pairs: keys for a dict, field names for a named tuple, indices otherwise."""
    if isinstance(out, dict):
        return list(out.items())
    fields = getattr(type(out), "_fields", None)
    if isinstance(out, tuple) and fields:
        return list(zip(fields, out))
    return list(enumerate(out))


def _kind(out) -> str:
    if isinstance(out, dict):
        return "dict with keys " + ", ".join(repr(k) for k in out)
    if isinstance(out, tuple) and getattr(type(out), "_fields", None):
        return f"{type(out).__name__} (a named tuple) of {len(out)}"
    return f"{type(out).__name__} of {len(out)}"


def _shape(value, batch: int | None) -> str:
    if not _is_tensor(value):
        return type(value).__name__
    dims = [str(int(s)) for s in value.shape]
    if dims and batch is not None and int(value.shape[0]) == batch:
        dims[0] = "N"
    return "(" + ", ".join(dims) + ")"


def _listing(out, batch: int | None) -> str:
    return "; ".join(f"{_label(out, key)} {_shape(value, batch)}" for key, value in _items(out))


def _label(out, key) -> str:
    return f"[{key!r}]" if isinstance(out, dict) else (f".{key}" if isinstance(key, str) else f"[{key}]")


def _example(out) -> Any:
    items = _items(out)
    return items[0][0] if items else 0


def _how(example) -> str:
    shown = repr(example)
    return (f"say which with `output = {shown}` in model.py, `--model-output {example}` on the command line, "
            f"or `diagnose(..., output={shown})` in the API")


def _explicit(out, choice):
    items = _items(out)
    keys = [k for k, _ in items]
    if isinstance(choice, str) and not isinstance(out, dict) and not getattr(type(out), "_fields", None):
        try:
            choice = int(choice)
        except ValueError:
            pass
    if isinstance(choice, int) and not isinstance(choice, bool):
        if not -len(items) <= choice < len(items):
            return None
        key = keys[choice]
        return (key if isinstance(out, dict) or isinstance(key, str) else choice % len(items)), items[choice][1]
    matches = [k for k in keys if k == choice] or [k for k in keys if isinstance(k, str) and isinstance(choice, str)
                                                     and k.lower() == choice.lower()]
    if len(matches) != 1:
        return None
    return matches[0], dict(items)[matches[0]]


def choose_output(out, *, explicit=None, n_classes: int | None = None, batch: int | None = None) -> dict:
    """Decide which element of ``out`` (a tuple, list or dict) is the logits; see the module docstring.

    Returns ``{"element", "rule", "of", "shape"}``; raises ``OutputChoiceError`` when the choice
    is ambiguous or an explicit choice names no tensor element.
    """
    kind = _kind(out)
    listing = _listing(out, batch)
    if explicit is not None:
        found = _explicit(out, explicit)
        if found is None or not _is_tensor(found[1]):
            what = "names no element" if found is None else f"is a {type(found[1]).__name__}, not a tensor"
            raise OutputChoiceError(
                f"The output choice {explicit!r} {what} of what forward() returns: a {kind} ({listing}). Give an "
                f"index{' or a key' if isinstance(out, dict) else ''} of the tensor that holds the logits: "
                + _how(_example(out)) + ".")
        return _choice(found[0], "explicit", kind, found[1], batch)
    items = _items(out)
    named = isinstance(out, dict) or getattr(type(out), "_fields", None)
    if named:
        by_name = {str(k).lower(): (k, v) for k, v in items if _is_tensor(v)}
        for name in LOGIT_KEYS:
            if name in by_name:
                key, value = by_name[name]
                return _choice(key, "key name", kind, value, batch)
    tensors = [(k, v) for k, v in items if _is_tensor(v)]
    if len(tensors) == 1:
        return _choice(tensors[0][0], "the only tensor", kind, tensors[0][1], batch)
    if n_classes:
        widths = (n_classes, 1) if n_classes == 2 else (n_classes,)
        fits = [(k, v) for k, v in tensors if v.ndim == 2 and int(v.shape[1]) in widths
                and (batch is None or int(v.shape[0]) == batch)]
        if len(fits) == 1:
            key, value = fits[0]
            rule = (f"width matches {n_classes} classes" if int(value.shape[1]) == n_classes else
                    "one output for 2 classes")
            return _choice(key, rule, kind, value, batch)
        why = (f"{len(fits)} elements are (N, {n_classes})" if fits else
               f"no element is (N, {n_classes})" + (" or (N, 1)" if n_classes == 2 else ""))
    else:
        why = "there are no class labels to match the widths with"
    how = _how(tensors[0][0] if tensors else _example(out))
    raise OutputChoiceError(
        f"forward() returns a {kind}: {listing}. cnndoctor cannot tell which is the logits ({why}"
        + (f"; no key is named {', '.join(LOGIT_KEYS[:4])}, ..." if named else "")
        + "). " + how[0].upper() + how[1:] + ".")


def _choice(element, rule: str, kind: str, value, batch: int | None) -> dict:
    if isinstance(element, str) or isinstance(element, int):
        key = element
    else:
        key = repr(element)
    return {"element": key, "rule": rule, "of": kind, "shape": _shape(value, batch)}


def take(out, element):
    """The element chosen by ``choose_output`` (a key, a field name or an index)."""
    if isinstance(out, dict):
        return out[element]
    if isinstance(element, str):
        return getattr(out, element)
    return out[element]


def describe_choice(choice: dict | None) -> str | None:
    """The report's one-line note on which element of forward()'s result was used as the logits."""
    if not choice:
        return None
    element = choice["element"]
    shown = f"[{element!r}]" if isinstance(element, str) else f"[{element}]"
    why = {"explicit": "as you chose", "key name": "its key names the logits",
           "the only tensor": "the only tensor in it"}.get(choice["rule"], choice["rule"])
    return (f"forward() returns a {choice['of']}; cnndoctor uses element {shown}, shape {choice['shape']}, as the "
            f"logits ({why}). To use another, set `output = ...` in model.py, pass --model-output on the command "
            "line or output= to diagnose().")


def select_output(model, subject):
    """Bind, on ``model`` (a fresh torch module), a ``forward`` that returns the chosen element of its output.

    The choice is made on the first structured output and kept on ``subject.output_choice``.
    Keras models and modules that already carry an instance-level ``forward`` are returned as they are.
    """
    import torch

    from ..keras.support import is_keras_model

    if is_keras_model(model) or isinstance(model, torch.jit.ScriptModule) or "forward" in vars(model):
        return model

    def forward(self, *args, **kwargs):
        out = type(self).forward(self, *args, **kwargs)
        if _is_tensor(out) or not isinstance(out, (tuple, list, dict)) or not out:
            return out
        return pick(subject, out, args)

    forward._cnndoctor_selects_output = True
    try:
        model.forward = types.MethodType(forward, model)
    except (AttributeError, TypeError):  # a module that refuses instance attributes: leave it as it is
        pass
    return model


@contextmanager
def raw_forward(model):
    """Within the block, ``model`` returns what its own ``forward`` returns (for the user's ``train_step``,
    which unpacks the tuple itself)."""
    bound = vars(model).get("forward")
    mine = bound is not None and getattr(getattr(bound, "__func__", None), "_cnndoctor_selects_output", False)
    if mine:
        del model.__dict__["forward"]
    try:
        yield model
    finally:
        if mine:
            model.__dict__["forward"] = bound


def pick(subject, out, args):
    """The logits tensor of a structured ``out``, deciding (once) which element it is."""
    choice = subject.output_choice
    if choice is not None:
        try:
            value = take(out, choice["element"])
        except (KeyError, IndexError, AttributeError, TypeError):
            value = None
        if _is_tensor(value):
            return value
    first = args[0] if args else None
    batch = int(first.shape[0]) if _is_tensor(first) and first.ndim else None
    choice = choose_output(out, explicit=subject.output, n_classes=subject.labels.n_classes, batch=batch)
    subject.output_choice = choice
    return take(out, choice["element"])
