"""A residual-free VGG-style 1D CNN whose only learning rate lives in the optimizer factory: SGD at 0.8.

The lr appears nowhere else in the file (no module-level `lr`), as in most training scripts.
"""

import torch
import torch.nn as nn


class VGG1D(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        layers, c = [], in_channels
        for width in (16, 32, 64):
            layers += [nn.Conv1d(c, width, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2)]
            c = width
        self.features = nn.Sequential(*layers, nn.AdaptiveMaxPool1d(1), nn.Flatten())
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.fc(self.features(x))


def make_optimizer(params):
    return torch.optim.SGD(params, lr=0.8, momentum=0.9, weight_decay=5e-4)


batch_size = 32
