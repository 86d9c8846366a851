"""``cnndoctor.watch``: the handle a plain PyTorch loop uses to have its own run diagnosed.

::

    with cnndoctor.watch(model, optimizer) as w:
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            w.step(loss, xb, yb)      # after backward(), before or after optimizer.step()
            optimizer.step()
    report = w.report()               # the same Report as cnndoctor.diagnose
    w.save("run.cnndoctor.json")      # `cnndoctor report run.cnndoctor.json` renders it later
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..config import validate_thresholds
from ..findings import Finding
from .recorder import DEFAULT_EVERY, DEFAULT_SAMPLES, TorchRecorder
from .recording import Recording
from .symptoms import Announcer, judge

__all__ = ["Watch", "watch", "LiveSession"]


class LiveSession:
    """What every live front end shares: a recorder's recording judged as it grows, announced, reported."""

    def __init__(self, *, on_symptom: Callable[[Finding], object] | None, thresholds: dict | None, seed: int):
        super().__init__()  # a callback's framework base class (Keras, Lightning) sets itself up
        self.thresholds = validate_thresholds(thresholds, where="thresholds")
        self.announcer = Announcer(on_symptom)
        self.announced: dict[str, int] = {}  # code -> the step (1-based) it was announced at
        self.seed = seed
        self._report = None

    @property
    def recording(self) -> Recording:
        raise NotImplementedError

    @property
    def symptoms(self) -> list[Finding]:
        """The symptoms announced so far, one per code, in the order they appeared."""
        return list(self.announcer.seen.values())

    def judge_step(self) -> None:
        """After a step's loss is recorded: judge on scheduled steps and at the first non-finite loss."""
        rec = self.recording
        step = len(rec.losses) - 1
        onset_now = rec.onset is not None and rec.onset.step == step + 1
        if not (onset_now or rec.scheduled(step)):
            return
        found = [f for f in judge(rec, self.thresholds) if f.code not in self.announcer.seen]
        for f in found:
            self.announced.setdefault(f.code, step + 1)
        self.announcer.announce(found)

    def _build_report(self, model, *, optimizer=None, loss_fn=None, select=None, ignore=None, name=None):
        from .report import live_report

        return live_report(self.recording, model, optimizer=optimizer, loss_fn=loss_fn, seed=self.seed,
                           thresholds=self.thresholds, select=select, ignore=ignore,
                           announced=dict(self.announced), name=name)

    def save(self, path, **kwargs):
        """Write the report's JSON (``cnndoctor report PATH`` renders it later); returns the report."""
        report = self.report(**kwargs)
        Path(path).write_text(report.to_json() + "\n", encoding="utf-8")
        return report

    def report(self, **kwargs):  # pragma: no cover - each front end defines it
        raise NotImplementedError


class Watch(LiveSession):
    """The handle ``watch()`` returns; a context manager that removes its hooks on exit."""

    def __init__(self, model, optimizer=None, loss_fn=None, *, every: int = DEFAULT_EVERY,
                 on_symptom: Callable[[Finding], object] | None = None, thresholds: dict | None = None,
                 samples: int = DEFAULT_SAMPLES, seed: int = 0):
        super().__init__(on_symptom=on_symptom, thresholds=thresholds, seed=seed)
        threshold = 0.5 if type(loss_fn).__name__ == "BCELoss" else 0.0  # one output: probability or logit
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.recorder = TorchRecorder(model, optimizer, every=every, samples=samples, seed=seed, threshold=threshold)

    @property
    def recording(self) -> Recording:
        return self.recorder.recording

    def step(self, loss, xb=None, yb=None) -> None:
        """Record one training step: its loss and (for the data checks, predictions and the NaN onset) its
        batch. Call it once per step after ``loss.backward()``; the gradients are read then (or, when the
        optimizer is watched, in its step hook)."""
        self.recorder.record_loss(loss, xb, yb)
        self.judge_step()

    def close(self) -> None:
        """Remove every hook (also done on leaving the ``with`` block)."""
        self.recorder.close()

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

    def report(self, *, select=None, ignore=None):
        """The diagnosis of the run so far: a ``Report`` like ``diagnose`` returns."""
        return self._build_report(self.model, optimizer=self.optimizer, loss_fn=self.loss_fn, select=select,
                                  ignore=ignore)


def watch(model, optimizer=None, loss_fn=None, *, every: int = DEFAULT_EVERY,
          on_symptom: Callable[[Finding], object] | None = None, thresholds: dict | None = None,
          samples: int = DEFAULT_SAMPLES, seed: int = 0) -> Watch:
    """Watch a training run of ``model`` (an ``nn.Module``) with its ``optimizer`` and ``loss_fn``.

    Records the loss and applied lr at every step and, every ``every`` steps, per-layer gradient norms
    and update/weight ratios, ReLU activity, predictions and a seeded sample of ``samples`` rows of the
    batches. Symptoms (T203 non-finite loss with its step and first layer, T204/T205 gradients, T105
    collapse, T206 dead units, T209 lr decayed to zero) are raised once per code as a ``CnndoctorWarning``
    or passed to ``on_symptom(finding)``; ``thresholds`` overrides the checks' thresholds as in ``diagnose``.
    Hooks come off on ``close()`` or leaving the ``with`` block; weights are never written.
    """
    return Watch(model, optimizer, loss_fn, every=every, on_symptom=on_symptom, thresholds=thresholds,
                 samples=samples, seed=seed)
