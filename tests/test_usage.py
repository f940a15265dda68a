"""ledger du, and the budget warning for media and saved files."""

from __future__ import annotations

import json
import logging
import os

import numpy as np

import ledger
from tests.helpers import quiet_init


def _sizes_on_disk(folder):
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_du_figures_equal_the_bytes_on_disk(tmp_dir, ledger_cli):
    for group, n in (("a", 2), ("b", 1)):
        for _ in range(n):
            with ledger.init("p", root="results", group=group, system_metrics=False) as run:
                print("hello")
                run.log({"x": 1.0, "img": ledger.Image(np.zeros((8, 8), np.uint8))})
                (tmp_dir / "w.bin").write_bytes(os.urandom(5000))
                run.save("w.bin")
    root = tmp_dir / "results"
    runs_bytes = _sizes_on_disk(root / "p/runs")
    code, out, _ = ledger_cli("du", "--root", str(root), "--by", "kind", "--format", "json")
    assert code == 0
    rows = {r["kind"]: r for r in json.loads(out)}
    assert sum(r["bytes"] for r in rows.values()) == runs_bytes
    assert rows["files"]["bytes"] == 3 * 5000
    assert rows["media"]["files"] == 3
    assert rows["metrics"]["bytes"] == sum(p.stat().st_size for p in root.glob("p/runs/*/metrics.jsonl"))
    assert rows["logs"]["bytes"] == sum(p.stat().st_size for p in root.glob("p/runs/*/output.log"))
    assert list(rows) == sorted(rows, key=lambda k: -rows[k]["bytes"])  # largest first

    _, out, _ = ledger_cli("du", "--root", str(root), "--by", "group", "--format", "json")
    groups = {r["group"]: r for r in json.loads(out)}
    assert groups["a"]["runs"] == 2
    assert groups["b"]["runs"] == 1
    assert groups["a"]["bytes"] + groups["b"]["bytes"] == runs_bytes
    _, out, _ = ledger_cli("du", "--root", str(root), "--by", "run", "--format", "json")
    assert {r["run"]: r["bytes"] for r in json.loads(out)} == {
        d.name: _sizes_on_disk(d) for d in (root / "p/runs").iterdir()
    }


def test_over_budget_runs_warn_at_finish_with_lfs_lines(tmp_dir, caplog, monkeypatch):
    caplog.set_level(logging.WARNING, logger="ledger")
    monkeypatch.setenv("LEDGER_MEDIA_BUDGET_MB", "0.01")  # 10 KB
    (tmp_dir / "model.pt").write_bytes(os.urandom(20_000))
    run = quiet_init("p", root="results")
    run.save("model.pt")
    run.log({"img": ledger.Image(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8))})
    run.finish()
    assert f"run {run.id} holds" in caplog.text
    assert "over its budget of 10.2 KB ($LEDGER_MEDIA_BUDGET_MB); largest: files/model.pt (19.5 KB)" in caplog.text
    assert "**/runs/*/**/*.pt filter=lfs diff=lfs merge=lfs -text" in caplog.text


def test_under_budget_is_quiet(tmp_dir, caplog):
    run = quiet_init("p", root="results")
    run.log({"img": ledger.Image(np.zeros((4, 4), np.uint8))})
    run.finish()
    assert "over its budget" not in caplog.text
