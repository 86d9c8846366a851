"""Facts from cheap baselines: the reference accuracy, whether order matters, whether labels are learnable."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..context import fact
from ..errors import FactUnavailable
from ..measure.baselines import BASELINE_NAMES, Subsample, balanced_chance_se, order_gain, score_baselines, subsample
from ..measure.fingerprints import channels_first
from ..measure.temporal import order_structure, sample_rows
from ..probes.budget import probe_budget_for

__all__ = ["Learnability", "OrderTest"]



def _signal_z(ctx) -> float:
    """Standard errors above the trivial rate that count as "a baseline found a link": L105's ``z`` (its owner),
    as registered or as the user set it."""
    return float(ctx.thresholds_for("L105")["z"])


def _trivial_se(trivial: float, n: int) -> float:
    """The standard error of an accuracy at the trivial rate on ``n`` test samples."""
    return float(np.sqrt(max(trivial * (1 - trivial), 1e-12) / max(1, n)))


def _class_ids(ctx) -> tuple[np.ndarray, np.ndarray]:
    labels = ctx.labels
    if labels.kind == "float":
        raise FactUnavailable("the labels are continuous (not class ids), so classification baselines do not apply")
    if labels.test is None:
        raise FactUnavailable("there is no test split to score baselines on")
    if labels.n_classes > max(2, len(labels.train) // 2):
        raise FactUnavailable(f"{labels.n_classes} distinct labels for {len(labels.train)} samples look like "
                              "regression targets, not classes")
    return labels.train, labels.test


def _series_axis(ctx) -> int | None:
    return ctx.series_channel_axis


def _subsample_of(ctx, arrays: dict) -> Subsample:
    y_train, y_test = _class_ids(ctx)
    axis = _series_axis(ctx)
    budget = probe_budget_for(ctx.budget)
    max_train, max_test = budget.baseline_train, budget.baseline_test
    return subsample(channels_first(arrays["train"], axis), y_train, channels_first(arrays["test"], axis), y_test,
                     max_train=max_train, max_test=max_test, seed=ctx.subject.seed)


@fact
def baseline_sample(ctx) -> Subsample:
    """The (sub)sample of what the model sees that every baseline is trained and scored on."""
    if "test" not in ctx.inputs:
        raise FactUnavailable("there is no test split to score baselines on")
    sub = _subsample_of(ctx, ctx.inputs)
    if sub.note:
        ctx.note(f"Baselines were {sub.note}.")
    return sub


def _trivial_rates(y_train: np.ndarray, y_test: np.ndarray, n_classes: int) -> tuple[float, float]:
    values, counts = np.unique(y_train, return_counts=True)
    majority_class = values[np.argmax(counts)]
    return 1.0 / max(1, n_classes), float(np.mean(y_test == majority_class))


def _reference_dict(sub: Subsample, n_classes: int) -> dict:
    acc, balanced, _ = score_baselines(sub)
    chance, majority = _trivial_rates(sub.y_train, sub.y_test, n_classes)
    best = max(acc, key=acc.get) if acc else None
    note = sub.note or (f"trained on all {len(sub.y_train):,} training samples, scored on all "
                        f"{len(sub.y_test):,} held-out samples")  # the test split, whatever its name
    return {"best": best, "best_name": BASELINE_NAMES.get(best), "accuracy": acc.get(best) if best else None,
            "chance": chance, "majority": majority, "baselines": acc, "n_train": len(sub.y_train),
            "n_test": len(sub.y_test), "note": note,
            # the best baseline's mean per-class recall: the gate compares it with 1/K (ChanceRule)
            "balanced_accuracy": balanced.get(best) if best else None,
            # every baseline's balanced accuracy: L105 judges imbalanced classes by it (Learnability)
            "balanced_baselines": balanced,
            # its seconds: the fact's entry in the timings
            "n_test_per_class": {str(k): int(v) for k, v in zip(*np.unique(sub.y_test, return_counts=True))}}


@fact
def reference(ctx) -> dict:
    """Accuracy of cheap baselines on the test split: the reference for "is this data learnable"."""
    return _reference_dict(ctx.baseline_sample, ctx.labels.n_classes)


@dataclass(frozen=True)
class OrderTest:
    """Does the order of the time axis matter? Continuity and a convolutional baseline, ordered vs shuffled."""

    structure: dict  # cnndoctor.measure.temporal.order_structure on the training split
    gain: dict | None  # cnndoctor.measure.baselines.order_gain (random_conv ordered vs shuffled); None when not needed
    best_accuracy: float | None  # best baseline on the ordered series (any baseline)
    best_name: str | None
    flat_accuracy: float | None  # the order-free baseline (logistic regression on summary features) for contrast
    trivial: float | None  # max(chance, majority-class rate on the test sample)
    n_test: int
    signal_z: float  # L105's z (run's value): standard errors above the trivial rate that count as "finds the labels"

    @property
    def standard_error(self) -> float:
        """Of an accuracy at the trivial rate on ``n_test`` samples (the baselines' test sample)."""
        return _trivial_se(self.trivial, self.n_test)

    @property
    def gain_standard_error(self) -> float:
        """Of the convolutional baseline's ordered accuracy on its test sample (binomial, p clipped off 0 and 1)."""
        p = max(min(self.gain["ordered"], 1 - 1e-6), 1e-6)
        return float(np.sqrt(p * (1 - p) / max(1, self.gain["n_test"])))


@fact
def order_test(ctx) -> OrderTest:
    """Whether shuffling the time axis costs anything (D303).

    The continuity reading is cheap; the baselines (seconds) run only when it leaves room for doubt: when
    some lag stands more than D303's ``max_excess`` above its shuffled value, D303 passes on continuity
    alone, so the order baselines would decide nothing and are not run.
    """
    V = channels_first(ctx.inputs["train"], _series_axis(ctx))
    if V.shape[2] < 4:
        raise FactUnavailable(f"the series are {V.shape[2]} steps long: too short to judge their order")
    structure = order_structure(sample_rows(V, 512, ctx.subject.seed), seed=ctx.subject.seed)
    if structure["excess"] > ctx.thresholds_for("D303")["max_excess"]:
        return OrderTest(structure, None, None, None, None, None, 0, _signal_z(ctx))
    ref = ctx.reference
    if not ref["baselines"]:
        raise FactUnavailable("the training split has a single class, so no baseline can be trained")
    sub = ctx.baseline_sample
    gain = order_gain(sub, seed=ctx.subject.seed)
    return OrderTest(structure, gain, float(ref["accuracy"]), ref["best"], ref["baselines"].get("logreg_features"),
                     max(ref["chance"], ref["majority"]), len(sub.y_test), _signal_z(ctx))


@dataclass(frozen=True)
class Learnability:
    """Evidence for a link between inputs and labels: baselines, and the training probe when there is one.

    ``metric`` says how they are judged. On classes imbalanced as L103 judges them, a model that learned
    nothing scores the majority rate, so a baseline that is right on every sample (100% against 95%)
    cannot beat it by three standard errors of an accuracy: there the judge is balanced accuracy (mean
    per-class recall) against 1/K, with the standard error of a random guesser's balanced accuracy on
    the test sample's class counts (as ``ChanceRule.baseline_band``).
    """

    best: str | None  # the best baseline by ``metric``
    accuracy: float | None  # its accuracy
    baselines: dict
    trivial: float  # what a model that learned nothing scores in ``metric``: max(chance, majority) or 1/K
    chance: float
    majority: float
    n_test: int
    standard_error: float  # of ``metric`` at the trivial rate on the test sample
    probe_accuracy: float | None  # the training probe's held-out accuracy, when probes ran
    probe_train_accuracy: float | None
    stored_reference: dict | None  # baselines on the stored arrays, when preprocess changes them and the
    # baselines on the preprocessed arrays find nothing
    metric: str = "accuracy"  # or "balanced accuracy"
    score: float | None = None  # the best baseline's ``metric``
    balanced_baselines: dict | None = None  # each baseline's balanced accuracy
    probe_score: float | None = None  # the training probe's held-out ``metric``, when probes ran
    imbalance_gap: float | None = None  # the training majority rate minus 1/K (L103's statistic)

    def beats(self, value: float | None, z: float) -> bool:
        """Whether ``value`` (in ``metric``) is more than ``z`` standard errors above the trivial rate."""
        return value is not None and value > self.trivial + z * self.standard_error


def _balanced_se(chance: float, per_class: dict) -> float:
    """The standard error of a random guesser's balanced accuracy over these per-class test counts."""
    return balanced_chance_se(chance, per_class.values()) if any(int(v) > 0 for v in per_class.values()) else 0.0


def _probe(ctx):
    try:
        if ctx.has("training_probe"):
            return ctx.training_probe
    except Exception:  # noqa: BLE001 — a probe that crashed is reported by its own checks; the baselines still speak
        return None
    return None


@fact
def learnability(ctx) -> Learnability:
    """The best baseline against the trivial rate, plus the probe's held-out score if probes exist.

    Balanced accuracy against 1/K when the classes are imbalanced by L103's ``min_gap`` (its owner),
    accuracy against max(chance, majority) otherwise.
    """
    ref = ctx.reference
    if ref["accuracy"] is None:
        raise FactUnavailable("the training split has a single class, so no baseline can be trained")
    gap = ctx.label_distribution.imbalance_gap
    balanced = ref.get("balanced_baselines") or {}
    if gap is not None and gap >= float(ctx.thresholds_for("L103")["min_gap"]) and balanced:
        metric, best = "balanced accuracy", max(balanced, key=balanced.get)
        score, trivial = balanced[best], ref["chance"]
        se = _balanced_se(trivial, ref["n_test_per_class"])
    else:
        metric, best, score = "accuracy", ref["best"], ref["accuracy"]
        trivial = max(ref["chance"], ref["majority"])
        se = _trivial_se(trivial, ref["n_test"])
    silent = score - trivial <= _signal_z(ctx) * se  # L105's verdict, with L105's z
    probe = _probe(ctx) if silent else None  # a probe trains a model: ask only when the baselines find nothing
    stored = None
    raw = ctx.raw_arrays
    if silent and ctx.subject.has_preprocess and "test" in raw and any(
            raw[s].shape != ctx.inputs[s].shape or not np.shares_memory(raw[s], ctx.inputs[s]) for s in raw):
        try:
            stored = _reference_dict(_subsample_of(ctx, raw), ctx.labels.n_classes)
        except Exception:  # noqa: BLE001 — stored arrays of another shape than the model's input: no comparison
            stored = None
    if stored is not None and metric == "balanced accuracy":  # the stored arrays judged as the model's input is
        top = max(stored["balanced_baselines"], key=stored["balanced_baselines"].get)
        stored = {**stored, "best": top, "accuracy": stored["balanced_baselines"][top]}
    probe_accuracy = getattr(probe, "held_out_accuracy", None) if probe is not None else None
    probe_score = getattr(probe, "balanced_accuracy", None) if metric == "balanced accuracy" else probe_accuracy
    return Learnability(best, ref["baselines"].get(best), dict(ref["baselines"]), trivial, ref["chance"],
                        ref["majority"], ref["n_test"], se, probe_accuracy,
                        getattr(probe, "train_accuracy", None) if probe is not None else None, stored,
                        metric=metric, score=score, balanced_baselines=dict(balanced), probe_score=probe_score,
                        imbalance_gap=gap)
