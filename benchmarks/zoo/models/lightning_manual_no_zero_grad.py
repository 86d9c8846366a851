"""A LightningModule with manual optimisation (automatic_optimization = False), as in a GAN-style loop — whose
training_step steps the optimizer but never clears its gradients."""

import pytorch_lightning as pl
import torch
import torch.nn as nn


class LitManualCNN(pl.LightningModule):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.automatic_optimization = False
        self.net = nn.Sequential(nn.Conv1d(in_channels, 24, 7, padding=3), nn.BatchNorm1d(24), nn.ReLU(),
                                 nn.Conv1d(24, 48, 5, padding=2), nn.BatchNorm1d(48), nn.ReLU(),
                                 nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(48, num_classes))
        self.loss_fn = nn.CrossEntropyLoss()

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        x, y = batch
        loss = self.loss_fn(self(x), y)
        self.manual_backward(loss)
        opt.step()
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)
