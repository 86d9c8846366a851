"""Warnings raised while cnndoctor runs the user's code, kept and attributed instead of leaking to stderr.

torch, numpy and the user's own code warn while the model is built, traced and trained ("Using padding='same'
with even kernel lengths and odd dilation ...", "Implicit dimension choice for softmax ..."). Printed raw to
stderr in the middle of a run, such a line says neither which run step caused it nor that it is about the
user's model. ``capture_warnings()`` records each distinct warning once, with where it was raised, the line of
the user's code that led to it and what the run was doing then (the phase of ``guard/timeout``), and the report
lists them (``Report.warnings``).

The capture respects the user's filters: a warning they ignore stays ignored, one they turned into an error
still raises. It only replaces where shown warnings go, inside ``warnings.catch_warnings()``, so the filters
and ``warnings.showwarning`` are exactly as before once the run ends. Captures nest: an inner one (``run_diagnosis``
inside the CLI's, which also covers importing model.py and building the model) adds to the outer one's log.
"""

from __future__ import annotations

import functools
import sys
import sysconfig
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import PACKAGE_DIR
from .timeout import activity, user_line

__all__ = ["CapturedWarning", "WarningLog", "capture_warnings", "within_capture", "MAX_WARNINGS"]

# Distinct warnings kept per run; a model that warns with a new message at every step (a number in the text)
# must not grow the report without bound. The log counts the ones left out.
MAX_WARNINGS = 20
# Distinct run steps kept per warning: the first few say where it starts; the count says how widespread it is.
MAX_PHASES = 3

# The checks live outside the package folder (cnndoctor.checks is mapped to ./checks by setuptools).
_OWN_ROOTS = (PACKAGE_DIR, str(Path(PACKAGE_DIR).parent / "checks"))


@dataclass
class CapturedWarning:
    """One distinct warning: its category and text, where it was raised, and when in the run."""

    category: str  # "UserWarning"
    message: str
    origin: str  # "torch", "numpy", "your code", "cnndoctor", "python": who raised it
    location: str  # the file and line warnings.warn pointed at ("torch/nn/modules/conv.py:380")
    user_line: str | None  # the user's line that led to it ("model.py line 12, in forward"), when there is one
    phases: list[str] = field(default_factory=list)  # what the run was doing ("computing the training probe ...")

    def to_dict(self) -> dict[str, Any]:
        return {"category": self.category, "message": self.message, "origin": self.origin,
                "location": self.location, "user_line": self.user_line, "phases": list(self.phases)}


@dataclass
class WarningLog:
    """The distinct warnings of one run, in the order first seen."""

    entries: list[CapturedWarning] = field(default_factory=list)
    left_out: int = 0  # distinct warnings past MAX_WARNINGS
    _index: dict[tuple, CapturedWarning] = field(default_factory=dict, repr=False)

    def record(self, message, category, filename: str, lineno: int) -> None:
        text = str(message).strip()
        frame = sys._getframe(1)
        mine = user_line(frame)
        # one warning from one line of the user's code is one entry, wherever warnings.warn pointed: its
        # stacklevel lands in torch under cnndoctor's op tracer and in the user's file without it
        key = (category, text, mine if mine is not None else (filename, lineno))
        now = activity(frame)
        seen = self._index.get(key)
        if seen is not None:
            if now not in seen.phases and len(seen.phases) < MAX_PHASES:
                seen.phases.append(now)
            return
        if len(self.entries) >= MAX_WARNINGS:
            self.left_out += 1
            return
        origin, location = _origin(*_through_modes(frame, filename, lineno))
        entry = CapturedWarning(getattr(category, "__name__", str(category)), text, origin, location, mine, [now])
        self._index[key] = entry
        self.entries.append(entry)

    def to_list(self) -> list[dict[str, Any]]:
        """Plain data for the report: one dict per distinct warning."""
        return [e.to_dict() for e in self.entries]

    def overflow_note(self) -> str | None:
        """The report's note when distinct warnings were left out, else None."""
        if not self.left_out:
            return None
        return (f"{self.left_out} more distinct warning{'s were' if self.left_out != 1 else ' was'} raised while "
                f"running your model and not kept (the report keeps the first {MAX_WARNINGS}).")


_ACTIVE: list[WarningLog] = []


@contextmanager
def capture_warnings() -> Iterator[WarningLog]:
    """Record the warnings shown while the block runs in a ``WarningLog`` instead of printing them.

    Inside an active capture, yields that capture's log (one run, one log)."""
    if _ACTIVE:
        yield _ACTIVE[-1]
        return
    log = WarningLog()

    def show(message, category, filename, lineno, file=None, line=None):
        log.record(message, category, filename, lineno)

    try:
        with warnings.catch_warnings():  # restores the filters and showwarning on the way out
            warnings.showwarning = show
            _ACTIVE.append(log)
            try:
                yield log
            finally:
                _ACTIVE.remove(log)
    except BaseException:  # no report will list them, and one may explain the failure: say them on stderr
        for entry in log.entries:
            print(f"cnndoctor: {entry.origin} warned while {entry.phases[0]}: {entry.category}: {entry.message} "
                  f"({entry.location})", file=sys.stderr)
        raise


def within_capture(func: Callable) -> Callable:
    """Run ``func`` inside ``capture_warnings()``: an entry point whose whole run (loading the data, building
    the model, ``run_diagnosis``) shares one log."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with capture_warnings():
            return func(*args, **kwargs)

    return wrapper


def _through_modes(frame, filename: str, lineno: int) -> tuple[str, int]:
    """Where the warning really comes from. Under a torch function mode (cnndoctor's op tracer,
    ``trace/ops.py``) every torch call passes through the mode's ``__torch_function__``, so a warning torch
    raises from C++ points at the mode's line; the frame that called the torch function is the one meant."""
    while frame is not None and not (frame.f_code.co_filename == filename and frame.f_lineno == lineno):
        frame = frame.f_back
    if frame is None or frame.f_code.co_name not in _MODE_HOOKS:
        return filename, lineno
    while frame is not None and frame.f_code.co_name in _MODE_HOOKS:
        frame = frame.f_back
    # torch's overrides machinery (handle_torch_function) sits between the mode and the caller
    while frame is not None and frame.f_code.co_filename.endswith(_OVERRIDES):
        frame = frame.f_back
    return (frame.f_code.co_filename, frame.f_lineno) if frame is not None else (filename, lineno)


_MODE_HOOKS = ("__torch_function__", "__torch_dispatch__")
_OVERRIDES = ("overrides.py", "_ops.py")


def _library_roots() -> list[str]:
    roots = []
    for key in ("purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path and path not in roots:
            roots.append(str(Path(path).resolve()))
    return roots


def _origin(filename: str, lineno: int) -> tuple[str, str]:
    """(who raised it, "file:line" as the user would look it up)."""
    if filename.startswith("<"):  # code passed to exec or compile ("<string>")
        return "your code", f"{filename}:{lineno}"
    try:
        path = Path(filename).resolve()
    except (OSError, ValueError):
        return "your code", f"{filename}:{lineno}"
    text = str(path)
    if text.startswith(_OWN_ROOTS):
        return "cnndoctor", f"{path.name}:{lineno}"
    parts = path.parts
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            inside = parts[parts.index(marker) + 1:]
            package = inside[0].split(".")[0] if inside else marker
            return package, f"{'/'.join(inside)}:{lineno}"
    for root in _library_roots():
        if text.startswith(root):
            inside = Path(text).relative_to(root).parts
            return (inside[0].split(".")[0] if inside else "python"), f"{'/'.join(inside)}:{lineno}"
    stdlib = sysconfig.get_paths().get("stdlib")
    if stdlib and text.startswith(str(Path(stdlib).resolve())):
        return "python", f"{path.name}:{lineno}"
    try:
        shown = path.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        shown = str(path)
    return "your code", f"{shown}:{lineno}"
