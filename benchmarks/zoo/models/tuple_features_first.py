"""A CNN returning (features, logits): the width of the second element matches the classes."""

import torch.nn as nn


class TwoHeaded(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv1d(in_channels, 32, 7, padding=3), nn.BatchNorm1d(32), nn.ReLU(),
            nn.Conv1d(32, 48, 5, padding=2), nn.BatchNorm1d(48), nn.ReLU(),
            nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.classifier = nn.Linear(48, num_classes)

    def forward(self, x):
        z = self.encoder(x)
        return z, self.classifier(z)


batch_size = 16
