"""The cost of run.log_artifact against its floor, and of use_artifact on a cached version.

Logs a folder of 1,000 files (1 GiB in all) and a single 1 GiB file as artifact versions
into a fresh local root, and measures the floor on the same bytes in the same run: each
file hashed (``hashlib.sha256``, 1 MiB reads) and copied (``shutil.copyfile``) into a fresh
folder, which is the least any content-addressed store must do. Floor and ledger take
turns, each after an ``os.sync()`` and into a fresh folder (a blob already in the root
would not be copied again, which is the point of artifacts but not what is measured).
Prints the median of each and their ratio; target: within 1.3x.

Then ``run.use_artifact("name:latest")`` of a version already in the local cache (the
folder of 1,000 files, and the single file): the median of many calls; target: under 50 ms.

The data is written under /tmp (``--tmp``) and deleted afterwards.

    python benchmarks/artifacts.py [--files 1000] [--size-mb 1024] [--repeats 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import ledger

_BUFFER = 1 << 20


def make_data(base: Path, files: int, total: int) -> tuple[Path, Path]:
    """A folder of ``files`` files (``total`` bytes in all, in 4 levels of sub-folders) and one
    file of ``total`` bytes; random bytes, so nothing is stored once for two."""
    folder = base / "folder"
    each = total // files
    for i in range(files):
        path = folder / f"shard-{i % 10}" / f"part-{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(each))
    single = base / "single.bin"
    with single.open("wb") as out:
        for _ in range(total // _BUFFER):
            out.write(os.urandom(_BUFFER))
    return folder, single


def floor(source: Path, dest: Path) -> float:
    """Seconds to sha256 every file of ``source`` and copy it into ``dest``."""
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    dest.mkdir(parents=True)
    t0 = time.perf_counter()
    for i, path in enumerate(files):
        digest = hashlib.sha256()
        buffer = bytearray(_BUFFER)
        view = memoryview(buffer)
        with path.open("rb", buffering=0) as f:
            while n := f.readinto(buffer):
                digest.update(view[:n])
        shutil.copyfile(path, dest / f"{i}-{digest.hexdigest()}")
    return time.perf_counter() - t0


def logged(source: Path, root: Path) -> float:
    """Seconds for ``run.log_artifact(source, ...)`` into the fresh root ``root``."""
    with ledger.init("bench", root=str(root), capture_output=False, system_metrics=False) as run:
        t0 = time.perf_counter()
        run.log_artifact(source, "data", type="dataset")
        return time.perf_counter() - t0


def compare(source: Path, work: Path, repeats: int) -> tuple[float, float]:
    """Median seconds of the floor and of log_artifact, taking turns."""
    floors, ledgers = [], []
    for i in range(repeats):
        for kind in ("floor", "ledger"):
            target = work / f"{kind}-{i}"
            os.sync()
            if kind == "floor":
                floors.append(floor(source, target))
            else:
                ledgers.append(logged(source, target))
            shutil.rmtree(target)
    return statistics.median(floors), statistics.median(ledgers)


def use_cached(source: Path, work: Path, calls: int) -> float:
    """Median seconds of ``use_artifact("data:latest")`` once the version is in the local cache."""
    root = work / "use-root"
    with ledger.init("bench", root=str(root), capture_output=False, system_metrics=False) as run:
        run.log_artifact(source, "data", type="dataset")
    times = []
    with ledger.init("bench", root=str(root), capture_output=False, system_metrics=False) as run:
        run.use_artifact("data:latest")  # lays it out in the cache, records the use
        for _ in range(calls):
            t0 = time.perf_counter()
            run.use_artifact("data:latest")
            times.append(time.perf_counter() - t0)
    shutil.rmtree(root)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--size-mb", type=int, default=1024, help="MiB of the folder, and of the single file")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--calls", type=int, default=50, help="use_artifact calls timed on a cached version")
    parser.add_argument("--tmp", default="/tmp", help="where the data is written (and deleted afterwards)")
    args = parser.parse_args()
    total = args.size_mb * _BUFFER
    with tempfile.TemporaryDirectory(prefix="ledger-bench-artifacts-", dir=args.tmp) as tmp:
        work = Path(tmp)
        os.environ["LEDGER_ARTIFACT_CACHE"] = str(work / "cache")
        folder, single = make_data(work / "data", args.files, total)
        size = f"{total / 2**30:.2f} GiB" if total >= 2**30 else f"{args.size_mb} MiB"
        print(f"log_artifact into a fresh local root, median of {args.repeats}, against sha256 + shutil.copyfile:")
        for label, source in ((f"a folder of {args.files:,} files ({size})", folder), (f"one file of {size}", single)):
            f, lg = compare(source, work, args.repeats)
            print(f"  {label}:")
            print(f"    floor (sha256 + copyfile): {f:7.2f} s  ({total / 2**20 / f:6.0f} MiB/s)")
            print(f"    log_artifact:              {lg:7.2f} s  ({total / 2**20 / lg:6.0f} MiB/s)")
            print(f"    ratio: {lg / f:.2f}x (target within 1.3x)")
        print(f'use_artifact("data:latest") of a version already in the local cache, median of {args.calls}:')
        for label, source in ((f"the folder of {args.files:,} files", folder), ("the single file", single)):
            t = use_cached(source, work, args.calls)
            print(f"  {label}: {t * 1e3:6.1f} ms (target under 50 ms)")


if __name__ == "__main__":
    main()
