"""The causes table (diagnosis/causes.py): one row per registered code, and every edge it names is real."""

from cnndoctor.diagnosis import order
from cnndoctor.diagnosis.causes import CAUSES, RANKS, explained_by, family_rank, row_for
from cnndoctor.diagnosis.fixes import FIXERS
from cnndoctor.registry import all_checks


def _registered():
    return {spec.code for spec in all_checks()}


def test_the_table_has_a_row_for_exactly_the_registered_codes():
    registered = _registered()
    assert set(CAUSES) - registered == set(), "rows for codes no check registers"
    assert registered - set(CAUSES) == set(), "registered codes without a row in diagnosis/causes.py"


def test_every_code_a_row_explains_is_a_registered_code():
    registered = _registered()
    for code, row in CAUSES.items():
        named = set(row.explains) | {w.symptom for w in row.explains_where}
        assert named <= registered, (code, named - registered)
        assert code not in named, f"{code} explains itself"


def test_every_symptom_is_explained_by_some_cause():
    # A symptom no present cause explains still heads its own story; the table must name at least one cause
    # that explains it, so a symptom is never only its own story by construction.
    causes = {code for code, row in CAUSES.items() if row.role == "cause"}
    for code, row in CAUSES.items():
        if row.role == "symptom":
            assert any(c in causes for c, _ in explained_by(code)), f"{code} is explained by no cause"
            assert row.rank == max(RANKS), code


def test_verifiable_is_exactly_having_a_registered_fixer():
    verifiable = {code for code, row in CAUSES.items() if row.verifiable}
    assert verifiable == set(FIXERS)
    assert all(CAUSES[code].role == "cause" for code in verifiable)


def test_the_old_names_are_views_of_the_table():
    assert order.SYMPTOMS == {code for code, row in CAUSES.items() if row.role == "symptom"}
    assert order.EXPLAINS["D102"] == CAUSES["D102"].explains
    assert order.LEAKAGE == {"D201", "D202", "D204"} and order.CRASHES == {"A207"}
    assert [order.causal_rank(c) for c in ("A101", "L201", "D101", "D102", "L105", "A201", "T201", "T101")] == \
        [0, 1, 2, 3, 3, 4, 5, 6]


def test_a_code_outside_the_table_gets_its_familys_rank():
    assert [family_rank(c) for c in ("L299", "D399", "D199", "A299", "T299")] == [1, 2, 3, 4, 5]
    row = row_for("D199")
    assert row.role == "cause" and row.precedence == 0 and not row.explains and not row.verifiable
