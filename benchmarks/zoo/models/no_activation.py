"""Convolutions stacked without activations (the activation= argument of Keras' Conv1D was not carried over)."""

import torch.nn as nn


class LinearStackCNN(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(in_channels, 32, 7, padding=3), nn.Conv1d(32, 64, 5, padding=2),
            nn.Conv1d(64, 64, 3, padding=1), nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, num_classes)

    def forward(self, x):
        return self.fc2(self.fc1(self.features(x)))


batch_size = 16
