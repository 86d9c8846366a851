"""The Python API: ``diagnose(model, train, test)`` returns a ``Report``."""

from __future__ import annotations

import inspect
import os
import time
from pathlib import Path
from typing import Any

from ._version import __version__
from .config import DEFAULTS, Ignore, parse_ignore, validate_thresholds
from .context import Context
from .diagnosis.order import (
    ChanceRule,
    at_chance,
    build_diagnosis,
    chance_consequence,
    escalate,
    lower_refuted,
    order_findings,
    unlearnable_consequence,
)
from .diagnosis.verify import verify_fixes
from .errors import InputError
from .findings import CheckOutcome, Severity, Status
from .guard.user_warnings import capture_warnings, within_capture
from .keras.support import momentum_note
from .load.batch_order import batch_order_for
from .load.data import Data, data_from_arrays, load_data
from .load.lightning import datamodule_loaders, is_lightning_datamodule
from .load.model import display_path, model_source
from .load.optimizers import DEFAULT_OPTIMIZER
from .load.outputs import describe_choice
from .load.settings import run_settings
from .load.subject import Subject, make_subject
from .load.torch_data import DEFAULT_MAX_SAMPLES, arrays_from_torch, is_torch_data, read_loader_batches
from .load.weights import trained_for
from .probes.budget import BUDGETS, DEFAULT_BUDGET
from .probes.threads import choose_threads
from .progress import progress_display
from .registry import all_checks, select_checks
from .report import Report
from .reporters.plots import report_figures
from .runner import run_checks

__all__ = ["diagnose", "run_diagnosis", "selected_checks"]


def _pair(value, name: str):
    if value is None:
        return None, None
    if isinstance(value, dict):
        keys = {k.lower(): k for k in value}
        if "x" not in keys or "y" not in keys:
            raise InputError(f"{name} is a dict without 'X' and 'y' keys (found: {', '.join(map(str, value))}).")
        return value[keys["x"]], value[keys["y"]]
    try:
        X, y = value
    except (TypeError, ValueError):
        raise InputError(f"{name} must be an (X, y) pair of arrays or tensors, a torch Dataset or DataLoader, "
                         "or (as the only data argument) a path to an .npz file or a UCR pair.") from None
    return X, y


def _split_input(value, split: str, *, seed: int, max_samples: int, notes: list[str]):
    """(X, y, DataLoader batch size, the Dataset index of each row) from an (X, y) pair, a dict, a Dataset or a
    DataLoader."""
    if value is not None and is_torch_data(value):
        drawn = arrays_from_torch(value, split, max_samples=max_samples, seed=seed)
        notes.append(drawn.note)
        return drawn.X, drawn.y, drawn.batch_size, drawn.index
    X, y = _pair(value, split)
    return X, y, None, None


def _loop_settings(train, *, seed: int = 0) -> dict:
    """``drop_last`` and the samples per epoch of a training Dataset/DataLoader handed in (A207 reads them)."""
    if train is None or isinstance(train, (str, os.PathLike)) or not is_torch_data(train):
        return {}
    from torch.utils.data import DataLoader

    loader = train if isinstance(train, DataLoader) else None
    out = {"drop_last": bool(loader.drop_last)} if loader is not None else {}
    if loader is not None:  # the order the user's loop iterates: D205 judges its batches' class composition
        out["loader_batches"] = read_loader_batches(loader, seed=seed)
    try:  # a DataLoader's epoch is what its sampler yields (a subset or weighted sampler draws fewer or more)
        out["epoch_samples"] = len(loader.sampler if loader is not None else train)
    except TypeError:  # an iterable dataset without a length
        pass
    return out


def _beyond_memory(X_train, X_test, memory_budget) -> bool:
    """A memmap or dask array (never loaded unasked), or arrays larger than the memory budget together."""
    from .load.big import is_lazy, parse_memory_budget

    xs = [X for X in (X_train, X_test) if X is not None]
    if any(is_lazy(X) for X in xs):
        return True
    return sum(int(getattr(X, "nbytes", 0)) for X in xs) > parse_memory_budget(memory_budget)


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


@within_capture  # the warnings of the user's Dataset and constructor join the report's, off stderr
def diagnose(model, train, test=None, *, loss_fn=None, optimizer=None, lr=None, batch_size=None,
             preprocess=None, fit_preprocess=None, train_step=None, device: str = DEFAULTS["device"],
             select=None, ignore=None,
             budget: str = DEFAULTS["budget"], seed: int = DEFAULTS["seed"], progress: bool = True,
             layout: str = DEFAULTS["layout"],
             model_args: dict | None = None, groups=None, thresholds: dict | None = None,
             max_samples: int = DEFAULT_MAX_SAMPLES, figures: bool = True, output=None, weights=None,
             reinit: bool = True, memory_budget=DEFAULTS["memory_budget"],
             scheduler: str | None = DEFAULTS["scheduler"]) -> Report:
    """Diagnose ``model`` on ``train`` (and ``test``) data; the model's weights are never changed.

    ``model`` is an ``nn.Module`` (deep-copied and re-initialised for every probe), a model class
    or a factory function (their arguments filled from the data by name, as for model.py).
    ``train``/``test`` are ``(X, y)`` pairs of arrays or tensors, dicts with X/y keys, or a torch
    ``Dataset``/``DataLoader`` (up to ``max_samples`` samples are drawn from it, seeded, and the
    report says how many; a DataLoader's batch size becomes the default batch size). ``train`` may
    also be a path (an .npz, a UCR/UEA ``_TRAIN``/``_TEST`` pair) holding both splits. Without
    ``test`` the data is split 80/20, stratified and seeded.
    ``ignore`` entries may carry a reason (``{"code": "A205", "reason": "..."}`` or a dict
    ``{"A205": "..."}``): those checks are listed as skipped with the reason.
    ``train`` may be a LightningDataModule: its ``train_dataloader()`` is the training data and its
    ``val_dataloader()`` (else ``test_dataloader()``) the test data; a LightningModule ``model`` is
    trained with its own ``training_step``, loss and ``configure_optimizers`` (``cnndoctor.load.lightning``).
    ``thresholds`` is ``{code or name: {parameter: value}}``, checked against each check's parameters.
    ``preprocess`` is a function ``X -> X`` applied to each split, or a transformer with ``fit`` and
    ``transform`` (a scikit-learn transformer or ``Pipeline``), which cnndoctor fits (a clone of it) on the
    training split and applies to every split; ``fit_preprocess(X_train)`` returns the function applied to
    every split. Both see the arrays as stored (``(N, C, L)`` stays three-dimensional).
    ``output`` says which element of a tuple/list/dict that ``forward`` returns is the logits (an
    index or a key); without it the rule in ``cnndoctor.load.outputs`` decides.
    ``progress`` shows which check runs and how many are done: in a notebook one output updated in place
    (collapsed to one line at the end), on a terminal a status line on stderr; ``progress=False`` shows
    nothing (``cnndoctor.progress``). Warnings raised while your code runs go in ``report.warnings``,
    attributed, instead of being printed (``cnndoctor.guard.user_warnings``).
    ``weights`` (a checkpoint path or a state_dict) and ``reinit=False`` (an ``nn.Module``'s current weights)
    add an evaluation of the trained weights as they are (collapsed predictions, dead units, BatchNorm
    running statistics, train/eval gaps) next to the fresh-weight probes; the module is copied, never changed
    (``cnndoctor.load.weights``).
    Data larger than ``memory_budget`` (bytes or ``"2GB"``; default 2 GiB), and any numpy memmap or
    ``dask.array`` X, is never loaded whole (``cnndoctor.load.big``): the data statistics run over every row
    chunk by chunk on ``scheduler`` (``None``: a Dask LocalCluster of 2 workers when dask is installed; ``"sync"``:
    this process; or a Dask scheduler's address), the rest on a seeded stratified sample, and the report says so.
    """
    notes: list[str] = []
    loader_batch = train_rows = None
    if isinstance(train, (str, os.PathLike)):
        if test is not None or groups is not None:
            raise InputError("When train is a path, the file (or UCR pair) must hold both splits; pass test=None "
                             "and groups=None.")
        data = load_data(train, seed=seed, memory_budget=memory_budget, budget=budget, scheduler=scheduler)
    else:
        if is_lightning_datamodule(train):  # its train/val dataloaders, sampled as DataLoaders are
            train, test, datamodule_note = datamodule_loaders(train, test)
            notes.append(datamodule_note)
        X_train, y_train, loader_batch, train_rows = _split_input(train, "train", seed=seed,
                                                                  max_samples=max_samples, notes=notes)
        X_test, y_test, test_batch, _ = _split_input(test, "test", seed=seed, max_samples=max_samples, notes=notes)
        loader_batch = loader_batch or test_batch
        g_train, g_test = _pair(groups, "groups") if groups is not None else (None, None)
        source = "DataLoader/Dataset" if notes else "arrays"
        if _beyond_memory(X_train, X_test, memory_budget):  # stays where it is; a sample is loaded
            from .load.big import data_from_parts

            parts = {"X_train": X_train, "y_train": y_train, "groups_train": g_train, "groups_test": g_test,
                     **({"X_test": X_test, "y_test": y_test} if X_test is not None else {})}
            data = data_from_parts({k: v for k, v in parts.items() if v is not None}, source, seed=seed,
                                   memory_budget=memory_budget, budget=budget, scheduler=scheduler)
        else:
            data = data_from_arrays(X_train, y_train, X_test, y_test, groups_train=g_train, groups_test=g_test,
                                    source=source, seed=seed)
        data.notes[:0] = notes
    kind = _target_kind(model)
    name = getattr(model, "__name__", type(model).__name__)
    options = {"loss_fn": loss_fn, "optimizer": optimizer, "preprocess": preprocess,
               "fit_preprocess": fit_preprocess, "train_step": train_step}
    options.update(_loop_settings(train, seed=seed))
    use_loader_batch = batch_size is None and loader_batch is not None
    subject = make_subject(model, kind, data, name=name, options=options, model_args=model_args, lr=lr,
                           batch_size=loader_batch if use_loader_batch else batch_size, device=device, seed=seed,
                           layout=layout, explicit_source="diagnose() argument",
                           options_source="diagnose() argument", output=output)
    if use_loader_batch:
        subject.settings_source["batch_size"] = "DataLoader"
    subject.trained = trained_for(subject, model, kind, weights=weights, reinit=reinit)
    if subject.trained is not None:
        subject.settings_source["weights"] = "diagnose() argument"
    if subject.loader_batches is not None:  # the probes replay the user's own batch order (D205's consequence)
        split_off = data.split_by_cnndoctor  # cnndoctor split the rows: they no longer map onto the Dataset
        subject.batch_order, order_note = batch_order_for(subject.loader_batches, None if split_off else train_rows,
                                                          len(data.X_train), subject.batch_size)
        if order_note:
            subject.notes.append(order_note)
    model_file, model_line = model_source(model)
    given = {"device": device, "seed": seed, "budget": budget, "layout": layout}
    sources = {k: "default" if v == DEFAULTS[k] else "diagnose() argument" for k, v in given.items()}
    return run_diagnosis(subject, select=select, ignore=ignore, budget=budget, progress=progress,
                         thresholds=thresholds, model_file=model_file, model_line=model_line, figures=figures,
                         sources=sources)


def _subject_summary(ctx: Context, data: Data, subject: Subject, *, budget: str,
                     sources: dict[str, str]) -> dict[str, Any]:
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
        "model": subject.model_name, "data": data.source, "n_train": int(data.n_train_rows),
        # the file the data came from, for annotations of data findings (None for arrays and torch data);
        # relative to the working directory when inside it, as the model file is (CI paths are repo-relative)
        "data_file": display_path(data.source) if Path(str(data.source)).is_file() else None,
        # the test split as the report names it: "test", "val", or "held-out" when cnndoctor split X itself
        # (test_label adds its share: "held-out (20% of X)")
        "n_test": int(data.n_test_rows), "test_name": data.held_out.noun, "test_label": data.held_out.title,
        "channels": int(channels), "length": int(length), "classes": subject.labels.n_classes,
        "label_kind": subject.labels.kind, "layout": fed, "stored_layout": layout.name,
        "device": subject.device, "seed": subject.seed, "lr": subject.lr, "batch_size": subject.batch_size,
        "loss": loss.name if loss else None,
        "optimizer": _optimizer_name(subject),
        "settings_source": dict(subject.settings_source), "model_arguments": dict(subject.model_arguments),
        "preprocess": subject.has_preprocess, "train_step": subject.train_step is not None,
        "constructor_arguments": [a.to_dict() for a in subject.constructor_arguments],
        "output": dict(subject.output_choice) if subject.output_choice else None,
        "optimizer_settings": (subject.optimizer_settings.to_dict() if subject.optimizer_settings is not None
                               else None),
        "settings": run_settings(subject, loss=loss, fed=fed, budget=budget, threads=_threads_setting(subject),
                                 sources={**sources, "layout": sources.get("layout", "default")
                                          if subject.layout != "auto" else "data (inferred)"}),
    }


def _threads_setting(subject: Subject) -> tuple[int, str] | None:
    """The probes' torch thread count and where it came from; None on an accelerator (left as it is)."""
    if not str(subject.device).startswith("cpu"):
        return None
    choice = choose_threads(device=subject.device)
    return choice.threads, choice.source


def _optimizer_name(subject: Subject) -> str:
    settings = subject.optimizer_settings
    if settings is None or settings.given_as == "none":
        return f"{DEFAULT_OPTIMIZER} (default)"
    return settings.name


def selected_checks(select, ignore) -> tuple[list, list[CheckOutcome]]:
    """The checks to run, and a skipped outcome for each check waived by an ignore with a reason."""
    ignores: list[Ignore] = parse_ignore(ignore, where="ignore")
    specs = select_checks(select, [i.token for i in ignores])
    waived = []
    if any(i.reason for i in ignores):
        running = {s.code for s in specs}
        for spec in select_checks(select, None):
            if spec.code in running:
                continue
            why = next((i for i in ignores if i.reason and spec.matches(i.token)), None)
            if why is not None:
                waived.append(CheckOutcome(spec.code, spec.name, Status.SKIPPED, 0.0, why.describe()))
    return specs, waived


def run_diagnosis(subject: Subject, *, select=None, ignore=None, budget: str = DEFAULT_BUDGET,
                  progress: bool = True, verbose: bool = False, thresholds: dict | None = None,
                  model_file: str | None = None, model_line: int | None = None,
                  config_file: str | Path | None = None, figures: bool = True,
                  sources: dict[str, str] | None = None, provided: dict[str, Any] | None = None,
                  observed: tuple = (), verify: bool = True) -> Report:
    """Run the selected checks on ``subject`` and assemble the report.

    ``model_file``/``model_line`` say where the model is defined (CI annotations point there);
    ``config_file`` is the pyproject.toml the settings came from, if any; ``sources`` says where
    the run options (device, seed, budget, layout) came from, for the report's settings block.
    Live mode (``cnndoctor.live.report``) passes ``provided`` facts (the user's run as ``training_probe``,
    ``FactUnavailable`` for the fresh probes it replaces), ``observed`` findings seen during the run (their
    checks are marked failed) and ``verify=False`` (no fix is re-probed: the evidence is the user's run).
    """
    if budget not in BUDGETS:
        raise InputError(f"Unknown budget {budget!r}; use one of {', '.join(BUDGETS)}.")
    start = time.perf_counter()
    thresholds = validate_thresholds(thresholds, where="thresholds")
    specs, waived = selected_checks(select, ignore)
    with progress_display(progress) as update, capture_warnings() as warned:
        ctx = Context(subject, budget=budget, progress=update, verbose=verbose, thresholds=thresholds)
        for name, value in (provided or {}).items():
            ctx.provide(name, value)
        for note in subject.notes:
            ctx.note(note)
        keras_note = momentum_note(subject)
        if keras_note:
            ctx.note(keras_note)
        if config_file is not None:
            ctx.note(f"Settings from [tool.cnndoctor] in {display_path(config_file)}; command-line options "
                     "override them.")
        findings, outcomes = run_checks(ctx, specs, thresholds=thresholds, progress=update)
        if observed:
            findings, outcomes = _with_observed(findings, outcomes, observed)
        output_note = describe_choice(subject.output_choice)
        if output_note:
            ctx.note(output_note)
        rule = ChanceRule.for_thresholds(thresholds)
        probe = _probe_summary(ctx)
        probe_at_chance = bool(at_chance(probe, rule))  # then L103 explains what learning only the priors causes
        findings = order_findings(findings, probe_at_chance=probe_at_chance)
        findings, fix_runs, combined = verify_fixes(ctx, findings) if verify else (findings, {}, None)
        # warnings the probe refutes become info (after verification: a verified gain keeps a warning)
        findings = order_findings(lower_refuted(findings, probe, rule), probe_at_chance=probe_at_chance)
        consequence = _consequence(ctx, findings, probe, rule)
        findings = escalate(findings, consequence)
        summary = _subject_summary(ctx, subject.data, subject, budget=budget, sources=dict(sources or {}))
        lr_advice = _lr_range_summary(ctx)
        figures = report_figures(ctx, fix_runs, findings, outcomes, lr_advice) if figures else []
    overflow = warned.overflow_note()
    if overflow:
        ctx.note(overflow)
    summary.update(model_file=model_file, model_line=model_line,
                   config=display_path(config_file) if config_file is not None else None)
    if waived:
        order = {s.code: i for i, s in enumerate(all_checks())}
        outcomes = sorted([*outcomes, *waived], key=lambda o: order.get(o.code, len(order)))
    diagnosis = build_diagnosis(findings, subject.labels,
                                reference=ctx.get("reference") if ctx.computed("reference") else None,
                                probe=probe, consequence=consequence, combined=combined)
    trace = ctx.shape_trace.to_dict() if ctx.computed("feed") else None
    timings = {f"fact:{k}": v for k, v in ctx.timings.items()}
    timings["total"] = time.perf_counter() - start
    return Report(__version__, summary, diagnosis, findings, outcomes, timings, trace, list(ctx.notes), figures,
                  lr_range=lr_advice, warnings=warned.to_list())


def _with_observed(findings: list, outcomes: list, observed) -> tuple[list, list]:
    """Findings observed outside the checks (live mode) added, each replacing its check's own, which is
    marked failed: the check could not judge what was seen (its probes did not run)."""
    codes = {f.code for f in observed}
    findings = [f for f in findings if f.code not in codes] + list(observed)
    seen = {o.code for o in outcomes}
    outcomes = [CheckOutcome(o.code, o.name, Status.FAILED, o.seconds, "observed in your training run")
                if o.code in codes else o for o in outcomes]
    return findings, outcomes + [CheckOutcome(f.code, f.name, Status.FAILED, 0.0, "observed in your training run")
                                 for f in observed if f.code not in seen]


def _probe_summary(ctx: Context) -> dict | None:
    """What the training probe at the user's settings reached, for the headline."""
    if not ctx.computed("training_probe"):
        return None
    run = ctx.get("training_probe")
    return {"steps": run.steps, "held_out_accuracy": run.held_out_accuracy, "train_accuracy": run.train_accuracy,
            "held_out_loss": run.held_out_loss,  # its seconds are in the timings: seeded output stays identical
            "balanced_accuracy": None if run.balanced_accuracy is None else round(run.balanced_accuracy, 4),
            "split": run.prediction_split, "n_classes": ctx.subject.labels.n_classes,
            "n_per_class": {str(k): v for k, v in run.true_counts.items()},
            "loss_drop": None if run.loss_drop is None else round(run.loss_drop, 4), "nonfinite": run.nonfinite,
            "train_loss": run.train_loss, "truncated": run.stopped_by == "time",
            # the most-predicted class's share of the predictions the balanced accuracy was taken on
            "top_share": None if run.top_share is None else round(run.top_share, 4)}


def _lr_range_summary(ctx: Context) -> dict | None:
    """The learning-rate range test's advice (range with reasons, landmarks, the user's lr), whenever it ran,
    whatever T201/T202 concluded; its ends use T201's ``near_factor`` and T202's ``min_factor``."""
    from .probes.lr_range import suggested_range

    if not ctx.computed("lr_range"):
        return None
    return suggested_range(ctx.get("lr_range"), near_factor=float(ctx.thresholds_for("T201")["near_factor"]),
                           low_factor=float(ctx.thresholds_for("T202")["min_factor"]))


def _floor_loss(ctx: Context) -> float | None:
    """The lowest loss a model that ignores its input reaches on the training probe's slice (the label entropy),
    for class losses without class weights; None otherwise."""
    from .probes.data import CLASS_LOSSES, label_entropy
    from .probes.eval import eval_indices

    data = ctx.probe_data
    bounded = data.loss_kind in CLASS_LOSSES or (data.loss_kind in ("bce_logits", "bce") and data.output_width == 1)
    if not bounded or any(getattr(data.loss_fn, name, None) is not None for name in ("weight", "pos_weight")):
        return None
    idx = eval_indices(data.n_train, ctx.probe_budget.eval_samples, ctx.subject.seed + 1)
    return round(label_entropy(data.labels("train", idx)), 5)


def _consequence(ctx: Context, findings: list, probe: dict | None, rule: ChanceRule) -> dict | None:
    """``chance_consequence`` when the probe sits at chance and the gate would otherwise pass the primary cause.

    Only then are the reference baselines and the overfit probe measured if no check asked for them.
    """
    if probe is None or not at_chance(probe, rule) or (findings and findings[0].severity >= Severity.ERROR):
        return None
    unlearnable = unlearnable_consequence(probe, findings[0] if findings else None, rule)
    if unlearnable is not None:
        return unlearnable
    try:
        reference = ctx.get("reference")
        over = ctx.get("overfit_batch")
    except Exception:  # noqa: BLE001 — no test split, no baselines, a probe that cannot run: no verdict
        return None
    user = over.user
    probe = {**probe, "floor_loss": _floor_loss(ctx),
             "overfit": {"best_accuracy": user.best_accuracy, "final_loss": user.final_loss,
                         "floor_loss": over.floor_loss, "nonfinite": user.nonfinite, "error": user.error,
                         "truncated": user.stopped_by == "time"}}
    return chance_consequence(probe, reference, rule)
