"""What the probes ran with, each setting with where it came from: the report's settings block.

A debugger the user cannot check against their own run is not trusted, so every setting the
probes use is listed with its source: the model file, the command line (or ``diagnose()``'s
arguments), the config file, the data (inferred), or cnndoctor's default.
"""

from __future__ import annotations

from typing import Any

from .batch_order import describe_batch_order
from .optimizers import DEFAULT_OPTIMIZER
from .preprocess import FITTED_ON_TRAIN

__all__ = ["run_settings", "loss_text", "preprocess_text", "DEFAULT_SOURCE"]

DEFAULT_SOURCE = "default"


def loss_text(fn, name: str) -> str:
    """``CrossEntropyLoss (label_smoothing 0.1, class weights)``: the loss and what sets it apart."""
    extras = []
    smoothing = getattr(fn, "label_smoothing", 0.0)
    if isinstance(smoothing, (int, float)) and smoothing:
        extras.append(f"label_smoothing {smoothing:g}")
    if getattr(fn, "weight", None) is not None:
        extras.append("class weights")
    if getattr(fn, "pos_weight", None) is not None:
        extras.append("pos_weight")
    reduction = getattr(fn, "reduction", "mean")
    if isinstance(reduction, str) and reduction != "mean":
        extras.append(f"reduction {reduction!r}")
    return f"{name} ({', '.join(extras)})" if extras else name


def _entry(value: Any, source: str, **extra) -> dict:
    return {"value": value, "source": source, **extra}


def _function_name(fn) -> str:
    return getattr(fn, "__name__", type(fn).__name__)


def preprocess_text(subject) -> str:
    """``scale``, ``StandardScaler (fitted on the training split)``, ``clip, then fit_preprocess (fitted on the
    training split)`` or ``none``: what runs on the stored arrays before the model, in order."""
    parts = []
    if subject.preprocess is not None:
        parts.append(_function_name(subject.preprocess))
    fitted = getattr(subject, "fit_preprocess", None)
    if fitted is not None:
        parts.append(f"{fitted.name} ({FITTED_ON_TRAIN})")
    return ", then ".join(parts) or "none"


def run_settings(subject, *, loss, fed: str, budget: str, sources: dict[str, str],
                 threads: tuple[int, str] | None = None) -> dict[str, dict]:
    """``{setting: {"value", "source"}}`` for every setting the probes used, in reading order.

    ``loss`` is the loss fact (or None when it could not be worked out), ``fed`` the layout as
    fed to the model, ``sources`` where the run options (device, seed, budget, layout) came from.
    """
    src = subject.settings_source
    out: dict[str, dict] = {}
    opt = subject.optimizer_settings
    out["optimizer"] = _entry(subject.optimizer_text() if opt is not None else DEFAULT_OPTIMIZER,
                              src.get("optimizer", DEFAULT_SOURCE))
    out["lr"] = _entry(subject.lr, src.get("lr", DEFAULT_SOURCE))
    if getattr(subject, "scheduler", None):  # a LightningModule's configure_optimizers (load/lightning.py)
        out["scheduler"] = _entry(subject.scheduler, src.get("scheduler", DEFAULT_SOURCE))
    out["batch_size"] = _entry(subject.batch_size, src.get("batch_size", DEFAULT_SOURCE))
    order, order_source = describe_batch_order(subject)
    out["batches"] = _entry(order, order_source)  # the order the probes draw batches in
    if loss is not None:
        out["loss"] = _entry(loss_text(loss.fn, loss.name), src.get("loss_fn", loss.source))
    out["preprocess"] = _entry(preprocess_text(subject), next(
        (src[k] for k in ("preprocess", "fit_preprocess") if src.get(k, DEFAULT_SOURCE) != DEFAULT_SOURCE),
        DEFAULT_SOURCE))
    out["train_step"] = _entry(_function_name(subject.train_step) if subject.train_step is not None
                               else "standard step", src.get("train_step", DEFAULT_SOURCE))
    arguments = getattr(subject, "constructor_arguments", None) or []
    if arguments:
        out["constructor"] = _entry({a.name: a.to_dict() for a in arguments}, src.get("model", "model file"))
    choice = getattr(subject, "output_choice", None)
    if choice:
        element = choice["element"]
        out["output"] = _entry(f"element [{element!r}] of the {choice['of']}, shape {choice['shape']}",
                               src.get("output", "explicit") if choice["rule"] == "explicit" else
                               f"rule: {choice['rule']}")
    trained = getattr(subject, "trained", None)
    if trained is not None:  # evaluated as they are; the probes still start from fresh weights
        out["weights"] = _entry(trained.describe(), src.get("weights", DEFAULT_SOURCE))
    out["layout"] = _entry(fed, sources.get("layout", "data (inferred)"))
    out["device"] = _entry(subject.device, sources.get("device", DEFAULT_SOURCE))
    if threads is not None:  # (count, where it came from): the probes' torch thread count changes last bits
        out["threads"] = _entry(threads[0], threads[1])
    out["budget"] = _entry(budget, sources.get("budget", DEFAULT_SOURCE))
    out["seed"] = _entry(subject.seed, sources.get("seed", DEFAULT_SOURCE))
    return out
