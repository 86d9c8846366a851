"""Checks on the time axis: swapped axes, a scrambled time axis, and "series" with no order at all."""

from __future__ import annotations

import numpy as np

from cnndoctor.errors import Skip
from cnndoctor.findings import Finding
from cnndoctor.registry import check

__all__ = ["axis_layout", "no_temporal_structure", "scrambled_time_axis"]


def _axis_name(shape: tuple, axis: int | None) -> str:
    if axis is None:
        return "an added axis of size 1"
    return f"axis {axis} ({shape[axis - 1]} long)"


def _readings(reading) -> dict:
    return {f"axis{a} ({reading.shape[a - 1]} long)": (round(c, 4) if np.isfinite(c) else None)
            for a, c in sorted(reading.continuity.items())}


@check("D301", "axis-layout", "error")
def axis_layout(time_axis, *, min_continuity: float = 0.3, min_margin: float = 0.2):
    """## What it does
    Decides from the data which axis of the samples is time and compares it with the axis the
    model convolves along. The data's reading is the continuity of each axis: the lag-1
    autocorrelation along it, after standardising each index of the other axis, on up to 512
    samples. An axis counts as time when its continuity is at least 0.3 (neighbouring steps share
    about a tenth of their variance) and at least 0.2 above the other axis; otherwise the data
    cannot tell, and only a stored layout that fails is reported. The model's reading comes from
    tracing a forward pass: which stored axis reaches the first convolution as channels. A Conv2d
    over a plane view (`x.unsqueeze(1)`: (N, 1, C, T), the EEG nets' way) runs in time along the
    axis its kernel slides along — (1, k) the last, (k, 1) the other — and a kernel spanning a whole
    axis unpadded (a spatial filter (C, 1)) marks that axis as channels; a kernel longer than 1 on
    both axes leaves the model's reading unknown. Both readings are reported with their numbers.
    The data's reading, with these thresholds (overrides
    included), also tells every per-channel statistic of the data (the scale checks, the baselines,
    the leakage scans) which axis holds the channels.

    ## Why is this bad?
    PyTorch's `Conv1d` takes `(N, C, L)`; Keras, pandas and most sensor exports give `(N, L, C)`.
    With the axes swapped the model either fails ("expected input to have 6 channels, but got
    100"), or — worse — was built to match the wrong axis and runs: it then treats 100 time
    steps as 100 channels and convolves across 6 sensors, which has no temporal meaning. Its
    accuracy stays near chance however long it trains.

    ## Example
    `X` of shape `(N, 100, 6)` from a Keras tutorial and `nn.Conv1d(in_channels=X.shape[1], ...)`.

    ## Fix
    Move the channels before time: `X.transpose(0, 2, 1)` on the arrays, or `x.permute(0, 2, 1)`
    at the top of `forward` — never `view`/`reshape`, which scrambles the series (D302).
    """
    r = time_axis
    # the one rule for "the data says this axis is time"; the data_time_axis fact applies it with these thresholds
    data_axis = r.time_axis_by(min_continuity=min_continuity, min_margin=min_margin)
    evidence = {"stored_sample_shape": list(r.shape), "continuity": _readings(r),
                "data_time_axis": data_axis, "model_time_axis": r.model_time_axis,
                "model_channel_axis": r.model_channel_axis, "model_reading": r.model_source,
                "feed": r.feed_transform, "min_continuity": min_continuity, "min_margin": min_margin,
                "samples": r.n_samples}
    shape = r.shape
    readings = ", ".join(f"{k}: {v}" for k, v in evidence["continuity"].items())
    if r.feed_transform == "transposed":
        if data_axis is not None and data_axis == r.model_time_axis:
            message = (f"The data is stored with time on {_axis_name(shape, data_axis)} and channels last, but the "
                       f"model expects (N, C, L): the stored layout {tuple(shape)} fails and only the transposed one "
                       f"runs. The data agrees: lag-1 continuity {readings}.")
            fix = "Transpose the arrays to (N, C, L) before training, or permute at the top of forward()."
            snippet = ("X_train = X_train.transpose(0, 2, 1)   # (N, L, C) -> (N, C, L)\n"
                       "X_test = X_test.transpose(0, 2, 1)\n"
                       "# or, inside forward():  x = x.permute(0, 2, 1)")
        elif data_axis is not None and data_axis == r.model_channel_axis:
            message = (f"The model was built for the wrong axis: it runs only when the series is turned sideways, "
                       f"feeding {_axis_name(shape, data_axis)} — which the data says is time (lag-1 continuity "
                       f"{readings}) — as input channels.")
            fix = (f"Build the model for {shape[(3 - data_axis) - 1]} input channels (the other axis) and keep the "
                   "stored (N, C, L) layout.")
            snippet = f"model = MyCNN(in_channels=X_train.shape[1])   # {shape[(3 - data_axis) - 1]} channels"
        else:
            message = (f"The model does not accept the stored layout {tuple(shape)}: it runs only with the two axes "
                       f"swapped, and the data cannot tell which axis is time (lag-1 continuity {readings}).")
            fix = "Check which axis holds time and which holds channels, and transpose the arrays or fix in_channels."
            snippet = "X_train = X_train.transpose(0, 2, 1)   # if the arrays are (N, L, C)"
        yield Finding(message=message, evidence=evidence, fix=fix, snippet=snippet)
        return
    if data_axis is None or r.model_channel_axis is None or data_axis != r.model_channel_axis:
        return
    other = _axis_name(shape, 3 - data_axis) if len(shape) == 2 else "an axis of size 1"
    yield Finding(
        message=f"The model convolves across channels instead of time: {_axis_name(shape, data_axis)}, which the "
                f"data says is time (lag-1 continuity {readings}), reaches the first convolution as input channels, "
                f"and {other} is used as the time axis.",
        evidence=evidence,
        fix="Feed (N, C, L) with time last: transpose the arrays (or permute in forward) and build the first "
            "convolution for the real number of channels.",
        snippet=("X_train = X_train.transpose(0, 2, 1)   # time last: (N, C, L)\n"
                 "X_test = X_test.transpose(0, 2, 1)\n"
                 "model = MyCNN(in_channels=X_train.shape[1])"))


@check("D302", "scrambled-time-axis", "error")
def scrambled_time_axis(conv_input_order, *, min_continuity: float = 0.3, min_gain: float = 0.2):
    """## What it does
    Captures the tensor that actually reaches the first 1-D convolution (a forward pre-hook on a
    fresh model, one batch) and measures its continuity along the time axis — the lag-1
    autocorrelation, each channel standardised. It then undoes the classic bug, `view`/`reshape`
    from `(N, L, C)` to `(N, C, L)`, by reading the same memory as `(N, L, C)` and moving the
    channels first, and measures again. It fires when undoing the reshape restores continuity to
    at least 0.3 and raises it by at least 0.2. The same numbers on the arrays handed to the model
    and on the stored arrays tell where the scrambling happens: in the data file, in `preprocess`,
    or inside the model's `forward`.

    ## Why is this bad?
    `x.view(N, C, L)` on `(N, L, C)` data does not move any value: each "channel" row then holds
    consecutive (time step, channel) pairs, so every step of the series alternates between
    sensors. The network trains without an error but sees noise with no temporal structure, and
    accuracy stays near chance. Only `permute`/`transpose` moves the axes.

    ## Example
    `def forward(self, x): x = x.view(x.size(0), 6, -1)` with `x` of shape `(N, 100, 6)`.

    ## Fix
    Replace the `view`/`reshape` with `x.permute(0, 2, 1)` (torch) or `X.transpose(0, 2, 1)` (numpy).
    """
    r = conv_input_order
    if r.where == "nothing to interleave":
        return  # one channel: (N, L, 1) and (N, 1, L) hold the same memory order, a reshape cannot scramble it
    if not (np.isfinite(r.fed) and np.isfinite(r.undone)):
        raise Skip("the first convolution's input has no measurable continuity (constant or too short)")
    gain = r.undone - r.fed
    if r.undone < min_continuity or gain < min_gain:
        return
    _, C, L = r.shape
    place = {"model forward": f"inside the model's forward(), before {r.layer}",
             "preprocess": "in preprocess()", "stored data": "in the stored arrays"}.get(r.where, "before " + r.layer)
    message = (f"The time axis is scrambled {place}: a view/reshape turned (N, {L}, {C}) data into (N, {C}, {L}) "
               f"without moving it, so the first convolution ({r.layer}) sees time steps and channels interleaved. "
               f"Its input has lag-1 continuity {r.fed:.2f}; reading the same memory as (N, {L}, {C}) and permuting "
               f"restores {r.undone:.2f}.")
    evidence = {"layer": r.layer, "layer_type": r.layer_type, "conv_input_shape": list(r.shape),
                "continuity_as_fed": r.fed, "continuity_reshape_undone": r.undone, "gain": gain, "where": r.where,
                "arrays_fed": None if r.arrays_fed is None else {"as_fed": r.arrays_fed, "undone": r.arrays_undone},
                "stored_arrays": None if r.stored_fed is None else {"as_fed": r.stored_fed, "undone": r.stored_undone},
                "min_continuity": min_continuity, "min_gain": min_gain}
    if r.where == "stored data":
        snippet = (f"X = X.reshape(len(X), {L}, {C}).transpose(0, 2, 1)   # undo the reshape: real (N, C, L)\n"
                   "# and where the arrays were made:  X = X_nlc.transpose(0, 2, 1)  (not .reshape)")
    else:
        snippet = (f"# wrong:  x = x.view(x.size(0), {C}, {L})      # (N, L, C) memory read as (N, C, L)\n"
                   "x = x.permute(0, 2, 1)                     # (N, L, C) -> (N, C, L), moves the data\n"
                   "# numpy / preprocess:  X = X.transpose(0, 2, 1)")
    yield Finding(message=message, evidence=evidence, location=r.layer if r.where == "model forward" else None,
                  fix="Swap the axes with permute/transpose instead of view/reshape.", snippet=snippet)


@check("D303", "no-temporal-structure", "warning")
def no_temporal_structure(order_test, *, max_excess: float = 0.3, min_gain: float = 0.02, z: float = 2.0):
    """## What it does
    Asks whether the order of the time axis carries anything. Two readings, both on the
    same permutations of the time axis (one fixed permutation for every sample):

    - **baselines**: random-kernel convolutional features with a ridge classifier (a CNN's own
      locality prior, untrained) scored on the ordered series and on shuffled ones;
    - **continuity**: autocorrelation at lags 1-4 of the ordered series against the same on
      shuffled series.

    It fires when shuffling costs the convolutional baseline at most `max(0.02, 2 standard
    errors)` of accuracy AND no lag's autocorrelation stands more than 0.3 above its shuffled
    value (neighbouring steps share less than a tenth of their variance beyond chance) — while
    some baseline does find the labels (otherwise L105 speaks). Real series stand far above
    (0.46-1.0 on the UCR/UEA sets); feature tables do not (0.1-0.2 for breast cancer and wine). When a lag
    stands more than `max_excess` above, continuity alone settles it: the order matters, and the
    baselines are not run at all.

    ## Why is this bad?
    A 1-D convolution assumes that neighbouring steps belong together and that a pattern means
    the same wherever it occurs. Tabular feature vectors laid out as a "series" (age, dose, heart
    rate, ...) have neither property: their order is arbitrary, so the convolution's prior buys
    nothing and costs data. An MLP or gradient-boosted trees use the same features better.

    ## Example
    The 30 features of a medical table passed to a Conv1D as `(N, 1, 30)`.

    ## Fix
    Use a model without a locality prior — an MLP, or gradient-boosted trees — on the feature
    vectors; keep convolutions for real sequences.
    """
    t = order_test
    excess = t.structure["excess"]
    if t.gain is None or excess > max_excess:
        return  # neighbouring steps are far more alike than shuffled ones: the order plainly matters
    if t.best_accuracy - t.trivial <= t.signal_z * t.standard_error:  # L105's verdict, with L105's z
        raise Skip("no baseline finds the labels (see L105), so the order of the series cannot be judged")
    ordered, shuffled = t.gain["ordered"], t.gain["shuffled"]
    tolerance = max(min_gain, z * t.gain_standard_error)
    if ordered - shuffled > tolerance:
        return
    lag1, lag1_shuffled = t.structure["ordered"][0], t.structure["shuffled_mean"][0]
    flat = (f" An order-free baseline (logistic regression on per-channel summary statistics and spectra) "
            f"reaches {t.flat_accuracy:.0%}." if t.flat_accuracy is not None else "")
    yield Finding(
        message=f"The input has no temporal order: shuffling its time axis costs a convolutional baseline nothing "
                f"({ordered:.0%} accuracy ordered vs {shuffled:.0%} shuffled), and neighbouring steps are no more "
                f"alike than shuffled ones (lag-1 autocorrelation {lag1:.2f} vs {lag1_shuffled:.2f}). This looks like "
                f"tabular features laid out as a series, so a convolution's locality prior buys nothing.{flat}",
        evidence={"random_conv_ordered": ordered, "random_conv_shuffled": shuffled,
                  "random_conv_shuffled_runs": t.gain["shuffled_runs"], "tolerance": tolerance,
                  "autocorrelation_ordered": t.structure["ordered"],
                  "autocorrelation_shuffled": t.structure["shuffled_mean"], "lags": t.structure["lags"],
                  "excess": excess, "max_excess": max_excess, "best_baseline": t.best_name,
                  "best_accuracy": t.best_accuracy, "order_free_accuracy": t.flat_accuracy,
                  "trivial_accuracy": t.trivial, "n_test": t.n_test},
        fix="Use a model without a locality prior (an MLP or gradient-boosted trees) on the feature vectors.",
        snippet=("from sklearn.ensemble import HistGradientBoostingClassifier\n"
                 "clf = HistGradientBoostingClassifier().fit(X_train.reshape(len(X_train), -1), y_train)\n"
                 "print(clf.score(X_test.reshape(len(X_test), -1), y_test))"))
