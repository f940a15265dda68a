"""A tiny MLP on scikit-learn's digits in plain PyTorch, logged with ledger.

    python example_project/train_torch.py --lr 0.05 --width 64 --epochs 20 --seed 0

The command-line arguments are the run's config (ledger.init takes the argparse Namespace
as it is). Per epoch: train/loss, train/acc, val/loss, val/acc and lr; the summary keeps
the best val/acc and the lowest val/loss, and test/acc on the held-out test split. The
trained weights are saved into the run as files/model.pt.

This is also the program of the example sweep (sweep.yaml): `ledger agent` passes the
parameters as --lr=... --width=..., and with `cv: {folds: K}` each trial's fold arrives
in the run's config as `fold`: the model then trains on the other K-1 folds of the
training split and validates on that one (--folds must equal K).
Runs go to $LEDGER_ROOT, else example_project/results.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import StratifiedKFold, train_test_split
from torch import nn

import ledger

PROJECT = "digits"
ROOT = os.environ.get("LEDGER_ROOT") or str(Path(__file__).resolve().parent / "results")
TEST_SIZE = 0.25  # the same held-out split as train_sklearn.py with seed 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="A tiny MLP on digits")
    parser.add_argument("--lr", type=float, default=0.05, help="SGD learning rate (cosine-annealed)")
    parser.add_argument("--width", type=int, default=64, help="hidden units")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folds", type=int, default=3, help="folds of a cross-validated sweep trial")
    return parser.parse_args(argv)


def load(fold: int | None, folds: int, seed: int):
    """(train, val, test) tensors: the test split is fixed; validation is a fold of the
    training split for sweep trials, else a 20% split drawn with the seed."""
    x, y = load_digits(return_X_y=True)
    x = x / 16.0  # pixels are 0..16
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=TEST_SIZE, random_state=0, stratify=y)
    if fold is None:
        x_train, x_val, y_train, y_val = train_test_split(
            x_rest, y_rest, test_size=0.2, random_state=seed, stratify=y_rest
        )
    else:
        splits = list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=0).split(x_rest, y_rest))
        train_idx, val_idx = splits[fold]
        x_train, x_val, y_train, y_val = x_rest[train_idx], x_rest[val_idx], y_rest[train_idx], y_rest[val_idx]

    def tensors(a, b):
        return torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.long)

    return tensors(x_train, y_train), tensors(x_val, y_val), tensors(x_test, y_test)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, y).item()
        acc = (logits.argmax(1) == y).float().mean().item()
    return loss, acc


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)  # a tiny model: threads cost more than they give
    with ledger.init(PROJECT, root=ROOT, config=args, group="mlp", job_type="train", tags=["digits"]) as run:
        fold = run.config.get("fold")  # set by a cross-validated sweep trial
        if fold is not None and not 0 <= fold < args.folds:
            msg = f"fold {fold} is outside 0..{args.folds - 1}; pass --folds equal to the sweep's cv.folds"
            raise ValueError(msg)
        (x_train, y_train), (x_val, y_val), (x_test, y_test) = load(fold, args.folds, args.seed)
        model = nn.Sequential(nn.Linear(64, args.width), nn.ReLU(), nn.Linear(args.width, 10))
        optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
        run.config.update(params=sum(p.numel() for p in model.parameters()))
        run.define_metric("val/acc", summary="max")
        run.define_metric("val/loss", summary="min")
        generator = torch.Generator().manual_seed(args.seed)
        for epoch in range(args.epochs):
            model.train()
            order = torch.randperm(len(x_train), generator=generator)
            total_loss, correct = 0.0, 0
            for start in range(0, len(order), args.batch_size):
                idx = order[start : start + args.batch_size]
                logits = model(x_train[idx])
                loss = nn.functional.cross_entropy(logits, y_train[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total_loss += loss.item() * len(idx)
                correct += (logits.argmax(1) == y_train[idx]).sum().item()
            lr = schedule.get_last_lr()[0]
            schedule.step()
            val_loss, val_acc = evaluate(model, x_val, y_val)
            run.log(
                {
                    "epoch": epoch,
                    "lr": lr,
                    "train": {"loss": total_loss / len(x_train), "acc": correct / len(x_train)},
                    "val": {"loss": val_loss, "acc": val_acc},
                }
            )
        if fold is None:  # sweep trials leave the test split alone
            run.summary["test/acc"] = evaluate(model, x_test, y_test)[1]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.pt"
            torch.save(model.state_dict(), path)
            run.save(path, name="model.pt")
        print(
            f"mlp lr={args.lr} width={args.width} seed={args.seed}: best val/acc {run.summary['val/acc']:.3f} -> run {run.id}"
        )


if __name__ == "__main__":
    main()
