"""The arrows of ARCHITECTURE.md, enforced: imports are read with ``ast`` (nothing is imported or run).

Each floor uses only the floors below it; the entry points (api, cli, the package root) sit on top
and nothing below them imports them. A vocabulary (the budget names, the fail-on levels, the output
formats, the layouts) is written in one module, and everyone else reads it from there.
"""

from __future__ import annotations

import argparse
import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cnndoctor"
CHECKS = ROOT / "checks"  # installed as cnndoctor.checks

# The entry points: the only modules that may import cnndoctor.api, cnndoctor.cli or the package root.
ENTRY_POINTS = {"cnndoctor", "cnndoctor.__main__", "cnndoctor.api", "cnndoctor.cli", "cnndoctor.testing",
                "cnndoctor.pytest_plugin", "cnndoctor.live.report"}
ENTRY_MODULES = ("cnndoctor.api", "cnndoctor.cli")
LOWER_FLOORS = ("cnndoctor.load", "cnndoctor.measure", "cnndoctor.trace", "cnndoctor.probes", "cnndoctor.guard")
FRAMEWORK = ("cnndoctor.context", "cnndoctor.registry", "cnndoctor.runner", "cnndoctor.report", "cnndoctor.config",
             "cnndoctor.docs", "cnndoctor.testing", "cnndoctor.pytest_plugin")

# (the modules a rule is about, the modules they must not import)
RULES = [
    ("load, measure, trace, probes and guard use nothing above them", LOWER_FLOORS,
     ("cnndoctor.facts", "cnndoctor.checks", "cnndoctor.diagnosis", "cnndoctor.reporters", *FRAMEWORK)),
    ("facts measure: they use no check, diagnosis, reporter or runner", ("cnndoctor.facts",),
     ("cnndoctor.checks", "cnndoctor.diagnosis", "cnndoctor.reporters", "cnndoctor.runner", "cnndoctor.report",
      "cnndoctor.config", "cnndoctor.docs", "cnndoctor.testing", "cnndoctor.pytest_plugin")),
    ("checks get facts only through their parameters", ("cnndoctor.checks",),
     ("cnndoctor.facts", "cnndoctor.context", "cnndoctor.diagnosis", "cnndoctor.reporters", "cnndoctor.runner",
      "cnndoctor.report", "cnndoctor.config")),
    ("the diagnosis uses no reporter", ("cnndoctor.diagnosis",), ("cnndoctor.reporters", "cnndoctor.config")),
    ("reporters render the report and compute nothing", ("cnndoctor.reporters",),
     ("cnndoctor.facts", "cnndoctor.measure", "cnndoctor.trace", "cnndoctor.probes", "cnndoctor.checks",
      "cnndoctor.diagnosis", "cnndoctor.context", "cnndoctor.runner", "cnndoctor.load")),
]

# vocabulary -> the one module that writes it down
VOCABULARIES = {
    frozenset({"quick", "standard", "thorough"}): "cnndoctor.probes.budget",
    frozenset({"error", "warning", "info", "never"}): "cnndoctor.report",
    frozenset({"text", "json", "markdown", "html", "github", "gitlab", "junit"}): "cnndoctor.config",
    frozenset({"auto", "ncl", "nlc"}): "cnndoctor.config",
    frozenset({"verified", "not verified", "no result"}): "cnndoctor.findings",
}


def _module_name(path: Path) -> str:
    if path.is_relative_to(CHECKS):
        parts = ["cnndoctor", "checks", *path.relative_to(CHECKS).with_suffix("").parts]
    else:
        parts = ["cnndoctor", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, tuple[Path, ast.Module]]:
    files = [*PACKAGE.rglob("*.py"), *CHECKS.rglob("*.py")]
    return {_module_name(p): (p, ast.parse(p.read_text(encoding="utf-8"), str(p))) for p in files
            if "__pycache__" not in p.parts}


def _imports(module: str) -> list[tuple[str, int]]:
    """(imported module, line) for every import statement, lazy ones (inside functions) included.

    ``from X import name`` counts as importing X and X.name (name may be a submodule)."""
    path, tree = _modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((target, node.lineno))
            out.extend((f"{target}.{alias.name}", node.lineno) for alias in node.names)
    return out


def _within(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _ours(name: str) -> bool:
    return name == "cnndoctor" or name.startswith("cnndoctor.")


def test_the_scan_sees_the_package_and_the_checks():
    modules = _modules()
    assert {"cnndoctor.api", "cnndoctor.probes.budget", "cnndoctor.facts.model", "cnndoctor.checks.head"} <= set(
        modules)
    assert any(t == "cnndoctor.registry" for t, _ in _imports("cnndoctor.checks.head"))


def test_nothing_below_the_entry_points_imports_api_cli_or_the_package_root():
    bad = [f"{m}:{line} imports {target}" for m in _modules() if m not in ENTRY_POINTS
           for target, line in _imports(m) if target == "cnndoctor" or _within(target, ENTRY_MODULES)]
    assert bad == []


def test_checks_import_check_and_finding_from_their_modules_not_from_the_package_root():
    bad = [f"{m}:{line}" for m in _modules() if _within(m, ("cnndoctor.checks",))
           for target, line in _imports(m) if target == "cnndoctor"]
    assert bad == [], "use `from cnndoctor.registry import check` and `from cnndoctor.findings import Finding`"


@pytest.mark.parametrize("rule, importers, forbidden", RULES, ids=[r[0] for r in RULES])
def test_each_floor_uses_only_the_floors_below_it(rule, importers, forbidden):
    bad = [f"{m}:{line} imports {target}" for m in _modules() if _within(m, importers)
           for target, line in _imports(m) if _ours(target) and _within(target, forbidden)]
    assert bad == [], rule


def test_every_internal_import_names_a_module_that_exists():
    """A rule over import paths is only as good as the paths: a stale one would pass every rule."""
    modules = set(_modules())
    missing = []
    for m in modules:
        for target, line in _imports(m):
            if not _ours(target) or target in modules:
                continue
            parent = target.rpartition(".")[0]
            if parent in modules:  # `from cnndoctor.x import name`: name is an attribute of cnndoctor.x
                continue
            missing.append(f"{m}:{line} {target}")
    assert missing == []


def _literal_strings(node) -> set[str]:
    if isinstance(node, ast.Dict):
        items = node.keys
    elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        items = node.elts
    else:
        return set()
    return {i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)}


def test_each_vocabulary_is_written_in_one_module():
    """The budget names, fail-on levels, formats and layouts as a literal table live in their owner only."""
    found = {vocab: sorted(m for m, (_, tree) in _modules().items()
                           if any(vocab <= _literal_strings(n) for n in ast.walk(tree)))
             for vocab in VOCABULARIES}
    assert {tuple(sorted(v)): where for v, where in found.items()} == {
        tuple(sorted(v)): [owner] for v, owner in VOCABULARIES.items()}


def test_budget_limits_live_on_the_probe_budget():
    from cnndoctor.probes.budget import BUDGETS, DEFAULT_BUDGET

    assert DEFAULT_BUDGET in BUDGETS
    assert [b.verify_fixes for b in BUDGETS.values()] == [1, 3, 6]  # most fixes verified: a count per budget
    assert all(name == b.name for name, b in BUDGETS.items())


def test_the_cli_and_the_config_read_the_shared_vocabularies():
    from cnndoctor.cli import build_parser
    from cnndoctor.config import DEFAULTS, FORMATS, LAYOUTS
    from cnndoctor.probes.budget import BUDGETS
    from cnndoctor.report import FAIL_ON

    run = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["run"]
    choices = {a.dest: tuple(a.choices) for a in run._actions if a.choices}
    assert choices == {"fail_on": FAIL_ON, "format": FORMATS, "budget": tuple(BUDGETS), "layout": LAYOUTS}
    assert DEFAULTS["budget"] in BUDGETS and DEFAULTS["fail_on"] in FAIL_ON and DEFAULTS["format"] in FORMATS
    assert DEFAULTS["layout"] in LAYOUTS


def test_diagnose_has_the_same_defaults_as_the_command_line():
    import inspect

    from cnndoctor.api import diagnose
    from cnndoctor.config import DEFAULTS, RUN_OPTIONS

    params = inspect.signature(diagnose).parameters
    assert {k: params[k].default for k in RUN_OPTIONS} == {k: DEFAULTS[k] for k in RUN_OPTIONS}


def test_private_context_state_is_read_only_in_context_py():
    bad = [f"{m}:{n.lineno}" for m, (_, tree) in _modules().items() if m != "cnndoctor.context"
           for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr in ("_errors", "_values")]
    assert bad == [], "use Context.failure(name) / Context.computed(name)"


def test_every_subpackage_is_listed_for_a_non_editable_install():
    # pyproject.toml lists the packages explicitly: a subpackage left out imports in an editable checkout and
    # is missing from `pip install .` (cnndoctor.live was, and `import cnndoctor` failed there)
    from cnndoctor.config import _toml

    toml = _toml()
    if toml is None:
        pytest.skip("no TOML reader on this Python (3.10 without tomli)")
    listed = set(toml.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {"cnndoctor." + ".".join(p.parent.relative_to(PACKAGE).parts)
               for p in PACKAGE.rglob("__init__.py") if p.parent != PACKAGE}
    assert on_disk | {"cnndoctor", "cnndoctor.checks"} == listed
