"""Checks on the order the user's own training loop feeds the data: the class composition of its batches."""

from __future__ import annotations

from cnndoctor.findings import Finding, Severity
from cnndoctor.registry import check

__all__ = ["class_ordered_batches"]

_SHOWN_BATCHES = 12


@check("D205", "class-ordered-batches", "warning")
def class_ordered_batches(loader_batch_purity, *, min_excess: float = 0.5, min_z: float = 4.0):
    """## What it does
    Reads the first batches (up to 50, at most 5,000 samples) that the training `DataLoader` you
    passed to `cnndoctor.diagnose` yields, in its own order — the indices its sampler or
    `batch_sampler` gives, and the labels of those indices only — and measures each batch's class
    purity: the share of its most common class. It compares the mean purity with what batches of
    the same sizes drawn at random under the same class frequencies (a shuffled loader) give,
    estimated from 4,000 random batches per size (an epoch's incomplete last batch is left out: its
    few left-over samples say little about the order). It reports when the batches are at least halfway
    from shuffled to single-class (`min_excess` 0.5) and the difference is at least `min_z` (4)
    standard errors of a mean over that many shuffled batches. The check needs your own
    `DataLoader`, or on the command line a model file that sets `shuffle = False`: your loop then
    reads the stored rows in order, and the check judges the batches `DataLoader(..., shuffle=False)`
    gives at the model file's `batch_size` and `drop_last` (over all your stored rows, also when
    cnndoctor splits off a test set itself). With arrays, a data file or a bare `Dataset` otherwise,
    cnndoctor's loops shuffle the data themselves, and the check is skipped with that reason. An
    `IterableDataset` (no sampler to read) is skipped too.

    ## Why is this bad?
    A class-sorted file read with `shuffle=False` (the default) gives batches of one class: each
    step pulls the model towards predicting that class, the next run of batches pulls it to the
    next one, and the loss and accuracy oscillate from epoch to epoch while the model ends on
    whatever class came last. With every batch a single class, BatchNorm's batch statistics are
    also those of one class, so the statistics in eval mode match none of them. Shuffled batches
    hold the class mix of the whole set, so their purity is close to the largest class's share;
    batches that are most of the way to single-class are an ordering, not chance. When every
    inspected batch holds one class, or only the end of one class's run and the start of the next
    (the loader walks through the classes one after another), the finding is an error.
    cnndoctor's training probes replay your loader's batches in its order (the settings block's
    `batches` row says so), so the probe's accuracy, collapsed predictions and unstable loss are
    those your loop suffers; the fix is verified by re-running the probe on shuffled batches.

    ## Example
    `DataLoader(TensorDataset(X, y), batch_size=32)` over a UCR file sorted by class (the default
    `shuffle=False`), or a `SequentialSampler` passed explicitly.

    ## Fix
    Shuffle the training loader: `DataLoader(..., shuffle=True)` (or a `RandomSampler`); keep the
    test loader unshuffled. A custom `batch_sampler` should draw its batches across classes.
    """
    purity, loader = loader_batch_purity.purity, loader_batch_purity.loader
    if purity.n_batches < 2:
        return  # one batch says nothing about an order
    if purity.excess < min_excess or purity.z < min_z:
        return
    every = purity.run_fraction == 1.0  # the classes come one after another, each over several batches
    severity = Severity.ERROR if every else Severity.WARNING
    batches = f"{purity.single_class_fraction:.0%} of the {purity.n_batches} batches inspected hold a single class"
    if every and purity.single_class_fraction < 1.0:
        batches += " and the others only the end of one class's run and the start of the next"
    elif every:
        batches = f"all {purity.n_batches} batches inspected hold a single class"
    how = (f"a custom batch_sampler ({loader.sampler})" if loader.custom_batch_sampler else
           f"a {loader.sampler}" + (" (shuffle=False)" if loader.sampler == "SequentialSampler" else ""))
    message = (f"The training DataLoader yields class-ordered batches: {batches}, with a mean class purity of "
               f"{purity.mean_purity:.0%} where shuffled batches of the same size would give "
               f"{purity.expected_purity:.0%}. It reads the data with {how}, so training sees one class after "
               f"another and the loss oscillates; "
               + ("cnndoctor's training probe replays this order, so its numbers show what it costs."
                  if loader_batch_purity.probes_follow else
                  "cnndoctor's probes could not follow this order and shuffle, so they do not show it."))
    evidence = {"batches_inspected": purity.n_batches, "mean_purity": purity.mean_purity,
                "expected_purity_if_shuffled": purity.expected_purity,
                "expected_purity_standard_error": purity.expected_se, "z": purity.z, "excess": purity.excess,
                "single_class_fraction": purity.single_class_fraction, "class_run_fraction": purity.run_fraction,
                "expected_single_class_fraction_if_shuffled": purity.expected_single_class_fraction,
                "classes_in_inspected_batches": purity.classes_seen, "classes": purity.n_classes,
                "batch_purity": [round(p, 4) for p in purity.purity[:_SHOWN_BATCHES]],
                "sampler": loader.sampler, "custom_batch_sampler": loader.custom_batch_sampler,
                "batch_size": loader.batch_size, "drop_last": loader.drop_last,
                "batches_per_epoch": loader.batches_per_epoch,
                "partial_last_batch_left_out": purity.partial_last_left_out,
                "probe_follows_loader_order": loader_batch_purity.probes_follow,
                "min_excess": min_excess, "min_z": min_z}
    if loader.custom_batch_sampler:
        fix = ("Make the batch_sampler draw each batch across classes (shuffle its indices every epoch), or pass "
               "shuffle=True with batch_size= instead of a batch_sampler.")
        snippet = "train_loader = DataLoader(train_set, batch_size=32, shuffle=True, drop_last=False)"
    else:
        fix = "Shuffle the training DataLoader: DataLoader(..., shuffle=True); keep the test loader unshuffled."
        size = loader.batch_size or 32
        snippet = (f"train_loader = DataLoader(train_set, batch_size={size}, shuffle=True"
                   f"{', drop_last=True' if loader.drop_last else ''})\n"
                   f"test_loader = DataLoader(test_set, batch_size={size}, shuffle=False)")
    yield Finding(message=message, evidence=evidence, fix=fix, snippet=snippet, severity=severity)
