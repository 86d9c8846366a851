"""The tutorial CNN returning probabilities: F.softmax at the end of forward, CrossEntropyLoss in training."""

import torch.nn as nn
import torch.nn.functional as F


class TutorialCNN(nn.Module):
    def __init__(self, in_channels, num_classes, seq_len):
        super().__init__()
        self.conv1 = nn.Conv1d(in_channels, 32, 3, padding=1)
        self.conv2 = nn.Conv1d(32, 64, 3, padding=1)
        self.pool = nn.MaxPool1d(2)
        self.fc1 = nn.Linear(64 * (seq_len // 4), 64)
        self.fc2 = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = F.relu(self.fc1(x.flatten(1)))
        return F.softmax(self.fc2(x), dim=1)


criterion = nn.CrossEntropyLoss()
batch_size = 16
