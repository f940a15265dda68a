"""The index at 10,000 and 100,000 runs: cold, warm, and one new run.

Makes N synthetic runs (manifests of realistic size: 30 config keys, 10 summary keys, full
host and git blocks, written by ledger's own manifest writer, on all cores; kept in
``$TMPDIR/ledger-bench/`` and reused by the next run), then times, in this process:

- floor: reading and parsing every run.yaml with yaml.load(Loader=CSafeLoader), on one core
- cold:  ledger.open(root) with no index cache (the index is built on all cores)
- warm:  ledger.open(root) with the cache, and runs().to_pandas() of the warm ledger (its
  table kept in .cache/frame/ by the first to_pandas(), timed apart)
- one new run: a run's manifest written into the warm ledger, then Ledger.refresh(); the
  index's own part (parse it, add one cache segment) is timed apart from listing the tree

Targets (2-core machine): 10k warm to_pandas() < 0.15 s; 100k warm to_pandas() < 1.5 s;
one new run into a warm 100k index < 50 ms; 100k cold < 0.7x the single-core floor.

    python benchmarks/open_index.py [--runs 10000 100000] [--repeats 3] [--fixtures DIR]
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import yaml

import ledger
from ledger import _format
from ledger._query import _index
from ledger._storage import open_storage


def make_ledger(root: Path, n: int) -> list[Path]:
    """n runs in 4 projects, written on all cores; returns the manifest paths."""
    root.mkdir(parents=True, exist_ok=True)
    (root / _format.ROOT_MARKER).write_bytes(_format.root_marker())
    with multiprocessing.get_context("fork").Pool() as pool:
        return [Path(p) for p in pool.starmap(write_run, [(str(root), i) for i in range(n)], chunksize=500)]


def write_run(root: str, i: int, created_at: float | None = None) -> str:
    """Run number i (the same run for the same i), written with the format's manifest writer."""
    rng = random.Random(i)
    created = created_at if created_at is not None else 1_790_000_000.0 + i * 37.0
    run_id = f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime(created))}-{i:06x}"
    project = f"project{i % 4}"
    config = {
        f"param_{k:02d}": rng.choice([rng.random(), rng.randint(1, 512), f"choice{rng.randint(0, 9)}"])
        for k in range(27)
    }
    config["optimizer"] = {"name": rng.choice(["adam", "sgd"]), "lr": 10 ** rng.uniform(-5, -1)}
    config["model"] = {"depth": rng.choice([18, 34, 50]), "width": rng.choice([64, 128])}
    config["seed"] = i % 5
    summary = {f"metric_{k}": rng.random() for k in range(9)}
    summary["loss"] = rng.random() if rng.random() > 0.01 else float("nan")
    duration = rng.uniform(60, 36000)
    m = _format.Manifest(
        id=run_id,
        name=f"run-{i}",
        project=project,
        group=f"idea-{i % 25}",
        job_type=rng.choice(["train", "train", "eval"]),
        tags=rng.sample(["baseline", "ablation", "big", "seed-sweep"], k=rng.randint(0, 2)),
        notes=None,
        status=rng.choice(["finished"] * 8 + ["failed", "killed"]),
        created=_format.iso(created),
        ended=_format.iso(created + duration),
        duration_s=round(duration, 3),
        heartbeat=_format.iso(created + duration),
        intervals=[{"start": _format.iso(created), "end": _format.iso(created + duration)}],
        user=rng.choice(["ada", "grace", "alan"]),
        host={
            "hostname": f"node{rng.randint(1, 40):02d}",
            "os": "Linux-6.1.0-18-amd64-x86_64-with-glibc2.36",
            "python": "3.11.7",
            "cpu": "AMD EPYC 7763 64-Core Processor",
            "cpu_count": 128,
            "memory_gb": 503.7,
            "gpus": [{"name": "NVIDIA A100-SXM4-80GB", "memory_gb": 80.0, "driver": "550.54.15", "cuda": "12.4"}],
        },
        command={
            "argv": ["train.py", "--config", f"configs/exp{i % 25}.yaml", "--seed", str(i % 5)],
            "cwd": "/home/ada/research/project",
            "executable": "/home/ada/.venv/bin/python",
        },
        git={
            "root": "/home/ada/research/project",
            "commit": f"{rng.getrandbits(160):040x}",
            "branch": "main",
            "remote": "https://github.com/ada/project",
            "dirty": rng.random() < 0.3,
            "untracked": [],
        },
        config=config,
        summary=summary,
    )
    folder = Path(root) / project / "runs" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / _format.MANIFEST
    path.write_bytes(m.to_yaml())
    return str(path)


def fixture(base: Path, n: int) -> tuple[Path, list[Path]]:
    """The n-run ledger under ``base`` (made once, reused while its marker is there)."""
    root = base / f"open_index-v2-{n}" / "results"
    done = root.parent / "complete"
    if done.exists():
        paths = sorted(root.glob(f"project*/runs/*/{_format.MANIFEST}"))
        if len(paths) == n:
            return root, paths
    shutil.rmtree(root.parent, ignore_errors=True)
    t = time.perf_counter()
    paths = make_ledger(root, n)
    done.write_text("ok\n")
    print(f"made {n} runs in {time.perf_counter() - t:.1f} s under {root}")
    return root, paths


def floor(paths: list[Path]) -> float:
    t = time.perf_counter()
    for p in paths:
        yaml.load(p.read_bytes(), Loader=yaml.CSafeLoader)
    return time.perf_counter() - t


def timed(fn) -> float:
    """Seconds ``fn()`` takes, the cyclic collector's debt from earlier steps paid first (as
    timeit leaves collections out)."""
    gc.collect()
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def one_size(root: Path, paths: list[Path], repeats: int) -> dict[str, float]:
    """Every figure for one ledger: medians of ``repeats``."""
    cache = root / _format.CACHE_DIR
    floors, colds, serials, opens, firsts, frames = [], [], [], [], [], []
    for _ in range(repeats):
        floors.append(floor(paths))
        shutil.rmtree(cache, ignore_errors=True)
        colds.append(timed(lambda: ledger.open(root)))
        if len(paths) <= 10_000:  # the same build on one core: the pool's own gain
            shutil.rmtree(cache, ignore_errors=True)
            pool_min, _index._POOL_MIN = _index._POOL_MIN, 10**12  # noqa: SLF001
            serials.append(timed(lambda: ledger.open(root)))
            _index._POOL_MIN = pool_min  # noqa: SLF001
        ledger.open(root)  # the cold open's segment compacted away
        firsts.append(timed(lambda: ledger.open(root).runs().to_pandas()))  # builds the table and keeps it
        lg = None

        def warm_open() -> None:
            nonlocal lg
            lg = ledger.open(root)

        opens.append(timed(warm_open))
        runs = lg.runs()
        frames.append(timed(runs.to_pandas))
    pairs = (("floor", floors), ("cold", colds), ("serial", serials), ("open", opens), ("first", firsts),
             ("frame", frames))  # fmt: skip
    out = {k: statistics.median(v) for k, v in pairs if v}
    # One new run into the warm index.
    lg = ledger.open(root)
    storage = open_storage(str(root))
    new = Path(write_run(str(root), len(paths) + 10**6, created_at=2_000_000_000.0))
    try:
        listing = timed(lambda: _index.manifests(storage))
        found = _index.manifests(storage)
        known = lg._entries  # noqa: SLF001 (what refresh() reuses)
        updates = []
        for _ in range(3):  # the median of three, each adding the one segment
            before = set((cache / "index").glob("seg-*"))
            updates.append(timed(lambda: _index.update(storage, known, found)))
            (added,) = set((cache / "index").glob("seg-*")) - before  # one new segment
            added.unlink()
        out["update"] = statistics.median(updates)
        out["listing"] = listing
        for segment in (cache / "index").glob("seg-*"):
            segment.unlink()
        fresh = None

        def refresh() -> None:
            nonlocal fresh
            fresh = lg.refresh()

        out["refresh"] = timed(refresh)
        assert len(fresh) == len(paths) + 1
        out["joined"] = timed(lambda: fresh.runs().to_pandas())  # the new row joined to the kept table
    finally:
        shutil.rmtree(new.parent)
        for segment in (cache / "index").glob("seg-*"):
            segment.unlink()
    return out


def report(n: int, r: dict[str, float]) -> None:
    frame_target = 0.15 if n <= 10_000 else 1.5
    ok = {True: "ok", False: "MISSED"}
    print(f"{n} runs (medians):")
    print(f"  floor (read + CSafeLoader, one core):  {r['floor']:7.2f} s")
    c = r["cold"] / r["floor"]
    print(
        f"  cold open (all cores):                 {r['cold']:7.2f} s  = {c:.2f}x the floor (target < 0.7x) {ok[c < 0.7]}"
    )
    if "serial" in r:
        print(
            f"  cold open on one core (pool off):      {r['serial']:7.2f} s  = {r['serial'] / r['floor']:.2f}x the floor"
        )
    print(f"  warm open:                             {r['open']:7.3f} s")
    print(f"  first runs().to_pandas() (builds the table, keeps it in .cache/frame/): {r['first']:7.3f} s")
    print(
        f"  warm runs().to_pandas():               {r['frame']:7.3f} s  (target < {frame_target} s) {ok[r['frame'] < frame_target]}"
    )
    print(
        f"  one new run, index update (parse + segment): {r['update'] * 1000:6.1f} ms (target < 50 ms) {ok[r['update'] < 0.05]}"
    )
    print(f"    listing the tree ({n} manifests):  {r['listing'] * 1000:7.1f} ms")
    print(f"    Ledger.refresh() in all:              {r['refresh'] * 1000:7.1f} ms")
    print(f"    then runs().to_pandas() (the new row joined to the kept table): {r['joined']:7.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3, help="repeats at 10,000 runs or fewer (one above)")
    parser.add_argument("--fixtures", help="where generated ledgers are kept (default: $TMPDIR/ledger-bench)")
    args = parser.parse_args()
    import pandas as pd  # noqa: F401  (imported before timing: neither side pays for it)

    base = Path(args.fixtures) if args.fixtures else Path(tempfile.gettempdir()) / "ledger-bench"
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} (other processes share the cores)")
    for n in args.runs:
        root, paths = fixture(base, n)
        report(n, one_size(root, paths, args.repeats if n <= 10_000 else 1))
        print(f"  (load average now {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
