"""A small residual 1D CNN with length-preserving padding and a 1x1 shortcut."""

import torch.nn as nn


class ResBlock(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv1d(c_in, c_out, 7, padding=3), nn.BatchNorm1d(c_out), nn.ReLU(),
            nn.Conv1d(c_out, c_out, 5, padding=2), nn.BatchNorm1d(c_out), nn.ReLU(),
            nn.Conv1d(c_out, c_out, 3, padding=1), nn.BatchNorm1d(c_out))
        self.shortcut = nn.Sequential(nn.Conv1d(c_in, c_out, 1), nn.BatchNorm1d(c_out))
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.main(x) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.blocks = nn.Sequential(ResBlock(in_channels, 32), ResBlock(32, 64), ResBlock(64, 64))
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.head = nn.Linear(64, num_classes)

    def forward(self, x):
        return self.head(self.pool(self.blocks(x)).flatten(1))


batch_size = 16
