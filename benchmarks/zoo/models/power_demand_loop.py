"""Daily power-demand profiles (24 hourly readings): winter or summer day.

The training script this file describes:

    data = np.load("italy_power.npz")  # X, y exported from the metering database, one class per query
    train_set = TensorDataset(torch.from_numpy(data["X"][:, None]), torch.from_numpy(data["y"]))
    train_loader = DataLoader(train_set, batch_size=batch_size)  # new days are scored later, in production
    for epoch in range(30):
        for xb, yb in train_loader:
            ...
"""

import torch.nn as nn


class PowerProfileCNN(nn.Module):
    def __init__(self, in_channels=1, num_classes=2):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(in_channels, 32, kernel_size=5, padding=2), nn.ReLU(),
            nn.Conv1d(32, 32, kernel_size=3, padding=1), nn.ReLU(),
            nn.AdaptiveMaxPool1d(1), nn.Flatten())
        self.out = nn.Linear(32, num_classes)

    def forward(self, x):
        return self.out(self.features(x))


batch_size = 32
shuffle = False  # the DataLoader above is built without shuffle=True
