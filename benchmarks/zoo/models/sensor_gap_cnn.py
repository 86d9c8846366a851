"""Two conv blocks per sensor window with dropout, global average pooling and a small MLP head."""

import torch.nn as nn


class SensorGapCNN(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(in_channels, 48, 7, padding=3), nn.BatchNorm1d(48), nn.ReLU(),
            nn.Conv1d(48, 48, 5, padding=2), nn.BatchNorm1d(48), nn.ReLU(), nn.Dropout(0.1),
            nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.mlp = nn.Sequential(nn.Linear(48, 32), nn.ReLU(), nn.Linear(32, num_classes))

    def forward(self, x):
        return self.mlp(self.conv(x))


batch_size = 8
