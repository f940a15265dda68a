"""Opening a 10,000-run ledger, cold and warm, against the cost of parsing its manifests.

Makes N synthetic runs (manifests of realistic size: 30 config keys, 10 summary keys, full
host and git blocks, written by ledger's own manifest writer), then times, in this process:

- floor: reading and parsing the same N run.yaml files with yaml.load(Loader=CSafeLoader)
- cold:  ledger.open(root).runs().to_pandas() with no index cache
- warm:  ledger.open(root) with the cache written by the cold open (and with .to_pandas())

Targets: cold within 1.5x the floor, warm at most 10% of the floor.

    python benchmarks/open_index.py [--runs 10000] [--repeats 3] [--root DIR]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import yaml

import ledger
from ledger import _format


def make_ledger(root: Path, n: int, seed: int = 0) -> list[Path]:
    """n runs in 4 projects; returns the manifest paths."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / _format.ROOT_MARKER).write_bytes(_format.root_marker())
    paths = []
    t0 = 1_790_000_000.0
    for i in range(n):
        created = t0 + i * 37.0
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
        folder = root / project / "runs" / run_id
        folder.mkdir(parents=True)
        path = folder / _format.MANIFEST
        path.write_bytes(m.to_yaml())
        paths.append(path)
    return paths


def floor(paths: list[Path]) -> float:
    t = time.perf_counter()
    for p in paths:
        yaml.load(p.read_bytes(), Loader=yaml.CSafeLoader)
    return time.perf_counter() - t


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--root", help="where to build the ledger (default: a temporary folder)")
    args = parser.parse_args()
    import pandas as pd  # noqa: F401  (imported before timing: neither side pays for it)

    tmp = Path(args.root) if args.root else Path(tempfile.mkdtemp())
    root = tmp / "results"
    try:
        t = time.perf_counter()
        paths = make_ledger(root, args.runs)
        size = sum(p.stat().st_size for p in paths) / len(paths)
        print(f"made {args.runs} runs in {time.perf_counter() - t:.1f} s (mean manifest {size / 1000:.1f} KB)")
        cache = root / _format.CACHE_DIR
        floors, colds, warms, warms_df = [], [], [], []
        for _ in range(args.repeats):
            floors.append(floor(paths))
            shutil.rmtree(cache, ignore_errors=True)
            colds.append(timed(lambda: ledger.open(root).runs().to_pandas()))
            warms.append(timed(lambda: ledger.open(root)))
            warms_df.append(timed(lambda: ledger.open(root).runs().to_pandas()))
        f, c, w, wd = (statistics.median(x) for x in (floors, colds, warms, warms_df))
        print(f"medians of {args.repeats}, {args.runs} runs:")
        print(f"  floor (read + CSafeLoader parse):        {f:6.2f} s")
        print(f"  cold open + runs() + to_pandas():        {c:6.2f} s  = {c / f:.2f}x the floor (target <= 1.5x)")
        print(f"  warm open:                               {w:6.3f} s  = {w / f:.1%} of the floor (target <= 10%)")
        print(f"  warm open + runs() + to_pandas():        {wd:6.3f} s  = {wd / f:.1%} of the floor")
    finally:
        if not args.root:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
