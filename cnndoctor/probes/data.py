"""What the probes feed the model: batches of the arrays as fed, targets shaped for the loss.

``ProbeData`` keeps references to the caller's arrays (never a copy of the whole set) and
builds each batch with one fancy-index, so a probe on 20,000 long series costs only the
batches it draws. Targets follow the loss: class ids for cross-entropy and NLL, float
targets shaped like the output for the binary and regression losses. Labels the head
cannot take (1-based ids, -1/+1 with a binary loss) make the probes unavailable with a
reason: L101/L201 report those, the probes would only crash on them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import FactUnavailable
from ..load.losses import loss_kind

__all__ = ["CLASS_LOSSES", "ProbeData", "prepare_probe_data", "label_entropy", "first_output"]

# loss kinds that take one class id per sample against K outputs
CLASS_LOSSES = ("cross_entropy", "cross_entropy_probs", "nll")
_FLOAT_LOSSES = ("bce_logits", "bce", "regression")


def first_output(out):
    """The tensor of logits when ``forward`` returns a tuple/list (logits first) or a dict."""
    if isinstance(out, (tuple, list)):
        return out[0]
    if isinstance(out, dict):
        return next(iter(out.values()))
    return out


def _numpy(X) -> np.ndarray:
    if hasattr(X, "detach"):
        X = X.detach().cpu().numpy()
    return np.asarray(X)


def label_entropy(ids: np.ndarray) -> float:
    """Entropy (nats) of the empirical label distribution: the lowest cross-entropy a constant output reaches."""
    if len(ids) == 0:
        return float("nan")
    p = np.bincount(ids - ids.min()) / len(ids)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


@dataclass
class ProbeData:
    """Arrays as fed to the model, class ids, and the loss the probes train with."""

    train_X: np.ndarray
    train_y: np.ndarray  # int64 class ids in the user's numbering
    test_X: np.ndarray | None
    test_y: np.ndarray | None
    loss_fn: Any
    loss_name: str
    loss_kind: str
    n_classes: int
    output_width: int
    output_ndim: int
    device: str
    step_train_y: np.ndarray | None = None  # what the user's train_step receives as yb
    notes: list[str] = field(default_factory=list)

    @property
    def n_train(self) -> int:
        return len(self.train_X)

    @property
    def n_test(self) -> int:
        return 0 if self.test_X is None else len(self.test_X)

    @property
    def input_shape(self) -> tuple:
        return tuple(self.train_X.shape[1:])

    @property
    def expected_initial_loss(self) -> float | None:
        """ln K for a K-way softmax head, ln 2 for a binary (one-output) head; None for other losses."""
        if self.loss_kind in CLASS_LOSSES:
            return math.log(self.output_width) if self.output_width > 1 else None
        if self.loss_kind in ("bce_logits", "bce"):
            return math.log(2.0)
        return None

    def _X(self, split: str) -> np.ndarray:
        X = self.train_X if split == "train" else self.test_X
        if X is None:
            raise ValueError(f"no {split} split")
        return X

    def _y(self, split: str) -> np.ndarray:
        return self.train_y if split == "train" else self.test_y

    def inputs(self, split: str, index, device: str | None = None, *, zero: bool = False):
        """A float32 batch on ``device``; ``zero`` gives zeros of the same shape (Karpathy's baseline)."""
        import torch

        X = self._X(split)
        idx = np.asarray(index)
        if zero:
            return torch.zeros((len(idx),) + tuple(X.shape[1:]), dtype=torch.float32, device=device or self.device)
        batch = np.ascontiguousarray(np.take(X, idx, axis=0), dtype=np.float32)
        return torch.from_numpy(batch).to(device or self.device)

    def labels(self, split: str, index) -> np.ndarray:
        return self._y(split)[np.asarray(index)]

    def targets(self, split: str, index, device: str | None = None, *, like=None):
        """Targets for ``loss_fn``: ids (cross-entropy, NLL, custom) or floats shaped like ``like``."""
        import torch

        ids = torch.from_numpy(self.labels(split, index).astype(np.int64)).to(device or self.device)
        if self.loss_kind not in _FLOAT_LOSSES:
            return ids
        if self.output_width == 1:
            target = ids.float()
            return target.reshape(like.shape) if like is not None else target[:, None]
        return torch.nn.functional.one_hot(ids, self.output_width).float()

    def step_targets(self, index, device: str | None = None):
        """``yb`` for the user's own ``train_step``: the labels as their loader would yield them."""
        import torch

        y = self.step_train_y if self.step_train_y is not None else self.train_y
        return torch.from_numpy(np.ascontiguousarray(y[np.asarray(index)])).to(device or self.device)

    def predict(self, out) -> np.ndarray:
        """Class ids predicted from a batch of outputs (argmax, or a threshold for one output)."""
        out = first_output(out).detach().float()
        if out.ndim >= 2 and out.shape[1] > 1:
            return out.argmax(1).cpu().numpy()
        flat = out.reshape(len(out))
        if self.loss_kind == "bce":
            return (flat > 0.5).long().cpu().numpy()
        if self.loss_kind == "regression":
            return flat.round().clamp(0, self.n_classes - 1).long().cpu().numpy()
        return (flat > 0).long().cpu().numpy()


def _default_loss(width: int, n_classes: int):
    import torch

    if width == 1 and n_classes == 2:
        return torch.nn.BCEWithLogitsLoss()
    return torch.nn.CrossEntropyLoss()


def _describe_ids(ids: np.ndarray) -> str:
    values = np.unique(ids)
    return f"{values.min()}..{values.max()}" if len(values) > 6 else ", ".join(map(str, values.tolist()))


def _check_targets(kind: str, width: int, n_classes: int, ids: np.ndarray, name: str) -> None:
    if kind in CLASS_LOSSES:
        if width < 2:
            raise FactUnavailable(f"the head has {width} output for {name}, which needs one logit per class "
                                  "(see L201)")
        if ids.min() < 0 or ids.max() >= width:
            raise FactUnavailable(f"the labels ({_describe_ids(ids)}) are out of range for a head with {width} "
                                  f"outputs, so {name} cannot train on them (see L101/L201)")
    elif kind in ("bce_logits", "bce"):
        if width == 1 and (ids.min() < 0 or ids.max() > 1):
            raise FactUnavailable(f"{name} needs 0/1 targets but the labels are {_describe_ids(ids)} "
                                  "(see L101/L204)")
        if width not in (1, n_classes):
            raise FactUnavailable(f"{name} with {width} outputs does not fit {n_classes} classes (see L201)")
    elif kind == "regression" and width not in (1, n_classes):
        raise FactUnavailable(f"{name} with {width} outputs does not fit {n_classes} classes (see L201/L204)")


def prepare_probe_data(subject, train_X, train_y, test_X=None, test_y=None, *, loss=None,
                       n_classes: int | None = None, step_train_y=None) -> ProbeData:
    """Check that one batch runs through the model and the loss, and wrap the arrays.

    ``train_X``/``test_X`` are the arrays as fed to the model (after the user's preprocess and
    any axis change); ``train_y``/``test_y`` are int64 class ids. ``loss`` is a ``LossInfo``
    (or any object with ``fn``, ``name``, ``kind``) or None for the subject's loss or the default.
    Raises ``FactUnavailable`` when the forward pass or the loss cannot run on these data.
    """
    import torch

    train_X = train_X if isinstance(train_X, np.ndarray) else _numpy(train_X)
    test_X = None if test_X is None else (test_X if isinstance(test_X, np.ndarray) else _numpy(test_X))
    train_y = _numpy(train_y).astype(np.int64, copy=False)
    test_y = None if test_y is None else _numpy(test_y).astype(np.int64, copy=False)
    if len(train_X) != len(train_y) or len(train_X) < 2:
        raise FactUnavailable(f"the probes need at least two labelled training samples (got {len(train_X)} "
                              f"samples, {len(train_y)} labels)")
    n_classes = int(n_classes if n_classes is not None else len(np.unique(np.concatenate(
        [train_y] + ([test_y] if test_y is not None else [])))))
    model = subject.build_model()
    xb = torch.from_numpy(np.ascontiguousarray(train_X[:2], dtype=np.float32)).to(subject.device)
    was = model.training
    try:
        model.eval()
        with torch.no_grad():
            out = first_output(model(xb))
    except Exception as exc:
        raise FactUnavailable(f"the forward pass fails ({type(exc).__name__}: {str(exc).strip()[:200]}); "
                              "see A101") from None
    finally:
        model.train(was)
    if not hasattr(out, "shape"):
        raise FactUnavailable(f"forward() returns a {type(out).__name__}, not a tensor of logits")
    if out.ndim > 2:
        raise FactUnavailable(f"the output has shape {tuple(out.shape)}: still a sequence, not one row of "
                              "logits per sample (see A104)")
    width = 1 if out.ndim == 1 else int(out.shape[1])
    if loss is not None:
        fn, name, kind = loss.fn, loss.name, loss.kind
    elif subject.loss_fn is not None:
        fn = subject.loss_fn
        name, kind = loss_kind(fn)
    else:
        fn = _default_loss(width, n_classes)
        name, kind = loss_kind(fn)
    _check_targets(kind, width, n_classes, train_y if test_y is None else np.concatenate([train_y, test_y]), name)
    data = ProbeData(train_X, train_y, test_X, test_y, fn, name, kind, n_classes, width, int(out.ndim),
                     subject.device, step_train_y=step_train_y)
    try:
        with torch.no_grad():
            value = fn(out, data.targets("train", [0, 1], like=out))
        float(value)
    except Exception as exc:
        raise FactUnavailable(f"the loss {name} fails on the model's output of shape {tuple(out.shape)} "
                              f"({type(exc).__name__}: {str(exc).strip()[:200]})") from None
    return data
