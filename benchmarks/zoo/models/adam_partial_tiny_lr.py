"""The FCN with its optimizer given as functools.partial(Adam, lr=1e-6): the lr lives only in the partial."""

import functools

import torch
import torch.nn as nn


def block(c_in, c_out, k):
    return nn.Sequential(nn.Conv1d(c_in, c_out, k, padding=k // 2), nn.BatchNorm1d(c_out), nn.ReLU())


class FCN(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.body = nn.Sequential(block(in_channels, 32, 7), block(32, 64, 5), block(64, 32, 3),
                                  nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.head = nn.Linear(32, num_classes)

    def forward(self, x):
        return self.head(self.body(x))


optimizer = functools.partial(torch.optim.Adam, lr=1e-6, betas=(0.9, 0.99))
batch_size = 16
