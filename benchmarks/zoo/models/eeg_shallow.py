"""ShallowFBCSPNet the braindecode way, in plain torch: the (N, C, T) recording is viewed as a one-plane
image (N, 1, C, T); a temporal Conv2d (1, 13), a spatial Conv2d (C, 1) across the sensors, squaring,
average pooling along time, log, and a mean over what is left of time."""

import torch
import torch.nn as nn


class ShallowFBCSP(nn.Module):
    def __init__(self, in_channels, num_classes, filters=20):
        super().__init__()
        self.temporal = nn.Conv2d(1, filters, kernel_size=(1, 13), padding=(0, 6))
        self.spatial = nn.Conv2d(filters, filters, kernel_size=(in_channels, 1), bias=False)
        self.bn = nn.BatchNorm2d(filters)
        self.pool = nn.AvgPool2d(kernel_size=(1, 15), stride=(1, 5))
        self.drop = nn.Dropout(0.3)
        self.classify = nn.Linear(filters, num_classes)

    def forward(self, x):
        x = x.unsqueeze(1)  # (N, 1, C, T)
        x = self.bn(self.spatial(self.temporal(x)))
        x = torch.log(torch.clamp(self.pool(x * x), min=1e-6))
        return self.classify(self.drop(x.mean(dim=(2, 3))))


batch_size = 8
