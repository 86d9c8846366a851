"""The context: facts about the subject, each measured once, on first use, and cached.

A fact is a function ``f(ctx) -> value`` registered with ``@fact``; its name is the name
checks use as a parameter. Measuring lives here and in ``cnndoctor.facts``; judging lives
in the checks. A fact that fails is cached as failed, so every check needing it is
skipped (``FactUnavailable``) or errored with the same reason, and it is not re-run.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from typing import Any, Callable, Mapping

from .errors import FactUnavailable
from .guard.timeout import DiagnosisTimeout, phase
from .probes.budget import DEFAULT_BUDGET
from .probes.threads import fact_threads

__all__ = ["Context", "fact", "registered_facts"]

_FACTS: dict[str, Callable[["Context"], Any]] = {}
_LOADED = False


def fact(func: Callable[["Context"], Any]) -> Callable[["Context"], Any]:
    """Register ``func`` as the fact named after it."""
    if func.__name__ in _FACTS and _FACTS[func.__name__].__module__ != func.__module__:
        raise ValueError(f"fact {func.__name__!r} is defined twice ({_FACTS[func.__name__].__module__}, "
                         f"{func.__module__})")
    _FACTS[func.__name__] = func
    return func


def _load_fact_modules() -> None:
    global _LOADED
    if _LOADED:
        return
    package = importlib.import_module("cnndoctor.facts")
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"cnndoctor.facts.{info.name}")
    _LOADED = True


def registered_facts() -> dict[str, Callable]:
    _load_fact_modules()
    return dict(_FACTS)


class Context:
    """Lazy, cached facts about one subject. ``ctx.get("name")`` or ``ctx.name``."""

    def __init__(self, subject, *, budget: str = DEFAULT_BUDGET, progress=None, verbose: bool = False,
                 thresholds: Mapping[str, Mapping] | None = None):
        _load_fact_modules()
        self.subject = subject
        self.budget = budget
        # the user's threshold overrides, validated and keyed by code (api.run_diagnosis fills them)
        self.thresholds: dict[str, dict] = {code: dict(v) for code, v in (thresholds or {}).items()}
        self.progress = progress
        self.verbose = verbose
        self.timings: dict[str, float] = {}
        self._values: dict[str, Any] = {"subject": subject, "budget": budget}
        self._errors: dict[str, BaseException] = {}
        self.notes: list[str] = list(subject.data.notes)

    def get(self, name: str) -> Any:
        if name in self._values:
            return self._values[name]
        if name in self._errors:
            raise self._errors[name]
        func = _FACTS.get(name)
        if func is None:
            raise KeyError(f"no fact named {name!r}; known: {', '.join(sorted(_FACTS))}")
        start = time.perf_counter()
        try:
            # a fixed torch thread count: the count changes results in their last bits (see probes/threads.py)
            with phase(name, kind="fact"), fact_threads(getattr(self.subject, "device", "cpu")):
                value = func(self)
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, DiagnosisTimeout)):
                raise
            self._errors[name] = exc
            raise
        finally:
            self.timings[name] = time.perf_counter() - start
        self._values[name] = value
        return value

    def has(self, name: str) -> bool:
        """True when the fact can be measured (computing it if needed)."""
        try:
            self.get(name)
            return True
        except FactUnavailable:
            return False

    def thresholds_for(self, code: str) -> dict[str, Any]:
        """The thresholds of check ``code`` in this run: its registered defaults with the user's overrides on
        top, exactly what the runner passes that check. For facts that need another check's decision (the
        data's time axis is D301's, "cannot memorise a batch" is T101's): one owner, overrides included."""
        from .registry import thresholds_of

        return thresholds_of(code, self.thresholds)

    def provide(self, name: str, value: Any) -> None:
        """Give fact ``name`` a value measured elsewhere, before anything asks for it: live mode gives the
        user's own run as ``training_probe``. A ``FactUnavailable`` value marks the fact unavailable (every
        check that needs it is skipped with that reason) instead of measuring it."""
        if name in self._values or name in self._errors:
            raise ValueError(f"fact {name!r} is already measured in this context")
        if isinstance(value, FactUnavailable):
            self._errors[name] = value
        else:
            self._values[name] = value

    def computed(self, name: str) -> bool:
        return name in self._values

    def failure(self, name: str) -> BaseException | None:
        """The exception the fact ``name`` failed with (cached, not re-run); None when it has not failed."""
        return self._errors.get(name)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in _FACTS:
            raise AttributeError(name)
        return self.get(name)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
