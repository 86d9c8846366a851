"""A105 constructor-default-mismatch: a default in the user's constructor that disagrees with the data."""

from __future__ import annotations

from cnndoctor.findings import Finding, Severity
from cnndoctor.registry import check

__all__ = ["constructor_default_mismatch"]

_NOUN = {"classes": "class count", "channels": "input channel count", "length": "series length"}
_WHAT = {"classes": "the labels have {value} classes", "channels": "the data has {value} input channels",
         "length": "the series have {value} time steps"}


def _consequence(arg) -> str:
    d, v = arg.default, arg.value
    if arg.fact == "classes":
        if d < v:
            missing = f"class {d}" if v - d == 1 else f"classes {d}..{v - 1}"
            return (f"a head with {d} outputs for {v} classes: CrossEntropyLoss fails with 'target out of bounds' "
                    f"({missing} can never be predicted)")
        return f"a head with {d} outputs for {v} classes: {d - v} outputs are never a target"
    if arg.fact == "channels":
        return (f"a first layer that expects {d} channels: the forward pass fails on {v}-channel data (or, after "
                "a reshape, mixes channels and time)")
    return (f"layers sized for {d} steps when the model sizes one from it (a Linear after Flatten, a positional "
            f"table): the forward pass fails or reads the {v}-step series wrongly; a model that does not use it "
            "is unaffected")


@check("A105", "constructor-default-mismatch", "warning")
def constructor_default_mismatch(constructor_arguments, default_builds):
    """## What it does
    Compares the defaults of your constructor (or `build_model`) parameters that cnndoctor
    fills from the data — the class count (`num_classes`, `n_classes`, ...), the channel count
    (`in_channels`, `n_channels`, ...) and the length (`seq_len`, `input_length`, ...) — with
    the values the data gives. cnndoctor builds the model with the data's values, so its
    probes train a model of the right shape; this check says when your own code, building
    the model without passing the value, gets another one. An error for the class and channel
    counts, a warning for the length (it matters only when the model sizes a layer from it).

    ## Why is this bad?
    A default is what your training script gets when it calls `Net()` without the argument.
    `num_classes=5` on 6-class data builds a head that cannot predict class 5 (and
    `CrossEntropyLoss` stops with "target out of bounds"); `in_channels=1` on 3-channel data
    builds a first convolution that cannot read it. cnndoctor's report would otherwise say
    "no problem found" about a model your code never builds.

    ## Example
    `class Net(nn.Module): def __init__(self, in_channels=1, num_classes=5)` trained with
    `model = Net()` on a data set with 6 classes.

    ## Fix
    Pass the value where you build the model (`Net(num_classes=6)`), or make the data's value
    the default. Then tell cnndoctor it is what you build with `--model-arg num_classes=6`
    (`model_args={"num_classes": 6}` in the API): an explicit value is used as given and this
    check stays silent.
    """
    for arg in constructor_arguments:
        if arg.source != "data" or not arg.has_default or arg.default is None or arg.default == arg.value:
            continue
        name, d, v = arg.name, arg.default, arg.value
        api = '{"' + name + '": ' + repr(v) + "}"
        evidence = {"parameter": name, "default": d, "value_from_data": v, "fact": arg.fact}
        build = default_builds.get(name)
        if build is None:  # not measured (an instance, Keras, a forward that fails anyway): judged by the name
            severity = Severity.WARNING if arg.fact == "length" else Severity.ERROR
            consequence = _consequence(arg)
        elif not build.ran:
            severity, consequence = Severity.ERROR, f"a model that fails on this data: {build.error}"
        elif build.output_shape == build.filled_shape:
            if arg.fact == "classes":
                continue  # the parameter does not set the head's width: it is not the class count
            evidence.update(default_output_shape=list(build.output_shape))
            yield Finding(
                message=f"`{name}` defaults to {d!r}, but {_WHAT[arg.fact].format(value=v)}; cnndoctor filled "
                        f"{name}={v!r} from the data. Your default builds a model that also runs on this data, "
                        f"with the same output shape {list(build.output_shape)}, so `{name}` may not be the "
                        f"{_NOUN[arg.fact]} at all (a hidden width, say) — then the probes trained another model "
                        "than your code builds.",
                fix=f"If `{name}` is not the {_NOUN[arg.fact]}, pass --model-arg {name}={d!r} "
                    f"(`model_args={{\"{name}\": {d!r}}}` in the API) so cnndoctor builds your model as it is; if it "
                    f"is, pass {name}={v!r} where you build the model and confirm it with --model-arg {name}={v!r}.",
                severity=Severity.INFO, evidence=evidence)
            continue
        else:
            shape = list(build.output_shape)
            severity = Severity.ERROR if arg.fact in ("classes", "channels") else Severity.WARNING
            consequence = (f"a head with {shape[-1]} outputs for {v} classes (output shape {shape})"
                           if arg.fact == "classes" else f"a model whose output has shape {shape} instead of "
                           f"{list(build.filled_shape)}")
            evidence.update(default_output_shape=shape, filled_output_shape=list(build.filled_shape))
        if build is not None and not build.ran:
            evidence.update(default_error=build.error)
        message = (f"`{name}` defaults to {d!r}, but {_WHAT[arg.fact].format(value=v)}. cnndoctor filled "
                   f"{name}={v!r} from the data, so its probes trained the right shape — your own code, building "
                   f"the model without passing {name}, gets {consequence}.")
        fix = (f"Pass {name}={v!r} where you build the model (or make {v!r} the default). Once your code passes "
               f"it, confirm it to cnndoctor with `--model-arg {name}={v!r}` (`model_args={api}` in the API). "
               f"If {d!r} is what the model is meant for, the data you diagnose is not the data it was built for.")
        yield Finding(message=message, fix=fix, severity=severity, evidence=evidence)
