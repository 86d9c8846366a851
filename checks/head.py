"""Checks on the contract between the model's output, the labels and the loss:
L201 output width, L202 activation vs loss, L203 bounded logits, L204 loss vs task, L206 softmax over an
axis of size 1."""

from __future__ import annotations

import math

from cnndoctor.errors import Skip
from cnndoctor.findings import Finding, Severity
from cnndoctor.keras.support import is_keras_loss
from cnndoctor.registry import check

__all__ = ["activation_loss_mismatch", "bounded_logits", "loss_task_mismatch", "output_class_mismatch",
           "softmax_over_singleton_axis"]

_LINEAR = ("Linear", "LazyLinear")
# Output ranges of the bounded ops: (low, high); None for an open end.
_RANGES = {"sigmoid": (0.0, 1.0), "hardsigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "hardtanh": (-1.0, 1.0),
           "softsign": (-1.0, 1.0), "relu": (0.0, None), "relu6": (0.0, 6.0), "softmax": (0.0, 1.0)}


def _head_layer(shape_trace, width: int) -> str | None:
    """The last Linear/Conv that produced ``width`` outputs (the layer to change)."""
    found = None
    for call in shape_trace.calls:
        if call.is_leaf and call.end >= 0 and (call.config.get("out_features") == width
                                                or call.config.get("out_channels") == width):
            found = call.name
    return found


@check("L201", "output-class-mismatch", "error")
def output_class_mismatch(model_output, n_classes, loss, shape_trace):
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
    if loss.kind == "regression" or (width == 1 and loss.kind in ("bce_logits", "bce")):
        raise Skip(f"{loss.name} is not a K-way classification loss, so one output is what it expects; L204 judges "
                   "whether the loss fits the task")
    layer = _head_layer(shape_trace, width)
    named = f"`{layer}`'s out_features" if layer else "the last layer's out_features"
    if width == 1:
        message = (f"The model has a single output for {k} classes"
                   + (" and CrossEntropyLoss: the softmax over one logit is always 1, so the loss is 0 and "
                      "nothing is learned." if loss.kind == "cross_entropy" else "."))
        fix = (f"Give the head {k} outputs with CrossEntropyLoss (set {named} to {k})" +
               (" or keep 1 output and use BCEWithLogitsLoss." if k == 2 else "."))
    elif width < k:
        message = (f"The model outputs {width} logits but the labels have {k} classes: classes {width}..{k - 1} "
                   "cannot be predicted and CrossEntropyLoss fails with 'target out of bounds'.")
        fix = f"Set {named} to {k}."
    else:
        message = (f"The model outputs {width} logits for {k} classes: {width - k} outputs are never a target "
                   "(a class count copied from elsewhere, or labels that are not 0..K-1).")
        fix = f"Set {named} to {k} (and remap the labels to 0..{k - 1} if they are not)."
    yield Finding(message=message,
                  evidence={"output_width": width, "n_classes": k, "output_shape": list(out.shape),
                            "loss": loss.name},
                  fix=fix, location=layer)


def _keras_class(loss) -> str:
    return {"categorical_crossentropy": "CategoricalCrossentropy",
            "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
            "binary_crossentropy": "BinaryCrossentropy"}.get(getattr(loss.fn, "name", ""), "CategoricalCrossentropy")


def _default(loss) -> str:
    return " (the default, as no loss was given)" if loss.source == "default" else ""


def _where(act) -> str:
    return f"`{act.module}`" if act.module else ("forward()" if "forward" in act.source else "the model")


def _evidence(act, loss, extra: dict) -> dict:
    stats = {k: v for k, v in act.stats.items() if k in ("min", "max", "row_sum_max_deviation",
                                                          "logsumexp_max_deviation", "fraction_exact_zero")}
    return {"activation": act.name, "found_in": act.source, "loss": loss.name, "loss_kind": loss.kind,
            "loss_source": loss.source, "output_width": act.width, "samples": act.stats.get("n_samples"),
            "raw_from": act.raw_from,
            **stats, **extra}


def _ce_floor(low: float, high: float, k: int) -> tuple[float, float]:
    """(best true-class probability, lowest cross-entropy) when every logit lies in [low, high]."""
    best = math.exp(high) / (math.exp(high) + (k - 1) * math.exp(low))
    return best, -math.log(best)


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


@check("L202", "activation-loss-mismatch", "error")
def activation_loss_mismatch(output_activation, loss, n_classes):
    """## What it does
    Finds what the model does to its outputs last — softmax, sigmoid, log-softmax, ReLU —
    from the operations of the forward pass (modules and functional calls alike) and from
    the outputs of a freshly initialised model (rows summing to 1, log-probabilities, exact
    zeros), and checks it against what the loss expects: raw logits for `CrossEntropyLoss`
    and `BCEWithLogitsLoss`, log-probabilities for `NLLLoss`, probabilities for `BCELoss`.

    ## Why is this bad?
    `CrossEntropyLoss` applies log-softmax itself: after a softmax the "logits" are stuck in
    [0, 1], the true class can never get a high probability, and gradients are squashed
    twice — training crawls or stalls near chance. A sigmoid before `BCEWithLogitsLoss` puts
    every prediction between 0.5 and 0.73. `NLLLoss` on raw logits is unbounded below;
    `BCELoss` on raw logits raises or saturates. `LogSoftmax` + `NLLLoss` is correct. Keras
    states the contract in `compile()`: its cross-entropies expect probabilities unless
    `from_logits=True`, so a softmax with `from_logits=True` is the double softmax above, and
    a last `Dense(K)` with no activation under the default `from_logits=False` is divided by
    its row sum and clipped at 1e-7 — not a likelihood at all.

    ## Example
    A Keras habit: `nn.Softmax(dim=1)` (or `F.softmax(x, 1)` in `forward`) as the last layer,
    trained with `nn.CrossEntropyLoss()`; in Keras, `Dense(10)` with
    `loss='sparse_categorical_crossentropy'`.

    ## Fix
    Return raw logits and let the loss apply the activation (or pair `LogSoftmax` with
    `NLLLoss`); apply softmax/sigmoid only at inference time. In Keras, make `from_logits`
    say what the last layer returns.
    """
    act, kind, k = output_activation, loss.kind, n_classes
    name = act.name
    if kind in ("regression", "custom"):
        raise Skip(f"{loss.name} has no activation contract to check")
    if name in ("softmax", "log_softmax") and act.width == 1 and act.stats.get("finite") and \
            act.stats.get("min") == act.stats.get("max"):
        raise Skip(f"the {name} normalises a single output, so the output is a constant: L206 reports it")
    message = fix = None
    extra: dict = {}
    if kind == "cross_entropy_probs" and name not in ("softmax", "sigmoid"):
        lo, hi = act.stats.get("min"), act.stats.get("max")
        negative = act.stats.get("fraction_negative")
        extra = {"expected": "probabilities (rows summing to 1)", "fraction_negative": negative}
        what = (f"raw logits straight from `{act.raw_from}`" if act.raw_from else
                "raw logits" if name is None else f"{name} outputs")
        message = (f"{loss.name} (from_logits=False, the Keras default) expects probabilities, but the model returns "
                   f"{what}" + (f" in [{lo:.3g}, {hi:.3g}]" if lo is not None else "") +
                   ": Keras divides each row by its sum and clips at 1e-7, so the loss is not a likelihood — "
                   "negative outputs are clipped away with no gradient and a row summing near 0 explodes.")
        fix = ("End the model with Dense(K, activation='softmax'), or compile with "
               f"keras.losses.{_keras_class(loss)}(from_logits=True).")
    elif kind == "cross_entropy" and name == "softmax":
        best, floor = _ce_floor(0.0, 1.0, max(k, 2))
        extra = {"best_true_class_probability": best, "lowest_loss": floor, "ln_k": math.log(max(k, 2))}
        message = (f"The model applies softmax before {loss.name}{_default(loss)}, which applies log-softmax itself: "
                   f"its outputs "
                   f"(rows sum to 1) are treated as logits in [0, 1], so the true class can get at most "
                   f"e/(e+K−1) = {best:.2f} (K = {k}) and the loss cannot fall below {floor:.2f} (chance: "
                   f"ln K = {math.log(max(k, 2)):.2f}); the gradients are squashed twice.")
        fix = (f"Remove the softmax from {_where(act)} and return raw logits; apply softmax only when you need "
               "probabilities at inference." if not is_keras_loss(loss.fn) else
               f"Compile with keras.losses.{_keras_class(loss)}() (from_logits=False: the outputs are already "
               f"probabilities), or drop activation='softmax' from {_where(act)}.")
    elif kind == "nll" and name != "log_softmax":
        if name == "softmax":
            message = (f"{loss.name} expects log-probabilities but the model outputs probabilities (softmax): the "
                       "loss −p of the true class lies in [−1, 0] and its gradient vanishes for a wrong prediction.")
        else:
            what = (f"raw logits straight from `{act.raw_from}`" if act.raw_from else
                    "raw logits" if name is None else f"{name} outputs")
            message = (f"{loss.name} expects log-probabilities but receives {what}: their exponentials do not sum "
                       f"to 1 (a row's log-sum-exp is off by up to {act.stats.get('logsumexp_max_deviation', 0):.3g}),"
                       " so the loss −output of the true class is not a likelihood"
                       + (" and is unbounded below, so training inflates one logit." if name in (None, "relu")
                          else "."))
        fix = "End the model with nn.LogSoftmax(dim=1) (or return raw logits and use CrossEntropyLoss)."
    elif kind == "bce_logits" and name in ("sigmoid", "softmax", "log_softmax"):
        low, high = (-math.inf, 0.0) if name == "log_softmax" else (0.0, 1.0)
        p_lo, p_hi = (_sigmoid(low) if low > -math.inf else 0.0), _sigmoid(high)
        extra = {"probability_range": [p_lo, p_hi]}
        message = (f"The model applies {name} before {loss.name}, which applies a sigmoid itself: every predicted "
                   f"probability lies in [{p_lo:.2f}, {p_hi:.2f}], so "
                   + ("no sample can ever be predicted positive." if name == "log_softmax"
                      else "no sample can ever be predicted negative (below 0.5)."))
        fix = (f"Remove the {name} from {_where(act)} and return raw logits to {loss.name}."
               if not is_keras_loss(loss.fn) else
               f"Compile with keras.losses.BinaryCrossentropy() (from_logits=False), or drop the {name} from "
               f"{_where(act)}.")
    elif kind == "bce" and name not in ("sigmoid", "softmax", "hardsigmoid"):
        lo, hi = act.stats.get("min"), act.stats.get("max")
        inside = lo is not None and lo >= 0 and hi <= 1
        if lo is None or (inside and not act.raw_from):
            return
        extra = {"expected_range": [0.0, 1.0]}
        if inside:
            message = (f"{loss.name} expects probabilities but the outputs come straight from `{act.raw_from}`, a "
                       f"linear layer, with no sigmoid: they lie in [{lo:.3g}, {hi:.3g}] only by chance at "
                       f"initialisation, and {loss.name} raises as soon as one leaves [0, 1].")
        else:
            message = (f"{loss.name} expects probabilities in [0, 1] but the outputs range over [{lo:.3g}, {hi:.3g}]"
                       + (" — raw logits" if name is None else f" ({name} outputs)") +
                       f": {loss.name} raises on values outside [0, 1] or saturates at its clamp.")
        fix = ("Use BCEWithLogitsLoss on the raw logits (numerically stable), or end the model with torch.sigmoid."
               if not is_keras_loss(loss.fn) else "End the model with Dense(1, activation='sigmoid'), or compile with "
               "keras.losses.BinaryCrossentropy(from_logits=True).")
    if message is None:
        return
    yield Finding(message=message, evidence=_evidence(act, loss, extra), fix=fix, location=act.module)


@check("L203", "bounded-logits", "error")
def bounded_logits(output_activation, loss, n_classes, model_output):
    """## What it does
    Finds a bounding operation — ReLU, sigmoid, tanh, hardtanh, ReLU6, clamp — applied to
    the logits of a model trained with a loss that expects raw, unbounded logits
    (`CrossEntropyLoss`, `BCEWithLogitsLoss`), and computes what the bound costs: the
    highest probability the true class can reach and the lowest loss that remains.

    ## Why is this bad?
    With logits confined to [0, 1] (sigmoid) the softmax of K = 10 classes gives the true
    class at most 0.23, and the loss cannot fall below 1.46 against ln 10 = 2.30 at chance:
    the model cannot become confident, and the gradient keeps pushing against the bound.
    A ReLU on the logits passes no gradient to a logit below zero; a class whose logit unit
    dies can only be predicted by default. With `BCEWithLogitsLoss` a ReLU keeps every
    probability at or above 0.5: the negative class is never predicted.

    ## Example
    `nn.Sequential(..., nn.Linear(64, K), nn.ReLU())` — the `ReLU` copied after every
    `Linear`, including the last.

    ## Fix
    Remove the activation after the last layer; the loss expects raw logits.
    """
    act, kind, k = output_activation, loss.kind, max(n_classes, 2)
    name = act.name
    if kind not in ("cross_entropy", "bce_logits"):
        raise Skip(f"{loss.name} does not take raw logits")
    if model_output.ndim > 2:
        # a per-step map (a TCN's last ReLU'd block) is not yet one row of logits per sample; the head A104 asks
        # for (pooling, then a Linear) ends in raw logits, and A104 names the activation it would replace
        raise Skip(f"the output has shape {tuple(model_output.shape)}, still a sequence, not logits per sample; "
                   "A104 judges that")
    bounded = set(_RANGES) - {"softmax"} | {"clamp"}
    if kind == "bce_logits":
        bounded -= {"sigmoid", "hardsigmoid"}  # a sigmoid before BCEWithLogitsLoss is L202's
    if name not in bounded:
        return
    low, high = _RANGES.get(name, (act.stats.get("min"), act.stats.get("max")))
    extra = {"logit_range": [low, high]}
    if kind == "cross_entropy" and high is not None and low is not None:
        best, floor = _ce_floor(low, high, k)
        extra.update(best_true_class_probability=best, lowest_loss=floor, ln_k=math.log(k))
        cost = (f"the logits lie in [{low:g}, {high:g}], so the true class can get at most {best:.2f} (K = {k}) and "
                f"the loss cannot fall below {floor:.2f} (chance: ln K = {math.log(k):.2f})")
    elif kind == "cross_entropy":
        zeros = act.stats.get("fraction_exact_zero", 0.0)
        extra["fraction_exact_zero"] = zeros
        cost = (f"every logit below zero becomes exactly 0 and passes no gradient — {zeros:.0%} of the logits of the "
                "freshly initialised model — so a class whose logit unit dies cannot be pushed up again")
    else:
        p_lo = _sigmoid(low) if low is not None else 0.0
        p_hi = _sigmoid(high) if high is not None else 1.0
        extra["probability_range"] = [p_lo, p_hi]
        cost = (f"every predicted probability lies in [{p_lo:.2f}, {p_hi:.2f}]"
                + (", so the negative class is never predicted" if p_lo >= 0.5 else
                   ", so the model can never be confident"))
    yield Finding(
        message=f"The logits pass through {name} ({act.source}) before {loss.name}{_default(loss)}: {cost}.",
        evidence=_evidence(act, loss, extra),
        fix=f"Remove the {name} after the last layer ({_where(act)}): {loss.name} expects raw logits.",
        location=act.module)


@check("L204", "loss-task-mismatch", "error")
def loss_task_mismatch(loss, labels, shape_trace):
    """## What it does
    Checks that the loss fits the task the labels describe: a classification loss for
    class labels, a multi-class loss for more than two classes, a regression loss only for
    continuous targets.

    ## Why is this bad?
    `MSELoss` on class ids treats them as points on a line — class 2 is "between" 1 and 3 —
    and rewards predicting the average class; on one-hot rows it learns slowly and is not
    calibrated. `BCELoss`/`BCEWithLogitsLoss` is a binary (or multi-label) loss: with more
    than two exclusive classes it either raises on the target shape or reads the class id
    as a probability. `CrossEntropyLoss` on continuous targets makes every distinct value a
    class of its own.

    ## Example
    `criterion = nn.MSELoss()` with labels 0..9 and one output; `nn.BCEWithLogitsLoss()` kept
    from a binary tutorial on a 5-class problem; Keras `Dense(1, activation='sigmoid')` with
    `loss='binary_crossentropy'` on labels 0..9.

    ## Fix
    Use `nn.CrossEntropyLoss` with K outputs and integer class ids (or `BCEWithLogitsLoss`
    with one output for two classes); use a regression loss only for continuous targets.
    """
    k = labels.n_classes
    out = shape_trace.output_shape if shape_trace.ok and isinstance(shape_trace.output_shape, tuple) else None
    width = (1 if len(out) == 1 else out[-1]) if out and all(isinstance(s, int) for s in out) else None
    n = len(labels.train)
    evidence = {"loss": loss.name, "loss_kind": loss.kind, "loss_source": loss.source, "label_kind": labels.kind,
                "n_classes": k, "output_width": width}
    if loss.kind == "custom":
        raise Skip(f"{loss.name} is a custom loss; its task is unknown")
    continuous = labels.kind == "float" and k > max(20, n // 2)
    if loss.kind == "regression" and not continuous:
        what = "one-hot rows" if labels.kind == "one-hot" else f"class ids of {k} classes ({labels.kind} labels)"
        message = (f"{loss.name} is a regression loss, but the labels are {what}: "
                   + ("squared error on one-hot rows learns slowly and gives uncalibrated scores."
                      if labels.kind == "one-hot" else
                      "it treats the class ids as points on a line, so class 2 sits 'between' 1 and 3 and "
                      "predicting the average class is rewarded."))
        yield Finding(message=message, evidence=evidence, fix=_classification_fix(loss, k))
        return
    if loss.kind in ("bce", "bce_logits") and k > 2:
        if labels.kind == "one-hot" and width == k:
            return  # one-vs-rest over one-hot rows: a multi-label formulation that trains
        if width == k:
            return  # a K-wide head read as K binary outputs: the class ids are the wrong encoding, which is L102's
        yield Finding(
            message=(f"{loss.name} is a binary loss, but the labels have {k} classes: with class ids as targets it "
                     "reads class 2 as a 'probability' of 2 (or fails on the target shape), and it cannot express "
                     "that exactly one class is right."),
            evidence=evidence, fix=_classification_fix(loss, k))
        return
    if loss.kind in ("cross_entropy", "cross_entropy_probs", "nll") and continuous:
        evidence["n_train"] = n
        yield Finding(
            message=(f"The labels are continuous ({k} distinct non-integer values for {n} training samples) — a "
                     f"regression target — but {loss.name} treats every distinct value as a class of its own."),
            evidence=evidence, fix="Use a regression loss (nn.MSELoss or nn.HuberLoss) with one output per target.")


def _classification_fix(loss, k: int) -> str:
    if is_keras_loss(loss.fn):
        return (f"End the model with Dense({k}, activation='softmax') and compile with "
                "loss='sparse_categorical_crossentropy' (class ids) or 'categorical_crossentropy' (one-hot rows).")
    return (f"Use nn.CrossEntropyLoss with {k} outputs and integer class ids 0..{k - 1}"
            + (" (or BCEWithLogitsLoss with one output)." if k == 2 else "."))


@check("L206", "softmax-over-singleton-axis", "error")
def softmax_over_singleton_axis(softmax_axes, loss):
    """## What it does
    Records every softmax and log-softmax of one forward pass — `nn.Softmax`/`nn.LogSoftmax`
    modules and `F.softmax`/`x.softmax(dim)`/`torch.log_softmax` calls in `forward` alike — with
    the size of the axis each one normalises, and checks whether the model's outputs differ
    between samples.

    ## Why is this bad?
    A softmax over an axis of size 1 divides every value by itself: it returns exactly 1 (0 for
    log-softmax) whatever its input, and its gradient is exactly zero. At the end of the model
    the output is the same constant for every sample, no gradient reaches any weight, and
    accuracy stays at chance however long you train (T102 sees the weights never move). The
    usual causes are a binary head with one output followed by `F.softmax(x, dim=1)`, and a
    softmax over the wrong axis — one that a `unsqueeze`, a pooling to length 1 or a `(N, K, 1)`
    head made singleton. It is an error when the outputs are constant across samples; inside
    the model (attention weights over a single position) it is a warning: that branch passes
    no information.

    ## Example
    `return F.softmax(self.fc(x), dim=1)` with `self.fc = nn.Linear(64, 1)` and
    `BCEWithLogitsLoss`; `scores.softmax(dim=-1)` on attention scores of shape `(N, L, 1)`.

    ## Fix
    Normalise over the axis that holds the alternatives (the K classes, the L positions). For a
    one-output binary head return the raw logit to `BCEWithLogitsLoss` and apply `torch.sigmoid`
    only at inference; before `CrossEntropyLoss` return raw logits. In Keras, end a binary model
    with `Dense(1, activation='sigmoid')` and `binary_crossentropy`, not `Dense(1, activation='softmax')`.
    """
    hits = softmax_axes.singleton
    if not hits:
        return
    first = hits[0]
    value = 1 if first["op"] == "softmax" else 0
    where = f"in `{first['module']}`" if first["module"] and first["module"] != "(model)" else "in forward()"
    dim = f"dim={first['dim']}" if first["dim_given"] else f"the implicit dim {first['dim']}"
    constant = softmax_axes.output_constant
    tail = (f": the output is the same for every sample ({softmax_axes.output_sample[:4]}) and no gradient reaches "
            "the weights, so the model cannot learn" if constant else
            ": the tensor it produces carries no information and passes no gradient back")
    more = f" ({len(hits) - 1} more such call{'s' if len(hits) > 2 else ''})" if len(hits) > 1 else ""
    yield Finding(
        message=f"The model applies {first['op']} over an axis of size 1 ({dim} of a {tuple(first['shape'])} tensor) "
                f"{where}, so it returns exactly {value} whatever its input{more}{tail}.",
        evidence={"calls": hits[:8], "all_softmax_calls": len(softmax_axes.calls),
                  "output_constant_across_samples": constant, "output_sample": softmax_axes.output_sample,
                  "samples": softmax_axes.n_samples},
        severity=None if constant else Severity.WARNING,
        fix=("End a binary model with Dense(1, activation='sigmoid') and binary_crossentropy, or use "
             "Dense(K, activation='softmax') over the K classes." if is_keras_loss(loss.fn) else
             "Normalise over the axis that holds the alternatives (the classes or the positions); for a one-output "
             "binary head return the raw logit to BCEWithLogitsLoss (torch.sigmoid only at inference)."),
        location=first["module"] if first["module"] not in (None, "(model)") else None)
