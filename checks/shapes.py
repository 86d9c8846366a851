"""Shape checks read from the shape trace: A102 input channels, A103 sequence collapse,
A104 a Linear along the time axis / a head whose output is still a sequence."""

from __future__ import annotations

import numpy as np

from cnndoctor.findings import Finding
from cnndoctor.registry import check
from cnndoctor.trace.faults import attention_block, length_history

__all__ = ["input_channel_mismatch", "per_timestep_head", "sequence_collapse"]

_CONV = ("Conv1d", "LazyConv1d")
_POOL = ("MaxPool1d", "AvgPool1d", "LPPool1d")
_LINEAR = ("Linear", "LazyLinear")
# Operations whose outputs are bounded (or one-sided), so a map ending in one is not raw logits (L203's range)
_BOUNDING = frozenset({"relu", "relu6", "sigmoid", "hardsigmoid", "tanh", "hardtanh", "softsign", "clamp",
                       "softplus", "abs", "exp"})


def _simple3(shape) -> bool:
    return isinstance(shape, tuple) and len(shape) == 3 and all(isinstance(s, int) for s in shape)


def _first(value, default=1) -> int:
    if isinstance(value, (list, tuple)):
        return int(value[0]) if value else default
    return int(value) if isinstance(value, (int, float)) else default


@check("A102", "input-channel-mismatch", "error")
def input_channel_mismatch(feed, inputs, data_layout):
    """## What it does
    Compares the number of input channels the first convolution was built for with the
    number of channels in the data — under every layout the data could be fed in, so a
    mere axis swap (D301) is not reported here.

    ## Why is this bad?
    A model built for 3 channels cannot read 6-channel data (3-axis accelerometer plus
    gyroscope), nor univariate `(N, L)` series: the first convolution raises, or — when
    someone "fixes" it by slicing or repeating channels — it silently drops or duplicates
    sensors.

    ## Example
    `nn.Conv1d(3, 32, 5)` copied from an accelerometer tutorial, run on BasicMotions
    (6 channels).

    ## Fix
    Build the first layer from the data: `in_channels=X_train.shape[1]` (or pass
    `in_channels` to the model's constructor; cnndoctor fills it from the data by name).
    """
    trace = feed.stored_trace
    first = next((c for c in trace.calls if c.is_leaf and c.type in _CONV), None)
    if first is None or not isinstance(first.config.get("in_channels"), int) or first.config["in_channels"] < 1:
        return
    expected = first.config["in_channels"]
    X = inputs["train"]
    if X.ndim == 2:
        channels, possible = 1, {1, X.shape[1]}
    else:
        channels = X.shape[data_layout.channel_axis] if data_layout.channel_axis in (1, 2) else X.shape[1]
        possible = {X.shape[1], X.shape[2]}
    if expected in possible:
        return
    shape = "(" + ", ".join(str(s) for s in X.shape) + ")"
    where = ("univariate: one channel" if X.ndim == 2
             else f"channels on axis {data_layout.channel_axis}, {data_layout.reason}")
    yield Finding(
        message=(f"The first convolution `{first.name}` expects {expected} input channels but the data has "
                 f"{channels} (X_train {shape}, {where})."),
        evidence={"layer": first.name, "in_channels": expected, "data_channels": int(channels),
                  "data_shape": list(X.shape), "layout": data_layout.name, "layout_source": data_layout.source,
                  "channel_counts_any_layout": sorted(int(p) for p in possible)},
        fix=(f"Build `{first.name}` with in_channels={channels}, taken from the data (X_train.shape[1]) rather "
             "than hard-coded."),
        snippet=f"nn.Conv1d(in_channels=X_train.shape[1], out_channels={first.config.get('out_channels', '...')}, "
                f"kernel_size={_first(first.config.get('kernel_size'))})",
        location=first.name)


@check("A103", "sequence-collapse", "error")
def sequence_collapse(shape_trace):
    """## What it does
    Follows the time length through every convolution, pooling layer and stride, and fires
    when it falls below the span of the next kernel (dilation × (kernel − 1) + 1), or to a
    single step while convolution or pooling layers still follow.

    ## Why is this bad?
    Each `MaxPool1d(2)` or stride-2 conv halves the sequence: seven of them turn 150 steps
    into one. A layer whose kernel is longer than what is left either raises ("Kernel size
    can't be greater than actual input size") or, when padded, mostly reads zeros; layers
    after a one-step sequence are 1×1 convolutions in disguise. The temporal pattern the
    network was meant to find is gone before the head.

    ## Example
    Eight blocks of conv + `MaxPool1d(2)` on 150-step series: 150 → 75 → 37 → 18 → 9 → 4 →
    2 → 1, and the last blocks slide kernels over one step.

    ## Fix
    Downsample less (fewer pooling stages, stride 1, smaller pools) so every layer sees at
    least its kernel span, and let `nn.AdaptiveAvgPool1d(1)` do the final reduction.
    """
    trace = shape_trace
    temporal = [c for c in trace.calls if c.is_leaf and c.type in _CONV + _POOL and _simple3(c.input_shape)]
    collapse, reason = None, None
    for i, call in enumerate(temporal):
        k = _first(call.config.get("kernel_size"))
        d = _first(call.config.get("dilation"), 1)
        span = d * (k - 1) + 1
        length = call.input_shape[-1]
        if length < span:
            collapse, reason = call, "below-kernel"
            break
        later = [c for c in temporal[i + 1:] if _first(c.config.get("kernel_size")) > 1]
        if _simple3(call.output_shape) and call.output_shape[-1] <= 1 and later:
            collapse, reason = call, "one-step"
            break
    if collapse is None:
        return
    history = length_history(trace)
    path = " → ".join(str(h["length"]) for h in history)
    k = _first(collapse.config.get("kernel_size"))
    d = _first(collapse.config.get("dilation"), 1)
    span = d * (k - 1) + 1
    after = [c.name for c in temporal if c.index > collapse.index]
    if reason == "below-kernel":
        pad = collapse.config.get("padding", 0)
        pad = pad[0] if isinstance(pad, list) and len(set(pad)) == 1 else pad
        tail = (" — at every position part of its kernel reads zero padding" if collapse.output_shape
                else " — so the forward pass fails")
        message = (f"The time axis collapses before `{collapse.name}`: it reads {collapse.input_shape[-1]} steps with "
                   f"a kernel spanning {span} (kernel {k}, dilation {d}, padding {pad}){tail}. Time length through the "
                   f"network: {path}.")
    else:
        message = (f"The time axis collapses to a single step at `{collapse.name}`, yet {len(after)} more "
                   f"convolution/pooling layers follow ({', '.join(after[:4])}{', …' if len(after) > 4 else ''}): "
                   f"they slide kernels over one position. Time length through the network: {path}.")
    yield Finding(
        message=message,
        evidence={"layer": collapse.name, "reason": reason, "length_in": collapse.input_shape[-1],
                  "kernel_span": span, "time_length": [{"layer": h["layer"], "length": h["length"]} for h in history],
                  "layers_after": after, "input_length": history[0]["length"] if history else None},
        fix=(f"Downsample less before `{collapse.name}` (fewer pooling stages, smaller pools or stride 1) so every "
             f"layer still sees at least its kernel span ({span} steps here), and end with nn.AdaptiveAvgPool1d(1) "
             "instead of further fixed pooling."),
        location=collapse.name)


def _leftover_output_axes(trace):
    """A104's finding for an output with axes beyond (B, K) that do not follow the input length: what is left of
    time after a Conv2d head ((B, K, 1, 1) not squeezed) or after taking the last step with ``[:, :, -1:]``."""
    shape = trace.output_shape
    if (not trace.ok or not isinstance(shape, tuple) or len(shape) <= 2 or trace.output_time_axes is None
            or not all(isinstance(v, int) for v in shape)):
        return  # a 2-D output, or time axes not measured: nothing to say about the extra axes
    follows = [a for a in trace.output_time_axes if shape[a] > 1]
    if follows:
        return  # a real time axis: the caller's finding
    extra = shape[2:]
    shown = "(B, " + ", ".join(str(v) for v in shape[1:]) + ")"
    ones = all(v == 1 for v in extra)
    what = (f"{len(extra)} extra axis of size 1" if len(extra) == 1 else f"{len(extra)} extra axes of size 1") \
        if ones else f"extra axes {tuple(extra)} that do not follow the input length"
    target = "(B, " + ", ".join("1" for _ in extra) + ")"
    message = (f"The model's output {shown} is not one row of logits per sample: after the {shape[1]} outputs it keeps "
               f"{what}. A classification loss reads it as a sequence: CrossEntropyLoss takes {int(np.prod(extra))} "
               f"step(s) per sample and asks for targets of shape {target}, so training on one label per sample "
               "raises.")
    if ones:
        fix = ("Flatten the output to (B, K) at the end of forward(): x.flatten(1) (or squeeze the named axes; a "
               "bare x.squeeze() also drops the batch axis of a batch of one).")
        snippet = f"return out.flatten(1)   # {shown} -> (B, {shape[1]})"
    else:
        fix = ("Reduce the extra axes before the classes: pool them (x.mean(dim=-1)) or flatten them into an "
               "nn.Linear, so forward() returns (B, K).")
        snippet = "x = torch.flatten(x, 1)   # then nn.Linear(K * extra, num_classes)"
    producer = trace.output_producer if trace.output_producer not in (None, "(model)") else None
    yield Finding(message=message,
                  evidence={"output_shape": list(shape), "extra_axes": list(extra),
                            "output_time_axis": list(trace.output_time_axes) or None, "time_axes": trace.time_probe},
                  fix=fix, snippet=snippet, location=producer)


@check("A104", "per-timestep-head", "error")
def per_timestep_head(shape_trace):
    """## What it does
    Finds `Linear` layers applied along the time axis — whose input's last axis grows with
    the input length — and heads whose output still has a time axis (one prediction per step,
    as a TCN's per-step projection gives), or keeps axes beyond `(B, K)` that no longer follow
    the length (`(B, K, 1)`, a Conv2d head's `(B, K, 1, 1)` left unsqueezed). The time axes are
    measured, not guessed: a second forward pass on a sample twice as long shows which
    axes follow the length.

    ## Why is this bad?
    `nn.Linear` acts on the last axis. After a `Conv1d` that axis is time, so a `Linear` there
    mixes time steps of each channel with position-specific weights instead of mapping
    features; inside a self-attention block built for `(B, L, C)` the queries, keys and
    values are computed across time, and attention runs over channels. A Keras `Dense`
    after `Conv1D` acts on every time step; translated without a `Flatten` or global pooling
    the model outputs one prediction per step, not one per sample, and so does a TCN whose
    last block or 1x1 projection is returned as it is. With one label per sample a
    classification loss cannot even be computed on such an output: `CrossEntropyLoss` reads
    `(B, K, L)` as a sequence and asks for targets of shape `(B, L)`.

    ## Example
    Conv layers followed directly by `nn.Linear` layers (a Keras `Sequential` translated
    line by line); or `SelfAttention(embed_dim=seq_len)` fed the conv output `(B, C, L)`.

    ## Fix
    Remove the time axis before the head with `nn.AdaptiveAvgPool1d(1)` + `nn.Flatten()` (a TCN:
    the mean or the last step of its last block, then `nn.Linear(C, K)`); give an attention
    block `x.transpose(1, 2)` so it sees `(B, L, C)`; end with `x.flatten(1)` when only axes of
    size 1 are left.
    """
    trace = shape_trace
    along = []
    for call in trace.calls:
        shape = call.input_shape
        if not (call.is_leaf and call.type in _LINEAR and call.end >= 0 and isinstance(shape, tuple)
                and len(shape) >= 3 and all(isinstance(s, int) for s in shape)):
            continue
        if call.time_axes_in and (len(shape) - 1) in call.time_axes_in:
            along.append(call)
    out_axes = trace.output_time_axes if trace.ok else None
    shape = trace.output_shape
    if not along and (not out_axes or all(shape[a] == 1 for a in out_axes)):
        # no time axis left, or one that is a single step at the data's length (a Conv2d head whose kernel spans the
        # remaining time, braindecode's final_layer): only the leftover axes can be wrong
        yield from _leftover_output_axes(trace)
        return
    evidence = {"output_shape": list(trace.output_shape) if isinstance(trace.output_shape, tuple) else None,
                "output_time_axis": list(out_axes) if out_axes else None,
                "time_axes": trace.time_probe}
    if along:
        evidence["linear_along_time"] = [{"layer": c.name, "input_shape": list(c.input_shape),
                                          "in_features": c.config.get("in_features"), "time_steps": c.input_shape[-1]}
                                         for c in along]
    convs = [c for c in trace.calls if c.is_leaf and c.type in _CONV and c.end >= 0]
    last_conv = convs[-1] if convs else None
    channels = last_conv.config.get("out_channels") if last_conv else None
    if along:
        first = along[0]
        c, steps = first.input_shape[-2], first.input_shape[-1]
        block = attention_block(trace, first)
        if block:
            names = ", ".join(f"`{x.name}`" for x in along if x.name.startswith(block + "."))
            message = (f"The Linear layers of `{block}` ({names}) are applied along the time axis: they receive "
                       f"(B, {c}, {steps}) and mix the {steps} time steps of each channel, so the attention runs over "
                       f"channels, not time. `{block}` expects (B, L, C).")
            fix = (f"Transpose before `{block}`: x = x.transpose(1, 2) gives (B, {steps}, {c}); build it with "
                   f"embed_dim={c} (the channels), and pool over dim=1 after it.")
            snippet = f"x = x.transpose(1, 2)   # (B, {c}, {steps}) -> (B, {steps}, {c})\nx = self.{block}(x)"
        else:
            message = (f"`{first.name}` is applied along the time axis: it receives (B, {c}, {steps}) and mixes the "
                       f"{steps} time steps of each of the {c} channels with position-specific weights"
                       + (f"; the output (B, {', '.join(map(str, trace.output_shape[1:]))}) is still one row per "
                          "channel, not one vector "
                          "per sample." if trace.ok and len(trace.output_shape or ()) >= 3 else "."))
            fix = (f"Add nn.AdaptiveAvgPool1d(1) and nn.Flatten() before `{first.name}` and set its in_features={c}, "
                   "so the head receives one vector of channel features per sample whatever the input length.")
            snippet = "nn.AdaptiveAvgPool1d(1), nn.Flatten(),   # (B, C, L) -> (B, C), before the first Linear"
        location = first.name
    else:
        shape = tuple(trace.output_shape)
        axis = out_axes[0]
        shown = "(B, " + ", ".join(str(v) for v in shape[1:]) + ")"
        dense = next((x for x in trace.calls if x.is_leaf and x.type in _LINEAR and x.time_axes_in), None)
        message = (f"The model's output {shown} still has a time axis (axis {axis}, {shape[axis]} steps): it makes one "
                   "prediction per time step, not one per sample"
                   + (f" — the Linear layers after the convolutions, from `{dense.name}` on, act on every step, as "
                      "Keras Dense layers do on a 3-D input." if dense else "."))
        bound = trace.output_op if trace.output_op in _BOUNDING else None
        if bound:
            where = (f"module `{trace.output_op_module}`" if trace.output_op_module not in (None, "(model)")
                     else "forward()")
            evidence["output_op"] = bound
            message += (f" The per-step values pass through {bound} last ({where}), as the last residual block of "
                        "a TCN does, so they are not raw logits either.")
        if dense:
            target = f"`{dense.name}` receives (B, {channels})" if channels else "the head receives (B, C)"
            fix = ("Remove the time axis before the dense layers: add nn.AdaptiveAvgPool1d(1) and nn.Flatten() "
                   f"after the last convolution (or x.mean(dim=-1)), so {target}.")
            snippet = "x = torch.flatten(nn.AdaptiveAvgPool1d(1)(x), 1)   # (B, C, L) -> (B, C), after the last conv"
        else:  # a sequence model's per-step projection (a TCN's 1x1 conv, or its last block itself)
            fix = ("Give the model a per-sample head: reduce the time axis of the last feature map (its mean over "
                   "time, or the last step for a causal TCN, whose last step sees the whole series) and map it to "
                   "the classes with nn.Linear(C, K), which outputs raw logits (B, K).")
            snippet = ("h = self.blocks(x)            # (B, C, L)\n"
                       "h = h.mean(dim=-1)            # or h[:, :, -1] for a causal TCN: (B, C)\n"
                       "return self.classifier(h)     # nn.Linear(C, num_classes): (B, K) raw logits")
        location = dense.name if dense else None
    yield Finding(message=message, evidence=evidence, fix=fix, snippet=snippet, location=location)
