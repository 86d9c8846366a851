"""The bug zoo's fast subset as regression tests: the real CLI must name the seeded cause.

The full zoo (``python -m benchmarks.zoo``) runs on demand; here only the scenarios marked
``fast=True`` run, at ``--budget quick``, plus cheap checks that every scenario is well formed.
"""

import numpy as np
import pytest

from benchmarks.zoo.runner import run_scenario
from benchmarks.zoo.scenarios import MODELS, NOT_SEEDED, SCENARIOS

FAST = [s for s in SCENARIOS if s.fast]


@pytest.mark.parametrize("scenario", FAST, ids=lambda s: s.name)
@pytest.mark.slow
def test_zoo_scenario(scenario):
    outcome = run_scenario(scenario, budget="quick")
    assert outcome.exit_code in (0, 1), outcome.stderr
    if scenario.healthy:
        assert outcome.errors == [] and outcome.exit_code == 0, outcome.codes
    else:
        assert outcome.primary in scenario.expected, (outcome.primary, outcome.codes)
        assert outcome.exit_code == 1  # every seeded primary cause here is an error-level fault


def test_fast_subset_is_representative():
    healthy = [s for s in FAST if s.healthy]
    stages = {s.expected[0][0] for s in FAST if not s.healthy}
    assert len(healthy) >= 2 and stages == {"D", "L", "A", "T"}


def test_scenarios_are_well_formed():
    from cnndoctor.registry import all_checks

    catalogue = {spec.code for spec in all_checks()}
    names = [s.name for s in SCENARIOS]
    assert len(names) == len(set(names))
    for s in SCENARIOS:
        assert (MODELS / s.model.partition(":")[0]).is_file(), s.name
        assert set(s.expected) <= catalogue, (s.name, s.expected)
    assert sum(s.healthy for s in SCENARIOS) >= 5
    seeded = {code for s in SCENARIOS for code in s.expected}
    assert seeded | set(NOT_SEEDED) == catalogue, sorted(catalogue - seeded - set(NOT_SEEDED))
    assert not seeded & set(NOT_SEEDED)


def test_every_scenario_builds_deterministically():
    for s in SCENARIOS:
        a, b = s.data(), s.data()
        assert a.keys() == b.keys()
        for k in a:
            assert np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f"), (s.name, k)


def test_gate_consequences_follow_the_fault():
    from benchmarks.zoo.runner import Outcome

    by_name = {s.name: s for s in SCENARIOS}
    assert by_name["activity-windows-random-split"].consequence == "leak"
    assert by_name["flatten-head-wrong-in-features"].consequence == "crash"
    assert by_name["batchnorm-head-last-batch-of-one"].consequence == "crash"
    assert by_name["healthy-gunpoint-fcn"].consequence == ""
    # "chance" is measured: the training probe's balanced accuracy at the user's settings
    probe = {"balanced_accuracy": 0.5, "n_classes": 2, "n_per_class": {"0": 76, "1": 74}}
    adc = by_name["adc-counts-acsf1"]
    at_chance = Outcome(adc, 0, "D102", [], [], 1.0, report={"diagnosis": {"probe": probe}})
    assert at_chance.consequence == "chance" and at_chance.gate_ok is False
    learned = Outcome(adc, 1, "D102", [], [], 1.0,
                      report={"diagnosis": {"probe": {**probe, "balanced_accuracy": 0.9}}})
    assert learned.consequence == "" and learned.gate_ok is None
