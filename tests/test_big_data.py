"""Data beyond the memory budget: memory-mapped .npy folders, zarr stores and dask arrays, whose statistics run
chunk by chunk (measure/chunked.py) and equal the in-memory ones, while the rest runs on a seeded sample."""

import hashlib
import re

import numpy as np
import pytest

from cnndoctor.cli import main
from cnndoctor.config import parse_config
from cnndoctor.errors import InputError
from cnndoctor.facts.scale import _scale
from cnndoctor.load.big import ArraySource, NpySource, parse_memory_budget, stratified_rows
from cnndoctor.load.data import load_data
from cnndoctor.measure.chunked import array_stats as chunked_stats
from cnndoctor.measure.chunked import merge, summarize_chunk, verified_exact_matches
from cnndoctor.measure.cluster import SplitJob, summarize_splits
from cnndoctor.measure.duplicates import find_cross_duplicates
from cnndoctor.measure.fingerprints import row_fingerprints
from cnndoctor.measure.stats import array_stats
from tests.conftest import codes
from tests.fixtures.data import gunpoint
from tests.fixtures.models import TINY_MODEL_FILE, TinyCNN

TINY = 20_000  # bytes: every test set here is larger, so the chunked path runs
MODEL = TINY_MODEL_FILE


def _faulty(shape, seed=0):
    """Seeded series with the faults the statistics count: NaN, ±Inf, a flat row, a dead channel (3-D)."""
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal(shape) * 3 + 50).astype(np.float32)
    if X.ndim == 3:  # channel 1 is dead, on whichever axis holds the channels
        X[(slice(None), 1) if X.shape[1] < X.shape[2] else (slice(None), slice(None), 1)] = 2.5
    flat = X.reshape(len(X), -1)  # a view: the faults land in X
    flat[5, 6] = np.nan
    flat[9, 0] = np.inf
    flat[30, 2] = -np.inf
    X[12] = 4.0
    return X


def _walks(n_train=2000, n_test=600, length=64, seed=0):
    """Seeded random walks whose drift is the class: more rows than the sample of a tiny budget keeps."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n_train + n_test)
    X = np.cumsum(rng.standard_normal((len(y), length)) + 0.1 * (2 * y[:, None] - 1), axis=1).astype(np.float32)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def _save(folder, **arrays):
    folder.mkdir(parents=True, exist_ok=True)
    for name, value in arrays.items():
        np.save(folder / f"{name}.npy", value)
    return folder


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("shape, axis", [((400, 96), None), ((400, 3, 64), 1), ((400, 64, 3), 2)])
def test_chunked_statistics_equal_the_in_memory_ones(shape, axis):
    X = _faulty(shape)
    y = np.random.default_rng(1).integers(0, 4, len(X))
    run = summarize_splits([SplitJob("train", ArraySource(X), y)], chunk_bytes=3000, channel_axis=axis,
                           scheduler="sync")
    assert run.chunks > 10
    got, ref = chunked_stats(run.summaries["train"], axis), array_stats(X, axis)
    for name in ("count", "mean", "std", "min", "max"):
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), rtol=1e-6, err_msg=name)
    assert (got.n_nan, got.n_posinf, got.n_neginf) == (ref.n_nan, ref.n_posinf, ref.n_neginf) != (0, 0, 0)
    assert got.samples_with_nonfinite.tolist() == ref.samples_with_nonfinite.tolist() == [5, 9, 30]
    summary = run.summaries["train"]
    # constant rows by their definition (every channel flat over time; exact, where the in-memory fingerprints
    # decide from a float32 variance and can miss a flat row that sits far from the data's offset)
    series = X[:, None, :] if X.ndim == 2 else (X if axis == 1 else np.swapaxes(X, 1, 2))
    finite = np.isfinite(X.reshape(len(X), -1)).all(axis=1)
    flat = finite & (series == series[:, :, :1]).all(axis=(1, 2))
    assert summary.n_constant_rows == int(flat.sum()) == 1 and summary.constant_rows.tolist() == [12]
    assert summary.labels == {int(k): int(c) for k, c in enumerate(np.bincount(y))}
    np.testing.assert_array_equal(summary.usable, finite & ~flat)
    # the merge does not depend on how the rows were cut: one chunk gives the same summary
    whole = summarize_chunk(X, 0, labels=y, channel_axis=axis)
    np.testing.assert_allclose(chunked_stats(whole, axis).std, got.std, rtol=1e-9)
    np.testing.assert_array_equal(whole.hashes, summary.hashes)


def test_chunks_in_this_process_give_the_same_summary_on_any_thread_count():
    from dataclasses import fields

    from cnndoctor.measure.parallel import using_workers

    X = _faulty((400, 3, 64))
    y = np.random.default_rng(1).integers(0, 4, len(X))
    runs = {}
    for n in (1, 2, 3):
        with using_workers(n):
            runs[n] = summarize_splits([SplitJob("train", ArraySource(X), y)], chunk_bytes=3000, channel_axis=1,
                                       scheduler="sync").summaries["train"]
    for n in (2, 3):
        for f in fields(runs[1]):
            a, b = getattr(runs[1], f.name), getattr(runs[n], f.name)
            assert repr(a) == repr(b) if not isinstance(a, np.ndarray) else np.array_equal(a, b, equal_nan=True), \
                f.name


def test_merge_is_chan_s_parallel_update_and_order_free():
    rng = np.random.default_rng(3)
    X = (rng.standard_normal((300, 2, 40)) * 1e-3 + 1e4).astype(np.float32)  # a large offset: naive sums fail
    parts = [summarize_chunk(X[a:a + 50], a, channel_axis=1) for a in range(0, 300, 50)]
    forward = parts[0]
    for p in parts[1:]:
        forward = merge(forward, p)
    backward = parts[-1]
    for p in reversed(parts[:-1]):
        backward = merge(p, backward)
    ref = X.astype(np.float64).transpose(1, 0, 2).reshape(2, -1)
    for s in (forward, backward):
        stats = chunked_stats(s, 1)
        np.testing.assert_allclose(stats.mean, ref.mean(axis=1), rtol=1e-12)
        np.testing.assert_allclose(stats.std, ref.std(axis=1), rtol=1e-6)


def test_train_test_shift_and_exact_copies_across_splits_equal_the_in_memory_scan():
    X_train, y_train, X_test, y_test = gunpoint()
    X_test = X_test.copy()
    X_test[:12] = X_train[10:22]  # 12 exact copies
    X_test[12:80] = X_test[12:80] * 3.0 + 1.5  # and a shift of mean and scale
    sources = {"train": ArraySource(X_train), "test": ArraySource(X_test)}
    run = summarize_splits([SplitJob(k, v) for k, v in sources.items()], chunk_bytes=4000, scheduler="sync")
    chunked = {k: _scale(chunked_stats(s, None)) for k, s in run.summaries.items()}
    memory = {k: _scale(array_stats(v.array, None)) for k, v in sources.items()}
    for got, ref in zip(chunked["train"].shift_to(chunked["test"]), memory["train"].shift_to(memory["test"])):
        np.testing.assert_allclose(got, ref, rtol=1e-5)
        assert got[0] > 0.3
    ti, tj = verified_exact_matches(run.summaries["train"], run.summaries["test"], sources["train"],
                                    sources["test"])
    scan = find_cross_duplicates(row_fingerprints(X_train, None), row_fingerprints(X_test, None), X_train, X_test,
                                 None)
    assert ti.tolist() == np.flatnonzero(scan.exact).tolist() == list(range(12))
    assert (X_train[tj] == X_test[ti]).all()


def test_npy_folder_is_memory_mapped_read_in_chunks_and_never_written(tmp_path, monkeypatch):
    X_train, y_train, X_test, y_test = gunpoint()
    folder = _save(tmp_path / "gp", X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test)
    before = _digest(folder)
    reads = []
    original = NpySource.read
    monkeypatch.setattr(NpySource, "read", lambda self, a, b: reads.append(b - a) or original(self, a, b))
    data = load_data(folder, memory_budget=TINY, scheduler="sync")
    assert isinstance(data.full.X_train, NpySource) and isinstance(data.full.X_train.memmap(), np.memmap)
    assert data.n_train_rows == len(X_train) and data.n_test_rows == len(X_test)
    assert "statistics over all 200 rows" in data.notes[0]
    report = _diagnose(data, select=["D101", "D102"])
    assert reads and max(reads) < len(X_train)  # chunk by chunk, never the whole split in one read
    assert sum(reads) == len(X_train) + len(X_test)  # one pass
    assert report.subject["n_train"] == len(X_train)
    assert _digest(folder) == before


def _diagnose(data, **kw):
    from cnndoctor.api import run_diagnosis
    from cnndoctor.load.subject import make_subject

    subject = make_subject(TinyCNN, "class", data, name="TinyCNN", options={}, seed=0)
    return run_diagnosis(subject, progress=False, figures=False, **kw)


def test_d101_and_d201_fire_through_the_chunked_path_on_a_memmap(run, tmp_path):
    X_train, y_train, X_test, y_test = _walks()
    X_train[1990:, 7] = np.nan  # ten rows; the sample holds about a third of the training rows
    X_test[100:130] = X_train[:30]
    folder = _save(tmp_path / "leaky", X_train=X_train, X_test=X_test)
    maps = [np.load(folder / f"X_{s}.npy", mmap_mode="r") for s in ("train", "test")]
    report = run(TinyCNN, (maps[0], y_train), (maps[1], y_test), select=["D101", "D201"], memory_budget=TINY,
                 scheduler="sync")
    found = {f.code: f for f in report.findings}
    assert found["D101"].evidence["nan"] == 10 and found["D101"].evidence["example_samples"] == list(range(1990, 2000))
    assert found["D201"].evidence["identical"] == 30 and found["D201"].evidence["n_test"] == len(X_test)
    assert {ex["test_index"] - 100 for ex in found["D201"].evidence["examples"]} <= set(range(30))
    assert any("statistics over all 2,600 rows" in n and "(630 train, 512 test)" in n for n in report.notes)


def test_d101_and_d201_stay_silent_on_clean_data_through_the_chunked_path(run, tmp_path):
    X_train, y_train, X_test, y_test = _walks()
    folder = _save(tmp_path / "clean", X_train=X_train, X_test=X_test)
    maps = [np.load(folder / f"X_{s}.npy", mmap_mode="r") for s in ("train", "test")]
    report = run(TinyCNN, (maps[0], y_train), (maps[1], y_test), select=["D101", "D201"], memory_budget=TINY,
                 scheduler="sync")
    assert codes(report) == []
    assert {c.code: str(c.status) for c in report.checks} == {"D101": "passed", "D201": "passed"}


def test_the_chunked_statistics_see_the_transform_fitted_on_the_training_sample(run, tmp_path):
    # a transform fitted on the training split (here on the sample of it in memory) is what the model sees:
    # the statistics over every chunk are taken after it, so D102 judges the standardised rows
    X_train, y_train, X_test, y_test = _walks()
    X_train, X_test = X_train * 1000 + 30_000, X_test * 1000 + 30_000
    folder = _save(tmp_path / "counts", X_train=X_train, X_test=X_test)
    maps = [np.load(folder / f"X_{s}.npy", mmap_mode="r") for s in ("train", "test")]
    seen = []

    def fit_preprocess(X_train):
        seen.append(len(X_train))
        mean, std = X_train.mean(), X_train.std()
        return lambda X: (X - mean) / std

    unscaled = run(TinyCNN, (maps[0], y_train), (maps[1], y_test), select=["D102"], memory_budget=TINY,
                   scheduler="sync")
    assert codes(unscaled) == ["D102"]
    fitted = run(TinyCNN, (maps[0], y_train), (maps[1], y_test), select=["D102"], memory_budget=TINY,
                 scheduler="sync", fit_preprocess=fit_preprocess)
    assert codes(fitted) == [] and seen == [630]  # fitted once, on the training sample only
    assert any("after your preprocessing, applied chunk by chunk" in n for n in fitted.notes)


def test_a_dask_array_runs_on_a_local_cluster_and_equals_the_arrays(run):
    da = pytest.importorskip("dask.array")
    pytest.importorskip("distributed")
    X_train, y_train, X_test, y_test = gunpoint()
    X_test = X_test.copy()
    X_test[:20] = X_train[:20]
    lazy = (da.from_array(X_train, chunks=(37, -1)), da.from_array(X_test, chunks=(50, -1)))
    report = run(TinyCNN, (lazy[0], y_train), (lazy[1], y_test), select=["D201", "D102"], memory_budget=TINY)
    plain = run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["D201", "D102"])
    assert any("Dask LocalCluster of 2 workers" in n for n in report.notes)
    assert codes(report) == codes(plain) and "D201" in codes(report)
    got = next(f for f in report.findings if f.code == "D201").evidence
    ref = next(f for f in plain.findings if f.code == "D201").evidence
    assert got["identical"] == ref["identical"] == 20


def test_a_zarr_store_is_read_by_chunks_and_equals_the_arrays(tmp_path):
    zarr = pytest.importorskip("zarr")
    from cnndoctor.load.big import ZarrSource

    X_train, y_train, X_test, y_test = gunpoint()
    store = tmp_path / "gp.zarr"
    group = zarr.open_group(str(store), mode="w")
    for name, value in dict(X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test).items():
        group.create_array(name, data=value, chunks=(32,) + value.shape[1:])
    data = load_data(store, memory_budget=TINY, scheduler="sync")
    assert isinstance(data.full.X_train, ZarrSource)
    run = summarize_splits([SplitJob("train", data.full.X_train)], chunk_bytes=4000, scheduler="sync")
    np.testing.assert_allclose(chunked_stats(run.summaries["train"], None).std, array_stats(X_train, None).std,
                               rtol=1e-6)
    np.testing.assert_array_equal(data.X_train, X_train[data.full.sample_train])


@pytest.mark.slow
def test_the_sampled_probes_run_on_a_stratified_sample(run, tmp_path):
    X_train, y_train, X_test, y_test = _walks()
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["T101", "T102"], memory_budget=TINY,
                 scheduler="sync", budget="quick")
    statuses = {c.code: str(c.status) for c in report.checks}
    assert statuses == {"T101": "passed", "T102": "passed"}  # drifting walks are learnable: the probes learn
    assert report.subject["n_train"] == len(X_train)
    said = [n for n in report.notes if "probes on a seeded stratified sample of" in n]
    held = int(re.search(r"\(([\d,]+) train", said[0]).group(1).replace(",", ""))
    assert 512 <= held < len(X_train)  # the probes trained on a sample, not on all rows
    rows = stratified_rows(np.repeat([0, 1, 2], [900, 90, 10]), 100, seed=0)
    counts = np.bincount(np.repeat([0, 1, 2], [900, 90, 10])[rows])
    assert len(rows) == 100 and counts.tolist() == [90, 9, 1]
    assert (rows == stratified_rows(np.repeat([0, 1, 2], [900, 90, 10]), 100, seed=0)).all()


def test_a_missing_label_file_is_exit_2_with_a_clear_message(tmp_path, capsys):
    X_train, _, X_test, y_test = gunpoint()
    folder = _save(tmp_path / "nolabels", X_train=X_train, X_test=X_test, y_test=y_test)
    (tmp_path / "model.py").write_text(MODEL)
    assert main(["run", str(tmp_path / "model.py"), str(folder), "-q", "--isolated"]) == 2
    err = capsys.readouterr().err
    assert "has X_train but no y_train" in err and "Traceback" not in err


def test_memory_budget_and_scheduler_options_are_validated():
    assert parse_memory_budget("2GB") == 2 * 10**9 and parse_memory_budget("512MiB") == 512 * 2**20
    assert parse_memory_budget(None) == 2 * 2**30
    with pytest.raises(InputError, match="is not a size"):
        parse_memory_budget("lots")
    cfg = parse_config({"memory-budget": "1.5g", "scheduler": "tcp://10.0.0.1:8786"})
    assert cfg.memory_budget == 1_500_000_000 and cfg.scheduler == "tcp://10.0.0.1:8786"
    with pytest.raises(InputError, match="memory-budget|is not a size"):
        parse_config({"memory_budget": "-3"})
