"""Checks on the user's trained weights (``--weights ckpt.pt``, ``diagnose(model, reinit=False)``).

Collapsed predictions, dead units, train/eval and train/test gaps of trained weights are judged by
the checks that judge them on the probes (T105, T206, T207, T208); what only trained weights can
show has a code of its own here.
"""

from __future__ import annotations

from cnndoctor.errors import Skip
from cnndoctor.findings import Finding
from cnndoctor.registry import check

from ._probes import g

__all__ = ["batchnorm_running_stats"]

_RECALIBRATE = ("model.train()\n"
                "for m in model.modules():\n"
                "    if isinstance(m, nn.modules.batchnorm._BatchNorm):\n"
                "        m.reset_running_stats(); m.momentum = None   # a plain average over the pass\n"
                "with torch.no_grad():\n"
                "    for xb, _ in train_loader:   # preprocessed exactly as in training\n"
                "        model(xb)\n"
                "model.eval()")


@check("T301", "batchnorm-running-stats", "error", stage="probes")
def batchnorm_running_stats(trained_weights, *, max_mean_shift: float = 1.0, max_scale_ratio: float = 2.0):
    """## What it does
    On trained weights (`--weights ckpt.pt`, or `diagnose(model, reinit=False)`), runs the
    training data through the model in eval mode and measures, for every BatchNorm layer,
    the mean and spread of each channel of what flows into it. It compares them with the
    running statistics the layer carries: the mean shift is the RMS over channels of
    (data mean − running mean) / running std, the scale ratio is how far the data's
    standard deviation is from the running one (a factor, RMS over channels of the log).
    It fires when a layer's mean shift exceeds `max_mean_shift` (1 running standard
    deviation) or its scale ratio exceeds `max_scale_ratio` (2x either way), and names the
    first such layer: the layers after it inherit the mismatch.

    ## Why is this bad?
    In eval mode BatchNorm normalises with its running statistics instead of the batch's.
    When those do not describe the data, every activation after the layer is shifted and
    scaled away from what the next layers learned, and the model collapses onto one class
    or scores near chance in eval mode while it looked fine in training. It happens when the
    evaluation data is preprocessed differently from the training data (raw instead of
    standardised, another scaler), when the running statistics were reset or never updated
    (`track_running_stats` toggled, a frozen model put in eval mode while fine-tuning), or
    when the checkpoint's buffers come from another run.

    ## Example
    A model trained on standardised series, evaluated on the raw ones: the first BatchNorm
    sees a mean 40 running standard deviations away from its running mean, and every test
    series is classified as class 0.

    ## Fix
    Preprocess the evaluation data exactly as the training data. If that already holds,
    re-estimate the running statistics on the training data with the trained weights (a
    pass in train mode without gradient steps), or retrain.
    """
    trained = trained_weights
    if trained is None:
        raise Skip("no trained weights were given (--weights ckpt.pt, or diagnose(model, reinit=False))")
    if not trained.batchnorm:
        raise Skip("the trained model has no BatchNorm layer with running statistics")
    per_layer = {f.layer: f.to_dict() for f in trained.batchnorm}
    off = [f for f in trained.batchnorm if f.mean_shift > max_mean_shift or f.scale_ratio > max_scale_ratio]
    if not off:
        return
    first = off[0]
    what = []
    if first.mean_shift > max_mean_shift:
        what.append(f"the data's channel means sit {g(first.mean_shift)} running standard deviations from the "
                    f"running means (RMS over {first.channels} channels; channel {first.worst_channel}: "
                    f"{g(first.worst_shift)})")
    if first.scale_ratio > max_scale_ratio:
        what.append(f"their spread is {g(first.scale_ratio)}x off the running one")
    more = f"; {len(off) - 1} later BatchNorm layer(s) inherit it" if len(off) > 1 else ""
    yield Finding(
        message=f"The running statistics of the trained weights ({trained.source}) do not describe the data: in "
                f"{first.layer}, the first BatchNorm layer where they differ, " + " and ".join(what)
                + f", on {first.samples} training samples in eval mode{more}. In eval mode that layer shifts and "
                "scales every activation away from what the next layers learned.",
        evidence={"weights": trained.label, "trained": trained.summary(), "layer": first.layer,
                  "mismatched_layers": [f.layer for f in off], "per_layer": per_layer,
                  "max_mean_shift": max_mean_shift, "max_scale_ratio": max_scale_ratio},
        fix="Preprocess the data exactly as it was in training (the same scaler, fitted on the training split); "
            "if it already is, re-estimate the running statistics with the trained weights on the training data, "
            "or retrain.",
        snippet=_RECALIBRATE)
