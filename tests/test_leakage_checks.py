"""Leakage checks D201-D204 on real data with seeded faults, their clean counterparts, and the hashing."""

import numpy as np
import pytest

from cnndoctor.measure.duplicates import find_cross_duplicates, z_distance
from cnndoctor.measure.fingerprints import row_fingerprints
from cnndoctor.measure.overlap import scan_window_overlap
from tests.conftest import codes
from tests.fixtures import seeded
from tests.fixtures.data import arrowhead, gunpoint, ucr
from tests.fixtures.models import TinyCNN


def _finding(report, code):
    found = [f for f in report.findings if f.code == code]
    assert found, f"{code} did not fire: {[(c.code, str(c.status), c.reason) for c in report.checks]}"
    return found[0]


# D201 cross-split-duplicates

@pytest.mark.fires("D201")
@pytest.mark.parametrize("kind, label", [("copy", "identical"), ("scale", "rescaled_copies"),
                                         ("jitter", "near_copies")])
def test_d201_fires_when_augmenting_before_the_split(run, kind, label):
    X_train, y_train, X_test, y_test = seeded.augmented_before_split(kind)
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D201"])
    f = _finding(report, "D201")
    assert f.severity == "error"
    assert f.evidence[label] == f.evidence["duplicates"] >= 0.5 * len(X_test)
    assert f.evidence["fraction_of_test"] == pytest.approx(f.evidence["duplicates"] / len(X_test))
    for ex in f.evidence["examples"]:  # checkable by hand: the listed pair really is that close
        d = z_distance(X_test[ex["test_index"]][None, None], X_train[ex["train_index"]][None, None])[0]
        assert d == pytest.approx(ex["z_distance"], abs=1e-6) and d <= 0.1
    assert f.evidence["same_label_fraction"] == 1.0


@pytest.mark.silent("D201")
def test_d201_silent_when_augmenting_after_the_split_and_on_official_splits(run):
    X_train, y_train, X_test, y_test = seeded.augmented_after_split()
    assert codes(run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D201"])) == []
    for data in (arrowhead(), ucr("OSULeaf"), ucr("ItalyPowerDemand")):
        X_train, y_train, X_test, y_test = data
        assert codes(run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D201"])) == []


def test_near_duplicate_search_needs_no_pairwise_scan_and_finds_copies_among_many():
    rng = np.random.default_rng(0)
    X = np.cumsum(rng.standard_normal((6000, 1, 200)), axis=2).astype(np.float32)  # random walks
    X_train, X_test = X[:5000], X[5000:].copy()
    X_test[:50] = 3.0 * X_train[:50] + 1.0  # re-scaled copies
    X_test[50:100] = X_train[50:100] + 0.005 * X_train[50:100].std() * rng.standard_normal((50, 1, 200))
    scan = find_cross_duplicates(row_fingerprints(X_train, 1), row_fingerprints(X_test, 1), X_train, X_test, 1)
    assert scan.duplicate[:100].all() and not scan.duplicate[100:].any()
    assert (scan.match[:100] == np.arange(100)).all()


# D202 window-overlap-leakage

@pytest.mark.fires("D202")
@pytest.mark.parametrize("per_window_zscore", [False, True])
def test_d202_fires_on_overlapping_windows_split_at_random(run, per_window_zscore):
    X_train, y_train, X_test, y_test = seeded.leaky_windows(256, 64, per_window_zscore=per_window_zscore)
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D202"])
    f = _finding(report, "D202")
    assert f.evidence["implied_stride"] == 64
    assert f.evidence["typical_shared_steps"] == 192
    assert f.evidence["fraction_of_test_windows"] > 0.9
    ex = f.evidence["examples"][0]  # checkable by hand: shift the training window and compare
    a, b, shift = X_test[ex["test_window"], 0], X_train[ex["train_window"], 0], ex["shift"]
    shared_a = a[shift:] if shift > 0 else a[:shift]
    shared_b = b[:-shift] if shift > 0 else b[-shift:]
    assert len(shared_a) == ex["shared_steps"]
    assert np.corrcoef(shared_a, shared_b)[0, 1] > 0.9999
    assert "split" in f.fix.lower() and "stride=64" in f.snippet


@pytest.mark.silent("D202")
@pytest.mark.parametrize("per_window_zscore", [False, True])
def test_d202_silent_when_split_by_time_before_windowing(run, per_window_zscore):
    X_train, y_train, X_test, y_test = seeded.clean_windows(256, 64, per_window_zscore=per_window_zscore)
    assert codes(run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D202"])) == []


@pytest.mark.silent("D202")
def test_d202_silent_on_separate_recordings(run):
    X_train, y_train, X_test, y_test = gunpoint()
    assert codes(run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D202"])) == []


def test_window_scan_finds_shifted_stretches_at_any_shift():
    rec = seeded.daphnet()[2]
    starts = np.arange(0, 5000, 37)  # an odd stride: shifts are not aligned to anything
    W = np.stack([rec[s:s + 300] for s in starts])
    scan = scan_window_overlap(W[::2], W[1::2], rescaled=False)
    assert scan.fraction == 1.0 and np.gcd.reduce(np.abs(scan.shift)) == 37


# D203 split-label-mismatch

@pytest.mark.fires("D203")
def test_d203_fires_on_a_split_of_data_sorted_by_label(run):
    X_train, y_train, X_test, y_test = seeded.sorted_unshuffled_split("OSULeaf")
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D203"])
    f = _finding(report, "D203")
    assert f.severity == "error"  # a test class never seen in training
    assert f.evidence["only_in_test"] == [5]
    assert f.evidence["missing_from_test"] == [0, 1, 2, 3]
    assert "stratify=y" in f.snippet


@pytest.mark.silent("D203")
def test_d203_silent_on_official_splits(run):
    for data in (ucr("OSULeaf"), ucr("ItalyPowerDemand"), arrowhead()):
        X_train, y_train, X_test, y_test = data
        assert codes(run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D203"])) == []


# D204 group-overlap

@pytest.mark.fires("D204")
def test_d204_fires_when_sessions_straddle_the_split(run):
    X_train, y_train, X_test, y_test, g_train, g_test = seeded.session_windows(by_group=False)
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), groups=(g_train, g_test), select=["D204"])
    f = _finding(report, "D204")
    shared = np.intersect1d(g_train, g_test)
    assert f.evidence["shared_groups"] == len(shared) and f.evidence["examples"][0] == shared[0]
    assert f.evidence["test_fraction_in_shared_groups"] == pytest.approx(np.isin(g_test, shared).mean())
    assert "GroupShuffleSplit" in f.snippet


@pytest.mark.silent("D204")
def test_d204_silent_when_whole_sessions_are_held_out(run):
    X_train, y_train, X_test, y_test, g_train, g_test = seeded.session_windows(by_group=True)
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), groups=(g_train, g_test), select=["D204"])
    assert codes(report) == [] and report.checks[0].status == "passed"
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D204"])
    assert report.checks[0].status == "skipped" and "groups" in report.checks[0].reason
