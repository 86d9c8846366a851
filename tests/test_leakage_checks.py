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


# D205 class-ordered-batches

def _sorted_loader(name: str, *, batch_size: int, **kw):
    """The training split of a UCR set sorted by class, as a user's TensorDataset in a DataLoader."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    X_train, y_train, X_test, y_test = ucr(name)
    order = np.argsort(y_train, kind="stable")
    X_train, X_test = (X_train[:, None], X_test[:, None]) if X_train.ndim == 2 else (X_train, X_test)
    data = TensorDataset(torch.from_numpy(X_train[order]), torch.from_numpy(y_train[order]))
    return DataLoader(data, batch_size=batch_size, **kw), (X_test, y_test), y_train[order]


@pytest.mark.fires("D205")
def test_d205_fires_on_a_class_sorted_set_read_without_shuffling(run):
    import torch

    loader, test, y_sorted = _sorted_loader("OSULeaf", batch_size=16)
    report = run(lambda: TinyCNN(1, 6), loader, test, select=["D205"])
    f = _finding(report, "D205")
    assert f.severity == "error" and f.evidence["sampler"] == "SequentialSampler"
    # checkable by hand: the first batches are consecutive runs of the sorted labels (the last, partial, left out)
    batches = [y_sorted[i:i + 16] for i in range(0, len(y_sorted), 16)][:-1]
    purity = [np.bincount(b).max() / 16 for b in batches]
    assert f.evidence["batches_inspected"] == len(batches) == 12 and f.evidence["partial_last_batch_left_out"]
    assert f.evidence["mean_purity"] == pytest.approx(np.mean(purity))
    assert f.evidence["single_class_fraction"] == pytest.approx(np.mean([p == 1 for p in purity]))
    assert f.evidence["class_run_fraction"] == 1.0
    largest = np.bincount(y_sorted).max() / len(y_sorted)  # a shuffled batch is at least this pure, on average
    assert largest <= f.evidence["expected_purity_if_shuffled"] < 0.6 < f.evidence["mean_purity"]
    assert f.evidence["z"] >= f.evidence["min_z"] and "shuffle=True" in f.snippet
    assert f.evidence["expected_purity_if_shuffled"] == run(lambda: TinyCNN(1, 6), loader, test, select=["D205"]
                                                            ).findings[0].evidence["expected_purity_if_shuffled"]
    # the user's loader is left as it was: it still yields the sorted labels from the start
    assert torch.equal(next(iter(loader))[1], torch.from_numpy(y_sorted[:16]))


@pytest.mark.fires("D205")
def test_d205_warns_on_a_custom_batch_sampler_that_mostly_keeps_classes_together(run):
    """Batches of one class each, but every fourth batch mixed: a class-bucketing sampler, a warning."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    X_train, y_train, X_test, y_test = ucr("BasicMotions")
    rng = np.random.default_rng(0)
    by_class = [rng.permutation(np.flatnonzero(y_train == c)) for c in np.unique(y_train)]  # 10 per class
    batches = [list(idx[i:i + 5]) for idx in by_class for i in (0, 5)]  # 8 single-class batches of 5
    mixed = rng.permutation(len(y_train))
    batches = [b for pair in zip(batches[::2], batches[1::2], [list(mixed[i:i + 5]) for i in range(0, 20, 5)])
               for b in pair]
    data = TensorDataset(torch.from_numpy(X_train), torch.from_numpy(y_train))
    report = run(lambda: TinyCNN(6, 4), DataLoader(data, batch_sampler=batches), (X_test, y_test), select=["D205"])
    f = _finding(report, "D205")
    assert f.severity == "warning" and f.evidence["custom_batch_sampler"] and f.evidence["sampler"] == "list"
    assert f.evidence["batches_inspected"] == 12 and f.evidence["batch_size"] is None
    assert f.evidence["single_class_fraction"] >= 8 / 12 and f.evidence["class_run_fraction"] < 1.0
    assert "batch_sampler" in f.fix


@pytest.mark.silent("D205")
def test_d205_silent_when_shuffled_on_a_file_order_and_skipped_for_arrays(run):
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    loader, test, _ = _sorted_loader("OSULeaf", batch_size=16, shuffle=True)
    report = run(lambda: TinyCNN(1, 6), loader, test, select=["D205"])
    assert codes(report) == [] and report.checks[0].status == "passed"
    X_train, y_train, X_test, y_test = gunpoint()  # the UCR file's own order, read in order: mixed classes
    ordered = DataLoader(TensorDataset(torch.from_numpy(X_train), torch.from_numpy(y_train)), batch_size=8)
    report = run(TinyCNN, ordered, (X_test, y_test), select=["D205"])
    assert codes(report) == [] and report.checks[0].status == "passed"
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D205"])
    assert report.checks[0].status == "skipped" and "DataLoader" in report.checks[0].reason


def test_d205_is_the_primary_cause_of_an_end_to_end_run_on_a_sorted_loader(run):
    """The whole diagnosis (every check, the probes) of a healthy model fed through an unshuffled sorted loader."""
    loader, test, _ = _sorted_loader("GunPoint", batch_size=8)
    report = run(TinyCNN, loader, test, budget="quick")
    assert report.primary is not None and report.primary.code == "D205"
    assert next(f for f in report.findings if f.code == "D205").severity == "error"


@pytest.mark.fires("D205")
def test_d205_leads_a_probe_that_replays_the_users_order_and_shuffling_is_verified(run):
    """BasicMotions sorted by class, read 4 at a time without shuffling: the training probe replays that order
    (the settings block says so), ends on the last class seen, and shuffled batches measurably fix it."""
    loader, test, _ = _sorted_loader("BasicMotions", batch_size=4)
    report = run(lambda: TinyCNN(6, 4), loader, test, budget="quick", lr=0.01)
    assert report.primary is not None and report.primary.code == "D205"
    assert report.subject["settings"]["batches"] == {"value": "your DataLoader's order (SequentialSampler)",
                                                         "source": "DataLoader"}
    f = _finding(report, "D205")
    assert f.severity == "error" and f.evidence["probe_follows_loader_order"] is True
    assert "replays this order" in f.message
    v = f.verified
    assert v["fix"].startswith("shuffling the training batches") and v["steps"] == 40
    # 4 balanced classes (chance 25%): the ordered probe stays near the last class's share, shuffled it learns
    assert v["before"] < 0.5 and v["after"] >= v["before"] + 0.2 and v["loss_after"] < v["loss_before"]


@pytest.mark.silent("D205")
def test_d205_silent_and_the_probes_keep_their_shuffle_for_a_shuffled_loader(run):
    loader, test, _ = _sorted_loader("BasicMotions", batch_size=4, shuffle=True)
    report = run(lambda: TinyCNN(6, 4), loader, test, select=["D205"])
    assert codes(report) == [] and report.checks[0].status == "passed"
    assert report.subject["settings"]["batches"] == {"value": "shuffled (cnndoctor)",
                                                         "source": "DataLoader (RandomSampler: shuffle=True)"}


def test_d205_says_when_the_probes_could_not_follow_the_users_order(run):
    """Without a test set cnndoctor splits the rows itself: they no longer map onto the Dataset's indices."""
    loader, _, _ = _sorted_loader("BasicMotions", batch_size=4)
    report = run(lambda: TinyCNN(6, 4), loader, None, select=["D205"])
    f = _finding(report, "D205")
    assert f.evidence["probe_follows_loader_order"] is False and "could not follow" in f.message
    assert report.subject["settings"]["batches"]["value"].startswith("shuffled (cnndoctor): your DataLoader")
    assert any("could not follow your DataLoader's order (SequentialSampler)" in n for n in report.notes)


# D205 on the command line: a model file that describes its loop as unshuffled (`shuffle = False`)

_LOOP_MODEL = """
from tests.fixtures.models import TinyCNN


def build_model(in_channels, num_classes):
    return TinyCNN(in_channels, num_classes)


batch_size = 4
lr = 0.01
"""


def _cli_report(tmp_path, capsys, arrays: dict, loop: str, *args) -> dict:
    """``cnndoctor run model.py data.npz --format json``: the report of a real command-line run."""
    import json

    from cnndoctor.cli import main

    (tmp_path / "model.py").write_text(_LOOP_MODEL + loop)
    np.savez(tmp_path / "data.npz", **arrays)
    main(["run", str(tmp_path / "model.py"), str(tmp_path / "data.npz"), "--format", "json", "-q", "--isolated",
          "--device", "cpu", *args])
    return json.loads(capsys.readouterr().out)


def _class_sorted_basicmotions(*, seed: int | None = None) -> dict:
    """BasicMotions' training split sorted by class (10 series per class), or put in a seeded mixed order."""
    X_train, y_train, X_test, y_test = ucr("BasicMotions")
    order = (np.argsort(y_train, kind="stable") if seed is None else
             np.random.default_rng(seed).permutation(len(y_train)))
    return {"X_train": X_train[order], "y_train": y_train[order], "X_test": X_test, "y_test": y_test}


def _cli_finding(report: dict, code: str) -> dict:
    return next(f for f in report["findings"] if f["code"] == code)


@pytest.mark.fires("D205")
def test_d205_leads_a_command_line_run_whose_model_file_says_shuffle_false(tmp_path, capsys):
    """Sorted by class and read 4 at a time in the stored order: by hand, batches 2 and 7 (rows 8-11 and 28-31)
    straddle two classes and the other 8 hold one, so the mean purity is (8 + 2 * 0.5) / 10."""
    report = _cli_report(tmp_path, capsys, _class_sorted_basicmotions(), "shuffle = False\n", "--budget", "quick")
    assert report["diagnosis"]["primary"] == "D205"
    assert report["subject"]["settings"]["batches"] == {"value": "your DataLoader's order (SequentialSampler)",
                                                        "source": "model file"}
    f = _cli_finding(report, "D205")
    e = f["evidence"]
    assert f["severity"] == "error" and e["sampler"] == "SequentialSampler" and e["batch_size"] == 4
    assert e["batches_inspected"] == 10 and e["single_class_fraction"] == pytest.approx(0.8)
    assert e["mean_purity"] == pytest.approx(0.9) and e["class_run_fraction"] == 1.0
    assert e["probe_follows_loader_order"] is True and "shuffle=True" in f["snippet"]
    v = f["verified"]
    assert v["fix"].startswith("shuffling the training batches") and v["steps"] == 40
    # 4 balanced classes (chance 25%): replaying the sorted order ends near the last class, shuffled it learns
    assert v["before"] < 0.5 and v["after"] >= v["before"] + 0.2 and v["loss_after"] < v["loss_before"]


@pytest.mark.fires("D205")
def test_d205_judges_every_stored_row_when_cnndoctor_splits_off_the_test_set(tmp_path, capsys):
    """X, y alone, sorted by class: the user's loop walks all 80 stored rows (20 batches of 4); the probes replay
    that order over the 64 rows cnndoctor keeps for training."""
    X_train, y_train, X_test, y_test = ucr("BasicMotions")
    X, y = np.concatenate([X_train, X_test]), np.concatenate([y_train, y_test])
    order = np.argsort(y, kind="stable")
    report = _cli_report(tmp_path, capsys, {"X": X[order], "y": y[order]}, "shuffle = False\n", "--select", "D205")
    e = _cli_finding(report, "D205")["evidence"]
    assert e["batches_per_epoch"] == 20 and e["batches_inspected"] == 20 and e["single_class_fraction"] == 1.0
    assert e["probe_follows_loader_order"] is True
    assert report["subject"]["n_train"] == 64
    assert report["subject"]["settings"]["batches"] == {
        "value": "your DataLoader's order (SequentialSampler, over the training rows cnndoctor kept)",
        "source": "model file"}


@pytest.mark.silent("D205")
def test_d205_silent_on_a_mixed_stored_order_and_skipped_when_the_loop_shuffles(tmp_path, capsys):
    mixed = _class_sorted_basicmotions(seed=0)
    report = _cli_report(tmp_path, capsys, mixed, "shuffle = False\n", "--select", "D205")
    assert report["findings"] == [] and report["checks"][0]["status"] == "passed"
    assert report["subject"]["settings"]["batches"]["source"] == "model file"
    for loop in ("", "shuffle = True\n"):  # the default, and said outright: cnndoctor's own shuffle is the same
        report = _cli_report(tmp_path, capsys, _class_sorted_basicmotions(), loop, "--select", "D205")
        assert report["checks"][0]["status"] == "skipped" and "DataLoader" in report["checks"][0]["reason"]
        assert report["subject"]["settings"]["batches"] == {"value": "shuffled (cnndoctor)",
                                                            "source": "model file" if loop else "default"}
