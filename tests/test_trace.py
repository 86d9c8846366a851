"""The shape trace: hooks and modes cleaned up, time axes measured, the failing operation kept,
the receptive field and time scale measured right, and the trace shown in the report."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from cnndoctor.measure.timescale import estimate_time_scale
from cnndoctor.probes.record import GradientRecorder
from cnndoctor.trace.forward import mark_time_axes, trace_forward
from cnndoctor.trace.hooks import Hooks
from cnndoctor.trace.receptive_field import analytic_receptive_field, gradient_receptive_field, head_feature_map
from tests.fixtures.arch_models import DilatedResidualCNN, KerasStyleStack, ParallelKernelsCNN, PlainCNN
from tests.fixtures.data import gunpoint


@pytest.fixture(scope="module")
def batch():
    return torch.from_numpy(gunpoint()[0][:4, None, :])


def _doubled(batch):
    one = batch[:1]
    return torch.cat([one, one], dim=2)


def test_hooks_and_mode_are_removed_and_training_restored_after_a_failure(batch):
    model = DilatedResidualCNN().train()
    trace = trace_forward(model, batch)
    assert not trace.ok and model.training
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert not torch.overrides._get_current_function_mode_stack()


def test_hooks_come_off_and_the_mode_goes_back_when_the_block_raises():
    model = nn.Sequential(nn.Conv1d(1, 2, 3), nn.ReLU()).train()
    with pytest.raises(RuntimeError, match="user code"), Hooks(model) as hooks:
        for m in model.modules():
            hooks.add(m.register_forward_pre_hook(lambda mod, args: None))
            hooks.add(m.register_forward_hook(lambda mod, args, out: None))
        model.eval()
        raise RuntimeError("user code")
    assert model.training and not hooks.handles
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    with Hooks() as hooks:  # no model given: the mode is left as the block set it
        model.eval()
    assert not model.training


def test_pop_all_keeps_the_hooks_past_the_block_until_they_are_removed():
    model = nn.Conv1d(1, 2, 3)
    with Hooks() as hooks:
        hooks.add(model.register_forward_pre_hook(lambda mod, args: None))
        kept = hooks.pop_all()
    assert len(model._forward_pre_hooks) == 1 and not hooks.handles
    kept.remove()
    assert not model._forward_pre_hooks


def test_a_gradient_recorder_that_fails_halfway_leaves_no_hook(monkeypatch):
    model = nn.Sequential(nn.Conv1d(1, 2, 3), nn.Conv1d(2, 2, 3))
    register, calls = torch.Tensor.register_hook, []

    def flaky(self, hook):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("no more hooks")
        return register(self, hook)

    monkeypatch.setattr(torch.Tensor, "register_hook", flaky)
    with pytest.raises(RuntimeError, match="no more hooks"):
        GradientRecorder(model)
    assert len(calls) == 3 and all(not p._backward_hooks for p in model.parameters())


def test_the_failing_operation_keeps_its_shapes_and_the_branches_they_came_from(batch):
    trace = trace_forward(ParallelKernelsCNN(), batch)
    op = trace.failed_op
    assert op.name == "cat" and op.dim == 1 and op.module == "(model)"
    assert op.shapes == [(4, 16, 148), (4, 16, 146), (4, 16, 144)]
    assert op.producers == ["branch3", "branch5", "branch7"]  # through the functional relu
    assert trace.failing.name == "(model)" and "torch.cat(parts, dim=1)" in trace.error_line


def test_time_axes_are_measured_with_a_longer_pass(batch):
    model = KerasStyleStack(num_classes=2)
    trace = trace_forward(model, batch)
    mark_time_axes(trace, trace_forward(model, _doubled(batch)), "test")
    calls = {c.name: c for c in trace.calls}
    assert calls["convs.0"].time_axes_out == (2,) and calls["convs.0"].length == 148
    assert calls["convs.0"].channels == 16
    assert calls["dense.0"].time_axes_in == (1,)  # transposed to channels last
    assert trace.output_time_axes == (1,)


def test_output_op_sees_functional_activations(batch):
    trace = trace_forward(PlainCNN(final="softmax", functional_final=True), batch)
    assert trace.output_op == "softmax" and trace.output_op_module == "(model)"
    trace = trace_forward(PlainCNN(final="sigmoid"), batch)
    assert trace.output_op == "sigmoid" and trace.output_op_module == "head.1"


def test_gradient_receptive_field_matches_the_analytic_one(batch):
    model = PlainCNN(kernels=(7, 5, 3), pools=(1, 2, 1))  # 1 + 6 + 4 + 1 (pool) + 2 * 2 = 16
    trace = trace_forward(model, batch)
    mark_time_axes(trace, trace_forward(model, _doubled(batch)), "test")
    fmap = head_feature_map(trace)
    size, stack = analytic_receptive_field(trace, fmap)
    assert size == 16 and [s["rf"] for s in stack] == [7, 11, 12, 16]

    def build():
        torch.manual_seed(1)
        return PlainCNN(kernels=(7, 5, 3), pools=(1, 2, 1))

    occurrence = sum(1 for c in trace.calls if c.name == fmap.name and c.index <= fmap.index)
    # max-pooling routes gradient through one input per window: the measured field may be shorter by its width
    assert gradient_receptive_field(build, batch, 2, fmap, occurrence) in (15, 16)


def test_time_scale_of_a_sinusoid_and_of_gunpoint():
    t = np.arange(400)
    rng = np.random.default_rng(0)
    X = np.sin(2 * np.pi * t / 40 + rng.uniform(0, 6.3, size=(64, 1))).astype(np.float32)
    ts = estimate_time_scale(X, None)
    assert ts.kind == "period" and ts.period == 40 and ts.period_strength > 0.9
    assert ts.decorrelation_lag == 7  # cos(2π·lag/40) < 1/2 from lag 40/6 ≈ 6.7 on
    gp = estimate_time_scale(gunpoint()[0], None)
    assert gp.kind == "decorrelation" and gp.decorrelation_lag == 18 and gp.scale == 72


def test_report_json_and_terminal_show_the_trace_up_to_the_failure(run):
    X_train, y_train, X_test, y_test = gunpoint()
    report = run(ParallelKernelsCNN, (X_train, y_train), (X_test, y_test), select=["A101"])
    doc = json.loads(report.to_json())
    trace = doc["trace"]
    assert trace["ok"] is False and trace["failed_op"]["op"] == "cat"
    assert [layer["length"] for layer in trace["layers"] if layer["leaf"]] == [148, 146, 144]
    assert "torch.cat" in trace["error_line"]
    text = report.to_text(width=160)
    table = text[text.index("shape trace"):]
    assert "16 × 148" in table and "ParallelKernelsCNN.forward" in table and "cat failed here" in table
    assert table.index("branch7") < table.index("cat failed here")


def test_report_trace_of_a_healthy_model_has_channels_and_steps(run):
    X_train, y_train, X_test, y_test = gunpoint()
    report = run(nn.Sequential(nn.Conv1d(1, 4, 5, padding=2), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(),
                               nn.Linear(4, 2)), (X_train, y_train), (X_test, y_test), select=["A104"])
    layers = {layer["name"]: layer for layer in report.trace["layers"]}
    assert layers["0"]["channels"] == 4 and layers["0"]["length"] == 150 and layers["0"]["time_axis"] == [2]
    assert layers["2"]["length"] is None and report.trace["output_time_axis"] == []
    assert "4 × 150" in report.to_text(width=120, verbose=True)  # a healthy trace is shown with -v only


def test_branches_are_recovered_from_the_error_message_when_the_operation_was_not_recorded(batch):
    from cnndoctor.trace.faults import analyse

    trace = trace_forward(DilatedResidualCNN(), batch)
    trace.failed_op = None  # as when the error is re-raised by user code
    fault = analyse(trace)
    assert fault.kind == "branch-length"
    assert [(b["from"], b["size"]) for b in fault.details["branches"]] == [("conv3", 136), ("shortcut", 144)]
    assert [p.value for p in fault.patches] == [1, 2, 4]
