"""The last records of a long run: `history(tail=N)` / `ledger history --tail N` read from the
end of the files, against reading the whole stream.

Writes one run of N records of 5 scalars (default 10 million, as in DESIGN.md; the records are
encoded by ledger's own writer and appended directly, which takes a minute), then times, in
this process: the whole stream read (`records()`), and the last 100 and the last 3 records
(`records(tail=...)`), with the peak memory of each (tracemalloc).

Target: the last 100 records of a 10M-step run under 10 ms, memory independent of the run's length.

    python benchmarks/history_tail.py [--steps 10000000] [--root DIR] [--skip-full]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import ledger
from ledger import _format


def make_run(root: Path, steps: int) -> str:
    with ledger.init("bench", root=str(root), capture_output=False, system_metrics=False) as run:
        run.log({"loss": 1.0})
        run_id = run.id
    path = root / "bench" / "runs" / run_id / _format.METRICS
    t0 = time.time()
    with path.open("ab") as f:
        batch = 100_000
        for start in range(1, steps, batch):
            records = [
                {
                    "_step": s,
                    "_time": t0 + s * 1e-3,
                    "loss": 1 / s,
                    "acc": s % 97 / 97,
                    "lr": 1e-3,
                    "gn": 0.5,
                    "e": s // 1000,
                }
                for s in range(start, min(start + batch, steps))
            ]
            f.write(_format.encode_records(records))
    return run_id


def timed(fn, repeats: int) -> tuple[float, int]:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return statistics.median(times), peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10_000_000)
    parser.add_argument("--root")
    parser.add_argument("--skip-full", action="store_true", help="do not time the whole read (minutes at 10M)")
    args = parser.parse_args()
    tmp = Path(args.root or tempfile.mkdtemp(prefix="ledger-tail-"))
    root = tmp / "results"
    try:
        t = time.perf_counter()
        run_id = make_run(root, args.steps)
        size = (root / "bench" / "runs" / run_id / _format.METRICS).stat().st_size
        print(f"wrote {args.steps:,} records ({size / 2**20:.0f} MB) in {time.perf_counter() - t:.1f} s")
        view = ledger.open(str(root)).run(run_id)
        for n in (100, 3):
            seconds, peak = timed(lambda n=n: view.records(tail=n), 21)
            print(f"  records(tail={n}):  {seconds * 1e3:7.2f} ms, peak memory {peak / 2**10:8.0f} KB")
        if not args.skip_full:
            seconds, peak = timed(view.records, 1)
            print(f"  records() (whole):  {seconds * 1e3:7.0f} ms, peak memory {peak / 2**20:8.0f} MB")
    finally:
        if not args.root:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
