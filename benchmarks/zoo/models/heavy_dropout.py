"""Dropout(0.7) after every block 'against overfitting', and 0.5 on the raw input."""

import torch.nn as nn


class DropoutCNN(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.features = nn.Sequential(
            nn.Dropout(0.5),
            nn.Conv1d(in_channels, 32, 7, padding=3), nn.ReLU(), nn.Dropout(0.7),
            nn.Conv1d(32, 64, 5, padding=2), nn.ReLU(), nn.Dropout(0.7),
            nn.Conv1d(64, 64, 3, padding=1), nn.ReLU(), nn.Dropout(0.7),
            nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Dropout(0.8), nn.Linear(64, num_classes))

    def forward(self, x):
        return self.head(self.features(x))


batch_size = 16
