"""A 1D CNN in the style most tutorials teach: conv/pool blocks, flatten, dense layers.

The mistake: the recordings are fed exactly as the sensor logged them (16-bit counts around 32768),
with no scaling. Train it with `python sample_data/train.py sample_data/chance_accuracy/model.py
sample_data/chance_accuracy/data.npz` — test accuracy
sits at about 10%, chance for 10 classes. `cnndoctor run` on this file names the cause.
"""

import torch.nn as nn


class AppliancesCNN(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, seq_len: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(in_channels, 32, kernel_size=9, padding=4), nn.ReLU(), nn.MaxPool1d(4),
            nn.Conv1d(32, 64, kernel_size=9, padding=4), nn.ReLU(), nn.MaxPool1d(4),
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(64 * (seq_len // 16), 64), nn.ReLU(), nn.Linear(64, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


lr = 1e-3
batch_size = 32
