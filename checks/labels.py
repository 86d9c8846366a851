"""Checks on the labels: their range and encoding, their balance and support, and whether they are learnable."""

from __future__ import annotations

import numpy as np

from cnndoctor.errors import Skip
from cnndoctor.findings import Finding
from cnndoctor.measure.baselines import BASELINE_NAMES
from cnndoctor.registry import check

__all__ = ["class_imbalance", "few_samples_per_class", "label_encoding_mismatch", "label_range", "unlearnable_labels"]

_REMAP = ("classes, y_train = np.unique(y_train, return_inverse=True)   # ids 0..K-1\n"
          "y_test = np.searchsorted(classes, y_test)                    # the same mapping for test\n"
          "# predictions map back with classes[pred]")
_BINARY_LOSSES = ("bce_logits", "bce")


def _values(labels) -> np.ndarray:
    both = [labels.raw_train] + ([labels.raw_test] if labels.raw_test is not None else [])
    values = np.concatenate([np.asarray(b).ravel() for b in both])
    return np.unique(values[np.isfinite(values)]) if values.dtype.kind == "f" else np.unique(values)


def _counts(labels) -> dict:
    raw = np.asarray(labels.raw_train).ravel()
    raw = raw[np.isfinite(raw)] if raw.dtype.kind == "f" else raw
    values, counts = np.unique(raw, return_counts=True)
    return {f"{v:g}" if isinstance(v, float) else str(v): int(c)
            for v, c in zip(values[:12].tolist(), counts[:12].tolist())}


def _one_hot_finding(contract):
    bad = contract.bad_one_hot_rows
    if not bad or not (bad["no_one"] or bad["several_ones"] or bad["not_binary"]):
        return None
    parts = [f"{n:,} {what}" for n, what in ((bad["no_one"], "rows with no 1 (argmax silently makes them class 0)"),
                                             (bad["several_ones"], "rows with several 1s"),
                                             (bad["not_binary"], "rows of other values that do not sum to 1"))
             if n]
    return Finding(
        message=f"The one-hot labels are not one-hot: {', '.join(parts)} of y_train {contract.shape}.",
        evidence={**bad, "shape": list(contract.shape), "expected": "exactly one 1 per row"},
        fix="Rebuild the one-hot rows from class ids (np.eye(K)[ids]) and drop samples without a label.",
        snippet="ids = y_train.argmax(axis=1)\nlabelled = y_train.sum(axis=1) == 1\n"
                "X_train, ids = X_train[labelled], ids[labelled]   # class ids 0..K-1 for CrossEntropyLoss")


@check("L101", "label-range", "error")
def label_range(labels, loss, label_contract):
    """## What it does
    Checks that class labels are the integers 0..K-1 that classification losses index
    with: not 1-based, not -1/+1, without gaps, and not fractional — and that one-hot rows
    hold exactly one 1.

    ## Why is this bad?
    `CrossEntropyLoss` and `NLLLoss` use the label as an index into the K outputs.
    With 1-based labels the last class is out of range (an "index out of bounds" or
    CUDA device-side assert), or — if the head was widened to make it run — output 0 is
    never trained and one class is silently wasted. -1/+1 or 1/2 labels are invalid targets
    for `BCEWithLogitsLoss` (targets are probabilities in [0, 1]), and gaps (labels {0, 2, 7})
    make the head wider than the number of classes. A one-hot row of zeros becomes class 0
    under `argmax`, silently.

    ## Example
    UCR archive files label classes 1..K (or -1/+1); `y = df["label"].values` keeps them.

    ## Fix
    Map the labels to 0..K-1 with `np.unique(..., return_inverse=True)` and keep the
    mapping to turn predictions back into the original labels.
    """
    if labels.kind == "one-hot":
        finding = _one_hot_finding(label_contract)
        if finding is not None:
            yield finding
        return
    if labels.kind == "string":
        return
    values = _values(labels)
    k = labels.n_classes
    width = label_contract.head_width
    if labels.kind == "float":
        frac = values[values != np.round(values)]
        yield Finding(
            message=f"Labels are not integers (e.g. {frac[0]:g}); a classification loss needs class ids 0..{k - 1}"
                    + (" — if this is regression, see L204." if loss.kind == "regression" else "."),
            evidence={"distinct_labels": len(values), "examples": values[:8].tolist(),
                      "non_integer": len(frac), "expected": f"integers 0..{k - 1}", "loss": loss.name},
            fix="Map the labels to integer class ids 0..K-1 (or use a regression loss if the target is continuous).",
            snippet=_REMAP,
        )
        return
    lo, hi = int(values.min()), int(values.max())
    if lo == 0 and hi == k - 1:
        return
    binary_loss = loss.kind in _BINARY_LOSSES
    if lo == 1 and hi == k:
        what = f"Labels run 1..{k} (1-based); classification losses expect 0..{k - 1}"
        if binary_loss:
            consequence = f": {loss.name} needs targets 0 and 1, and a target of {k} is not a probability"
        elif width is not None and width > k:
            consequence = (f": the head has {width} outputs to make label {k} fit, so output 0 is never a target "
                           "and one class is wasted")
        else:
            consequence = f": label {k} is out of range for a {k}-wide head, and output 0 is never trained"
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
                  "n_classes": k, "expected": f"0..{k - 1}", "loss": loss.name, "head_width": width,
                  "label_counts": _counts(labels)},
        fix=f"Remap the labels to 0..{k - 1} with np.unique(..., return_inverse=True) for train and test alike.",
        snippet=_REMAP,
    )


@check("L102", "label-encoding-mismatch", "error")
def label_encoding_mismatch(label_contract):
    """## What it does
    Compares how the labels are encoded — class indices `(N,)` or one-hot rows `(N, K)` — with
    what the loss in use expects, given the width of the model's output. The loss is also called
    once on the model's outputs and the labels as stored (floats as float32, integers as int64),
    and its error, if any, is shown as evidence.

    ## Why is this bad?
    `CrossEntropyLoss` takes class indices (int64) or class probabilities (float); integer
    one-hot rows fail ("Expected floating point type for target with class probabilities").
    `NLLLoss` takes indices only ("multi-target not supported"). `BCEWithLogitsLoss` wants a
    float target shaped like the output: index labels against a K-wide head fail ("Target size
    must be the same as input size"), and one-hot rows against a one-output head as well. Users
    then reshape or cast until it runs, often into a loss that trains the wrong thing.
    Keras has the same contract under two names: `categorical_crossentropy` takes one-hot rows
    and `sparse_categorical_crossentropy` class ids; swapping them stops `fit()` with "Arguments
    `target` and `output` must have the same shape" (the real Keras loss is called for the
    evidence).

    ## Example
    Keras-style `to_categorical` labels fed to `nn.NLLLoss`, integer class ids fed to
    `nn.BCEWithLogitsLoss` with a 10-output head, or `compile(loss='categorical_crossentropy')`
    with labels 0..9.

    ## Fix
    For single-label classification, use class indices 0..K-1 (`y.argmax(1)` for one-hot rows)
    with `CrossEntropyLoss` and a K-wide head; in Keras, pair class ids with
    `sparse_categorical_crossentropy` and one-hot rows with `categorical_crossentropy`.
    """
    c = label_contract
    if c.expects is not None:
        yield from _keras_label_encoding(c)
        return
    problem = None
    if c.kind == "one-hot":
        k = c.shape[1] if len(c.shape) == 2 else None
        if c.loss_kind == "nll":
            problem = f"{c.loss_name} takes class indices (N,), but the labels are one-hot rows {c.shape}"
        elif c.loss_kind == "cross_entropy" and c.dtype[0] in "iub":
            problem = (f"{c.loss_name} reads two-dimensional targets as class probabilities, which must be floats, "
                       f"but the one-hot labels are {c.dtype}")
        elif c.loss_kind in _BINARY_LOSSES and c.head_width is not None and c.head_width != k:
            problem = (f"{c.loss_name} needs a target shaped like the output, but the labels are one-hot rows of "
                       f"width {k} and the model has {c.head_width} output(s)")
    elif c.kind in ("integer", "float-integer") and c.loss_kind in _BINARY_LOSSES and (c.head_width or 1) > 1:
        problem = (f"{c.loss_name} needs a float target shaped like the output (N, {c.head_width}), but the labels are "
                   f"class indices {c.shape}")
    if problem is None:
        return
    yield _encoding_finding(c, problem,
                            fix="Use class indices 0..K-1 (int64) with CrossEntropyLoss and a K-wide head (for one-hot "
                                "rows: y.argmax(1)); keep BCEWithLogitsLoss for one output per sample or for "
                                "multi-label targets.",
                            snippet=("y_train = y_train.argmax(axis=1) if y_train.ndim == 2 else y_train"
                                     "   # class indices\n"
                                     "criterion = nn.CrossEntropyLoss()\n"
                                     "loss = criterion(model(xb), torch.as_tensor(yb, dtype=torch.long))"))


def _keras_label_encoding(c):
    """Keras's contracts: categorical_crossentropy takes one-hot rows, sparse_… takes class ids."""
    index_labels = c.kind in ("integer", "float-integer")
    width = c.head_width
    if c.expects == "one-hot" and index_labels and (width or 0) > 1:
        problem = (f"{c.loss_name} expects one-hot rows (N, {width}), but the labels are class indices {c.shape}")
        fix = ("Compile with loss='sparse_categorical_crossentropy' (it takes class ids), or one-hot encode the "
               "labels with keras.utils.to_categorical(y, num_classes).")
        snippet = "model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])"
    elif c.expects == "indices" and c.kind == "one-hot":
        problem = (f"{c.loss_name} expects class indices (N,), but the labels are one-hot rows {c.shape}")
        fix = "Compile with loss='categorical_crossentropy' for one-hot rows, or pass y.argmax(axis=1)."
        snippet = "model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])"
    elif c.expects == "binary" and index_labels and (width or 1) > 1:
        problem = (f"{c.loss_name} needs a target shaped like the output (N, {width}), but the labels are class "
                   f"indices {c.shape}")
        fix = ("For one label out of K, compile with loss='sparse_categorical_crossentropy' and end the model with "
               "Dense(K, activation='softmax').")
        snippet = "model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])"
    elif c.expects == "binary" and c.kind == "one-hot" and width is not None and width != c.shape[1]:
        problem = (f"{c.loss_name} needs a target shaped like the output, but the labels are one-hot rows of width "
                   f"{c.shape[1]} and the model has {width} output(s)")
        fix = "Compile with loss='categorical_crossentropy' and end the model with Dense(K, activation='softmax')."
        snippet = "model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])"
    else:
        return
    yield _encoding_finding(c, problem, fix=fix, snippet=snippet, trial_what="the Keras loss")


def _encoding_finding(c, problem: str, *, fix: str, snippet: str, trial_what: str = "the loss") -> Finding:
    trial = (f" Called on the model's outputs and the labels as stored, {trial_what} raises {c.trial_error}."
             if c.trial_error else "")
    return Finding(
        message=f"The labels do not match the loss: {problem}.{trial}",
        evidence={"label_kind": c.kind, "label_dtype": c.dtype, "label_shape": list(c.shape), "loss": c.loss_name,
                  "loss_kind": c.loss_kind, "head_width": c.head_width, "trial_error": c.trial_error,
                  "trial_ran": c.trial_ran, "loss_expects": c.expects},
        fix=fix, snippet=snippet)


@check("L103", "class-imbalance", "warning")
def class_imbalance(label_distribution, *, min_gap: float = 0.25):
    """## What it does
    Measures how much accuracy a model gets by always predicting the most frequent training
    class (the majority rate, on both splits), against chance (1/K), and reports the ratio of
    the largest to the smallest class. It fires when the majority rate exceeds chance by 0.25 or
    more (for two classes: 75% or more in one class; for ten: 35%). A single tiny class in an
    otherwise balanced set is L104's.

    ## Why is this bad?
    Accuracy rewards the majority: with 90% of samples in one class, a model that learned
    nothing reports 90% accuracy, and a network that collapses to the majority class looks
    healthy. Small classes also contribute little to the loss, so they are learned last, if at
    all.

    ## Example
    Fault detection with 95% healthy windows; a sleep-stage set where one stage is 40% of epochs
    and another 2%.

    ## Fix
    Weight the loss by inverse class frequency or sample batches balanced by class, and report
    balanced accuracy (or per-class recall) instead of accuracy.
    """
    dist = label_distribution
    counts = dist.train_counts[dist.train_counts > 0]
    k = len(counts)
    if k < 2:
        raise Skip("the training split has a single class")
    major = int(np.argmax(dist.train_counts))
    rate = float(dist.train_counts[major] / dist.train_counts.sum())
    test_rate = (float(dist.test_counts[major] / dist.test_counts.sum())
                 if dist.test_counts is not None and dist.test_counts.sum() else None)
    ratio = float(counts.max() / counts.min())
    gap = dist.imbalance_gap
    if gap < min_gap:
        return
    minor = int(np.flatnonzero(dist.train_counts == counts.min())[0])
    where = f"{test_rate:.0%} on the {dist.held_out.split}" if test_rate is not None else f"{rate:.0%}"
    yield Finding(
        message=f"The classes are imbalanced: always predicting class {dist.name(dist.ids[major])} already scores "
                f"{where} ({rate:.0%} of training samples; chance for {k} classes is {1 / k:.0%}), and the largest "
                f"class is {ratio:,.0f}× the smallest (class {dist.name(dist.ids[minor])}, "
                f"{int(counts.min())} samples). An accuracy near {max(rate, test_rate or 0):.0%} can hide a model "
                "that learned nothing.",
        evidence={"majority_class": dist.name(dist.ids[major]), "majority_rate_train": rate,
                  "majority_rate_test": test_rate, "chance": 1.0 / k, "gap_over_chance": gap,
                  "largest_to_smallest": ratio, "min_gap": min_gap,
                  "train_counts": {dist.name(c): int(n) for c, n in zip(dist.ids[:20], dist.train_counts[:20])}},
        fix="Weight the loss by inverse class frequency (or sample balanced batches) and judge the model by "
            "balanced accuracy, not accuracy.",
        snippet=("counts = np.bincount(y_train)\n"
                 "weight = torch.tensor(len(y_train) / (len(counts) * counts), dtype=torch.float32)\n"
                 "criterion = nn.CrossEntropyLoss(weight=weight)\n"
                 "# report: sklearn.metrics.balanced_accuracy_score(y_test, predictions)"))


@check("L104", "few-samples-per-class", "warning")
def few_samples_per_class(class_support, *, min_per_class: int = 5, small_class: int = 20,
                          params_per_sample: float = 1000.0):
    """## What it does
    Counts the training samples of each class and compares the smallest count with the size of
    the model (its trainable parameters per training sample). It fires when a class has fewer
    than 5 training samples, or fewer than 20 while the model has more than 1,000 parameters per
    training sample.

    ## Why is this bad?
    A class seen a handful of times cannot be learned in any general way: the network memorises
    those few samples (easily, when it has thousands of parameters per sample) and predicts the
    class almost never on new data. Published CNN results on the smallest UCR sets (10-12
    samples per class) rely on small, heavily regularised models; a large model with fewer
    samples per class overfits them.

    ## Example
    A fault class with 3 recorded examples among 2,000 windows, trained with a 500k-parameter
    ResNet.

    ## Fix
    Collect more samples of the small classes, merge them with related ones, augment them, or
    use a much smaller model.
    """
    s = class_support
    if not len(s.counts):
        raise Skip("the training split holds no labelled samples")
    smallest = int(s.counts.min())
    per_sample = s.n_parameters / max(1, s.n_train)
    too_few = smallest < min_per_class
    oversized = smallest < small_class and per_sample > params_per_sample
    if not (too_few or oversized):
        return
    small = [(str(n), int(c)) for n, c in zip(s.names, s.counts) if c < (min_per_class if too_few else small_class)]
    listed = ", ".join(f"class {n} has {c}" for n, c in small[:8])
    listed += f", and {len(small) - 8} more" if len(small) > 8 else ""
    size = (f" The model has {s.n_parameters:,} trainable parameters, {per_sample:,.0f} per training sample, so it "
            "can memorise them instead of learning the class." if oversized or per_sample > params_per_sample else "")
    yield Finding(
        message=f"Some classes have too few training samples to be learned: {listed} "
                f"(at least {min_per_class if too_few else small_class} wanted).{size}",
        evidence={"smallest_class_count": smallest, "classes_below": dict(small[:20]),
                  "n_parameters": s.n_parameters, "parameters_per_training_sample": per_sample,
                  "n_train": s.n_train, "min_per_class": min_per_class, "small_class": small_class,
                  "params_per_sample": params_per_sample},
        fix="Collect more samples of the small classes (or merge them), augment them, or use a smaller model.",
    )


@check("L105", "unlearnable-labels", "warning")
def unlearnable_labels(learnability, *, z: float = 3.0):
    """## What it does
    Trains cheap baselines on the training split and scores them on the test split (at most a
    few thousand samples, a few seconds): 1-nearest-neighbour on z-normalised, downsampled
    series; logistic regression on summary and spectral features; random convolution kernels
    with a ridge classifier. It fires when the best of them is not above what a model that
    learned nothing scores — the larger of chance and the majority-class rate — by at least
    `z` = 3 standard errors of an accuracy on that many test samples, and (when the training
    probes ran) the model's own held-out accuracy is not either. On classes imbalanced as L103
    judges them (majority rate at least its `min_gap` above 1/K), accuracy cannot beat the
    majority rate by 3 standard errors even when a baseline is right on every sample, so there
    the judge is balanced accuracy (mean per-class recall) against 1/K, with the standard error
    of a random guesser's balanced accuracy on the test split's class counts. When that bar is
    above 1 (too few test samples of the small classes) the check is skipped: no score could
    pass it. When `preprocess` changes the arrays, the baselines are re-run on the stored arrays
    to tell "labels unrelated to the data" from "preprocess destroys the signal". The best
    baseline's accuracy is also the report's reference: "a simple baseline reaches 91% on this data".

    ## Why is this bad?
    If nothing can predict the labels from the inputs, no architecture or learning rate will:
    the usual cause is labels misaligned with the samples — `X` and `y` shuffled separately,
    files sorted differently, labels taken from another column — or inputs that lost their
    information on the way.

    ## Example
    `np.random.shuffle(X); np.random.shuffle(y)` — two different permutations.

    ## Fix
    Shuffle X and y with one permutation, check that labels come from the same rows as the
    samples (plot a few samples per class), and check what `preprocess` returns.
    """
    r = learnability
    threshold = r.trivial + z * r.standard_error
    if threshold >= 1.0:  # not even a baseline right on every test sample could pass: the test has no power
        raise Skip(f"too few test samples to judge: a baseline must score above {threshold:.2f} {r.metric} "
                   f"({z:g} standard errors above {r.trivial:.2f}), which no score can")
    if r.beats(r.score, z) or r.beats(r.probe_score, z):
        return
    balanced = r.metric == "balanced accuracy"
    evidence = {"metric": r.metric, "best_baseline": r.best, "best_score": r.score, "best_accuracy": r.accuracy,
                "baselines": r.baselines, "balanced_baselines": r.balanced_baselines,
                "chance": r.chance, "majority_class_rate": r.majority, "trivial_score": r.trivial,
                "standard_error": r.standard_error, "threshold": threshold, "z": z, "n_test": r.n_test,
                "probe_held_out_score": r.probe_score, "probe_held_out_accuracy": r.probe_accuracy,
                "probe_train_accuracy": r.probe_train_accuracy, "imbalance_gap": r.imbalance_gap}
    probe = (f"; the model's own training probe reaches {r.probe_score:.0%} {r.metric} on held-out data"
             if r.probe_score is not None else "")
    stored = r.stored_reference
    if stored is not None and stored["accuracy"] is not None and stored["accuracy"] > threshold:
        evidence["stored_arrays_best"] = {"baseline": stored["best"], r.metric: stored["accuracy"]}
        yield Finding(
            message=f"The inputs the model sees carry no information about the labels, but the stored arrays do: "
                    f"the best baseline scores {r.score:.0%} {r.metric} after preprocess() and "
                    f"{stored['accuracy']:.0%} on the stored arrays (a model that learned nothing scores "
                    f"{r.trivial:.0%}){probe}. preprocess() destroys the signal.",
            evidence=evidence,
            fix="Check what preprocess() returns (plot a few samples before and after) and fix the step that "
                "removes the signal.")
        return
    trivial = (f"where a model that learned nothing has a balanced accuracy of {r.chance:.0%} whatever the class "
               f"balance (always predicting the majority class gets {r.majority:.0%} accuracy)" if balanced else
               f"where always predicting the majority class scores {r.majority:.0%} and chance is {r.chance:.0%}")
    yield Finding(
        message=f"No cheap baseline finds any link between the inputs and the labels: the best "
                f"({BASELINE_NAMES.get(r.best, r.best)}) scores {r.score:.0%}{' ' + r.metric if balanced else ''} "
                f"on {r.n_test:,} test samples, {trivial}{probe}. The labels are probably misaligned with the "
                "samples (X and y shuffled or sorted separately), or the inputs do not carry the label.",
        evidence=evidence,
        fix="Shuffle X and y with one permutation, check that each label belongs to its sample, and check what "
            "the inputs contain.",
        snippet=("perm = np.random.permutation(len(X))\n"
                 "X, y = X[perm], y[perm]          # one permutation for both arrays\n"
                 "# never: np.random.shuffle(X); np.random.shuffle(y)"))
