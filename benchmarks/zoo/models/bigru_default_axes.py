"""Conv front end and a bidirectional GRU left at the default batch_first=False, fed (B, L, C) from a
channels-last transpose: the recurrence runs across the samples of the batch."""

import torch.nn as nn


class ConvBiGRU(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(in_channels, 32, 5, padding=2), nn.BatchNorm1d(32), nn.ReLU(),
            nn.Conv1d(32, 32, 3, padding=1), nn.BatchNorm1d(32), nn.ReLU())
        self.gru = nn.GRU(32, 32, bidirectional=True)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        seq = self.conv(x).transpose(1, 2)  # (B, L, 32)
        out, _ = self.gru(seq)
        return self.fc(out.mean(dim=1))  # average over the sequence


batch_size = 16
