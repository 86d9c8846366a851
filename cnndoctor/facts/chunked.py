"""Facts of data beyond the memory budget (``Data.full``, load/big.py): the chunk summaries of the whole splits.

The data facts (``input_stats``, ``raw_stats``, ``series_stats``, ``constant_inputs``, ``label_distribution``,
``cross_split_duplicates``, ``group_overlap``) read these instead of the in-memory sample when the data is big;
everything else runs on the sample.
"""

from __future__ import annotations

from ..context import fact
from ..errors import FactUnavailable, InputError
from ..load.labels import Labels, encode_labels
from ..measure.cluster import Run, SplitJob, summarize_splits

__all__: list[str] = []


def _full(ctx):
    full = ctx.data.full
    if full is None:
        raise FactUnavailable("the data fits in the memory budget: its statistics run on the arrays in memory")
    return full


@fact
def full_labels(ctx) -> Labels:
    """The labels of every row of both splits, encoded as the sample's are."""
    full = _full(ctx)
    return encode_labels(full.y_train, full.y_test)


def _run(ctx, *, preprocess) -> Run:
    full = _full(ctx)
    labels = ctx.full_labels
    axis = ctx.series_channel_axis if len(full.X_train.shape) == 3 else None
    jobs = [SplitJob("train", full.X_train, labels.train, full.groups_train)]
    if full.X_test is not None:
        jobs.append(SplitJob("test", full.X_test, labels.test, full.groups_test))
    try:
        run = summarize_splits(jobs, chunk_bytes=full.chunk_bytes, channel_axis=axis, preprocess=preprocess,
                               scheduler=full.scheduler)
    except (OSError, TimeoutError) as exc:
        raise InputError(f"The Dask scheduler {full.scheduler!r} could not be reached or failed "
                         f"({type(exc).__name__}: {exc}). Give the address of a running scheduler "
                         "(tcp://host:8786), 'local' for a LocalCluster, or 'sync' to run in this process.") from None
    rows = full.n_train + full.n_test
    how = " after your preprocessing, applied chunk by chunk" if preprocess is not None else ""
    ctx.note(f"Data statistics{how}: all {rows:,} rows in {run.chunks} chunks, {run.engine}.")
    return run


@fact
def chunk_statistics(ctx) -> Run:
    """Per split, the merged chunk summary of what the model sees (after ``preprocess`` and the steps fitted
    on the training split) over every row."""
    return _run(ctx, preprocess=_model_view(ctx))


def _model_view(ctx):
    """``preprocess`` then the transform fitted on the training split (fitted once, on the sample in memory),
    as one function of a chunk; None when the model sees the stored rows."""
    pre, transform = ctx.subject.preprocess, ctx.train_fitted_transform
    if transform is None:
        return pre
    if pre is None:
        return transform
    return lambda chunk: transform(pre(chunk))


@fact
def stored_chunk_statistics(ctx) -> Run:
    """The same over the stored rows (without ``preprocess``; equal to ``chunk_statistics`` without one)."""
    if not ctx.subject.has_preprocess:
        return ctx.chunk_statistics
    return _run(ctx, preprocess=None)

