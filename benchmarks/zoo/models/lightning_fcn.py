"""A LightningModule as a Lightning tutorial writes it: an FCN backbone, its own loss, logging in training_step,
and AdamW with a cosine schedule in configure_optimizers' dict form. Nothing else is set in the file."""

import pytorch_lightning as pl
import torch
import torch.nn as nn


def block(c_in, c_out, k):
    return nn.Sequential(nn.Conv1d(c_in, c_out, k, padding=k // 2), nn.BatchNorm1d(c_out), nn.ReLU())


class LitFCN(pl.LightningModule):
    def __init__(self, in_channels, num_classes, lr=1e-3, max_epochs=100):
        super().__init__()
        self.save_hyperparameters()
        self.backbone = nn.Sequential(block(in_channels, 32, 7), block(32, 64, 5), block(64, 32, 3),
                                      nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.classifier = nn.Linear(32, num_classes)
        self.criterion = nn.CrossEntropyLoss()

    def forward(self, x):
        return self.classifier(self.backbone(x))

    def training_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        loss = self.criterion(logits, y)
        self.log("train_loss", loss, prog_bar=True)
        self.log("train_acc", (logits.argmax(1) == y).float().mean())
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", self.criterion(self(x), y))

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=1e-2)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.hparams.max_epochs)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
