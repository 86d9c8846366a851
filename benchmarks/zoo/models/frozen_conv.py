"""A transfer-learning recipe applied to a model trained from scratch: the feature extractor is frozen."""

import torch.nn as nn


def block(c_in, c_out, k):
    return nn.Sequential(nn.Conv1d(c_in, c_out, k, padding=k // 2), nn.BatchNorm1d(c_out), nn.ReLU())


class FCN(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.body = nn.Sequential(block(in_channels, 32, 7), block(32, 64, 5), block(64, 32, 3),
                                  nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.head = nn.Linear(32, num_classes)
        for p in self.body.parameters():  # "freeze the backbone, fine-tune the head"
            p.requires_grad = False

    def forward(self, x):
        return self.head(self.body(x))


batch_size = 16
