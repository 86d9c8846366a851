"""A Keras Sequential translated line by line: Conv1D layers, then Dense layers — with no Flatten or pooling."""

import torch.nn as nn


class KerasPortCNN(nn.Module):
    def __init__(self, in_channels, num_classes, seq_len):
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv1d(in_channels, 32, 3, padding=1), nn.ReLU(),
            nn.Conv1d(32, 32, 3, padding=1), nn.ReLU())
        self.dense = nn.Sequential(nn.Linear(seq_len, 64), nn.ReLU(), nn.Linear(64, num_classes))

    def forward(self, x):
        return self.dense(self.convs(x)).mean(1)


batch_size = 16
