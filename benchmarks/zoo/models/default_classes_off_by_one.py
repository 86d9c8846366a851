"""A CNN whose num_classes default is one short of the data's classes (written for a 5-class version)."""

import torch.nn as nn


class LeafNet(nn.Module):
    def __init__(self, in_channels=1, num_classes=5, hidden=(32, 64)):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(in_channels, hidden[0], 7, padding=3), nn.BatchNorm1d(hidden[0]), nn.ReLU(),
            nn.Conv1d(hidden[0], hidden[1], 5, padding=2), nn.BatchNorm1d(hidden[1]), nn.ReLU(),
            nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.classifier = nn.Linear(hidden[1], num_classes)

    def forward(self, x):
        return self.classifier(self.body(x))


batch_size = 16
