"""Checks on the values the model is fed: non-finite values, scale, constant inputs, split shift."""

from __future__ import annotations

import numpy as np

from cnndoctor.errors import Skip
from cnndoctor.findings import Finding, Severity
from cnndoctor.registry import check

__all__ = ["channel_scale_mismatch", "constant_input", "non_finite_values", "per_recording_snippet",
           "recording_scale_mismatch", "standardise_snippet", "train_test_shift", "unscaled_input"]

_SHOWN_CHANNELS = 8


def _axes(channel_axis: int | None) -> str:
    """The axes to average over for one statistic per channel."""
    return "(0, 2)" if channel_axis == 1 else "(0, 1)"


def standardise_snippet(channel_axis: int | None) -> str:
    """Per-channel standardisation fitted on the training split only and applied to every split, written as a
    ``fit_preprocess`` (load/preprocess.py): it names no split, so it pastes into model.py or a pipeline alike."""
    axes = _axes(channel_axis)
    per = "per channel" if channel_axis is not None else "one channel"
    return ("def fit_preprocess(X_train):  # learns from the training split only\n"
            f"    mean = X_train.mean(axis={axes}, keepdims=True)  # {per}\n"
            f"    std = X_train.std(axis={axes}, keepdims=True) + 1e-8\n"
            "    return lambda X: (X - mean) / std  # for every split")


# where standardise_snippet goes (D102, D103, D105): the issue users met was numpy code with no place to put it
_WHERE_FIT_PREPROCESS_GOES = (
    "Put the fit_preprocess below in model.py (or pass fit_preprocess= to diagnose()): cnndoctor fits it on the "
    "training split and applies it to every split. In your own pipeline, call it before training — "
    "scale = fit_preprocess(X_train) — and apply scale to every split.")


def _fmt(x: float) -> str:
    return f"{x:,.4g}" if abs(x) < 1e5 else f"{x:,.3e}"


def _channel_table(scale, channels) -> dict:
    return {f"ch{c}": {"mean": float(scale.mean[c]), "std": float(scale.std[c]), "min": float(scale.min[c]),
                       "max": float(scale.max[c])} for c in channels}


@check("D101", "non-finite-values", "error")
def non_finite_values(input_stats, raw_stats, labels, data):
    """## What it does
    Counts NaN and infinite values in the inputs of every split (after your `preprocess`)
    and in the labels.

    ## Why is this bad?
    One NaN in a batch turns the loss, then every gradient and every weight, into NaN;
    training "runs" but the model is destroyed after the first such batch, and accuracy
    falls to whatever a constant prediction scores.

    ## Example
    Sensor windows with dropped readings stored as `np.nan`, or a `preprocess` that divides
    by a per-window standard deviation that is zero for a flat window.

    ## Fix
    Impute or drop the affected samples before training (for example interpolate short gaps,
    `np.nan_to_num` for isolated values), and guard divisions in `preprocess` with an epsilon.
    """
    test = data.held_out
    for split, stats in input_stats.items():
        if stats.n_nonfinite:
            raw = raw_stats.get(split) if raw_stats is not input_stats else None
            origin = ""
            if raw is not None and raw.n_nonfinite == 0:
                origin = " They appear only after preprocess(), so preprocess creates them."
            name = "train" if split == "train" else test.var
            total = int(np.prod(stats.shape))
            yield Finding(
                message=f"X_{name} holds {stats.n_nonfinite:,} non-finite values ({stats.n_nan:,} NaN, "
                        f"{stats.n_posinf + stats.n_neginf:,} infinite) in "
                        f"{'at least ' if len(stats.samples_with_nonfinite) >= 20 else ''}"
                        f"{len(stats.samples_with_nonfinite)} samples.{origin}",
                evidence={"split": "train" if split == "train" else test.noun, "nan": stats.n_nan,
                          "inf": stats.n_posinf + stats.n_neginf,
                          "fraction_of_values": stats.n_nonfinite / total,
                          "example_samples": stats.samples_with_nonfinite[:10].tolist(), "threshold": 0},
                fix="Impute or drop the samples holding NaN/Inf before training, and guard every division "
                    "in preprocess with an epsilon.",
                snippet=f"bad = ~np.isfinite(X_{name}).all(axis=tuple(range(1, X_{name}.ndim)))\n"
                        f"X_{name}, y_{name} = X_{name}[~bad], y_{name}[~bad]  # or interpolate the gaps",
            )
    for var, noun, raw in (("train", "train", labels.raw_train), (test.var, test.noun, labels.raw_test)):
        if raw is not None and raw.dtype.kind == "f" and not np.all(np.isfinite(raw)):
            bad = np.flatnonzero(~np.isfinite(raw.reshape(len(raw), -1)).all(axis=1))
            where = "the training split" if var == "train" else f"the {test.split}"
            yield Finding(
                message=f"y_{var} holds {len(bad)} non-finite labels.",
                evidence={"split": noun, "non_finite_labels": len(bad),
                          "example_samples": bad[:10].tolist(), "threshold": 0},
                fix=f"Drop the samples whose label is NaN/Inf from {where}, or recover their labels.",
            )




def _judge(rms: float, std: float, offset: float, *, max_rms, min_std, max_offset, error_factor):
    """([(kind, short text, sentence)], severity or None) for one channel or the whole array."""
    problems, severity = [], None
    if rms > max_rms:
        sentence = f"values are large (root mean square {_fmt(rms)}, expected at most {max_rms:g})"
        problems.append(("large", f"rms {_fmt(rms)}", sentence))
        severity = Severity.ERROR if rms > max_rms * error_factor else Severity.WARNING
    if 0 < std < min_std:
        sentence = f"the spread is tiny (std {std:.3g}, expected at least {min_std:g})"
        problems.append(("tiny", f"std {std:.3g}", sentence))
        severity = max(severity or Severity.WARNING,
                       Severity.ERROR if std < min_std / error_factor else Severity.WARNING)
    if std > 0 and offset > max_offset:
        sentence = (f"the mean sits {offset:,.1f} standard deviations from zero (expected at most {max_offset:g}): "
                    "the signal rides on a large offset")
        problems.append(("offset", f"offset {offset:,.1f} stds", sentence))
        severity = max(severity or Severity.WARNING,
                       Severity.ERROR if offset > max_offset * error_factor else Severity.WARNING)
    return problems, severity


@check("D102", "unscaled-input", "warning")
def unscaled_input(channel_scales, *, max_rms: float = 10.0, min_std: float = 0.01, max_offset: float = 5.0,
                   error_factor: float = 10.0):
    """## What it does
    Measures the scale of what the model is fed (training split, after `preprocess`), for the
    whole array and for each channel: the typical magnitude of the values (root mean square),
    their spread (standard deviation) and how far their mean sits from zero in units of the
    spread. Each channel is judged for large values and for an offset that puts its values far
    from the unit range; a channel that is only small next to the others is left to D103. When
    `preprocess` changes the arrays, the stored arrays are measured too, so the report can tell
    "stored raw, preprocess fixes it" from "preprocess makes it worse".

    ## Why is this bad?
    Default weight initialisation (Kaiming/Glorot) assumes inputs of roughly unit scale.
    Raw ADC counts (thousands), millivolts, or a signal riding on a large DC offset make the
    first layer's outputs, and then the logits, orders of magnitude too large: the softmax
    saturates, gradients vanish or explode, ReLUs die, and the model settles on one class —
    accuracy at chance. A spread far below 1 (volts when the signal is millivolts) starves the
    first layer instead. The thresholds separate the usual scalings: standardised data
    (rms 1, offset 0) and min-max data in [0, 1] (rms ≤ 1, offset ≤ 2) pass; raw sensor units
    (rms in the hundreds or thousands), an offset of more than 5 standard deviations, or a
    spread below 0.01 fail, and ten times beyond a threshold is an error. A model whose first
    layer is a normalisation layer (BatchNorm1d, InstanceNorm1d, LayerNorm, GroupNorm) scales
    its own input and passes.

    ## Example
    `X` stored as 12-bit ADC counts around 2048 ± 400 and fed to `nn.Conv1d` directly, or a
    multi-sensor recording where the accelerometer is in milli-g (thousands) and the
    gyroscope in rad/s.

    ## Fix
    Standardise each channel with statistics from the training split only, and apply the
    same transform to every split: a `fit_preprocess(X_train)` in model.py, which cnndoctor
    fits on the training split (or `fit_preprocess=` in `diagnose()`), or your own data
    pipeline before training.
    """
    reading = channel_scales
    scale = reading.inputs["train"]
    if reading.model_normalises or not np.any(scale.std > 0):
        return  # the model scales its own input; an all-constant input is D104's
    limits = {"max_rms": max_rms, "min_std": min_std, "max_offset": max_offset, "error_factor": error_factor}
    overall_offset = abs(scale.overall_mean) / scale.overall_std if scale.overall_std > 0 else float("inf")
    problems, severity = _judge(scale.overall_rms, scale.overall_std, overall_offset, **limits)
    bad_channels = []
    for c in range(len(scale.std)):
        # per channel only what is wrong in absolute terms: large values, or an offset that puts the values
        # far from the unit range; a channel that is merely small next to the others is D103's
        offset = float(scale.offset[c]) if abs(scale.mean[c]) > 1.0 else 0.0
        found, level = _judge(float(scale.rms[c]), 1.0, offset, **limits)
        if found:
            bad_channels.append((c, found))
            severity = max(severity or Severity.WARNING, level)
    if not problems and not bad_channels:
        return
    C = len(scale.std)
    text = "; ".join(sentence for _, _, sentence in problems)
    if bad_channels and C > 1:
        shown = ", ".join(f"ch{c} ({', '.join(short for _, short, _ in found)})" for c, found in bad_channels[:4])
        more = f" and {len(bad_channels) - 4} more" if len(bad_channels) > 4 else ""
        part = (f"{len(bad_channels)} of {C} channels are unscaled: {shown}{more}")
        text = f"{text}; {part}" if text else part
    message = "The model is fed unscaled input. " + text[0].upper() + text[1:] + "."
    evidence = {"mean": scale.overall_mean, "std": scale.overall_std, "rms": scale.overall_rms,
                "offset_in_stds": overall_offset, "min": float(scale.min.min()), "max": float(scale.max.max()),
                "max_rms": max_rms, "min_std": min_std, "max_offset": max_offset, "error_factor": error_factor,
                "layout": reading.layout, "n_channels": C, "unscaled_channels": [c for c, _ in bad_channels],
                "per_channel": _channel_table(scale, ([c for c, _ in bad_channels] +
                                                      [c for c in range(C) if c not in dict(bad_channels)]
                                                      )[:_SHOWN_CHANNELS])}
    if reading.stored is not None:
        stored = reading.stored["train"]
        s_offset = abs(stored.overall_mean) / stored.overall_std if stored.overall_std > 0 else float("inf")
        stored_problems, _ = _judge(stored.overall_rms, stored.overall_std, s_offset, **limits)
        evidence["stored"] = {"mean": stored.overall_mean, "std": stored.overall_std, "rms": stored.overall_rms}
        if stored_problems:
            message += (f" This is after preprocess(); the stored arrays are unscaled too "
                        f"(rms {_fmt(stored.overall_rms)}),"
                        " so preprocess does not scale them.")
        else:
            message += (f" The stored arrays are well scaled (mean {stored.overall_mean:.3g}, std "
                        f"{stored.overall_std:.3g}): preprocess() makes them unscaled.")
    yield Finding(
        message=message, evidence=evidence,
        fix="Standardise each channel with the training split's mean and std, and apply the same transform to "
            f"every split, the {reading.held_out.split} included. " + _WHERE_FIT_PREPROCESS_GOES,
        snippet=standardise_snippet(reading.channel_axis), severity=severity,
        severity_reason=(f"raised from warning: a measure is more than error_factor = {error_factor:g} times past "
                         "its threshold" if severity == Severity.ERROR else None))


@check("D103", "channel-scale-mismatch", "warning")
def channel_scale_mismatch(channel_scales, *, max_ratio: float = 10.0):
    """## What it does
    Compares the spread (standard deviation) of the input channels with each other, on the
    training split after `preprocess`, and reports when the largest and the smallest differ by
    `max_ratio` (10×, an order of magnitude) or more. Constant channels are left to D104.

    ## Why is this bad?
    The first convolution sums every channel with weights drawn at one common scale. A channel
    ten times larger contributes a hundred times more variance to every output at
    initialisation, so the small channels are drowned out, and with one learning rate for all
    weights the small channels' weights also learn far more slowly. Mixed units — an
    accelerometer in milli-g next to a gyroscope in rad/s, a pressure in pascal next to a
    temperature in °C — are the usual cause; a network can then perform as if the small
    channels did not exist. Sensors of one kind in one unit differ by a few times at most
    (the six raw BasicMotions channels span a factor of about 4), so 10× marks a unit problem.
    A model whose first layer normalises each channel (BatchNorm1d, InstanceNorm1d) passes.

    ## Example
    `X[:, :3]` holds acceleration in milli-g (std ≈ 1,000) and `X[:, 3:]` angular rate in rad/s
    (std ≈ 2), stacked with `np.concatenate` without rescaling.

    ## Fix
    Standardise each channel separately (mean and std per channel, from the training split)
    and apply the same transform to every split.
    """
    reading = channel_scales
    scale = reading.inputs["train"]
    if len(scale.std) < 2 or reading.model_normalises:
        return  # one channel cannot mismatch itself; a per-channel normalising first layer fixes any mismatch
    live = np.flatnonzero(scale.std > 0)
    if len(live) < 2:
        return
    hi = live[np.argmax(scale.std[live])]
    lo = live[np.argmin(scale.std[live])]
    ratio = float(scale.std[hi] / scale.std[lo])
    if ratio < max_ratio:
        return
    large = [int(c) for c in live if scale.std[c] >= scale.std[lo] * max_ratio]
    small = [int(c) for c in live if scale.std[c] * max_ratio <= scale.std[hi]]
    after = " after preprocess()" if reading.stored is not None else ""
    yield Finding(
        message=f"Input channels differ in scale by a factor of {ratio:,.0f}{after}: channel {hi} has std "
                f"{_fmt(scale.std[hi])} but channel {lo} has std {_fmt(scale.std[lo])}. The first convolution weighs "
                f"all channels alike, so channel(s) {', '.join(map(str, small[:8]))} are drowned out by "
                f"channel(s) {', '.join(map(str, large[:8]))}.",
        evidence={"ratio": ratio, "max_ratio": max_ratio, "largest_channel": int(hi), "smallest_channel": int(lo),
                  "std_per_channel": [float(s) for s in scale.std], "mean_per_channel": [float(m) for m in scale.mean],
                  "large_channels": large, "small_channels": small, "layout": reading.layout},
        fix="Standardise every channel on its own (per-channel mean and std from the training split) and apply "
            f"the same transform to every split, the {reading.held_out.split} included. " + _WHERE_FIT_PREPROCESS_GOES,
        snippet=standardise_snippet(reading.channel_axis))


@check("D104", "constant-input", "warning")
def constant_input(constant_inputs, data, *, max_constant_fraction: float = 0.01):
    """## What it does
    Looks for inputs that carry no information, in every split after `preprocess`: channels
    that are constant over the whole split, samples that are flat (every channel constant over
    time), and splits in which every sample is the same array. When `preprocess` exists, the
    flat samples are looked up in the stored arrays to tell whether `preprocess` flattened them.

    ## Why is this bad?
    A constant channel gives the convolution nothing but a bias. Flat samples all look alike,
    so whatever their labels, the model can only learn their majority class; when every sample
    is flat or identical, nothing can be learned and accuracy sits at the majority-class rate.
    The classic cause is a `preprocess` that normalises over the wrong axis: on `(N, 1, L)`
    data, `X - X.mean(axis=1, keepdims=True)` subtracts each value from itself. A few flat
    samples (padding, sensor dropouts) are common, so samples are reported from 1% of a split
    on; a constant channel is always reported.

    ## Example
    `preprocess = lambda X: (X - X.mean(axis=1, keepdims=True)) / (X.std(axis=1, keepdims=True) + 1e-8)`
    on `(N, 1, L)` series returns all zeros; a gyroscope that was unplugged records 0 throughout.

    ## Fix
    Normalise over the time axis (`axis=-1` for `(N, C, L)`), drop dead channels, and remove
    or repair flat samples.
    """
    test = data.held_out
    parts, severity, per_split = [], Severity.WARNING, {}
    flattened_by_preprocess = False
    dead_channels: list = []
    for split, report in constant_inputs.items():
        name = "train" if split == "train" else test.var
        fraction = report.constant_samples / max(1, report.n)
        found = []
        if report.identical:
            found.append(f"every sample of X_{name} is the same array ({report.n:,} copies)")
            severity = Severity.ERROR
        elif report.constant_samples and fraction >= max_constant_fraction:
            every = report.constant_samples == report.n
            found.append(f"every sample of X_{name} is flat" if every else
                         f"{report.constant_samples:,} samples of X_{name} ({fraction:.0%}) are flat")
            if every:
                severity = Severity.ERROR
        if report.constant_channels and not report.identical:
            chans = ", ".join(f"{c} (always {v:.4g})" for c, v in
                              zip(report.constant_channels[:6], report.channel_values[:6]))
            plural = len(report.constant_channels) > 1
            found.append(f"channel{'s' if plural else ''} {chans} of X_{name} never change{'' if plural else 's'}")
            dead_channels = sorted(set(dead_channels) | set(report.constant_channels))
        if not found:
            continue
        parts.extend(found)
        flattened_by_preprocess |= bool(report.stored_varies)
        per_split[name] = {"n_samples": report.n, "flat_samples": report.constant_samples, "flat_fraction": fraction,
                           "example_samples": report.examples, "all_identical": report.identical,
                           "constant_channels": report.constant_channels,
                           "constant_channel_values": report.channel_values,
                           "stored_samples_that_vary": report.stored_varies,
                           "stored_samples_checked": report.stored_checked}
    if not parts:
        return
    lead = ("The input carries no information" if severity == Severity.ERROR else "Part of the input never changes")
    message = f"{lead}: " + "; ".join(parts) + "."
    if flattened_by_preprocess:
        message += (" In the stored arrays these samples vary, so preprocess() flattens them — check the axis it "
                    "normalises over.")
        fix = "Normalise each sample over its time axis (the last axis of (N, C, L)), not over the channel axis."
        snippet = ("def preprocess(X):  # (N, C, L): statistics per sample and channel, over time\n"
                   "    return (X - X.mean(axis=-1, keepdims=True)) / (X.std(axis=-1, keepdims=True) + 1e-8)")
    elif dead_channels and severity != Severity.ERROR and not any(v["flat_samples"] for v in per_split.values()):
        fix = "Drop the constant channels (and give the model in_channels to match), or repair the sensor."
        snippet = (f"dead = {dead_channels}\n"
                   f"X_train = np.delete(X_train, dead, axis=1)   # the channel axis of (N, C, L)\n"
                   f"X_{test.var} = np.delete(X_{test.var}, dead, axis=1)")
    else:
        fix = "Find where the samples lose their variation (loading, windowing, preprocess) and remove flat samples."
        snippet = ("flat = X_train.reshape(len(X_train), -1).std(axis=1) == 0\n"
                   "X_train, y_train = X_train[~flat], y_train[~flat]")
    yield Finding(message=message, severity=severity, fix=fix, snippet=snippet,
                  evidence={"splits": per_split, "max_constant_fraction": max_constant_fraction})


def _shift_flags(train, test, max_shift: float, max_std_ratio: float):
    """Per channel: (shift in train stds, std ratio test/train) and the flagged channel indices."""
    shift, ratio = train.shift_to(test)  # measured by the fact's ChannelScale; judged here
    flagged = np.flatnonzero((shift > max_shift) | (ratio > max_std_ratio) | (ratio < 1 / max_std_ratio))
    return shift, ratio, flagged


def _describe(scale) -> str:
    if scale.looks_standardised():
        return "looks standardised"
    if scale.looks_min_max():
        return "looks min-max scaled to [0, 1]"
    return "is not standardised"


@check("D105", "train-test-shift", "warning")
def train_test_shift(channel_scales, *, max_shift: float = 1.5, max_std_ratio: float = 3.0,
                     error_factor: float = 10.0):
    """## What it does
    Compares each channel's mean and spread between the training and the test split (after
    `preprocess`): the shift of the test mean in units of the training standard deviation, and
    the ratio of the two standard deviations. When `preprocess` changes the arrays, the stored
    splits are compared too, to tell whether the difference is in the files or made by
    `preprocess`.

    ## Why is this bad?
    A model learns the value range of the training split. If the test split was scaled
    differently — a scaler applied to train only, train standardised and test raw, train
    min-max scaled and test standardised — every test sample lands where the model has never
    seen data, and test accuracy collapses while training looks fine. Splits drawn from one
    population agree closely: the UCR/UEA splits differ by under 0.05 standard deviations
    and under 15% in spread, and the two halves of a Daphnet gait recording by at most 0.2 and
    1.4×. A shift of more than 1.5 training standard deviations or a spread ratio beyond 3×
    is a pipeline difference, not sampling noise; ten times beyond either is an error.

    ## Example
    `X_train = scaler.fit_transform(X_train)` with `X_test` left raw, or a notebook that
    re-ran the scaling cell on the training array only.

    ## Fix
    Fit the scaler on the training split and apply exactly the same transform to every split.
    """
    reading = channel_scales
    if "test" not in reading.inputs:
        raise Skip("there is no test split")
    train, test = reading.inputs["train"], reading.inputs["test"]
    shift, ratio, flagged = _shift_flags(train, test, max_shift, max_std_ratio)
    if not len(flagged):
        return
    test_split = reading.held_out
    name = test_split.var
    worst_shift = float(np.max(shift[flagged]))
    worst_ratio = float(np.max(np.maximum(ratio[flagged], 1 / np.maximum(ratio[flagged], 1e-300))))
    severity = (Severity.ERROR if worst_shift > max_shift * error_factor or worst_ratio > max_std_ratio * error_factor
                else Severity.WARNING)
    tr_desc, te_desc = _describe(train), _describe(test)
    summary = (f"train has mean {train.overall_mean:.4g} and std {train.overall_std:.4g}, {test_split.noun} has mean "
               f"{test.overall_mean:.4g} and std {test.overall_std:.4g}")
    if tr_desc != te_desc and "not" not in te_desc:
        cause = f"X_{name} {te_desc} but X_train {tr_desc}: the scaling was applied to X_{name} only"
    elif tr_desc != te_desc:
        cause = f"X_train {tr_desc} but X_{name} {te_desc}: the scaling was applied to X_train only"
    else:
        cause = f"the {test_split.split} is scaled differently from the training split"
    message = (f"The {test_split.split} is not on the training split's scale: {cause} ({summary}; {len(flagged)} of "
               f"{len(train.std)} channels differ by more than {max_shift:g} training stds in mean or "
               f"{max_std_ratio:g}× in spread).")
    evidence = {"channels": {f"ch{c}": {"train_mean": float(train.mean[c]), "train_std": float(train.std[c]),
                                        f"{name}_mean": float(test.mean[c]), f"{name}_std": float(test.std[c]),
                                        "shift_in_train_stds": float(shift[c]), "std_ratio": float(ratio[c])}
                             for c in flagged[:_SHOWN_CHANNELS]},
                "flagged_channels": flagged.tolist(), "worst_shift": worst_shift, "worst_std_ratio": worst_ratio,
                "max_shift": max_shift, "max_std_ratio": max_std_ratio, "train_looks": tr_desc,
                f"{name}_looks": te_desc}
    if reading.stored is not None and "test" in reading.stored:
        _, _, stored_flagged = _shift_flags(reading.stored["train"], reading.stored["test"], max_shift, max_std_ratio)
        evidence["stored_flagged_channels"] = stored_flagged.tolist()
        if not len(stored_flagged):
            message += " The stored splits agree, so preprocess() treats them differently."
        else:
            message += " The stored splits differ the same way."
    yield Finding(message=message, evidence=evidence, severity=severity,
                  fix=f"Fit the scaling on the training split only and apply the same transform to the training split "
                      f"and the {test_split.split}. " + _WHERE_FIT_PREPROCESS_GOES,
                  snippet=standardise_snippet(reading.channel_axis))


_SHOWN_GROUPS = 5


def per_recording_snippet(channel_axis: int | None, test_var: str = "test") -> str:
    """Each recording standardised with its own statistics, per channel."""
    axes = _axes(channel_axis)
    return (f"def per_recording(X, groups):  # each recording on its own scale, one value per channel\n"
            f"    X = X.copy()\n"
            f"    for g in np.unique(groups):\n"
            f"        m = groups == g\n"
            f"        mean = X[m].mean(axis={axes}, keepdims=True)\n"
            f"        std = X[m].std(axis={axes}, keepdims=True) + 1e-8\n"
            f"        X[m] = (X[m] - mean) / std\n"
            f"    return X\n\n"
            f"X_train = per_recording(X_train, groups_train)\n"
            f"X_{test_var} = per_recording(X_{test_var}, groups_{test_var})  # a recording's own statistics only")


@check("D106", "recording-scale-mismatch", "warning")
def recording_scale_mismatch(recording_scales, data, *, max_ratio: float = 10.0):
    """## What it does
    With recording or subject ids (`groups_train`/`groups_test`, or `groups` in the .npz),
    measures the amplitude of every recording on what the model is fed (after `preprocess`):
    per channel, the median over the recording's windows of each window's standard deviation.
    Each window's spread is first taken relative to the median spread of its class, so that
    classes that differ in loudness (running next to standing) are not read as recordings at
    different scales. It reports when, in some channel, the upper decile of the recordings'
    amplitudes is `max_ratio` (10×) or more times the lower decile. The deciles are order
    statistics: with ten recordings or fewer they are the quietest and the loudest recording.
    Recordings whose every window is flat are left to D104; a model whose first layer normalises
    each sample (InstanceNorm1d, LayerNorm, GroupNorm) removes the gain itself and passes. A
    recording where nothing happens (a subject at rest) is quiet too: when the labels do not mark
    those windows as a class of their own, it reads like a recording at a lower gain.

    ## Why is this bad?
    One global scaler (D102, D103) sees only the pooled spread; when one session was recorded
    with another gain (a re-calibrated sensor, another EEG amplifier, millivolts in one export
    and volts in another) its windows sit ten or a hundred times louder or quieter than the
    others after that scaler. The model then learns the recording's loudness instead of the
    pattern, the quiet recordings barely move the first layer, and a test recording at yet
    another gain lands where no training window was. Recordings of one activity in one unit
    differ by about 2× between the deciles (1.6–2.4× per channel over the 80 BasicMotions
    recordings, class by class), so an order of magnitude is a scale problem, not people moving
    differently.

    ## Example
    EEG sessions from two amplifiers, one exporting microvolts and one volts, windowed and
    standardised together with one `StandardScaler`; or accelerometer sessions where the device
    was re-calibrated from g to m/s² half-way through a study.

    ## Fix
    Standardise each recording with its own statistics (per channel, over all its windows),
    applied to the training and the test recordings alike, or z-normalise every window on its
    own in `preprocess`.
    """
    reading = recording_scales
    amps = reading.amplitudes
    if reading.model_normalises_each_sample:
        return  # the first layer takes every sample to unit scale: a recording's gain does not reach the weights
    spreads = {c: amps.spread(c) for c in range(amps.amplitude.shape[1])}
    spreads = {c: v for c, v in spreads.items() if v is not None}
    if not spreads:
        return
    c = max(spreads, key=lambda ch: spreads[ch][3])
    live, lo, hi, ratio = spreads[c]
    if ratio < max_ratio:
        return
    values = amps.amplitude[live, c]
    order = live[np.argsort(values, kind="stable")]
    quiet = [amps.groups[i] for i in order[:_SHOWN_GROUPS] if amps.amplitude[i, c] <= lo]
    loud = [amps.groups[i] for i in order[::-1][:_SHOWN_GROUPS] if amps.amplitude[i, c] >= hi]
    flagged = [int(ch) for ch, v in spreads.items() if v[3] >= max_ratio]
    channel = f" in channel {c}" if amps.amplitude.shape[1] > 1 else ""
    relative = " (each window relative to its class's typical spread)" if amps.class_relative else ""
    after = " after preprocess()" if reading.preprocessed else ""
    raw = amps.raw_amplitude[live, c]
    message = (f"The recordings are at different scales{after}: {len(live)} recordings{channel} have amplitudes"
               f"{relative} from {values.min():.3g} to {values.max():.3g} (median {np.median(values):.3g}), and "
               f"the loud decile is {ratio:,.0f}× the quiet one. Loudest: {', '.join(loud[:3])}; quietest: "
               f"{', '.join(quiet[:3])}. A global scaler does not remove a recording's own gain, so the model "
               "learns each recording's loudness. (A recording that is quiet because nothing happens in it, such "
               "as rest, is not a gain problem: leave it as it is.)")
    evidence = {"ratio": ratio, "max_ratio": max_ratio, "channel": c, "flagged_channels": flagged,
                "n_recordings": len(live), "lower_decile": lo, "upper_decile": hi,
                "amplitude_min": float(values.min()), "amplitude_median": float(np.median(values)),
                "amplitude_max": float(values.max()),
                "raw_amplitude_min": float(raw.min()), "raw_amplitude_median": float(np.median(raw)),
                "raw_amplitude_max": float(raw.max()),
                "loudest_recordings": {amps.groups[i]: float(amps.amplitude[i, c])
                                       for i in order[::-1][:_SHOWN_GROUPS]},
                "quietest_recordings": {amps.groups[i]: float(amps.amplitude[i, c]) for i in order[:_SHOWN_GROUPS]},
                "class_relative": amps.class_relative, "layout": reading.layout}
    axis = {"(N, C, L)": 1, "(N, L, C)": 2}.get(reading.layout)
    yield Finding(
        message=message, evidence=evidence,
        fix="Standardise each recording with its own statistics (per channel, over all its windows) in the training "
            f"and the {data.held_out.split} alike, or z-normalise every window on its own in preprocess.",
        snippet=per_recording_snippet(axis, data.held_out.var))
