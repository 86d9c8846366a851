"""LogSoftmax + NLLLoss, trained on the one-hot label rows a Keras pipeline produced."""

import torch.nn as nn


class LogSoftmaxCNN(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(in_channels, 32, 7, padding=3), nn.BatchNorm1d(32), nn.ReLU(),
            nn.Conv1d(32, 64, 5, padding=2), nn.BatchNorm1d(64), nn.ReLU(),
            nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(64, num_classes), nn.LogSoftmax(dim=1))

    def forward(self, x):
        return self.head(self.features(x))


criterion = nn.NLLLoss()
batch_size = 16
