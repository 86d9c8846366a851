"""The built-in checks, installed as ``cnndoctor.checks``.

Every module in this package is imported here, so a new check module registers its
checks just by being in this folder.
"""

import importlib as _importlib
import pkgutil as _pkgutil

for _info in _pkgutil.iter_modules(__path__):
    if not _info.name.startswith("_"):
        _importlib.import_module(f"{__name__}.{_info.name}")
