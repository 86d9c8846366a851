"""The user's preprocess: a function applied to every split, or steps fitted on the training split.

A model file (or ``diagnose()``) may give

- ``preprocess``: a function ``X -> X`` that sees one split at a time (``Subject.preprocess``), or an object
  with ``fit`` and ``transform`` (a scikit-learn transformer or ``Pipeline``);
- ``fit_preprocess``: a function ``X_train -> transform`` that learns its statistics from the training split
  and returns the function applied to every split.

The fitted steps are ``TrainFitted`` (``Subject.fit_preprocess``): each is fitted on the training split as it
stands after the steps before it, ``preprocess`` first. A transformer is fitted on a clone
(``sklearn.base.clone``, else ``copy.deepcopy``), so the user's object is never fitted or changed. Arrays are
passed as stored — ``(N, L)``, ``(N, C, L)`` or ``(N, L, C)``, float32, never reshaped — so a scikit-learn
transformer, which wants 2-D, needs its own reshape for 3-D data (README, "The model file").
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..errors import InputError, UserCodeError
from .model import raised_at

__all__ = ["TrainFitted", "FittedStep", "read_preprocess", "is_transformer", "then", "user_code_error",
           "FITTED_ON_TRAIN"]

# the settings block's words for a step that learns from the training split only
FITTED_ON_TRAIN = "fitted on the training split"


def is_transformer(obj) -> bool:
    """An object (not a class) with callable ``fit`` and ``transform``: a scikit-learn-style transformer."""
    return (not inspect.isclass(obj) and callable(getattr(obj, "fit", None))
            and callable(getattr(obj, "transform", None)))


def _describe(obj) -> str:
    """``StandardScaler``, ``Pipeline(scale, clip)`` or a function's name, for the settings block and errors."""
    if not is_transformer(obj):
        return getattr(obj, "__name__", type(obj).__name__)
    steps = getattr(obj, "steps", None)
    if isinstance(steps, list) and all(isinstance(s, tuple) and len(s) == 2 for s in steps):
        return f"{type(obj).__name__}({', '.join(str(name) for name, _ in steps)})"
    return type(obj).__name__


def user_code_error(exc: BaseException, what: str, X: np.ndarray, split: str, *,
                    transformer: bool = False) -> UserCodeError:
    """The exit-2 error for an exception raised in the user's preprocess: theirs, with where and what it got."""
    text = str(exc).strip().rstrip(".") or "(no message)"
    hint = ""
    if transformer and X.ndim == 3:
        hint = (" cnndoctor passes the arrays as stored, three-dimensional, and a scikit-learn transformer wants "
                "2-D (n_samples, n_features): reshape inside your transformer or standardise per channel "
                "(README, \"The model file\").")
    return UserCodeError(
        f"Your preprocess failed: {what} raised {type(exc).__name__}: {text}{raised_at(exc)} on the {split} "
        f"(an array of shape {tuple(X.shape)}, float32). The error comes from your preprocess or a library it "
        f"calls, not from cnndoctor.{hint} Run with -v for the full traceback.")


@dataclass(frozen=True)
class FittedStep:
    """One step fitted on the training split: the user's transformer, their ``fit_preprocess``, or a fixer's
    function that needs no fitting (``fit`` then returns it as it is)."""

    kind: str  # "transformer", "fit_preprocess" or "fixed"
    obj: Any
    name: str

    def fit(self, X_train: np.ndarray, split: str) -> Callable:
        """The transform this step learned from ``X_train`` (a copy: the step must not change the arrays)."""
        if self.kind == "fixed":
            return self.obj
        X = X_train.copy()
        if self.kind == "transformer":
            est = _fresh(self.obj)
            try:
                fitted = est.fit(X)
            except Exception as exc:
                raise user_code_error(exc, f"{self.name}.fit", X_train, split, transformer=True) from exc
            # scikit-learn's fit returns self; an object whose fit returns something else still transforms itself
            est = fitted if is_transformer(fitted) else est
            return est.transform
        try:
            transform = self.obj(X)
        except Exception as exc:
            raise user_code_error(exc, f"{self.name}(X_train)", X_train, split) from exc
        if is_transformer(transform):
            return transform.transform
        if not callable(transform):
            raise InputError(f"{self.name}(X_train) returned a {type(transform).__name__}; it must return the "
                             "function applied to every split (for example `return lambda X: (X - mean) / std`) "
                             "or a fitted transformer.")
        return transform


def _fresh(obj):
    """An unfitted copy of the user's transformer: ``sklearn.base.clone`` for scikit-learn estimators (their
    parameters, not their fitted state), else a deep copy; the user's object is never fitted."""
    if callable(getattr(obj, "get_params", None)):
        try:
            from sklearn.base import clone

            return clone(obj)
        except Exception:  # noqa: BLE001 — get_params that is not scikit-learn's: a deep copy keeps it whole
            pass
    return copy.deepcopy(obj)


@dataclass(frozen=True)
class TrainFitted:
    """Preprocessing fitted on the training split: ``fit(X_train)`` fits each step, in order, on the training
    split as the steps before it left it, and returns the transform applied to every split."""

    steps: tuple[FittedStep, ...]

    @property
    def name(self) -> str:
        """The user's steps in order, for the settings block (a fixer's steps are the fix, not the user's)."""
        return ", then ".join(s.name for s in self.steps if s.kind != "fixed") or "none"

    def fit(self, X_train: np.ndarray, split: str = "training split") -> Callable[[np.ndarray], Any]:
        transforms = []
        X = X_train
        for i, step in enumerate(self.steps):
            transform = step.fit(np.asarray(X, dtype=np.float32), split)
            transforms.append((step, transform))
            if i < len(self.steps) - 1:
                X = _apply(step, transform, np.asarray(X, dtype=np.float32), split)

        def transform_all(X, split: str = "array it was given"):
            for step, transform in transforms:
                X = _apply(step, transform, np.asarray(X, dtype=np.float32), split)
            return X

        return transform_all


def _apply(step: FittedStep, transform: Callable, X: np.ndarray, split: str):
    if step.kind == "fixed":
        return transform(X)
    try:
        out = transform(X.copy())
    except Exception as exc:
        what = f"{step.name}.transform" if step.kind == "transformer" else f"the transform {step.name} returned"
        raise user_code_error(exc, what, X, split, transformer=step.kind == "transformer") from exc
    if hasattr(out, "detach"):  # a tensor: the next step and the facts read numpy
        out = out.detach().cpu().numpy()
    return out


def read_preprocess(preprocess, fit_preprocess) -> tuple[Callable | None, TrainFitted | None]:
    """The user's ``preprocess`` and ``fit_preprocess`` as the ``Subject`` holds them: ``(per-split function,
    fitted steps)``; a transformer given as ``preprocess`` becomes the first fitted step."""
    steps = []
    if preprocess is not None and inspect.isclass(preprocess) and hasattr(preprocess, "transform"):
        raise InputError(f"preprocess is the class {preprocess.__name__}, not an object: give an instance, "
                         f"for example `preprocess = {preprocess.__name__}()`, which cnndoctor fits on the "
                         "training split.")
    if is_transformer(preprocess):
        steps.append(FittedStep("transformer", preprocess, _describe(preprocess)))
        preprocess = None
    elif preprocess is not None and not callable(preprocess):
        raise InputError(f"preprocess is a {type(preprocess).__name__}; it must be a function X -> X applied to "
                         "every split, or a transformer with fit and transform (fitted on the training split).")
    if fit_preprocess is not None:
        if is_transformer(fit_preprocess):
            steps.append(FittedStep("transformer", fit_preprocess, _describe(fit_preprocess)))
        elif callable(fit_preprocess):
            steps.append(FittedStep("fit_preprocess", fit_preprocess, _describe(fit_preprocess)))
        else:
            raise InputError(f"fit_preprocess is a {type(fit_preprocess).__name__}; it must be a function "
                             "fit_preprocess(X_train) that returns the function applied to every split.")
    return preprocess, TrainFitted(tuple(steps)) if steps else None


def then(preprocess: Callable | None, fitted: TrainFitted | None, step: Callable,
         name: str = "fix") -> dict[str, Any]:
    """``Subject`` fields that run ``step`` after everything the user's preprocess does (a fixer's change):
    ``{"preprocess": ...}`` or ``{"fit_preprocess": ...}``, for ``dataclasses.replace``."""
    if fitted is not None:
        return {"fit_preprocess": TrainFitted(fitted.steps + (FittedStep("fixed", step, name),))}
    if preprocess is None:
        return {"preprocess": step}
    return {"preprocess": lambda X: step(np.asarray(preprocess(X), dtype=np.float32))}
