"""Regenerate data.npz: ACSF1 appliance power signatures as raw 16-bit sensor counts.

ACSF1 (10 appliance classes, 100 train / 100 test series of 1,460 samples) comes from the
UCR/UEA archive as shipped in the aeon package (see benchmarks/data/SOURCES.md). The archive
stores each series z-normalised; here every value is re-expressed the way a 16-bit ADC would log
it — counts around mid-scale 32768, 2000 counts per unit — which is how many sensor recordings
reach a training script. Deterministic: running it twice gives the same file contents.

    python sample_data/chance_accuracy/make_data.py
"""

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parents[1] / "benchmarks" / "data" / "ACSF1.npz"


def to_counts(X: np.ndarray) -> np.ndarray:
    return np.clip(np.round(32768 + 2000 * X), 0, 65535).astype(np.float32)


def main() -> None:
    src = np.load(SOURCE, allow_pickle=False)
    np.savez_compressed(HERE / "data.npz", X_train=to_counts(src["X_train"]), y_train=src["y_train"],
                        X_test=to_counts(src["X_test"]), y_test=src["y_test"])
    print(f"wrote {HERE / 'data.npz'}")


if __name__ == "__main__":
    main()
