"""The user's optimizer as the probes run it (read once by ``Subject``; see ``cnndoctor.load.optimizers``)."""

from __future__ import annotations

from ..context import fact
from ..load.optimizers import OptimizerSettings, read_optimizer

__all__ = ["optimizer_settings"]


@fact
def optimizer_settings(ctx) -> OptimizerSettings:
    """The optimizer class and hyperparameters of the user's run, for the checks that quote them."""
    subject = ctx.subject
    if subject.optimizer_settings is not None:
        return subject.optimizer_settings
    return read_optimizer(subject.optimizer, lambda: subject.build_model().parameters(), lr=subject.lr,
                          where=subject.settings_source.get("optimizer", "default"))
