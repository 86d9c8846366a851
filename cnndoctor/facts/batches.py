"""Facts about the batches of the user's own training DataLoader: their class composition, in its order."""

from __future__ import annotations

from dataclasses import dataclass

from ..context import fact
from ..errors import FactUnavailable
from ..load.torch_data import LoaderBatches
from ..measure.batches import BatchPurity, batch_purity

__all__ = ["LoaderOrder"]


@dataclass(frozen=True)
class LoaderOrder:
    purity: BatchPurity
    loader: LoaderBatches
    probes_follow: bool = False  # the training probes replay this order (load/batch_order.py), not a shuffle


@fact
def loader_batch_purity(ctx) -> LoaderOrder:
    """Class purity of the first batches the training DataLoader yields, next to shuffled batches."""
    batches = ctx.subject.loader_batches
    if batches is None:
        raise FactUnavailable("the training data was not given as a DataLoader, and no model file sets shuffle = "
                              "False: cnndoctor's own probes shuffle the arrays, so only a DataLoader of yours (or "
                              "a loop described as unshuffled) has an order to judge")
    if batches.unavailable:
        raise FactUnavailable(batches.unavailable)
    labels = ctx.labels
    if labels.kind == "float":
        raise FactUnavailable("the labels are continuous values, not classes; batch class purity needs classes")
    if labels.n_classes < 2:
        raise FactUnavailable("the training labels hold a single class")
    return LoaderOrder(batch_purity(batches.labels, labels.raw_train, seed=ctx.subject.seed), batches,
                       ctx.subject.batch_order is not None)
