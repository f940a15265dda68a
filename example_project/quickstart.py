"""A small real training logged with ledger: linear regression by gradient descent.

Run by `make demo`: it writes three runs (three learning rates) into
example_project/results, which `ledger ls --root example_project/results` then lists.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import ledger

ROOT = Path(__file__).resolve().parent / "results"


def make_data(n: int, seed: int) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    return [(x, 3.0 * x - 1.0 + rng.gauss(0, 0.1)) for x in (rng.uniform(-1, 1) for _ in range(n))]


def train(lr: float, epochs: int, seed: int = 0) -> None:
    data = make_data(256, seed)
    config = {"lr": lr, "epochs": epochs, "seed": seed, "model": {"kind": "linear", "params": 2}}
    with ledger.init("quickstart", root=ROOT, config=config, group="linear-regression", job_type="train") as run:
        run.define_metric("loss", summary="min")
        w, b = 0.0, 0.0
        for epoch in range(epochs):
            gw = sum(2 * (w * x + b - y) * x for x, y in data) / len(data)
            gb = sum(2 * (w * x + b - y) for x, y in data) / len(data)
            w, b = w - lr * gw, b - lr * gb
            loss = sum((w * x + b - y) ** 2 for x, y in data) / len(data)
            run.log({"epoch": epoch, "loss": loss, "params": {"w": w, "b": b}, "grad_norm": math.hypot(gw, gb)})
        run.summary["w_error"] = abs(w - 3.0)
        print(f"lr={lr}: loss {loss:.4f}, w={w:.3f}, b={b:.3f} -> run {run.id}")


if __name__ == "__main__":
    for lr in (0.01, 0.1, 0.5):
        train(lr, epochs=50)
