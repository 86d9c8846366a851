"""Wider inputs: torch Datasets and DataLoaders in the API, UCR/UEA .tsv/.ts/.csv files on the command
line (pairs found from a folder, a prefix or either file), and their malformed variants."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

import cnndoctor
from cnndoctor.cli import main
from cnndoctor.errors import InputError
from cnndoctor.load.torch_data import arrays_from_torch
from tests.conftest import codes
from tests.fixtures.data import gunpoint, ucr
from tests.fixtures.models import TINY_MODEL_FILE, TinyCNN

UCR_DIR = Path(__file__).parent / "data" / "ucr"
MODEL = TINY_MODEL_FILE
CHECKS = ["--select", "D101,D102,L101,L201,A101", "--isolated", "-q"]


def write_ucr(path: Path, X: np.ndarray, y) -> Path:
    """The UCR 2018 layout: label, then the values, tab-separated, one series per line."""
    path.write_text("".join("\t".join([str(label)] + [f"{v:.7g}" for v in row]) + "\n" for label, row in zip(y, X)))
    return path


def write_ts(path: Path, X: np.ndarray, y, name: str) -> Path:
    """The sktime/aeon layout: a header, then channels separated by ':' and the label last."""
    X = X if X.ndim == 3 else X[:, None, :]
    labels = " ".join(sorted({str(v) for v in y}))
    head = (f"#Written by the cnndoctor tests from the UCR/UEA {name} data.\n@problemName {name}\n"
            f"@timeStamps false\n@missing false\n@univariate {'true' if X.shape[1] == 1 else 'false'}\n"
            f"@dimensions {X.shape[1]}\n@equalLength true\n@seriesLength {X.shape[2]}\n"
            f"@classLabel true {labels}\n@data\n")
    rows = (":".join(",".join(f"{v:.7g}" for v in ch) for ch in case) + f":{label}" for case, label in zip(X, y))
    path.write_text(head + "\n".join(rows) + "\n")
    return path


@pytest.fixture
def gunpoint_dir(tmp_path) -> Path:
    """GunPoint as the UCR archive ships it: the real TRAIN file, and TEST with the archive's labels 1/2."""
    folder = tmp_path / "GunPoint"
    folder.mkdir()
    shutil.copy(UCR_DIR / "GunPoint_TRAIN.tsv", folder / "GunPoint_TRAIN.tsv")
    _, _, X_test, y_test = gunpoint(zero_based=False)
    write_ucr(folder / "GunPoint_TEST.tsv", X_test, y_test)
    return folder


@pytest.fixture
def model_py(tmp_path) -> str:
    path = tmp_path / "model.py"
    path.write_text(MODEL)
    return str(path)


def run_json(capsys, model, data, *args):
    code = main(["run", model, str(data), "--format", "json", *CHECKS, *args])
    out = capsys.readouterr()
    return code, (json.loads(out.out) if out.out else None), out.err


# --- UCR / UEA files on the command line -------------------------------------------------------


def test_ucr_tsv_pair_from_folder_prefix_or_file_and_1_based_labels_reach_L101(gunpoint_dir, model_py, capsys):
    docs = []
    for data in (gunpoint_dir, gunpoint_dir / "GunPoint", gunpoint_dir / "GunPoint_TEST.tsv"):
        code, doc, _ = run_json(capsys, model_py, data)
        assert code == 1
        docs.append(doc)
    doc = docs[0]
    assert (doc["subject"]["n_train"], doc["subject"]["n_test"], doc["subject"]["length"]) == (50, 150, 150)
    assert doc["subject"]["data"].endswith("GunPoint_TRAIN.tsv + GunPoint_TEST.tsv")
    assert doc["subject"]["label_kind"] == "integer"
    assert doc["diagnosis"]["primary"] == "L101"
    finding = doc["findings"][0]
    assert finding["message"].startswith("Labels run 1..2 (1-based)")
    assert (finding["evidence"]["min_label"], finding["evidence"]["max_label"]) == (1, 2)
    assert all(d["findings"] == doc["findings"] for d in docs)


def test_minus_one_plus_one_labels_are_kept_and_reported(tmp_path, model_py, capsys):
    X, y, Xt, yt = gunpoint(zero_based=False)
    write_ucr(tmp_path / "GP_TRAIN.tsv", X, np.where(y == 1, -1, 1))
    write_ucr(tmp_path / "GP_TEST.tsv", Xt, np.where(yt == 1, -1, 1))
    code, doc, _ = run_json(capsys, model_py, tmp_path / "GP")
    assert code == 1 and doc["findings"][0]["code"] == "L101"
    assert doc["findings"][0]["message"].startswith("Labels are -1/+1")


def test_ts_pair_multivariate_with_string_labels(tmp_path, model_py, capsys):
    X, y, Xt, yt = ucr("BasicMotions", zero_based=False)
    write_ts(tmp_path / "BasicMotions_TRAIN.ts", X, y, "BasicMotions")
    write_ts(tmp_path / "BasicMotions_TEST.ts", Xt, yt, "BasicMotions")
    code, doc, _ = run_json(capsys, model_py, tmp_path / "BasicMotions_TRAIN.ts", "--select", "L101,L201,A101")
    s = doc["subject"]
    assert (s["n_train"], s["n_test"], s["channels"], s["length"], s["classes"]) == (40, 40, 6, 100, 4)
    assert s["label_kind"] == "string" and "L101" not in [f["code"] for f in doc["findings"]]
    assert code == 0


def test_ts_numeric_labels_stay_numbers_as_written(tmp_path, model_py, capsys):
    X, y, Xt, yt = gunpoint(zero_based=False)
    write_ts(tmp_path / "GunPoint_TRAIN.ts", X, y, "GunPoint")
    write_ts(tmp_path / "GunPoint_TEST.ts", Xt, yt, "GunPoint")
    code, doc, _ = run_json(capsys, model_py, tmp_path / "GunPoint")
    assert code == 1 and doc["subject"]["label_kind"] == "integer" and doc["diagnosis"]["primary"] == "L101"


def test_csv_label_column_by_header_name_index_or_first(tmp_path, model_py, capsys):
    X, y, Xt, yt = gunpoint()
    header = ",".join([f"t{i}" for i in range(X.shape[1])] + ["label"])
    for split, (A, b) in {"TRAIN": (X, y), "TEST": (Xt, yt)}.items():
        rows = [",".join([f"{v:.7g}" for v in row] + [str(lab)]) for row, lab in zip(A, b)]
        (tmp_path / f"Named_{split}.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
        (tmp_path / f"Last_{split}.csv").write_text("\n".join(rows) + "\n")
    code, doc, _ = run_json(capsys, model_py, tmp_path / "Named")
    assert code == 0 and (doc["subject"]["n_train"], doc["subject"]["length"]) == (50, 150)
    # No header: the first column is taken as the label (UCR layout); here it holds values, so say so.
    code, _, err = run_json(capsys, model_py, tmp_path / "Last")
    assert code == 2 and "first column holds non-integer values" in err and "--label-column -1" in err
    code, doc, _ = run_json(capsys, model_py, tmp_path / "Last", "--label-column", "-1")
    assert code == 0 and doc["subject"]["n_test"] == 150


def test_single_file_without_its_pair_is_split_and_the_report_says_so(tmp_path, model_py, capsys):
    shutil.copy(UCR_DIR / "ArrowHead_TRAIN.tsv", tmp_path / "ArrowHead_TRAIN.tsv")
    code, doc, _ = run_json(capsys, model_py, tmp_path / "ArrowHead_TRAIN.tsv")
    assert doc["subject"]["test_name"] == "held-out" and doc["subject"]["n_train"] + doc["subject"]["n_test"] == 36
    assert any("no matching ArrowHead_TEST file" in n for n in doc["notes"])
    assert any("80/20" in n for n in doc["notes"])
    assert code == 0  # ArrowHead's labels are 0, 1, 2 already


def _pair(folder: Path, train: str, test: str, name="Bad", ext="tsv"):
    (folder / f"{name}_TRAIN.{ext}").write_text(train)
    (folder / f"{name}_TEST.{ext}").write_text(test)
    return folder / name


GOOD_ROWS = "1\t0.1\t0.2\t0.3\t0.4\n2\t0.5\t0.6\t0.7\t0.8\n1\t0.0\t0.1\t0.0\t0.1\n2\t0.9\t0.8\t0.7\t0.6\n"
TEXT_LABEL_ROWS = re.sub(r"^1\t", "walk\t", re.sub(r"^2\t", "run\t", GOOD_ROWS, flags=re.MULTILINE), flags=re.MULTILINE)


@pytest.mark.parametrize("make, fragments", [
    (lambda d: _pair(d, GOOD_ROWS + "1\t0.1\t0.2\tNaN\tNaN\n", GOOD_ROWS),
     ["Bad_TRAIN.tsv holds series of unequal length", "from 2 to 4", "resample or pad"]),
    (lambda d: _pair(d, GOOD_ROWS, GOOD_ROWS.replace("0.6\t0.7", "0.6\tabc")),
     ["Bad_TEST.tsv, line 2", "'abc', which is not a number"]),
    (lambda d: _pair(d, GOOD_ROWS, "1\t0.1\t0.2\t0.3\n2\t0.5\t0.6\t0.7\n"),
     ["Bad_TRAIN.tsv holds series of shape (channels, length) (1, 4)", "Bad_TEST.tsv holds (1, 3)"]),
    (lambda d: _pair(d, GOOD_ROWS, ""), ["Bad_TEST.tsv, line 1: the file is empty"]),
    (lambda d: _pair(d, GOOD_ROWS, TEXT_LABEL_ROWS),
     ["numeric labels but Bad_TEST.tsv has text ones"]),
    (lambda d: _pair(d, "@problemName Bad\n@classLabel false\n@data\n1,2,3\n4,5,6\n",
                     "@problemName Bad\n@classLabel false\n@data\n1,2,3\n", ext="ts"),
     ["Bad_TRAIN.ts has no class labels (@classLabel false)"]),
    (lambda d: _pair(d, "@problemName Bad\n@classLabel true a b\n@data\n1,2,3:a\n4,5:b\n",
                     "@problemName Bad\n@classLabel true a b\n@data\n1,2,3:a\n", ext="ts"),
     ["Bad_TRAIN.ts holds series of unequal length", "equal-length series"]),
    (lambda d: d, ["is a folder without a", "_TRAIN / ", "_TEST pair"]),
    (lambda d: d / "Missing", ["Found neither", "Missing_TRAIN.<ext> + Missing_TEST.<ext>"]),
    (lambda d: (d / "data.json").write_text("{}") and d / "data.json",
     ["data.json is not an .npz file, nor a .ts, .tsv, .csv or .txt file"]),
])
def test_malformed_files_exit_2_with_one_paragraph(tmp_path, model_py, capsys, make, fragments):
    folder = tmp_path / "input"
    folder.mkdir()
    code, doc, err = run_json(capsys, model_py, make(folder))
    assert code == 2 and doc is None
    assert err.startswith("cnndoctor: error: ") and err.count("\n") == 1 and "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err


# --- torch Dataset / DataLoader in the API ------------------------------------------------------


def _tensors(X, y):
    return TensorDataset(torch.tensor(X).unsqueeze(1), torch.tensor(y))


def test_dataloader_and_dataset_give_the_same_report_as_arrays(run):
    X, y, Xt, yt = gunpoint()
    select = ["D101", "D102", "L101", "L201", "A101"]
    loader = DataLoader(_tensors(X * 1000, y), batch_size=16, shuffle=True)
    from_loader = run(TinyCNN, loader, _tensors(Xt * 1000, yt), select=select)
    from_arrays = run(TinyCNN, (X[:, None] * 1000, y), (Xt[:, None] * 1000, yt), select=select)
    assert codes(from_loader) == codes(from_arrays) == ["D102"]
    assert from_loader.findings[0].evidence == from_arrays.findings[0].evidence
    s = from_loader.subject
    assert (s["n_train"], s["n_test"], s["batch_size"]) == (50, 150, 16)
    assert s["settings_source"]["batch_size"] == "DataLoader"
    assert "The train data comes from a TensorDataset through a DataLoader: all 50 samples are used." \
        in from_loader.notes
    assert any(n.startswith("The test data comes from a TensorDataset: all 150") for n in from_loader.notes)
    assert run(TinyCNN, loader, select=["D101"], batch_size=8).subject["batch_size"] == 8  # explicit wins


def test_large_datasets_are_sampled_with_a_seed_and_the_report_says_how_many(run):
    X, y, Xt, yt = gunpoint()
    report = run(TinyCNN, _tensors(X, y), _tensors(Xt, yt), select=["D101", "L101"], max_samples=20, seed=3)
    assert (report.subject["n_train"], report.subject["n_test"]) == (20, 20)
    assert ("The train data comes from a TensorDataset: 20 of its 50 samples, drawn at random (seed 3), feed "
            "every data check and probe.") in report.notes
    a = arrays_from_torch(_tensors(Xt, yt), "test", max_samples=20, seed=3)
    b = arrays_from_torch(_tensors(Xt, yt), "test", max_samples=20, seed=3)
    c = arrays_from_torch(_tensors(Xt, yt), "test", max_samples=20, seed=4)
    assert np.array_equal(a.X, b.X) and not np.array_equal(a.X, c.X)
    # The sample is drawn from the whole dataset, not its first rows.
    rows = {tuple(np.round(r[0, :5], 5)) for r in a.X}
    first = {tuple(np.round(r[:5], 5)) for r in Xt[:20]}
    assert rows != first and rows <= {tuple(np.round(r[:5], 5)) for r in Xt}


class RawSensorDataset(Dataset):
    """A user's Dataset: dict items, with the (wrong) scaling done in __getitem__."""

    def __init__(self, X, y):
        self.X, self.y = X, y

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return {"signal": torch.tensor(2048 + 400 * self.X[i][None]), "label": int(self.y[i])}


class Stream(IterableDataset):
    def __init__(self, X, y):
        self.X, self.y = X, y

    def __iter__(self):
        for x, label in zip(self.X, self.y):
            yield torch.tensor(x[None]), int(label)


def test_dict_items_are_read_through_getitem_and_iterable_datasets_from_the_start(run):
    X, y, Xt, yt = gunpoint()
    report = run(TinyCNN, RawSensorDataset(X, y), RawSensorDataset(Xt, yt), select=["D102"])
    assert codes(report) == ["D102"] and report.findings[0].evidence["mean"] > 1000
    stream = run(TinyCNN, Stream(X, y), Stream(Xt, yt), select=["D101", "L101"], max_samples=30)
    assert stream.subject["n_train"] == 30
    assert any("iterable Stream (no random access): cnndoctor read its first 30 samples" in n for n in stream.notes)


class Ragged(Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        return torch.zeros(1, 20 + i), i % 2


def _pad_each_batch(batch):
    longest = max(x.shape[-1] for x, _ in batch)
    xs = torch.stack([torch.nn.functional.pad(x, (0, longest - x.shape[-1])) for x, _ in batch])
    return xs, torch.tensor([label for _, label in batch])


def test_unequal_lengths_and_unlabelled_data_are_input_errors(run):
    with pytest.raises(InputError, match="different shapes.*equal-length series"):
        run(TinyCNN, Ragged(), select=["D101"])
    with pytest.raises(InputError, match="batches of different shapes .*pads each batch"):
        run(TinyCNN, DataLoader(Ragged(), batch_size=2, collate_fn=_pad_each_batch), select=["D101"])
    X, _, _, _ = gunpoint()
    with pytest.raises(InputError, match="batches without labels"):
        run(TinyCNN, TensorDataset(torch.tensor(X)), select=["D101"])


def test_a_path_holds_both_splits(gunpoint_dir):
    report = cnndoctor.diagnose(TinyCNN, str(gunpoint_dir), select=["L101"], progress=False)
    assert codes(report) == ["L101"] and report.subject["n_test"] == 150
    with pytest.raises(InputError, match="must hold both splits"):
        cnndoctor.diagnose(TinyCNN, gunpoint_dir, gunpoint_dir, progress=False)
