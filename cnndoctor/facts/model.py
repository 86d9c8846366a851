"""Facts about the model: how the data is fed to it, its shape trace, its outputs, the loss."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..context import fact
from ..errors import FactUnavailable
from ..load.losses import loss_kind
from ..trace.feed import apply_transform, fed_time_axis, feed_candidates
from ..trace.forward import Trace, mark_time_axes, trace_forward

__all__ = ["Attempt", "Feed", "LossInfo"]

_TRACE_BATCH = 4
_OUTPUT_SAMPLES = 256


@dataclass
class Attempt:
    transform: str
    shape: tuple
    trace: Trace
    batch: object = None  # the small tensor the trace ran on


@dataclass
class Feed:
    """How the arrays reach the model, decided by trying the stored layout first.

    ``transform`` is "as stored", "channel axis added" (``(N, L)`` → ``(N, 1, L)``),
    "channel axis added last" (→ ``(N, L, 1)``) or "transposed" (``(N, a, b)`` → ``(N, b, a)``).
    """

    transform: str
    train: np.ndarray | None
    test: np.ndarray | None
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.train is not None

    @property
    def trace(self) -> Trace:
        for a in self.attempts:
            if a.transform == self.transform:
                return a.trace
        return self.attempts[0].trace

    @property
    def stored_trace(self) -> Trace:
        return self.attempts[0].trace

    @property
    def first_conv_input(self) -> tuple[int, int] | None:
        """(channels, length) entering the first convolution that ran, if any."""
        for call in self.trace.calls:
            if (call.is_leaf and "in_channels" in call.config and isinstance(call.input_shape, tuple)
                    and len(call.input_shape) == 3):
                return call.input_shape[1], call.input_shape[2]
        return None

    def tensor(self, split: str, index, device: str):
        import torch

        X = self.train if split == "train" else self.test
        return torch.from_numpy(np.ascontiguousarray(X[index], dtype=np.float32)).to(device)


@fact
def feed(ctx) -> Feed:
    """Try the stored layout, then the alternatives, with one small forward pass each."""
    import torch

    inputs = ctx.inputs
    X = inputs["train"]
    model = ctx.subject.build_model()
    keras = _is_keras(model)
    attempts = []
    for transform, candidate in feed_candidates(X, ctx.subject.layout):
        batch = torch.from_numpy(np.ascontiguousarray(candidate[:_TRACE_BATCH])).to(ctx.subject.device)
        if keras:  # a Keras layer builds on its first input: every attempt needs a fresh model
            trace = _trace(model if not attempts else ctx.subject.build_model(), batch)
        else:
            trace = trace_forward(model, batch)
        attempts.append(Attempt(transform, tuple(candidate.shape), trace, batch))
        if trace.ok:
            return Feed(transform, candidate, apply_transform(inputs.get("test"), transform), attempts)
    return Feed(attempts[0].transform, None, None, attempts)


@fact
def shape_trace(ctx) -> Trace:
    """The forward trace on the layout that runs (or the failing trace of the stored layout).

    The time axes of every call are marked by a second pass of a fresh model on one sample
    repeated to twice its length: the axes whose size follows the input length carry time.
    """
    import torch

    feed = ctx.feed
    trace = feed.trace
    if trace.time_probe is not None:
        return trace
    attempt = next((a for a in feed.attempts if a.trace is trace), feed.attempts[0])
    stored = ctx.inputs["train"]
    axis = fed_time_axis(attempt.transform, stored.ndim,
                         ctx.data_layout.channel_axis if stored.ndim == 3 else None)
    if axis is None or attempt.batch is None:
        trace.time_probe = "not measured: the time axis of the fed arrays is unknown"
        return trace
    one = attempt.batch[:1]
    longer = torch.cat([one, one], dim=axis)
    try:
        probe = _trace(ctx.subject.build_model(), longer)
    except Exception as exc:  # noqa: BLE001 — building the model twice must not break the report
        trace.time_probe = f"not measured: {type(exc).__name__}: {exc}"
        return trace
    mark_time_axes(trace, probe, f"a second pass on one sample repeated to {longer.shape[axis]} steps")
    return trace


def _is_keras(model) -> bool:
    from ..keras.support import is_keras_model

    return is_keras_model(model)


def _trace(model, x) -> Trace:
    """The shape trace: torch forward hooks, or layer by layer for a Keras model (its layers are not hookable)."""
    if _is_keras(model):
        from ..keras.trace import trace_keras

        return trace_keras(model, x)
    return trace_forward(model, x)


@fact
def model_output(ctx) -> np.ndarray:
    """Outputs of a freshly initialised model (eval mode) on up to 256 training samples."""
    import torch

    feed = ctx.feed
    if not feed.ok:
        raise FactUnavailable("the forward pass fails (see A101), so there are no outputs to inspect")
    n = min(len(feed.train), _OUTPUT_SAMPLES)
    if n == 0:
        raise FactUnavailable("the training split is empty")
    model = ctx.subject.build_model()
    outs = []
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, n, 64):
                out = model(feed.tensor("train", slice(start, min(n, start + 64)), ctx.subject.device))
                if isinstance(out, (tuple, list)):
                    out = out[0]
                outs.append(out.detach().float().cpu().numpy())
    finally:
        model.train(was)
    return np.concatenate(outs)


@dataclass(frozen=True)
class LossInfo:
    fn: object
    name: str
    kind: str  # cross_entropy, nll, bce_logits, bce, regression, custom
    source: str  # "model file" or "default"


@fact
def loss(ctx) -> LossInfo:
    """The loss the probes use: the model file's, or the default for the head's width."""
    import torch

    fn = ctx.subject.loss_fn
    if fn is not None and getattr(fn, "kind", None) and getattr(fn, "name", None):  # a Keras compile() loss
        return LossInfo(fn, fn.name + (" (from_logits=True)" if getattr(fn, "from_logits", False) else ""),
                        fn.kind, ctx.subject.settings_source.get("loss_fn", "model file"))
    if fn is not None:
        name, kind = loss_kind(fn)
        return LossInfo(fn, name, kind, "model file")
    width = None
    if ctx.has("model_output"):
        out = ctx.model_output
        width = out.shape[-1] if out.ndim >= 2 else 1
    if width == 1 and ctx.n_classes == 2:
        return LossInfo(torch.nn.BCEWithLogitsLoss(), "BCEWithLogitsLoss", "bce_logits", "default")
    return LossInfo(torch.nn.CrossEntropyLoss(), "CrossEntropyLoss", "cross_entropy", "default")
