"""Capacity checks: A201 receptive field vs where the class information lives, A202 stacked linear layers,
A203 BatchNorm with tiny batches, A204 heavy dropout, A205 parameters vs training samples, A207 BatchNorm
on the one-sample last batch of an epoch."""

from __future__ import annotations

from cnndoctor.errors import Skip
from cnndoctor.findings import Finding, Severity, pct
from cnndoctor.registry import check

__all__ = [
    "batchnorm_batch_of_one",
    "batchnorm_small_batch",
    "heavy_dropout",
    "missing_nonlinearity",
    "parameter_budget",
    "small_receptive_field",
]

_BN = ("BatchNorm1d", "LazyBatchNorm1d", "SyncBatchNorm", "BatchNorm2d")


def _dilated_stack(current: int, target: int) -> list[int]:
    """Dilations of kernel-3 convs (1, 2, 4, …) that take the receptive field from ``current`` to ``target``."""
    dilations, rf = [], current
    while rf < target and len(dilations) < 12:
        d = 2 ** len(dilations)
        dilations.append(d)
        rf += 2 * d
    return dilations


@check("A201", "small-receptive-field", "warning")
def small_receptive_field(receptive_field, receptive_field_baselines, *, z: float = 2.0, min_share: float = 0.5):
    """## What it does
    Computes the receptive field at the head — the number of input samples one unit of the
    last temporal feature map sees — exactly for conv/pool chains (kernel, stride, dilation,
    along the time axis also for `Conv2d` over an `(N, 1, C, T)` view) and from the input
    gradient for any other model. Then it asks where the class information lives. A cheap
    baseline with the model's invariance — 192 random kernels no longer than the receptive
    field slid over the series, their responses pooled over time (proportions above
    thresholds, mean, maximum), a ridge classifier — is scored against the same baseline
    whose 192 kernels may span up to the whole series, on the same test samples. Both get the
    same number of features, so the wider one wins only by what it sees.

    The scale is balanced accuracy (mean per-class recall, chance `1/K` whatever the class
    balance). The check takes the share of the whole-series baseline's accuracy above chance
    that the windows lose, `(whole − local) / (whole − 1/K)`, and fires when it is at least
    `min_share` (one half) and the shortfall exceeds `z` standard errors of the paired
    difference. The baseline is one layer of random kernels; a trained multi-layer net draws
    more from the same window, so a smaller loss is within what training can make up. When
    the windows lose more than half, most of what separates the classes lies in patterns
    longer than anything the model sees. The windows 2×, 4×, … the receptive field say at
    which scale the accuracy recovers: the first whose shortfall is within `z` standard
    errors. Heads that flatten the feature map, or feed it to a recurrent or attention
    layer, are not judged: they see positions, not a bag of windows.

    The baselines use at most 512 series per split. With more than 256, they are first
    scored on 256 per split; when the verdict would be the same with the shortfall anywhere
    within 3 standard errors of the one measured, that look is the result (the evidence
    gives its sample size). Otherwise the ladder is scored again on all 512.

    ## Why is this bad?
    With global pooling the head sees a bag of local features, each computed from one
    receptive field, and cannot tell where in the series a window sat. When the classes
    differ in a shape longer than that window, no filter can match it: the model is left
    with local levels and slopes and plateaus below what the data allows, however long it
    trains. How fast the signal decorrelates does not tell this; only a classifier limited to
    the same windows does.

    ## Example
    A bank of 5-tap filters, 1×1 convolutions and the mean over time on ArrowHead (251-step
    outlines, 3 classes): pooled 5-sample windows reach 57 % balanced accuracy, windows over
    the whole series 86 % — the windows lose 55 % of what the baseline learns above chance —
    and the accuracy recovers at 40-sample windows. An FCN in the style of Wang et al.
    (kernels 7, 5, 3: receptive field 13) on the same data loses 39 % and passes.

    ## Fix
    Grow the receptive field to the scale at which the accuracy recovers: more conv layers,
    larger kernels, dilations 1, 2, 4, … or pooling between convolutions.
    """
    rf, lb = receptive_field, receptive_field_baselines
    local, whole = lb.local, lb.whole
    # (a receptive field covering the series, or a whole-series baseline at chance, never fires: L105 judges data
    # whose labels no baseline finds)
    if not lb.fires(z=z, min_share=min_share):
        return
    share = lb.share_lost(local)
    gap, se = lb.shortfall(local)
    recovery = lb.recovery_span(z)  # the first wider window whose shortfall is within the noise: where it is
    length = rf.input_length
    dilations = _dilated_stack(rf.size, recovery)
    how = "computed from the kernels, strides and dilations" if rf.method == "analytic" else \
        "measured from the input gradient"
    evidence = {"receptive_field": rf.size, "receptive_field_fraction": rf.fraction, "input_length": length,
                "local_balanced_accuracy": local.balanced_accuracy,
                "whole_series_balanced_accuracy": whole.balanced_accuracy, "chance": lb.chance,
                "local_accuracy": local.accuracy, "whole_series_accuracy": whole.accuracy,
                "share_lost": share, "gap": gap, "gap_standard_error": se,
                "recovery_span": recovery, "recovery_fraction": recovery / length,
                "ladder": [{"span": s.span, "balanced_accuracy": s.balanced_accuracy, "accuracy": s.accuracy}
                           for s in lb.ladder],
                "features_per_span": local.n_features, "n_train": lb.n_train, "n_test": lb.n_test,
                "bin_width": lb.bin_width, "method": rf.method, "feature_map": rf.layer, "head": rf.head,
                "z": z, "min_share": min_share}
    if rf.stack:
        evidence["stack"] = rf.stack
    yield Finding(
        message=(f"The receptive field at the head is {rf.size} samples ({pct(rf.fraction, small=True)} of the "
                 f"{length}-step series, {how}), too short for where the class information lives: a baseline "
                 f"limited to pooled {local.span}-sample windows reaches {local.balanced_accuracy:.0%} balanced "
                 f"accuracy on the test sample, the same baseline over the whole series "
                 f"{whole.balanced_accuracy:.0%} (chance {lb.chance:.0%}; {gap:+.0%} ± {se:.0%} on {lb.n_test} "
                 f"test samples). The windows lose {share:.0%} of what is learnable above chance, and the accuracy "
                 f"recovers at {recovery}-sample windows ({pct(recovery / length, small=True)} of the series). "
                 f"Each unit of `{rf.layer}` sees too short a stretch before the global pooling averages them, so "
                 "no filter can match the shape that separates the classes."),
        evidence=evidence,
        fix=(f"Grow the receptive field to at least {recovery} samples before the global pooling: e.g. "
             f"{len(dilations)} more Conv1d layers with kernel 3 and dilation {', '.join(map(str, dilations))} "
             "(padding = dilation keeps the length), larger kernels, or pooling between convolutions."),
        snippet="\n".join(f"nn.Conv1d(C, C, kernel_size=3, dilation={d}, padding={d}), nn.ReLU()," for d in dilations),
        location=rf.layer)


def _pair_text(p) -> str:
    text = f"`{p.first}` feeds `{p.second}`" + (f" through {', '.join(dict.fromkeys(p.between))}" if p.between else "")
    if p.composed_params is not None:
        text += f" ({p.params:,} parameters for a map of {p.composed_params:,})"
    return text


@check("A202", "missing-nonlinearity", "warning")
def missing_nonlinearity(linear_pairs, *, max_params_ratio: float = 1.0):
    """## What it does
    Follows every tensor through the forward pass — modules and the functional calls in
    `forward` alike — and finds a Linear/Conv layer whose input came from another Linear/Conv
    layer through nothing but linear operations (reshapes, additions, batch norm, average
    pooling, dropout). Such a pair is one linear map: the check counts the pair's parameters
    and those of the single map it composes to (a conv from the first layer's input channels
    to the second one's output channels, its kernel spanning both kernels, connected where the
    channel groups connect), and reports the pair only when it has at least as many
    (`max_params_ratio` = 1 times) — two layers that cost what one would. A pair with fewer
    parameters is a deliberate factorisation and is not reported: a depthwise conv and its
    pointwise conv, an EEGNet temporal conv and its depthwise spatial conv with only
    BatchNorm between, a 1×1 bottleneck that narrows the channels before a wider conv. A pair
    that cannot be sized (functional convolutions, lazy layers) is reported as before.

    ## Why is this bad?
    Two linear maps in a row are one linear map: when they hold as many parameters as that
    one map, the second layer adds parameters and compute but no expressive power, and a
    network whose activations were all forgotten is a linear model however deep it looks.

    ## Example
    `nn.Sequential(nn.Conv1d(1, 16, 7), nn.Conv1d(16, 16, 5))`: 1,424 parameters for what one
    `nn.Conv1d(1, 16, 11)` (192) computes; or `fc2(dropout(fc1(x)))` without a `ReLU`.

    ## Fix
    Put an activation (`nn.ReLU()`, `nn.GELU()`) after each conv or linear layer that feeds
    another one.
    """
    pairs = [p for p in linear_pairs
             if p.composed_params is None or p.params is None or p.params >= max_params_ratio * p.composed_params]
    if not pairs:
        return
    described = "; ".join(_pair_text(p) for p in pairs[:4])
    more = f" (and {len(pairs) - 4} more pairs)" if len(pairs) > 4 else ""
    yield Finding(
        message=(f"{len(pairs)} pair{'s' if len(pairs) != 1 else ''} of linear layers with no nonlinearity between "
                 f"them: {described}{more}. Two linear maps in a row collapse into one, so the second adds parameters "
                 "but no expressive power."),
        evidence={"pairs": [p.to_dict() for p in pairs], "count": len(pairs),
                  "factorised_pairs": [p.to_dict() for p in linear_pairs if p not in pairs],
                  "max_params_ratio": max_params_ratio},
        fix="Add an activation (e.g. nn.ReLU()) after " + ", ".join(f"`{p.first}`" for p in pairs[:4]) + ".",
        location=pairs[0].second)


@check("A203", "batchnorm-small-batch", "warning")
def batchnorm_small_batch(shape_trace, subject, data, *, min_batch: int = 8):
    """## What it does
    Finds BatchNorm layers and compares the training batch size with `min_batch` (8). It
    also checks the last, partial batch of each epoch: a BatchNorm on a `(B, C)` tensor
    (after pooling or flattening) cannot train on a batch of one sample.

    ## Why is this bad?
    BatchNorm normalises with the mean and variance of the current batch. Neighbouring time
    steps are strongly correlated, so the statistics rest on roughly one value per sample:
    with fewer than 8 samples they jump from batch to batch, the running averages used at
    evaluation differ from what training saw, and accuracy in eval mode collapses (Wu & He,
    Group Normalization, 2018, report BatchNorm's error rising steeply below 8 samples per
    batch). With one sample and a `(B, C)` input, `BatchNorm1d` raises "Expected more than 1
    value per channel when training".

    ## Example
    `batch_size=2` with `nn.BatchNorm1d` after every conv; or 50 training samples in
    batches of 7 — the last batch holds 1 sample — and `nn.BatchNorm1d(64)` after the
    global pooling.

    ## Fix
    Train with batches of at least 8, or replace BatchNorm with `nn.GroupNorm` /
    `nn.LayerNorm`, which do not depend on the batch; use `drop_last=True` against a
    one-sample last batch.
    """
    bns = {}
    for call in shape_trace.calls:
        if call.is_leaf and call.type in _BN and call.name not in bns:
            bns[call.name] = call
    if not bns:
        return
    batch = int(subject.batch_size)
    n_train = data.n_train_rows  # the whole split, also when only a sample of big data is held
    last = n_train % batch or batch
    flat = [c.name for c in bns.values() if isinstance(c.input_shape, tuple) and len(c.input_shape) == 2]
    small = batch < min_batch
    single = last == 1 and flat
    if not (small or single):
        return
    per_channel = {name: batch * (c.input_shape[-1] if isinstance(c.input_shape, tuple) and len(c.input_shape) == 3
                                  else 1) for name, c in list(bns.items())[:8]}
    evidence = {"batch_size": batch, "min_batch": min_batch, "batchnorm_layers": list(bns),
                "values_per_channel_per_batch": per_channel, "n_train": n_train, "last_batch": last}
    parts = []
    if small:
        parts.append(f"BatchNorm is trained with batches of {batch} (below {min_batch}): each of its {len(bns)} layer"
                     f"{'s' if len(bns) != 1 else ''} normalises with the statistics of only {batch} samples, so they "
                     "jump from batch to batch and the running statistics used at evaluation differ from training")
    if single:
        parts.append(f"the last batch of each epoch holds 1 sample ({n_train} = {n_train // batch} × {batch} + 1) and "
                     f"{', '.join(f'`{n}`' for n in flat)} normalise{'s' if len(flat) == 1 else ''} a (B, C) tensor: "
                     "BatchNorm1d raises 'Expected more than 1 value per channel when training' on it")
    fix = []
    if small:
        fix.append(f"Train with batches of at least {min_batch} (e.g. batch_size=32), or replace BatchNorm1d with "
                   "nn.GroupNorm(1, C) / nn.LayerNorm, which do not depend on the batch")
    if single:
        fix.append("pass drop_last=True to the training DataLoader (or pick a batch size that does not leave 1 sample)")
    message = "; ".join(parts) + "."
    yield Finding(message=message[0].upper() + message[1:], evidence=evidence, fix="; ".join(fix) + ".",
                  location=next(iter(bns)))


@check("A204", "heavy-dropout", "info")
def heavy_dropout(shape_trace, *, max_rate: float = 0.5, max_conv_rate: float = 0.3, max_input_rate: float = 0.2):
    """## What it does
    Lists every dropout call of the forward pass (modules and `F.dropout` in `forward`) with
    its rate, and reports rates above `max_rate` (0.5) on dense features, above
    `max_conv_rate` (0.3) on convolutional feature maps, above `max_input_rate` (0.2) on the
    raw input, and functional dropout that stays on in evaluation mode.

    ## Why is this bad?
    Srivastava et al. (2014) found 0.5 a good upper rate for hidden dense units and 0.2 for
    inputs; beyond that the gradient of each step is mostly noise and a small data set's
    model underfits. Neighbouring time steps of a conv feature map are strongly
    correlated, so dropping half of them removes information without regularising much
    more: rates of 0.1–0.3 are usual there. `F.dropout(x, p)` without
    `training=self.training` also drops units at evaluation: predictions become random.

    ## Example
    `nn.Dropout(0.5)` after every conv block; `F.dropout(x, 0.5)` in `forward`.

    ## Fix
    Use rates of 0.1–0.3 after convolutions and at most 0.5 before the head; pass
    `training=self.training` to functional dropout (or use `nn.Dropout`).
    """
    drops = shape_trace.dropouts
    if not drops:
        return

    def limit(d):
        if d.get("on_input"):
            return max_input_rate
        return max_conv_rate if (d.get("ndim") or 0) >= 3 else max_rate

    def where(d):
        if d.get("on_input"):
            return "the raw input"
        return "a conv feature map" if (d.get("ndim") or 0) >= 3 else "dense features"

    heavy = [d for d in drops if d["p"] > limit(d) + 1e-9]
    always_on = [d for d in drops if d["training"] and d["p"] > 0]
    problems = []
    if heavy:
        problems.append("; ".join(f"{d['p']:g} in `{d['module']}` on {where(d)} (above {limit(d):g})"
                                  for d in heavy[:4]) + (f"; … {len(heavy) - 4} more" if len(heavy) > 4 else ""))
    if always_on:
        problems.append("functional dropout in " + ", ".join(f"`{d['module']}`" for d in always_on[:3]) +
                        " stays on in evaluation mode (training=True)")
    if not problems:
        return
    yield Finding(
        message="Dropout starves learning: " + "; ".join(problems) + ".",
        evidence={"dropouts": [{"module": d["module"], "p": d["p"], "on_input": bool(d.get("on_input")),
                                "input_dims": d.get("ndim"), "active_in_eval": d["training"]} for d in drops],
                  "max_rate": max_rate, "max_conv_rate": max_conv_rate, "max_input_rate": max_input_rate},
        fix=("Lower the rates to 0.1–0.3 after convolutions and at most 0.5 before the head"
             + ("; pass training=self.training to F.dropout (or use nn.Dropout)" if always_on else "") + "."),
        severity=Severity.WARNING if always_on else None,
        location=(heavy or always_on)[0]["module"])


@check("A205", "parameter-budget", "info")
def parameter_budget(model_size, data, shape_trace, *, max_params_per_sample: float = 100_000):
    """## What it does
    Counts the trainable parameters of every module that runs in the forward pass and
    divides by the number of training samples.

    ## Why is this bad?
    Deep networks are routinely larger than their training sets, but not without limit:
    the reference 1D CNNs for time series — FCN (≈0.26 M parameters), ResNet (≈0.5 M),
    InceptionTime (≈0.4 M) — generalise on UCR sets with as few as 16–50 training series,
    i.e. up to ~30 k parameters per sample. `max_params_per_sample` (100 k) is three times
    that. Past it the usual culprit is a dense layer on a flattened feature map, which
    memorises positions rather than learning patterns.

    ## Example
    `nn.Linear(128 * 150, 1024)` after flattening a 128-channel feature map of 150 steps:
    19.7 M weights for 50 training series.

    ## Fix
    Replace the flattened dense head with global average pooling (`nn.AdaptiveAvgPool1d(1)`)
    and a small `Linear`, use fewer channels, or gather more data.
    """
    if not shape_trace.ok:
        raise Skip("the forward pass fails, so not every layer's parameters are known (A101)")
    n = data.n_train_rows
    total = model_size.trainable
    per = total / max(n, 1)
    if per <= max_params_per_sample:
        return
    top = model_size.largest[0] if model_size.largest else None
    where = (f"; {top['share']:.0%} of them sit in `{top['layer']}` ({top['type']}, {top['params']:,})"
             if top else "")
    if top and top["type"] in ("Linear", "LazyLinear") and top["share"] > 0.5:
        fix = (f"Shrink `{top['layer']}`: put nn.AdaptiveAvgPool1d(1) before the flatten so the head reads one "
               "value per channel instead of every position, then a small Linear.")
    else:
        fix = "Use fewer or narrower layers, or gather more training data (augmentation helps)."
    yield Finding(
        message=(f"The model has {total:,} trainable parameters for {n} training samples: {per:,.0f} per sample, "
                 f"above the {max_params_per_sample:,.0f} the reference 1D CNNs stay well within{where}."),
        evidence={"trainable_parameters": total, "n_train": n, "parameters_per_sample": per,
                  "max_params_per_sample": max_params_per_sample, "largest_layers": model_size.largest,
                  "followed_by": _next_layers(shape_trace, top["layer"]) if top else []},
        fix=fix, location=top["layer"] if top else None)


def _next_layers(shape_trace, name: str, n: int = 2) -> list[str]:
    """The leaf layers that run right after ``name`` (its activation, typically)."""
    leaves = [c.name for c in shape_trace.calls if c.is_leaf]
    if name not in leaves:
        return []
    i = leaves.index(name)
    return leaves[i + 1:i + 1 + n]


def _batch_without_one(n: int, batch: int) -> int | None:
    """The batch size nearest ``batch`` (trying smaller first) whose last batch of ``n`` is not a single sample."""
    for step in range(1, batch):
        for b in (batch - step, batch + step):
            if 1 < b < n and n % b != 1:
                return b
    return None


@check("A207", "batchnorm-batch-of-one", "error")
def batchnorm_batch_of_one(batch_of_one):
    """## What it does
    Works out the last batch of each epoch of your training loop (training samples modulo the
    batch size, unless the loop drops it: `drop_last` of the DataLoader you pass, or a
    `drop_last = True` in model.py) and, when it holds a single sample and the model has
    BatchNorm layers, runs a fresh copy of the model in train mode on one sample to see whether
    a BatchNorm raises.

    ## Why is this bad?
    In train mode BatchNorm normalises with the batch's own statistics, and one value per channel
    has no variance: `BatchNorm1d` on `(1, C)` — after global pooling or a flatten — or on
    `(1, C, 1)` raises "Expected more than 1 value per channel when training", so your loop
    crashes at the last batch of the first epoch, and of every epoch if you catch it. Inside the
    conv blocks BatchNorm sees `(1, C, L)` and trains on one sample (badly, but without error),
    so the check only fires where the forward pass really fails. cnndoctor's own probes merge a
    one-sample last batch into the previous one and never see it; A203 warns about small batches
    from the architecture alone.

    ## Example
    161 training windows in batches of 32 (161 = 5 × 32 + 1) and `nn.BatchNorm1d(64)` after
    `nn.AdaptiveAvgPool1d(1)` and `nn.Flatten()`.

    ## Fix
    Pass `drop_last=True` to the training DataLoader, or choose a batch size that does not leave
    a single sample.
    """
    b = batch_of_one
    if not b.batchnorm or b.drop_last or b.last_batch != 1 or not b.ran or b.error is None:
        return
    n, bs = b.n_train, b.batch_size
    where = (f"at the last batch of every epoch (N={n}, batch_size={bs} → last batch has 1 sample)")
    layer = f"{b.module_type} `{b.module}`" if b.module else "a batch_norm call in forward()"
    shape = f" (its input is {b.input_shape})" if b.input_shape else ""
    other = _batch_without_one(n, bs)
    yield Finding(
        message=f"{layer[0].upper() + layer[1:]} cannot normalise a batch of one sample in train mode{shape}: "
                f"training crashes {where}, with {b.error}.",
        evidence={"n_train": n, "batch_size": bs, "last_batch": b.last_batch, "drop_last": b.drop_last,
                  "batchnorm_layers": list(b.batchnorm), "failing_layer": b.module, "failing_input_shape":
                  list(b.input_shape) if b.input_shape else None, "error": b.error, "crashes_at": where,
                  "batch_size_without_single_last": other},
        fix="Pass drop_last=True to the training DataLoader" + (
            f", or use batch_size={other} ({n} = {n // other} × {other}" + (f" + {n % other}" if n % other else "")
            + ")" if other else "") + ".",
        snippet=f"train_loader = DataLoader(train_set, batch_size={bs}, shuffle=True, drop_last=True)",
        location=b.module)
