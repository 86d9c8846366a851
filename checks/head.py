"""Checks on the contract between the model's output, the labels and the loss."""

from __future__ import annotations

from cnndoctor import Finding, check
from cnndoctor.errors import Skip


@check("L201", "output-class-mismatch", "error")
def output_class_mismatch(model_output, n_classes, loss):
    """## What it does
    Compares the width of the model's output (the number of logits per sample) with the
    number of classes in the labels.

    ## Why is this bad?
    A head with fewer outputs than classes cannot represent them: `CrossEntropyLoss`
    raises "target out of bounds", or, with a single output, the softmax over one logit is
    always 1 and the loss is constantly 0 — nothing is learned. A wider head trains
    outputs that no label ever asks for and usually means the class count was copied from
    another data set.

    ## Example
    `nn.Linear(64, 2)` left from a binary tutorial on a 10-class data set, or
    `nn.Linear(64, 1)` with `CrossEntropyLoss`.

    ## Fix
    Make the last layer's `out_features` equal to the number of classes (or 1 with
    `BCEWithLogitsLoss` for a binary task), e.g. by passing `num_classes` from the data.
    """
    out = model_output
    if out.ndim > 2:
        raise Skip(f"the output has shape {tuple(out.shape)}, still a sequence; A104 judges that")
    width = 1 if out.ndim == 1 else int(out.shape[1])
    k = n_classes
    if width == k:
        return
    if width == 1 and k == 2 and loss.kind in ("bce_logits", "bce"):
        return
    if width == 1:
        message = (f"The model has a single output for {k} classes"
                   + (" and CrossEntropyLoss: the softmax over one logit is always 1, so the loss is 0 and "
                      "nothing is learned." if loss.kind == "cross_entropy" else "."))
        fix = (f"Give the head {k} outputs with CrossEntropyLoss" +
               (" (or keep 1 output and use BCEWithLogitsLoss)." if k == 2 else "."))
    elif width < k:
        message = (f"The model outputs {width} logits but the labels have {k} classes: classes {width}..{k - 1} "
                   "cannot be predicted and CrossEntropyLoss fails with 'target out of bounds'.")
        fix = f"Set the last layer's out_features to {k}."
    else:
        message = (f"The model outputs {width} logits for {k} classes: {width - k} outputs are never a target "
                   "(a class count copied from elsewhere, or labels that are not 0..K-1).")
        fix = f"Set the last layer's out_features to {k} (and remap the labels to 0..{k - 1} if they are not)."
    yield Finding(message=message,
                  evidence={"output_width": width, "n_classes": k, "output_shape": list(out.shape),
                            "loss": loss.name},
                  fix=fix)
