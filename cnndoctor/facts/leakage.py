"""Facts about leakage between the splits: duplicated samples, overlapping windows, shared groups."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..context import fact
from ..errors import FactUnavailable
from ..measure.chunked import verified_exact_matches
from ..measure.duplicates import DuplicateScan, find_cross_duplicates
from ..measure.fingerprints import RowFingerprints, channels_first, row_fingerprints
from ..measure.overlap import OverlapScan, looks_rescaled_per_window, scan_window_overlap
from ..probes.budget import probe_budget_for

__all__ = ["GroupOverlap", "WindowOverlap"]

_RESCALED_ALWAYS_BELOW = 4_000_000  # training values below which the per-window-scaling scan always runs


def _test_split(ctx) -> np.ndarray:
    X = ctx.inputs.get("test")
    if X is None:
        raise FactUnavailable("there is no test split to compare with")
    return X


@fact
def row_fingerprints_by_split(ctx) -> dict[str, RowFingerprints]:
    """Per-sample fingerprints (per-channel mean/std, exact key, z-projection) of each split."""
    axis = ctx.series_channel_axis
    return {split: row_fingerprints(X, axis, seed=ctx.subject.seed) for split, X in ctx.inputs.items()}


@fact
def cross_split_duplicates(ctx) -> DuplicateScan:
    """Test samples that are exact or near copies of training samples (hashing, no pairwise scan)."""
    X_test = _test_split(ctx)
    fps = ctx.row_fingerprints_by_split
    scan = find_cross_duplicates(fps["train"], fps["test"], ctx.inputs["train"], X_test,
                                 ctx.series_channel_axis, seed=ctx.subject.seed)
    if ctx.data.full is not None:  # exact copies among all rows; near copies among the sampled ones
        scan = _all_rows_duplicates(ctx, scan)
    for note in scan.notes:
        ctx.note(f"D201: {note}.")
    return scan


def _all_rows_duplicates(ctx, sampled: DuplicateScan) -> DuplicateScan:
    """D201's scan over every row of data beyond the memory budget: exact copies from the chunk summaries' row
    hashes (verified on the rows), near copies from the scan of the sample, placed at the rows they sample."""
    full = ctx.data.full
    run = ctx.chunk_statistics
    train, test = run.summaries["train"], run.summaries["test"]
    ti, tj = verified_exact_matches(train, test, full.X_train, full.X_test, preprocess=ctx.subject.preprocess)
    n_test = test.n_rows
    exact = np.zeros(n_test, dtype=bool)
    match = np.full(n_test, -1, dtype=np.int64)
    distance = np.full(n_test, np.nan)
    ratio = np.full(n_test, np.nan)
    exact[ti], match[ti], distance[ti] = True, tj, 0.0
    near = np.zeros(n_test, dtype=bool)
    rows_test, rows_train = full.sample_test, full.sample_train
    found = np.flatnonzero(sampled.near)
    at = rows_test[found]
    fresh = ~exact[at]
    at, found = at[fresh], found[fresh]
    near[at] = True
    match[at] = rows_train[sampled.match[found]]
    distance[at], ratio[at] = sampled.distance[found], sampled.ratio[found]
    dup = np.flatnonzero(exact | near)
    labels = ctx.full_labels
    same = float(np.mean(labels.test[dup] == labels.train[match[dup]])) if len(dup) else None
    notes = [*sampled.notes, f"exact copies were looked for among all {n_test:,} {ctx.data.test_name} and "
             f"{train.n_rows:,} training rows (row hashes); near copies only between the {len(rows_test):,} and "
             f"{len(rows_train):,} sampled rows, so their count is a lower bound"]
    return DuplicateScan(n_test, train.n_rows, exact, near, match, distance, ratio, int((~test.usable).sum()),
                         sampled.ratio_sampled, sampled.ratio_candidates, sampled.extrapolated, notes,
                         same_label=same)


@dataclass(frozen=True)
class WindowOverlap:
    scan: OverlapScan
    channel: int
    n_channels: int
    time_axis_source: str
    tried: tuple  # modes scanned, in order


def _pick_channel(ctx) -> int:
    """The channel whose samples vary most often (ties: the larger typical spread)."""
    fp = ctx.row_fingerprints_by_split["train"]
    if fp.n_channels == 1:
        return 0
    varied = (fp.std > 0).mean(axis=0)
    spread = np.nanmedian(np.where(fp.std > 0, fp.std / (np.abs(fp.mean) + fp.std), np.nan), axis=0)
    return int(np.lexsort((-np.nan_to_num(spread), -varied))[0])


@fact
def window_overlap(ctx) -> WindowOverlap:
    """Stretches of signal shared by test and training windows at any shift (see cnndoctor.measure.overlap)."""
    X_test = _test_split(ctx)
    X_train = ctx.inputs["train"]
    data_axis = ctx.data_time_axis if ctx.has("data_time_axis") else None
    axis = ctx.series_channel_axis
    source = "temporal continuity of the data" if data_axis is not None else "data layout"
    V_train, V_test = channels_first(X_train, axis), channels_first(X_test, axis)
    if V_train.shape[2] < 16:
        raise FactUnavailable(f"the series are {V_train.shape[2]} steps long, too short to be cut windows")
    channel = _pick_channel(ctx)
    S_train, S_test = V_train[:, channel, :], V_test[:, channel, :]
    max_test = probe_budget_for(ctx.budget).overlap_test_windows
    seed = ctx.subject.seed
    scan = scan_window_overlap(S_train, S_test, rescaled=False, max_test=max_test, seed=seed)
    tried = ("exact",)
    if not scan.leaked.any():
        fp = ctx.row_fingerprints_by_split["train"]
        rescaled = looks_rescaled_per_window(fp.mean[:, channel], fp.std[:, channel])
        if rescaled or S_train.size <= _RESCALED_ALWAYS_BELOW:
            scan = scan_window_overlap(S_train, S_test, rescaled=True, max_test=max_test, seed=seed)
            tried = ("exact", "rescaled")
    for note in scan.notes:
        ctx.note(f"D202: {note}.")
    return WindowOverlap(scan, channel, V_train.shape[1], source, tried)


@dataclass(frozen=True)
class GroupOverlap:
    n_train_groups: int
    n_test_groups: int
    shared: np.ndarray  # group ids present in both splits
    test_fraction: float  # share of test samples whose group is also in train
    train_fraction: float


@fact
def group_overlap(ctx) -> GroupOverlap:
    """Group (recording, subject) ids shared by the training and test splits."""
    data = ctx.data
    g_train, g_test = data.groups_train, data.groups_test
    if data.full is not None:  # every row's group: the chunk summaries' distinct ids, merged
        return _all_rows_groups(ctx)
    if g_train is None or g_test is None:
        raise FactUnavailable("no groups_train/groups_test were given (recording or subject ids)")
    g_train, g_test = np.asarray(g_train).ravel(), np.asarray(g_test).ravel()
    if len(g_train) != len(data.X_train) or data.X_test is None or len(g_test) != len(data.X_test):
        raise FactUnavailable(f"groups_train has {len(g_train)} ids for {len(data.X_train)} training samples and "
                              f"groups_test {len(g_test)} for {0 if data.X_test is None else len(data.X_test)} test "
                              "samples; there must be one id per sample")
    if g_train.dtype.kind != g_test.dtype.kind and {g_train.dtype.kind, g_test.dtype.kind} - set("iuf"):
        g_train, g_test = g_train.astype(str), g_test.astype(str)
    shared = np.intersect1d(g_train, g_test)
    return GroupOverlap(len(np.unique(g_train)), len(np.unique(g_test)), shared,
                        float(np.isin(g_test, shared).mean()), float(np.isin(g_train, shared).mean()))


def _all_rows_groups(ctx) -> GroupOverlap:
    full = ctx.data.full
    if full.groups_train is None or full.groups_test is None:
        raise FactUnavailable("no groups_train/groups_test were given (recording or subject ids)")
    g_train, g_test = np.asarray(full.groups_train).ravel(), np.asarray(full.groups_test).ravel()
    if len(g_train) != full.n_train or len(g_test) != full.n_test:
        raise FactUnavailable(f"groups_train has {len(g_train)} ids for {full.n_train} training samples and "
                              f"groups_test {len(g_test)} for {full.n_test} test samples; there must be one id "
                              "per sample")
    summaries = ctx.chunk_statistics.summaries
    ids_train, ids_test = summaries["train"].groups, summaries["test"].groups
    if ids_train.dtype.kind != ids_test.dtype.kind and {ids_train.dtype.kind, ids_test.dtype.kind} - set("iuf"):
        ids_train, ids_test, g_train, g_test = (a.astype(str) for a in (ids_train, ids_test, g_train, g_test))
    shared = np.intersect1d(ids_train, ids_test)
    return GroupOverlap(len(ids_train), len(ids_test), shared, float(np.isin(g_test, shared).mean()),
                        float(np.isin(g_train, shared).mean()))
