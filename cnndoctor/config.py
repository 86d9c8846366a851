"""Settings from ``[tool.cnndoctor]`` in the user's pyproject.toml, validated, and merged with the CLI.

The table is found from the working directory upwards: the first pyproject.toml that has one
wins (pyproject files without it are passed over, as ruff does). Every key is checked; a
mistake is an ``InputError`` (exit code 2) naming the file and what was expected.

```toml
[tool.cnndoctor]
select = ["D", "L", "A"]
ignore = ["D303", { code = "A205", reason = "small data by design" }]
fail-on = "warning"
format = "github"
device = "cpu"
seed = 0
budget = "quick"
timeout = 900      # seconds for the whole run; 0: no limit (default: per budget)
memory-budget = "2GB"   # data above it stays on disk: statistics chunk by chunk, the rest on a sample
scheduler = "auto"      # where those chunks run: auto, sync, local, or a Dask scheduler's address

[tool.cnndoctor.thresholds.D102]   # a check's keyword-only parameters
max_rms = 20
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from .errors import InputError
from .probes.budget import BUDGETS, DEFAULT_BUDGET
from .report import FAIL_ON

__all__ = ["Config", "Ignore", "find_config", "load_config", "parse_config", "parse_ignore",
           "validate_thresholds", "merge_selection", "FORMATS", "LAYOUTS", "KEYS", "DEFAULTS", "RUN_OPTIONS"]

FORMATS = ("text", "json", "markdown", "html", "github", "gitlab", "junit")
LAYOUTS = ("auto", "ncl", "nlc")
KEYS = ("select", "ignore", "fail-on", "format", "device", "seed", "budget", "layout", "timeout", "thresholds",
        "memory-budget", "scheduler")
# What a setting is when neither the command line nor [tool.cnndoctor] sets it (the budget names and
# the fail-on levels are owned by probes/budget.py and report.py). timeout None: the budget's
# (guard.timeout.BUDGET_TIMEOUTS).
DEFAULTS = {"fail_on": "error", "format": "text", "device": "auto", "seed": 0, "budget": DEFAULT_BUDGET,
            "layout": "auto", "timeout": None,
            # data beyond memory (load/big.py): None is its DEFAULT_MEMORY_BUDGET (2 GiB) and, for the scheduler,
            # a Dask LocalCluster when dask is installed
            "memory_budget": None, "scheduler": None}
# The run options diagnose() takes too, whose source (default, config file, command line, argument)
# the report's settings block shows.
RUN_OPTIONS = ("device", "seed", "budget", "layout")
_ALIASES = {"output-format": "format"}
_SECTION = re.compile(r"^\s*\[\s*tool\s*\.\s*cnndoctor\b", re.MULTILINE)
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


@dataclass(frozen=True)
class Ignore:
    """One ignored code, prefix or name, with the reason the project gives for it (if any)."""

    token: str
    reason: str | None = None
    source: str | None = None  # where the ignore was written, shown with the reason

    def describe(self) -> str:
        where = f" ({self.source})" if self.source else ""
        return f"ignored{where}: {self.reason}"


@dataclass
class Config:
    """Validated settings; ``None`` means "not set here" so the CLI and the defaults can fill in."""

    path: Path | None = None
    select: list[str] | None = None
    ignore: list[Ignore] = field(default_factory=list)
    fail_on: str | None = None
    format: str | None = None
    device: str | None = None
    seed: int | None = None
    budget: str | None = None
    timeout: float | None = None
    layout: str | None = None
    memory_budget: int | None = None  # bytes
    scheduler: str | None = None
    thresholds: dict[str, dict[str, Any]] = field(default_factory=dict)


def _toml():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            return None
    return tomllib


def _read_toml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"Cannot read the configuration file {path}: {exc.strerror or exc}.") from None
    return _parse_toml(text, path)


def _parse_toml(text: str, path: Path) -> dict:
    tomllib = _toml()
    if tomllib is None:
        raise InputError(f"{path} has cnndoctor settings, but reading TOML on Python < 3.11 needs the tomli "
                         "package: run `pip install tomli`, or pass --isolated to ignore the settings.")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path} is not valid TOML ({exc}). Fix the file, or pass --isolated to ignore it.") from None


def _section(doc: dict, path: Path) -> dict | None:
    tool = doc.get("tool")
    table = tool.get("cnndoctor") if isinstance(tool, dict) else None
    if table is not None and not isinstance(table, dict):
        raise InputError(f"{path}: tool.cnndoctor must be a table ([tool.cnndoctor]), not a {type(table).__name__}.")
    return table


def find_config(start: str | Path | None = None) -> Path | None:
    """The nearest pyproject.toml with a ``[tool.cnndoctor]`` table, from ``start`` (cwd) upwards."""
    folder = Path(start or Path.cwd()).resolve()
    if folder.is_file():
        folder = folder.parent
    for candidate in (folder, *folder.parents):
        path = candidate / "pyproject.toml"
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # an unreadable file elsewhere in the tree is not ours to judge
        if "cnndoctor" not in text:
            continue
        if _toml() is None:
            if _SECTION.search(text):
                return path  # load_config then explains that tomli is needed
            continue
        if _section(_parse_toml(text, path), path) is not None:
            return path
    return None


def load_config(path: str | Path | None = None, *, start: str | Path | None = None) -> Config:
    """Settings from ``path`` (a pyproject.toml, or any .toml holding the keys at top level),
    or from the nearest pyproject.toml with ``[tool.cnndoctor]``; an empty Config when there is none."""
    if path is None:
        found = find_config(start)
        if found is None:
            return Config()
        return parse_config(_section(_read_toml(found), found) or {}, found)
    path = Path(path)
    if not path.is_file():
        raise InputError(f"The configuration file {path} does not exist. Expected a pyproject.toml with a "
                         "[tool.cnndoctor] table, or a .toml file with the cnndoctor keys at top level.")
    doc = _read_toml(path)
    if path.name == "pyproject.toml":
        table = _section(doc, path)
        if table is None:
            raise InputError(f"{path} has no [tool.cnndoctor] table. Add one (keys: {', '.join(KEYS)}).")
        return parse_config(table, path)
    return parse_config(doc, path)


def _strings(value, key: str, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{where}: {key} must be a list of codes, prefixes or names (strings), "
                         f"e.g. {key} = [\"D\", \"L101\"]; got {value!r}.")
    return [t.strip() for v in value for t in v.split(",") if t.strip()]


def _check_tokens(tokens: Iterable[str], key: str, where: str) -> None:
    from .registry import all_checks

    specs = all_checks()
    for token in tokens:
        if not any(s.matches(token) for s in specs):
            raise InputError(f"{where}: {key} names {token!r}, which matches no check. Use a code (D102), a "
                             "prefix (D, L2) or a name (unscaled-input); `cnndoctor list` shows them all.")


def parse_ignore(value, *, where: str = "ignore", source: str | None = None) -> list[Ignore]:
    """Normalise the forms an ignore list may take, each entry optionally with a reason.

    ``"D102"`` or ``"D102,A2"``; a list of strings and ``{code = "A205", reason = "..."}`` tables;
    a table ``{"A205" = "reason", ...}``; or ``Ignore`` objects.
    """
    if value is None:
        return []
    if isinstance(value, Ignore):
        return [value]
    if isinstance(value, str):
        return [Ignore(t, None, source) for t in _strings(value, "ignore", where)]
    if isinstance(value, Mapping):
        out = []
        for token, reason in value.items():
            if not isinstance(reason, str) or not reason.strip():
                raise InputError(f"{where}: in the ignore table, {token} = {reason!r} must give the reason as "
                                 "a non-empty string, e.g. A205 = \"small data by design\".")
            out.append(Ignore(str(token).strip(), reason.strip(), source))
        return out
    if not isinstance(value, (list, tuple)):
        raise InputError(f"{where}: ignore must be a list (or a table of code = \"reason\"), not {value!r}.")
    out = []
    for item in value:
        if isinstance(item, Ignore):
            out.append(item)
        elif isinstance(item, str):
            out.extend(Ignore(t, None, source) for t in _strings(item, "ignore", where))
        elif isinstance(item, Mapping):
            extra = set(item) - {"code", "reason"}
            code, reason = item.get("code"), item.get("reason")
            if extra or not isinstance(code, str) or not code.strip() or (
                    reason is not None and not isinstance(reason, str)):
                raise InputError(f"{where}: an ignore entry must be a code or {{code = \"A205\", reason = "
                                 f"\"why\"}}; got {dict(item)!r}.")
            out.append(Ignore(code.strip(), reason.strip() if reason and reason.strip() else None, source))
        else:
            raise InputError(f"{where}: an ignore entry must be a code or {{code = \"A205\", reason = \"why\"}}; "
                             f"got {item!r}.")
    return out


def _describe_value(value) -> str:
    return {bool: "a boolean", str: "a string", int: "a number", float: "a number"}.get(type(value),
                                                                                      type(value).__name__)


def _compatible(default, value) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    if default is None:
        return True
    return isinstance(value, type(default)) or (isinstance(default, tuple) and isinstance(value, list))


def validate_thresholds(thresholds: Mapping | None, *, where: str = "thresholds",
                        style: str = "api") -> dict[str, dict[str, Any]]:
    """Check every ``{code or name: {parameter: value}}`` against the registered checks.

    Returns the table keyed by code, values converted to the type of each default.
    """
    from .registry import all_checks

    if not thresholds:
        return {}
    if not isinstance(thresholds, Mapping):
        raise InputError(f"{where}: thresholds must be a table of check codes, each a table of parameter = value.")
    specs = all_checks()
    out: dict[str, dict[str, Any]] = {}
    for key, params in thresholds.items():
        label = f"[tool.cnndoctor.thresholds.{key}]" if style == "config" else f"thresholds[{key!r}]"
        spec = next((s for s in specs if s.code == str(key).strip().upper() or s.name == str(key).strip().lower()),
                    None)
        if spec is None:
            raise InputError(f"{where}: {label} names no check. Use a check's code (D102) or name "
                             "(unscaled-input); `cnndoctor list` shows them all.")
        if not isinstance(params, Mapping):
            raise InputError(f"{where}: {label} must be a table of parameter = value, e.g. "
                             f"{next(iter(spec.thresholds), 'limit')} = 1.")
        known = ", ".join(f"{k} (default {v!r})" for k, v in spec.thresholds.items())
        for name, value in params.items():
            if name not in spec.thresholds:
                has = f"its thresholds are {known}" if known else "it has no thresholds to set"
                raise InputError(f"{where}: {label} sets {name!r}, which {spec.code} {spec.name} does not have; "
                                 f"{has}. `cnndoctor explain {spec.code}` describes them.")
            default = spec.thresholds[name]
            if not _compatible(default, value):
                raise InputError(f"{where}: {label} sets {name} = {value!r} ({_describe_value(value)}), but "
                                 f"{spec.code} expects {_describe_value(default)} like its default {default!r}.")
            if isinstance(default, int) and not isinstance(default, bool):
                value = int(value)
            elif isinstance(default, float):
                value = float(value)
            out.setdefault(spec.code, {})[name] = value
    return out


def _choice(table: dict, key: str, choices: Iterable[str], where: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    choices = tuple(choices)
    if not isinstance(value, str) or value.strip().lower() not in choices:
        raise InputError(f"{where}: {key} = {value!r}; expected one of {', '.join(choices)}.")
    return value.strip().lower()


def parse_config(table: Mapping, path: str | Path | None = None) -> Config:
    """Validate a ``[tool.cnndoctor]`` table; keys may use - or _ (``fail-on`` or ``fail_on``)."""
    path = Path(path) if path is not None else None
    where = f"{path} [tool.cnndoctor]" if path is not None else "[tool.cnndoctor]"
    norm: dict[str, Any] = {}
    for key, value in table.items():
        name = str(key).strip().lower().replace("_", "-")
        name = _ALIASES.get(name, name)
        if name not in KEYS:
            raise InputError(f"{where}: unknown key {key!r}. Known keys: {', '.join(KEYS)}.")
        if name in norm:
            raise InputError(f"{where}: {name} is set twice (as {key!r} and another spelling).")
        norm[name] = value
    cfg = Config(path=path)
    if "select" in norm:
        cfg.select = _strings(norm["select"], "select", where)
        _check_tokens(cfg.select, "select", where)
    source = path.name if path is not None else None
    cfg.ignore = parse_ignore(norm.get("ignore"), where=where, source=source)
    _check_tokens([i.token for i in cfg.ignore], "ignore", where)
    cfg.fail_on = _choice(norm, "fail-on", FAIL_ON, where)
    cfg.format = _choice(norm, "format", FORMATS, where)
    cfg.budget = _choice(norm, "budget", BUDGETS, where)
    cfg.layout = _choice(norm, "layout", LAYOUTS, where)
    if "device" in norm:
        device = norm["device"]
        if not isinstance(device, str) or not _DEVICE.match(device.strip().lower()):
            raise InputError(f"{where}: device = {device!r}; expected auto, cpu, cuda or cuda:N.")
        cfg.device = device.strip().lower()
    if "seed" in norm:
        seed = norm["seed"]
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise InputError(f"{where}: seed = {seed!r}; expected a whole number ≥ 0.")
        cfg.seed = seed
    if "timeout" in norm:
        timeout = norm["timeout"]
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 <= timeout < float("inf"):
            raise InputError(f"{where}: timeout = {timeout!r}; expected a number of seconds ≥ 0 (0: no limit).")
        cfg.timeout = float(timeout)
    if "memory-budget" in norm:
        from .load.big import parse_memory_budget

        try:
            cfg.memory_budget = parse_memory_budget(norm["memory-budget"])
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
    if "scheduler" in norm:
        scheduler = norm["scheduler"]
        if not isinstance(scheduler, str) or not scheduler.strip():
            raise InputError(f"{where}: scheduler = {scheduler!r}; expected \"auto\", \"sync\", \"local\" or the "
                             "address of a Dask scheduler (\"tcp://host:8786\").")
        cfg.scheduler = scheduler.strip()
    cfg.thresholds = validate_thresholds(norm.get("thresholds"), where=where, style="config")
    return cfg


def merge_selection(select, ignore, cfg: Config) -> tuple[list[str] | None, list[Ignore]]:
    """The selection when explicit ``select``/``ignore`` (CLI flags, API arguments) meet the config.

    As in ruff: an explicit select starts from scratch (the configured select and ignore are
    dropped); an explicit ignore adds to the configured ignores.
    """
    explicit_ignore = parse_ignore(ignore, where="--ignore")
    if select:
        return select, explicit_ignore
    return cfg.select, [*cfg.ignore, *explicit_ignore]
