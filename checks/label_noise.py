"""Check L106: training labels that look wrong (flipped, permuted, or scrambled against their inputs)."""

from __future__ import annotations

from cnndoctor.findings import Finding
from cnndoctor.registry import check

__all__ = ["noisy_labels"]

_LISTED = 10  # suspect indices named in the message (all of them are in the evidence)
_IN_SNIPPET = 30  # suspect indices written out in the snippet


def _snippet(suspect: list, X: str) -> str:
    y = "y" + X[1:]
    shown = ", ".join(map(str, suspect[:_IN_SNIPPET]))
    more = (f"  # first {_IN_SNIPPET} of {len(suspect)}: all are in the report's evidence 'suspect_indices'"
            if len(suspect) > _IN_SNIPPET else "")
    return (f"suspect = np.array([{shown}]){more}\n"
            f"print(list(zip(suspect, {y}[suspect])))   # inspect: plot {X}[i], check or fix {y}[i]\n"
            f"keep = np.setdiff1d(np.arange(len({y})), suspect)\n"
            f"{X}, {y} = {X}[keep], {y}[keep]   # or drop them\n"
            "# or keep them and train with a noise-tolerant loss: nn.CrossEntropyLoss(label_smoothing=0.1)")


@check("L106", "noisy-labels", "warning")
def noisy_labels(label_noise, *, z: float = 3.0, min_excess: float = 0.05):
    """## What it does
    Estimates how many training labels are wrong, by confident learning (Northcutt, Jiang & Chuang,
    "Confident Learning: Estimating Uncertainty in Dataset Labels", JAIR 2021): out-of-fold class
    probabilities from a cheap probabilistic baseline (logistic regression on the reference
    baselines' summary/spectral and random-convolution features), per-class confidence thresholds,
    the confident joint of given and predicted labels, calibrated to the class counts; its
    off-diagonal mass is the estimated noise rate, and the label issues (pruned by noise rate, ranked
    by the probability of the given label) are the suspect training indices. It also measures label
    consistency per split: the share of samples whose nearest neighbour in the same split (the 1-NN
    baseline's z-normalised, downsampled series) has the same label.

    Confident learning flags some hard but correct examples on any data, so both numbers are compared
    with the test split measured the same way at the same sample size: the test labels are the
    reference for what this data gives without extra noise. It fires when the training split's
    estimated noise rate exceeds the test split's, or its neighbour agreement falls below the test
    split's, by at least `min_excess` (5 points) and by `z` = 3 standard errors of a two-proportion
    test (the test split's numbers average several draws when it is larger, so they stand on more
    samples). Clean UCR/UEA sets stay within about 1.5 standard errors; 30% flipped labels or training
    inputs shuffled without their labels stand more than 3 out. Noise that hits both splits alike is
    not seen.

    ## Why is this bad?
    A network memorises wrong labels (it has the capacity), so training accuracy looks fine while
    test accuracy drops and varies from run to run; the generalisation gap is blamed on the model. A
    cheap baseline still lands above chance on the test split, so "the labels are learnable" (L105)
    passes even when most training labels are wrong.

    ## Example
    Labels merged from two annotators, or joined to the series by a key that drifted; the training
    inputs re-ordered (sorted, shuffled, filtered) after the labels were taken, while the test split
    was built correctly.

    ## Fix
    Inspect the listed training samples and relabel them, or drop them; if the noise cannot be
    removed, train with a noise-tolerant loss (label smoothing, a symmetric or bootstrapped loss).
    If whole training inputs were re-ordered, rebuild the training split so each label stays with its
    series.
    """
    e = label_noise
    by_noise = e.excess_noise >= min_excess and e.noise_z >= z
    by_agreement = e.agreement_gap >= min_excess and e.agreement_z >= z
    if not (by_noise or by_agreement):
        return
    suspect = e.suspect_indices
    listed = ", ".join(map(str, suspect[:_LISTED])) + (", …" if len(suspect) > _LISTED else "")
    examined = (f" (among {e.n_examined:,} of {e.n_train_total:,} training samples examined, a seeded subset)"
                if e.n_examined < e.n_train_total else "")
    # the raw estimate runs high when the cheap model is weak; the excess over the test split is the evidence
    noise = (f"confident learning flags {e.train.noise_rate:.0%} of them against {e.test.noise_rate:.0%} of the test "
             f"labels measured the same way (an excess of {e.excess_noise:.0%}, {e.noise_z:.1f} standard errors)")
    agreement = (f"{e.train.agreement:.0%} of training samples share the label of their nearest training "
                 f"neighbour, against {e.test.agreement:.0%} in the test split ({e.agreement_z:.1f} standard errors "
                 "apart)")
    yield Finding(
        message=f"The training labels look noisy: {noise}; {agreement}. "
                f"{len(suspect):,} training samples are suspect{examined}, most suspect first ({e.indexed} rows): "
                f"{listed}. A model "
                "memorises wrong labels, so its test accuracy drops and a generalisation gap appears.",
        evidence={"estimated_noise_rate": e.noise_rate, "train_noise_rate": e.train.noise_rate,
                  "test_noise_rate": e.test.noise_rate,
                  "excess_noise_rate": e.excess_noise, "noise_z": e.noise_z,
                  "train_neighbour_agreement": e.train.agreement, "test_neighbour_agreement": e.test.agreement,
                  "agreement_gap": e.agreement_gap, "agreement_z": e.agreement_z,
                  "compared_at_samples": e.train.n, "draws": {"train": e.train.draws, "test": e.test.draws},
                  "out_of_fold_accuracy": e.out_of_fold_accuracy, "n_suspect": len(suspect),
                  "suspect_indices": suspect, "indices_into": e.indexed, "n_examined": e.n_examined,
                  "n_train": e.n_train_total,
                  "model": e.model, "z": z, "min_excess": min_excess},
        fix="Inspect the suspect training samples and relabel or drop them; if the noise cannot be removed, train "
            "with a noise-tolerant loss (label smoothing, a symmetric or bootstrapped loss). If the training inputs "
            "were re-ordered after their labels were taken, rebuild the split so each label stays with its series.",
        snippet=_snippet(suspect, e.indexed))
