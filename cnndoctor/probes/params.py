"""Which tensors can learn: requires_grad, optimizer membership, and reach from the loss.

One forward pass and loss on a few samples (no backward, no update) is enough: walking the
autograd graph back from the loss finds every leaf tensor the loss depends on. Model
parameters the walk never reaches are unused by ``forward`` or cut off from the loss (a
``.detach()``, ``.numpy()`` or ``torch.no_grad()`` on the way); leaves it reaches that the
model does not register are layers kept in a plain Python list or dict, which neither
``model.parameters()`` nor the optimizer sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..keras.support import keras_state_ids
from .data import ProbeData, first_output

__all__ = ["ParamRow", "ParameterInventory", "parameter_inventory", "graph_leaves"]


@dataclass(frozen=True)
class ParamRow:
    name: str
    shape: tuple
    numel: int
    requires_grad: bool
    in_optimizer: bool
    group_lr: float | None
    reached: bool | None  # the loss depends on it (None when the graph could not be built)


@dataclass
class ParameterInventory:
    rows: list[ParamRow]
    optimizer: str
    foreign: list[tuple] = field(default_factory=list)  # shapes of optimizer tensors that are not the model's
    unregistered: list[tuple] = field(default_factory=list)  # shapes of unregistered leaves the loss uses
    graph_error: str | None = None

    @property
    def total(self) -> int:
        return sum(r.numel for r in self.rows)

    @property
    def frozen(self) -> list[ParamRow]:
        return [r for r in self.rows if not r.requires_grad]

    @property
    def not_in_optimizer(self) -> list[ParamRow]:
        return [r for r in self.rows if r.requires_grad and not r.in_optimizer]

    @property
    def zero_lr(self) -> list[ParamRow]:
        return [r for r in self.rows if r.requires_grad and r.in_optimizer and r.group_lr == 0]

    @property
    def unreached(self) -> list[ParamRow]:
        return [r for r in self.rows if r.requires_grad and r.reached is False]

    @property
    def trainable(self) -> list[ParamRow]:
        """Tensors that will actually be updated: requires_grad, in the optimizer, lr > 0, used by the loss."""
        return [r for r in self.rows
                if r.requires_grad and r.in_optimizer and r.group_lr != 0 and r.reached is not False]

    @staticmethod
    def share(rows: list[ParamRow], total: int) -> float:
        return sum(r.numel for r in rows) / total if total else 0.0


def graph_leaves(loss) -> list:
    """Leaf tensors (``AccumulateGrad`` nodes) the autograd graph of ``loss`` reaches."""
    out, seen, stack = [], set(), [loss.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        variable = getattr(node, "variable", None)
        if variable is not None:
            out.append(variable)
        stack.extend(nxt for nxt, _ in node.next_functions)
    return out


def parameter_inventory(data: ProbeData, subject, *, samples: int = 4) -> ParameterInventory:
    """Build a fresh model and the user's optimizer, and list what each parameter can do."""
    model = subject.build_model()
    optimizer = subject.make_optimizer(model.parameters())
    group_of = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            group_of[id(p)] = float(group.get("lr", 0.0))
    state = keras_state_ids(model)  # Keras moving statistics and seed states are not weights
    named = [(n, p) for n, p in model.named_parameters() if id(p) not in state]
    own = {id(p) for _, p in named}
    foreign = [tuple(p.shape) for g in optimizer.param_groups for p in g["params"] if id(p) not in own]
    reached, unregistered, error = None, [], None
    idx = np.arange(min(samples, data.n_train))
    try:
        was = model.training
        model.train()
        try:
            out = first_output(model(data.inputs("train", idx)))
            loss = data.loss_fn(out, data.targets("train", idx, like=out))
            loss = loss.mean() if loss.ndim else loss
        finally:
            model.train(was)
        if loss.grad_fn is None:
            reached = set()
        else:
            leaves = graph_leaves(loss)
            reached = {id(t) for t in leaves}
            unregistered = [tuple(t.shape) for t in leaves if id(t) not in own]
    except Exception as exc:  # the probes report failing forward passes; here the graph is only a bonus
        error = f"{type(exc).__name__}: {exc}"
    rows = [ParamRow(n, tuple(p.shape), int(p.numel()), bool(p.requires_grad), id(p) in group_of,
                     group_of.get(id(p)), None if reached is None else id(p) in reached) for n, p in named]
    return ParameterInventory(rows, type(optimizer).__name__, foreign, unregistered, error)
