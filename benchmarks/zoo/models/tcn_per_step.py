"""A temporal convolutional network in the style of Bai et al. (2018): residual blocks of two dilated causal
convolutions (padded, then the extra steps chomped off), ReLU and dropout, a 1x1 downsample on the shortcut —
and a Linear over the channels of every step, returned as it is: (N, L, K), one prediction per time step."""

import torch.nn as nn


class Chomp1d(nn.Module):
    def __init__(self, chomp):
        super().__init__()
        self.chomp = chomp

    def forward(self, x):
        return x[:, :, :-self.chomp].contiguous()


class TemporalBlock(nn.Module):
    def __init__(self, n_in, n_out, kernel_size, dilation, dropout=0.2):
        super().__init__()
        pad = (kernel_size - 1) * dilation
        self.net = nn.Sequential(
            nn.Conv1d(n_in, n_out, kernel_size, padding=pad, dilation=dilation), Chomp1d(pad), nn.ReLU(),
            nn.Dropout(dropout),
            nn.Conv1d(n_out, n_out, kernel_size, padding=pad, dilation=dilation), Chomp1d(pad), nn.ReLU(),
            nn.Dropout(dropout))
        self.downsample = nn.Conv1d(n_in, n_out, 1) if n_in != n_out else None
        self.relu = nn.ReLU()

    def forward(self, x):
        res = x if self.downsample is None else self.downsample(x)
        return self.relu(self.net(x) + res)


class TCN(nn.Module):
    def __init__(self, in_channels, num_classes, num_channels=(25, 25, 25, 25), kernel_size=4):
        super().__init__()
        layers = []
        for i, width in enumerate(num_channels):
            layers.append(TemporalBlock(in_channels if i == 0 else num_channels[i - 1], width, kernel_size, 2 ** i))
        self.network = nn.Sequential(*layers)
        self.linear = nn.Linear(num_channels[-1], num_classes)

    def forward(self, x):
        y = self.network(x)                    # (N, C, L)
        return self.linear(y.transpose(1, 2))  # (N, L, K)


batch_size = 16
