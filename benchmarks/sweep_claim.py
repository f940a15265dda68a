"""Claiming the next trial of a sweep that already has 1,000 finished trials.

Makes one root per method (grid, random, bayes), each with a sweep and N finished trials
(run manifests of realistic size with their sweep block, config and summary, plus their
claim files, written with ledger's own writers), then times, in this process:

- floor: reading those trials' summaries through the query index,
  ``[r.summary["loss"] for r in ledger.open(root).runs(where={"sweep.id": ...})]``,
  with the index cache warm (as the agent finds it after its first claim)
- claim: an agent claiming and starting the next trial: finding the sweep and reading its
  config, the agent's first heartbeat, the stop check, the rebuild of
  the search state from the runs (through the same index), the claim listing, choosing the
  parameters (bayes: TPE told N trials, then asked), the exclusive create of the claim,
  until the trial's function is called

    python benchmarks/sweep_claim.py [--trials 1000] [--repeats 5] [--root DIR]
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import ledger
import ledger.sweeps
from ledger import _format
from ledger._capture import capture_host
from ledger._root import open_root
from ledger.sweeps._agent import Agent
from ledger.sweeps._claims import Claim, SweepFiles
from ledger.sweeps._search import grid_point, nest, random_point
from ledger.sweeps._sweep import find_sweep

PARAMETERS = {
    "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
    "dropout": {"min": 0.0, "max": 0.5},
    "depth": {"values": [18, 34, 50]},
    "batch_size": {"values": [32, 64, 128, 256]},
}
GRID = {"a": {"values": list(range(50))}, "b": {"values": list(range(40))}}  # 2,000 combinations


def make_sweep(root: Path, method: str, n: int, seed: int = 0) -> str:
    """A sweep with n finished trials: manifests and claims as agents would have left them."""
    parameters = GRID if method == "grid" else PARAMETERS
    config = {"method": method, "metric": {"name": "loss", "goal": "minimize"}, "parameters": parameters}
    sweep_id = ledger.sweeps.create(config, root=root, project="bench")
    sweep = find_sweep(open_root(root), sweep_id, "bench")
    files = SweepFiles(sweep.storage, "bench", sweep_id)
    rng = random.Random(seed)
    host = capture_host()
    t0 = time.time() - 86_400
    for trial in range(1, n + 1):
        if method == "grid":
            params = grid_point(sweep.config, trial, 0)
        elif method == "random":
            params = random_point(sweep.config, trial, 0)
        else:  # bayes: any spread of points will do for timing
            params = random_point(sweep.config, trial, 1)
        created = t0 + trial * 60.0
        run_id = f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime(created))}-{trial:06x}"
        extra = {f"setting_{k:02d}": rng.random() for k in range(24)}
        m = _format.Manifest(
            id=run_id,
            name=f"trial-{trial}",
            project="bench",
            status="finished",
            created=_format.iso(created),
            ended=_format.iso(created + 50),
            duration_s=50.0,
            heartbeat=_format.iso(created + 50),
            intervals=[{"start": _format.iso(created), "end": _format.iso(created + 50)}],
            user="ada",
            host=host,
            command={"argv": ["train.py", "--lr=0.001"], "cwd": "/home/ada/project", "executable": "/usr/bin/python3"},
            git={"root": "/home/ada/project", "commit": f"{rng.getrandbits(160):040x}", "branch": "main"},
            config={**extra, **nest(params)},
            summary={"loss": rng.random(), **{f"metric_{k}": rng.random() for k in range(9)}},
            sweep={"id": sweep_id, "trial": trial, "fold": None},
        )
        folder = root / "bench" / "runs" / run_id
        folder.mkdir(parents=True)
        (folder / _format.MANIFEST).write_bytes(m.to_yaml())
        claim = Claim(
            trial, 0, "bench-agent", "node07", 1, m.created, nest(params), None, m.ended, "finished", [run_id]
        )
        files.try_claim(claim)
    return sweep_id


def floor(root: Path, sweep_id: str) -> float:
    t = time.perf_counter()
    runs = ledger.open(root).runs(where={"sweep.id": sweep_id})
    [r.summary["loss"] for r in runs]
    return time.perf_counter() - t


def claim(root: Path, sweep_id: str) -> float:
    """Seconds from starting an agent to the call of its trial's function."""
    started: list[float] = []
    t = time.perf_counter()
    sweep = find_sweep(open_root(root), sweep_id, "bench")
    agent = Agent(sweep, function=lambda: started.append(time.perf_counter()), count=1, out=io.StringIO())
    agent.run()
    return started[0] - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--root", help="where to build the roots (default: a temporary folder)")
    args = parser.parse_args()
    base = Path(args.root) if args.root else Path(tempfile.mkdtemp(prefix="ledger-sweep-bench-"))
    try:
        print(f"{args.trials} finished trials per sweep, best of {args.repeats}; times in ms")
        print(f"{'method':8} {'floor (read summaries)':>24} {'claim + start':>15} {'ratio':>7}")
        for method in ("grid", "random", "bayes"):
            root = base / method
            t = time.perf_counter()
            sweep_id = make_sweep(root, method, args.trials)
            build = time.perf_counter() - t
            ledger.open(root)  # the index cache, as the agent finds it after its first claim
            floors = [floor(root, sweep_id) for _ in range(args.repeats)]
            claims = [claim(root, sweep_id) for _ in range(args.repeats)]
            f, c = min(floors), min(claims)
            print(
                f"{method:8} {f * 1e3:24.1f} {c * 1e3:15.1f} {c / f:6.2f}x"
                f"   (median {statistics.median(floors) * 1e3:.1f} / {statistics.median(claims) * 1e3:.1f};"
                f" built in {build:.1f} s)"
            )
    finally:
        if not args.root:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
