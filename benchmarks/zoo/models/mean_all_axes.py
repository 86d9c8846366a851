"""Sensor CNN whose "global average pooling" is x.mean(dim=(1, 2)): it averages the filters as well as time,
and the head was sized to the single number that remains."""

import torch.nn as nn
import torch.nn.functional as F


class MotionNet(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.conv1 = nn.Conv1d(in_channels, 32, 5, padding=2)
        self.conv2 = nn.Conv1d(32, 64, 3, padding=1)
        self.fc = nn.Linear(1, num_classes)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = x.mean(dim=(1, 2))  # meant: over time
        return self.fc(x.unsqueeze(1))


batch_size = 16
