"""Run the example project's trainings into one ledger root, as a researcher would from a shell.

    python example_project/run_all.py                      # into example_project/results
    python example_project/run_all.py --root /tmp/results  # elsewhere

Runs train_sklearn.py (logistic regression and random forest, 3 seeds, a train and an eval
job each: 12 runs) and train_torch.py for 3 seeds (3 runs), each script in its own process
so that every run records the command that made it. About half a minute on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import ledger

HERE = Path(__file__).resolve().parent
SEEDS = (0, 1, 2)


def commands() -> list[list[str]]:
    python = sys.executable
    out = [[python, str(HERE / "train_sklearn.py"), "--seeds", *map(str, SEEDS)]]
    out += [[python, str(HERE / "train_torch.py"), "--seed", str(seed)] for seed in SEEDS]
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the example project's trainings.")
    parser.add_argument("--root", default=str(HERE / "results"), help="the ledger root (default: %(default)s)")
    args = parser.parse_args(argv)
    root = os.path.abspath(args.root)
    env = {**os.environ, "LEDGER_ROOT": root}
    started = time.monotonic()
    for command in commands():
        print("$", " ".join(Path(c).name if c == sys.executable else c for c in command), flush=True)
        subprocess.run(command, env=env, check=True)
    runs = ledger.open(root, cache=False).runs(project="digits")
    print(f"\n{len(runs)} runs in {root} ({time.monotonic() - started:.0f} s):")
    for (group, job_type), count in sorted(_counts(runs).items()):
        print(f"  {group:<14} {job_type:<6} {count} runs")


def _counts(runs: ledger.RunSet) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for run in runs:
        key = (run.group or "-", run.job_type or "-")
        counts[key] = counts.get(key, 0) + 1
    return counts


if __name__ == "__main__":
    main()
