"""A Keras port that takes (N, L, C) windows and moves the channels first with permute (correct)."""

import torch.nn as nn


class ChannelsLastCNN(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(in_channels, 32, 5, padding=2), nn.BatchNorm1d(32), nn.ReLU(),
            nn.Conv1d(32, 64, 3, padding=1), nn.BatchNorm1d(64), nn.ReLU(),
            nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.head = nn.Linear(64, num_classes)

    def forward(self, x):  # x: (batch, time, channels)
        x = x.permute(0, 2, 1)
        return self.head(self.features(x))


batch_size = 16
