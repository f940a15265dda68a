"""A small ledger with everything the viewer shows, built with the real API.

Project ``vision``: groups ``resnet`` and ``vit``, each with ``train`` and ``eval`` runs;
finished, failed, crashed (a manifest left ``running`` with an old heartbeat) and running
(a fresh heartbeat) runs; NaN and Inf values; a sweep ``sw1`` of three trials; a run with a
code.patch, an output.log, a requirements.txt and a saved PNG; a run whose name and notes are
markup. Project ``nlp``: one run.
"""

from __future__ import annotations

import math
import os
import struct
import time
import zlib
from pathlib import Path

import yaml

import ledger
from tests.helpers import quiet_init

MARKUP_NAME = "<b>bold</b> ![img](http://example.invalid/x.png)"
MARKUP_NOTES = "<script>alert('x')</script> **not bold**"
PATCH = """diff --git a/train.py b/train.py
index 3b18e51..a9c3f2d 100644
--- a/train.py
+++ b/train.py
@@ -1,3 +1,3 @@
 import ledger
-LR = 0.1
+LR = 0.01
"""
OUTPUT = "".join(f"epoch {i} loss {1 / (i + 1):.3f}\n" for i in range(300)) + "done: best acc 0.93\n"
SWEEP = {
    "method": "grid",
    "metric": {"name": "acc", "goal": "maximize"},
    "parameters": {"lr": {"values": [0.1, 0.01, 0.001]}, "batch": {"value": 64}},
}


def png(width: int = 4, height: int = 3) -> bytes:
    """A tiny valid RGB PNG."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes([200, 30, 30]) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _edit(root: Path, run: ledger.Run, **changes) -> None:
    path = root / run.project / "runs" / run.id / "run.yaml"
    doc = yaml.safe_load(path.read_text())
    doc.update(changes)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _train(root: Path, name: str, group: str | None, job_type: str, lr: float, **kw) -> ledger.Run:
    run = quiet_init(
        "vision", root=root, name=name, group=group, job_type=job_type, config={"lr": lr, "depth": 18}, **kw
    )
    for step in range(20):
        loss = 1.0 / (1 + step * lr * 10)
        run.log({"loss": loss, "acc": 1 - loss / 2})
    time.sleep(0.002)  # distinct creation times keep the default order stable
    return run


def build(root: Path) -> dict[str, str]:
    """Write the ledger under ``root``; returns run name -> id."""
    ids: dict[str, str] = {}

    run = _train(root, "resnet-a", "resnet", "train", 1e-3, tags=["baseline"])
    run.log({"loss": math.nan, "acc": 0.5})  # a diverged step: a gap, not a zero
    run.log({"loss": 0.2, "acc": 0.9})
    run.finish()
    ids["resnet-a"] = run.id
    _edit(root, run, duration_s=3600.0, gpu_count=2)

    run = _train(root, "resnet-b", "resnet", "train", 1e-2)
    run.log({"loss": math.inf})
    run.summary["acc"] = 0.95
    run.finish()
    ids["resnet-b"] = run.id
    _edit(root, run, duration_s=7200.0, gpu_count=1)

    run = _train(
        root, "resnet-eval", "resnet", "eval", 1e-2, parent=ids["resnet-a"], links={"evaluates": ids["resnet-a"]}
    )
    ledger.open(root).run(ids["resnet-a"]).update_summary({"eval/acc": 0.88}, by=run)
    run.finish(status="failed")
    ids["resnet-eval"] = run.id
    _edit(root, run, duration_s=600.0)

    run = _train(root, "vit-a", "vit", "train", 3e-4, tags=["baseline", "big"])
    (root / "src").mkdir(exist_ok=True)
    (root / "src" / "plot.png").write_bytes(png())
    run.save(str(root / "src" / "plot.png"))
    run.finish()
    ids["vit-a"] = run.id
    folder = root / "vision" / "runs" / run.id
    (folder / "code.patch").write_text(PATCH)
    (folder / "output.log").write_text(OUTPUT)
    (folder / "requirements.txt").write_text("numpy==1.26.4\ntorch==2.1.0\n")
    (folder / "system.jsonl").write_text(
        "".join(
            f'{{"_step":{i},"_time":{1.7e9 + 10 * i},"cpu/percent":{10.0 * i},"memory/percent":{50 + i}}}\n'
            for i in range(5)
        )
    )
    _edit(
        root,
        run,
        duration_s=1800.0,
        gpu_count=4,
        git={"commit": "a" * 40, "branch": "main", "remote": None, "dirty": True, "untracked": []},
        command={"argv": ["train.py", "--lr", "3e-4"], "cwd": "/home/ada/project", "executable": "/usr/bin/python3"},
    )

    run = _train(root, "vit-crashed", "vit", "train", 3e-4)
    run.finish()
    ids["vit-crashed"] = run.id
    _edit(root, run, status="running", ended=None, heartbeat="2020-01-01T00:00:00.000Z", duration_s=60.0)

    run = _train(root, "vit-eval", "vit", "eval", 3e-4)
    for step in range(3):  # media: a grid of images per step, a table, histograms
        pixels = [[[40 * step, 0, 0]] * 4] * 3
        run.log(
            {
                "samples": [ledger.Image(pixels, caption=f"s{step}-a"), ledger.Image(pixels, caption=f"s{step}-b")],
                "preds": ledger.Table([[i, f"c{(i + step) % 2}", 0.5 + i / 10] for i in range(4)], columns=["id", "label", "score"]),
                "weights": ledger.Histogram([float(i % 7) + step for i in range(100)], bins=8),
            },
            step=20 + step,
        )  # fmt: skip
    run.finish()
    ids["vit-eval"] = run.id
    folder = root / "vision" / "runs" / run.id
    (folder / "requirements.txt").write_text("numpy==2.0.0\ntorch==2.1.0\n")
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    _edit(root, run, status="running", ended=None, heartbeat=now, heartbeat_s=3600.0, duration_s=30.0)

    run = _train(root, MARKUP_NAME, None, "train", 0.5, notes=MARKUP_NOTES)
    run.finish()
    ids["markup"] = run.id

    for trial, lr in enumerate(SWEEP["parameters"]["lr"]["values"]):
        run = _train(root, f"sweep-{trial}", "sw1", "train", lr)
        run.summary["acc"] = [0.7, 0.9, math.nan][trial]
        run.finish(status="finished" if trial < 2 else "failed")
        ids[f"sweep-{trial}"] = run.id
        _edit(root, run, sweep={"id": "sw1", "trial": trial, "fold": None})
    (root / "vision" / "sweeps" / "sw1").mkdir(parents=True)
    (root / "vision" / "sweeps" / "sw1" / "sweep.yaml").write_text(yaml.safe_dump(SWEEP))

    os.environ["LEDGER_USER"] = "grace"  # another person's run
    try:
        with quiet_init("nlp", root=root, name="bert", group="bert", job_type="train", config={"lr": 2e-5}) as run:
            run.log({"loss": 0.5})
    finally:
        del os.environ["LEDGER_USER"]
    ids["bert"] = run.id
    return ids


SWEEP_TRIALS = {
    "method": "random",
    "metric": {"name": "val_loss", "goal": "minimize"},
    "parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
        "width": {"values": [16, 32, 64, 128]},
        "optimizer": {"values": ["adam", "sgd"]},
        "epochs": {"value": 8},
    },
}


def build_sweep(root: Path, trials: int = 24, seed: int = 0) -> list[str]:
    """A random sweep ``sw2`` in project ``tuning``: ``trials`` trials whose val_loss falls with
    log10(lr) towards 1e-2 and a little with the width; returns the run ids in trial order."""
    import random

    rng = random.Random(seed)
    ids = []
    for trial in range(trials):
        lr = 10 ** rng.uniform(-4, -1)
        width = rng.choice([16, 32, 64, 128])
        optimizer = rng.choice(["adam", "sgd"])
        config = {"lr": lr, "width": width, "optimizer": optimizer, "epochs": 8}
        run = quiet_init("tuning", root=root, name=f"trial-{trial}", group="sw2", job_type="train", config=config)
        final = abs(math.log10(lr) + 2) * 0.5 + 16 / width * 0.2 + (0.05 if optimizer == "sgd" else 0.0)
        for epoch in range(8):
            run.log({"val_loss": final + 1.0 / (epoch + 1), "train_loss": final + 0.8 / (epoch + 1)})
        run.finish()
        _edit(root.parent / root.name, run, sweep={"id": "sw2", "trial": trial, "fold": None})
        ids.append(run.id)
    (root / "tuning" / "sweeps" / "sw2").mkdir(parents=True, exist_ok=True)
    (root / "tuning" / "sweeps" / "sw2" / "sweep.yaml").write_text(yaml.safe_dump(SWEEP_TRIALS))
    return ids


def build_in_place(root: Path, *, runs: bool = True, sweep: bool = False) -> dict[str, str]:
    """``build`` and/or ``build_sweep`` run from the root's parent folder: runs capture the code
    state of the folder they start in, which must not be this repository."""
    here = os.getcwd()
    root.parent.mkdir(parents=True, exist_ok=True)
    os.chdir(root.parent)
    try:
        ids = build(root) if runs else {}
        if sweep:
            build_sweep(root)
        return ids
    finally:
        os.chdir(here)
