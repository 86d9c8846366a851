"""forward() runs the example tensor used to size the head through the convolutions instead of x."""

import torch
import torch.nn as nn


class SizedCNN(nn.Module):
    def __init__(self, in_channels, num_classes, seq_len):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(in_channels, 32, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(32, 32, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2))
        self.register_buffer("example", torch.randn(1, in_channels, seq_len))
        self.head = nn.Linear(self.features(self.example).numel(), num_classes)

    def forward(self, x):
        h = self.features(self.example.expand(x.shape[0], -1, -1))
        return self.head(h.flatten(1))


batch_size = 16
