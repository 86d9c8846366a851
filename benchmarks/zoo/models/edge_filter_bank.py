"""A "filter bank" front end: one bank of 5-tap filters, rectified, mixed by 1x1 convolutions, and the
mean over time as the features — every feature sees 5 samples of the outline."""

import torch.nn as nn


class FilterBankNet(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.bank = nn.Conv1d(in_channels, 32, kernel_size=5, padding=2)
        self.mix = nn.Sequential(nn.ReLU(), nn.Conv1d(32, 64, 1), nn.ReLU(), nn.Conv1d(64, 64, 1), nn.ReLU())
        self.out = nn.Linear(64, num_classes)

    def forward(self, x):
        h = self.mix(self.bank(x))
        return self.out(h.mean(dim=-1))


batch_size = 16
