"""The same Keras port, but the channels are 'moved' with view: the series is read in the wrong order."""

import torch.nn as nn


class ChannelsLastCNN(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.in_channels = in_channels
        self.features = nn.Sequential(
            nn.Conv1d(in_channels, 32, 5, padding=2), nn.BatchNorm1d(32), nn.ReLU(),
            nn.Conv1d(32, 64, 3, padding=1), nn.BatchNorm1d(64), nn.ReLU(),
            nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.head = nn.Linear(64, num_classes)

    def forward(self, x):  # x: (batch, time, channels)
        x = x.view(x.size(0), self.in_channels, -1)
        return self.head(self.features(x))


batch_size = 16
