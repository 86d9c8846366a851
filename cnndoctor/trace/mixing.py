"""Whether one sample's output depends on the other samples of its batch, measured in eval mode.

In eval mode (BatchNorm on its running statistics, dropout off) a classifier's output for one
sample must not move when another sample of the batch changes. This module runs the model on a
small real batch, replaces its first sample by another real sample, then its last one, and
measures the largest change of the OTHER samples' outputs, relative to their largest magnitude.
Both ends are perturbed because mixing has a direction: a recurrence run over the batch axis
carries the first sample into every later one, and a ``view`` that folds the batch into time
carries the last sample into the final steps every sample's summary is read from. The same batch
run twice gives the float noise floor (rounding; anything random left on in eval mode): the caller
judges the change against both.

With hooks on every module and the same two batches, it also finds the first module (in the
order forwards finish, so the innermost first) whose per-sample outputs mix: an output is still
per-sample when, along some axis of the batch's size, the other samples' slices did not move
beyond the same tolerance. Hooks come off and the mode goes back in ``finally`` (``Hooks``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .hooks import Hooks

__all__ = ["BatchMixing", "measure_batch_mixing"]


@dataclass(frozen=True)
class BatchMixing:
    batch_size: int  # samples in the measured batch
    change: float  # largest change of the other samples' outputs, relative to their largest magnitude
    floor: float  # the same measure between two runs of the identical batch
    module: str | None = None  # the first module whose per-sample outputs mix (None: not located)
    module_type: str | None = None
    module_input_shape: tuple | None = None
    batch_first: bool | None = None  # that module's batch_first, when it has one (LSTM, GRU, attention)
    last_per_sample: str | None = None  # the last module before it whose outputs were still per sample
    module_change: float | None = None


def _first_tensor(value):
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return value
    if isinstance(value, (list, tuple)):
        for v in value:
            found = _first_tensor(v)
            if found is not None:
                return found
    if isinstance(value, dict):
        return _first_tensor(list(value.values()))
    return None


def _relative(a, b, axis: int, changed: int) -> float:
    """Largest change of the slices along ``axis`` other than ``changed`` (the samples left alone), over their
    largest value."""
    keep = [i for i in range(a.shape[axis]) if i != changed % a.shape[axis]]
    a = a.detach().double().movedim(axis, 0)[keep]
    b = b.detach().double().movedim(axis, 0)[keep]
    scale = float(a.abs().max()) if a.numel() else 0.0
    diff = float((a - b).abs().max()) if a.numel() else 0.0
    return diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))


def _mixes(a, b, n: int, changed: int) -> float | None:
    """The smallest change of the other samples over the axes of size ``n``; None when no axis has that size."""
    if a is None or b is None or tuple(a.shape) != tuple(b.shape) or not a.is_floating_point():
        return None
    changes = [_relative(a, b, axis, changed) for axis, size in enumerate(a.shape) if size == n]
    return min(changes) if changes else None


def measure_batch_mixing(model, batch, donor, seed: int, tolerance_for, *, locate: bool = True) -> BatchMixing:
    """Run ``model`` in eval mode on ``batch``, again on it, and on it with sample 0, then sample n − 1,
    replaced by ``donor``.

    ``tolerance_for(floor)`` gives the relative change a module's output may show without mixing
    (the caller's threshold), used to locate the first mixing module.
    """
    import torch

    n = int(batch.shape[0])
    first, last = batch.clone(), batch.clone()
    first[0], last[n - 1] = donor, donor
    changed = (None, None, 0, n - 1)  # which sample each run replaced
    names = {m: name or "(model)" for name, m in model.named_modules()} if locate else {}
    records: list[list] = [[] for _ in changed]
    current = [0]

    def post(module, args, output):
        out = _first_tensor(output)
        records[current[0]].append((names.get(module, type(module).__name__), module,
                                    None if out is None else out.detach().clone(),
                                    tuple(getattr(_first_tensor(args), "shape", ()) or ())))

    outs = []
    with Hooks(model) as hooks:
        if locate:
            for module in model.modules():
                hooks.add(module.register_forward_hook(post))
        model.eval()
        for i, x in enumerate((batch, batch, first, last)):
            current[0] = i
            with torch.random.fork_rng(devices=[]), torch.no_grad():
                torch.manual_seed(seed)  # anything random left on in eval mode draws the same numbers each run
                outs.append(_first_tensor(model(x)).detach())
    floor = max(_relative(outs[0], outs[1], 0, 0), _relative(outs[0], outs[1], 0, n - 1))
    change = max(_relative(outs[0], outs[i], 0, changed[i]) for i in (2, 3))
    result = BatchMixing(n, change, floor)
    if not locate or len({len(r) for r in records}) != 1:
        return result
    tolerance = tolerance_for(floor)
    previous = None
    for (name, module, a, shape), *others in zip(*records):
        moved = [_mixes(a, others[i - 1][2], n, changed[i]) for i in (2, 3)]
        if all(m is None for m in moved) or name == "(model)":
            continue
        worst = max(m for m in moved if m is not None)
        if worst > tolerance:
            return BatchMixing(n, change, floor, name, type(module).__name__, shape,
                               getattr(module, "batch_first", None), previous, worst)
        previous = name
    return result
