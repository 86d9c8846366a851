"""A small CNN for multichannel sensor windows: two conv blocks, a max-pool, global average pooling."""

import torch.nn as nn


class SensorCNN(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(in_channels, 32, 5, padding=2), nn.BatchNorm1d(32), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(32, 64, 3, padding=1), nn.BatchNorm1d(64), nn.ReLU(),
            nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Dropout(0.2))
        self.head = nn.Linear(64, num_classes)

    def forward(self, x):
        return self.head(self.features(x))


batch_size = 32
