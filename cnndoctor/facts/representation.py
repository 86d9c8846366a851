"""Facts about what the layers pass on: stacked linear layers and what they cost (A202), the narrowest
per-sample feature vector before the classifier (A206), and whether samples of a batch mix (A208)."""

from __future__ import annotations

import numpy as np

from ..context import fact
from ..errors import FactUnavailable
from ..trace.bottleneck import FeatureWidth, narrowest_features
from ..trace.composition import PairCost, pair_costs
from ..trace.mixing import BatchMixing, measure_batch_mixing

__all__ = ["MIXING_BATCH"]

# Samples in the batch A208 perturbs: enough that a recurrence over the batch axis reaches several others,
# small enough to cost a few forward passes. 7 is prime, so the batch axis rarely shares its size with another.
MIXING_BATCH = 7


@fact
def linear_pairs(ctx) -> list[PairCost]:
    """Every pair of linear layers with only linear operations between them, with both parameter counts."""
    trace = ctx.shape_trace
    return pair_costs(trace, trace.linear_pairs)


@fact
def feature_bottleneck(ctx) -> FeatureWidth:
    """The narrowest per-sample feature vector read between the time axis and the output layer."""
    if not ctx.feed.ok:
        raise FactUnavailable("the forward pass fails (see A101)")
    found = narrowest_features(ctx.shape_trace)
    if found is None:
        raise FactUnavailable("no per-sample feature vector is read before the output layer (the head keeps "
                              "the time axis, or no layer with weights follows the last temporal feature map)")
    return found


def _donor(X: np.ndarray, n: int, seed: int) -> np.ndarray:
    """A real sample outside the batch that differs from sample 0; noise of the data's scale when none does."""
    for i in range(n, len(X)):
        if not np.array_equal(X[i], X[0]):
            return X[i]
    rng = np.random.default_rng(seed)
    return X[0] + rng.normal(0.0, float(np.std(X[:n])) or 1.0, size=X[0].shape).astype(X.dtype)


@fact
def batch_mixing(ctx) -> BatchMixing:
    """The other samples' output change when one sample of an eval-mode batch is replaced (and the floor)."""
    import torch

    feed = ctx.feed
    if not feed.ok:
        raise FactUnavailable("the forward pass fails (see A101)")
    X = feed.train
    n = min(MIXING_BATCH, len(X) - 1)
    if n < 2:
        raise FactUnavailable(f"{len(X)} training samples: a batch of two and a replacement are needed")
    device = ctx.subject.device
    batch = feed.tensor("train", slice(0, n), device)
    donor = torch.from_numpy(np.ascontiguousarray(_donor(X, n, ctx.subject.seed), dtype=np.float32)).to(device)
    limits = ctx.thresholds_for("A208")
    model = ctx.subject.build_model()
    from ..keras.support import is_keras_model

    return measure_batch_mixing(model, batch, donor, ctx.subject.seed,
                                lambda floor: max(limits["min_change"], limits["floor_factor"] * floor),
                                locate=not is_keras_model(model))
