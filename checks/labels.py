"""Checks on the labels themselves."""

from __future__ import annotations

import numpy as np

from cnndoctor import Finding, check

_REMAP = ("classes, y_train = np.unique(y_train, return_inverse=True)   # ids 0..K-1\n"
          "y_test = np.searchsorted(classes, y_test)                    # the same mapping for test\n"
          "# predictions map back with classes[pred]")


def _values(labels) -> np.ndarray:
    both = [labels.raw_train] + ([labels.raw_test] if labels.raw_test is not None else [])
    values = np.concatenate([np.asarray(b).ravel() for b in both])
    return np.unique(values[np.isfinite(values)]) if values.dtype.kind == "f" else np.unique(values)


@check("L101", "label-range", "error")
def label_range(labels, loss):
    """## What it does
    Checks that class labels are the integers 0..K-1 that classification losses index
    with: not 1-based, not -1/+1, without gaps, and not fractional.

    ## Why is this bad?
    `CrossEntropyLoss` and `NLLLoss` use the label as an index into the K outputs.
    With 1-based labels the last class is out of range (an "index out of bounds" or
    CUDA device-side assert), or — if the head was widened to make it run — output 0 is
    never trained and one class is silently wasted. -1/+1 labels are invalid targets for
    `BCEWithLogitsLoss`, and gaps (labels {0, 2, 7}) make the head wider than the number
    of classes.

    ## Example
    UCR archive files label classes 1..K (or -1/+1); `y = df["label"].values` keeps them.

    ## Fix
    Map the labels to 0..K-1 with `np.unique(..., return_inverse=True)` and keep the
    mapping to turn predictions back into the original labels.
    """
    if labels.kind in ("string", "one-hot"):
        return
    values = _values(labels)
    k = labels.n_classes
    if labels.kind == "float":
        frac = values[values != np.round(values)]
        yield Finding(
            message=f"Labels are not integers (e.g. {frac[0]:g}); a classification loss needs class ids 0..{k - 1}"
                    + (" — if this is regression, see L204." if loss.kind == "regression" else "."),
            evidence={"distinct_labels": int(len(values)), "examples": values[:8].tolist(),
                      "non_integer": int(len(frac)), "expected": f"integers 0..{k - 1}"},
            fix="Map the labels to integer class ids 0..K-1 (or use a regression loss if the target is continuous).",
            snippet=_REMAP,
        )
        return
    lo, hi = int(values.min()), int(values.max())
    if lo == 0 and hi == k - 1:
        return
    if lo == 1 and hi == k:
        what = f"Labels run 1..{k} (1-based); classification losses expect 0..{k - 1}"
        consequence = (f": label {k} is out of range for a {k}-wide head, and output 0 is never trained")
    elif set(values.tolist()) == {-1, 1}:
        what = "Labels are -1/+1; binary losses expect 0/1 and CrossEntropyLoss expects 0..1"
        consequence = ": -1 is an invalid target"
    elif lo < 0:
        what = f"Labels include negative values (min {lo}); class ids must be 0..{k - 1}"
        consequence = ""
    else:
        missing = sorted(set(range(lo, hi + 1)) - set(values.astype(int).tolist()))
        what = (f"The {k} classes use labels {lo}..{hi} with gaps (missing: "
                f"{', '.join(map(str, missing[:8]))}{', …' if len(missing) > 8 else ''})")
        consequence = f": the head must be {hi + 1} wide for {k} classes, and the unused outputs distort the loss"
    yield Finding(
        message=what + consequence + ".",
        evidence={"min_label": lo, "max_label": hi, "distinct_labels": values[:12].tolist(),
                  "n_classes": k, "expected": f"0..{k - 1}", "loss": loss.name},
        fix=f"Remap the labels to 0..{k - 1} with np.unique(..., return_inverse=True) for train and test alike.",
        snippet=_REMAP,
    )
