"""Depthwise-separable 1-D CNN (Xception/MobileNet style): each block is a depthwise conv, BatchNorm, then a
pointwise 1x1 conv, BatchNorm and ReLU: a factorised convolution, nothing nonlinear between its two halves."""

import torch.nn as nn


def separable(c_in, c_out, k):
    return nn.Sequential(
        nn.Conv1d(c_in, c_in, k, padding=k // 2, groups=c_in, bias=False), nn.BatchNorm1d(c_in),
        nn.Conv1d(c_in, c_out, 1, bias=False), nn.BatchNorm1d(c_out), nn.ReLU())


class SeparableNet(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv1d(in_channels, 32, 7, padding=3), nn.BatchNorm1d(32), nn.ReLU(),
                                  nn.MaxPool1d(2))
        self.blocks = nn.Sequential(separable(32, 64, 9), nn.MaxPool1d(2), separable(64, 64, 9), separable(64, 128, 5))
        self.head = nn.Sequential(nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(128, num_classes))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


batch_size = 16
