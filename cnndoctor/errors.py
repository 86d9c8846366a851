"""Exceptions that carry a user-facing explanation.

``InputError`` is what the CLI turns into a one-paragraph message and exit code 2;
``Skip`` and ``FactUnavailable`` let a check or a fact say "this does not apply here".
"""

from pathlib import Path

__all__ = ["CnndoctorError", "InputError", "UserCodeError", "Skip", "FactUnavailable", "PACKAGE_DIR"]

# Frames in files below this folder are cnndoctor's own: an error or a hang is attributed to the first
# frame outside it (and outside torch), the user's or a library's code.
PACKAGE_DIR = str(Path(__file__).resolve().parent)


class CnndoctorError(Exception):
    """Base class for every error cnndoctor raises on purpose."""


class InputError(CnndoctorError):
    """The user's model file, data file or options cannot be used.

    The message is a complete paragraph: what was found and what was expected.
    """


class UserCodeError(InputError):
    """The user's own code (or a library it calls) raised while cnndoctor built the model.

    Exit code 2 like any input error: the message names the exception, where it was raised and
    the arguments cnndoctor passed — it is not a bug in cnndoctor.
    """


class Skip(CnndoctorError):
    """Raised by a check that does not apply to this subject; the message is the reason."""


class FactUnavailable(CnndoctorError):
    """Raised by a fact that cannot be measured for this subject; checks needing it are skipped."""
