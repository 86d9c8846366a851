"""``CnndoctorCallback`` for Lightning: the live recorder inside ``trainer.fit``.

Works with ``lightning`` or ``pytorch_lightning`` (whichever is installed; imported here only). The
LightningModule is an ``nn.Module``, so the torch recorder attaches to it and to the trainer's first
optimizer when training starts and comes off when it ends; each batch's loss comes from what
``training_step`` returned, and its ``(x, y)`` from the batch::

    trainer = pl.Trainer(max_epochs=5, callbacks=[cb := CnndoctorCallback()])
    trainer.fit(module, loader)
    cb.report(); cb.save("run.cnndoctor.json")
"""

from __future__ import annotations

from typing import Callable

from ..findings import Finding
from .recorder import DEFAULT_EVERY, DEFAULT_SAMPLES, TorchRecorder
from .recording import Recording
from .watch import LiveSession

__all__ = ["CnndoctorCallback"]


def _callback_base():
    try:
        from lightning.pytorch import Callback
    except ImportError:
        try:
            from pytorch_lightning import Callback
        except ImportError:
            raise ImportError("cnndoctor.live.lightning needs lightning or pytorch_lightning installed") from None
    return Callback


def _xy(batch):
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        return batch[0], batch[1]
    if isinstance(batch, dict):
        keys = {k.lower(): k for k in batch if isinstance(k, str)}
        x, y = keys.get("x"), keys.get("y")
        return (batch[x], batch[y]) if x and y else (None, None)
    return None, None


def _loss(outputs):
    if isinstance(outputs, dict):
        return outputs.get("loss")
    return outputs


class _Callback(LiveSession):
    """The callback's logic, apart from the Lightning base class."""

    def __init__(self, *, every: int = DEFAULT_EVERY, on_symptom: Callable[[Finding], object] | None = None,
                 thresholds: dict | None = None, samples: int = DEFAULT_SAMPLES, seed: int = 0):
        super().__init__(on_symptom=on_symptom, thresholds=thresholds, seed=seed)
        self.every, self.samples = every, samples
        self.recorder: TorchRecorder | None = None
        self.module = None

    @property
    def recording(self) -> Recording:
        if self.recorder is None:
            raise RuntimeError("the callback has not seen training start (pass it to Trainer(callbacks=[...]))")
        return self.recorder.recording

    def on_train_start(self, trainer, pl_module):
        optimizer = trainer.optimizers[0] if trainer.optimizers else None
        self.module = pl_module
        self.recorder = TorchRecorder(pl_module, optimizer, every=self.every, samples=self.samples, seed=self.seed,
                                      framework="lightning")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.recorder is None:
            return
        x, y = _xy(batch)
        self.recorder.record_loss(_loss(outputs), x, y)
        self.judge_step()

    def on_train_end(self, trainer, pl_module):
        if self.recorder is not None:
            self.recorder.close()

    def on_exception(self, trainer, pl_module, exception):
        self.on_train_end(trainer, pl_module)

    def report(self, *, select=None, ignore=None):
        """The diagnosis of the run: a ``Report`` like ``diagnose`` returns."""
        self.recording  # noqa: B018 — raises when training never started
        return self._build_report(self.module, select=select, ignore=ignore)


class CnndoctorCallback(_Callback, _callback_base()):
    """Watch ``trainer.fit``: symptoms announced as they happen, ``report()`` and ``save(path)`` at the end.

    ``every``, ``on_symptom``, ``thresholds``, ``samples`` and ``seed`` mean what they mean for
    ``cnndoctor.watch``. This module imports Lightning; ``cnndoctor`` itself never does.
    """
