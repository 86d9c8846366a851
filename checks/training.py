"""Checks that read the training probes: can this model, loss and training step learn at all?"""

from __future__ import annotations

import math

from cnndoctor.errors import Skip
from cnndoctor.findings import Finding, Severity
from cnndoctor.keras.support import is_keras_loss
from cnndoctor.registry import check

from ._probes import attempt_row, g, is_memorised, is_stuck, pct, require_complete, require_steps, with_trained

__all__ = [
    "cannot_overfit_batch",
    "collapsed_predictions",
    "frozen_parameters",
    "initial_loss_off",
    "input_independent",
    "no_learning",
]

_SHRINK_HEAD = ("last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]\n"
                "nn.init.zeros_(last.bias)\n"
                "with torch.no_grad():\n"
                "    last.weight.mul_(0.1)   # first logits near 0: loss at init ~ ln K")


@check("L205", "initial-loss-off", "warning")
def initial_loss_off(initial_loss, *, max_ratio: float = 2.0, min_ratio: float = 0.5, error_ratio: float = 10.0):
    """## What it does
    Measures the loss of the freshly initialised model (train mode, before any update) on a
    slice of the training data and compares it with ln K — the loss of a head that starts
    out undecided between K classes (ln 2 for a binary head with one output).

    ## Why is this bad?
    With standard initialisation the logits start small, the softmax is nearly uniform and
    the first loss is close to ln K (Karpathy's "verify loss @ init"). A loss far above it
    means the logits start huge — unscaled input, a badly initialised or scaled last layer —
    so the softmax is saturated: training first spends its steps shrinking the logits,
    gradients are erratic, and ReLUs die on the way. A loss far *below* ln K is impossible
    for a model that has learned nothing: the loss is not measuring what you think (one
    output with `CrossEntropyLoss`, see L201/L204) or the input leaks the label. The
    threshold (twice ln K) corresponds to logits of several units at initialisation,
    already deep in the saturated part of the softmax.

    ## Example
    ADC counts around 2048 fed to a CNN without normalisation: the loss at init is 15.8
    instead of ln 2 = 0.69.

    ## Fix
    Scale the input (D102) and start the last layer small: zero its bias and shrink its
    weights, so the first logits are near 0 and the loss at init is about ln K.
    """
    init = initial_loss
    if init.expected is None:
        raise Skip(f"no reference loss at initialisation for {init.loss_name} ({init.loss_kind}) with "
                   f"{init.output_width} output(s)")
    if init.nonfinite_inputs:
        raise Skip(f"{init.nonfinite_inputs} of the {init.n_samples} samples hold NaN/Inf inputs (D101 reports them)")
    value, expected = init.value, init.expected
    evidence = {"initial_loss": value if value is None or math.isfinite(value) else str(value),
                "expected": round(expected, 5), "expected_formula": "ln 2" if init.output_width == 1 else
                f"ln {init.output_width}", "max_ratio": max_ratio, "min_ratio": min_ratio,
                "logit_rms": None if init.logit_rms is None else float(f"{init.logit_rms:.4g}"),
                "prior_entropy": round(init.prior_entropy, 5), "samples": init.n_samples, "loss": init.loss_name}
    if value is None or not math.isfinite(value):
        yield Finding(message=f"The loss of the freshly initialised model is not finite ({value}) before any "
                              "training step: the forward pass or the loss produces NaN/Inf from the start.",
                      evidence=evidence, severity=Severity.ERROR,
                      fix="Find where the first NaN/Inf appears: non-finite inputs (D101), log of 0 in the loss "
                          "(use the logits with BCEWithLogitsLoss/CrossEntropyLoss), or a division by zero in "
                          "forward().")
        return
    ratio = value / expected
    evidence["ratio"] = round(ratio, 4)
    if ratio > max_ratio:
        probabilities = init.loss_kind in ("cross_entropy_probs", "bce")  # the outputs are already probabilities
        scale = (f" (typical output magnitude {g(init.logit_rms)})" if init.logit_rms is not None and not probabilities
                 else "")
        squash = "sigmoid" if init.loss_kind == "bce" else "softmax"
        what = (f"the initial logits are far too large, so the {squash} starts saturated: the true class gets a "
                f"probability near e^−{g(value)}" if probabilities else
                f"the initial outputs are far too large{scale}, so the softmax starts saturated")
        yield Finding(
            message=f"The loss at initialisation is {g(value)}, {ratio:.1f}x the {evidence['expected_formula']} = "
                    f"{g(expected)} of an undecided head: {what} and the first steps go into shrinking them.",
            evidence=evidence, severity=Severity.ERROR if ratio >= error_ratio else None,
            severity_reason=(f"raised from warning: the ratio {ratio:.1f} is at least error_ratio = {error_ratio:g}"
                             if ratio >= error_ratio else None),
            fix="Scale the input to unit range (see D102) and initialise the last layer small: zero its bias and "
                "shrink its weights so the first logits are near 0.",
            snippet=None if probabilities else _SHRINK_HEAD)
    elif ratio < min_ratio:
        yield Finding(
            message=f"The loss at initialisation is {g(value)}, only {ratio:.2f}x the {evidence['expected_formula']} "
                    f"= {g(expected)} of a model that knows nothing: an untrained model cannot score that, so the "
                    "loss is not measuring the classification (see L201/L204) or the input gives the label away.",
            evidence=evidence,
            fix="Check that the loss receives one logit per class and integer class targets, and that no input "
                "channel encodes the label.")


@check("T101", "cannot-overfit-batch", "error")
def cannot_overfit_batch(overfit_batch, optimizer_settings, *, min_accuracy: float = 0.95,
                         stuck_fraction: float = 0.8, min_progress: float = 0.01):
    """## What it does
    Trains a fresh model on one small, class-balanced batch (at most 32 training samples) at
    your settings and checks that it can memorise it. When it cannot at your learning rate,
    the probe retries at a sane learning rate for your optimizer family (1e-3 for Adam-like,
    3e-2 for SGD), so the finding tells "your learning rate" apart from "a bug that no
    learning rate fixes".

    ## Why is this bad?
    Memorising 32 samples needs no generalisation at all — only a forward pass, a loss and an
    update that work. A model that cannot do it will not learn the full data set either.
    The check fires when the batch is not memorised (accuracy below `min_accuracy`) *and* the
    loss on it has not even fallen `1 - stuck_fraction` (20%) below the label entropy of the
    batch — the loss that any model ignoring its input reaches. A model that is merely slow
    (loss falling steadily, batch not yet memorised when the budget ends) is not flagged.
    When a *higher* learning rate works and the loss at yours did fall (by at least
    `min_progress`, 1%), the finding is a warning: your lr slows learning down rather than
    blocking it.

    ## Example
    `lr=10` with Adam; a head wrapped in `ReLU`; layers kept in a Python list; a `forward`
    that does not use its input; input in raw ADC counts.

    ## Fix
    If the retry at the sane learning rate memorises the batch, train at that learning rate.
    Otherwise fix the bug that blocks learning — the other findings of this report usually
    name it — and re-run until one batch can be memorised.
    """
    result = overfit_batch
    user = result.user
    if user.error is not None:
        raise Skip(f"the training step fails ({user.error}); T102 reports it")
    if result.nonfinite_inputs:
        raise Skip(f"{result.nonfinite_inputs} samples of the batch hold NaN/Inf inputs (D101, T203 report them)")
    for a in result.attempts:  # neither verdict may rest on an attempt the time cap cut short
        require_complete(a, f"overfit probe at lr {g(a.lr)}")
    floor = result.floor_loss
    kw = {"min_accuracy": min_accuracy, "stuck_fraction": stuck_fraction}
    if not is_stuck(user, floor, **kw):
        return
    evidence = {"batch_size": result.batch_size, "class_counts": {str(k): v for k, v in result.class_counts.items()},
                "floor_loss": round(floor, 5), "min_accuracy": min_accuracy, "stuck_fraction": stuck_fraction,
                "optimizer": optimizer_settings.describe(user.lr),
                "attempts": [attempt_row(a) for a in result.attempts]}
    what = (f"its loss became non-finite at step {user.nonfinite_step + 1}" if user.nonfinite else
            f"after {user.steps} steps its loss on that batch is {g(user.final_loss)} (a model that ignores its input "
            f"scores {g(floor)}) and it gets {pct(user.best_accuracy)} of the batch right")
    good = [a for a in result.retries if not is_stuck(a, floor, **kw)]
    if good:
        a = good[0]
        how = (f"memorises the same batch in {a.steps_to_memorise} steps" if a.memorised else
               f"gets {pct(a.best_accuracy)} of it right in {a.steps} steps" if is_memorised(a, min_accuracy) else
               f"brings the loss down to {g(a.final_loss)} in {a.steps} steps")
        # too low but moving: slow, not blocked; too high, or not moving at all: blocked
        moving = user.initial_loss and user.final_loss is not None and not user.nonfinite and \
            user.final_loss <= (1 - min_progress) * user.initial_loss
        slow = user.lr < a.lr and moving
        yield Finding(
            message=f"At your learning rate {g(user.lr)} ({optimizer_settings.brief()}) the model cannot memorise one "
                    f"batch of {result.batch_size} "
                    f"training samples: {what}. At lr {g(a.lr)} it {how}, so the learning rate is what "
                    + ("slows it down." if slow else "stops it."),
            evidence={**evidence, "verdict": "learning rate", "user_lr_moving": bool(moving),
                      "min_progress": min_progress},
            severity=Severity.WARNING if slow else None,
            fix=f"Train at a learning rate near {g(a.lr)} (the LR range test, T201/T202, refines it).")
        return
    tried = ", ".join(g(a.lr) for a in result.retries)
    # no retry runs only when every sane lr of the optimizer family lies within 3x of the user's: theirs is one
    yield Finding(
        message=f"The model cannot memorise one batch of {result.batch_size} training samples, not at your learning "
                f"rate {g(user.lr)} ({optimizer_settings.brief()})"
                + (f" nor at {tried}" if tried else f", already a usual one for {result.optimizer}")
                + f": {what}. Something that no learning rate fixes blocks learning.",
        evidence={**evidence, "verdict": "no learning rate helps" if tried else
                  "no learning rate helps (yours is already a usual one)"},
        fix="Fix what blocks learning before tuning anything: the other findings (data scale, labels, head and loss, "
            "frozen or disconnected layers, a forward() that ignores its input) usually name it.")


_STEP_SNIPPET = "optimizer.zero_grad()\nloss = criterion(model(xb), yb)\nloss.backward()\noptimizer.step()"


def _mechanics(run, inventory, keras: bool = False) -> tuple[str, str, str | None] | None:
    """Why the weights never moved, the fix and its snippet (None: no loop to show); None when they moved."""
    if run.changed_fraction is None or run.changed_fraction > 0 or run.steps == 0:
        return None
    if not inventory.rows:
        return "the model has no parameters", "Give the model trainable layers.", _STEP_SNIPPET
    if not inventory.trainable:
        if len(inventory.frozen) == len(inventory.rows):
            return ("every parameter has requires_grad=False",
                    "Remove the requires_grad_(False) / torch.no_grad() that freezes the model.", _STEP_SNIPPET)
        if not any(r.in_optimizer for r in inventory.rows):
            other = f" (it holds {len(inventory.foreign)} tensors of another model)" if inventory.foreign else ""
            return (f"the optimizer holds none of the model's {len(inventory.rows)} parameter tensors{other}",
                    "Build the optimizer from this model's parameters: make_optimizer(model.parameters()).",
                    _STEP_SNIPPET)
        if inventory.zero_lr:
            return "the optimizer's learning rate is 0", "Give the optimizer a learning rate above 0.", _STEP_SNIPPET
    step = "your train_step" if run.used_train_step else "the training step"
    trainable = [r for r in inventory.rows if r.requires_grad]
    if len(run.never_nonzero_grad) == len(trainable) and not run.used_train_step and any(r.reached for r in trainable):
        if keras:
            return ("the loss is connected to them but its gradient is exactly zero at every step: the outputs sit "
                    "where the loss is flat — probabilities saturated at 0 or 1, which Keras clips to [1e-7, 1 − 1e-7] "
                    "when from_logits=False, so no gradient passes",
                    "Find what saturates the outputs (unscaled inputs, huge initial logits); end with a linear Dense "
                    "and compile with from_logits=True so the loss never clips.", None)
        return ("the loss is connected to them but its gradient is exactly zero at every step: the outputs sit where "
                "the loss is flat — a round/argmax/clamp/sign between the weights and the loss, or probabilities "
                "saturated and clipped inside the loss",
                "Remove the non-differentiable operation from the path to the loss (keep round/argmax for "
                "inference), and find what saturates the outputs (unscaled inputs, huge initial logits).", None)
    if len(run.never_nonzero_grad) == len(trainable):
        return (f"no gradient ever reaches them: {step} does not call loss.backward() on a loss connected to the "
                "model's output (a .detach(), .item(), .numpy() or torch.tensor(...) cuts the graph)",
                "Compute the loss directly from model(xb) and call loss.backward() on it, without detaching it.",
                _STEP_SNIPPET)
    return (f"the gradients are there but {step} never applies them (optimizer.step() is not called, or is called "
            "on another optimizer)", "Call optimizer.step() after loss.backward() in every step.", _STEP_SNIPPET)


@check("T102", "no-learning", "error")
def no_learning(training_probe, parameter_inventory, loss, *, max_accumulation: float = 2.0, min_drop: float = 0.1):
    """## What it does
    Runs a short training probe at your settings — your loss, optimizer, learning rate,
    batch size and, when model.py defines one, your own `train_step` — and checks the
    mechanics of learning: the step runs, the weights move, the gradients reach them, and
    `.grad` is cleared between steps.

    ## Why is this bad?
    When the weights never change, the loss cannot move and accuracy stays at chance no
    matter how long you train: gradients that never arrive (`loss.backward()` missing, or a
    `.detach()`/`.item()`/`torch.tensor(...)` that cuts the graph), an optimizer built over
    another model's parameters, every parameter frozen, or `optimizer.step()` never called —
    or gradients that arrive exactly zero because the outputs saturate where the loss is flat
    (Keras clips probabilities at 1e-7 when `from_logits=False`).
    When `.grad` is never cleared (`optimizer.zero_grad()` missing), every update adds all
    earlier gradients again: the step size grows with each step and training oscillates or
    diverges. The check measures how large `.grad` is after a step relative to the gradient of
    that step alone: 1 with a correct loop, growing with the step count without
    `zero_grad()` (threshold `max_accumulation`, 2).

    ## Example
    A `train_step` that calls `loss.backward()` but never `optimizer.zero_grad()`; a step that
    wraps the output as `model(xb).detach().requires_grad_()` to silence "element 0 of tensors
    does not require grad"; `optimizer = Adam(other_model.parameters())`.

    ## Fix
    Use the standard order in every step: `optimizer.zero_grad()`, `loss = criterion(model(xb),
    yb)`, `loss.backward()`, `optimizer.step()`, with the optimizer built from this model's
    parameters and nothing detached between the output and the loss.
    """
    run, inv = training_probe, parameter_inventory
    base = {"steps": run.steps, "lr": run.lr, "train_step": run.used_train_step, "initial_loss": run.initial_loss,
            "final_loss": run.loss_window(False),
            "loss_drop": None if run.loss_drop is None else round(run.loss_drop, 4),
            "weight_change": run.weight_change, "changed_fraction": run.changed_fraction, "probe": run.summary()}
    if run.error is not None:
        where = "before the first update" if run.steps == 0 else f"at step {run.steps + 1}"
        yield Finding(message=f"The training step fails {where}: {run.error}.",
                      evidence={**base, "error": run.error},
                      fix="Make one training step run on a batch of the data before anything else: fix the error "
                          "above (shapes, dtypes and devices of xb, yb and the model output).")
        return
    require_complete(run, "training probe")
    cause = _mechanics(run, inv, keras=is_keras_loss(loss.fn))
    if cause is not None:
        why, fix, snippet = cause
        yield Finding(message=f"The weights never change during {run.steps} training steps because {why}. The loss "
                              "cannot move, so the model stays at chance however long it trains.",
                      evidence={**base, "tensors_without_gradient": run.never_nonzero_grad[:20],
                                "tensors_in_optimizer": sum(r.in_optimizer for r in inv.rows),
                                "parameter_tensors": len(inv.rows), "foreign_tensors_in_optimizer": len(inv.foreign)},
                      fix=fix,
                      snippet=snippet)
        return
    acc = run.grad_accumulation
    if acc is not None and acc >= max_accumulation:
        learning = run.loss_drop is not None and run.loss_drop >= min_drop
        step = "your train_step" if run.used_train_step else "the training step"
        yield Finding(message=f"Gradients are never cleared: after each step `.grad` holds {acc:.1f}x the gradient of "
                              f"that step (1x when optimizer.zero_grad() runs), so {step} re-applies every earlier "
                              "gradient and the updates grow with each step.",
                      evidence={**base, "grad_accumulation": round(acc, 3), "max_accumulation": max_accumulation},
                      severity=Severity.WARNING if learning else None,
                      fix="Call optimizer.zero_grad() at the start of every training step.",
                      snippet=_STEP_SNIPPET)


def _rows(rows, limit: int = 6) -> str:
    names = [r.name for r in rows]
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


@check("T103", "frozen-parameters", "warning")
def frozen_parameters(parameter_inventory, *, max_unused_share: float = 0.1):
    """## What it does
    Lists the model's parameters that look trainable but will never be trained: tensors with
    `requires_grad=False`, tensors missing from the optimizer (or in a group with lr 0),
    tensors the loss does not depend on, and layers the loss uses but the model does not
    register (kept in a plain Python list or dict). It builds the model and your optimizer
    and walks the autograd graph back from the loss of one batch — no training needed.

    ## Why is this bad?
    Parameters that are never updated keep their random initial values: a frozen first
    convolution is a fixed random filter bank, and layers in a Python list are invisible to
    `model.parameters()`, the optimizer and `.to(device)`. The model trains with a fraction
    of its capacity and nothing tells you. Tensors that the loss never reaches are layers
    `forward()` does not use or whose path to the output is cut (`.detach()`, `.numpy()`,
    `torch.no_grad()` inside `forward`); a small unused share (below `max_unused_share`, 10%)
    is reported as info, since a leftover layer is harmless.

    ## Example
    `for p in self.conv1.parameters(): p.requires_grad = False` left from a transfer-learning
    recipe on a model trained from scratch; `self.blocks = [nn.Conv1d(...), ...]`;
    `Adam(model.head.parameters())`.

    ## Fix
    Keep layers in `nn.ModuleList`/`nn.ModuleDict`, build the optimizer from
    `model.parameters()`, and remove `requires_grad_(False)` unless the weights are
    pretrained and frozen on purpose.
    """
    inv = parameter_inventory
    total = inv.total
    parts, fixes, severity = [], [], None
    if inv.frozen:
        parts.append(f"{len(inv.frozen)} tensors have requires_grad=False ({_rows(inv.frozen)})")
        fixes.append("remove the requires_grad_(False) (unless those weights are pretrained and frozen on purpose)")
    if inv.not_in_optimizer:
        other = f"; it holds {len(inv.foreign)} tensors that are not this model's" if inv.foreign else ""
        parts.append(f"{len(inv.not_in_optimizer)} trainable tensors are not in the optimizer "
                     f"({_rows(inv.not_in_optimizer)}{other})")
        fixes.append("build the optimizer from model.parameters()")
    if inv.zero_lr:
        parts.append(f"{len(inv.zero_lr)} tensors sit in an optimizer group with lr 0 ({_rows(inv.zero_lr)})")
        fixes.append("give every parameter group a learning rate above 0")
    if inv.unregistered:
        n = sum(math.prod(s) for s in inv.unregistered)
        parts.append(f"the loss depends on {len(inv.unregistered)} tensors ({n:,} values) that the model does not "
                     "register — layers kept in a plain Python list or dict, invisible to model.parameters(), the "
                     "optimizer and .to(device)")
        fixes.append("hold sub-layers in nn.ModuleList / nn.ModuleDict")
    unreached = [r for r in inv.unreached if r.in_optimizer]
    if unreached:
        parts.append(f"{len(unreached)} tensors never influence the loss ({_rows(unreached)}): forward() does not use "
                     "them, or their path to the output is detached")
        fixes.append("use those layers in forward() without .detach()/.numpy()/no_grad, or delete them")
    if not parts:
        return
    dead = {r.name for r in inv.frozen + inv.not_in_optimizer + inv.zero_lr + unreached}
    share = sum(r.numel for r in inv.rows if r.name in dead) / total if total else 0.0
    only_unused = not (inv.frozen or inv.not_in_optimizer or inv.zero_lr or inv.unregistered)
    if only_unused and share < max_unused_share:
        severity = Severity.INFO
    if not inv.trainable:
        severity = Severity.ERROR
    lead = (f"{len(dead)} of {len(inv.rows)} parameter tensors ({pct(share)} of the weights) will never be trained"
            if dead else "Part of the model will never be trained")
    yield Finding(
        message=f"{lead}: " + "; ".join(parts) + ".",
        evidence={"frozen": [r.name for r in inv.frozen], "not_in_optimizer": [r.name for r in inv.not_in_optimizer],
                  "zero_lr": [r.name for r in inv.zero_lr], "unused_by_loss": [r.name for r in unreached],
                  "unregistered_shapes": [list(s) for s in inv.unregistered],
                  "foreign_tensors_in_optimizer": len(inv.foreign), "untrained_share": round(share, 4),
                  "parameter_tensors": len(inv.rows), "parameters": total, "optimizer": inv.optimizer,
                  "max_unused_share": max_unused_share},
        severity=severity,
        fix=(fixes[0][0].upper() + fixes[0][1:] + ("; " + "; ".join(fixes[1:]) if fixes[1:] else "") + "."),
        snippet=("self.blocks = nn.ModuleList([nn.Conv1d(...), nn.Conv1d(...)])   # not a Python list\n"
                 "optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)")
        if inv.unregistered or inv.not_in_optimizer else None)


@check("T104", "input-independent", "error")
def input_independent(training_probe, zero_input_probe, *, min_gain: float = 0.05, min_spread: float = 1e-4,
                      min_drop: float = 0.1, min_accuracy_gain: float = 0.05):
    """## What it does
    Karpathy's input-independent baseline: trains the model the same way (same steps, same
    batches, same seed) on inputs set to zero and compares it with the probe on the real
    series. Also measures how much the trained model's outputs vary from sample to sample.

    ## Why is this bad?
    A model that does no better on real series than on zeros is not using its input: it can
    only learn the class frequencies, and accuracy sits at the majority rate. It fires when
    the outputs are identical for every input (their spread across samples is below
    `min_spread` of their magnitude), or when the real-input probe learned something (its
    loss fell by `min_drop`) yet ends no better than the zeroed-input one (within `min_gain`,
    5%, of its loss), its training accuracy and its held-out balanced accuracy no more than
    `min_accuracy_gain` (5 points) above the zeroed run's (on imbalanced classes accuracy sits
    at the majority rate either way; balanced accuracy shows whether the small classes were
    learned). The zeroed run is skipped when the real probe already beats the label entropy,
    the lowest loss any input-independent model can reach.

    ## Example
    A `forward` that passes a buffer (the zero tensor used to size the head) through the
    convolutions instead of `x`; every ReLU dead after a learning-rate blow-up; a `preprocess`
    that turns the series into constants.

    ## Fix
    Make sure `forward(x)` computes from `x` all the way to the logits, that the input is
    scaled so activations do not saturate or die, and that `preprocess` keeps the signal.
    """
    real, zero = training_probe, zero_input_probe
    require_steps(real)
    require_complete(zero.run, "zeroed-input baseline")
    if real.nonfinite:
        raise Skip("the training probe's loss became non-finite (T203), so its final model says nothing")
    evidence = {"real_train_loss": real.train_loss, "real_train_accuracy": real.train_accuracy,
                "zeroed_train_loss": zero.train_loss, "zeroed_train_accuracy": zero.train_accuracy,
                "input_independent_floor_loss": zero.floor_loss, "majority_rate": zero.floor_accuracy,
                "output_spread": real.output_spread, "min_spread": min_spread, "min_gain": min_gain,
                "real_loss_drop": None if real.loss_drop is None else round(real.loss_drop, 4),
                "baseline_ran": zero.ran, "probe": real.summary()}
    if real.output_spread is not None and real.output_spread < min_spread:
        yield Finding(
            message=f"The model's outputs are the same for every input: after {real.steps} training steps their "
                    f"spread across {real.n_eval_train} training samples is {g(real.output_spread)} of their size "
                    f"(threshold {g(min_spread)}), so it predicts one thing for all series (accuracy "
                    f"{pct(real.train_accuracy)}, majority rate {pct(zero.floor_accuracy)}).",
            evidence=evidence,
            fix="Check that forward(x) computes from x all the way to the logits, and that no layer kills the signal "
                "(dead ReLUs, T206; saturated sigmoids/tanh; vanishing gradients, T205).")
        return
    if not zero.ran or zero.train_loss is None or real.train_loss is None:
        return
    no_better = real.train_loss >= zero.train_loss * (1 - min_gain) and \
        (real.train_accuracy or 0) <= (zero.train_accuracy or 0) + min_accuracy_gain
    # on imbalanced classes both accuracies sit near the majority rate: a model that learned the small
    # classes shows it in its held-out balanced accuracy (chance 1/K), which zeros cannot raise
    real_ba, zero_ba = real.balanced_accuracy, zero.run.balanced_accuracy if zero.run is not None else None
    if real_ba is not None and zero_ba is not None:
        no_better = no_better and real_ba <= zero_ba + min_accuracy_gain
        evidence.update(real_balanced_accuracy=round(real_ba, 4), zeroed_balanced_accuracy=round(zero_ba, 4))
    learned = real.loss_drop is not None and real.loss_drop >= min_drop
    if no_better and learned:
        yield Finding(
            message=f"The model does no better on the real series than on all-zero inputs: trained the same way, it "
                    f"ends at loss {g(real.train_loss)} and accuracy {pct(real.train_accuracy)} on real inputs versus "
                    f"{g(zero.train_loss)} and {pct(zero.train_accuracy)} on zeros, so it learned the class "
                    "frequencies and nothing from the signal.",
            evidence=evidence,
            fix="Find where the signal is lost between the input and the logits: input scale (D102), a forward() "
                "that does not use x, dead or saturated activations.")


@check("T105", "collapsed-predictions", "error")
def collapsed_predictions(training_probe, trained_weights, *, max_share: float = 0.95, min_excess: float = 0.1,
                          chance_margin: float = 0.1, min_progress: float = 0.05, stalled_progress: float = 0.002):
    """## What it does
    After the training probe, counts which class the model predicts for each held-out sample
    (the training slice when there is no test split). With trained weights (`--weights
    ckpt.pt`, or `diagnose(model, reinit=False)`) it also counts what those weights predict, in
    eval mode, on the test split (else the training slice), and reports them apart (evidence
    `weights`); the plateau rule below is only for the probe.

    ## Why is this bad?
    A model that predicts (almost) one class scores exactly that class's share of the data:
    the typical "accuracy is stuck at 10%" (or at the majority rate) of a model that learned
    nothing from its input. It fires when one class takes at least `max_share` (95%) of the
    predictions while it holds at least `min_excess` (10 points) fewer of the true labels, or
    while the balanced accuracy (mean per-class recall) is within `chance_margin` (10 points)
    of 1/K: on 95/5 data a model that predicts only the majority class gives it 100% of the
    predictions, only 5 points above its 95% of the labels, but its balanced accuracy is 50%,
    chance. The cause is usually reported by another finding (input scale, learning rate,
    labels, dead units, class imbalance), and this one confirms its effect. Many healthy models predict one class
    for a while before the loss leaves its plateau, so it stays silent while the probe's
    training loss is still falling clearly (by `min_progress`, 5%, over the second half of
    the run), and is only a warning while it still falls measurably (more than
    `stalled_progress`, 0.2%): such a model may leave the plateau after many more epochs.

    ## Example
    Raw sensor counts fed to a CNN: after a few steps every series is classified as class 1.

    ## Fix
    Fix the cause the other findings name; if the classes are imbalanced, also weight the
    loss (`CrossEntropyLoss(weight=...)`) or resample the training set.
    """
    limits = {"max_share": max_share, "min_excess": min_excess, "chance_margin": chance_margin}
    found = _trained_collapse(trained_weights, **limits) if trained_weights is not None else ()
    yield from with_trained(trained_weights, found, lambda: _probe_collapse(
        training_probe, **limits, min_progress=min_progress, stalled_progress=stalled_progress))


def _collapsed(share, true_share, balanced, n_classes, *, max_share, min_excess, chance_margin) -> tuple[bool, bool]:
    """(collapsed, at chance): one class takes ``max_share`` of the predictions and either holds ``min_excess``
    fewer of the labels or the balanced accuracy is within ``chance_margin`` of 1/K."""
    at_chance = balanced is not None and n_classes >= 2 and balanced <= 1.0 / n_classes + chance_margin
    return share >= max_share and (share - true_share >= min_excess or at_chance), at_chance


def _trained_collapse(trained, *, max_share, min_excess, chance_margin):
    """T105 on the trained weights: their eval-mode predictions on the test split (else the training slice)."""
    split = trained.judged
    if split.n < 10 or split.nonfinite_outputs:
        return  # too few to count, or NaN outputs: no class is predicted
    top, top_n = split.top
    share, true_share = split.top_share, split.true_share(top)
    k = len(split.true_counts)
    collapsed, at_chance = _collapsed(share, true_share, split.balanced_accuracy, k, max_share=max_share,
                                      min_excess=min_excess, chance_margin=chance_margin)
    if not collapsed:
        return
    where = "test" if split.split == "test" else "training"
    yield Finding(
        message=f"The trained weights ({trained.source}) predict (almost) only class {top}: in eval mode they "
                f"assign {top_n} of {split.n} {where} samples ({pct(share)}) to it, while {pct(true_share)} belong "
                f"there, so their accuracy ({pct(split.accuracy)}) is just that class's share"
                + (f" and their balanced accuracy ({pct(split.balanced_accuracy)}) is chance for {k} classes"
                   if at_chance else "") + ".",
        evidence={"weights": trained.label, "trained": trained.summary(), "split": where,
                  "predicted_counts": {str(c): v for c, v in split.predicted_counts.items()},
                  "true_counts": {str(c): v for c, v in split.true_counts.items()}, "top_class": top,
                  "top_share": round(share, 4), "true_share": round(true_share, 4), "accuracy": split.accuracy,
                  "balanced_accuracy": None if split.balanced_accuracy is None else round(split.balanced_accuracy, 4),
                  "chance": round(1.0 / max(1, k), 4), "train_split": trained.train.to_dict(),
                  "max_share": max_share, "min_excess": min_excess, "chance_margin": chance_margin},
        fix="The checkpoint learned the class frequencies, not the signal. Fix the cause the other findings name "
            "(input scale, learning rate, labels, BatchNorm statistics) and retrain; evaluate it on data "
            "preprocessed exactly as in training; for imbalanced classes also weight the loss or resample.")


def _probe_collapse(run, *, max_share, min_excess, chance_margin, min_progress, stalled_progress):
    """T105 on the training probe (fresh weights)."""
    require_steps(run)
    if run.nonfinite:
        raise Skip("the training probe's loss became non-finite (T203); its predictions are meaningless")
    counts = run.predicted_counts
    n = sum(counts.values())
    if n < 10:
        raise Skip(f"only {n} predictions to count")
    top, top_n = max(counts.items(), key=lambda kv: kv[1])
    share = run.top_share
    true_share = run.true_counts.get(top, 0) / max(1, sum(run.true_counts.values()))
    chance = 1.0 / max(1, len(run.true_counts))
    balanced = run.balanced_accuracy
    collapsed, at_chance = _collapsed(share, true_share, balanced, len(run.true_counts), max_share=max_share,
                                      min_excess=min_excess, chance_margin=chance_margin)
    if not collapsed:
        return
    progress = run.recent_progress()
    if progress is not None and progress >= min_progress:
        return  # still leaving the plateau: the collapse may be a passing stage
    split = "held-out" if run.prediction_split == "held-out" else "training"
    acc = run.held_out_accuracy if split == "held-out" else run.train_accuracy
    slow = progress is not None and progress > stalled_progress
    tail = (f" Its training loss still falls slowly ({pct(progress)} over the last half of the probe), so it may "
            "leave this plateau after many more epochs." if slow else "")
    yield Finding(
        message=f"The model predicts (almost) only class {top}: after {run.steps} training steps it assigns {top_n} of "
                f"{n} {split} samples ({pct(share)}) to it, while {pct(true_share)} belong there, so its accuracy "
                f"({pct(acc)}) is just that class's share"
                + (f" and its balanced accuracy ({pct(balanced)}) is chance for {len(run.true_counts)} classes"
                   if at_chance else "") + f".{tail}",
        severity=Severity.WARNING if slow else None,
        evidence={"probe": run.summary(), "predicted_counts": {str(k): v for k, v in counts.items()},
                  "true_counts": {str(k): v for k, v in run.true_counts.items()}, "top_class": top,
                  "top_share": round(share, 4), "true_share": round(true_share, 4), "accuracy": acc,
                  "balanced_accuracy": None if balanced is None else round(balanced, 4), "chance": round(chance, 4),
                  "max_share": max_share, "min_excess": min_excess, "chance_margin": chance_margin, "split": split,
                  "steps": run.steps,
                  "recent_progress": None if progress is None else round(progress, 4), "min_progress": min_progress,
                  "stalled_progress": stalled_progress},
        fix="Fix the cause named by the other findings (input scale, learning rate, labels, dead units); for "
            "imbalanced classes also weight the loss or resample.")
