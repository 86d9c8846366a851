"""The live report: the same ``Report`` as ``diagnose``, judged on what the user's run recorded.

The data and architecture checks run as in any diagnosis, on a bounded seeded sample of the batches the
run saw, with a deep copy of the user's model (``make_subject`` with an instance never touches the
original). The training checks judge the user's run itself: the recording is provided as the
``training_probe`` fact (``Recording.as_probe_run``), so T105, T204-T206 and T209 are the same check
functions with the same thresholds, and the probes that a live run replaces (the overfit probe, the LR
range test, the zeroed-input and other-seed runs) are marked unavailable instead of being run: their
checks are listed as skipped with the reason. A non-finite loss seen during the run is T203, observed.
No fix is re-probed (``verify=False``). This module is an entry point: it calls ``api.run_diagnosis``.
"""

from __future__ import annotations

from ..api import run_diagnosis
from ..errors import FactUnavailable, InputError
from ..load.data import data_from_arrays
from ..load.subject import make_subject
from ..report import Report
from .recording import Recording
from .symptoms import nonfinite_finding

__all__ = ["live_report", "REPLACED_PROBES"]

# The fresh-weight probes a live report does not run: the user's own run is the evidence instead.
REPLACED_PROBES = ("overfit_batch", "lr_range", "zero_input_probe", "other_seed_probes", "train_eval_gap")


def _device(model) -> str:
    try:
        return str(next(model.parameters()).device)
    except (StopIteration, AttributeError, TypeError):
        return "cpu"


def live_report(recording: Recording, model, *, optimizer=None, loss_fn=None, seed: int = 0,
                thresholds: dict | None = None, select=None, ignore=None, announced: dict | None = None,
                name: str | None = None) -> Report:
    """Diagnose the watched run: checks on the sampled batches and on the run's own curves."""
    sample = recording.sample.arrays() if recording.sample is not None else None
    if sample is None or len(sample[0]) < 2:
        raise InputError("cnndoctor recorded no batch of this run, so it cannot check the data or build the "
                         "report: pass the batch to the recorder (w.step(loss, xb, yb) in a plain loop; the "
                         "Lightning callback reads (x, y) batches; the Keras callback reads model.fit's data), "
                         "and let at least one scheduled step run.")
    X, y = sample
    rows, seen, batches = len(X), recording.sample.seen, recording.sample.batches
    data = data_from_arrays(X, y, None, None, source=f"your run's batches ({rows} distinct of {seen} rows seen)",
                            seed=seed, split_if_missing=False)
    options = {"loss_fn": loss_fn, "optimizer": optimizer}
    subject = make_subject(model, "instance", data, name=name or type(model).__name__, options=options,
                           batch_size=recording.batch_size, device=_device(model), seed=seed,
                           explicit_source="watch() argument", options_source="watch() argument")
    every = recording.every
    subject.notes.append(
        f"Live report of your own training run ({recording.framework}): the training checks (T-codes) judge "
        f"the {recording.steps} steps it ran — loss, lr and predictions at every step, gradients, updates and "
        f"ReLU activity every {every} steps (steps 1, {every + 1}, {2 * every + 1}, …) — instead of fresh probes. "
        f"The data and architecture checks ran on {rows} rows sampled (seeded) from {batches} recorded "
        f"batch(es) of {seen} rows, and on a copy of your model; your model and data were not changed.")
    if announced:
        said = ", ".join(f"{code} at step {step}" for code, step in announced.items())
        subject.notes.append(f"Symptoms announced while the run went on: {said}.")
    if recording.eval_in_train_mode:
        subject.notes.append(
            f"{recording.eval_in_train_mode} of the {recording.eval_forwards} evaluation passes (no gradient) ran "
            f"with the model in train mode, so {', '.join(recording.mode_layers[:4])} used batch statistics or "
            "dropout: call model.eval() before evaluating and model.train() after.")
    why = FactUnavailable("a live report judges your own training run instead of running this fresh probe")
    provided = {"training_probe": recording.as_probe_run(), **{n: why for n in REPLACED_PROBES}}
    observed = tuple(f for f in (nonfinite_finding(recording),) if f is not None)
    return run_diagnosis(subject, select=select, ignore=ignore, progress=False, thresholds=thresholds,
                         figures=False, provided=provided, observed=observed, verify=False,
                         sources={"device": "your model", "seed": "watch() argument"})
