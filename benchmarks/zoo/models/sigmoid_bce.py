"""A binary detector with one output: sigmoid in forward, and BCEWithLogitsLoss (which applies it again)."""

import torch
import torch.nn as nn


class BinaryCNN(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(in_channels, 32, 7, padding=3), nn.BatchNorm1d(32), nn.ReLU(),
            nn.Conv1d(32, 32, 5, padding=2), nn.BatchNorm1d(32), nn.ReLU(),
            nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.out = nn.Linear(32, 1)

    def forward(self, x):
        return torch.sigmoid(self.out(self.features(x)))


criterion = nn.BCEWithLogitsLoss()
batch_size = 16
