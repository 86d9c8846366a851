"""Architecture checks read from the shape trace."""

from __future__ import annotations

import math

from cnndoctor import Finding, check


def _previous_3d(trace, failing):
    """The last (B, C, L) output produced before the failing call, if any."""
    best = None
    for call in trace.calls:
        if call is failing:
            break
        shape = call.output_shape
        if isinstance(shape, tuple) and len(shape) == 3 and all(isinstance(s, int) for s in shape):
            best = (call, shape)
    return best


def _linear_fix(trace, call):
    expected = call.config.get("in_features")
    got = call.input_shape[-1] if isinstance(call.input_shape, tuple) and call.input_shape else None
    if expected is None or not isinstance(got, int) or got == expected:
        return None
    prev = _previous_3d(trace, call)
    detail, pool = "", ""
    if prev is not None:
        src, (_, c, length) = prev
        if c * length == got:
            detail = f" = {c} channels × {length} steps (after {src.name})"
            pool = (f", or add nn.AdaptiveAvgPool1d(1) before the flatten so the head receives {c} features "
                    "whatever the input length")
        elif len(call.input_shape) == 3 and call.input_shape[1] == c:
            detail = f": it is applied to a (B, {c}, {length}) sequence, along the time axis"
            pool = ", or add nn.AdaptiveAvgPool1d(1) and nn.Flatten() before it"
    return (f"`{call.name}` expects {expected} input features but receives {got}{detail}.",
            f"Set in_features={got} in `{call.name}`{pool}.")


def _conv_fix(call):
    expected = call.config.get("in_channels")
    shape = call.input_shape
    if expected is None or not isinstance(shape, tuple) or len(shape) != 3:
        return None
    got = shape[1]
    if got == expected:
        kernel = call.config.get("kernel_size", [1])[0]
        dilation = call.config.get("dilation", [1])[0]
        padding = call.config.get("padding", [0])
        pad = padding[0] if isinstance(padding, list) else 0
        span = dilation * (kernel - 1) + 1
        if shape[2] + 2 * pad < span:
            return (f"`{call.name}` needs at least {span} steps (kernel {kernel}, dilation {dilation}) but the "
                    f"sequence has only {shape[2]} here.",
                    f"Pool or stride less before `{call.name}`, or pad the input (padding={math.ceil((span - shape[2]) / 2)}).")
        return None
    return (f"`{call.name}` expects {expected} input channels but receives {got} (input {shape}).",
            f"Set in_channels={got} in `{call.name}`, or feed the data as (N, {expected}, L).")


@check("A101", "forward-error", "error")
def forward_error(feed):
    """## What it does
    Runs one forward pass on a small batch of your data with a shape trace, and when it
    fails names the innermost module that raised, the shapes it received, and the change
    that makes it run.

    ## Why is this bad?
    A model that cannot run cannot train. Shape errors in 1D CNNs are almost always one of
    a few: a `Linear` head whose `in_features` was computed for another input length, a conv
    whose `in_channels` disagrees with the data, or branches whose lengths differ.

    ## Example
    `nn.Linear(128, 10)` after `torch.flatten` of a `(B, 128, 31)` feature map: the head
    receives 3968 features.

    ## Fix
    Apply the computed change (for example `in_features=3968`), or make the head independent
    of the input length with `nn.AdaptiveAvgPool1d(1)` before flattening.
    """
    if feed.ok:
        return
    trace = feed.stored_trace
    call = trace.failing
    where = call.name if call is not None else "the model"
    specific = None
    if call is not None and call.type in ("Linear", "LazyLinear"):
        specific = _linear_fix(trace, call)
    elif call is not None and "in_channels" in call.config:
        specific = _conv_fix(call)
    tried = "; ".join(f"{a.transform} {('(N, ' + ', '.join(map(str, a.shape[1:])) + ')')}: "
                      f"{a.trace.error_text}" for a in feed.attempts)
    evidence = {"layer": where, "layer_type": call.type if call else None,
                "layer_input_shape": list(call.input_shape) if call and isinstance(call.input_shape, tuple) else
                (call.input_shape if call else None),
                "batch_shape": list(trace.input_shape), "error": trace.error_text, "layouts_tried": tried}
    if trace.error_line:
        evidence["source_line"] = trace.error_line
    if specific:
        message, fix = specific
    else:
        message = f"The forward pass fails in `{where}`: {trace.error_text}."
        fix = (f"Make `{where}` accept the shape it receives ({evidence['layer_input_shape']}); "
               "the shape trace shows every layer up to the failure.")
    yield Finding(message=message, evidence=evidence, fix=fix, location=where)
