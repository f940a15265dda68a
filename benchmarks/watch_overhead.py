"""The cost of ledger.watch(every=100) in a tiny PyTorch training loop.

Runs the same MLP training (CPU) with and without ``ledger.watch(model, log="all",
every=100)``, interleaved, and prints the mean step time of each and their ratio, averaged
over all steps (the watched steps included). Target: under 1.05.

    python benchmarks/watch_overhead.py [--steps 2000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

import ledger


def train(steps: int, *, watch: bool, root: str) -> float:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10)
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(128, 64)
    y = torch.randint(0, 10, (128,))
    run = ledger.init("bench", root=root, capture_output=False, system_metrics=False)
    watcher = ledger.watch(model, log="all", every=100) if watch else None
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        run.log({"loss": loss.item()})
    elapsed = time.perf_counter() - t0
    if watcher is not None:
        watcher.remove()
    run.finish()
    return elapsed / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)  # steadier on a shared 2-core machine
    plain, watched = [], []
    with tempfile.TemporaryDirectory() as root:
        train(200, watch=True, root=root)  # warm up both paths
        for _ in range(args.repeats):
            plain.append(train(args.steps, watch=False, root=root))
            watched.append(train(args.steps, watch=True, root=root))
    p, w = statistics.median(plain), statistics.median(watched)
    print(f"{args.steps} steps of a 3-layer MLP (batch 128), median of {args.repeats}:")
    print(f"  without watch:            {p * 1e6:8.1f} us/step")
    print(f"  with watch(every=100):    {w * 1e6:8.1f} us/step")
    print(f"  ratio: {w / p:.3f} (target < 1.05)")


if __name__ == "__main__":
    main()
