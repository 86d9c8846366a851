#!/usr/bin/env python3
"""Move cnndoctor's flat modules into subpackages by concern, and rewrite every import of them.

Issue 14, "Layout": the modules directly in ``cnndoctor/`` go into ``load/``, ``measure/``, ``trace/``,
``probes/``, ``keras/``, ``diagnosis/``, ``reporters/`` and ``guard/`` (``MOVES`` below). Run it from the
repository root::

    python tools/relayout.py            # move and rewrite
    python tools/relayout.py --check    # change nothing; exit 1 when something is left to do

What it does, in order:

1. plans the new text of every tracked (or untracked, not ignored) ``.py`` and ``.md`` file, read at its
   current place: imports of a moved module are rewritten from the parsed tree (relative ones stay relative,
   recomputed for the file's new depth; function-level imports too; ``from . import old`` becomes
   ``from .new import mod as old``); dotted names and paths in strings, comments and Markdown
   (``"cnndoctor.keras_support"``, ``cnndoctor/outputs.py``, ``see threads.py``) are rewritten as text;
2. ``git mv``s each module to its new place and writes the planned text there;
3. adds each subpackage's ``__init__.py`` (a docstring only: no re-exports, so no import cycle and no eager
   torch/keras import) and ``git add``s it;
4. lists the subpackages in pyproject.toml's ``[tool.setuptools] packages``.

It is idempotent: on a tree that has been moved, every step finds nothing to do. Generated files
(``docs/checks.md``) and this script are not rewritten. The script never commits.
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from pathlib import Path

PKG = "cnndoctor"

# old module directly in cnndoctor/  ->  new dotted path under cnndoctor
MOVES = {
    # load/: what the user gives, read into a Subject
    "formats": "load.formats",
    "load_data": "load.data",
    "load_model": "load.model",
    "torch_data": "load.torch_data",
    "labels": "load.labels",
    "subject": "load.subject",
    "optimizers": "load.optimizers",
    "outputs": "load.outputs",
    "settings": "load.settings",
    # measure/: statistics of arrays alone, no model
    "stats": "measure.stats",
    "fingerprints": "measure.fingerprints",
    "leakage": "measure.duplicates",
    "overlap": "measure.overlap",
    "temporal": "measure.temporal",
    "timescale": "measure.timescale",
    "baselines": "measure.baselines",
    # trace/: one watched forward pass
    "trace": "trace.forward",
    "optrace": "trace.ops",
    "shape_faults": "trace.faults",
    "receptive_field": "trace.receptive_field",
    # probes/: short training runs
    "probe": "probes.train",
    "probe_budget": "probes.budget",
    "probe_data": "probes.data",
    "probe_eval": "probes.eval",
    "probe_overfit": "probes.overfit",
    "probe_params": "probes.params",
    "probe_record": "probes.record",
    "lr_range": "probes.lr_range",
    "threads": "probes.threads",
    # keras/: Keras 3 models through the torch backend
    "keras_support": "keras.support",
    "keras_trace": "keras.trace",
    "keras_fixes": "keras.fixes",
    # diagnosis/: from findings to an answer
    "diagnosis": "diagnosis.order",
    "verify": "diagnosis.verify",
    "fixes": "diagnosis.fixes",
    # reporters/: figures drawn for the report
    "plots": "reporters.plots",
    "figures": "reporters.figures",
    # guard/: keeping a run safe
    "streams": "guard.streams",
    "timeout": "guard.timeout",
}

SUBPACKAGES = {
    "load": """\
Loading: the user's data files, arrays, torch datasets, model file, labels, optimizer and output choice,
read into one ``Subject``; the report's settings block is built from the subject.

The lowest floor: it knows nothing about facts, checks or the diagnosis. Import a module
(``cnndoctor.load.subject``), not this package: it re-exports nothing.
""",
    "measure": """\
Measuring arrays alone: streaming statistics, per-sample fingerprints, cross-split duplicates, shared
stretches, temporal structure, time scale and cheap baseline classifiers.

No model and no training here; facts in ``cnndoctor.facts`` call these and checks judge the numbers.
This package re-exports nothing.
""",
    "trace": """\
Tracing one forward pass: the shape trace with forward hooks, the torch operations between modules, why
a forward pass failed (shape faults) and the receptive field at the head.

Hooks are removed and ``model.training`` restored in ``finally``. This package re-exports nothing.
""",
    "probes": """\
The training probes: budgets, the batches they feed, the short training run, overfitting one batch, the
learning-rate range test, evaluation, recorders, which tensors can learn, and the fixed thread count.

Probes train fresh copies from the user's factory, never the user's weights; they are deterministic (fixed
thread count, step counts; time caps are safety nets). This package re-exports nothing.
""",
    "keras": """\
Keras 3 models, diagnosed through the torch backend: support (backend, compile mapping, models), the
layer-by-layer trace and the Keras way of the verified fixes.

``import keras`` inside these modules is the real Keras library; it is imported only when a Keras model is
met. This package re-exports nothing, so importing it never imports Keras.
""",
    "diagnosis": """\
From findings to an answer: causes ordered before the symptoms they explain, the primary root cause and
headline (``order``), automatic fixes applied to a copy of the subject (``fixes``) and verified by a short
probe (``verify``).

This package re-exports nothing.
""",
    "guard": """\
Keeping a run safe: the watchdog and phases behind ``--timeout`` (``timeout``) and the user's prints kept
off stdout (``streams``).

This package re-exports nothing.
""",
}

# Prose that names a moved module without the ``cnndoctor.`` prefix: bare names such as ``probe_data`` are also
# fact names, so these few are listed by hand. {file's new path: [(old text, new text)]}
PROSE = {
    "cnndoctor/diagnosis/verify.py": [("``probe_budget.time_cap``", "``probes.budget.time_cap``")],
    "cnndoctor/keras/fixes.py": [("the same repairs as ``fixes`` says them",
                                  "the same repairs as ``diagnosis.fixes`` says them")],
    "cnndoctor/keras/support.py": [("shape trace is in ``keras_trace``.", "shape trace is in ``keras.trace``.")],
    "cnndoctor/probes/overfit.py": [("(see keras_support).", "(see keras.support).")],
    "benchmarks/zoo/runner.py": [("f\"settings, judged by `diagnosis.at_chance`), **",
                                  "f\"settings, judged by `diagnosis.order.at_chance`), \"\n                  f\"**")],
}

# files that are generated, or that name the old layout on purpose
SKIP = {"docs/checks.md", "tools/relayout.py"}

OLD = {f"{PKG}.{k}": f"{PKG}.{v}" for k, v in MOVES.items()}
NEW_MODULES = set(OLD.values())
NEW_PACKAGES = {f"{PKG}.{v.split('.')[0]}" for v in MOVES.values()}
# old module names that are also a new package's name: their mapping is only sure while the old file exists
COLLIDING = {k for k in MOVES if f"{PKG}.{k}" in NEW_PACKAGES}


def git(*args: str, check: bool = True) -> str:
    return subprocess.run(["git", *args], check=check, capture_output=True, text=True).stdout


def repo_files() -> list[str]:
    out = git("ls-files", "-z", "--cached", "--others", "--exclude-standard")
    return sorted({p for p in out.split("\0") if p and Path(p).is_file() and not Path(p).is_symlink()})


def module_of(path: str) -> tuple[list[str], bool] | None:
    """The dotted module a file is imported as (``checks/x.py`` is ``cnndoctor.checks.x``), and whether it is
    a package's ``__init__``."""
    parts = list(Path(path).with_suffix("").parts)
    if parts[0] == "checks":
        parts = [PKG] + parts
    elif parts[0] != PKG:
        return None
    if parts[-1] == "__init__":
        return parts[:-1], True
    return parts, False


def final_path(path: str) -> str:
    parts = Path(path).parts
    if len(parts) == 2 and parts[0] == PKG and parts[1].endswith(".py") and parts[1][:-3] in MOVES:
        return str(Path(PKG, *MOVES[parts[1][:-3]].split("."))) + ".py"
    return path


class Plan:
    def __init__(self) -> None:
        self.pending = {k for k in MOVES if Path(PKG, f"{k}.py").is_file()}
        self.warnings: list[str] = []

    def mapped(self, dotted: str) -> str | None:
        """The new name of an old module, or None when ``dotted`` was not moved."""
        if dotted not in OLD:
            return None
        if dotted.split(".")[1] in COLLIDING and dotted.split(".")[1] not in self.pending:
            return None  # already moved: the name now means the new package
        return OLD[dotted]

    # -- text: dotted names, paths and file names in strings, comments and Markdown --------------------------

    def rewrite_text(self, text: str, where_pkg: list[str] | None, is_py: bool) -> str:
        def dotted(m: re.Match) -> str:
            new = self.mapped(f"{PKG}.{m.group(1)}")
            return m.group(0) if new is None else new

        def path(m: re.Match) -> str:
            new = self.mapped(f"{PKG}.{m.group(1)}")
            return m.group(0) if new is None else new.replace(".", "/") + ".py"

        def bare(m: re.Match) -> str:
            name = m.group(1)
            if name not in self.pending:  # prose names of files: only on the run that moves them
                return m.group(0)
            new = "/".join(MOVES[name].split(".")) + ".py"  # inside the package: relative to cnndoctor/
            return new if where_pkg else f"{PKG}/{new}"

        names = "|".join(sorted(MOVES, key=len, reverse=True))
        text = re.sub(rf"(?<![\w.]){PKG}\.({names})\b(?![\w/])", dotted, text)
        text = re.sub(rf"(?<![\w./]){PKG}/({names})\.py\b", path, text)
        if is_py:
            text = re.sub(rf"(?<![\w./-])({names})\.py\b", bare, text)
        return text

    # -- imports ---------------------------------------------------------------------------------------------

    def rewrite_py(self, path: str, source: str) -> str:
        info = module_of(path)
        new_info = module_of(final_path(path))
        moved = final_path(path) != path
        if info:
            mod, is_init = info
            pkg_now = mod if is_init else mod[:-1]
            fmod, fis_init = new_info
            pkg_then = fmod if fis_init else fmod[:-1]
        else:
            pkg_now = pkg_then = None
        tree = ast.parse(source, filename=path)
        lines = source.splitlines(keepends=True)
        starts = [0]
        for line in lines:
            starts.append(starts[-1] + len(line))

        def offset(lineno: int, col: int) -> int:
            line = lines[lineno - 1]
            return starts[lineno - 1] + len(line.encode("utf-8")[:col].decode("utf-8"))

        edits: list[tuple[int, int, str]] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                edit = self._import_from(node, path, pkg_now, pkg_then, moved, source, offset)
            elif isinstance(node, ast.Import):
                edit = self._import(node, path, source, offset)
            else:
                continue
            if edit:
                edits.append(edit)
        edits.sort()
        out, pos = [], 0
        where = pkg_then
        for start, end, new in edits:
            out.append(self.rewrite_text(source[pos:start], where, True))
            out.append(new)
            pos = end
        out.append(self.rewrite_text(source[pos:], where, True))
        return "".join(out)

    def _resolve(self, node: ast.ImportFrom, pkg: list[str] | None) -> list[str] | None:
        if not node.level:
            return node.module.split(".") if node.module else None
        if pkg is None or node.level - 1 > len(pkg) - 1:
            return None
        base = pkg[: len(pkg) - (node.level - 1)]
        return base + (node.module.split(".") if node.module else [])

    @staticmethod
    def _relative(target: list[str], pkg: list[str]) -> str:
        common = 0
        while common < min(len(target), len(pkg)) and target[common] == pkg[common]:
            common += 1
        return "." * (len(pkg) - common + 1) + ".".join(target[common:])

    def _import_from(self, node, path, pkg_now, pkg_then, moved, source, offset):
        target = self._resolve(node, pkg_now)
        if not target or target[0] != PKG:
            return None
        tname = ".".join(target)
        new_target = self.mapped(tname) or tname
        # names that are themselves moved modules: `from . import keras_fixes`
        groups: list[tuple[str, list[str]]] = []  # (module, names) of the statements it becomes
        plain: list[str] = []
        split = False
        for alias in node.names:
            sub = self.mapped(f"{tname}.{alias.name}") if alias.name != "*" else None
            if sub:
                split = True
                parent, _, last = sub.rpartition(".")
                groups.append((parent, [f"{last} as {alias.asname or alias.name}"]))
            else:
                plain.append(alias.name + (f" as {alias.asname}" if alias.asname else ""))
        if plain:
            groups.insert(0, (new_target, plain))
        if new_target == tname and not split and not (moved and node.level):
            return None

        def spell(dotted: str) -> str:
            if node.level and pkg_then is not None:
                return self._relative(dotted.split("."), pkg_then)
            return dotted

        start = offset(node.lineno, node.col_offset)
        end = offset(node.end_lineno, node.end_col_offset)
        if not split:
            segment = source[start:end]
            m = re.match(r"from\s+(\.*\s*[\w.]*)\s+import\b", segment)
            if not m:
                self.warnings.append(f"{path}:{node.lineno}: cannot read the import; left as it was")
                return None
            new_mod = spell(new_target)
            if m.group(1) == new_mod:
                return None
            head = f"from {new_mod}"
            rest = segment[m.end(1):]
            # continuation lines aligned under `import (` move with it
            paren = re.match(r"\s+import\s+\(", rest)
            if paren and "\n" in rest:
                old_col = node.col_offset + m.end(1) + paren.end()
                new_col = node.col_offset + len(head) + paren.end()
                first, *more = rest.split("\n")
                fixed = [first]
                for line in more:
                    lead = len(line) - len(line.lstrip(" "))
                    fixed.append(" " * new_col + line.lstrip(" ") if lead == old_col else line)
                rest = "\n".join(fixed)
            return start, end, head + rest
        if "#" in source[start:end]:
            self.warnings.append(f"{path}:{node.lineno}: a comment inside the import was dropped")
        indent = " " * node.col_offset
        stmts = [f"from {spell(mod)} import {', '.join(names)}" for mod, names in groups]
        return start, end, ("\n" + indent).join(stmts)

    def _import(self, node, path, source, offset):
        changes = []
        for alias in node.names:
            new = None
            parts = alias.name.split(".")
            # `import cnndoctor.probe_data.x` can't exist (modules aren't packages): only the module itself
            if len(parts) == 2:
                new = self.mapped(alias.name)
            if new:
                if not alias.asname:
                    self.warnings.append(f"{path}:{node.lineno}: `import {alias.name}` became `import {new}`; "
                                         f"attribute uses of `{alias.name}.` were rewritten as text")
                changes.append((alias.name, new))
        if not changes:
            return None
        start = offset(node.lineno, node.col_offset)
        end = offset(node.end_lineno, node.end_col_offset)
        segment = source[start:end]
        for old, new in changes:
            segment = re.sub(rf"(?<![\w.]){re.escape(old)}\b(?!\.)", new, segment, count=1)
        return start, end, segment


def update_pyproject(text: str) -> str:
    m = re.search(r"^(packages\s*=\s*)\[([^\]]*)\]", text, re.MULTILINE)
    if not m:
        raise SystemExit("pyproject.toml: no [tool.setuptools] packages list")
    have = re.findall(r"\"([^\"]+)\"", m.group(2))
    missing = sorted(NEW_PACKAGES - set(have))
    if not missing:
        return text
    others = sorted((set(have) | NEW_PACKAGES) - {PKG, f"{PKG}.checks"})
    names = [PKG] + others + ([f"{PKG}.checks"] if f"{PKG}.checks" in have else [])
    items = [f'"{n}"' for n in names]
    lines, line = [], m.group(1) + "["
    for i, item in enumerate(items):
        piece = item + ("]" if i == len(items) - 1 else ",")
        if len(line) + len(piece) + 1 > 120:
            lines.append(line.rstrip())
            line = " " * 12 + piece
        else:
            line += ("" if line.endswith(("[", " ")) else " ") + piece
    lines.append(line)
    return text[: m.start()] + "\n".join(lines) + text[m.end():]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 when something is left to do")
    args = ap.parse_args(argv)
    if not (Path("pyproject.toml").is_file() and Path(PKG, "__init__.py").is_file()):
        raise SystemExit("run from the repository root (pyproject.toml and cnndoctor/ here)")

    plan = Plan()
    for name in sorted(plan.pending):
        dest = Path(final_path(f"{PKG}/{name}.py"))
        if dest.exists():
            raise SystemExit(f"both {PKG}/{name}.py and {dest} exist: resolve by hand first")
    todo: list[str] = []

    # 1. plan every file's new text, reading it where it is now
    texts: dict[str, tuple[str, str]] = {}
    for path in repo_files():
        if path in SKIP or not path.endswith((".py", ".md")):
            continue
        old = Path(path).read_text(encoding="utf-8")
        if path.endswith(".py"):
            new = plan.rewrite_py(path, old)
        else:
            new = plan.rewrite_text(old, None, False)
        for before, after in PROSE.get(final_path(path), ()):
            new = new.replace(before, after)
        if new != old or final_path(path) != path:
            texts[path] = (old, new)

    # 2. git mv, then write the planned text at the new place
    for name in sorted(plan.pending):
        src, dest = f"{PKG}/{name}.py", final_path(f"{PKG}/{name}.py")
        todo.append(f"git mv {src} {dest}")
        if not args.check:
            Path(dest).parent.mkdir(exist_ok=True)
            git("mv", src, dest)
    for path, (old, new) in sorted(texts.items()):
        if new == old:
            continue
        dest = final_path(path)
        before = set(old.splitlines())
        for i, line in enumerate(new.splitlines(), 1):
            if dest.endswith(".py") and len(line) > 120 and line not in before:
                plan.warnings.append(f"{dest}:{i}: longer than 120 columns now; wrap it by hand")
        n = sum(1 for a, b in zip(old.splitlines(), new.splitlines()) if a != b) + abs(
            len(old.splitlines()) - len(new.splitlines()))
        todo.append(f"rewrite {dest} ({n} line{'s' if n != 1 else ''})")
        if not args.check:
            Path(dest).write_text(new, encoding="utf-8")

    # 3. each subpackage's __init__.py
    for sub in sorted(SUBPACKAGES):
        init = Path(PKG, sub, "__init__.py")
        if init.exists():
            continue
        if not Path(PKG, sub).is_dir() and not any(v.startswith(sub + ".") for v in MOVES.values()):
            continue
        todo.append(f"create {init}")
        if not args.check:
            init.parent.mkdir(exist_ok=True)
            init.write_text(f'"""{SUBPACKAGES[sub]}"""\n', encoding="utf-8")
            git("add", str(init))

    # 4. pyproject.toml's package list
    py = Path("pyproject.toml")
    text = py.read_text(encoding="utf-8")
    new = update_pyproject(text)
    if new != text:
        todo.append("update pyproject.toml [tool.setuptools] packages")
        if not args.check:
            py.write_text(new, encoding="utf-8")

    for line in todo:
        print(("would " if args.check else "") + line)
    for w in plan.warnings:
        print("note:", w, file=sys.stderr)
    if not todo:
        print("nothing to do: the layout is in place")
    return 1 if (args.check and todo) else 0


if __name__ == "__main__":
    sys.exit(main())
