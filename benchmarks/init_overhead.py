"""Cost of ledger.init() + finish() with full capture, against the floor of reading code state.

Repository: 2,000 tracked files in 40 folders, with a dirty tree (20 modified tracked
files, 10 new untracked text files and one untracked binary file).
Floor: `git status` + `git diff HEAD` run as subprocesses from this script, the least any
tool must spend to learn the code state. Ours: `ledger.init()` + `run.finish()` with every
capture on (git state and code.patch, host, command, requirements.txt, console tee, system
sampler), the root at its default place (`results/` in the repository).
Prints the medians and their ratio (target: at most 2x), plus the first init() of a fresh
interpreter (lazy imports included), which is what a training script pays once.

    python benchmarks/init_overhead.py [--repeats 21]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ledger

GIT_ID = ["-c", "user.email=bench@example.com", "-c", "user.name=bench"]


def make_repo(path: Path) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    for d in range(40):
        folder = path / f"pkg{d:02d}"
        folder.mkdir()
        for f in range(50):
            lines = "".join(f"def f{i}(x):\n    return x * {d} + {f} + {i}\n\n" for i in range(10))
            (folder / f"mod{f:02d}.py").write_text(lines)
    (path / ".gitignore").write_text("__pycache__/\n")
    subprocess.run(["git", "add", "-A"], cwd=path, check=True)
    subprocess.run(["git", *GIT_ID, "commit", "-qm", "2000 files"], cwd=path, check=True)
    # Files written in the same second as the index are "racily clean": git re-reads all of
    # them on every status until the index is rewritten later. A real repository's index is
    # older than that, so let a second pass and refresh it once, as any `git status` would.
    time.sleep(1.1)
    subprocess.run(["git", "update-index", "-q", "--refresh"], cwd=path, check=True)
    for d in range(20):  # the dirty tree
        with open(path / f"pkg{d:02d}" / "mod00.py", "a") as f:
            f.write(f"\nCHANGED = {d}\n")
    for n in range(10):
        (path / f"scratch{n}.py").write_text(f"print({n})\n" * 20)
    (path / "weights.bin").write_bytes(bytes(range(256)) * 16)


def floor(repo: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(["git", "status"], cwd=repo, check=True, capture_output=True)
    subprocess.run(["git", "diff", "HEAD"], cwd=repo, check=True, capture_output=True)
    return time.perf_counter() - t0


def ours() -> float:
    t0 = time.perf_counter()
    run = ledger.init("bench", config={"lr": 0.1})
    run.finish()
    return time.perf_counter() - t0


def fresh_interpreter(repo: Path) -> float:
    code = (
        "import time, ledger\n"
        "t0 = time.perf_counter()\n"
        "ledger.init('bench').finish()\n"
        "print(time.perf_counter() - t0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        make_repo(repo)
        os.chdir(repo)
        floor(repo)  # warm the file system cache and ledger's lazy imports alike
        ours()
        floors, oursl = [], []
        for _ in range(args.repeats):  # interleaved, so machine noise hits both alike
            floors.append(floor(repo))
            oursl.append(ours())
        fresh = statistics.median(fresh_interpreter(repo) for _ in range(5))
        run = ledger.init("bench")
        run.finish()
        patch = Path(run.dir) / "code.patch"
        patch_bytes = patch.stat().st_size if patch.exists() else 0
        os.chdir(Path(tmp).parent)
    f_ms = statistics.median(floors) * 1e3
    o_ms = statistics.median(oursl) * 1e3
    print(f"2,000 tracked files, dirty tree; median of {args.repeats}:")
    print(f"  floor (git status + git diff HEAD):          {f_ms:6.1f} ms")
    print(f"  ledger.init() + finish(), full capture:      {o_ms:6.1f} ms")
    print(f"  ratio: {o_ms / f_ms:.2f}x the floor (target <= 2x)")
    print(f"  first init() + finish() in a fresh interpreter (median of 5): {fresh * 1e3:.1f} ms")
    print(f"  code.patch: {patch_bytes} bytes")


if __name__ == "__main__":
    main()
