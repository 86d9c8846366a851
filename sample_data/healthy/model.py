"""A small fully convolutional network (conv-BN-ReLU blocks, global average pooling, linear head).

Trained with `python sample_data/train.py sample_data/healthy/model.py sample_data/healthy/data.npz`
it reaches over 90% test accuracy on GunPoint; `cnndoctor run` gives it a clean bill.
"""

import torch.nn as nn


def block(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2), nn.BatchNorm1d(c_out), nn.ReLU())


class GunPointFCN(nn.Module):
    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(block(in_channels, 32, 7), block(32, 64, 5), block(64, 64, 3),
                                      nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.head = nn.Linear(64, num_classes)

    def forward(self, x):
        return self.head(self.features(x))


lr = 1e-3
batch_size = 8
