"""`ledger import wandb`: offline runs written by the real wandb package (in a child
interpreter: wandb starts its own service process), compared value by value after import,
both with what was logged and with what wandb's own reader (`wandb leet inspect`) shows."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ledger
from ledger import _format
from tests.helpers import run_python
from tests.import_helpers import same

pytest.importorskip("wandb")

WRITE = """
import math, os, wandb
run = wandb.init(project="vision", name="baseline", group="resnet", job_type="train", tags=["base", "v2"],
                 notes="first try", config={"lr": 0.001, "opt": "adam", "model": {"layers": 3}})
for step in range(0, 50, 10):
    run.log({"loss": 1 / (step + 1), "train": {"acc": step / 100}, "epoch": step // 10,
             "bad": math.nan if step == 20 else (math.inf if step == 30 else 0.5)}, step=step)
run.log({"hist": wandb.Histogram([1, 2, 3]), "label": "text"}, step=50)
run.config.update({"extra": 5})
run.summary["best"] = 0.75
with open("model.txt", "w") as f:
    f.write("weights")
wandb.save("model.txt", policy="now")
print("hello from the run")
run.finish()

failed = wandb.init(project="vision", name="broken")
failed.log({"loss": 2.0})
failed.finish(exit_code=3)
"""


@pytest.fixture(scope="module")
def wandb_dir(tmp_path_factory) -> Path:
    """Two offline runs written by wandb itself (once: wandb takes seconds to start); its
    settings and caches stay in that temporary folder. Tests only read it."""
    tmp_path = tmp_path_factory.mktemp("wandb-runs")
    env = {
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "WANDB_DIR": str(tmp_path),
        "WANDB_CONFIG_DIR": str(tmp_path / ".wandb-config"),
        "WANDB_CACHE_DIR": str(tmp_path / ".wandb-cache"),
        "WANDB_DATA_DIR": str(tmp_path / ".wandb-data"),
    }
    proc = run_python(WRITE, tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    return tmp_path / "wandb"


def inspect(path: Path) -> list[dict]:
    """The records as wandb's own reader shows them (wandb-core's `leet inspect --json`)."""
    wandb_cli = shutil.which("wandb", path=os.path.dirname(sys.executable))
    proc = subprocess.run(
        [wandb_cli, "leet", "inspect", "--json", str(path)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        pytest.skip(f"this wandb has no `wandb leet inspect --json`: {proc.stderr.strip()[:200]}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def number(v):
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(v, v) if isinstance(v, str) else v


def test_every_value(wandb_dir, ledger_cli):
    code, out, err = ledger_cli("import", "wandb", str(wandb_dir), "--root", "results")
    assert code == 0, err
    assert "2 imported, 0 skipped" in out
    assert "'label' values of type str: only numbers are metrics" in out
    lg = ledger.open("results")
    runs = {r.name: r for r in lg.runs()}
    base, broken = runs["baseline"], runs["broken"]
    assert base.project == "vision"
    assert (base.group, base.job_type, base.tags, base.doc["notes"]) == ("resnet", "train", ["base", "v2"], "first try")
    assert base.config == {"lr": 0.001, "opt": "adam", "model": {"layers": 3}, "extra": 5}
    assert base.status == "finished"
    assert broken.status == "failed"
    assert base.doc["imported_from"]["kind"] == "wandb"
    records = base.records()
    assert [r["_step"] for r in records] == [0, 10, 20, 30, 40]
    for r in records:
        step = r["_step"]
        assert r["loss"] == 1 / (step + 1)
        assert r["train.acc"] == step / 100
        assert r["epoch"] == step // 10
        assert same(r["bad"], math.nan if step == 20 else (math.inf if step == 30 else 0.5))
    assert base.summary["best"] == 0.75
    assert base.summary["loss"] == 1 / 41
    assert "hello from the run" in base.output()
    # wandb.save() made files/model.txt a symlink to the script's file: an import never follows one.
    assert not (Path(base.dir) / "files/model.txt").exists()
    assert "files/model.txt: a symlink, not followed; copy the file it points to by hand" in out
    assert (Path(base.dir) / "requirements.txt").exists()
    assert len(base.records("system")) >= 1

    # The same run as wandb's own reader shows it: every history row, step, time and value.
    (run_file,) = (wandb_dir).glob(f"offline-run-*-{base.doc['imported_from']['id']}/run-*.wandb")
    shown = inspect(run_file)
    rows = [rec["history"]["item"] for rec in shown if rec["type"] == "history"]
    numeric = [row for row in rows if row["_step"] < 50]
    assert len(numeric) == len(records)
    for row, rec in zip(numeric, records, strict=True):
        assert rec["_step"] == row["_step"]
        assert rec["_time"] == pytest.approx(row["_timestamp"], abs=1e-6)
        for key, value in row.items():
            if not key.startswith("_"):
                assert same(rec[key], number(value)), key
    (run_record,) = [rec["run"] for rec in shown if rec["type"] == "run"]
    started = _format.parse_iso(run_record["start_time"])
    assert _format.parse_iso(base.doc["created"]) == pytest.approx(started, abs=1e-3)


def test_imported_twice_is_not_duplicated(wandb_dir, ledger_cli):
    (one,) = [p for p in wandb_dir.glob("offline-run-*") if (p / "files" / "model.txt").exists()]
    assert ledger_cli("import", "wandb", str(next(one.glob("run-*.wandb"))), "--root", "results")[0] == 0  # a file
    code, out, _err = ledger_cli("import", "wandb", str(wandb_dir.parent), "--root", "results")  # the folder above
    assert code == 0
    assert "1 imported, 1 skipped" in out
    assert len(ledger.open("results").runs()) == 2
