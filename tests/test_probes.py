"""The probe engine: its public contract, determinism, hooks, the LR curve rules, threads, figures."""

import dataclasses
import io
import math
import sys

import numpy as np
import pytest
import torch

import cnndoctor
from cnndoctor.context import Context
from cnndoctor.errors import FactUnavailable
from cnndoctor.load.data import data_from_arrays
from cnndoctor.load.subject import make_subject
from cnndoctor.probes.budget import BUDGETS, CAP_FACTOR, probe_budget_for, time_cap
from cnndoctor.probes.data import label_entropy, prepare_probe_data
from cnndoctor.probes.lr_range import analyse_curve, run_lr_range_test, smooth_curve, sweep_bounds
from cnndoctor.probes.overfit import overfit_indices, run_overfit_batch, sane_lrs
from cnndoctor.probes.record import GradientRecorder, UnitRecorder
from cnndoctor.probes.threads import MAX_PROBE_THREADS, available_cores, choose_threads, probe_threads, using_threads
from cnndoctor.probes.train import BatchSampler, run_training_probe
from cnndoctor.reporters.figures import figures
from tests.fixtures.data import arrowhead, gunpoint
from tests.fixtures.models import FlattenHeadCNN
from tests.fixtures.probe_models import ProbeCNN, PythonListCNN, SmallBNCNN


def _subject(model=SmallBNCNN, data=None, **kw):
    X, y, Xt, yt = data or gunpoint()
    kind = "class" if isinstance(model, type) else "build_model"
    return make_subject(model, kind, data_from_arrays(X, y, Xt, yt), name=model.__name__,
                        options=kw.pop("options", {}), device="cpu", **kw)


def _arrays(X, Xt):
    return X[:, None, :], Xt[:, None, :]


@pytest.fixture(scope="module")
def subject():
    return _subject()


@pytest.fixture(scope="module")
def arrays():
    X, y, Xt, yt = gunpoint()
    A, B = _arrays(X, Xt)
    return A, y, B, yt


@pytest.fixture(scope="module")
def first_run(subject, arrays):
    return run_training_probe(subject, *arrays, steps=12, eval_samples=64, curve_points=3)


def test_run_training_probe_contract(first_run):
    run = first_run
    assert run.steps == 12 and len(run.losses) == 12 and run.stopped_by == "steps"
    assert isinstance(run.held_out_accuracy, float) and isinstance(run.train_accuracy, float)
    assert math.isfinite(run.initial_loss) and run.initial_loss == pytest.approx(np.log(2), rel=0.3)
    assert [p.step for p in run.curve] == [0, 6, 12]
    assert run.grad_norms.shape == (12, len(run.layers)) and run.layers[0] == "features.0"
    assert run.weight_layers == ["features.0", "features.3", "features.6", "head"]
    assert set(run.units_end.layers) == {"features.2", "features.5", "features.8"}
    assert sum(run.predicted_counts.values()) == 64 and not run.nonfinite
    assert run.seconds > 0 and run.step_seconds > 0 and run.threads >= 1
    assert run.grad_accumulation == pytest.approx(1.0)
    assert run.mode_gap is not None and run.mode_gap.batch_size == 32


def test_training_probe_is_deterministic(subject, arrays, first_run):
    again = run_training_probe(subject, *arrays, steps=12, eval_samples=64, curve_points=3)
    assert again.losses == first_run.losses
    assert again.predicted_counts == first_run.predicted_counts


def test_probe_runs_on_a_modified_copy_of_the_subject(subject, arrays, first_run):
    changed = dataclasses.replace(subject, lr=0.05)
    run = run_training_probe(changed, *arrays, steps=12, eval_samples=64, curve_points=3)
    assert run.lr == 0.05 and run.losses != first_run.losses
    assert subject.lr == 1e-3  # the original is untouched
    assert run_training_probe(subject, *arrays, steps=3, lr=0.05).lr == 0.05


def test_probe_stops_at_its_time_cap(subject, arrays):
    run = run_training_probe(subject, *arrays, steps=50, seconds=0.0)
    assert run.steps == 1 and run.stopped_by == "time"


def test_probe_records_an_error_in_the_users_step(arrays):
    def step(model, xb, yb, optimizer, criterion):
        raise ValueError("shapes do not match")

    subject = _subject(options={"train_step": step})
    run = run_training_probe(subject, *arrays, steps=5)
    assert run.stopped_by == "error" and run.steps == 0
    assert run.error.startswith("ValueError: shapes do not match") and "test_probes.py" in run.error


def test_data_that_cannot_be_fed_makes_the_probes_unavailable():
    X, y, Xt, yt = arrowhead()
    subject = _subject(lambda: ProbeCNN(1, 3), data=(X, y + 1, Xt, yt + 1))
    A, B = _arrays(X, Xt)
    with pytest.raises(FactUnavailable, match="out of range.*L101"):
        prepare_probe_data(subject, A, y + 1, B, yt + 1)
    report = cnndoctor.diagnose(FlattenHeadCNN, gunpoint()[:2], gunpoint()[2:], select=["T101"], progress=False,
                                budget="quick")
    status = report.checks[0]
    assert status.status == "skipped" and "A101" in status.reason


def test_batches_come_from_a_cpu_generator_and_never_hold_one_sample():
    a, b = BatchSampler(33, 16, seed=3), BatchSampler(33, 16, seed=3)
    epoch = [a.next() for _ in range(2)]
    assert [len(x) for x in epoch] == [16, 17]  # the single leftover joins the last batch
    assert sorted(np.concatenate(epoch).tolist()) == list(range(33))
    assert all((x == b.next()).all() for x in epoch)


def test_batch_sampler_replays_a_given_order_epoch_after_epoch():
    order = [np.arange(16, 32), np.arange(0, 16), np.array([32])]
    sampler = BatchSampler(33, 16, seed=3, order=order)
    assert sampler.follows_order and not BatchSampler(33, 16, seed=3).follows_order
    epoch = [sampler.next().tolist() for _ in range(2)]
    assert epoch == [list(range(16, 32)), list(range(16)) + [32]]  # in order; the single leftover joins in
    assert sampler.next().tolist() == list(range(16, 32))  # the next epoch replays the same order
    with pytest.raises(ValueError, match="outside the 10 training rows"):
        BatchSampler(10, 4, seed=0, order=[np.array([3, 12])])


def _sorted_gunpoint_loader(**kw):
    from torch.utils.data import DataLoader, TensorDataset

    X, y, Xt, yt = gunpoint()
    order = np.argsort(y, kind="stable")
    data = TensorDataset(torch.from_numpy(X[order][:, None]), torch.from_numpy(y[order]))
    return DataLoader(data, **kw), (X[order], y[order], Xt, yt)


def _recording_step(seen):
    def step(model, xb, yb, optimizer, criterion):
        seen.append(yb.tolist())
        optimizer.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        optimizer.step()
        return loss

    return step


def test_training_probe_follows_the_users_dataloader_order_deterministically():
    """The user's train_step sees the labels of the unshuffled, class-sorted loader's batches, in its order."""
    from cnndoctor.load.batch_order import batch_order_for
    from cnndoctor.load.torch_data import read_loader_batches

    loader, data = _sorted_gunpoint_loader(batch_size=8)
    y_sorted = data[1]
    runs = []
    for follow in (True, True, False):
        seen = []
        subject = _subject(data=data, batch_size=8, options={"train_step": _recording_step(seen)})
        if follow:
            subject.batch_order, note = batch_order_for(read_loader_batches(loader), np.arange(50), 50, 8)
            assert note is None and subject.batch_order.how == "read" and len(subject.batch_order.batches) == 7
        A, B = _arrays(data[0], data[2])
        runs.append((run_training_probe(subject, A, y_sorted, B, data[3], steps=10, eval_samples=64), seen))
    (ordered, seen), (again, seen_again), (shuffled, seen_shuffled) = runs
    chunks = [y_sorted[i:i + 8].tolist() for i in range(0, 50, 8)]  # 6 of 8, then the 2 left over
    assert ordered.batch_order == "user" and seen == chunks + chunks[:3]
    assert seen_again == seen and again.losses == ordered.losses  # same seed, same run
    assert shuffled.batch_order == "shuffled" and seen_shuffled[:7] != chunks
    assert all(len(set(b)) == 1 for b in seen[:6])  # every full batch of the sorted loader is one class


def test_a_diagnosis_that_follows_the_users_order_is_the_same_for_the_same_seed():
    loader, (X, y, Xt, yt) = _sorted_gunpoint_loader(batch_size=8)
    reports = [cnndoctor.diagnose(ProbeCNN, loader, (Xt[:, None], yt), select=["D205", "T102", "T105"],
                                  budget="quick", progress=False, figures=False).to_dict() for _ in range(2)]
    first, second = reports
    assert first["subject"]["settings"]["batches"]["source"] == "DataLoader"
    assert first["findings"] == second["findings"] and first["diagnosis"] == second["diagnosis"]
    assert any(f["code"] == "D205" and f["verified"] for f in first["findings"])


def test_the_users_order_is_mapped_onto_the_rows_drawn_and_rebuilt_past_the_read_cap():
    from torch.utils.data import DataLoader, TensorDataset

    from cnndoctor.load.batch_order import batch_order_for
    from cnndoctor.load.torch_data import ORDER_BATCHES, arrays_from_torch, read_loader_batches

    X, y, _, _ = gunpoint()
    data = TensorDataset(torch.from_numpy(np.repeat(X, 4, axis=0)[:, None]), torch.from_numpy(np.repeat(y, 4)))
    # a SequentialSampler read 2 at a time: 100 batches, reading stops at ORDER_BATCHES; the rest is arange(n)
    read = read_loader_batches(DataLoader(data, batch_size=2))
    assert len(read.indices) == ORDER_BATCHES < 100 and read.epoch_order == "sequential"
    order, note = batch_order_for(read, np.arange(200), 200, 2)
    assert note is None and order.how == "sequential" and len(order.batches) == 100
    assert np.array_equal(np.concatenate(order.batches), np.arange(200))
    # a custom batch_sampler walking backwards: a subset drawn keeps that order over the drawn rows
    backwards = DataLoader(data, batch_sampler=[[i, i - 1] for i in range(199, 100, -2)])
    read = read_loader_batches(backwards)
    assert read.epoch_order == "read" and read.indices[0] == [199, 198]
    drawn = arrays_from_torch(backwards, "train", max_samples=120, seed=0)
    order, note = batch_order_for(read, drawn.index, 120, 2)
    flat = np.concatenate(order.batches)
    assert note is None and order.how == "subset" and np.array_equal(drawn.index[flat],
                                                                     sorted(drawn.index[drawn.index >= 100])[::-1])
    # rows dropped by a fix (D101's): the same order over the rows left, renumbered
    kept = order.restricted(np.arange(120) % 3 != 0)
    assert np.array_equal(np.concatenate(kept.batches), [p - p // 3 - 1 for p in flat if p % 3])
    # a custom order longer than cnndoctor reads cannot be rebuilt: the probes shuffle, and say why
    long = read_loader_batches(DataLoader(data, batch_sampler=[[i, i - 1] for i in range(199, 0, -2)]))
    order, note = batch_order_for(long, np.arange(200), 200, 2)
    assert order is None and long.epoch_order is None and "longer than cnndoctor reads" in note
    # a RandomSampler: cnndoctor's own shuffle, no note
    assert batch_order_for(read_loader_batches(DataLoader(data, batch_size=2, shuffle=True)), np.arange(200),
                           200, 2) == (None, None)


def test_recorders_remove_every_hook_and_restore_the_mode():
    model = PythonListCNN()
    model.eval()
    optimizer = torch.optim.Adam(model.parameters())
    grads = GradientRecorder(model, optimizer)
    x = torch.randn(4, 1, 30)
    grads.begin_step()
    model(x).sum().backward()
    grads.end_step()
    grads.close()
    with UnitRecorder(model) as units:
        model(x)
    assert set(units.activity().layers) == {"(model):relu#1", "(model):relu#2"}  # functional relus are seen
    assert grads.rows and len(grads.rows[0]) == 1  # only the registered head has parameters
    assert not model.training
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks
    assert all(not p._backward_hooks for p in model.parameters())


def test_analyse_curve_suggests_a_tenth_of_the_minimum_and_finds_divergence():
    lrs = np.exp(np.linspace(np.log(1e-6), np.log(10), 70))
    x = np.log10(lrs)
    losses = 1.0 - 0.8 / (1 + np.exp(-(x + 3.5) * 3)) + np.where(x > -1, (x + 1) ** 2 * 2, 0)
    losses += np.random.default_rng(0).normal(0, 0.02, len(x))
    out = analyse_curve(lrs, losses)
    assert out["learned"]
    assert out["suggestion"] == pytest.approx(out["lr_at_min"] / 10)
    assert 1e-2 < out["lr_at_min"] < 1 and out["diverge_lr"] > out["lr_at_min"]
    assert out["lr_fall"] < out["suggestion"]


def test_a_flat_noisy_curve_has_no_suggestion_and_no_divergence():
    lrs = np.exp(np.linspace(np.log(1e-6), np.log(10), 60))
    losses = 0.69 + np.random.default_rng(1).normal(0, 0.02, 60)
    out = analyse_curve(lrs, losses)
    assert not out["learned"] and out["suggestion"] is None and out["diverge_lr"] is None
    blown = np.concatenate([losses[:40], [np.inf]])
    assert analyse_curve(lrs[:41], blown)["diverge_lr"] == pytest.approx(lrs[40])


def test_smoothing_is_centred_so_landmarks_do_not_shift():
    step = np.r_[np.ones(20), np.zeros(20)]
    smooth = smooth_curve(step)
    assert smooth[19] > 0.5 > smooth[20] and smooth[0] == 1 and smooth[-1] == 0


def test_sweep_always_contains_the_users_lr():
    assert sweep_bounds(1e-3) == (1e-6, 10.0)
    lo, hi = sweep_bounds(100.0)
    assert lo < 100.0 < hi
    assert sweep_bounds(1e-8)[0] < 1e-8


def test_lr_range_test_and_overfit_probe_run_from_arrays(subject, arrays):
    A, y, _, _ = arrays
    curve = run_lr_range_test(subject, A, y, steps=30)
    assert curve.lrs[0] == pytest.approx(1e-6) and len(curve.smoothed) == len(curve.losses) > 0
    over = run_overfit_batch(subject, A, y, steps=20, batch=16, retries=0)
    assert over.batch_size == 16 and over.class_counts == {0: 8, 1: 8}
    assert over.floor_loss == pytest.approx(np.log(2)) and len(over.attempts) == 1


def test_overfit_batch_takes_the_classes_in_turn_and_retries_away_from_the_users_lr():
    labels = np.array([0] * 90 + [1] * 8 + [2] * 2)
    idx = overfit_indices(labels, 12, seed=0)
    assert np.bincount(labels[idx]).tolist() == [5, 5, 2]  # 0,1,2,0,1,2, then 0,1 while class 2 is empty
    assert sane_lrs("Adam", 10.0, 1) == [1e-3] and sane_lrs("Adam", 1e-3, 1) == [1e-2]
    assert sane_lrs("SGD", 1e-6, 2) == [3e-2, 1e-1]
    assert label_entropy(np.array([0, 1, 0, 1])) == pytest.approx(np.log(2))


def test_thread_choice_is_the_machines_cores_whatever_the_caller_set_and_is_restored(monkeypatch):
    monkeypatch.delenv("CNNDOCTOR_THREADS", raising=False)
    before = torch.get_num_threads()
    expected = min(available_cores(), MAX_PROBE_THREADS)
    with using_threads(1):
        assert torch.get_num_threads() == 1
        assert choose_threads().threads == expected  # not the caller's count, not the load
        assert choose_threads().source.startswith(f"{available_cores()} core")
    assert torch.get_num_threads() == before
    assert choose_threads(device="cuda").reason.startswith("accelerator")


def test_probes_run_at_the_fixed_thread_count_whatever_the_caller_set(subject, arrays, first_run):
    # 1 vs 2 torch threads change conv/linear weight gradients in their last bits (reductions split
    # differently), so a load-dependent choice would change losses and verdicts: the count is fixed
    other = 1 if probe_threads() != 1 else 2
    with using_threads(other):
        again = run_training_probe(subject, *arrays, steps=12, eval_samples=64, curve_points=3)
        assert torch.get_num_threads() == other  # the caller's setting is restored
    assert again.threads == probe_threads() == first_run.threads and again.losses == first_run.losses
    assert again.predicted_counts == first_run.predicted_counts and again.grad_totals == first_run.grad_totals


def test_a_fixed_thread_count_can_be_set_through_the_environment(monkeypatch):
    monkeypatch.setenv("CNNDOCTOR_THREADS", "3")
    assert choose_threads().threads == 3 and "CNNDOCTOR_THREADS=3" in choose_threads().reason
    assert choose_threads().source == "CNNDOCTOR_THREADS"
    monkeypatch.setenv("CNNDOCTOR_THREADS", "many")
    assert choose_threads().threads == min(available_cores(), MAX_PROBE_THREADS)


def test_time_caps_are_generous_safety_nets_scaled_from_the_step_time():
    b = probe_budget_for("standard")
    assert time_cap(b, None, 100) == b.seconds >= 300  # no measurement: the floor
    assert time_cap(b, 0.01, 100) == b.seconds  # small models: the high floor
    assert time_cap(b, 1.0, 100) == pytest.approx(CAP_FACTOR * 100) and CAP_FACTOR * 100 > b.seconds  # 20x the work


def test_a_run_that_completes_its_steps_is_never_marked_truncated(subject, arrays):
    run = run_training_probe(subject, *arrays, steps=1, eval_samples=64, curve_points=2, seconds=0.0)
    assert run.steps == 1 and run.stopped_by == "steps" and not run.truncated
    A, y, _, _ = arrays
    curve = run_lr_range_test(subject, A, y, steps=5, seconds=0.0)
    assert len(curve.losses) == 1 and curve.truncated


def test_each_overfit_attempt_has_its_own_time_cap(subject, arrays):
    A, y, _, _ = arrays
    over = run_overfit_batch(dataclasses.replace(subject, lr=10.0), A, y, steps=50, batch=16, retries=1,
                             seconds=0.0)
    # a shared deadline would have skipped the retry; each attempt now runs until its own cap
    assert [a.lr for a in over.attempts] == [10.0, 1e-3]
    assert all(a.steps == 1 and a.truncated for a in over.attempts)
    assert "seconds" not in over.attempts[0].to_dict()


def test_budgets_scale_and_unknown_ones_are_rejected():
    q, s, t = (BUDGETS[k] for k in ("quick", "standard", "thorough"))
    assert q.train_steps < s.train_steps < t.train_steps and q.seconds < s.seconds < t.seconds
    assert max(b.overfit_batch for b in BUDGETS.values()) <= 32
    with pytest.raises(ValueError):
        probe_budget_for("forever")


@pytest.mark.slow
def test_figures_use_only_computed_facts_and_render_without_pyplot():
    X, y, Xt, yt = gunpoint()
    subject = _subject(data=(X, y, Xt, yt), lr=10.0)
    ctx = Context(subject, budget="quick")
    assert figures(ctx) == []
    assert not ctx.computed("training_probe") and not ctx.computed("lr_range")
    for name in ("training_probe", "lr_range", "overfit_batch", "zero_input_probe"):
        ctx.get(name)
    figs = figures(ctx)
    assert [f.get_label() for f in figs] == ["learning-rate range test", "training probe curves",
                                             "gradient norm per layer", "overfit one batch"]
    for fig in figs:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        assert buffer.getvalue()[:4] == b"\x89PNG"
        assert fig.canvas.manager is None  # a standalone Figure, never registered with pyplot
    if "matplotlib.pyplot" in sys.modules:  # another library may have imported it; ours must not register
        assert sys.modules["matplotlib.pyplot"].get_fignums() == []
