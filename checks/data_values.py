"""Checks on the values the model is fed: non-finite values and scale."""

from __future__ import annotations

import numpy as np

from cnndoctor import Finding, Severity, check

NORMALISING_LAYERS = ("BatchNorm1d", "InstanceNorm1d", "LayerNorm", "GroupNorm", "LazyBatchNorm1d",
                      "LazyInstanceNorm1d")


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
    test = data.test_name
    for split, stats in input_stats.items():
        if stats.n_nonfinite:
            raw = raw_stats.get(split) if raw_stats is not input_stats else None
            origin = ""
            if raw is not None and raw.n_nonfinite == 0:
                origin = " They appear only after preprocess(), so preprocess creates them."
            name = "train" if split == "train" else test
            total = int(np.prod(stats.shape))
            yield Finding(
                message=f"X_{name} holds {stats.n_nonfinite:,} non-finite values ({stats.n_nan:,} NaN, "
                        f"{stats.n_posinf + stats.n_neginf:,} infinite) in "
                        f"{'at least ' if len(stats.samples_with_nonfinite) >= 20 else ''}"
                        f"{len(stats.samples_with_nonfinite)} samples.{origin}",
                evidence={"split": name, "nan": stats.n_nan, "inf": stats.n_posinf + stats.n_neginf,
                          "fraction_of_values": stats.n_nonfinite / total,
                          "example_samples": stats.samples_with_nonfinite[:10].tolist(), "threshold": 0},
                fix="Impute or drop the samples holding NaN/Inf before training, and guard every division "
                    "in preprocess with an epsilon.",
                snippet=f"bad = ~np.isfinite(X_{name}).all(axis=tuple(range(1, X_{name}.ndim)))\n"
                        f"X_{name}, y_{name} = X_{name}[~bad], y_{name}[~bad]  # or interpolate the gaps",
            )
    for split, raw in (("train", labels.raw_train), (test, labels.raw_test)):
        if raw is not None and raw.dtype.kind == "f" and not np.all(np.isfinite(raw)):
            bad = np.flatnonzero(~np.isfinite(raw.reshape(len(raw), -1)).all(axis=1))
            yield Finding(
                message=f"y_{split} holds {len(bad)} non-finite labels.",
                evidence={"split": split, "non_finite_labels": int(len(bad)),
                          "example_samples": bad[:10].tolist(), "threshold": 0},
                fix=f"Drop the samples whose label is NaN/Inf from the {split} split, or recover their labels.",
            )


def _first_layer_type(trace) -> str | None:
    for call in trace.calls:
        if call.is_leaf:
            return call.type
    return None


@check("D102", "unscaled-input", "warning")
def unscaled_input(input_stats, data_layout, shape_trace, *, max_rms: float = 10.0, min_std: float = 0.01,
                   max_offset: float = 5.0, error_factor: float = 10.0):
    """## What it does
    Measures the scale of what the model is fed (training split, after `preprocess`):
    the typical magnitude of the values (root mean square), their spread (standard
    deviation) and how far their mean sits from zero in units of the spread.

    ## Why is this bad?
    Default weight initialisation (Kaiming/Glorot) assumes inputs of roughly unit scale.
    Raw ADC counts (thousands), millivolts, or a signal riding on a large DC offset make the
    first layer's outputs, and then the logits, orders of magnitude too large: the softmax
    saturates, gradients vanish or explode, ReLUs die, and the model settles on one class —
    accuracy at chance. A spread far below 1 (volts when the signal is millivolts) starves the
    first layer instead. Standardised data (mean 0, std 1) and min-max scaled data in [0, 1]
    both pass.

    ## Example
    `X` stored as 12-bit ADC counts around 2048 ± 400 and fed to `nn.Conv1d` directly.

    ## Fix
    Standardise each channel with statistics from the training split only, and apply the
    same transform to every split (a `preprocess` in model.py, or your data pipeline).
    """
    stats = input_stats["train"]
    if stats.count.sum() == 0:
        return
    first = _first_layer_type(shape_trace)
    if first in NORMALISING_LAYERS:
        return  # the model standardises its own input
    rms = float(np.sqrt(stats.overall_mean ** 2 + stats.overall_std ** 2))
    std = stats.overall_std
    offset = abs(stats.overall_mean) / std if std > 0 else float("inf")
    problems = []
    severity = Severity.WARNING
    if rms > max_rms:
        problems.append(f"values are large (root mean square {rms:.4g}, expected at most {max_rms:g})")
        if rms > max_rms * error_factor:
            severity = Severity.ERROR
    if 0 < std < min_std:
        problems.append(f"the spread is tiny (std {std:.3g}, expected at least {min_std:g})")
        if std < min_std / error_factor:
            severity = Severity.ERROR
    if offset > max_offset and std > 0:
        problems.append(f"the mean sits {offset:.1f} standard deviations from zero (expected at most "
                        f"{max_offset:g}): the signal rides on a large offset")
        if offset > max_offset * error_factor:
            severity = Severity.ERROR
    if not problems:
        return
    per_channel = {f"ch{c}": {"mean": float(stats.mean[c]), "std": float(stats.std[c])}
                   for c in range(min(stats.n_channels, 8))}
    axes = "(0, 1)" if stats.channel_axis is None else ("(0, 2)" if stats.channel_axis == 1 else "(0, 1)")
    yield Finding(
        message="The model is fed unscaled input. " + "; ".join(problems).capitalize() + ".",
        evidence={"mean": stats.overall_mean, "std": std, "rms": rms, "offset_in_stds": offset,
                  "min": stats.overall_min, "max": stats.overall_max, "max_rms": max_rms, "min_std": min_std,
                  "max_offset": max_offset, "layout": data_layout.name, "per_channel": per_channel},
        fix="Standardise each channel with the training split's mean and std, and apply the same "
            "transform to the test split.",
        snippet=(f"mean = X_train.mean(axis={axes}, keepdims=True)   # per channel, train only\n"
                 f"std = X_train.std(axis={axes}, keepdims=True) + 1e-8\n"
                 "X_train, X_test = (X_train - mean) / std, (X_test - mean) / std"),
        severity=severity,
    )
