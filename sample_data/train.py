"""Train a sample model the way a user's own script would, and print test accuracy per epoch.

    python sample_data/train.py sample_data/chance_accuracy/model.py sample_data/chance_accuracy/data.npz
    python sample_data/train.py sample_data/healthy/model.py sample_data/healthy/data.npz --epochs 40

It uses the model file's lr, batch size and preprocess, CrossEntropyLoss and Adam, seed 0.
"""

import argparse

import numpy as np
import torch

from cnndoctor.load.data import load_data
from cnndoctor.load.model import load_model_file
from cnndoctor.load.subject import make_subject


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("data")
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(2)
    mf = load_model_file(args.model)
    subject = make_subject(mf.target, mf.kind, load_data(args.data), name=mf.name, options=mf.options,
                           device="cpu")
    d = subject.data
    pre = subject.preprocess or (lambda X: X)
    X_train, X_test = pre(d.X_train), pre(d.X_test)
    if X_train.ndim == 2:
        X_train, X_test = X_train[:, None, :], X_test[:, None, :]
    X_train, X_test = torch.tensor(X_train, dtype=torch.float32), torch.tensor(X_test, dtype=torch.float32)
    y_train, y_test = torch.tensor(d.y_train), torch.tensor(d.y_test)
    model = subject.build_model()
    opt = subject.make_optimizer(model.parameters())
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(0)
    for epoch in range(1, args.epochs + 1):
        model.train()
        for idx in torch.randperm(len(X_train), generator=gen).split(subject.batch_size):
            opt.zero_grad()
            loss = loss_fn(model(X_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            pred = model(X_test).argmax(1)
        acc = (pred == y_test).float().mean().item()
        print(f"epoch {epoch:3d}  train loss {loss.item():8.4f}  test accuracy {acc:6.1%}  "
              f"classes predicted {len(np.unique(pred.numpy()))}")


if __name__ == "__main__":
    main()
