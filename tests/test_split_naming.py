"""The test split's name in the report: the user's own ("test", "val"), or "held-out (20% of X)" when cnndoctor
split X, y itself — never the internal "split" ("160 train / 40 split", "the split split", ``X_split``)."""

import json
import re

import numpy as np
import pytest

from cnndoctor.load.data import data_from_arrays
from tests.fixtures.data import gunpoint
from tests.fixtures.models import TinyCNN

# what the internal name looked like in prose, snippets and evidence before the held-out split had a name
LEAKS = [r"\bsplit split\b", r"\b(X|y|groups)_split\b", r"\d+ split\b", r"\bsplit (samples|accuracy|windows)\b",
         r"\bsplit_(index|window|windows|groups|fraction)", r"\d+ test\b", r"\btest:\d"]


def _leaks(text: str) -> list[str]:
    return [m.group(0) for pattern in LEAKS for m in re.finditer(pattern, text)]


def test_the_split_cnndoctor_makes_is_named_held_out_with_its_share_of_x():
    X_train, y_train, X_test, y_test = gunpoint()
    X, y = np.concatenate([X_train, X_test]), np.concatenate([y_train, y_test])
    held = data_from_arrays(X, y).held_out
    assert (held.noun, held.split, held.title, held.var) == (
        "held-out", "held-out split (20% of X)", "held-out (20% of X)", "heldout")
    given = data_from_arrays(X_train, y_train, X_test, y_test).held_out
    assert (given.noun, given.split, given.title, given.var) == ("test", "test split", "test", "test")
    assert data_from_arrays(X_train, y_train, X_test, y_test, test_name="val").held_out.split == "val split"
    assert "(160 train, 40 held out)" in data_from_arrays(X, y).notes[0]


def _faulty_x_and_y():
    """GunPoint as one X, y: raw counts on channel 0 (D102) at two gains by recording (D106), a dead channel 1
    (D104), 30 duplicated rows (D201), NaNs (D101) and recording ids shared by both splits (D204)."""
    X_train, y_train, X_test, y_test = gunpoint()
    X, y = np.concatenate([X_train, X_test]), np.concatenate([y_train, y_test])
    rng = np.random.default_rng(0)
    groups = np.arange(len(X)) % 10
    gain = np.where(groups < 5, 1.0, 200.0)[:, None]
    X = np.stack([X * 400 * gain + 2048, np.full_like(X, 5.0)], axis=1).astype(np.float32)
    dup = rng.choice(len(X), 30, replace=False)
    X, y, groups = np.concatenate([X, X[dup]]), np.concatenate([y, y[dup]]), np.concatenate([groups, groups[dup]])
    X[rng.choice(len(X), 12, replace=False), 0, 7] = np.nan
    return X, y, groups


@pytest.mark.slow
def test_a_diagnosis_of_x_and_y_alone_names_the_held_out_split_everywhere(run):
    X, y, groups = _faulty_x_and_y()
    report = run(lambda: TinyCNN(2, 2), (X, y), groups=(groups, None), budget="quick")
    found = {f.code for f in report.findings}
    assert {"D101", "D102", "D104", "D106", "D201", "D204"} <= found  # the messages that name the split
    doc = json.loads(report.to_json())
    assert doc["subject"]["test_name"] == "held-out" and doc["subject"]["test_label"] == "held-out (20% of X)"
    texts = {"text at 100": report.to_text(width=100, color=False), "text at 80": report.to_text(width=80, color=False),
             "markdown": report.to_markdown(), "html": report.to_html(), "json": report.to_json()}
    for name, text in texts.items():
        assert _leaks(text) == [], name
    assert "184 train / 46 held-out (20% of X)" in " ".join(texts["text at 100"].split())
    d102 = next(f for f in report.findings if f.code == "D102")
    assert "the held-out split (20% of X) included" in d102.fix
    d101 = [f for f in report.findings if f.code == "D101"]
    assert {f.evidence["split"] for f in d101} == {"train", "held-out"}

    # every snippet that names the held-out split pastes and runs where the user's arrays have those names
    rng = np.random.default_rng(1)
    arrays = {"X_train": rng.normal(size=(12, 2, 150)), "X_heldout": rng.normal(size=(6, 2, 150)),
              "y_train": rng.integers(0, 2, 12), "y_heldout": rng.integers(0, 2, 6),
              "groups_train": np.arange(12) % 3, "groups_heldout": np.arange(6) % 3}
    ran = []
    for f in report.findings:
        if f.snippet and ("heldout" in f.snippet or "fit_preprocess" in f.snippet):
            scope = {"np": np, **{k: v.copy() for k, v in arrays.items()}}
            exec(compile(f.snippet, f"<{f.code} snippet>", "exec"), scope)
            ran.append(f.code)
            assert all(scope[k].shape[0] == arrays[k].shape[0] for k in ("X_heldout", "y_heldout"))
    assert {"D101", "D102", "D104", "D106"} <= set(ran)
