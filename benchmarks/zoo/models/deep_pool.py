"""Conv + max-pool blocks stacked 'for depth': each halves the sequence, padding keeps it running."""

import torch.nn as nn


class DeepPoolCNN(nn.Module):
    def __init__(self, in_channels, num_classes, blocks=8):
        super().__init__()
        layers, c = [], in_channels
        for i in range(blocks):
            out = min(16 * 2 ** (i // 2), 128)
            layers += [nn.Conv1d(c, out, 5, padding=2), nn.BatchNorm1d(out), nn.ReLU(), nn.MaxPool1d(2, ceil_mode=True)]
            c = out
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.head = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.head(self.features(x))


batch_size = 16
