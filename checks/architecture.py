"""A101 forward-error: the failing layer, the shapes, and the exact change that makes it run.

The numbers come from the ``forward_faults`` fact (cnndoctor.trace.faults): this module only
turns them into sentences, fixes and snippets.
"""

from __future__ import annotations

from cnndoctor.findings import Finding
from cnndoctor.registry import check

__all__ = ["forward_error"]


def _attr(name: str) -> str:
    """``features.0`` → ``self.features[0]`` (how the module is reached in the user's code)."""
    out = "self"
    for part in name.split("."):
        out += f"[{part}]" if part.isdigit() else f".{part}"
    return out


def _shape(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")" if isinstance(shape, (list, tuple)) else str(shape)


def _where(fault) -> str:
    if fault.layer is None:
        return "the model"
    if fault.layer == "(model)":
        return f"`{fault.layer_type}.forward()`"
    return f"`{fault.layer}`"


def _line(fault) -> str:
    """`` (`x = x + skip` at model.py:33)`` from the recorded source line, or nothing."""
    if not fault.source_line:
        return ""
    code, _, place = fault.source_line.rpartition("  (")
    if not code:
        return f" (`{fault.source_line}`)"
    return f" (`{code}` at {place.rstrip(')')})"


def _branch_length(fault):
    d = fault.details
    sizes = ", ".join(f"`{b['from']}` gives {b['size']} steps" for b in d["branches"])
    message = (f"The branches joined by {d['operation']} in {_where(fault)} have different lengths: {sizes}"
               f"{_line(fault)}.")
    convs = d.get("convs") or []
    if convs:
        message += " The convolutions without padding shorten the sequence: " + "; ".join(
            f"`{c['layer']}` by {c['shrink']} steps (kernel {c['kernel']}, dilation {c['dilation']})"
            for c in convs) + "."
    fixable = [c for c in convs if c["padding_fix"] is not None]
    if not fixable:
        shortest = min(b["size"] for b in d["branches"])
        return message, (f"Make every branch produce the same length, e.g. crop the longer ones to the shortest "
                         f"({shortest} steps) with x[..., :{shortest}] before {d['operation']}."), None
    fix = ("Make each convolution length-preserving with padding = dilation × (kernel_size − 1) // 2: " +
           ", ".join(f"`{c['layer']}` padding={c['padding_fix']!r}" for c in fixable) + ".")
    if any(isinstance(c["padding_fix"], str) for c in fixable):
        fix += " ('same' where the kernel span is even: no symmetric integer padding keeps the length.)"
    if d.get("input_length"):
        fix += f" Every branch then keeps all {d['input_length']} input steps."
    snippet = "\n".join(
        f"{_attr(c['layer'])} = nn.Conv1d({c['in_channels']}, {c['out_channels']}, kernel_size={c['kernel']}, "
        f"dilation={c['dilation']}, padding={c['padding_fix']!r})" for c in fixable)
    return message, fix, snippet


def _branch_channels(fault):
    d = fault.details
    sizes = sorted({b["size"] for b in d["branches"]})
    parts = ", ".join(f"`{b['from']}` has {b['size']} channels" for b in d["branches"])
    message = (f"The branches joined by {d['operation']} in {_where(fault)} have different channel counts: {parts}"
               f"{_line(fault)}.")
    if len(sizes) == 2:
        fix = (f"Project the branch with {sizes[0]} channels to {sizes[1]} with a 1×1 convolution "
               f"(nn.Conv1d({sizes[0]}, {sizes[1]}, kernel_size=1)) before {d['operation']}.")
        return message, fix, f"self.project = nn.Conv1d({sizes[0]}, {sizes[1]}, kernel_size=1)  # on the shortcut"
    return message, "Give every branch the same number of output channels.", None


def _branch_shape(fault):
    d = fault.details
    shapes = ", ".join(f"`{b['from']}` {_shape(b['shape'])}" for b in d["branches"])
    return (f"The tensors joined by {d['operation']} in {_where(fault)} disagree on axis {d['axis']}: {shapes}.",
            f"Make the tensors agree on axis {d['axis']} before {d['operation']}.", None)


def _linear_flatten(fault):
    d = fault.details
    message = (f"`{fault.layer}` expects {d['expected']} input features but receives {d['got']} = {d['channels']} "
               f"channels × {d['steps']} steps (after `{d['source']}`).")
    pooled = f"so `{fault.layer}` receives {d['channels']} features"
    if d["pooled_matches"]:
        pooled += f" — the in_features={d['expected']} it was written with —"
    fix = (f"Set in_features={d['got']} in `{fault.layer}`, or add nn.AdaptiveAvgPool1d(1) before the flatten "
           f"{pooled} whatever the input length.")
    out = d.get("out_features") or "num_classes"
    snippet = (f"{_attr(fault.layer)} = nn.Linear({d['got']}, {out})   "
               f"# {d['channels']} channels × {d['steps']} steps\n"
               f"# or, independent of the input length:\n"
               f"x = torch.flatten(nn.AdaptiveAvgPool1d(1)(x), 1)   # (B, {d['channels']})")
    return message, fix, snippet


def _linear_time_axis(fault):
    d = fault.details
    c, steps = d["channels"], d["steps"]
    message = (f"`{fault.layer}` is applied along the time axis: it receives a (B, {c}, {steps}) tensor and reads "
               f"its last axis — the {steps} time steps — as features, where it expects {d['expected']}.")
    block = d.get("block")
    if block and d["channels_match"]:
        message += (f" `{block}` is built for (B, L, C) input — {d['expected']} features per step — but the "
                    f"convolutions produce (B, C, L).")
        fix = (f"Transpose before `{block}`: x = x.transpose(1, 2) turns (B, {c}, {steps}) into (B, {steps}, {c}), "
               f"so its Linear layers read the {c} channels they expect; pool over dim=1 (or transpose back) after it.")
        return message, fix, f"x = x.transpose(1, 2)   # (B, {c}, {steps}) -> (B, {steps}, {c})\nx = {_attr(block)}(x)"
    if d["channels_match"]:
        fix = (f"Add nn.AdaptiveAvgPool1d(1) and nn.Flatten() before `{fault.layer}` so it receives one vector of "
               f"{c} features per sample (a classification head needs one), or x.transpose(1, 2) if it is meant to "
               "act on every time step.")
    else:
        fix = (f"Add nn.AdaptiveAvgPool1d(1) and nn.Flatten() before `{fault.layer}` and set in_features={c}, so "
               "the head receives one vector per sample whatever the input length.")
    return message, fix, "nn.AdaptiveAvgPool1d(1), nn.Flatten(),   # (B, C, L) -> (B, C)"


def _recurrent_layout(fault):
    d = fault.details
    c, steps, layer = d["channels"], d["steps"], fault.layer
    message = (f"`{layer}` ({fault.layer_type}, input_size={d['expected']}) receives the convolutions' (B, {c}, "
               f"{steps}) tensor and reads its last axis — the {steps} time steps — as its {d['expected']} input "
               "features: a recurrent layer wants one vector of channels per time step, (B, L, C).")
    fix = (f"Transpose before `{layer}`: x = x.transpose(1, 2) turns (B, {c}, {steps}) into (B, {steps}, {c})"
           + ("" if d["batch_first"] else ", and build it with batch_first=True (by default it reads (L, B, C) "
                                          "and would run its recurrence over the batch)") + ".")
    snippet = (f"x = x.transpose(1, 2)   # (B, {c}, {steps}) -> (B, {steps}, {c})\n"
               + ("" if d["batch_first"] else
                  f"# and in __init__: nn.{fault.layer_type}({d['expected']}, hidden_size, batch_first=True)\n")
               + f"out, _ = {_attr(layer)}(x)")
    return message, fix, snippet


def _linear_features(fault):
    d = fault.details
    return (f"`{fault.layer}` expects {d['expected']} input features but receives {d['got']}.",
            f"Set in_features={d['got']} in `{fault.layer}`.", None)


def _names(layers: list[str]) -> str:
    quoted = [f"`{n}`" for n in layers]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _conv_channels(fault):
    d = fault.details
    layers = d.get("layers") or [fault.layer]
    verb = "expects" if len(layers) == 1 else "expect"
    message = (f"{_names(layers)} {verb} {d['expected']} input channels but receive{'s' if len(layers) == 1 else ''} "
               f"{d['got']} (input {_shape(fault.input_shape)}).")
    if d["first_layer"]:
        message += (f" {'It is the first layer' if len(layers) == 1 else 'They read the input'}: the data has "
                    f"{d['got']} channels (see A102).")
    fix = f"Set in_channels={d['got']} in {_names(layers)}"
    if d["swapped"]:
        fix += f", or feed the data as (N, {d['expected']}, L) if its channels sit on the last axis"
    return message, fix + ".", None


def _too_short(fault):
    d = fault.details
    path = " → ".join(str(h["length"]) for h in d.get("history", []))
    message = (f"`{fault.layer}` needs at least {d['span']} steps (kernel {d['kernel']}, dilation {d['dilation']}) "
               f"but the sequence has only {d['length']} step{'s' if d['length'] != 1 else ''} here"
               + (f" (time length {path})." if path else "."))
    return message, (f"Pool or stride less before `{fault.layer}`, pad it, or end the stack with "
                     "nn.AdaptiveAvgPool1d(1) instead of further fixed pooling (see A103)."), None


def _norm_channels(fault):
    d = fault.details
    message = (f"`{fault.layer}` normalises {d['expected']} channels (num_features={d['expected']}) but receives "
               f"{d['got']}.")
    return message, f"Set num_features={d['got']} in `{fault.layer}`.", None


def _view_size(fault):
    d = fault.details
    where = f"`{fault.source_line}`" if fault.source_line else "a view/reshape"
    per = (f"{d['channels']} channels × {d['steps']} steps = {d['per_sample']}" if d.get("channels")
           else str(d["per_sample"]))
    message = f"{where} reshapes a {_shape(d['input'])} tensor to {d['target']}, but each sample holds {per} values."
    fix = (f"Flatten with torch.flatten(x, 1) ({d['per_sample']} features per sample) and set the next Linear's "
           f"in_features={d['per_sample']}, or pool first with nn.AdaptiveAvgPool1d(1).")
    return message, fix, None


def _unknown(fault):
    shape = _shape(fault.input_shape) if fault.input_shape is not None else "its input"
    fix = (f"Make {_where(fault)} accept the shape it receives ({shape}); the shape trace shows every layer up to "
           "the failure.")
    return f"The forward pass fails in {_where(fault)}: {fault.error}.", fix, None


_RENDER = {"branch-length": _branch_length, "branch-channels": _branch_channels, "branch-shape": _branch_shape,
           "linear-flatten": _linear_flatten, "linear-time-axis": _linear_time_axis,
           "linear-features": _linear_features, "conv-channels": _conv_channels, "too-short": _too_short,
           "norm-channels": _norm_channels, "view-size": _view_size, "attention-layout": _linear_time_axis,
           "recurrent-layout": _recurrent_layout,
           "unknown": _unknown}


def _passed(arguments) -> list:
    """The constructor arguments cnndoctor passed (from the data or an explicit value), not the user's defaults."""
    return [a for a in arguments if a.source != "your default"]


@check("A101", "forward-error", "error")
def forward_error(feed, forward_faults, constructor_arguments):
    """## What it does
    Runs one forward pass on a small batch of your data with a shape trace, and when it
    fails names the innermost module whose forward raised, the operation (`x + residual`,
    `torch.cat`, a `Linear`), the shapes involved, and the change that makes it run. Where
    the change is a module setting (a padding, `in_features`, `in_channels`), it applies it
    to a fresh copy of the model and runs the forward pass again: a second failure that was
    hidden behind the first is reported too, and a fix that makes the model run says so.

    ## Why is this bad?
    A model that cannot run cannot train. Shape errors in 1D CNNs are almost always one of
    a few: a `Linear` head whose `in_features` was computed for another input length; a
    residual `+` or a `torch.cat` whose branches lost different numbers of steps to
    unpadded convolutions; a `Linear` (often inside an attention block) reading the time
    axis of a `(B, C, L)` tensor; a conv whose `in_channels` disagrees with its input.

    ## Example
    Dilated convs with kernel 3 and dilation 1, 2, 4 and no padding: the main branch has
    136 steps, the 1×1-conv shortcut 144, and `x + shortcut` fails. With `padding =
    dilation * (kernel_size - 1) // 2` both keep 150 steps — and then `nn.Linear(128, K)`
    after max-pool and flatten receives 128 × 75 = 9600 features.

    ## Fix
    Apply the computed change (for example `padding=4` on `conv3`, `in_features=9600`), or
    make the head independent of the input length with `nn.AdaptiveAvgPool1d(1)` before
    flattening.
    """
    if feed.ok:
        return
    tried = "; ".join(f"{a.transform} (N, {', '.join(map(str, a.shape[1:]))}): {a.trace.error_text}"
                      for a in feed.attempts)
    trace = feed.stored_trace
    faults = forward_faults.faults
    for i, fault in enumerate(faults):
        message, fix, snippet = _RENDER.get(fault.kind, _unknown)(fault)
        if fault.after:
            message = ("With " + ", ".join(p.describe() for p in fault.after) +
                       " applied, the forward pass fails next. " + message)
        last = i == len(faults) - 1
        if not last:
            fix += (f" With this change the forward pass gets further and fails next in "
                    f"{_where(faults[i + 1])} (the next A101 finding).")
        elif forward_faults.runs_after_fix and fault.patches:
            n = len(forward_faults.applied)
            fix += (f" Checked: with {'these changes' if n > 1 else 'this change'} the forward pass runs and "
                    f"returns {_shape(forward_faults.output_after_fix)}.")
        evidence = {"layer": fault.layer or "the model", "layer_type": fault.layer_type, "operation": fault.op,
                    "layer_input_shape": list(fault.input_shape) if isinstance(fault.input_shape, tuple)
                    else fault.input_shape, "error": fault.error, "kind": fault.kind}
        # what was not measured is left out, not shown as None / "unknown"
        evidence = {k: v for k, v in evidence.items() if v is not None and not (k == "kind" and v == "unknown")}
        if i == 0:
            evidence.update(batch_shape=list(trace.input_shape), layouts_tried=tried)
            passed = _passed(constructor_arguments)
            if passed:  # a library model fails on what it was built with: say what cnndoctor passed
                evidence["constructor_arguments"] = {a.name: a.to_dict()["value"] for a in passed}
                if fault.kind == "unknown":
                    message += (" cnndoctor built the model with " + ", ".join(a.describe() for a in passed)
                                + "; set any other with --model-arg NAME=VALUE (model_args= in the API).")
        if fault.source_line:
            evidence["source_line"] = fault.source_line
        evidence.update({k: v for k, v in fault.details.items() if k not in ("history", "convs", "op_shapes")})
        if "branches" not in fault.details and fault.details.get("op_shapes"):
            evidence["operation_shapes"] = fault.details["op_shapes"]
        if fault.details.get("convs"):
            evidence["shortening_convs"] = [
                {k: c[k] for k in ("layer", "kernel", "dilation", "padding", "shrink", "padding_fix")}
                for c in fault.details["convs"]]
        if fault.details.get("history"):
            evidence["time_length"] = [h["length"] for h in fault.details["history"]]
        if fault.after:
            evidence["found_after"] = [p.describe() for p in fault.after]
        if fault.patches:
            evidence["fix_checked"] = bool(forward_faults.runs_after_fix) or not last
        yield Finding(message=message, evidence=evidence, fix=fix, snippet=snippet, location=fault.layer,
                      related=("A102",) if fault.kind == "conv-channels" and fault.details.get("first_layer")
                      else ())
