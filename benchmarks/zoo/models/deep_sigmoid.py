"""Ten Conv1d + Sigmoid blocks, no normalisation and no shortcuts."""

import torch.nn as nn


class DeepSigmoidCNN(nn.Module):
    def __init__(self, in_channels, num_classes, depth=10):
        super().__init__()
        layers, c = [], in_channels
        for _ in range(depth):
            layers += [nn.Conv1d(c, 16, 5, padding=2), nn.Sigmoid()]
            c = 16
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.head = nn.Linear(16, num_classes)

    def forward(self, x):
        return self.head(self.features(x))


batch_size = 16
