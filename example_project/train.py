"""The quickstart's linear regression, configured from the command line: what a sweep runs.

    python example_project/train.py --lr 0.1 --momentum 0.9 --epochs 30

example_project/sweep.yaml searches its learning rate and momentum (see the README,
"Sweeps"). Inside a sweep, ledger.init() joins the trial: the run goes to the sweep's root
and project, and run.config holds the trial's parameters (and `fold`, with cv).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from quickstart import make_data

import ledger

ROOT = Path(__file__).resolve().parent / "results"
FOLDS = 3


def split(data: list[tuple[float, float]], fold: int | None) -> tuple[list, list]:
    """Fold k of FOLDS as validation (cross-validation), or the last fifth without a fold."""
    if fold is None:
        cut = len(data) * 4 // 5
        return data[:cut], data[cut:]
    val = data[fold::FOLDS]
    return [d for i, d in enumerate(data) if i % FOLDS != fold], val


def mse(w: float, b: float, data: list[tuple[float, float]]) -> float:
    return sum((w * x + b - y) ** 2 for x, y in data) / len(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--momentum", type=float, default=0.0)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with ledger.init("quickstart", root=ROOT, config=args, group="linear-regression", job_type="train") as run:
        train, val = split(make_data(256, run.config["seed"]), run.config.get("fold"))
        run.define_metric("val_loss", summary="min")
        w = b = vw = vb = 0.0
        for epoch in range(run.config["epochs"]):
            gw = sum(2 * (w * x + b - y) * x for x, y in train) / len(train)
            gb = sum(2 * (w * x + b - y) for x, y in train) / len(train)
            vw, vb = (
                run.config["momentum"] * vw - run.config["lr"] * gw,
                run.config["momentum"] * vb - run.config["lr"] * gb,
            )
            w, b = w + vw, b + vb
            run.log({"epoch": epoch, "train_loss": mse(w, b, train), "val_loss": mse(w, b, val)})
        print(f"lr={run.config['lr']:.4g} momentum={run.config['momentum']}: val_loss {mse(w, b, val):.4f}")


if __name__ == "__main__":
    main()
