"""An audio-style front end (stride-4 convolutions and pools of 4) on short series."""

import torch.nn as nn


class StridedCNN(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(in_channels, 32, 8, stride=4, padding=2), nn.ReLU(), nn.MaxPool1d(4, ceil_mode=True),
            nn.Conv1d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool1d(4, ceil_mode=True),
            nn.Conv1d(64, 64, 3, padding=1), nn.ReLU(),
            nn.AdaptiveMaxPool1d(1), nn.Flatten())
        self.head = nn.Linear(64, num_classes)

    def forward(self, x):
        return self.head(self.features(x))


batch_size = 16
