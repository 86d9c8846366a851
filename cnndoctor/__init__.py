"""cnndoctor: tells why a 1D CNN does not learn, with evidence and a fix."""

from ._version import __version__
from .api import diagnose
from .errors import InputError
from .findings import CheckOutcome, Finding, Severity, Status
from .live.symptoms import CnndoctorWarning
from .live.watch import watch
from .registry import check
from .report import Report

__all__ = ["__version__", "diagnose", "Report", "Finding", "Severity", "Status", "CheckOutcome", "check",
           "InputError", "watch", "CnndoctorWarning"]
