"""Regenerate data.npz: GunPoint, with labels mapped to 0..K-1.

GunPoint (2 classes: an actor drawing a gun or pointing a finger; 50 train / 150 test series
of 150 samples, z-normalised per series) comes from the UCR/UEA archive as shipped in the aeon
package (see benchmarks/data/SOURCES.md). The archive labels the classes 1 and 2; this script
maps them to 0 and 1, as a careful training script does. Deterministic.

    python sample_data/healthy/make_data.py
"""

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parents[1] / "benchmarks" / "data" / "GunPoint.npz"


def main() -> None:
    src = np.load(SOURCE, allow_pickle=False)
    classes, y_train = np.unique(src["y_train"], return_inverse=True)
    y_test = np.searchsorted(classes, src["y_test"])
    np.savez_compressed(HERE / "data.npz", X_train=src["X_train"], y_train=y_train.astype(np.int64),
                        X_test=src["X_test"], y_test=y_test.astype(np.int64))
    print(f"wrote {HERE / 'data.npz'}")


if __name__ == "__main__":
    main()
