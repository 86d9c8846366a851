"""A Keras-style classifier translated to PyTorch: the Softmax layer came along into nn.Sequential."""

import torch.nn as nn


class SoftmaxCNN(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(in_channels, 32, 7, padding=3), nn.BatchNorm1d(32), nn.ReLU(),
            nn.Conv1d(32, 64, 5, padding=2), nn.BatchNorm1d(64), nn.ReLU(),
            nn.AdaptiveAvgPool1d(1), nn.Flatten(),
            nn.Linear(64, num_classes), nn.Softmax(dim=1))

    def forward(self, x):
        return self.net(x)


criterion = nn.CrossEntropyLoss()
batch_size = 16
