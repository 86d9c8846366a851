"""What the user sees while a diagnosis runs: which check (and probe) is running and how far along the run is.

Three places, one state (``RunProgress``):

- a terminal: a transient rich status line on stderr (never stdout: the CLI's report may be piped), only when
  stderr is a terminal;
- a Jupyter kernel: one display output updated in place (``IPython.display`` with a ``display_id``, plain HTML:
  no ipywidgets, which rich's ``Live`` and tqdm's notebook bar need and a kernel may not have), collapsed to
  one line when the run ends;
- anywhere else (a pipe, a CI log, ``progress=False``): nothing.

The runner reports each check with its place in the run (``done``/``total``); facts and the fix verification
report what they are doing inside it (``"training probe"``, ``"verifying the fix for D102: ..."``).
"""

from __future__ import annotations

import html
import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterator

__all__ = ["RunProgress", "progress_display", "in_notebook"]


class RunProgress:
    """The run's progress: the check running (with its place among the selected checks) and, inside it, the
    step (a probe, a fix being verified). Calling it updates the state and shows it."""

    def __init__(self, show: Callable[["RunProgress"], None]):
        self._show = show
        self.started = time.perf_counter()
        self.check: str | None = None
        self.detail: str | None = None
        self.done = 0  # checks finished
        self.total: int | None = None

    def __call__(self, text: str, *, done: int | None = None, total: int | None = None) -> None:
        """``text`` names a check when the runner passes its place (``done``, ``total``), else a step inside
        the current check."""
        if done is not None:
            self.check, self.detail, self.done = text, None, done
            self.total = total if total is not None else self.total
        else:
            self.detail = text
        self._show(self)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def line(self) -> str:
        """``[12/41] T101 memorise-batch · training probe · 8 s``."""
        parts = [f"[{self.done}/{self.total}]"] if self.total else []
        parts.append(self.check or "starting")
        text = " ".join(parts)
        if self.detail:
            text += f" · {self.detail}"
        return f"{text} · {self.elapsed:.0f} s"

    def closing_line(self, failed: BaseException | None) -> str:
        """The one line the notebook display collapses to."""
        if failed is not None:
            return f"cnndoctor: stopped after {self.elapsed:.1f} s at {self.check or 'the start'} " \
                   f"({type(failed).__name__})"
        checks = f"{self.total} check{'s' if self.total != 1 else ''}" if self.total else "the checks"
        return f"cnndoctor: ran {checks} in {self.elapsed:.1f} s"


def in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Notebook, VS Code, Colab), as rich detects it: an IPython shell
    with a kernel. A terminal IPython has none."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # noqa: BLE001 — an IPython too old or half-imported: no notebook display
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


@contextmanager
def progress_display(enabled: bool) -> Iterator[RunProgress | None]:
    """The progress callback for one run (None when nothing is shown): a display in a notebook, a status line
    on a terminal's stderr."""
    if not enabled:
        yield None
    elif in_notebook():
        with _notebook() as progress:
            yield progress
    elif sys.stderr.isatty():
        with _terminal() as progress:
            yield progress
    else:
        yield None


@contextmanager
def _terminal() -> Iterator[RunProgress]:
    from rich.console import Console

    from .reporters.terminal import force_terminal_for

    console = Console(stderr=True, force_terminal=force_terminal_for(sys.stderr))
    with console.status("cnndoctor: starting") as status:
        yield RunProgress(lambda p: status.update(f"cnndoctor: {p.line()}"))


# The smallest interval between two notebook updates: each is a message to the front end, and a fact may
# report many steps in a second. The check changes are always shown.
_NOTEBOOK_INTERVAL = 0.25


def _bundle(text: str, done: int | None = None, total: int | None = None) -> dict[str, str]:
    bar = (f'<progress value="{done}" max="{total}" style="width:12em;vertical-align:middle"></progress> '
           if total else "")
    return {"text/plain": text,
            "text/html": f'<div class="cnndoctor-progress" style="font-family:monospace">{bar}'
                         f"{html.escape(text)}</div>"}


@contextmanager
def _notebook() -> Iterator[RunProgress]:
    from IPython.display import display

    handle = display(_bundle("cnndoctor: starting"), raw=True, display_id=True)
    last = {"at": 0.0, "check": None}

    def show(p: RunProgress) -> None:
        now = time.perf_counter()
        if p.check == last["check"] and now - last["at"] < _NOTEBOOK_INTERVAL:
            return
        last.update(at=now, check=p.check)
        handle.update(_bundle(f"cnndoctor: {p.line()}", p.done, p.total), raw=True)

    progress = RunProgress(show)
    failed: BaseException | None = None
    try:
        yield progress
    except BaseException as exc:
        failed = exc
        raise
    finally:
        handle.update(_bundle(progress.closing_line(failed)), raw=True)
