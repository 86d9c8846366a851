"""The registry contract: code format, duplicates, selection, docs, and a test pair per check."""

import pytest

from cnndoctor import Finding, check
from cnndoctor.errors import InputError
from cnndoctor.registry import DOC_SECTIONS, all_checks, get_check, make_spec, select_checks
from tests.conftest import marked_code_files, marked_codes


def test_codes_must_follow_the_format():
    for bad in ("X101", "D12", "d101", "D0011", "DATA001"):
        with pytest.raises(ValueError):
            check(bad, "some-name", "error")(lambda: None)


def test_names_must_be_kebab_case():
    with pytest.raises(ValueError):
        check("D999", "Not Kebab", "error")(lambda: None)


def test_duplicate_codes_and_names_are_rejected():
    with pytest.raises(ValueError, match="already registered"):
        @check("D101", "another-name", "error")
        def impostor(data):
            """doc"""
    with pytest.raises(ValueError, match="already used"):
        @check("D998", "non-finite-values", "error")
        def impostor2(data):
            """doc"""


def test_parameters_split_into_facts_and_thresholds():
    def sample(input_stats, labels, *, max_rms=10.0):
        return []

    spec = make_spec(sample, "D997", "sample-check", "warning")
    assert spec.facts == ("input_stats", "labels") and spec.thresholds == {"max_rms": 10.0}
    assert spec.stage == "data"

    def no_default(input_stats, *, limit):
        return []

    with pytest.raises(ValueError, match="needs a default"):
        make_spec(no_default, "D996", "sample-two", "warning")


def test_select_and_ignore_by_code_prefix_and_name():
    assert [s.code for s in select_checks(["D101"])] == ["D101"]
    assert {s.code for s in select_checks(["D"])} == {s.code for s in all_checks() if s.code.startswith("D")}
    assert [s.code for s in select_checks(["unscaled-input"])] == ["D102"]
    assert "D102" not in {s.code for s in select_checks(None, ["D102"])}
    assert [s.code for s in select_checks(["D101,D102"], ["non-finite-values"])] == ["D102"]
    with pytest.raises(InputError, match="matches no check"):
        select_checks(["Z9"])


def test_run_order_is_data_labels_architecture_probes():
    stages = [s.stage for s in all_checks()]
    order = ["data", "labels", "architecture", "probes"]
    assert stages == sorted(stages, key=order.index)


def test_get_check_by_code_or_name():
    assert get_check("d102").name == "unscaled-input"
    assert get_check("unscaled-input").code == "D102"
    with pytest.raises(InputError):
        get_check("nope")


@pytest.mark.parametrize("spec", all_checks(), ids=lambda s: s.code)
def test_every_check_has_the_doc_sections(spec):
    sections = spec.sections()
    for title in DOC_SECTIONS:
        assert sections.get(title), f"{spec.code} lacks a non-empty '## {title}' section"


def test_every_check_has_a_firing_and_a_silent_test():
    registered = {s.code for s in all_checks()}
    assert registered - marked_codes("fires") == set(), "checks without a firing test"
    assert registered - marked_codes("silent") == set(), "checks without a silent test"


# the family test file of each code prefix; L205 is judged on the training probe, so it lives with the T checks
FAMILY_FILES = {"D1": "test_data_checks.py", "D2": "test_leakage_checks.py", "D3": "test_layout_checks.py",
                "L1": "test_label_checks.py", "L2": "test_head_checks.py", "A": "test_architecture.py",
                "T": "test_training_checks.py", "T3": "test_trained_weights.py"}
FAMILY_EXCEPTIONS = {"L205": "test_training_checks.py"}
FRAMEWORK_TWINS = {"test_keras.py"}  # a check's Keras variants may sit with the other Keras tests


def family_file(code: str) -> str:
    if code in FAMILY_EXCEPTIONS:
        return FAMILY_EXCEPTIONS[code]
    return FAMILY_FILES.get(code[:2]) or FAMILY_FILES[code[0]]


def test_family_file_maps_every_prefix():
    assert family_file("D102") == "test_data_checks.py" and family_file("D201") == "test_leakage_checks.py"
    assert family_file("L205") == "test_training_checks.py" and family_file("L206") == "test_head_checks.py"
    assert family_file("A207") == "test_architecture.py" and family_file("T201") == "test_training_checks.py"
    assert family_file("T301") == "test_trained_weights.py"  # the checks only trained weights (--weights) reach


@pytest.mark.parametrize("kind", ["fires", "silent"])
def test_every_checks_firing_and_silent_tests_live_in_its_family_file(kind):
    misplaced = {code: sorted(files - {family_file(code)} - FRAMEWORK_TWINS)
                 for code, files in sorted(marked_code_files(kind).items())}
    misplaced = {code: files for code, files in misplaced.items() if files}
    assert misplaced == {}, f"{kind} tests outside their family file ({{code: files}}): {misplaced}"


def test_finding_code_and_severity_come_from_the_registration():
    f = Finding(message="m", evidence={"x": 1}, fix="do")
    assert f.code == "" and f.severity is None
