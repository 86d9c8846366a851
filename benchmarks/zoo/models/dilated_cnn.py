"""A dilated convolutional stack (WaveNet-like receptive field growth), global max pooling, linear head."""

import torch.nn as nn


class DilatedCNN(nn.Module):
    def __init__(self, in_channels, num_classes, width=32):
        super().__init__()
        layers, c = [], in_channels
        for dilation in (1, 2, 4, 8):
            layers += [nn.Conv1d(c, width, 3, padding=dilation, dilation=dilation), nn.BatchNorm1d(width), nn.ReLU()]
            c = width
        self.features = nn.Sequential(*layers, nn.AdaptiveMaxPool1d(1), nn.Flatten())
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x))


batch_size = 16
