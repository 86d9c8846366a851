"""The tutorial CNN with a log transform of the power readings as preprocess — on series already z-normalised."""

import numpy as np
import torch.nn as nn


class TutorialCNN(nn.Module):
    def __init__(self, in_channels, num_classes, seq_len):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(in_channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2), nn.Flatten())
        self.classifier = nn.Sequential(nn.Linear(64 * (seq_len // 4), 64), nn.ReLU(), nn.Linear(64, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def preprocess(X):
    return np.log(X + 1.0).astype(np.float32)


batch_size = 16
