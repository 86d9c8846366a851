"""What the layers pass on to the classifier: A206 a feature vector narrower than the classes, A208
samples of one batch mixing in eval mode."""

from __future__ import annotations

from cnndoctor.errors import Skip
from cnndoctor.findings import Finding, Severity
from cnndoctor.registry import check

__all__ = ["narrow_features", "samples_mix"]

_POOL_2D = ("AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "AvgPool2d", "MaxPool2d")
_SEQUENCE = ("LSTM", "GRU", "RNN", "MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder",
             "TransformerDecoderLayer", "TransformerDecoder", "Transformer")


def _shape(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _narrowing_fix(f, k: int) -> tuple[str, str | None]:
    if f.narrowed_type in _POOL_2D:
        return (f"Replace `{f.narrowed_by}` ({f.narrowed_type}) with nn.AdaptiveAvgPool1d(1): on a (B, C, L) "
                f"feature map a 2-D pooling averages the channels together with time; the 1-D one averages each "
                f"channel over time and hands the classifier one feature per channel.",
                f"nn.AdaptiveAvgPool1d(1), nn.Flatten(),   # (B, C, L) -> (B, C): one feature per channel\n"
                f"nn.Linear(C, {k})")
    if f.narrowed_type is None:
        return (f"Pool over the time axis only where `{f.narrowed_by}` reduces the features: x.mean(dim=-1) on "
                f"a (B, C, L) feature map keeps one feature per channel (reducing dim=1 as well averages the "
                "channels away); set the next Linear's in_features to C.",
                f"x = x.mean(dim=-1)   # (B, C, L) -> (B, C)\nlogits = nn.Linear(C, {k})(x)")
    if f.narrowed_type in ("Linear", "LazyLinear", "Conv1d", "Conv2d"):
        return (f"Widen `{f.narrowed_by}` to at least {k} outputs (one per class, usually more: 2–4 × {k}) "
                "and the next layer's inputs with it, or remove the narrow layer.", None)
    return (f"Keep at least {k} features per sample up to the classifier: make `{f.narrowed_by}` "
            f"({f.narrowed_type}) keep the channels (pool over time only).", None)


@check("A206", "feature-bottleneck", "warning")
def narrow_features(feature_bottleneck, n_classes, loss, *, max_error_width: int = 2):
    """## What it does
    Follows the shape trace from the last feature map that still has a time axis to the
    output layer and finds the narrowest per-sample feature vector a layer reads on the
    way — after global pooling, a flatten, the input of the head's `Linear` (the output
    layer's own outputs are not judged). It fires when that vector has fewer values than
    there are classes, names the layer (or the operation in `forward`) that narrowed it,
    and is an error when it is 1 or `max_error_width` (2) features wide and fewer than
    K − 1 (K classes), a warning otherwise.

    ## Why is this bad?
    The head can only read what reaches it. A softmax over K logits computed from w
    features has logits in a w-dimensional family; a common shift of the logits changes
    nothing, so K − 1 features are the least that lets the head express every class
    posterior, and with fewer the classes must share directions. At K − 1 every class can
    still own a region, but with no slack at all: the features deep classifiers converge to
    place the K class means at the vertices of a simplex (neural collapse, Papyan, Han &
    Donoho 2020), which needs K − 1 dimensions around their mean and K for the
    non-negative features a ReLU or a pooled ReLU emits — hence the rule "fewer than K".
    With one or two features the K classes must be told apart along a line or in a plane,
    in an order the head fixes, which a network trained from scratch rarely finds: the
    probes then see an output that ignores the input (T104), a batch that cannot be
    memorised (T101) or no learning at all (T102). The classic cause is a pooling that
    averages the filters together with time: `nn.AdaptiveAvgPool2d(1)` on a `(B, C, L)`
    feature map, `x.mean(dim=(1, 2))`, or a pooling after a stray permute, hidden by a
    `nn.LazyLinear` that adapts to whatever width it receives.

    ## Example
    Six leaf classes, 64 filters, `nn.AdaptiveAvgPool2d(1)`, `nn.Flatten()` and
    `nn.LazyLinear(6)`: the 2-D pooling reads the `(B, 64, L)` map as `(C=B, H=64, W=L)`
    and hands the classifier a single number per sample.

    ## Fix
    Pool over time only (`nn.AdaptiveAvgPool1d(1)`, `x.mean(dim=-1)`), so the classifier
    receives one feature per channel, and keep every hidden layer of the head at least K
    wide.
    """
    if loss.kind == "regression":
        raise Skip("a regression head has no classes to separate")
    f, k = feature_bottleneck, int(n_classes)
    if k < 2 or f.width >= k:
        return
    error = f.width <= max_error_width and f.width < k - 1
    by = f"`{f.narrowed_by}`" + (f" ({f.narrowed_type})" if f.narrowed_type else "")
    source = f" from {f.narrowed_from:,} values" if f.narrowed_from else ""
    message = (f"The classifier receives only {f.width} feature{'s' if f.width != 1 else ''} per sample for {k} "
               f"classes: {by} narrows the representation{source} to {_shape(f.shape)}, which `{f.reader}` reads. ")
    if f.width < k - 1:
        message += (f"With {f.width} feature{'s' if f.width != 1 else ''} the {k} logits cannot move "
                    f"independently (a softmax needs {k - 1}), so the classes must share directions"
                    + (" along a single line." if f.width == 1 else "."))
    else:
        message += (f"{k - 1} feature{' is' if k == 2 else 's are'} the least a softmax over {k} classes needs: no "
                    "room is left to spare.")
    fix, snippet = _narrowing_fix(f, k)
    yield Finding(
        message=message,
        evidence={"width": f.width, "n_classes": k, "shape": list(f.shape), "narrowed_by": f.narrowed_by,
                  "narrowed_type": f.narrowed_type, "narrowed_from": f.narrowed_from, "reader": f.reader,
                  "feature_map": f.feature_map, "feature_widths": f.path, "max_error_width": max_error_width},
        fix=fix, snippet=snippet, severity=Severity.ERROR if error else None, location=f.narrowed_by)


@check("A208", "batch-mixing", "error")
def samples_mix(batch_mixing, *, min_change: float = 1e-4, floor_factor: float = 100.0):
    """## What it does
    Runs a fresh copy of the model in eval mode (BatchNorm on its running statistics,
    dropout off) on 7 real training samples, then on the same batch with its first sample
    replaced by another real sample, then with its last one replaced, and measures how far
    the OTHER six samples' outputs move, relative to their largest value (mixing has a
    direction: a recurrence over the batch carries the first sample into the later ones, a
    `view` that folds the batch into time carries the last one into the final steps). Two
    runs of the identical batch give the float noise floor (rounding, and anything random
    left on in eval mode, drawn with the same seed). It fires when the change exceeds both
    `min_change` (1e-4: float32 rounding moves a batch-independent model's outputs by 1e-7
    to 1e-5 of their size at most) and `floor_factor` (100) times the measured floor. With
    hooks on every module and the same batches it names the first module whose per-sample
    outputs mix.

    ## Why is this bad?
    A classifier must give one sample the same prediction whatever else is in its batch.
    When samples mix, each sample's output is computed partly from the other samples of the
    batch: the model trains on other samples' data, its predictions change with the batch
    composition and size (and differ between training, evaluation and deployment on one
    series), and the loss it is trained on does not describe the task. The usual causes are
    an `nn.LSTM`/`nn.GRU` built with the default `batch_first=False` and fed `(B, L, C)`
    — it runs its recurrence over the batch, so each sample sees the samples before it —
    and a `view`/`reshape` that moves values across the batch axis (a `view` used where a
    `permute` was meant). BatchNorm in eval mode is not mixing, and is not reported
    (PyTorch Lightning Bolts' BatchGradientVerification, the model for this check,
    reported BatchNorm in train mode as a false positive).

    ## Example
    A conv block and `nn.LSTM(16, 16)` fed `x.transpose(1, 2)`, a `(B, L, 16)` tensor, on
    GunPoint: the LSTM reads B as time. Replacing the first sample of a batch of 7 moves the
    LSTM's outputs for the other six by 0.22 of their size and their logits by 0.0028, where
    two runs of the identical batch differ by exactly 0.

    ## Fix
    Build recurrent and attention layers with `batch_first=True` for `(B, L, C)` input (or
    permute to `(L, B, C)` for the default), and reshape with the batch axis kept:
    `x.permute(...)`, `x.reshape(x.size(0), ...)`, never a `view` that reorders the axes.
    """
    m = batch_mixing
    limit = max(min_change, floor_factor * m.floor)
    if m.change <= limit:
        return
    others = m.batch_size - 1
    message = (f"In eval mode, replacing one sample of a batch of {m.batch_size} changes the other {others} samples' "
               f"outputs by up to {m.change:.3g} of their size (two runs of the identical batch differ by "
               f"{m.floor:.3g}): each prediction depends on the rest of the batch, so the model trains on other "
               "samples' data and its predictions change with the batch composition.")
    evidence = {"batch_size": m.batch_size, "relative_change": m.change, "noise_floor": m.floor,
                "min_change": min_change, "floor_factor": floor_factor, "mixing_module": m.module,
                "mixing_module_type": m.module_type,
                "mixing_module_input_shape": list(m.module_input_shape) if m.module_input_shape else None,
                "batch_first": m.batch_first, "last_per_sample_module": m.last_per_sample,
                "module_relative_change": m.module_change}
    snippet = None
    if m.module is not None:
        message += (f" The first module whose per-sample outputs mix is `{m.module}` ({m.module_type}"
                    + (f", input {_shape(m.module_input_shape)}" if m.module_input_shape else "") + ")"
                    + (f"; the outputs of `{m.last_per_sample}` before it were still per sample." if m.last_per_sample
                       else "."))
    shape = m.module_input_shape
    fed_batch_major = bool(shape) and len(shape) == 3 and shape[0] == m.batch_size and shape[1] != m.batch_size
    if m.module_type in _SEQUENCE and m.batch_first is False and fed_batch_major:
        evidence["mixing_cause"] = "batch_first"
        fix = (f"Build `{m.module}` with batch_first=True for (B, L, C) input — it reads the {_shape(shape)} input "
               f"as (L={shape[0]}, B={shape[1]}, C={shape[2]}), so its recurrence runs across the batch — or permute "
               "to (L, B, C) before it (x.permute(1, 0, 2)) and back after it.")
        snippet = f"nn.{m.module_type}(..., batch_first=True)   # input (B, L, C)"
    else:
        evidence["mixing_cause"] = "reshape"
        where = (f" between `{m.last_per_sample}` and `{m.module}`" if m.last_per_sample and m.module
                 else f" before `{m.module}`" if m.module else "")
        fix = (f"Keep the batch axis apart in every reshape{where}: use x.permute(...) to reorder axes (for a "
               "(B, C, L) map into an (L, B, C) sequence, x.permute(2, 0, 1)) and x.reshape(x.size(0), ...) to merge "
               "the others, never a view that reorders them; compute any statistic per sample (over dim >= 1), not "
               "over the batch.")
        snippet = "x = x.permute(2, 0, 1)   # (B, C, L) -> (L, B, C), not x.view(L, B, C)"
    yield Finding(message=message, evidence=evidence, fix=fix, snippet=snippet, location=m.module)
