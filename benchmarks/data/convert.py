"""Convert a few UCR/UEA data sets shipped inside aeon into small .npz files for the benchmarks.

    python benchmarks/data/convert.py --source /tmp/aeonx/aeon/datasets/data

Each classification set becomes <Name>.npz with X_train, y_train, X_test, y_test (X float32,
(N, L) when univariate, (N, C, L) otherwise; labels int64 when every label is an integer,
else unicode strings). Daphnet_S06R02E0 becomes a (C, T) recording with per-step anomaly flags.
Every file loads with np.load(allow_pickle=False). A file whose arrays would not change is
left untouched, so re-running does not rewrite the zip (whose entries carry a timestamp).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

try:
    from cnndoctor.errors import InputError
    from cnndoctor.load.formats import read_ts
except ImportError:  # run as a plain script from a checkout, before cnndoctor is installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from cnndoctor.errors import InputError
    from cnndoctor.load.formats import read_ts

HERE = Path(__file__).resolve().parent
DATASETS = ["ACSF1", "ArrowHead", "BasicMotions", "GunPoint", "ItalyPowerDemand", "OSULeaf"]
DAPHNET = "Daphnet_S06R02E0"


def labels_array(y: np.ndarray) -> np.ndarray:
    """int64 when every label is written as an integer (values kept as written), else unicode."""
    if all(re.fullmatch(r"[+-]?\d+", s) for s in y):
        return y.astype(np.int64)
    return y.astype(str)


def save(path: Path, arrays: dict[str, np.ndarray]) -> str:
    if path.exists():
        with np.load(path, allow_pickle=False) as old:
            same = set(old.files) == set(arrays) and all(
                old[k].dtype == v.dtype and old[k].shape == v.shape and np.array_equal(old[k], v)
                for k, v in arrays.items())
        if same:
            return "unchanged"
    np.savez_compressed(path, **arrays)
    return "written"


def convert_split_set(source: Path, name: str, out: Path) -> dict[str, np.ndarray] | None:
    parts = {}
    for split in ("TRAIN", "TEST"):
        try:
            X, y, meta = read_ts(source / name / f"{name}_{split}.ts")
        except InputError as e:
            print(f"skip {name}: {e}")
            return None
        parts[split] = (X, y, meta)
    (Xtr, ytr, _), (Xte, yte, _) = parts["TRAIN"], parts["TEST"]
    if Xtr.shape[1:] != Xte.shape[1:]:
        print(f"skip {name}: train shape {Xtr.shape[1:]} differs from test shape {Xte.shape[1:]}")
        return None
    both = labels_array(np.concatenate([ytr, yte]))  # one dtype for both splits
    if Xtr.shape[1] == 1:
        Xtr, Xte = Xtr[:, 0, :], Xte[:, 0, :]
    arrays = {"X_train": np.ascontiguousarray(Xtr, dtype=np.float32), "y_train": both[: len(ytr)],
              "X_test": np.ascontiguousarray(Xte, dtype=np.float32), "y_test": both[len(ytr):]}
    print(f"{name}: {save(out / f'{name}.npz', arrays)}")
    return arrays


def convert_daphnet(source: Path, out: Path) -> dict[str, np.ndarray]:
    path = source / DAPHNET / "S06R02E0.csv"
    with open(path, encoding="utf-8") as f:
        names = f.readline().strip().split(",")
    if names[0] != "timestamp" or names[-1] != "is_anomaly":
        raise SystemExit(f"{path}: unexpected columns {names}")
    # Column 0 is a wall-clock string (dropped); the rest are integers in the file.
    table = np.loadtxt(path, delimiter=",", skiprows=1, usecols=range(1, len(names)), dtype=np.float64)
    flags = table[:, -1]
    if not np.all(np.isin(flags, (0, 1))) or np.isnan(table).any():
        raise SystemExit(f"{path}: is_anomaly is not 0/1 or values are missing")
    arrays = {"recording": np.ascontiguousarray(table[:, :-1].T, dtype=np.float32),
              "is_anomaly": flags.astype(np.int64),
              "channel_names": np.array(names[1:-1], dtype=str)}
    print(f"{DAPHNET}: {save(out / f'{DAPHNET}.npz', arrays)}")
    return arrays


def describe(out: Path) -> None:
    for path in sorted(out.glob("*.npz")):
        print(f"\n{path.name} ({path.stat().st_size / 1024:.0f} KiB)")
        with np.load(path, allow_pickle=False) as z:
            for k in z.files:
                a = z[k]
                line = f"  {k:13s} {a.shape!s:16s} {a.dtype}"
                if a.dtype.kind == "f":
                    line += f"  range [{np.nanmin(a):.4g}, {np.nanmax(a):.4g}]  nan={int(np.isnan(a).sum())}"
                elif k.startswith("y_") or k == "is_anomaly":
                    values, counts = np.unique(a, return_counts=True)
                    pairs = zip(values.tolist(), counts.tolist(), strict=True)
                    line += "  " + ", ".join(f"{v}:{c}" for v, c in pairs)
                else:
                    line += "  " + ", ".join(a.tolist())
                print(line)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, required=True, help="aeon/datasets/data folder")
    ap.add_argument("--out", type=Path, default=HERE, help="where the .npz files go")
    args = ap.parse_args(argv)
    for name in DATASETS:
        convert_split_set(args.source, name, args.out)
    convert_daphnet(args.source, args.out)
    describe(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
