"""A residual CNN returning {"features": ..., "scores": ...}: the logits are not the first entry."""

import torch
import torch.nn as nn


class Residual(nn.Module):
    def __init__(self, c, k):
        super().__init__()
        self.conv = nn.Conv1d(c, c, k, padding=k // 2)
        self.bn = nn.BatchNorm1d(c)

    def forward(self, x):
        return torch.relu(x + self.bn(self.conv(x)))


class ResNetDict(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv1d(in_channels, 32, 7, padding=3), nn.BatchNorm1d(32), nn.ReLU())
        self.blocks = nn.Sequential(Residual(32, 5), Residual(32, 3))
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x):
        features = self.blocks(self.stem(x)).mean(-1)
        return {"features": features, "scores": self.fc(features)}


batch_size = 16
