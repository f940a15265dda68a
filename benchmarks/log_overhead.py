"""Cost of run.log() for 5 scalars, against the physical floor measured in the same process.

Floor: orjson.dumps of the same records plus a buffered append of each line to a file.
Ours: 20,000 run.log() calls plus the final finish() (which flushes and fsyncs).
Prints microseconds per call for both and their ratio (target: within 3x).

    python benchmarks/log_overhead.py [--calls 20000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

import orjson

import ledger


def make_records(n: int) -> list[dict[str, float | int]]:
    return [
        {"loss": 1.0 / (i + 1), "acc": i / n, "lr": 1e-3 * math.cos(i), "grad_norm": 0.5 + i % 7, "epoch": i // 1000}
        for i in range(n)
    ]


def floor(records: list[dict[str, float | int]], folder: Path) -> float:
    t0 = time.perf_counter()
    with open(folder / "floor.jsonl", "ab") as f:  # buffered
        dumps = orjson.dumps
        for step, rec in enumerate(records):  # noqa: FURB122 (one append per record is the floor)
            f.write(dumps({"_step": step, "_time": time.time(), **rec}) + b"\n")
    return time.perf_counter() - t0


def ours(records: list[dict[str, float | int]], folder: Path) -> float:
    run = ledger.init("bench", root=str(folder / "results"))
    log = run.log
    t0 = time.perf_counter()
    for rec in records:
        log(rec)
    run.finish()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    records = make_records(args.calls)
    floors, oursl = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):  # interleaved, so machine noise hits both alike
            d = Path(tmp) / str(i)
            d.mkdir()
            floors.append(floor(records, d))
            oursl.append(ours(records, d))
    f_us = statistics.median(floors) / args.calls * 1e6
    o_us = statistics.median(oursl) / args.calls * 1e6
    print(f"log() of 5 scalars, {args.calls} calls incl. finish(), median of {args.repeats}:")
    print(f"  floor (orjson.dumps + buffered append): {f_us:6.2f} us/call")
    print(f"  ledger run.log():                       {o_us:6.2f} us/call")
    print(f"  ratio: {o_us / f_us:.2f}x the floor (target <= 3x)")


if __name__ == "__main__":
    main()
