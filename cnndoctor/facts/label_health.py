"""Facts about the labels: their distribution per split, their support per class, their encoding vs the loss."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..context import fact
from ..errors import FactUnavailable
from ..load.data import SplitName

__all__ = ["ClassSupport", "LabelContract", "LabelDistribution"]

_TRIAL_SAMPLES = 8


def _chi_square_p(table: np.ndarray) -> float:
    """p-value of Pearson's chi-square test of homogeneity for a 2 x K table of counts.

    The chi-square tail uses the Wilson-Hilferty cube-root normal approximation (accurate to a
    few percent of p for p > 1e-12), which spares importing scipy.stats for one number.
    """
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    stat = float(((table - expected) ** 2 / expected).sum())
    dof = (table.shape[0] - 1) * (table.shape[1] - 1)
    if stat <= 0:
        return 1.0
    z = ((stat / dof) ** (1 / 3) - (1 - 2 / (9 * dof))) / math.sqrt(2 / (9 * dof))
    return float(0.5 * math.erfc(z / math.sqrt(2)))


@dataclass(frozen=True)
class LabelDistribution:
    """Class counts of both splits over the union of class ids, and how far apart they are."""

    ids: np.ndarray  # class ids (as in ``Labels.train``), sorted
    names: list  # the label each id stands for, as the user wrote it
    train_counts: np.ndarray
    test_counts: np.ndarray | None
    total_variation: float | None  # half the L1 distance between the two class-frequency vectors
    p_value: float | None  # chi-square test that both splits draw from one class distribution
    held_out: SplitName  # how messages name the test split (Data.held_out)

    @property
    def imbalance_gap(self) -> float | None:
        """The training majority rate minus 1/K over the K classes present in training (L103's statistic, which
        the learnability judgement reads too); None with fewer than two classes."""
        counts = self.train_counts[self.train_counts > 0]
        return float(counts.max() / counts.sum() - 1.0 / len(counts)) if len(counts) >= 2 else None

    def name(self, class_id) -> str:
        i = int(np.searchsorted(self.ids, class_id))
        return str(self.names[i]) if i < len(self.ids) and self.ids[i] == class_id else str(class_id)


def _names(labels, ids: np.ndarray) -> list:
    if labels.kind in ("string", "float", "one-hot"):
        return [labels.classes[i].item() if i < len(labels.classes) else int(i) for i in ids.tolist()]
    return ids.tolist()


@fact
def label_distribution(ctx) -> LabelDistribution:
    labels = ctx.full_labels if ctx.data.full is not None else ctx.labels  # every row when only a sample is held
    if labels.kind == "float":
        raise FactUnavailable("the labels are continuous, not classes")
    train = labels.train
    test = labels.test
    ids = np.unique(np.concatenate([train] + ([test] if test is not None else [])))
    train_counts = np.bincount(np.searchsorted(ids, train), minlength=len(ids))
    test_counts = tv = p = None
    if test is not None:
        test_counts = np.bincount(np.searchsorted(ids, test), minlength=len(ids))
        tv = float(0.5 * np.abs(train_counts / train_counts.sum() - test_counts / test_counts.sum()).sum())
        table = np.stack([train_counts, test_counts])
        table = table[:, table.sum(axis=0) > 0]
        if table.shape[1] >= 2:
            p = _chi_square_p(table)
    return LabelDistribution(ids, _names(labels, ids), train_counts, test_counts, tv, p, ctx.data.held_out)


@dataclass(frozen=True)
class ClassSupport:
    """Training samples per class against the size of the model."""

    ids: np.ndarray
    names: list
    counts: np.ndarray
    n_train: int
    n_parameters: int  # trainable parameters of a fresh model


@fact
def class_support(ctx) -> ClassSupport:
    dist = ctx.label_distribution
    model = ctx.subject.build_model()
    n_params = int(sum(p.numel() for p in model.parameters() if p.requires_grad))
    present = dist.train_counts > 0
    return ClassSupport(dist.ids[present], [n for n, k in zip(dist.names, present) if k],
                        dist.train_counts[present], int(dist.train_counts.sum()), n_params)


@dataclass(frozen=True)
class LabelContract:
    """How the labels are encoded, what the loss expects, and what happens when they meet."""

    kind: str  # Labels.kind
    dtype: str
    shape: tuple  # shape of y_train as stored
    loss_name: str
    loss_kind: str
    head_width: int | None  # outputs per sample of a fresh model (None: forward fails)
    bad_one_hot_rows: dict | None  # one-hot only: {"no_one": n, "several_ones": n, "not_binary": n, "examples": [...]}
    trial_error: str | None  # the loss called on the model's outputs and the labels as stored
    trial_ran: bool
    expects: str | None = None  # a Keras loss's own label contract: "one-hot", "indices", "binary"


def _one_hot_health(y: np.ndarray) -> dict:
    y = np.asarray(y, dtype=np.float64)
    binary = np.isin(y, (0.0, 1.0)).all(axis=1)
    ones = (y == 1).sum(axis=1)
    sums = y.sum(axis=1)
    no_one = binary & (ones == 0)
    several = binary & (ones > 1)
    soft = ~binary & ~np.isclose(sums, 1.0)
    bad = np.flatnonzero(no_one | several | soft)
    return {"no_one": int(no_one.sum()), "several_ones": int(several.sum()), "not_binary": int(soft.sum()),
            "examples": bad[:10].tolist()}


def _as_tensor(y: np.ndarray):
    import torch

    if y.dtype.kind == "f":
        return torch.as_tensor(y.astype(np.float32))
    if y.dtype.kind in "iub":
        return torch.as_tensor(y.astype(np.int64))
    return None


@fact
def label_contract(ctx) -> LabelContract:
    import torch

    labels = ctx.labels
    loss = ctx.loss
    raw = np.asarray(labels.raw_train)
    width = None
    trial_error, trial_ran = None, False
    if ctx.has("model_output"):
        out = ctx.model_output
        width = 1 if out.ndim == 1 else int(out.shape[1]) if out.ndim == 2 else None
        target = _as_tensor(raw[:_TRIAL_SAMPLES])
        if target is not None and out.ndim <= 2:
            trial_ran = True
            try:
                call = getattr(loss.fn, "keras_call", loss.fn)  # a Keras loss: the error fit() would raise
                value = call(torch.as_tensor(out[:_TRIAL_SAMPLES], dtype=torch.float32), target)
                if hasattr(value, "shape") and value.numel() != 1:
                    trial_error = f"the loss returned shape {tuple(value.shape)} instead of a scalar"
            except Exception as exc:  # noqa: BLE001 — the user's loss: any error is the evidence
                text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                trial_error = f"{type(exc).__name__}: {text}"
    bad = _one_hot_health(raw) if labels.kind == "one-hot" else None
    return LabelContract(labels.kind, str(raw.dtype), tuple(raw.shape), loss.name, loss.kind, width, bad,
                         trial_error, trial_ran, getattr(loss.fn, "expects", None))
