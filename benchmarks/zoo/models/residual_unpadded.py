"""A dilated residual CNN whose convolutions are not padded: the branches lose different numbers of steps."""

import torch
import torch.nn as nn


class DilatedResCNN(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.conv1 = nn.Conv1d(in_channels, 32, 3, dilation=1)
        self.conv2 = nn.Conv1d(32, 32, 3, dilation=2)
        self.conv3 = nn.Conv1d(32, 64, 3, dilation=4)
        self.shortcut = nn.Conv1d(32, 64, 1)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        skip = self.shortcut(x)
        x = self.relu(self.conv3(x)) + skip
        return self.fc(torch.flatten(self.pool(x), 1))


batch_size = 16
