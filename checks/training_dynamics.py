"""Checks on how training behaves: learning rate, non-finite losses, gradients, units, modes, generalisation."""

from __future__ import annotations

import math

from cnndoctor.errors import Skip
from cnndoctor.findings import Finding, Severity
from cnndoctor.registry import check

from ._probes import g, is_stuck, pct, require_complete, require_steps, with_trained

__all__ = [
    "dead_units",
    "exploding_gradients",
    "generalization_gap",
    "lr_too_high",
    "lr_decayed_to_zero",
    "lr_too_low",
    "non_finite_loss",
    "train_eval_gap",
    "vanishing_gradients",
]


def _lr_evidence(lr_range, run, optimizer_settings) -> dict:
    return {**lr_range.summary(), "optimizer": optimizer_settings.describe(lr_range.user_lr),
            "probe_loss_drop": None if run.loss_drop is None else round(run.loss_drop, 4),
            "probe_initial_loss": run.initial_loss, "probe_final_loss": run.loss_window(False),
            "probe_non_finite": run.nonfinite, "probe": run.summary()}


def _divergence(run, spike_factor: float) -> tuple[bool, str | None, float | None]:
    """Whether a probe diverged (non-finite loss, or a jump above ``spike_factor`` times its start), in words."""
    initial = run.initial_loss
    peak, at = run.peak_batch_loss()  # a median of three consecutive batches: one unlucky batch is not a blow-up
    if run.nonfinite:
        return True, f"its loss became non-finite at step {run.nonfinite_step + 1}", peak
    if peak is not None and initial is not None and initial > 0 and peak > spike_factor * initial:
        return True, (f"its loss jumped from {g(initial)} to {g(peak)} (median of three batches, from step "
                      f"{at})"), peak
    return False, None, peak


@check("T201", "lr-too-high", "error")
def lr_too_high(lr_range, training_probe, optimizer_settings, other_seed_probes, *, max_drop: float = 0.3,
                spike_factor: float = 10.0, near_factor: float = 10.0, other_seeds: int = 2):
    """## What it does
    Runs a learning-rate range test — one short run from fresh weights whose learning rate
    grows exponentially step by step (from 1e-6, or 100x below yours, to 10, or 10x above
    yours) with your optimizer and batch size — and places your learning rate on the curve.
    The curve is smoothed after the sweep with a centred running median and mean (no lag,
    robust to single-batch spikes).

    ## Why is this bad?
    Past the point where the range test's loss turns back up above where it started (or
    becomes NaN), every step undoes the previous one: the loss oscillates or explodes, ReLUs
    die, and the model ends predicting one class. The check fires when your lr is at or
    beyond that point *and* the training probe at your lr confirms it — its loss fell by less
    than `max_drop` (30%), became non-finite, or jumped above `spike_factor` (10) times its
    starting value on the way (median of three consecutive batches; a recovery after such a
    blow-up is luck, not a working lr) — so a noisy sweep alone never fires it. A loss that is
    already non-finite before the first update says nothing about the learning rate; T203
    reports it, and neither does a curve whose weights never moved (T102).

    Close to that point, whether training survives depends on the seed: an lr that trains on one
    initialisation and batch order diverges to NaN on another, and you meet it on the next run.
    When your lr lies within `near_factor` (10x) below the divergence point — or beyond it with a
    probe that did not blow up — the training probe is repeated on `other_seeds` (2) more seeds,
    and divergence (non-finite or spiking loss) on any seed is an error; the evidence gives the
    margin and how many seeds diverged. The factor is measured: the sweep spends one step at each
    lr (x1.2-1.4 apart), so it meets divergence late, and constant-lr training diverged on some
    seeds 3.4-7.4x below the sweep's divergence point (SGD on GunPoint, no normalisation), where
    the seed the sweep used still trained.

    ## Example
    `lr=10` with Adam (typical values are 1e-4 to 1e-2), or `lr=1` with SGD on unscaled data.

    ## Fix
    Use the suggested learning rate: one tenth of the lr at the range test's loss minimum (a
    robust rule — the minimum needs no derivative of a noisy curve, unlike the "steepest
    slope" rule, and one decade below it stays clear of the instability that follows).
    """
    lr, run = lr_range, training_probe
    require_steps(run)
    require_complete(lr, "LR range test")
    if lr.nonfinite_input or run.nonfinite_input:
        raise Skip("the probes met NaN/Inf inputs (D101), so the loss curve says nothing about the learning rate")
    initial = run.initial_loss
    if lr.start_loss is None or initial is None or not math.isfinite(initial):
        raise Skip("the loss is non-finite before any update (T203 reports it), so no learning rate is to blame")
    if run.changed_fraction == 0 and not run.nonfinite:
        raise Skip("the weights never changed during the training probe (T102 reports why), so the range test's "
                   "curve says nothing about the learning rate")
    if lr.diverge_lr is None or lr.user_lr < lr.diverge_lr / near_factor:
        return
    diverged, outcome, peak = _divergence(run, spike_factor)
    past = lr.user_lr >= lr.diverge_lr
    suggestion = lr.suggestion if lr.suggestion is not None else lr.diverge_lr / 100
    rule = ("a tenth of the lr at the loss minimum" if lr.suggestion is not None else
            "two decades below the divergence point, as the sweep's loss never fell clearly")
    if not diverged and not (past and (run.loss_drop is None or run.loss_drop < max_drop)):
        yield from _seed_instability(lr, run, optimizer_settings, other_seed_probes, spike_factor=spike_factor,
                                     near_factor=near_factor, other_seeds=other_seeds, suggestion=suggestion,
                                     rule=rule)
        return
    if not diverged:
        outcome = f"its loss went from {g(run.initial_loss)} to {g(run.loss_window(False))}"
    yield Finding(
        message=f"The learning rate {g(lr.user_lr)} ({optimizer_settings.brief()}) is past the point where training "
                f"diverges: in a learning-rate "
                f"range test the loss climbs back above its starting value (or becomes non-finite) from lr "
                f"{g(lr.diverge_lr)} on, and in {run.steps} training steps at {g(lr.user_lr)} {outcome}.",
        evidence={**_lr_evidence(lr, run, optimizer_settings), "max_drop": max_drop, "probe_peak_loss": peak,
                  "spike_factor": spike_factor, "suggestion_rule": rule},
        fix=f"Lower the learning rate to about {g(suggestion, 2)} ({rule}).",
        snippet=f"optimizer = {optimizer_settings.call(float(g(suggestion, 2)))}")


def _seed_instability(lr, run, optimizer_settings, seeds, *, spike_factor, near_factor, other_seeds, suggestion,
                      rule):
    """T201 near the divergence point: the training probe on other seeds, and an error if any diverges."""
    rows, bad = [], []
    for offset in range(1, other_seeds + 1):
        other = seeds.run(offset)
        if other.error is not None and other.steps == 0:
            continue
        diverged, outcome, peak = _divergence(other, spike_factor)
        if not diverged and other.truncated:
            continue  # cut short by the time cap: says nothing either way
        seed = seeds.seed(offset)
        rows.append({"seed": seed, "diverged": diverged, "non_finite": other.nonfinite, "peak_loss": peak,
                     "loss_drop": None if other.loss_drop is None else round(other.loss_drop, 4),
                     "steps": other.steps, "outcome": outcome})
        if diverged:
            bad.append((seed, outcome))
    if not bad:
        return
    user_seed = seeds.base_seed
    rows.insert(0, {"seed": user_seed, "diverged": False, "non_finite": False, "peak_loss": None,
                    "loss_drop": None if run.loss_drop is None else round(run.loss_drop, 4), "steps": run.steps,
                    "outcome": None})
    margin = lr.diverge_lr / lr.user_lr
    place = (f"sits {margin:.1f}x below the point where the learning-rate range test diverges ({g(lr.diverge_lr)})"
             if margin > 1 else f"is at or past the point where the range test diverges ({g(lr.diverge_lr)})")
    kept = (f"fell {pct(run.loss_drop)}" if run.loss_drop is not None and run.loss_drop >= 0 else "did not blow up")
    which = "; ".join(f"seed {s}: {o}" for s, o in bad)
    yield Finding(
        message=f"The learning rate {g(lr.user_lr)} ({optimizer_settings.brief()}) {place} and training at it is "
                f"unstable: the training probe diverged on {len(bad)} of {len(rows)} seeds ({which}), while on "
                f"seed {user_seed} its loss {kept} in {run.steps} steps.",
        evidence={**_lr_evidence(lr, run, optimizer_settings), "divergence_margin": round(margin, 3),
                  "near_factor": near_factor, "spike_factor": spike_factor, "seeds": rows,
                  "seeds_diverged": len(bad), "seeds_run": len(rows), "suggestion_rule": rule},
        fix=f"Lower the learning rate to about {g(suggestion, 2)} ({rule}), well clear of the divergence point.",
        snippet=f"optimizer = {optimizer_settings.call(float(g(suggestion, 2)))}")


@check("T202", "lr-too-low", "warning")
def lr_too_low(lr_range, training_probe, overfit_batch, optimizer_settings, memorise_thresholds, *,
               min_factor: float = 10.0, max_drop: float = 0.1):
    """## What it does
    Compares your learning rate with the learning-rate range test's suggestion and with the
    overfit probe, and checks whether the loss moves during the training probe at your lr.

    ## Why is this bad?
    Far below the range where the loss starts falling, each step changes the weights by a
    tiny amount: the loss barely moves, and after an epoch the model still predicts at
    chance — it looks broken while it is only crawling. The check fires when the training
    probe's loss fell by less than `max_drop` (10%) and either your lr is more than
    `min_factor` (10x) below the range test's suggestion, or one small batch cannot be
    memorised at your lr but can at a higher one (when the sweep was too short to learn); "cannot
    be memorised" is judged with T101's thresholds, overrides included.

    ## Example
    `lr=1e-6` with Adam, or SGD at `lr=1e-5` on standardised data.

    ## Fix
    Raise the learning rate to the suggested value (one tenth of the lr at the range test's
    loss minimum), or to the learning rate at which the overfit probe memorised its batch.
    """
    lr, run, over = lr_range, training_probe, overfit_batch
    require_steps(run)
    require_complete(lr, "LR range test")
    for a in over.attempts:
        require_complete(a, f"overfit probe at lr {g(a.lr)}")
    if lr.nonfinite_input or over.nonfinite_inputs:
        raise Skip("the probes met NaN/Inf inputs (D101), so the loss curve says nothing about the learning rate")
    if run.nonfinite or run.changed_fraction == 0:
        raise Skip("the probe's weights never moved or its loss became non-finite (T102/T203 explain)")
    if run.loss_drop is None or run.loss_drop >= max_drop:
        return
    evidence = {**_lr_evidence(lr, run, optimizer_settings), "min_factor": min_factor, "max_drop": max_drop}
    user = f"{g(lr.user_lr)} ({optimizer_settings.brief()})"
    if lr.suggestion is not None and lr.user_lr * min_factor <= lr.suggestion:
        yield Finding(
            message=f"The learning rate {user} is {lr.suggestion / lr.user_lr:.0f}x below the range test's "
                    f"suggestion ({g(lr.suggestion)}): in {run.steps} training steps the loss only went from "
                    f"{g(run.initial_loss)} to {g(run.loss_window(False))}.",
            evidence=evidence,
            fix=f"Raise the learning rate to about {g(lr.suggestion, 2)} (a tenth of the lr at the range test's "
                "loss minimum).",
            snippet=f"optimizer = {optimizer_settings.call(float(g(lr.suggestion, 2)))}")
        return
    floor = over.floor_loss
    kw = memorise_thresholds  # T101's min_accuracy and stuck_fraction, as registered or as the user set them
    higher = [a for a in over.retries if a.lr > over.user.lr and not is_stuck(a, floor, **kw)]
    if is_stuck(over.user, floor, **kw) and higher and over.user.lr * min_factor <= higher[0].lr:
        a = higher[0]
        yield Finding(
            message=f"The learning rate {user} is too low to learn: in {run.steps} training steps the loss "
                    f"only went from {g(run.initial_loss)} to {g(run.loss_window(False))}, and one batch of "
                    f"{over.batch_size} samples cannot be memorised at it, while at lr {g(a.lr)} its loss falls to "
                    f"{g(a.final_loss)}.",
            evidence={**evidence, "overfit_user_lr_loss": over.user.final_loss, "overfit_retry_lr": a.lr,
                      "overfit_retry_loss": a.final_loss, "overfit_floor_loss": floor},
            fix=f"Raise the learning rate towards {g(a.lr, 2)}.")


@check("T203", "non-finite-loss", "error")
def non_finite_loss(training_probe, overfit_batch):
    """## What it does
    Watches the loss of every probe that trains at your settings (the training probe and the
    overfit probe at your learning rate) for NaN or infinity. The learning-rate range test,
    which is meant to diverge, is not counted.

    ## Why is this bad?
    Once the loss is NaN every gradient and then every weight is NaN: the model is destroyed
    for good, and what follows prints `nan` or a constant accuracy. The evidence says what
    came first: non-finite values in the batch (D101), gradients that exploded (T204), or
    neither (a log of 0 or a division in the loss or forward).

    ## Example
    Sensor windows with dropped readings stored as NaN; SGD at `lr=1` on raw counts; `BCELoss`
    on a sigmoid that saturates to exactly 0 or 1.

    ## Fix
    Remove non-finite values from the data, lower the learning rate (and clip gradients), and
    use numerically stable losses on logits (`BCEWithLogitsLoss`, `CrossEntropyLoss`).
    """
    run, over = training_probe, overfit_batch
    require_complete(run, "training probe")  # a truncated run may have stopped short of its first NaN
    require_complete(over.user, f"overfit probe at lr {g(over.user.lr)}")
    hits = []
    if run.nonfinite:
        hits.append(("training probe", run.nonfinite_step, run.losses[:run.nonfinite_step][-1:] or [None]))
    if over.user.nonfinite and not (run.nonfinite and over.nonfinite_inputs):
        hits.append((f"overfit probe (one batch of {over.batch_size})", over.user.nonfinite_step,
                     over.user.losses[:over.user.nonfinite_step][-1:] or [None]))
    if not hits:
        return
    probe, step, last = hits[0]
    grads = [x for x in run.grad_totals[:run.nonfinite_step or 0] if math.isfinite(x)] if run.nonfinite else []
    if run.nonfinite and run.nonfinite_input:
        cause = "the batch itself holds NaN/Inf inputs (see D101)"
        fix = "Remove or impute the non-finite values in the data before training."
    elif grads and len(grads) > 1 and grads[-1] > 100 * grads[0]:
        cause = f"the gradient norm had grown from {g(grads[0])} to {g(grads[-1])} just before (see T204)"
        fix = "Lower the learning rate, scale the input, and clip gradients while you look for the cause."
    else:
        cause = "neither the inputs nor the gradients were non-finite just before, so look at log/division/sqrt " \
                "in the loss and forward()"
        fix = "Use losses on logits (BCEWithLogitsLoss, CrossEntropyLoss) instead of log of probabilities, and guard " \
              "divisions and square roots with an epsilon."
    yield Finding(
        message=f"The loss becomes NaN/Inf at step {step + 1} of the {probe} at lr {g(run.lr)}: {cause}.",
        evidence={"probe": run.summary(),
                  "probes": [h[0] for h in hits], "step": step + 1, "last_finite_loss": last[0],
                  "non_finite_input": run.nonfinite_input, "grad_norms_before": [float(f"{x:.4g}") for x in grads[-5:]],
                  "lr": run.lr, "threshold": "any non-finite loss"},
        fix=fix, snippet="torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)  # after loss.backward()")


@check("T204", "exploding-gradients", "warning")
def exploding_gradients(training_probe, *, max_growth: float = 100.0):
    """## What it does
    Follows the total gradient norm, step by step, through the training probe, and compares
    the largest norm reached with the norm of the first steps. Non-finite gradients count too.

    ## Why is this bad?
    Gradients that grow by orders of magnitude mean each update overshoots more than the last:
    the weights blow up, then the loss turns NaN or every ReLU dies and the model collapses to
    one class. Healthy training changes the gradient norm by a small factor (typically under
    10x) over a short run; `max_growth` (100x, two orders of magnitude) is well clear of it.

    ## Example
    SGD at `lr=0.1` on raw sensor counts: the gradient norm goes from 1e3 to 1e13 in a few steps.

    ## Fix
    Lower the learning rate, scale the input (D102), add normalisation layers, and clip the
    gradient norm while you look for the cause.
    """
    run = training_probe
    require_steps(run)
    if run.nonfinite_input:
        raise Skip("the batch held non-finite inputs (D101), which makes the gradients non-finite")
    growth, early, late = run.grad_growth()
    nonfinite = run.grad_nonfinite_step is not None
    if not nonfinite and (growth is None or growth < max_growth):
        return
    per_layer = run.grad_growth_per_layer()
    what = []
    if growth is not None and growth >= max_growth:
        what.append(f"grew from {g(early)} in the first steps to {g(late)} ({g(growth)}x)")
    if nonfinite:
        what.append(f"became non-finite at step {run.grad_nonfinite_step + 1}")
    yield Finding(
        message=f"Gradients explode during the training probe: their norm {' and '.join(what)}, so every update "
                "overshoots more than the last.",
        evidence={"probe": run.summary(),
                  "early_grad_norm": early, "max_grad_norm": late, "growth": growth, "max_growth": max_growth,
                  "grad_non_finite_step": run.grad_nonfinite_step, "growth_per_layer": per_layer, "lr": run.lr,
                  "steps": run.steps},
        fix="Lower the learning rate, scale the input, and clip the gradient norm (clip_grad_norm_) while you look "
            "for the cause.",
        snippet="loss.backward()\ntorch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)\noptimizer.step()")


@check("T205", "vanishing-gradients", "warning")
def vanishing_gradients(training_probe, *, min_ratio: float = 1e-3):
    """## What it does
    Measures, for every layer with a weight matrix or kernel, its median gradient norm over
    the training probe relative to its weight norm (the size of the update relative to the
    weights), and compares the first such layer with the last.

    ## Why is this bad?
    When the first layers' relative gradients are orders of magnitude smaller than the last
    layer's, the early convolutions — the ones that read the signal — barely change: the
    network trains like a linear model on random features. Deep stacks of sigmoid/tanh
    layers without normalisation or residual connections do this (each sigmoid scales the
    gradient by at most 1/4). In healthy CNNs the ratio stays within one or two orders of
    magnitude; `min_ratio` (1e-3) is three.

    ## Example
    Ten `Conv1d` + `Sigmoid` blocks: the first layer's gradient is 1e-9 of the head's.

    ## Fix
    Use ReLU-family activations in hidden layers, add BatchNorm after the convolutions, or add
    residual connections; keep plain sigmoid/tanh stacks shallow.
    """
    run = training_probe
    require_steps(run)
    med = run.median_grad_norms()
    weights = run.weight_norms_end
    rel = {name: med[name] / weights[name] for name in run.weight_layers
           if name in med and weights.get(name) and med[name] > 0 and math.isfinite(med[name])}
    if len(rel) < 2:
        raise Skip("fewer than two layers with weights received gradients")
    names = [n for n in run.weight_layers if n in rel]
    first, last = names[0], names[-1]
    ratio = rel[first] / rel[last]
    if ratio >= min_ratio:
        return
    yield Finding(
        message=f"Gradients vanish on the way back: the first layer ({first}) gets updates {g(ratio)} times the size "
                f"of the last layer's ({last}), relative to their weights, so the layers that read the signal "
                "hardly learn.",
        evidence={"probe": run.summary(),
                  "relative_grad_per_layer": {n: float(f"{rel[n]:.3g}") for n in names}, "ratio_first_to_last": ratio,
                  "min_ratio": min_ratio, "first_layer": first, "last_layer": last, "steps": run.steps},
        fix="Use ReLU-family activations instead of sigmoid/tanh in hidden layers, add BatchNorm after the "
            "convolutions, or add residual connections.")


@check("T206", "dead-units", "warning")
def dead_units(training_probe, trained_weights, *, max_dead_fraction: float = 0.5):
    """## What it does
    Records every ReLU in the model — `nn.ReLU` modules and `F.relu`/`torch.relu` calls in
    `forward` — on a slice of the training data after the training probe, and counts, per
    ReLU, the channels that output 0 for every sample and every time step. With trained
    weights (`--weights`, `reinit=False`) it counts the same on those weights in eval mode,
    reported apart (evidence `weights`).

    ## Why is this bad?
    A unit that never activates passes no signal and gets no gradient, so it never recovers.
    When most units of a layer are dead (more than `max_dead_fraction`, half) the layer is a
    bottleneck; when all are, nothing passes and the output no longer depends on the input.
    Large learning rates, unscaled input and large negative biases kill ReLUs.

    ## Example
    Adam at `lr=10`: after a few steps every unit of the first ReLU outputs 0.

    ## Fix
    Lower the learning rate, scale the input, initialise with Kaiming (the default for
    `Conv1d`) and zero biases; `LeakyReLU` keeps a gradient for inactive units.
    """
    trained = trained_weights
    found = []
    dead = _dead_layers(trained.units, max_dead_fraction) if trained is not None and trained.units else None
    if dead is not None:
        all_dead, worst, detail, rest = dead
        found.append(Finding(
            message=f"Most ReLU units of the trained weights ({trained.source}) are dead on the data: {detail} on "
                    f"{trained.train.n} training samples in eval mode{rest}.",
            evidence={"weights": trained.label, "trained": trained.summary(), "per_layer": trained.units.to_dict(),
                      "max_dead_fraction": max_dead_fraction, "all_dead_layers": all_dead,
                      "samples": trained.train.n, "layer": worst},
            severity=Severity.ERROR if all_dead else None,
            severity_reason="raised from warning: every unit of a layer is dead" if all_dead else None,
            fix="Units that never fire stopped learning during training: retrain with a lower learning rate and "
                "scaled input, Kaiming initialisation with zero biases, or LeakyReLU; check that the data is "
                "preprocessed as it was in training."))
    yield from with_trained(trained, found, lambda: _probe_dead_units(training_probe, max_dead_fraction))


def _dead_layers(units, max_dead_fraction: float):
    """(all-dead layers, the worst layer, its words, what else) when some ReLU layer has most channels dead."""
    fractions = units.fractions()
    bad = {name: f for name, f in fractions.items() if f > max_dead_fraction}
    if not bad:
        return None
    all_dead = [name for name, f in bad.items() if f >= 1.0]
    worst = max(bad, key=bad.get)
    i = units.layers.index(worst)
    detail = f"in {worst}, {units.dead[i]} of {units.units[i]} channels never activate"
    more = f" ({len(bad) - 1} more layers have most units dead)" if len(bad) > 1 else ""
    tail = ": nothing passes that layer, so the output no longer depends on the input" if all_dead else ""
    return all_dead, worst, detail, f"{more}{tail}"


def _probe_dead_units(run, max_dead_fraction: float):
    """T206 on the training probe (fresh weights)."""
    require_steps(run)
    if run.nonfinite:
        raise Skip("the training probe's loss became non-finite (T203): NaN activations are not dead units")
    units = run.units_end
    if units is None or not units.layers:
        raise Skip("the model has no ReLU (module or F.relu call) to observe")
    dead = _dead_layers(units, max_dead_fraction)
    if dead is None:
        return
    all_dead, worst, detail, rest = dead
    yield Finding(
        message=f"Most ReLU units are dead after the training probe: {detail} on {run.n_eval_train} training "
                f"samples{rest}.",
        evidence={"probe": run.summary(),
                  "per_layer": units.to_dict(), "at_start": run.units_start.to_dict() if run.units_start else None,
                  "max_dead_fraction": max_dead_fraction, "all_dead_layers": all_dead, "samples": run.n_eval_train,
                  "lr": run.lr, "steps": run.steps, "layer": worst},
        severity=Severity.ERROR if all_dead else None,
        severity_reason="raised from warning: every unit of a layer is dead" if all_dead else None,
        fix="Lower the learning rate, scale the input, and use Kaiming initialisation with zero biases; LeakyReLU "
            "keeps a gradient for inactive units.")


@check("T207", "train-eval-gap", "warning")
def train_eval_gap(train_eval_gap, trained_weights, *, max_discrepancy: float = 0.5, min_batches: int = 4):
    """## What it does
    Takes the training probe's final weights and runs the same training samples through the
    model twice: in train mode (BatchNorm normalising with the statistics of batches of your
    batch size) and in eval mode (BatchNorm using running statistics, here re-estimated with
    the final weights so a mere lag does not count). It measures how far apart the two
    outputs are, relative to how much the outputs differ from one sample to the next.
    Dropout is left off in both passes: its train/eval difference is by design. With trained
    weights (`--weights`, `reinit=False`) it compares them the same way, but with the running
    statistics they carry, as `model.eval()` uses them (reported apart, evidence `weights`).

    ## Why is this bad?
    Training optimises the train-mode function; accuracy on the test split is measured with
    the eval-mode one. When they differ by about as much as the differences between samples,
    what the model learns in training does not carry over to evaluation — the classic "good
    training accuracy, terrible accuracy after `model.eval()`". Batch statistics are noisy
    estimates whose error shrinks like 1/sqrt(batch size): the discrepancy is about 0.1 with
    batches of 32, 0.35 with 8, 0.7 with 4 and 1 with single samples. It fires at
    `max_discrepancy` (0.5), i.e. batches below about 6. Only whole batches are compared, so
    the small leftover batch of an epoch does not count, and at least `min_batches` (4) of
    them are needed: with fewer, the re-estimated statistics are those of the batches
    themselves and the comparison says nothing.

    ## Example
    BatchNorm after every convolution, trained with `batch_size=2` because the series are long.

    ## Fix
    Train BatchNorm with batches of at least 16-32 (accumulate gradients if memory is short),
    or replace it with GroupNorm/LayerNorm, which do not depend on the batch.
    """
    found = _trained_gap(trained_weights, max_discrepancy, min_batches) if trained_weights is not None else ()
    yield from with_trained(trained_weights, found,
                            lambda: _probe_gap(train_eval_gap, max_discrepancy, min_batches))


def _mode_gap_evidence(gap) -> dict:
    """What T207 measured in both modes, the same on trained weights and on the probe's."""
    return {"train_mode_accuracy": gap.train_mode_accuracy, "eval_mode_accuracy": gap.eval_mode_accuracy,
            "recalibrated_eval_accuracy": gap.recalibrated_accuracy, "train_mode_loss": gap.train_mode_loss,
            "eval_mode_loss": gap.eval_mode_loss, "batch_size": gap.batch_size, "batchnorm_layers": gap.layers}


def _trained_gap(trained, max_discrepancy: float, min_batches: int):
    """T207 on the trained weights: train mode (batch statistics) vs eval mode with their own running statistics."""
    gap = trained.mode_gap
    if gap is None or gap.batches < min_batches or gap.lag_discrepancy is None:
        return
    if gap.lag_discrepancy < max_discrepancy:
        return
    accuracy = (f" (accuracy on those samples {pct(gap.train_mode_accuracy)} in train mode, "
                f"{pct(gap.eval_mode_accuracy)} in eval mode)" if gap.train_mode_accuracy is not None else "")
    yield Finding(
        message=f"The trained weights ({trained.source}) compute a different function in eval mode than in train "
                f"mode: on {gap.batches} batches of {gap.batch_size} training samples, outputs with BatchNorm's "
                f"running statistics differ from those with batch statistics by {gap.lag_discrepancy:.2f} of their "
                f"sample-to-sample spread{accuracy}.",
        evidence={"weights": trained.label, "trained": trained.summary(),
                  "discrepancy": round(gap.lag_discrepancy, 4), "max_discrepancy": max_discrepancy,
                  "discrepancy_with_recalibrated_stats": None if gap.discrepancy is None
                  else round(gap.discrepancy, 4),
                  **_mode_gap_evidence(gap), "min_batches": min_batches},
        fix="If the running statistics do not match the data (T301), re-estimate them on data preprocessed as in "
            "training; if the gap stays after re-estimating, train with larger batches or GroupNorm/LayerNorm.")


def _probe_gap(gap, max_discrepancy: float, min_batches: int):
    """T207 on the training probe's final weights (fresh weights, running statistics re-estimated)."""
    if gap.batches < min_batches:
        raise Skip(f"only {gap.batches} whole batch(es) of {gap.batch_size} in the training samples evaluated; "
                   f"the comparison needs at least {min_batches}")
    if gap.discrepancy is None:
        raise Skip("the outputs do not vary across samples (T104), so there is nothing to compare them with")
    if gap.discrepancy < max_discrepancy:
        return
    accuracy = (f" (accuracy on those samples {pct(gap.train_mode_accuracy)} in train mode, "
                f"{pct(gap.recalibrated_accuracy)} in eval mode)" if gap.train_mode_accuracy is not None else "")
    yield Finding(
        message=f"With batches of {gap.batch_size}, BatchNorm makes the model compute a different function in "
                f"training than in evaluation: on the same weights and samples, train-mode and eval-mode outputs "
                f"differ "
                f"by {gap.discrepancy:.2f} of their sample-to-sample spread{accuracy}.",
        evidence={"discrepancy": round(gap.discrepancy, 4), "max_discrepancy": max_discrepancy,
                  "discrepancy_with_current_running_stats": None if gap.lag_discrepancy is None
                  else round(gap.lag_discrepancy, 4),
                  **_mode_gap_evidence(gap),
                  "batchnorm_momentum": [m if m is None else float(m) for m in gap.momentum]},
        fix="Train with batches of at least 16-32 (accumulate gradients if memory is short), or replace BatchNorm "
            "with GroupNorm/LayerNorm.",
        snippet="nn.GroupNorm(num_groups=8, num_channels=64)   # instead of nn.BatchNorm1d(64)")


@check("T208", "generalization-gap", "warning")
def generalization_gap(training_probe, trained_weights, *, min_fit: float = 0.5, min_margin: float = 0.05):
    """## What it does
    Compares, after the training probe, the accuracy on a slice of the training split with
    the accuracy on the test split, both in eval mode, against chance (the majority class's
    share of each split). With trained weights (`--weights`, `reinit=False`) it compares
    theirs the same way (reported apart, evidence `weights`).

    ## Why is this bad?
    When the probe clearly fits the training data (at least `min_fit`, half of the way from
    chance to 100%) but the test accuracy stays at chance (within two standard errors, at least
    `min_margin`, 5 points), what the model learns does not transfer at all — rarely over-
    fitting after so few steps, usually a test split that does not match: labels out of order,
    a different preprocessing or scaling, or labels encoded differently between the splits.

    ## Example
    `y_test` shuffled relative to `X_test` (sorted separately, or split with two different
    random states): training accuracy 90%, test accuracy 47% on two balanced classes.

    ## Fix
    Check that each test label belongs to its series, that the test split goes through the
    same preprocessing and scaling (fitted on train), and that both splits encode labels the
    same way.
    """
    found = _trained_generalization(trained_weights, min_fit, min_margin) if trained_weights is not None else ()
    yield from with_trained(trained_weights, found,
                            lambda: _probe_generalization(training_probe, min_fit, min_margin))


def _no_transfer(train_accuracy, train_chance, test_accuracy, test_chance, n, min_fit, min_margin):
    """(fits training yet at chance on test, fit, margin): the fit is the way from chance to 100% on training."""
    fit = (train_accuracy - train_chance) / (1 - train_chance) if train_chance < 1 else 0.0
    margin = max(min_margin, 2 * math.sqrt(test_chance * (1 - test_chance) / n))
    return fit >= min_fit and test_accuracy <= test_chance + margin, fit, margin


def _trained_generalization(trained, min_fit: float, min_margin: float):
    """T208 on the trained weights: eval-mode accuracy on the training slice vs the test split."""
    train, test = trained.train, trained.test
    if test is None or not test.n or test.accuracy is None or train.accuracy is None or not train.n:
        return
    test_chance = max(test.true_counts.values()) / test.n
    train_chance = max(train.true_counts.values()) / train.n
    gap, fit, margin = _no_transfer(train.accuracy, train_chance, test.accuracy, test_chance, test.n, min_fit,
                                    min_margin)
    if not gap:
        return
    yield Finding(
        message=f"The trained weights ({trained.source}) fit the training split but stay at chance on the test "
                f"split: {pct(train.accuracy)} on training samples and {pct(test.accuracy)} on test samples, where "
                f"always predicting the majority class gives {pct(test_chance)}.",
        evidence={"weights": trained.label, "trained": trained.summary(), "train_accuracy": train.accuracy,
                  "test_accuracy": test.accuracy, "test_chance": test_chance, "train_chance": train_chance,
                  "fit": round(fit, 4), "min_fit": min_fit, "margin": round(margin, 4), "test_samples": test.n,
                  "train_samples": train.n},
        fix="Check that the test labels are aligned with their series and that the test split gets the same "
            "preprocessing (fitted on train) and label encoding; if they do, the model memorised the training "
            "set: regularise, augment or stop earlier.")


def _probe_generalization(run, min_fit: float, min_margin: float):
    """T208 on the training probe (fresh weights)."""
    require_steps(run)
    if run.nonfinite:
        raise Skip("the training probe's loss became non-finite (T203)")
    if not run.n_eval_held_out or run.held_out_accuracy is None or run.train_accuracy is None:
        raise Skip("there is no test split to compare with")
    n = run.n_eval_held_out
    chance = max(run.true_counts.values()) / n if run.true_counts else 0.0
    train_chance = run.train_majority if run.train_majority is not None else chance
    gap, fit, margin = _no_transfer(run.train_accuracy, train_chance, run.held_out_accuracy, chance, n, min_fit,
                                    min_margin)
    if not gap:
        return
    yield Finding(
        message=f"The probe learns the training split but stays at chance on the test split: after {run.steps} steps "
                f"it scores {pct(run.train_accuracy)} on training samples and {pct(run.held_out_accuracy)} on test "
                f"samples, where always predicting the majority class gives {pct(chance)}.",
        evidence={"probe": run.summary(),
                  "train_accuracy": run.train_accuracy, "test_accuracy": run.held_out_accuracy, "test_chance": chance,
                  "train_chance": train_chance, "fit": round(fit, 4), "min_fit": min_fit, "margin": round(margin, 4),
                  "test_samples": n, "train_samples": run.n_eval_train, "steps": run.steps},
        fix="Check that the test labels are aligned with their series, and that the test split gets the same "
            "preprocessing (fitted on train) and label encoding as the training split.")


@check("T209", "lr-decayed-to-zero", "warning")
def lr_decayed_to_zero(training_probe, *, min_fraction: float = 1e-3, min_share: float = 0.2):
    """## What it does
    Follows the learning rate your optimizer actually applied at every step of your own
    training run (recorded by `cnndoctor.watch` and the Lightning and Keras callbacks: the
    probes train at a constant lr, so this check only speaks for a watched run) and finds
    where a scheduler drove it to about zero.

    ## Why is this bad?
    Once the lr is a tiny fraction of its peak, every update is that much smaller: the
    weights stop moving, the loss stops improving, and the remaining epochs are wasted —
    "training stalls after epoch 3". The usual cause is a scheduler stepped per batch
    where it was meant per epoch (`StepLR(step_size=1, gamma=0.1)` called in the batch
    loop reaches 1e-10 within ten batches), or a decay too fast for the run's length. It
    fires when the lr has stayed below `min_fraction` (1e-3) of its peak for at least
    `min_share` (20%) of the steps seen; an annealing schedule that reaches zero only on
    its very last steps stays below that share.

    ## Example
    `scheduler = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)` with
    `scheduler.step()` after every batch: after 30 batches the lr is 1e-9 of its start.

    ## Fix
    Step epoch-based schedulers once per epoch (or size them in batches), raise the decay
    factor, or set a floor (`eta_min` of CosineAnnealingLR, `min_lr` of ReduceLROnPlateau).
    """
    lrs = training_probe.lrs
    if not lrs:
        return  # a constant lr (the probes') cannot decay
    peak = max(lrs)
    if not peak > 0:
        raise Skip("the learning rate was 0 from the start (T103 reports parameters with lr 0)")
    at = lrs.index(peak)
    low = 0
    for value in reversed(lrs[at:]):
        if value > min_fraction * peak:
            break
        low += 1
    if low == 0 or low < min_share * len(lrs):
        return
    since = len(lrs) - low + 1
    yield Finding(
        message=f"Your scheduler drove the learning rate to about zero: it peaked at {g(peak)} at step {at + 1} and "
                f"is {g(lrs[-1])} now, below {g(min_fraction)} of the peak since step {since} — the last {low} of "
                f"{len(lrs)} steps. The weights hardly move any more, so the loss cannot improve however long "
                "training runs.",
        evidence={"peak_lr": peak, "peak_step": at + 1, "last_lr": lrs[-1], "below_since_step": since,
                  "steps_below": low, "steps": len(lrs), "min_fraction": min_fraction, "min_share": min_share,
                  "probe": training_probe.summary()},
        fix="Step epoch-based schedulers once per epoch (not per batch), slow the decay, or give the schedule a "
            "floor (eta_min, min_lr).",
        snippet="for epoch in range(epochs):\n    for xb, yb in loader:\n        ...\n        optimizer.step()\n"
                "    scheduler.step()   # once per epoch")
