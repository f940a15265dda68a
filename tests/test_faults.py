"""Storage that fails under a running training: nothing raised into the loop, nothing lost."""

from __future__ import annotations

import logging
import os
import time

from tests.helpers import history, manifest, quiet_init


def _break(run_dir):
    """Make the run folder unwritable for real: a plain file now stands where it was."""
    os.rename(run_dir, f"{run_dir}.away")
    run_dir.write_text("not a folder")


def _repair(run_dir):
    run_dir.unlink()
    os.rename(f"{run_dir}.away", run_dir)


def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_outage_mid_run_keeps_records_and_writes_them_when_storage_returns(tmp_dir, caplog):
    caplog.set_level(logging.WARNING, logger="ledger")
    run = quiet_init("p", root="results", flush_interval=0.05)
    run_dir = tmp_dir / "results/p/runs" / run.id
    for i in range(5):
        run.log({"i": i})
    run._flush_sinks()
    _break(run_dir)
    for i in range(5, 10):
        run.log({"i": i})  # the loop never sees the failure
    _wait_for(lambda: "could not write 5 items" in caplog.text)
    assert "kept in memory and retried at every flush" in caplog.text
    _repair(run_dir)
    for i in range(10, 15):
        run.log({"i": i})
    _wait_for(lambda: "storage is back" in caplog.text)
    run.finish()
    assert [r["i"] for r in history(tmp_dir / "results", "p", run.id)] == list(range(15))
    assert manifest(tmp_dir / "results", "p", run.id).status == "finished"


def test_storage_down_until_finish_spills_locally_and_recover_uploads_it(tmp_dir, caplog, monkeypatch, ledger_cli):
    monkeypatch.setenv("LEDGER_SPILL_DIR", str(tmp_dir / "spill"))
    run = quiet_init("p", root="results", flush_interval=3600)
    run_dir = tmp_dir / "results/p/runs" / run.id
    for i in range(3):
        run.log({"i": i})
    _break(run_dir)
    run.finish()  # reports, does not raise: the training's own result matters more
    spill = tmp_dir / "spill/p" / run.id
    assert f"could not be written to {run_dir}" in caplog.text
    assert f"kept in {spill}; run `ledger recover`" in caplog.text
    lines = (spill / "metrics.jsonl").read_text().splitlines()
    assert [line.split('"i":')[1].rstrip("}") for line in lines] == ["0", "1", "2"]
    assert "status: finished" in (spill / "run.yaml").read_text()
    assert f"root: {tmp_dir / 'results'}" in (spill / "spill.yaml").read_text()

    code, out, err = ledger_cli("recover")
    assert code == 1  # storage still broken: the spill is kept
    assert "not recovered, the storage still fails" in err
    assert (spill / "metrics.jsonl").exists()

    _repair(run_dir)
    code, out, _ = ledger_cli("recover")
    assert code == 0
    assert out.strip() == f"{run.id}: 2 files written to {tmp_dir / 'results'}"
    assert not spill.exists()
    assert [r["i"] for r in history(tmp_dir / "results", "p", run.id)] == [0, 1, 2]
    assert manifest(tmp_dir / "results", "p", run.id).status == "finished"
    code, out, _ = ledger_cli("recover")
    assert out.strip().startswith("nothing to recover")
