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
    return write_offline_runs(WRITE, tmp_path_factory.mktemp("wandb-runs"))


def write_offline_runs(script: str, tmp_path: Path) -> Path:
    """Run ``script`` (wandb in offline mode, its settings and caches in ``tmp_path``); the
    wandb/ folder it wrote."""
    env = {
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "WANDB_DIR": str(tmp_path),
        "WANDB_CONFIG_DIR": str(tmp_path / ".wandb-config"),
        "WANDB_CACHE_DIR": str(tmp_path / ".wandb-cache"),
        "WANDB_DATA_DIR": str(tmp_path / ".wandb-data"),
    }
    proc = run_python(script, tmp_path, env=env)
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


FIVE = """
import numpy as np, wandb
for i in range(5):
    run = wandb.init(project="five", name=f"run-{i}", config={"i": i})
    for step in range(3):
        row = {"loss": 1.0 / (i + step + 1)}
        if i == 0:
            row["sample"] = wandb.Image(np.full((8, 8, 3), step * 40, dtype=np.uint8))
            row["preds"] = wandb.Table(columns=["x", "y"], data=[[step, step * 2]])
        run.log(row, step=step)
    run.finish()
"""


@pytest.fixture(scope="module")
def five_runs(tmp_path_factory) -> Path:
    """Five offline runs by wandb itself; run-0 logs images and tables."""
    return write_offline_runs(FIVE, tmp_path_factory.mktemp("wandb-five"))


def test_one_unreadable_run_of_five_is_reported_and_the_four_others_imported(five_runs, tmp_path, ledger_cli):
    """A run killed while wandb wrote its first records (its file cut after 40 bytes): the
    import goes on, imports the four others, names the broken one with the reason, exits 1."""
    folder = tmp_path / "wandb"
    shutil.copytree(five_runs, folder, symlinks=True)
    runs = sorted(p for p in folder.glob("offline-run-*"))
    assert len(runs) == 5
    (victim,) = runs[2].glob("run-*.wandb")
    victim.write_bytes(victim.read_bytes()[:40])
    code, out, err = ledger_cli("import", "wandb", str(folder), "--root", "results")
    assert code == 1
    assert "4 imported, 0 skipped (already imported), 1 failed" in out
    assert (
        f"failed wandb run {victim.stem[len('run-') :]} ({victim}): {victim}: no run record in it (a torn record" in err
    )
    assert "could not import 1 of 5 runs" in err
    names = sorted(r.name for r in ledger.open("results").runs())
    assert len(names) == 4
    assert set(names) < {f"run-{i}" for i in range(5)}
    code, out, _err = ledger_cli("import", "wandb", str(folder), "--root", "results")  # again: only the broken one
    assert code == 1
    assert "0 imported, 4 skipped (already imported), 1 failed" in out


def test_media_and_tables_are_listed_not_imported_as_metrics(five_runs, ledger_cli):
    code, out, err = ledger_cli("import", "wandb", str(five_runs), "--root", "results")
    assert code == 0, err
    assert "'sample': 3 W&B image-file values (media and tables are listed, not imported as metrics" in out
    assert "'preds': 3 W&B table-file values" in out
    run = next(r for r in ledger.open("results").runs() if r.name == "run-0")
    assert {k for rec in run.records() for k in rec} == {"_step", "_time", "loss"}  # no sample.width & co
    assert set(run.summary) == {"loss"}
    assert any(name.startswith("media/images/") for name in run.files())  # the files themselves are kept
