"""Live symptoms: the recording judged, as it grows, by the registered checks, and announced once per code.

The judgement is the checks' own: the recording is presented as the ``ProbeRun`` the training checks read
(``Recording.as_probe_run``) and each check function of ``LIVE_CHECKS`` is called with its registered
thresholds (and the user's overrides), so no number is copied here. A non-finite loss is announced at the
step it happens, with the first layer it appeared in, under T203's code: T203 has no threshold (any
non-finite loss counts), and its check reads the overfit probe as well, which a live run does not have.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Callable, Mapping

from ..errors import Skip
from ..findings import Finding
from ..registry import get_check
from .recording import Recording

__all__ = ["CnndoctorWarning", "LIVE_CHECKS", "MIN_POINTS", "judge", "nonfinite_finding", "unmoved_weights_finding",
           "Announcer"]

# The training checks that judge a live recording as they judge the training probe: each reads only
# ``training_probe``. T102-T104, T201/T202, T207/T208 need fresh probes and are left to the report (T102's
# plainest case, weights that never change, is seen live: ``unmoved_weights_finding``).
LIVE_CHECKS = ("T204", "T205", "T105", "T206", "T209")

# Full records (scheduled steps) before the curve-based judgements start: with one or two points a
# freshly initialised model that predicts one class, or the gradients of the first steps, say nothing yet.
MIN_POINTS = 3


class CnndoctorWarning(UserWarning):
    """A symptom cnndoctor saw in a training run it watches (``cnndoctor.watch`` and the callbacks)."""


def _named(finding: Finding, spec) -> Finding:
    return dataclasses.replace(finding, code=spec.code, name=spec.name, severity=finding.severity or spec.severity)


def nonfinite_finding(recording: Recording) -> Finding | None:
    """T203 for the step at which the user's loss became NaN/Inf, naming the first layer it appeared in."""
    onset = recording.onset
    if onset is None:
        return None
    spec = get_check("T203")
    lr = f" at lr {onset.lr:.3g}" if onset.lr is not None else ""
    if onset.where == "input batch":
        fix = "Remove or impute the NaN/Inf values in the data before training (D101 finds them)."
    elif onset.where == "loss function":
        fix = ("Use a numerically stable loss on logits (CrossEntropyLoss, BCEWithLogitsLoss) instead of a log of "
               "probabilities, and guard divisions and square roots with an epsilon.")
    else:
        fix = ("Lower the learning rate and clip the gradient norm (after loss.backward()); scale the input if it "
               "is not normalised.")
    evidence = {"step": onset.step, "layer": onset.layer, "where": onset.where, "loss": str(onset.loss),
                "last_finite_loss": onset.last_finite_loss, "lr": onset.lr, "grad_layer": onset.grad_layer,
                "weight_layer": onset.weight_layer, "source": "your training run", "threshold": "any non-finite loss"}
    return _named(Finding(message=f"Your training loss became {onset.loss} {onset.describe()}{lr}. From there on "
                                  "every gradient and then every weight is NaN: the model is destroyed for good.",
                          evidence=evidence, fix=fix,
                          snippet="torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)"
                          "  # after loss.backward()"), spec)


def unmoved_weights_finding(recording: Recording) -> Finding | None:
    """T102 when the optimizer steps of at least ``MIN_POINTS`` scheduled records changed no weight of the model
    at all: the loss cannot move. T102's own judgement needs a fresh probe's parameter inventory; this is the
    part of its meaning (the weights never change) that the run shows directly, with no threshold (exact zero)."""
    rows = recording.update_rows
    if len(rows) < MIN_POINTS or any(v != 0 for row in rows for v in row):
        return None
    spec = get_check("T102")
    finite = [v for v in recording.losses if v == v]
    first, last = (finite[0], finite[-1]) if finite else (None, None)
    grads = [v for row in recording.grad_rows for v in row]
    why = ("no gradient reaches them (every recorded gradient is zero: a .detach(), .item() or torch.tensor(...) "
           "cuts the graph, or loss.backward() is not called)" if grads and not any(grads) else
           "the optimizer does not update them (built over another model's parameters, lr 0, or its step runs "
           "before backward())")
    return _named(Finding(
        message=f"No weight of your model changed in {len(rows)} recorded optimizer steps (up to step "
                f"{recording.update_steps[-1] + 1}) because {why}: the loss cannot move (from {first:.4g} to "
                f"{last:.4g} so far)." if finite else
                f"No weight of your model changed in {len(rows)} recorded optimizer steps because {why}.",
        evidence={"recorded_update_steps": [s + 1 for s in recording.update_steps][-8:],
                  "largest_update_ratio": 0.0, "first_loss": first, "last_loss": last,
                  "gradients_all_zero": bool(grads) and not any(grads), "source": "your training run",
                  "threshold": "no weight changed at all"},
        fix="Build the optimizer from this model's parameters (optimizer = Adam(model.parameters(), ...)), call "
            "loss.backward() before optimizer.step(), and keep the loss connected to the output (no .detach()/"
            ".item() on the way)."), spec)


def judge(recording: Recording, thresholds: Mapping[str, Mapping] | None = None) -> list[Finding]:
    """The findings the recording supports now: T203 at a non-finite loss, T102 when no weight moves, then
    ``LIVE_CHECKS``."""
    found = [f for f in (nonfinite_finding(recording),) if f is not None]
    if len(recording.curve_steps) < MIN_POINTS:
        return found
    unmoved = unmoved_weights_finding(recording)
    if unmoved is not None:
        found.append(unmoved)
    # the facts a live judgement has: the run itself, and no separate evaluation of trained weights (the
    # run's own end state is that evaluation)
    facts = {"training_probe": recording.as_probe_run(), "trained_weights": None}
    for code in LIVE_CHECKS:
        spec = get_check(code)
        if not set(spec.facts) <= set(facts):
            continue
        try:
            args = {name: facts[name] for name in spec.facts}
            found += [_named(f, spec) for f in spec.func(**args, **spec.options(thresholds)) or ()]
        except Skip:
            continue
    return found


class Announcer:
    """Raise each code once: a ``CnndoctorWarning``, or the user's ``on_symptom(finding)`` instead."""

    def __init__(self, on_symptom: Callable[[Finding], object] | None = None):
        self.on_symptom = on_symptom
        self.seen: dict[str, Finding] = {}

    def announce(self, findings: list[Finding]) -> None:
        for f in findings:
            if f.code in self.seen:
                continue
            self.seen[f.code] = f
            if self.on_symptom is not None:
                self.on_symptom(f)
            else:
                warnings.warn(f"cnndoctor {f.code} {f.name}: {f.message}\nfix: {f.fix}", CnndoctorWarning,
                              stacklevel=4)
