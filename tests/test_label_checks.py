"""Label checks L101 (deepened), L102-L105 and the reference baseline, on real data with seeded faults."""

import numpy as np
import pytest
from torch import nn

from cnndoctor.facts.baselines import _probe
from tests.conftest import codes
from tests.fixtures import seeded
from tests.fixtures.data import arrowhead, gunpoint, ucr
from tests.fixtures.models import TinyCNN


def _finding(report, code):
    found = [f for f in report.findings if f.code == code]
    assert found, f"{code} did not fire: {[(c.code, str(c.status), c.reason) for c in report.checks]}"
    return found[0]


def _one_hot(y, k=2, dtype=np.float32):
    return np.eye(k, dtype=dtype)[y]


# L101 label-range

@pytest.mark.fires("L101")
def test_l101_fires_on_one_based_ucr_labels(run):
    X_train, y_train, X_test, y_test = arrowhead()
    report = run(TinyCNN, (X_train, y_train + 1), (X_test, y_test + 1), select=["L101"])
    f = _finding(report, "L101")
    assert f.evidence["min_label"] == 1 and f.evidence["max_label"] == 3
    assert "1-based" in f.message and "np.unique" in f.snippet


@pytest.mark.fires("L101")
def test_l101_fires_on_minus_one_plus_one(run):
    X_train, y_train, X_test, y_test = gunpoint()
    report = run(TinyCNN, (X_train, 2 * y_train - 1), (X_test, 2 * y_test - 1), select=["L101"])
    assert "-1/+1" in _finding(report, "L101").message


@pytest.mark.fires("L101")
def test_l101_fires_on_gaps(run):
    X_train, y_train, X_test, y_test = arrowhead()
    remap = np.array([0, 2, 7])
    report = run(TinyCNN, (X_train, remap[y_train]), (X_test, remap[y_test]), select=["L101"])
    f = _finding(report, "L101")
    assert "gaps" in f.message and f.evidence["max_label"] == 7


@pytest.mark.silent("L101")
@pytest.mark.parametrize("kind", ["ints", "strings", "float-ints"])
def test_l101_silent_on_zero_based_and_strings(run, kind):
    X_train, y_train, X_test, y_test = arrowhead()
    if kind == "strings":
        names = np.array(["avonlea", "clovis", "mix"])
        y_train, y_test = names[y_train], names[y_test]
    elif kind == "float-ints":
        y_train, y_test = y_train.astype(np.float64), y_test.astype(np.float64)
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["L101"])
    assert codes(report) == []


# L101 label-range (deepened)

@pytest.mark.fires("L101")
def test_l101_fires_on_one_hot_rows_without_a_one(run):
    X_train, y_train, X_test, y_test = gunpoint()
    Y = _one_hot(y_train)
    Y[[2, 5]] = 0.0  # unlabelled samples left as zero rows
    report = run(TinyCNN, (X_train, Y), (X_test, _one_hot(y_test)), select=["L101"])
    f = _finding(report, "L101")
    assert f.evidence["no_one"] == 2 and f.evidence["examples"] == [2, 5]


@pytest.mark.fires("L101")
def test_l101_names_the_wasted_output_of_a_widened_head(run):
    X_train, y_train, X_test, y_test = arrowhead()
    report = run(TinyCNN(num_classes=4), (X_train, y_train + 1), (X_test, y_test + 1), select=["L101"])
    f = _finding(report, "L101")
    assert "output 0 is never a target" in f.message and f.evidence["head_width"] == 4
    assert f.evidence["label_counts"] == {"1": 12, "2": 12, "3": 12}


@pytest.mark.silent("L101")
def test_l101_silent_on_proper_one_hot_rows(run):
    X_train, y_train, X_test, y_test = gunpoint()
    report = run(TinyCNN, (X_train, _one_hot(y_train)), (X_test, _one_hot(y_test)), select=["L101"])
    assert codes(report) == []


# L102 label-encoding-mismatch

@pytest.mark.fires("L102")
def test_l102_fires_on_integer_one_hot_with_cross_entropy(run):
    X_train, y_train, X_test, y_test = gunpoint()
    Y_train, Y_test = _one_hot(y_train, dtype=np.int64), _one_hot(y_test, dtype=np.int64)
    report = run(TinyCNN, (X_train, Y_train), (X_test, Y_test), select=["L102"])
    f = _finding(report, "L102")
    assert "Expected floating point type for target" in f.evidence["trial_error"]


@pytest.mark.fires("L102")
@pytest.mark.parametrize("loss, labels", [("nll", "one-hot"), ("bce", "index")])
def test_l102_fires_when_loss_and_encoding_disagree(run, loss, labels):
    X_train, y_train, X_test, y_test = gunpoint()
    if labels == "one-hot":
        y_train, y_test = _one_hot(y_train), _one_hot(y_test)
    loss_fn = nn.NLLLoss() if loss == "nll" else nn.BCEWithLogitsLoss()
    report = run(TinyCNN(num_classes=2), (X_train, y_train), (X_test, y_test), loss_fn=loss_fn, select=["L102"])
    f = _finding(report, "L102")
    assert f.evidence["trial_error"] and f.evidence["head_width"] == 2
    assert "argmax" in f.snippet


@pytest.mark.silent("L102")
def test_l102_silent_on_matching_encodings(run):
    X_train, y_train, X_test, y_test = gunpoint()
    cases = [(TinyCNN, y_train, y_test, None),  # indices + CrossEntropyLoss
             (TinyCNN, _one_hot(y_train), _one_hot(y_test), None),  # float one-hot as class probabilities
             (TinyCNN(num_classes=1), y_train, y_test, nn.BCEWithLogitsLoss())]  # one logit, 0/1 targets
    for model, a, b, loss_fn in cases:
        assert codes(run(model, (X_train, a), (X_test, b), loss_fn=loss_fn, select=["L102"])) == []


# L103 class-imbalance

@pytest.mark.fires("L103")
def test_l103_fires_on_a_rare_event_set(run):
    X_train, y_train, X_test, y_test = seeded.imbalanced("GunPoint", keep_minority=0.12)
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["L103"])
    f = _finding(report, "L103")
    assert f.evidence["majority_rate_test"] == pytest.approx(np.mean(y_test == 0))
    assert f.evidence["gap_over_chance"] >= 0.25
    assert "weight=" in f.snippet and "balanced_accuracy" in f.snippet


@pytest.mark.silent("L103")
def test_l103_silent_on_balanced_and_mildly_skewed_sets(run):
    # OSULeaf: 53 vs 15 per class, majority 26% for 6 classes; one class cut to 3 samples is L104's
    for data in (gunpoint(), ucr("OSULeaf"), seeded.rare_class("OSULeaf", cls=5, keep=3)):
        X_train, y_train, X_test, y_test = data
        assert codes(run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["L103"])) == []


@pytest.mark.fires("L103")
@pytest.mark.silent("L105")
def test_rare_events_lead_with_l103_and_are_judged_by_balanced_accuracy(run):
    # ItalyPowerDemand at 19:1: every baseline is right on nearly every test sample, which accuracy cannot tell
    # from the 95% majority rate; the probe at lr 0.01 learns only the class frequencies (balanced accuracy 0.5)
    X_train, y_train, X_test, y_test = seeded.rare_events("ItalyPowerDemand", ratio=19)
    assert np.bincount(y_train)[0] / len(y_train) > 0.94
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), lr=0.01)
    assert "L105" not in codes(report)
    assert next(str(c.status) for c in report.checks if c.code == "L105") == "passed"
    assert report.primary.code == "L103" and report.diagnosis["headline"].startswith(
        "Expect a model that predicts only the majority class: balanced accuracy near chance")
    assert report.primary.severity == "error" and not report.passed()  # a model at chance fails the gate
    assert report.diagnosis["probe"]["balanced_accuracy"] == pytest.approx(0.5)
    symptoms = [f for f in report.findings if f.code in ("T104", "T105")]
    assert symptoms and all(f.explained_by == "L103" for f in symptoms)


@pytest.mark.fires("L105")
def test_l105_judges_rare_events_shuffled_separately_by_balanced_accuracy(run):
    X_train, y_train, X_test, y_test = seeded.rare_events("ItalyPowerDemand", ratio=19)
    y_train = np.random.default_rng(0).permutation(y_train)  # labels no longer belong to their series
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["L105"])
    e = _finding(report, "L105").evidence
    assert e["metric"] == "balanced accuracy" and e["trivial_score"] == pytest.approx(0.5)
    assert e["best_score"] <= e["threshold"] < 1.0 and e["best_accuracy"] > 0.8  # accuracy alone looks fine


# L104 few-samples-per-class

@pytest.mark.fires("L104")
def test_l104_fires_on_a_class_with_three_samples(run):
    X_train, y_train, X_test, y_test = seeded.rare_class("OSULeaf", cls=5, keep=3)
    report = run(TinyCNN(num_classes=6), (X_train, y_train), (X_test, y_test), select=["L104"])
    f = _finding(report, "L104")
    assert f.evidence["classes_below"] == {"5": 3} and f.evidence["smallest_class_count"] == 3


@pytest.mark.fires("L104")
def test_l104_fires_on_a_big_model_for_twelve_samples_per_class(run):
    X_train, y_train, X_test, y_test = arrowhead()
    model = TinyCNN(num_classes=3, width=128)
    report = run(model, (X_train, y_train), (X_test, y_test), select=["L104"])
    f = _finding(report, "L104")
    n_params = sum(p.numel() for p in model.parameters())
    assert f.evidence["n_parameters"] == n_params
    assert f.evidence["parameters_per_training_sample"] == pytest.approx(n_params / 36)


@pytest.mark.silent("L104")
def test_l104_silent_on_a_small_model(run):
    for data in (arrowhead(), ucr("OSULeaf")):
        X_train, y_train, X_test, y_test = data
        assert codes(run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["L104"])) == []


# L105 unlearnable-labels and the reference baseline

@pytest.mark.fires("L105")
def test_l105_fires_when_x_and_y_were_shuffled_separately(run):
    X_train, y_train, X_test, y_test = seeded.shuffled_separately("GunPoint")
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["L105"])
    f = _finding(report, "L105")
    e = f.evidence
    assert e["best_accuracy"] <= e["threshold"] and set(e["baselines"]) == {"1nn_znorm", "logreg_features",
                                                                            "random_conv"}
    assert e["trivial_score"] == pytest.approx(max(0.5, np.mean(y_test == np.bincount(y_train).argmax())))
    assert "one permutation" in f.snippet


@pytest.mark.fires("L105")
def test_l105_blames_preprocess_when_the_stored_arrays_carry_the_labels(run):
    X_train, y_train, X_test, y_test = gunpoint()
    report = run(TinyCNN, (X_train[:, None], y_train), (X_test[:, None], y_test),
                 preprocess=seeded.channel_axis_normalise, select=["L105"])
    f = _finding(report, "L105")
    assert "preprocess() destroys the signal" in f.message
    assert f.evidence["stored_arrays_best"]["accuracy"] > 0.85


@pytest.mark.silent("L105")
def test_l105_silent_and_reference_reported_on_learnable_data(run):
    X_train, y_train, X_test, y_test = gunpoint()
    report = run(TinyCNN, (X_train, y_train), (X_test, y_test), select=["L105"])
    assert codes(report) == []
    ref = report.diagnosis["reference"]
    assert {"best", "accuracy", "chance", "majority", "baselines", "note"} <= set(ref)
    assert "seconds" not in ref  # wall-clock time goes to the timings: a seeded report stays identical
    assert ref["accuracy"] == max(ref["baselines"].values()) > 0.85
    assert ref["chance"] == 0.5
    assert report.to_json()  # the reference is plain JSON


def test_learnability_survives_a_build_without_probes():
    class NoProbes:
        def has(self, name):
            raise KeyError(name)

    assert _probe(NoProbes()) is None


# L106 noisy-labels

@pytest.mark.fires("L106")
@pytest.mark.parametrize("name", ["GunPoint", "ArrowHead", "OSULeaf"])
def test_l106_fires_on_thirty_percent_flipped_training_labels(run, name):
    X_train, y_train, X_test, y_test, flipped = seeded.flipped_labels(name, rate=0.3, seed=1)
    k = int(y_test.max()) + 1
    report = run(TinyCNN(num_classes=k), (X_train, y_train), (X_test, y_test), select=["L106"])
    e = _finding(report, "L106").evidence
    assert e["excess_noise_rate"] >= e["min_excess"] and e["noise_z"] >= e["z"]
    suspect = e["suspect_indices"]
    assert len(set(suspect)) == len(suspect) == e["n_suspect"] and set(suspect) <= set(range(len(y_train)))
    # the suspects are mostly the flipped samples: recall and precision well above the 30% a random pick gets
    hits = len(set(suspect) & set(flipped.tolist()))
    assert hits / len(flipped) >= 0.5 and hits / len(suspect) >= 0.4


@pytest.mark.fires("L106")
def test_l106_fires_when_training_inputs_were_shuffled_without_their_labels(run):
    # 80% of the training series re-ordered among themselves: two thirds of the training labels are wrong
    X_train, y_train, X_test, y_test = seeded.inputs_reordered("OSULeaf", share=0.8)
    report = run(TinyCNN(num_classes=6), (X_train, y_train), (X_test, y_test), select=["L105", "L106"])
    assert codes(report) == ["L106"]  # a baseline still lands above chance on the clean test split: L105 passes
    f = _finding(report, "L106")
    e = f.evidence
    assert e["agreement_gap"] >= e["min_excess"] and e["agreement_z"] >= e["z"]
    assert e["train_neighbour_agreement"] < e["test_neighbour_agreement"]
    assert f"{e['train_noise_rate']:.0%}" in f.message and "setdiff1d" in f.snippet


@pytest.mark.silent("L106")
@pytest.mark.parametrize("name", ["GunPoint", "ArrowHead", "OSULeaf", "ItalyPowerDemand", "BasicMotions", "ACSF1"])
def test_l106_silent_on_the_clean_ucr_sets(run, name):
    X_train, y_train, X_test, y_test = ucr(name)
    channels = 1 if X_train.ndim == 2 else X_train.shape[1]
    model = TinyCNN(in_channels=channels, num_classes=int(y_train.max()) + 1)
    report = run(model, (X_train, y_train), (X_test, y_test), select=["L106"])
    assert codes(report) == [] and report.checks[0].status == "passed"


@pytest.mark.silent("L106")
def test_l106_silent_when_only_the_test_labels_are_scrambled(run):
    # the test split is the reference: test labels out of order are T208's story, not noisy training labels
    X_train, y_train, X_test, y_test = gunpoint()
    report = run(TinyCNN, (X_train, y_train), (X_test, np.sort(y_test)), select=["L106"])
    assert codes(report) == [] and report.checks[0].status == "passed"  # judged, not skipped


def test_l106_names_rows_of_the_users_x_when_cnndoctor_splits_it(run):
    # no test split: cnndoctor splits X 80/20, and the suspects must be rows of the X the user holds, not of
    # cnndoctor's training array. Noise in both splits alike is not what L106 detects, so its thresholds are
    # opened here: this test is about the row mapping, the fires tests are about detection.
    from cnndoctor.load.data import split_rows

    X_train, y_train, X_test, y_test = ucr("ItalyPowerDemand")
    X, y = np.concatenate([X_train, X_test]), np.concatenate([y_train, y_test])
    rng = np.random.default_rng(1)
    flipped = np.sort(rng.choice(len(y), int(0.3 * len(y)), replace=False))
    y[flipped] = 1 - y[flipped]
    report = run(TinyCNN, (X, y), select=["L106"], seed=0, thresholds={"L106": {"z": -100.0, "min_excess": -1.0}})
    (f,) = [f for f in report.findings if f.code == "L106"]
    suspects = np.asarray(f.evidence["suspect_indices"])
    assert f.evidence["indices_into"] == "X" and "X[keep]" in f.snippet
    assert set(suspects) <= set(split_rows(y, seed=0)[0].tolist())  # rows of X that cnndoctor trained on
    assert len(np.intersect1d(suspects, flipped)) / len(suspects) >= 0.5  # and they are the flipped ones


def test_l106_names_the_users_rows_when_the_baselines_subsample():
    from cnndoctor.measure.baselines import subsample
    from cnndoctor.measure.label_noise import label_noise

    X_train, y_train, X_test, y_test, flipped = seeded.flipped_labels("OSULeaf", rate=0.3, seed=2)
    sub = subsample(X_train[:, None], y_train, X_test[:, None], y_test, max_train=120, max_test=120, seed=0)
    assert np.array_equal(sub.X_train[:, 0], X_train[sub.train_index]) and len(sub.train_index) == 120
    measured = label_noise(sub.X_train, sub.y_train, sub.X_test, sub.y_test, seed=0)
    rows = sub.train_index[measured.train.issues]
    flipped_here = np.intersect1d(flipped, sub.train_index)
    assert len(np.intersect1d(rows, flipped_here)) / len(flipped_here) >= 0.5
    again = label_noise(sub.X_train, sub.y_train, sub.X_test, sub.y_test, seed=0)
    assert np.array_equal(again.train.issues, measured.train.issues)  # same seed, same suspects
