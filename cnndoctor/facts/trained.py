"""The user's trained weights (``--weights``, ``diagnose(..., reinit=False)``) measured on the data as they are.

The measuring lives in ``cnndoctor.probes.trained``; this fact wires it to the context: the arrays as
fed (``probe_data``), the budget's evaluation slices and the user's batch size. Without trained
weights the fact is ``None``, so checks that judge both fresh-weight probes and trained weights
(T105, T206, T207, T208) still run on the probes alone.
"""

from __future__ import annotations

from ..context import fact
from ..probes.eval import eval_indices
from ..probes.trained import TrainedEval, measure_trained

__all__ = ["trained_weights"]


@fact
def trained_weights(ctx) -> TrainedEval | None:
    """Predictions, dead units, BatchNorm fit and the train/eval-mode gap of the trained weights; None
    without any. Slices: the same seeded samples the training probe evaluates on."""
    subject = ctx.subject
    if getattr(subject, "trained", None) is None:
        return None
    data, b = ctx.probe_data, ctx.probe_budget
    train_idx = eval_indices(data.n_train, b.eval_samples, subject.seed + 1)
    test_idx = eval_indices(data.n_test, b.eval_samples, subject.seed + 2) if data.n_test else None
    if ctx.progress is not None:
        ctx.progress("trained weights")
    return measure_trained(subject.build_trained_model(), data, train_idx, test_idx,
                           batch_size=subject.batch_size, label=subject.trained.label,
                           source=subject.trained.source)
