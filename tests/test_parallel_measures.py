"""The costly data measurements give the same numbers on any thread count (measure/parallel), share their
features while the arrays live (features_of), and spend their samples where the verdict needs them (A201's
first look, L106's whole-split confident learning)."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from cnndoctor.measure import baselines, local_baselines, stats, temporal
from cnndoctor.measure.label_noise import label_noise
from cnndoctor.measure.parallel import row_parts, using_workers, workers
from tests.fixtures.data import ucr


def _series(n=700, channels=3, length=400, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    t = np.linspace(0, 1, length)
    X = np.sin(2 * np.pi * (2 + y[:, None, None]) * t + rng.uniform(0, 6, (n, channels, 1)))
    return X + 0.8 * rng.standard_normal((n, channels, length)), y


def test_measurements_are_identical_on_one_two_and_three_threads():
    X, y = _series()
    X32 = X.astype(np.float32)
    X32[5, 1, 7] = np.nan
    results = {}
    for n in (1, 2, 3):
        with using_workers(n):
            assert workers() == n
            results[n] = {
                "summary": baselines.summary_features(X),
                "conv": baselines.conv_features(X, 0),
                "nn": baselines.nn_representation(X),
                "order": temporal.order_structure(X[:300]),
                "stats": stats.array_stats(X32, 1),
                "ladder": local_baselines.local_baselines(X[:400], y[:400], X[400:], y[400:], 12, seed=0),
            }
    one = results[1]
    for n in (2, 3):
        other = results[n]
        for key in ("summary", "conv", "nn"):
            assert np.array_equal(one[key], other[key]), key
        assert one["order"] == other["order"]
        for field in ("count", "mean", "std", "min", "max", "samples_with_nonfinite"):
            assert np.array_equal(getattr(one["stats"], field), getattr(other["stats"], field), equal_nan=True)
        assert one["stats"].n_nan == other["stats"].n_nan == 1
        assert [s.correct for s in one["ladder"].ladder] == [s.correct for s in other["ladder"].ladder]
    assert workers() == 1  # outside the block


def test_row_parts_cover_every_row_once():
    with using_workers(3):
        parts = row_parts(1000)
        assert len(parts) == 3 and parts[0].start == 0 and parts[-1].stop == 1000
        assert all(a.stop == b.start for a, b in zip(parts, parts[1:]))
        assert row_parts(130) == [slice(0, 65), slice(65, 130)]  # at least 64 rows a part: fewer parts
        assert row_parts(10) == [slice(0, 10)]


def test_facts_measure_on_the_probes_thread_count():
    from cnndoctor.probes.threads import using_threads

    with using_threads(2):
        assert workers() == 2
    with using_threads(1):
        assert workers() == 1


def test_features_are_computed_once_while_their_array_lives():
    X, _ = _series(n=200)
    first = baselines.features_of(X, "summary")
    assert baselines.features_of(X, "summary") is first and not first.flags.writeable
    assert np.array_equal(first, baselines.summary_features(X))
    conv = baselines.features_of(X, "conv", 0)
    assert baselines.features_of(X, "conv", 1) is not conv  # another seed draws other kernels
    key = (id(X), "summary", 0)
    assert key in baselines._FEATURES
    del X
    gc.collect()
    assert key not in baselines._FEATURES  # the entry goes with its array


def _ladder_inputs(n=1200, length=300, seed=0):
    """Two classes told apart by the sign of one slow sine over the whole series, under noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    wave = np.sin(2 * np.pi * np.linspace(0, 1, length))
    X = 0.6 * np.where(y[:, None] == 1, 1.0, -1.0) * wave + rng.standard_normal((n, length))
    return X[:600, None], y[:600], X[600:, None], y[600:]


def test_a201_first_look_settles_a_clear_case_on_half_the_samples():
    Xtr, ytr, Xte, yte = _ladder_inputs()
    asked = []

    def settled(first):
        asked.append(first.n_test)
        return first.settled(z=2.0, min_share=0.5)

    lb = local_baselines.local_baselines(Xtr, ytr, Xte, yte, 3, seed=0, settled=settled)
    # 3-sample windows against a sine spanning the series: far past the line, so the first look decides
    assert asked == [256] and lb.n_test == 256 and lb.n_train == 256
    assert lb.fires(z=2.0, min_share=0.5)
    full = local_baselines.local_baselines(Xtr, ytr, Xte, yte, 3, seed=0)
    assert full.n_test == 512 and full.fires(z=2.0, min_share=0.5)


def test_a201_first_look_falls_back_to_every_sample_when_unsettled():
    Xtr, ytr, Xte, yte = _ladder_inputs()
    lb = local_baselines.local_baselines(Xtr, ytr, Xte, yte, 3, seed=0, settled=lambda first: False)
    full = local_baselines.local_baselines(Xtr, ytr, Xte, yte, 3, seed=0)
    # the second look is exactly the single-look measurement
    assert lb.n_test == 512 and [s.correct for s in lb.ladder] == [s.correct for s in full.ladder]


def test_a201_settled_needs_the_verdict_to_hold_across_the_margin():
    Xtr, ytr, Xte, yte = _ladder_inputs()
    lb = local_baselines.local_baselines(Xtr, ytr, Xte, yte, 3, seed=0, max_samples=256)
    gap, se = lb.shortfall(lb.local)
    above = lb.whole.balanced_accuracy - lb.chance
    share = gap / above
    assert lb.settled(z=2.0, min_share=0.5)  # far from the line
    # a min_share at the measured share: the verdict flips within the margin, so nothing is settled
    assert not lb.settled(z=2.0, min_share=share)
    assert lb.settled(z=2.0, min_share=(gap + 3.5 * se) / above)  # passes even at the top of the margin


def test_l106_whole_split_confident_learning_runs_only_when_read():
    from contextlib import contextmanager

    X, y, Xt, yt = ucr("GunPoint")
    entered = []

    @contextmanager
    def within():  # the fact passes its fixed thread count here
        entered.append(workers())
        yield

    # GunPoint's 150-series split as the training split: larger than the 50 both splits are compared at, so the
    # comparison draws from it and never needs confident learning on all of it
    X, y, Xt, yt = Xt[:, None].astype(float), yt, X[:, None].astype(float), y
    measured = label_noise(X, y, Xt, yt, seed=0, within=within)
    assert measured.train_split.draws > 1
    assert "train" not in measured.__dict__ and entered == []
    issues = measured.train.issues  # read later, outside any fact: run inside ``within`` all the same
    assert entered == [1] and "train" in measured.__dict__ and measured.train.issues is issues
    again = label_noise(X, y, Xt, yt, seed=0)
    assert np.array_equal(again.train.issues, issues) and again.train_split == measured.train_split
    # a training split of exactly the compared size is its own single draw: confident learning on it runs at once,
    # inside the fact, and the later read reuses it
    entered.clear()
    small = label_noise(Xt, yt, X, y, seed=0, within=within)
    assert small.train_split.draws == 1 and entered == [1]
    small.train.issues
    assert entered == [1]


@pytest.mark.parametrize("n_workers", [2])
def test_conv_features_part_boundaries_do_not_move_numbers(n_workers):
    X, _ = _series(n=1100, length=200)  # more rows than the 512-row chunks, split unevenly into parts
    with using_workers(1):
        one = baselines.conv_features(X, 3)
    with using_workers(n_workers):
        assert np.array_equal(baselines.conv_features(X, 3), one)


def test_sync_chunks_hold_no_more_than_one_chunk_and_spare_readers_that_cannot_share():
    import threading

    from cnndoctor.load.big import ArraySource
    from cnndoctor.measure.cluster import SplitJob, summarize_splits
    from cnndoctor.measure.parallel import MAX_WORKERS

    X, y = _series(n=600, channels=2, length=100)
    X = X.astype(np.float32)
    row = X[0].nbytes
    chunk = 80 * row
    counts = {}
    for n in (1, 2):
        with using_workers(n):
            counts[n] = summarize_splits([SplitJob("train", ArraySource(X), y)], chunk_bytes=chunk,
                                         scheduler="sync").chunks
    # pieces of a MAX_WORKERS-th of a chunk, whatever the thread count
    assert counts[1] == counts[2] == -(-600 // (80 // MAX_WORKERS))

    class Reader:  # an array-like of the user's own, which two threads must not read at once
        def __init__(self, array):
            self.array, self.shape, self.dtype = array, array.shape, array.dtype
            self.active, self.most = 0, 0
            self.lock = threading.Lock()

        def __getitem__(self, index):
            with self.lock:
                self.active += 1
                self.most = max(self.most, self.active)
            try:
                return self.array[index].copy()
            finally:
                with self.lock:
                    self.active -= 1

    reader = Reader(X)
    source = ArraySource(reader)
    assert not source.concurrent_reads and ArraySource(X).concurrent_reads
    with using_workers(3):
        summarize_splits([SplitJob("train", source, y)], chunk_bytes=chunk, scheduler="sync")
    assert reader.most == 1
