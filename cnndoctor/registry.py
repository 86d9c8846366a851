"""The check registry: ``@check`` on plain functions, selection by code, prefix or name.

A check's positional parameters name the facts it reads from the context; its
keyword-only parameters (with defaults) are thresholds a user may override.
Its docstring is its documentation and must have the sections listed in ``DOC_SECTIONS``.
"""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from .errors import InputError
from .findings import Severity

__all__ = [
    "check",
    "make_spec",
    "CheckSpec",
    "STAGES",
    "DOC_SECTIONS",
    "all_checks",
    "get_check",
    "select_checks",
    "thresholds_of",
]

STAGES = ("data", "labels", "architecture", "probes")
DOC_SECTIONS = ("What it does", "Why is this bad?", "Example", "Fix")

_CODE = re.compile(r"^[DLAT][1-9][0-9]{2}$")
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_SECTION = re.compile(r"^##\s+(.+?)\s*$", re.MULTILINE)
_REGISTRY: dict[str, "CheckSpec"] = {}


@dataclass(frozen=True)
class CheckSpec:
    code: str
    name: str
    severity: Severity
    stage: str
    func: Callable[..., Any]
    facts: tuple[str, ...]
    thresholds: Mapping[str, Any]

    @property
    def doc(self) -> str:
        return inspect.cleandoc(self.func.__doc__ or "")

    def sections(self) -> dict[str, str]:
        """The docstring split at its ``## Heading`` lines."""
        doc = self.doc
        heads = list(_SECTION.finditer(doc))
        out = {}
        for i, m in enumerate(heads):
            end = heads[i + 1].start() if i + 1 < len(heads) else len(doc)
            out[m.group(1)] = doc[m.end():end].strip()
        return out

    @property
    def summary(self) -> str:
        """The first sentence of *What it does*, for ``cnndoctor list``."""
        text = " ".join(self.sections().get("What it does", self.doc).split())
        first = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
        return first

    def matches(self, token: str) -> bool:
        token = token.strip()
        return token.upper() == "ALL" or self.code.startswith(token.upper()) or token.lower() == self.name

    def options(self, overrides: Mapping[str, Mapping] | None = None) -> dict[str, Any]:
        """This check's thresholds as registered, with the user's overrides (``{code: {name: value}}``,
        validated and keyed by code) on top: what the runner passes it, and what every other consumer of
        its thresholds reads (``thresholds_of``, ``Context.thresholds_for``)."""
        return {**self.thresholds, **dict((overrides or {}).get(self.code, {}))}


def _stage_for(code: str) -> str:
    return {"D": "data", "L": "labels", "A": "architecture", "T": "probes"}[code[0]]


def make_spec(func: Callable[..., Any], code: str, name: str, severity: Severity | str, *,
              stage: str | None = None) -> CheckSpec:
    """Validate a check function and describe it, without registering it."""
    if not _CODE.match(code):
        raise ValueError(f"check code {code!r} must be a family letter D/L/A/T and three digits")
    if not _NAME.match(name):
        raise ValueError(f"check name {name!r} must be kebab-case")
    stage = stage or _stage_for(code)
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; use one of {STAGES}")
    facts, thresholds = [], {}
    for p in inspect.signature(func).parameters.values():
        if p.kind is p.KEYWORD_ONLY:
            if p.default is p.empty:
                raise ValueError(f"{code}: threshold {p.name!r} needs a default")
            thresholds[p.name] = p.default
        elif p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            facts.append(p.name)
        else:
            raise ValueError(f"{code}: *args/**kwargs are not allowed in a check signature")
    return CheckSpec(code, name, Severity.parse(severity), stage, func, tuple(facts), thresholds)


def check(code: str, name: str, severity: Severity | str, *, stage: str | None = None):
    """Register a check function under ``code`` and ``name`` with a default ``severity``."""

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        spec = make_spec(func, code, name, severity, stage=stage)
        if code in _REGISTRY and _REGISTRY[code].func.__qualname__ != func.__qualname__:
            raise ValueError(f"check code {code} is already registered to {_REGISTRY[code].func.__qualname__}")
        for other in _REGISTRY.values():
            if other.name == name and other.code != code:
                raise ValueError(f"check name {name!r} is already used by {other.code}")
        _REGISTRY[code] = spec
        func.check_code = code
        return func

    return register


def _load_builtin() -> None:
    importlib.import_module("cnndoctor.checks")


def all_checks() -> list[CheckSpec]:
    """Every registered check, in run order: by stage, then by code."""
    _load_builtin()
    return sorted(_REGISTRY.values(), key=lambda s: (STAGES.index(s.stage), s.code))


def get_check(token: str) -> CheckSpec:
    for spec in all_checks():
        if spec.code == token.strip().upper() or spec.name == token.strip().lower():
            return spec
    raise InputError(f"No check is called {token!r}. Run `cnndoctor list` to see every code and name.")


def thresholds_of(code: str, overrides: Mapping[str, Mapping] | None = None) -> dict[str, Any]:
    """The thresholds of check ``code`` (registered defaults plus the user's overrides): the one helper the
    runner, the Context (``ctx.thresholds_for``) and the gate (``ChanceRule.for_thresholds``) share."""
    return get_check(code).options(overrides)


def _tokens(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    return [t.strip() for v in value for t in str(v).split(",") if t.strip()]


def select_checks(select=None, ignore=None) -> list[CheckSpec]:
    """The checks kept by ``select`` (default all) minus ``ignore``; tokens are codes, prefixes or names."""
    specs = all_checks()
    chosen, dropped = _tokens(select), _tokens(ignore)
    for token in chosen + dropped:
        if not any(s.matches(token) for s in specs):
            raise InputError(
                f"--select/--ignore got {token!r}, which matches no check. Use a code (D102), a prefix "
                f"(D, L2) or a name (unscaled-input); `cnndoctor list` shows them all."
            )
    if chosen:
        specs = [s for s in specs if any(s.matches(t) for t in chosen)]
    return [s for s in specs if not any(s.matches(t) for t in dropped)]
