"""ShallowFBCSPNet as braindecode builds it, in plain torch: the recording (N, C, T) gains a plane axis
(N, 1, C, T); a temporal Conv2d (1, 25), a spatial Conv2d (C, 1) across the sensors, squaring, average
pooling (1, 35) with stride (1, 7), log, dropout, and a final Conv2d whose kernel spans the time that is left
for seq_len input steps, squeezed to (N, K)."""

import torch
import torch.nn as nn


class ShallowFBCSPNet(nn.Module):
    def __init__(self, in_channels, num_classes, seq_len, n_filters=20):
        super().__init__()
        self.conv_time = nn.Conv2d(1, n_filters, kernel_size=(1, 25))
        self.conv_spat = nn.Conv2d(n_filters, n_filters, kernel_size=(in_channels, 1), bias=False)
        self.bnorm = nn.BatchNorm2d(n_filters)
        self.pool = nn.AvgPool2d(kernel_size=(1, 35), stride=(1, 7))
        self.drop = nn.Dropout(0.5)
        n_out_times = (seq_len - 25 + 1 - 35) // 7 + 1
        self.final_layer = nn.Conv2d(n_filters, num_classes, kernel_size=(1, n_out_times))

    def forward(self, x):
        x = self.bnorm(self.conv_spat(self.conv_time(x.unsqueeze(1))))
        x = self.drop(torch.log(torch.clamp(self.pool(x * x), min=1e-6)))
        return self.final_layer(x)[:, :, 0, 0]


batch_size = 8
