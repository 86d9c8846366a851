"""A LightningModule whose learning rate is set only in configure_optimizers: SGD at 1.5 with Nesterov momentum,
returned in the ([optimizers], [schedulers]) form with a StepLR. The loss is computed inline (no loss attribute)."""

import pytorch_lightning as pl
import torch
import torch.nn as nn
import torch.nn.functional as F


class LitResCNN(pl.LightningModule):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv1d(in_channels, 32, 5, padding=2), nn.BatchNorm1d(32), nn.ReLU())
        self.res = nn.Sequential(nn.Conv1d(32, 32, 3, padding=1), nn.BatchNorm1d(32), nn.ReLU(),
                                 nn.Conv1d(32, 32, 3, padding=1), nn.BatchNorm1d(32))
        self.out = nn.Linear(32, num_classes)

    def forward(self, x):
        h = self.stem(x)
        h = F.relu(h + self.res(h))
        return self.out(h.mean(dim=-1))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log_dict({"loss": loss, "step": float(batch_idx)})
        return {"loss": loss}

    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=1.5, momentum=0.9, nesterov=True)
        return [opt], [torch.optim.lr_scheduler.StepLR(opt, step_size=30, gamma=0.1)]
