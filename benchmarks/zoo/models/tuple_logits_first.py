"""The FCN returning (logits, embedding), as models built for a contrastive or centre loss do."""

import torch.nn as nn


def block(c_in, c_out, k):
    return nn.Sequential(nn.Conv1d(c_in, c_out, k, padding=k // 2), nn.BatchNorm1d(c_out), nn.ReLU())


class FCNWithEmbedding(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.body = nn.Sequential(block(in_channels, 32, 7), block(32, 64, 5), block(64, 32, 3),
                                  nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.head = nn.Linear(32, num_classes)

    def forward(self, x):
        embedding = self.body(x)
        return self.head(embedding), embedding


batch_size = 16
