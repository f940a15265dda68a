"""Run the example project's trainings into one ledger root, as a researcher would from a shell.

    python example_project/run_all.py                      # into example_project/results
    python example_project/run_all.py --root /tmp/results  # elsewhere

Runs train_sklearn.py (logistic regression and random forest, 3 seeds, a train and an eval
job each: 12 runs), train_torch.py for 3 seeds (3 runs) and train_xgboost.py (gradient-boosted
trees through ledger's XGBoost callback, 3 seeds: 3 runs), each script in its own process
so that every run records the command that made it; then the example sweep (sweep.yaml:
bayes over the MLP's learning rate and width, 3-fold cross-validated) for --sweep-trials
trials (default 2: 6 runs), with `ledger sweep create` and `ledger agent` as a user types
them. About a minute on 2 CPU cores. This is what `make demo` runs before the viewer.
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
    out.append([python, str(HERE / "train_xgboost.py"), "--seeds", *map(str, SEEDS)])
    return out


def sweep(root: str, trials: int, env: dict[str, str]) -> None:
    """Create the example sweep and run an agent for ``trials`` trials, through the CLI."""
    ledger_cmd = [sys.executable, "-m", "ledger"]
    print("$ ledger sweep create example_project/sweep.yaml", flush=True)
    created = subprocess.run(
        [*ledger_cmd, "sweep", "create", str(HERE / "sweep.yaml"), "--root", root],
        env=env, cwd=HERE.parent, check=True, capture_output=True, text=True,
    )  # fmt: skip
    print(created.stdout, end="", flush=True)
    sweep_id = created.stdout.split()[2]  # "created sweep <id> ..."
    print(f"$ ledger agent {sweep_id} --count {trials}", flush=True)
    subprocess.run(
        [*ledger_cmd, "agent", sweep_id, "--root", root, "--count", str(trials)], env=env, cwd=HERE.parent, check=True
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the example project's trainings.")
    parser.add_argument("--root", default=str(HERE / "results"), help="the ledger root (default: %(default)s)")
    parser.add_argument("--sweep-trials", type=int, default=2, help="trials of the example sweep (0: no sweep)")
    args = parser.parse_args(argv)
    root = os.path.abspath(args.root)
    env = {**os.environ, "LEDGER_ROOT": root}
    started = time.monotonic()
    for command in commands():
        print("$", " ".join(Path(c).name if c == sys.executable else c for c in command), flush=True)
        subprocess.run(command, env=env, check=True)
    if args.sweep_trials > 0:
        sweep(root, args.sweep_trials, env)
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
