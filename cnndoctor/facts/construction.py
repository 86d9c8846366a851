"""Facts about how cnndoctor built the user's model: the constructor/``build_model`` arguments."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..context import fact
from ..errors import InputError
from ..load.model import ConstructorArgument
from ..load.outputs import select_output
from ..probes.train import error_text

__all__ = ["constructor_arguments", "default_builds", "DefaultBuild"]


@fact
def constructor_arguments(ctx) -> list[ConstructorArgument]:
    """Every parameter of the constructor or ``build_model``: the value used, its source, the user's default.

    Empty for a model handed in as an instance (nothing was constructed).
    """
    return list(ctx.subject.constructor_arguments)


@dataclass(frozen=True)
class DefaultBuild:
    """What the user's own default of one filled parameter builds, measured on one batch as fed."""

    name: str
    default: object
    ran: bool  # built and ran one forward pass on the data
    error: str | None  # the exception, when it did not
    output_shape: tuple | None  # the output (the chosen logits), when it ran
    filled_shape: tuple | None  # the output of the model cnndoctor built (filled from the data)


@fact
def default_builds(ctx) -> dict[str, DefaultBuild]:
    """For every parameter filled from the data whose default disagrees: the model built with that default.

    A105 judges by this measured consequence: a default your code cannot run with, or a head of the
    wrong width, is an error; a default that builds the same model on this data is not a mismatch.
    Empty when there is nothing to compare: no such parameter, a model handed in as an instance or a
    Keras model (its layers build on their first input), or a forward pass that fails anyway (A101).
    """
    import torch

    subject = ctx.subject
    mismatched = [a for a in subject.constructor_arguments
                  if a.source == "data" and a.has_default and a.default is not None and a.default != a.value]
    if not mismatched or subject.variant_factory is None:
        return {}
    feed = ctx.feed
    if not feed.ok:  # the forward pass fails on the data (A101): nothing to run a default on
        return {}
    batch = torch.from_numpy(np.ascontiguousarray(feed.train[:_BATCH])).to(subject.device)
    filled = _output_shape(subject.build_model(), batch)
    out = {}
    for arg in mismatched:
        torch.manual_seed(subject.seed)
        try:
            model = select_output(subject.variant_factory({arg.name: arg.default}).to(subject.device), subject)
            shape, error = _output_shape(model, batch), None
        except InputError as exc:  # the constructor raised: construction_error wrapped it
            shape, error = None, str(exc).split(". The error comes from")[0]
        except Exception as exc:  # noqa: BLE001 — the forward pass of the user's model with their default
            shape, error = None, error_text(exc)
        out[arg.name] = DefaultBuild(arg.name, arg.default, error is None, error, shape, filled)
    return out


_BATCH = 4  # samples of the forward pass that runs a default (BatchNorm in eval mode needs none more)


def _output_shape(model, batch) -> tuple:
    import torch

    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(batch)
    finally:
        model.train(was)
    return tuple(int(d) for d in out.shape)
