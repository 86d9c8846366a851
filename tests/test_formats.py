"""Tests for cnndoctor.load.formats on small files written into tmp_path and two real UCR files."""

from pathlib import Path

import numpy as np
import pytest

from cnndoctor.errors import InputError
from cnndoctor.load.formats import find_split_pair, read_csv, read_ts, read_ucr_tsv

UCR = Path(__file__).parent / "data" / "ucr"

UNIVARIATE_TS = """\
#Toy data in the layout of the UCR archive's GunPoint_TRAIN.ts.
#Data created by nobody in particular.
@problemName Toy
@timeStamps false
@missing false
@univariate true
@equalLength true
@seriesLength 4
@classLabel true 1 2
@data
0.1,0.2,0.3,0.4:1
-1.5,2,3e-1,4.0:2

1,1,1,1:1
"""

MULTIVARIATE_TS = """\
@problemName ToyMotion
@timeStamps false
@missing false
@univariate false
@dimensions 3
@equalLength true
@seriesLength 5
@classLabel true Standing Running
@data
1,2,3,4,5:6,7,8,9,10:11,12,13,14,15:Running
0,0,0,0,0:1,1,1,1,1:2,2,2,2,2:Standing
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def raises_input_error(path: Path, *fragments: str) -> str:
    """Read path with the reader its suffix implies and check the InputError message."""
    reader = read_ts if path.suffix == ".ts" else read_ucr_tsv
    with pytest.raises(InputError) as info:
        reader(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    return message


# --- read_ts -----------------------------------------------------------------------------


def test_read_ts_univariate(tmp_path):
    X, y, meta = read_ts(write(tmp_path, "Toy_TRAIN.ts", UNIVARIATE_TS))
    assert X.dtype == np.float32 and X.shape == (3, 1, 4)
    np.testing.assert_allclose(X[1, 0], [-1.5, 2, 0.3, 4.0], rtol=1e-6)
    assert y.tolist() == ["1", "2", "1"]
    assert y.dtype.kind == "U"
    assert meta["problem_name"] == "Toy"
    assert meta["class_labels"] == ["1", "2"]
    assert meta["univariate"] is True and meta["equal_length"] is True
    assert meta["series_length"] == 4


def test_read_ts_multivariate(tmp_path):
    X, y, meta = read_ts(write(tmp_path, "ToyMotion_TRAIN.ts", MULTIVARIATE_TS))
    assert X.shape == (2, 3, 5) and X.dtype == np.float32
    np.testing.assert_array_equal(X[0, 2], [11, 12, 13, 14, 15])
    assert y.tolist() == ["Running", "Standing"]
    assert meta["univariate"] is False and meta["n_channels"] == 3
    assert meta["class_labels"] == ["Standing", "Running"]


def test_read_ts_missing_values_become_nan(tmp_path):
    text = UNIVARIATE_TS.replace("@missing false", "@missing true").replace("0.1,0.2,0.3", "?,0.2,?")
    X, _, meta = read_ts(write(tmp_path, "Toy.ts", text))
    assert np.isnan(X[0, 0, 0]) and np.isnan(X[0, 0, 2])
    assert X[0, 0, 1] == np.float32(0.2)
    assert meta["missing"] is True


def test_read_ts_timestamped_values(tmp_path):
    text = ("@problemName Stamped\n@timeStamps true\n@univariate true\n@classLabel true a b\n@data\n"
            "(2007-01-01 00:00:00,1.5),(2007-01-01 00:01:00,2.5):a\n"
            "(2007-01-01 00:02:00,3),(2007-01-01 00:03:00,4):b\n")
    X, y, _ = read_ts(write(tmp_path, "Stamped.ts", text))
    np.testing.assert_array_equal(X[:, 0], [[1.5, 2.5], [3, 4]])
    assert y.tolist() == ["a", "b"]


def test_read_ts_without_labels(tmp_path):
    text = "@problemName NoLabels\n@classLabel false\n@data\n1,2,3\n4,5,6\n"
    X, y, meta = read_ts(write(tmp_path, "NoLabels.ts", text))
    assert X.shape == (2, 1, 3) and len(y) == 0 and meta["class_labels"] is None


def test_read_ts_unequal_length_names_lengths_and_case(tmp_path):
    text = UNIVARIATE_TS.replace("1,1,1,1:1", "1,1,1,1,1,1,1:1").replace("-1.5,2,3e-1,4.0", "-1.5,2")
    path = write(tmp_path, "Toy.ts", text)
    message = raises_input_error(path, "from 2 to 7", "case 2 (line 12)", "equal-length", "resample or pad")
    assert "Traceback" not in message


def test_read_ts_unequal_channels_within_a_case(tmp_path):
    text = MULTIVARIATE_TS.replace("6,7,8,9,10", "6,7,8")
    raises_input_error(write(tmp_path, "ToyMotion.ts", text), "from 3 to 5", "channel 2")


@pytest.mark.parametrize(
    "name, text, fragments",
    [
        ("no_data.ts", UNIVARIATE_TS.replace("@data\n", ""), ["line 10", "no @data line"]),
        ("headers_only.ts", UNIVARIATE_TS.split("@data")[0], ["without an @data line"]),
        ("empty.ts", "", ["line 1", "empty"]),
        ("blank.ts", "\n  \n", ["line 1", "empty"]),
        ("no_cases.ts", UNIVARIATE_TS.split("@data")[0] + "@data\n", ["no cases after @data"]),
        ("channels.ts", MULTIVARIATE_TS.replace("6,7,8,9,10:", ""),
         ["line 10", "2 channel(s)", "3 were expected"]),
        ("uni_channels.ts", UNIVARIATE_TS.replace("1,1,1,1:1", "1,1,1,1:2,2,2,2:1"),
         ["line 14", "2 channel(s)"]),
        ("number.ts", UNIVARIATE_TS.replace("0.2", "zero"), ["line 11", "'zero'", "not a number"]),
        ("stray_comma.ts", UNIVARIATE_TS.replace("0.4:1", "0.4,:1"), ["line 11", "not a number"]),
        ("label.ts", UNIVARIATE_TS.replace("4.0:2", "4.0:3"), ["line 12", "'3'", "@classLabel", "1 2"]),
        ("label_only.ts", UNIVARIATE_TS.replace("1,1,1,1:1", "1"), ["line 14", "no values"]),
        ("dimensions.ts", MULTIVARIATE_TS.replace("@dimensions 3", "@dimensions three"), ["@dimensions"]),
        ("junk.ts", "@problemName X\nhello\n@data\n1:1\n", ["line 2", "no @data line"]),
    ],
)
def test_read_ts_malformed(tmp_path, name, text, fragments):
    raises_input_error(write(tmp_path, name, text), *fragments)


def test_read_ts_missing_file_is_input_error(tmp_path):
    with pytest.raises(InputError, match="Cannot read"):
        read_ts(tmp_path / "nope.ts")


# --- read_ucr_tsv ------------------------------------------------------------------------


def test_read_ucr_tsv_gunpoint():
    X, y = read_ucr_tsv(UCR / "GunPoint_TRAIN.tsv")
    assert X.shape == (50, 1, 150) and X.dtype == np.float32
    assert y.dtype == np.int64 and set(y.tolist()) == {1, 2}
    assert not np.isnan(X).any()


def test_read_ucr_tsv_arrowhead_keeps_zero_based_labels():
    X, y = read_ucr_tsv(UCR / "ArrowHead_TRAIN.tsv")
    assert X.shape == (36, 1, 251)
    assert y.dtype == np.int64 and set(y.tolist()) == {0, 1, 2}


@pytest.mark.parametrize(
    "labels, dtype, expected",
    [
        (["-1", "1", "-1"], np.int64, [-1, 1, -1]),
        (["1.0000000e+00", "2.0000000e+00", "1.0000000e+00"], np.int64, [1, 2, 1]),
        (["0.5", "1.5", "0.5"], np.float64, [0.5, 1.5, 0.5]),
        (["cat", "dog", "cat"], np.str_, ["cat", "dog", "cat"]),
    ],
)
def test_read_ucr_tsv_label_types_are_kept(tmp_path, labels, dtype, expected):
    text = "".join(f"{lab}\t{i}\t{i + 1}\t{i + 2}\n" for i, lab in enumerate(labels))
    X, y = read_ucr_tsv(write(tmp_path, "T_TRAIN.tsv", text))
    assert X.shape == (3, 1, 3)
    assert y.dtype.type == dtype and y.tolist() == expected


def test_read_ucr_csv_and_whitespace_autodetect(tmp_path):
    rows = ["2,1.0,2.0,3.0", "1,4.0,5.0,6.0"]
    X, y = read_ucr_tsv(write(tmp_path, "T_TRAIN.csv", "\n".join(rows) + "\n"))
    np.testing.assert_array_equal(X[:, 0], [[1, 2, 3], [4, 5, 6]])
    assert y.tolist() == [2, 1]
    X2, y2 = read_ucr_tsv(write(tmp_path, "T_TRAIN.txt", "  2  1.0  2.0  3.0\n  1  4.0  5.0  6.0\n"))
    np.testing.assert_array_equal(X2, X)
    assert y2.tolist() == [2, 1]


def test_read_ucr_tsv_trailing_nan_padding_equal_after_strip(tmp_path):
    # Padding may be written as NaN or as trailing empty cells; both mean "no value here".
    text = "1\t1\t2\tNaN\n2\t3\t4\t\n"
    with pytest.raises(InputError, match="from 2 to 3"):
        read_ucr_tsv(write(tmp_path, "Pad_TRAIN.tsv", text.replace("\t\n", "\t5\n")))
    X, _ = read_ucr_tsv(write(tmp_path, "Pad2_TRAIN.tsv", text))
    assert X.shape == (2, 1, 2)


def test_read_ucr_tsv_variable_length_padded_with_nan(tmp_path):
    text = "1\t1\t2\t3\t4\n2\t5\t6\tNaN\tNaN\n1\t7\t8\t9\tNaN\n"
    raises_input_error(write(tmp_path, "Var_TRAIN.tsv", text), "from 2 to 4", "case 2 (line 2)", "padding")


def test_read_ucr_tsv_ragged(tmp_path):
    raises_input_error(write(tmp_path, "Rag_TRAIN.tsv", "1\t1\t2\t3\n2\t4\t5\n"), "from 2 to 3", "line 2")


@pytest.mark.parametrize(
    "name, text, fragments",
    [
        ("empty.tsv", "", ["line 1", "empty"]),
        ("number.tsv", "1\t1\t2\n2\t3\tfour\n", ["line 2", "'four'"]),
        ("labels_only.tsv", "1\n2\n", ["no values"]),
    ],
)
def test_read_ucr_tsv_malformed(tmp_path, name, text, fragments):
    raises_input_error(write(tmp_path, name, text), *fragments)


# --- read_csv ----------------------------------------------------------------------------


def test_read_csv_label_last_without_header(tmp_path):
    X, y = read_csv(write(tmp_path, "s.csv", "1,2,3,a\n4,5,6,b\n"))
    assert X.shape == (2, 1, 3) and X.dtype == np.float32
    assert y.tolist() == ["a", "b"]


def test_read_csv_header_and_named_label(tmp_path):
    text = "label,t0,t1,t2\n1,0.5,0.6,0.7\n2,1.5,,1.7\n"
    X, y = read_csv(write(tmp_path, "s.csv", text), label_column="label")
    assert X.shape == (2, 1, 3)
    assert np.isnan(X[1, 0, 1])
    assert y.dtype == np.int64 and y.tolist() == [1, 2]
    X0, y0 = read_csv(tmp_path / "s.csv", label_column=0)  # header auto-detected
    np.testing.assert_array_equal(X0, X)
    np.testing.assert_array_equal(y0, y)


def test_read_csv_errors(tmp_path):
    path = write(tmp_path, "s.csv", "y,t0,t1\na,1,2\nb,3,4,5\n")
    with pytest.raises(InputError, match="no column named 'class'"):
        read_csv(path, label_column="class")
    with pytest.raises(InputError, match="from 2 to 3"):
        read_csv(path, label_column="y")
    with pytest.raises(InputError, match="without a header row"):
        read_csv(path, label_column="y", header=False)
    with pytest.raises(InputError, match="line 1"):
        read_csv(write(tmp_path, "empty.csv", ""))


# --- find_split_pair ---------------------------------------------------------------------


@pytest.fixture
def archive(tmp_path):
    folder = tmp_path / "GunPoint"
    folder.mkdir()
    for name in ["GunPoint_TRAIN.ts", "GunPoint_TEST.ts", "GunPoint_TRAIN.tsv", "GunPoint_TRAIN.arff"]:
        (folder / name).write_text("x")
    return folder


def test_find_split_pair_folder_prefix_and_file(archive):
    expected = (archive / "GunPoint_TRAIN.ts", archive / "GunPoint_TEST.ts")
    assert find_split_pair(archive) == expected
    assert find_split_pair(str(archive / "GunPoint")) == expected
    assert find_split_pair(archive / "GunPoint_TEST.ts") == expected
    # The .tsv has no TEST partner and an explicit file keeps its own extension.
    assert find_split_pair(archive / "GunPoint_TRAIN.tsv") is None


def test_find_split_pair_case_insensitive_and_csv(tmp_path):
    (tmp_path / "Toy_train.csv").write_text("x")
    (tmp_path / "toy_Test.CSV").write_text("x")
    assert find_split_pair(tmp_path / "Toy") == (tmp_path / "Toy_train.csv", tmp_path / "toy_Test.CSV")


def test_find_split_pair_none(tmp_path):
    assert find_split_pair(tmp_path) is None
    assert find_split_pair(tmp_path / "Missing" / "Missing") is None
    assert find_split_pair(tmp_path / "notes.txt") is None


def test_real_ucr_files_read_back_through_find_split_pair(tmp_path):
    # Pair a real TRAIN file with itself as TEST to exercise the path end to end.
    for split in ("TRAIN", "TEST"):
        (tmp_path / f"GunPoint_{split}.tsv").write_bytes((UCR / "GunPoint_TRAIN.tsv").read_bytes())
    train, test = find_split_pair(tmp_path / "GunPoint_TRAIN.tsv")
    assert read_ucr_tsv(train)[0].shape == read_ucr_tsv(test)[0].shape == (50, 1, 150)
