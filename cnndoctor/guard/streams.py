"""Keeping the user's prints out of the report: ``cnndoctor run --format json > report.json`` stays valid.

While the CLI runs user code (the import of model.py, the constructor, forward, preprocess,
train_step, Keras's progress bars), whatever it writes to stdout goes to stderr instead, unchanged
and without a prefix (a prefix would break carriage-return progress bars, and cannot be added to
native writes anyway). The redirection is made twice: ``sys.stdout`` at the Python level, and file
descriptor 1 at the OS level, so that writes from C extensions (``printf``, ``os.write(1, ...)``)
do not reach the real stdout either. The report is written after both are restored.

The Python API does not use this: in a notebook, ``diagnose()`` leaves the user's prints where the
user expects to see them.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

__all__ = ["stdout_to_stderr"]


def _flush_c_stdio() -> None:
    """Flush the C library's stdout buffer (printf from an extension), so it lands on the redirected fd."""
    try:
        import ctypes

        libc = ctypes.CDLL(None) if os.name != "nt" else ctypes.cdll.msvcrt
        libc.fflush(None)
    except Exception:  # no libc to talk to: Python-level writes are still redirected
        pass


def _flush(stream) -> None:
    try:
        if stream is not None:
            stream.flush()
    except (OSError, ValueError):
        pass


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to stdout (sys.stdout and fd 1) to stderr while the block runs."""
    _flush(sys.stdout)
    _flush(sys.__stdout__)
    _flush_c_stdio()
    saved = None
    try:
        saved = os.dup(1)
        os.dup2(2, 1)
    except OSError:  # no fd 1 or 2 (a GUI interpreter): the Python-level redirect still applies
        if saved is not None:
            os.close(saved)
        saved = None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _flush(sys.stderr)
        _flush(sys.__stdout__)
        _flush_c_stdio()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)
