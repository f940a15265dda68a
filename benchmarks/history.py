"""Long histories through the columnar cache: `RunView.history(keys=..., samples=..., tail=...)`.

One run of 10,000,000 steps x 5 metrics (history_tail.py's run, written once into --root,
default /tmp/ledger-history-bench, and reused by later runs of this script; writing it takes
about a minute). Then, each in a fresh subprocess (so its peak memory, ru_maxrss, is its own):

- the floor: orjson-parsing every line of the file (what any JSON-lines reader pays once);
- the first `history(keys=["loss"])`, which builds the cache (parses the file once);
- cached reads: `history(keys=["loss"])`, `history(keys=["loss"], samples=2000)`,
  `history(tail=100)`.

Each timing is the median of --repeats calls after the first in its process; peak memory is
the process's ru_maxrss minus what it held after opening the ledger, and tracemalloc's peak of
one call (Python and numpy allocations; pyarrow's memory map is not counted).

Targets (DESIGN.md): cached one-column read < 0.5 s; samples=2000 < 0.3 s; tail=100 < 10 ms
and < 50 MB.

    python benchmarks/history.py [--steps 10000000] [--root DIR] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import orjson
from history_tail import make_run  # the same 10M-step run (5 metrics), written the same way

import ledger
from ledger import _format

CASES = {
    "first history(keys=['loss']) (builds the cache)": ("first", {"keys": ["loss"]}),
    "cached history(keys=['loss'])": ("warm", {"keys": ["loss"]}),
    "cached history(keys=['loss'], samples=2000)": ("warm", {"keys": ["loss"], "samples": 2000}),
    "history(tail=100)": ("warm", {"tail": 100}),
}
TARGETS = {
    "cached history(keys=['loss'])": (0.5, None),
    "cached history(keys=['loss'], samples=2000)": (0.3, None),
    "history(tail=100)": (0.010, 50),
}


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(root: str, run_id: str, name: str, repeats: int) -> None:
    """Time one case in this process and print its figures as JSON."""
    import pandas as pd  # noqa: F401  (imported before the baseline: every case needs it)

    if name == "floor":
        path = Path(root) / "bench" / "runs" / run_id / _format.METRICS
        base = rss_mb()
        t = time.perf_counter()
        n = 0
        loads = orjson.loads
        with path.open("rb") as f:
            for line in f:
                loads(line)
                n += 1
        print(json.dumps({"seconds": time.perf_counter() - t, "rss_mb": rss_mb() - base, "records": n}))
        return
    mode, kwargs = CASES[name]
    view = ledger.open(root).run(run_id)
    base = rss_mb()
    if mode == "first":
        t = time.perf_counter()
        frame = view.history(**kwargs)
        print(json.dumps({"seconds": time.perf_counter() - t, "rss_mb": rss_mb() - base, "rows": len(frame)}))
        return
    frame = view.history(**kwargs)  # the first call in this process (the cache exists already)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        view.history(**kwargs)
        times.append(time.perf_counter() - t)
    tracemalloc.start()
    view.history(**kwargs)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(json.dumps({"seconds": statistics.median(times), "rss_mb": rss_mb() - base,
                      "traced_mb": peak / 2**20, "rows": len(frame)}))  # fmt: skip


def run_child(root: Path, run_id: str, name: str, repeats: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, "--root", str(root.parent), "--run", run_id,
         "--repeats", str(repeats)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10_000_000)
    parser.add_argument("--root", default="/tmp/ledger-history-bench")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child")
    parser.add_argument("--run")
    args = parser.parse_args()
    root = Path(args.root) / "results"
    if args.child:
        child(str(root), args.run, args.child, args.repeats)
        return
    marker = Path(args.root) / f"run-{args.steps}.txt"
    if marker.exists() and (root / "bench" / "runs" / marker.read_text().strip()).exists():
        run_id = marker.read_text().strip()
        print(f"reusing run {run_id} of {args.steps:,} steps in {root}")
    else:
        shutil.rmtree(args.root, ignore_errors=True)
        t = time.perf_counter()
        run_id = make_run(root, args.steps)
        marker.write_text(run_id)
        print(f"wrote {args.steps:,} steps x 5 metrics in {time.perf_counter() - t:.0f} s")
    path = root / "bench" / "runs" / run_id / _format.METRICS
    print(f"metrics.jsonl: {path.stat().st_size / 2**20:.0f} MB")
    shutil.rmtree(root / _format.CACHE_DIR / "history", ignore_errors=True)  # the first read builds it
    floor = run_child(root, run_id, "floor", args.repeats)
    print(f"{'floor: orjson-parse every line':48s} {floor['seconds']:8.3f} s   peak +{floor['rss_mb']:6.0f} MB")
    for name in CASES:
        r = run_child(root, run_id, name, args.repeats)
        traced = f"   traced {r['traced_mb']:7.1f} MB" if "traced_mb" in r else ""
        line = f"{name:48s} {r['seconds']:8.3f} s   peak +{r['rss_mb']:6.0f} MB{traced}   rows {r['rows']:,.0f}"
        if name.startswith("first"):
            line += f"   ({r['seconds'] / floor['seconds']:.2f}x the floor)"
        target = TARGETS.get(name)
        if target is not None:
            seconds, mb = target
            ok = r["seconds"] < seconds and (mb is None or max(r["rss_mb"], r.get("traced_mb", 0)) < mb)
            line += (
                f"   target < {seconds * 1e3:.0f} ms" + (f", < {mb} MB" if mb else "") + (": met" if ok else ": MISSED")
            )
        print(line)


if __name__ == "__main__":
    main()
