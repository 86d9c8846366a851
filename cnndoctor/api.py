"""The Python API: ``diagnose(model, train, test)`` returns a ``Report``."""

from __future__ import annotations

import inspect
import sys
import time
from contextlib import contextmanager
from typing import Any

from ._version import __version__
from .context import Context
from .diagnosis import build_diagnosis, order_findings
from .errors import InputError
from .load_data import Data, data_from_arrays
from .registry import select_checks
from .report import Report
from .runner import run_checks
from .subject import Subject, make_subject

__all__ = ["diagnose", "run_diagnosis", "BUDGETS"]

BUDGETS = ("quick", "standard", "thorough")


def _pair(value, name: str):
    if value is None:
        return None, None
    if isinstance(value, dict):
        keys = {k.lower(): k for k in value}
        return value[keys["x"]], value[keys["y"]]
    try:
        X, y = value
    except (TypeError, ValueError):
        raise InputError(f"{name} must be an (X, y) pair of arrays or tensors.") from None
    return X, y


def _target_kind(model) -> str:
    import torch

    if isinstance(model, torch.nn.Module):
        return "instance"
    if inspect.isclass(model):
        return "class"
    if callable(model):
        return "build_model"
    raise InputError(f"diagnose() needs an nn.Module, a model class or a factory function, "
                     f"not a {type(model).__name__}.")


def diagnose(model, train, test=None, *, loss_fn=None, optimizer=None, lr=None, batch_size=None,
             preprocess=None, train_step=None, device: str = "auto", select=None, ignore=None,
             budget: str = "standard", seed: int = 0, progress: bool = True, layout: str = "auto",
             model_args: dict | None = None, groups=None, thresholds: dict | None = None) -> Report:
    """Diagnose ``model`` on ``train`` (and ``test``) data; the model's weights are never changed.

    ``model`` is an ``nn.Module`` (deep-copied and re-initialised for every probe), a model class
    or a factory function (their arguments filled from the data by name, as for model.py).
    ``train``/``test`` are ``(X, y)`` pairs of arrays or tensors; without ``test`` the data is
    split 80/20, stratified and seeded.
    """
    X_train, y_train = _pair(train, "train")
    X_test, y_test = _pair(test, "test")
    g_train, g_test = _pair(groups, "groups") if groups is not None else (None, None)
    data = data_from_arrays(X_train, y_train, X_test, y_test, groups_train=g_train, groups_test=g_test,
                            source="arrays", seed=seed)
    kind = _target_kind(model)
    name = getattr(model, "__name__", type(model).__name__)
    options = {"loss_fn": loss_fn, "optimizer": optimizer, "preprocess": preprocess, "train_step": train_step}
    subject = make_subject(model, kind, data, name=name, options=options, model_args=model_args, lr=lr,
                           batch_size=batch_size, device=device, seed=seed, layout=layout)
    return run_diagnosis(subject, select=select, ignore=ignore, budget=budget, progress=progress,
                         thresholds=thresholds)


@contextmanager
def _progress(enabled: bool):
    """A transient status line on stderr, only when stderr is a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console

    console = Console(stderr=True)
    with console.status("cnndoctor: starting") as status:
        yield lambda text: status.update(f"cnndoctor: {text}")


def _subject_summary(ctx: Context, data: Data, subject: Subject) -> dict[str, Any]:
    inputs = ctx.inputs
    layout = ctx.data_layout
    X = inputs["train"]
    channels = 1 if layout.channel_axis is None else X.shape[layout.channel_axis]
    length = X.shape[-1] if layout.channel_axis in (None, 1) else X.shape[1]
    feed = ctx.feed if ctx.has("feed") else None
    fed = "unknown"
    if feed is not None:
        shape = "(N, " + ", ".join(str(s) for s in (feed.train.shape[1:] if feed.ok else X.shape[1:])) + ")"
        fed = f"{shape}, {feed.transform}" if feed.ok else f"{shape}, forward pass fails"
    loss = ctx.loss if ctx.has("loss") else None
    return {
        "model": subject.model_name, "data": data.source, "n_train": int(len(data.X_train)),
        "n_test": int(len(data.X_test)) if data.X_test is not None else 0, "test_name": data.test_name,
        "channels": int(channels), "length": int(length), "classes": subject.labels.n_classes,
        "label_kind": subject.labels.kind, "layout": fed, "stored_layout": layout.name,
        "device": subject.device, "seed": subject.seed, "lr": subject.lr, "batch_size": subject.batch_size,
        "loss": loss.name if loss else None,
        "optimizer": _optimizer_name(subject.optimizer),
        "settings_source": dict(subject.settings_source), "model_arguments": dict(subject.model_arguments),
        "preprocess": subject.preprocess is not None, "train_step": subject.train_step is not None,
    }


def _optimizer_name(opt) -> str:
    if opt is None:
        return "Adam (default)"
    target = getattr(opt, "func", opt)  # functools.partial
    return getattr(target, "__name__", type(target).__name__)


def run_diagnosis(subject: Subject, *, select=None, ignore=None, budget: str = "standard",
                  progress: bool = True, verbose: bool = False, thresholds: dict | None = None) -> Report:
    """Run the selected checks on ``subject`` and assemble the report."""
    if budget not in BUDGETS:
        raise InputError(f"Unknown budget {budget!r}; use one of {', '.join(BUDGETS)}.")
    start = time.perf_counter()
    specs = select_checks(select, ignore)
    with _progress(progress) as update:
        ctx = Context(subject, budget=budget, progress=update, verbose=verbose)
        findings, outcomes = run_checks(ctx, specs, thresholds=thresholds, progress=update)
        summary = _subject_summary(ctx, subject.data, subject)
    findings = order_findings(findings)
    diagnosis = build_diagnosis(findings, subject.labels,
                                reference=ctx.get("reference") if ctx.computed("reference") else None)
    trace = ctx.shape_trace.to_dict() if ctx.computed("feed") else None
    timings = {f"fact:{k}": v for k, v in ctx.timings.items()}
    timings["total"] = time.perf_counter() - start
    return Report(__version__, summary, diagnosis, findings, outcomes, timings, trace, list(ctx.notes))
