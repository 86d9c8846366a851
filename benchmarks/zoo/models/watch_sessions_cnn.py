"""Activity recognition from smart-watch sessions: conv blocks with BatchNorm and a global pool.

The sessions come from several watches; the data pipeline standardises all windows with one scaler.
"""

import torch.nn as nn


class WatchActivityNet(nn.Module):
    def __init__(self, in_channels=6, num_classes=4):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(in_channels, 24, kernel_size=7, padding=3), nn.BatchNorm1d(24), nn.ReLU(),
            nn.Conv1d(24, 48, kernel_size=5, padding=2), nn.BatchNorm1d(48), nn.ReLU(),
            nn.Conv1d(48, 48, kernel_size=3, padding=1), nn.BatchNorm1d(48), nn.ReLU(),
            nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.classifier = nn.Linear(48, num_classes)

    def forward(self, x):
        return self.classifier(self.body(x))


batch_size = 16
lr = 1e-3
