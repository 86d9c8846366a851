"""Full-resolution feature maps flattened into a 512-unit dense layer."""

import torch.nn as nn


class FlattenDenseCNN(nn.Module):
    def __init__(self, in_channels, num_classes, seq_len):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(in_channels, 64, 5, padding=2), nn.ReLU(),
            nn.Conv1d(64, 128, 5, padding=2), nn.ReLU(), nn.Flatten())
        self.classifier = nn.Sequential(nn.Linear(128 * seq_len, 512), nn.ReLU(), nn.Linear(512, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


batch_size = 16
