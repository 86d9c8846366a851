"""The scenarios: a model file, a deterministic data builder and the expected primary code(s).

``expected`` names the root cause a careful expert would give; two codes only where both are
equally valid names for the seeded fault. Healthy scenarios (``expected == ()``) must come out
with no error finding and exit code 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from cnndoctor.diagnosis.order import LEAKAGE

from . import builders as b
from . import recordings as r

__all__ = ["Scenario", "SCENARIOS", "MODELS", "NOT_SEEDED", "LEAK_CODES", "CRASH_CODES"]

MODELS = Path(__file__).resolve().parent / "models"

# Faults whose consequence does not depend on the run: the test split shares data with training (the
# codes cnndoctor's headline calls leakage) ...
LEAK_CODES = LEAKAGE
# ... or the user's own loop raises: a forward pass that fails, labels a classification loss cannot
# index (1-based, -1/+1, floats), a batch of one into BatchNorm in train mode. Wider than the codes whose
# headline says "crashes" (diagnosis.CRASHES): this is the benchmark's ground truth, by the fault's nature.
CRASH_CODES = frozenset({"A101", "A102", "A103", "A207", "L101"})


@dataclass(frozen=True)
class Scenario:
    name: str
    expected: tuple[str, ...]  # any of these as the primary cause counts as correct; () for healthy
    model: str  # a file in models/, optionally with ":Name"
    data: Callable[[], dict]
    args: tuple[str, ...] = ()
    fast: bool = False  # part of the regression subset the test suite runs
    note: str = ""  # how the fault was seeded, in a few words

    @property
    def healthy(self) -> bool:
        return not self.expected

    @property
    def consequence(self) -> str:
        """What the user's own run meets with this fault, by the fault's nature: "crash" (their loop
        raises), "leak" (their test score is inflated), or "" (it depends: measured, see the runner)."""
        if any(code in LEAK_CODES for code in self.expected):
            return "leak"
        if any(code in CRASH_CODES for code in self.expected):
            return "crash"
        return ""

    def build(self, folder: Path):
        data = folder / "data.npz"
        np.savez(data, **self.data())
        file, _, name = self.model.partition(":")
        model = str(MODELS / file) + (f":{name}" if name else "")
        return model, data, list(self.args)


def _std(name: str) -> dict:
    return b.standardise_channels(b.load(name))


S = Scenario
SCENARIOS: list[Scenario] = [
    # --- healthy: different real data sets and architectures, which must come out clean ------------
    S("healthy-gunpoint-fcn", (), "fcn.py", lambda: b.load("GunPoint"),
      note="z-normalised series, FCN"),
    S("healthy-arrowhead-fcn", (), "fcn.py", lambda: b.load("ArrowHead"),
      note="36 training series, 3 classes"),
    S("healthy-basicmotions-standardised", (), "fcn.py", lambda: _std("BasicMotions"), fast=True,
      note="6 sensor channels standardised per channel"),
    S("healthy-basicmotions-eeg-shallow-conv2d", (), "eeg_shallow.py", lambda: _std("BasicMotions"),
      note="braindecode-style Conv2d over (N, 1, 6, 100), temporal then spatial"),
    S("healthy-italypower-tutorial", (), "tutorial_cnn.py", lambda: b.load("ItalyPowerDemand"), fast=True,
      note="24-step series, flatten + dense head"),
    S("healthy-osuleaf-resnet", (), "resnet.py", lambda: b.load("OSULeaf"),
      note="6 classes, residual CNN"),
    S("healthy-gunpoint-channels-last", (), "channels_last.py", lambda: b.to_nlc(b.load("GunPoint")),
      note="(N, L, 1) arrays, model permutes"),
    S("healthy-activity-windows-by-recording", (), "small_cnn.py", lambda: r.activity_windows_by_recording(),
      note="overlapping windows, recordings held out"),
    S("healthy-activity-sessions-by-group", (), "small_cnn.py", lambda: r.activity_sessions(by_group=True),
      note="group ids, split by group"),
    S("healthy-basicmotions-zscore-preprocess", (), "zscore_preprocess.py", lambda: b.load("BasicMotions"),
      note="raw sensor units, preprocess z-normalises each series"),
    S("healthy-gunpoint-onehot-crossentropy", (), "fcn.py", lambda: b.one_hot(b.load("GunPoint")),
      note="one-hot rows as CrossEntropyLoss targets"),

    # --- D1 values ----------------------------------------------------------------------------------
    S("nan-readings", ("D101",), "fcn.py", lambda: b.with_nans(b.load("GunPoint")),
      note="NaN gaps in 5% of training series"),
    S("log-preprocess-negative-values", ("D101",), "log_preprocess.py", lambda: b.load("ItalyPowerDemand"),
      note="np.log(X + 1) on z-normalised series"),
    S("adc-counts-acsf1", ("D102",), "tutorial_cnn.py", lambda: b.adc_counts(b.load("ACSF1")),
      note="16-bit counts around 32768"),
    S("adc-12bit-arrowhead", ("D102",), "fcn_nobn.py",
      lambda: b.adc_counts(b.load("ArrowHead"), offset=2048, gain=400, bits=12),
      note="12-bit counts around 2048"),
    S("pixel-coordinates-osuleaf", ("D102",), "tutorial_cnn.py",
      lambda: b.rescale(b.load("OSULeaf"), gain=40.0, offset=250.0), note="outline in pixels (250 ± 40)"),
    S("milli-g-basicmotions", ("D102",), "fcn_nobn.py", lambda: b.rescale(b.load("BasicMotions"), gain=1000.0),
      note="every sensor channel in milli-units", fast=True),
    S("mixed-units-global-scaler", ("D103",), "small_cnn.py",
      lambda: b.global_standardise(b.mixed_units(b.load("BasicMotions"))),
      note="accelerometer x1000, one global mean/std"),
    S("normalised-over-channel-axis", ("D104",), "norm_preprocess.py", lambda: b.as_channel_axis(b.load("GunPoint")),
      note="preprocess normalises axis=1 of (N, 1, L)"),
    S("unplugged-gyroscope", ("D104",), "small_cnn.py", lambda: b.dead_channel(_std("BasicMotions")),
      note="one channel all zeros"),
    S("scaler-fitted-on-train-only", ("D105",), "small_cnn.py", lambda: b.scaler_on_train_only(b.load("BasicMotions")),
      note="train standardised, test raw"),

    # --- D2 leakage ----------------------------------------------------------------------------------
    S("jitter-augmented-before-split", ("D201",), "fcn.py", lambda: b.augmented_before_split("GunPoint"),
      note="noisy copies, then random split", fast=True),
    S("oversampled-before-split", ("D201",), "fcn.py", lambda: b.oversampled_before_split("OSULeaf"),
      note="class oversampling, then random split"),
    S("merged-rescaled-export", ("D201",), "fcn.py", lambda: b.merged_with_copies("ArrowHead"),
      note="second export in other units merged in"),
    S("activity-windows-random-split", ("D202",), "small_cnn.py", lambda: r.activity_windows(),
      note="5-s windows every 1 s, random split"),
    S("gait-windows-random-split", ("D202",), "small_cnn.py", lambda: r.gait_windows(),
      note="windows z-scored one by one, random split"),
    S("sorted-file-split-unshuffled", ("D203",), "fcn.py", lambda: b.sorted_unshuffled_split("OSULeaf"),
      note="X[:80%], X[80%:] of a label-sorted file"),
    S("recordings-in-both-splits", ("D204",), "small_cnn.py", lambda: r.activity_sessions(by_group=False),
      note="windows split at random, groups given"),
    S("class-by-class-export-unshuffled-loader", ("D205",), "power_demand_loop.py",
      lambda: b.exported_class_by_class("ItalyPowerDemand"),
      note="X, y exported one class after another, model file says shuffle = False"),
    S("recalibrated-watch-sessions", ("D106",), "watch_sessions_cnn.py", lambda: r.recalibrated_sessions(),
      note="sessions exported at 1x, 100x or 1000x, one global scaler, groups in the npz"),

    # --- D3 layout -----------------------------------------------------------------------------------
    S("keras-layout-multichannel", ("D301",), "fcn.py", lambda: b.to_nlc(_std("BasicMotions")),
      note="(N, 100, 6) into Conv1d(6, ...)", fast=True),
    S("keras-layout-univariate", ("D301",), "fcn.py", lambda: b.to_nlc(b.load("GunPoint")),
      note="X[..., None]: (N, 150, 1)"),
    S("built-for-the-time-axis", ("D301",), "fcn.py", lambda: b.to_nlc(_std("BasicMotions")),
      args=("--model-arg", "in_channels=100"), note="in_channels = X.shape[1] on (N, L, C)"),
    S("eeg-conv2d-channels-last", ("D301",), "shallow_fbcsp_final_conv.py", lambda: b.to_nlc(_std("BasicMotions")),
      note="braindecode-style Conv2d (1, 25) over the (N, 1, C, T) view, fed (N, 100, 6)"),
    S("view-instead-of-permute", ("D302",), "view_not_permute.py", lambda: b.to_nlc(_std("BasicMotions")),
      note="x.view(N, C, -1) in forward"),
    S("reshape-in-preprocess", ("D302",), "reshape_preprocess.py", lambda: b.to_nlc(_std("BasicMotions")),
      note="X.reshape(N, C, L) in preprocess"),
    S("reshaped-before-saving", ("D302",), "fcn.py", lambda: b.reshape_nlc_as_ncl(b.to_nlc(_std("BasicMotions"))),
      note="stored arrays already reshaped"),
    S("tabular-features-as-series", ("D303",), "fcn.py", lambda: b.tabular_as_series(),
      note="breast-cancer table as (N, 1, 30)"),

    # --- L labels, outputs, loss ---------------------------------------------------------------------
    S("one-based-labels-arrowhead", ("L101",), "fcn.py", lambda: b.one_based(b.load("ArrowHead")), fast=True,
      note="labels 1, 2, 3"),
    S("minus-one-plus-one-gunpoint", ("L101",), "fcn.py", lambda: b.plus_minus_one(b.load("GunPoint")),
      note="labels -1, +1"),
    S("ucr-labels-as-stored-osuleaf", ("L101",), "tutorial_cnn.py", lambda: b.load("OSULeaf", zero_based=False),
      note="labels 1..6 as in the file"),
    S("float-labels-from-csv", ("L101",), "tutorial_cnn.py",
      lambda: b.float_labels(b.load("ItalyPowerDemand", zero_based=False)), note="labels 1.0, 2.0"),
    S("onehot-labels-nllloss", ("L102",), "nll_onehot.py", lambda: b.one_hot(b.load("ArrowHead")),
      note="to_categorical rows into NLLLoss"),
    S("class-ids-into-bce", ("L102",), "multilabel_loss.py", lambda: b.load("ArrowHead"),
      note="BCEWithLogitsLoss, K-wide head, integer ids"),
    S("rare-event-class", ("L103",), "fcn.py", lambda: b.thinned_class("GunPoint", keep=0.1),
      note="one class thinned to 10%"),
    S("rare-events-pooled-19-to-1", ("L103",), "tutorial_cnn.py", lambda: b.rare_events("ItalyPowerDemand"),
      note="events 1 in 20 of the pooled set, split 70/30"),
    S("three-samples-of-a-class", ("L104",), "fcn.py", lambda: b.few_of_class("OSULeaf", keep=3),
      note="one class cut to 3 training series"),
    S("shuffled-separately", ("L105",), "fcn.py", lambda: b.shuffled_separately("GunPoint"),
      note="np.random.shuffle(X); np.random.shuffle(y)"),
    S("test-labels-sorted", ("T208", "L105"), "fcn.py", lambda: b.test_labels_sorted("GunPoint"),
      note="y_test sorted, X_test not"),
    S("annotator-confuses-next-class", ("L106",), "sensor_gap_cnn.py",
      lambda: b.standardise_channels(b.annotator_confusion("BasicMotions", rate=0.3)),
      note="30% of each class labelled as the next class"),
    S("label-file-missing-a-line", ("L106",), "dilated_cnn.py", lambda: b.label_line_dropped("OSULeaf", at=0.3),
      note="labels shifted by one row from 30% of the file on"),
    S("binary-head-on-3-classes", ("L201",), "fcn.py", lambda: b.load("ArrowHead"),
      args=("--model-arg", "num_classes=2"),
      note="num_classes=2 on 3 classes"),
    S("ten-class-head-on-4-classes", ("L201",), "fixed_head.py", lambda: _std("BasicMotions"),
      note="nn.Linear(64, 10) written in"),
    S("softmax-module-before-ce", ("L202",), "softmax_head.py", lambda: b.load("ArrowHead"),
      note="nn.Softmax(dim=1) last in nn.Sequential"),
    S("softmax-in-forward-before-ce", ("L202",), "softmax_forward.py", lambda: b.load("OSULeaf"),
      note="F.softmax(...) returned from forward"),
    S("sigmoid-before-bce-with-logits", ("L202",), "sigmoid_bce.py", lambda: b.load("GunPoint"),
      note="torch.sigmoid on the one output"),
    S("relu-on-logits", ("L203",), "relu_head.py", lambda: b.load("ArrowHead"),
      note="nn.ReLU after the last Linear"),
    S("mse-on-class-ids", ("L204",), "regression_head.py", lambda: b.load("OSULeaf"),
      note="one output, MSELoss on ids 0..5"),
    S("binary-loss-on-3-classes", ("L204",), "binary_loss.py", lambda: b.load("ArrowHead"),
      note="one output, BCEWithLogitsLoss, 3 classes"),
    S("normal-init-std-1", ("L205",), "normal_init.py", lambda: b.load("GunPoint"),
      note="weights from N(0, 1), no normalisation"),

    # --- A architecture ------------------------------------------------------------------------------
    S("flatten-head-wrong-in-features", ("A101",), "tutorial_cnn.py", lambda: b.load("GunPoint"),
      args=("--model-arg", "seq_len=128"), note="head sized for 128 steps, data has 150", fast=True),
    S("unpadded-residual", ("A101",), "residual_unpadded.py", lambda: b.load("GunPoint"),
      note="x + shortcut with unpadded dilated convs"),
    S("accelerometer-model-on-6-channels", ("A102",), "accel_3ch.py", lambda: _std("BasicMotions"),
      note="nn.Conv1d(3, ...) written in"),
    S("eight-pooling-blocks", ("A103",), "deep_pool.py", lambda: b.load("GunPoint"),
      note="150 steps halved 8 times"),
    S("strided-front-end-short-series", ("A103",), "strided_cnn.py", lambda: b.load("ItalyPowerDemand"),
      note="stride 4 and pools of 4 on 24 steps"),
    S("dense-per-time-step", ("A104",), "dense_per_step.py", lambda: b.load("GunPoint"),
      note="nn.Linear(seq_len, ...) on (B, C, L)"),
    S("tcn-per-step-outputs", ("A104",), "tcn_per_step.py", lambda: b.load("ArrowHead"),
      note="Bai et al. TCN, Linear over the channels of every step: (N, L, K)"),
    S("three-sample-receptive-field", ("A201",), "tiny_rf.py", lambda: b.load("ArrowHead"),
      note="one Conv1d(k=3) + global pooling on 251-step outlines"),
    S("five-tap-filter-bank-outlines", ("A201",), "edge_filter_bank.py", lambda: b.load("ArrowHead"),
      note="5-tap filters, 1x1 mixing, mean over time on 251-step outlines"),
    S("convolutions-without-activations", ("A202",), "no_activation.py", lambda: b.load("ArrowHead"),
      note="three convs and two Linears, no ReLU"),
    S("healthy-arrowhead-separable", (), "separable_cnn.py", lambda: b.load("ArrowHead"),
      note="depthwise conv, BatchNorm, pointwise conv: factorised on purpose"),
    S("pool2d-on-1d-features", ("A206",), "pool2d_lazy_head.py", lambda: b.load("OSULeaf"),
      note="AdaptiveAvgPool2d(1) on (B, 64, L), LazyLinear: 1 feature for 6 classes"),
    S("mean-over-filters-and-time", ("A206",), "mean_all_axes.py", lambda: _std("BasicMotions"),
      note="x.mean(dim=(1, 2)) into Linear(1, 4)"),
    S("bigru-default-batch-first", ("A208",), "bigru_default_axes.py", lambda: _std("BasicMotions"),
      note="bidirectional GRU, batch_first=False, fed (B, L, C)"),
    S("batchnorm-with-batch-of-2", ("A203",), "small_batch_bn.py", lambda: b.load("GunPoint"),
      note="BatchNorm everywhere, batch_size = 2"),
    S("dropout-everywhere", ("A204",), "heavy_dropout.py", lambda: b.load("GunPoint"),
      note="Dropout 0.5 on input, 0.7-0.8 after blocks"),
    S("flatten-into-512-dense", ("A205",), "flatten_dense.py", lambda: b.load("GunPoint"),
      note="9.8 M weights for 50 series"),

    # --- T training ----------------------------------------------------------------------------------
    S("train-step-without-zero-grad", ("T102",), "no_zero_grad.py", lambda: b.load("GunPoint"),
      note="train_step never calls zero_grad()"),
    S("train-step-detached-output", ("T102",), "detached_output.py", lambda: b.load("ItalyPowerDemand"),
      note="model(xb).detach().requires_grad_()"),
    S("frozen-backbone-from-scratch", ("T103",), "frozen_conv.py", lambda: b.load("ArrowHead"),
      note="requires_grad = False on the conv body"),
    S("layers-in-python-list", ("T103",), "python_list.py", lambda: b.load("GunPoint"),
      note="self.convs = [nn.Conv1d(...), ...]"),
    S("forward-ignores-input", ("T104",), "stale_input.py", lambda: b.load("GunPoint"),
      note="forward uses a stored example tensor, not x"),
    S("adam-lr-1", ("T201",), "fcn_nobn.py", lambda: b.load("GunPoint"), args=("--lr", "1"),
      note="Adam at lr=1"),
    S("sgd-momentum-lr-0.5", ("T201",), "sgd_momentum.py", lambda: b.load("ArrowHead"), fast=True,
      note="SGD momentum 0.9 at lr=0.5"),
    S("adam-lr-1e-6", ("T202",), "fcn.py", lambda: b.load("ArrowHead"), args=("--lr", "1e-6"),
      note="Adam at lr=1e-6"),
    # --- issue 13: the user's run as their code sets it up ---------------------------------------------
    S("sgd-lr-only-in-factory", ("T201",), "sgd_factory_only.py", lambda: _std("BasicMotions"),
      note="make_optimizer: SGD lr 0.8, momentum, weight decay; no module lr"),
    S("adam-lr-1-only-in-factory", ("T201",), "adam_factory_high_lr.py", lambda: b.load("ArrowHead"),
      note="make_optimizer: Adam lr=1; no module lr"),
    S("adam-partial-lr-1e-6", ("T202",), "adam_partial_tiny_lr.py", lambda: b.load("GunPoint"),
      note="functools.partial(Adam, lr=1e-6)"),
    # --- issue 16: a LightningModule's own training_step, loss and configure_optimizers ----------------
    S("healthy-lightning-fcn-cosine", (), "lightning_fcn.py", lambda: b.load("ArrowHead"),
      note="LightningModule: AdamW + CosineAnnealingLR dict form, self.log in training_step"),
    S("lightning-sgd-lr-only-in-configure-optimizers", ("T201",), "lightning_sgd_high_lr.py",
      lambda: b.load("ItalyPowerDemand"), note="configure_optimizers: SGD lr 1.5, Nesterov, ([opt], [StepLR])"),
    S("lightning-manual-step-without-zero-grad", ("T102",), "lightning_manual_no_zero_grad.py",
      lambda: b.load("GunPoint"), note="automatic_optimization = False; training_step never zero_grads"),
    S("num-classes-default-off-by-one", ("A105",), "default_classes_off_by_one.py", lambda: b.load("OSULeaf"),
      note="Net(num_classes=5) on 6 classes"),
    S("healthy-tuple-logits-first", (), "tuple_logits_first.py", lambda: b.load("GunPoint"),
      note="forward returns (logits, embedding)"),
    S("healthy-tuple-features-first", (), "tuple_features_first.py", lambda: b.load("ArrowHead"),
      note="forward returns (features, logits)"),
    S("healthy-dict-scores", (), "dict_features_then_logits.py", lambda: _std("BasicMotions"),
      note="forward returns {'features', 'scores'}"),
    S("batchnorm-head-last-batch-of-one", ("A207",), "bn_head_batch_of_one.py", lambda: b.load("GunPoint"),
      fast=True, note="50 series, batch 7: the last batch has 1 sample"),
    S("softmax-on-one-output-unit", ("L206",), "softmax_one_output.py", lambda: b.load("ItalyPowerDemand"),
      note="Linear(32, 1) + softmax(dim=1) + BCE"),
    S("log-inside-forward", ("T203",), "log_input.py", lambda: b.load("ItalyPowerDemand"),
      note="torch.log(x + 1) on z-normalised series"),
    S("ten-sigmoid-layers", ("T205",), "deep_sigmoid.py", lambda: b.load("GunPoint"),
      note="10 Conv1d + Sigmoid, no normalisation"),

    # --- Keras 3 models, run through the torch backend -----------------------------------------------
    S("healthy-keras-fcn-basicmotions", (), "keras_fcn.py", lambda: b.to_nlc(_std("BasicMotions")),
      note="Keras FCN, (N, L, C) arrays, sparse categorical CE"),
    S("healthy-keras-ecg-binary", (), "keras_ecg_binary.py", lambda: b.load("GunPoint"),
      note="Dense(1, sigmoid) + binary_crossentropy, 0/1 labels"),
    S("keras-adc-counts-acsf1", ("D102",), "keras_tutorial_cnn.py", lambda: b.adc_counts(b.load("ACSF1")),
      note="the tutorial CNN in Keras on 16-bit ADC counts"),
    S("keras-categorical-ce-on-class-ids", ("L102",), "keras_categorical_ids.py", lambda: b.load("ArrowHead"),
      note="categorical_crossentropy with labels 0..2"),
    S("keras-dense-without-softmax", ("L202",), "keras_no_softmax.py", lambda: b.load("ArrowHead"),
      note="Dense(K) and the default from_logits=False"),
    S("keras-softmax-with-from-logits", ("L202",), "keras_softmax_from_logits.py", lambda: b.load("OSULeaf"),
      note="Dense(K, softmax) and from_logits=True"),
    S("keras-conv-into-dense", ("A104",), "keras_conv_dense.py", lambda: b.load("GunPoint"),
      note="Conv1D → Dense with no Flatten"),
    S("keras-one-sigmoid-on-6-classes", ("L204",), "keras_sigmoid_bce.py", lambda: b.load("OSULeaf"),
      note="Dense(1, sigmoid), binary_crossentropy, labels 0..5"),
]

# Catalogue codes with no scenario of their own, and why: each is a symptom that seeded causes produce.
# The scenarios named in brackets show it among their findings.
NOT_SEEDED: dict[str, str] = {
    "T101": "cannot-overfit-batch follows from any fault that blocks learning: unscaled input, a squashed or "
            "bounded head, a too-high lr, a broken train step (adc-12bit-arrowhead, relu-on-logits, "
            "sgd-momentum-lr-0.5, train-step-detached-output).",
    "T105": "collapsed-predictions follows from unscaled input, a too-low or too-high lr, a squashed head "
            "(adc-counts-acsf1, adam-lr-1e-6, sgd-momentum-lr-0.5, sigmoid-before-bce-with-logits).",
    "T204": "exploding-gradients follows from a too-high lr, unscaled input or NaN produced in the forward pass "
            "(log-inside-forward).",
    "T206": "dead-units follows from a too-high lr or unscaled input (adam-lr-1, adc-counts-acsf1, "
            "pixel-coordinates-osuleaf).",
    "T207": "train-eval-gap follows from BatchNorm trained with tiny batches (batchnorm-with-batch-of-2, seeded "
            "as A203).",
    "T209": "lr-decayed-to-zero judges the lr a user's own run applied (cnndoctor.watch and its callbacks); the "
            "zoo's scenarios are `cnndoctor run` diagnoses, whose probes keep a constant lr (seeded in "
            "tests/test_live.py and tests/test_training_checks.py).",
    "T301": "batchnorm-running-stats judges trained weights (--weights, reinit=False); the zoo's scenarios "
            "start from fresh weights (seeded in tests/test_trained_weights.py).",
}
