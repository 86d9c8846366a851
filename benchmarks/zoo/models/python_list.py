"""Blocks kept in a plain Python list: model.parameters() (and so the optimizer) never sees them."""

import torch
import torch.nn as nn


class ListCNN(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.convs = [nn.Conv1d(in_channels, 32, 7, padding=3), nn.Conv1d(32, 64, 5, padding=2),
                      nn.Conv1d(64, 64, 3, padding=1)]
        self.head = nn.Linear(64, num_classes)

    def forward(self, x):
        for conv in self.convs:
            x = torch.relu(conv(x))
        return self.head(x.mean(-1))


batch_size = 16
