"""Checks for leakage between the splits: duplicated samples, overlapping windows, split labels, shared groups."""

from __future__ import annotations

import numpy as np

from cnndoctor.errors import Skip
from cnndoctor.findings import Finding, Severity
from cnndoctor.measure.duplicates import IDENTICAL, MAX_DISTANCE, MAX_RATIO
from cnndoctor.registry import check

__all__ = ["duplicated_samples", "group_overlap_leakage", "split_label_mismatch", "window_overlap_leakage"]

_EXAMPLES = 8


def _ids(values, limit: int = 10) -> list:
    return [v.item() if hasattr(v, "item") else v for v in list(values)[:limit]]


@check("D201", "cross-split-duplicates", "error")
def duplicated_samples(cross_split_duplicates, labels, data, *, min_fraction: float = 0.01,
                       error_fraction: float = 0.05):
    """## What it does
    Finds test samples that are copies of training samples: bit-identical copies (by hashing
    every sample), copies that were shifted or re-scaled (identical after z-normalising each
    channel), and near copies with a little noise. Near copies are found with a random-projection
    fingerprint of the z-normalised samples and locality-sensitive hashing — no pair of samples
    is compared unless hashing made it a candidate — and verified on the data: the root-mean-square
    difference of the two z-normalised samples must be at most 0.1 (correlation ≥ 0.995) and at
    most a fifth of the distance from that training sample to its own nearest other training
    sample. Copies are far closer to their source than samples of a data set are to each other;
    series that all look alike (appliances in standby) are close to many samples and do not count.

    ## Why is this bad?
    A test sample that is also in the training set measures memory, not generalisation: test
    accuracy is inflated by up to the share of duplicated test samples and collapses on new data.
    Duplicates come from augmenting (jitter, scaling) before splitting, from merging files that
    overlap, or from one recording saved twice in different units. Below 1% of the test split
    the effect on accuracy is negligible and the check stays silent; from 5% it is an error.

    ## Example
    `X_aug = np.concatenate([X, X + 0.01 * np.random.randn(*X.shape)])` followed by
    `train_test_split(X_aug, y_aug)`: most noisy copies land in the other split from their source.

    ## Fix
    Remove duplicates and split before augmenting; augment only the training split.
    """
    scan = cross_split_duplicates
    if scan.n_test == 0:
        raise Skip("the test split is empty")
    dup = scan.duplicate
    count = scan.count
    fraction = count / scan.n_test
    if count == 0 or fraction < min_fraction:
        return
    test = data.held_out
    n_exact = int(scan.exact.sum())
    rescaled = scan.near & (scan.distance <= IDENTICAL)
    n_rescaled = int(rescaled.sum())
    n_near = count - n_exact - n_rescaled  # includes the estimate for unmeasured matches on big data
    idx = np.flatnonzero(dup)
    examples = []
    for i in idx[:_EXAMPLES]:
        kind = "identical" if scan.exact[i] else "shifted/re-scaled copy" if rescaled[i] else "near copy"
        examples.append({f"{test.var}_index": int(i), "train_index": int(scan.match[i]), "kind": kind,
                         "z_distance": float(scan.distance[i])})
    same_label = scan.same_label
    if same_label is None and labels.test is not None:
        same_label = float(np.mean(labels.test[idx] == labels.train[scan.match[idx]]))
    kinds = [f"{n} {what}" for n, what in ((n_exact, "identical"), (n_rescaled, "identical up to offset and scale"),
                                           (n_near, "near-identical")) if n]
    if fraction >= error_fraction:
        message = (f"{count:,} of {scan.n_test:,} {test.noun} samples ({fraction:.1%}) are copies of training "
                   f"samples ({', '.join(kinds)}), so {test.noun} accuracy partly measures memory, not generalisation.")
    else:
        message = (f"{count:,} of {scan.n_test:,} {test.noun} samples ({fraction:.1%}) have a copy in the training "
                   f"split ({', '.join(kinds)}); at this share they can inflate {test.noun} accuracy by at most "
                   f"{100 * fraction:.1f} points.")
    if same_label is not None and same_label < 0.9:
        message += f" Only {same_label:.0%} of these pairs carry the same label, which points to label noise as well."
    evidence = {"duplicates": count, "fraction_of_test": fraction, "identical": n_exact,
                "rescaled_copies": n_rescaled, "near_copies": n_near, "n_test": scan.n_test,
                "examples": examples, "same_label_fraction": same_label,
                "excluded_constant_or_nonfinite": scan.excluded,
                "max_z_distance": MAX_DISTANCE, "max_ratio_to_own_neighbour": MAX_RATIO, "min_fraction": min_fraction,
                "error_fraction": error_fraction}
    if scan.ratio_candidates > scan.ratio_sampled:
        evidence["ratio_measured_for"] = f"{scan.ratio_sampled} of {scan.ratio_candidates} matched training samples"
        evidence["near_copies_estimated"] = scan.extrapolated
    yield Finding(
        message=message, evidence=evidence,
        severity=Severity.ERROR if fraction >= error_fraction else Severity.WARNING,
        severity_reason=(None if fraction >= error_fraction else f"lowered from error: copies are {fraction:.1%} "
                         f"of the held-out samples, under error_fraction = {error_fraction:g}"),
        fix=f"Remove the {test.noun} samples that copy training samples, de-duplicate before splitting, and augment "
            "only the training split after the split.",
        snippet=("flat = X.reshape(len(X), -1)                       # before splitting and before augmenting\n"
                 "_, keep = np.unique(flat, axis=0, return_index=True)\n"
                 "X, y = X[np.sort(keep)], y[np.sort(keep)]\n"
                 "X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y)\n"
                 "# augment X_train only, after the split"))


@check("D202", "window-overlap-leakage", "error")
def window_overlap_leakage(window_overlap, data, *, min_fraction: float = 0.05):
    """## What it does
    Looks for stretches of signal that test windows share with training windows at any shift.
    Positions chosen by the signal's own content (anchors) are hashed with a few values around
    them, the training windows' anchors are looked up for every examined test window, and each
    hit — a test window, a training window and a shift — is verified by comparing the whole
    overlap: equal values, or (for windows standardised one by one) values equal up to an offset
    and a gain with a residual at float-rounding level. Linear in the data: no window is compared
    with every other, and at most a few thousand test windows are examined (a random sample).

    ## Why is this bad?
    Windows cut from a long recording with a stride shorter than the window overlap their
    neighbours. Split at random, almost every test window shares most of its signal with a
    training window, so the model is tested on data it has seen: accuracy looks excellent and
    collapses on a new recording. The check fires when at least 5% of the examined test windows
    share a stretch of at least an eighth of a window; a few windows at the seam of a time-wise
    split stay below that.

    ## Example
    `windows = [rec[:, s:s + 256] for s in range(0, T - 256, 64)]` (stride 64, 75% overlap)
    followed by `train_test_split(windows, labels, shuffle=True)`.

    ## Fix
    Split by recording or by time first, then cut windows inside each part (or use
    `GroupShuffleSplit` with the recording id as the group).
    """
    overlap = window_overlap
    scan = overlap.scan
    if not len(scan.checked):
        raise Skip("the test split is empty")
    leaked = scan.leaked
    fraction = scan.fraction
    if not leaked.any() or fraction < min_fraction:
        return
    test = data.held_out
    shifts = np.abs(scan.shift[leaked]).astype(int)
    common = int(np.gcd.reduce(shifts))  # shifts between windows are multiples of the stride
    stride_estimate = common if common >= 2 else int(shifts.min())
    L = scan.length
    typical = int(np.median(scan.overlap[leaked]))
    where = np.flatnonzero(leaked)
    examples = [{f"{test.var}_window": int(scan.checked[k]), "train_window": int(scan.partner[k]),
                 "shift": int(scan.shift[k]), "shared_steps": int(scan.overlap[k])} for k in where[:_EXAMPLES]]
    how = "equal values" if scan.mode == "exact" else "values equal up to each window's own offset and scale"
    scaled = (" Each window was standardised on its own, and the shared stretches match up to that offset and scale."
              if scan.mode == "rescaled" else "")
    sampled = f" (of {len(scan.checked):,} examined)" if len(scan.checked) < scan.n_test else ""
    message = (f"{fraction:.0%} of the {test.noun} windows{sampled} share a stretch of signal with a training window: "
               f"the windows were cut with overlap from the same recordings and split at random. Typically "
               f"{typical} of {L} steps ({typical / L:.0%}) are shared, at shifts that are multiples of "
               f"{stride_estimate} steps — windows of {L} cut with a stride of about {stride_estimate}.{scaled}")
    evidence = {"fraction_of_test_windows": fraction, "leaked_windows": int(leaked.sum()),
                "windows_examined": len(scan.checked), f"{test.var}_windows": scan.n_test,
                "window_length": L, "typical_shared_steps": typical, "typical_shared_fraction": typical / L,
                "implied_stride": stride_estimate, "smallest_shift": int(shifts.min()), "match": how,
                "channel_compared": overlap.channel, "time_axis_from": overlap.time_axis_source,
                "anchors_per_window": round(scan.anchors_per_window, 1), "min_shared_steps": scan.min_overlap,
                "min_fraction": min_fraction, "examples": examples}
    yield Finding(
        message=message, evidence=evidence,
        fix="Split each recording by time (or hold out whole recordings) before cutting windows, so no stretch of "
            "signal can land in both splits.",
        snippet=(f"cut = int(0.8 * recording.shape[-1])                  # split in time first ...\n"
                 f"train_part, test_part = recording[..., :cut], recording[..., cut:]\n"
                 f"def windows(r, length={L}, stride={stride_estimate}):\n"
                 f"    return np.stack([r[..., s:s + length] for s in range(0, r.shape[-1] - length + 1, stride)])\n"
                 f"X_train, X_{test.var} = windows(train_part), windows(test_part)   # ... then cut windows"))


@check("D203", "split-label-mismatch", "warning")
def split_label_mismatch(label_distribution, *, min_expected: float = 5.0, max_total_variation: float = 0.2,
                         max_p_value: float = 0.001):
    """## What it does
    Compares the class counts of the training and test splits: classes that occur in one split
    but not the other, and class frequencies that are far apart. "Far apart" means the total
    variation distance (the share of samples that would have to change class to turn one
    distribution into the other) is at least 0.2 and a chi-square test rejects a common class
    distribution at p < 0.001, so small test sets do not raise false alarms. A class missing
    from the test split is reported only when at least 5 of its samples were expected there.

    ## Why is this bad?
    A class that never occurs in training cannot be predicted: every test sample of it is an
    error, whatever the model. Frequencies far apart mean the splits were not drawn from the same
    population — typically a file sorted by label and split without shuffling, so the test split
    holds the last classes only. Accuracy then says little about the model.

    ## Example
    `X_train, X_test = X[:800], X[800:]` on data sorted by class (UCR files often are).

    ## Fix
    Shuffle and stratify the split by class.
    """
    dist = label_distribution
    if dist.test_counts is None:
        raise Skip("there is no test split")
    test = dist.held_out
    tr, te = dist.train_counts, dist.test_counts
    n_tr, n_te = int(tr.sum()), int(te.sum())
    only_test = np.flatnonzero((tr == 0) & (te > 0))
    expected = tr / max(1, n_tr) * n_te
    missing = np.flatnonzero((tr > 0) & (te == 0) & (expected >= min_expected))
    far = (dist.total_variation is not None and dist.p_value is not None and
           dist.total_variation >= max_total_variation and dist.p_value < max_p_value)
    if not len(only_test) and not len(missing) and not far:
        return
    parts = []
    if len(only_test):
        names = ", ".join(dist.name(dist.ids[i]) for i in only_test[:8])
        parts.append(f"class{'es' if len(only_test) > 1 else ''} {names} occur{'' if len(only_test) > 1 else 's'} "
                     f"in the {test.split} ({int(te[only_test].sum()):,} samples) but never in training, so the model "
                     f"cannot predict {'them' if len(only_test) > 1 else 'it'}")
    if len(missing):
        names = ", ".join(dist.name(dist.ids[i]) for i in missing[:8])
        parts.append(f"class{'es' if len(missing) > 1 else ''} {names} "
                     f"{'have' if len(missing) > 1 else 'has'} {int(tr[missing].sum()):,} training samples but none in "
                     f"the {test.split} (about {float(expected[missing].sum()):.0f} expected)")
    if far:
        parts.append(f"the class frequencies differ by a total variation distance of {dist.total_variation:.2f} "
                     f"(chi-square p = {dist.p_value:.1e})")
    message = (f"The training split and the {test.split} hold different classes: " + "; ".join(parts) +
               ". The split was probably taken from data sorted by label without shuffling.")
    per_class = {dist.name(c): {"train": int(a), test.var: int(b)} for c, a, b in zip(dist.ids[:20], tr[:20], te[:20])}
    yield Finding(
        message=message, severity=Severity.ERROR if len(only_test) else None,
        evidence={"per_class": per_class, "only_in_test": [dist.names[i] for i in only_test],
                  "missing_from_test": [dist.names[i] for i in missing],
                  "total_variation": dist.total_variation, "p_value": dist.p_value,
                  "max_total_variation": max_total_variation, "max_p_value": max_p_value,
                  "min_expected": min_expected},
        fix="Shuffle and stratify the split by class (all classes in every split, in the same proportions).",
        snippet=("from sklearn.model_selection import train_test_split\n"
                 "X_train, X_test, y_train, y_test = train_test_split(\n"
                 "    X, y, test_size=0.2, shuffle=True, stratify=y, random_state=0)"))


@check("D204", "group-overlap", "error")
def group_overlap_leakage(group_overlap, data):
    """## What it does
    When the data carries group ids (`groups_train` / `groups_test`: the recording, patient,
    subject or session each sample comes from), lists the ids found in both splits and the
    share of test samples that come from a group also seen in training.

    ## Why is this bad?
    Samples of one recording or one person are far more alike than samples of different ones:
    the same sensor placement, the same heartbeat shape, the same gait. A model tested on
    people it was trained on scores well and fails on the next person. When the question is
    "does it work on new subjects", no subject may be in both splits; one shared group is
    already a leak.

    ## Example
    Windows of 30 patients' ECGs shuffled together and split 80/20 at random: every patient
    ends up in both splits.

    ## Fix
    Split by group (`GroupShuffleSplit`, `GroupKFold`, or hold out whole recordings).
    """
    overlap = group_overlap
    shared = overlap.shared
    if not len(shared):
        return
    test = data.held_out
    yield Finding(
        message=f"{len(shared):,} group id{'s' if len(shared) > 1 else ''} (recording/subject) "
                f"occur{'' if len(shared) > 1 else 's'} in both splits — {overlap.test_fraction:.0%} of the "
                f"{test.noun} samples come from a group the model was trained on, so {test.noun} accuracy overstates "
                "how it does on new recordings.",
        evidence={"shared_groups": len(shared), "examples": [str(g) for g in _ids(shared)],
                  "train_groups": overlap.n_train_groups, f"{test.var}_groups": overlap.n_test_groups,
                  f"{test.var}_fraction_in_shared_groups": overlap.test_fraction,
                  "train_fraction_in_shared_groups": overlap.train_fraction, "max_shared": 0},
        fix="Split by group so that every recording/subject lies entirely in one split.",
        snippet=("from sklearn.model_selection import GroupShuffleSplit\n"
                 "train_idx, test_idx = next(GroupShuffleSplit(test_size=0.2, random_state=0).split(X, y, groups))\n"
                 "X_train, y_train, X_test, y_test = X[train_idx], y[train_idx], X[test_idx], y[test_idx]"))
