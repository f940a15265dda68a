"""The same ledger on a real S3-compatible server (SeaweedFS): segments, compaction, outages."""

from __future__ import annotations

import logging
import threading
import time

import pytest

import ledger
from ledger import _maintenance
from ledger._storage import open_storage
from tests.helpers import history, manifest, quiet_init, start_python
from tests.s3server import SeaweedS3


def _names(root, run):
    return sorted(e.name for e in open_storage(root).list_dir(f"{run.project}/runs/{run.id}"))


def test_runs_write_one_segment_per_flush_and_resume_continues_the_count(s3_root, tmp_dir):
    run = quiet_init("p", root=s3_root, flush_interval=3600, config={"lr": 0.1})
    for i in range(10):
        run.log({"i": i})
    run._flush_sinks()
    for i in range(10, 15):
        run.log({"i": i})
    run.finish()
    assert [n for n in _names(s3_root, run) if n.startswith("metrics")] == ["metrics.0.jsonl", "metrics.1.jsonl"]
    again = quiet_init("p", root=s3_root, resume=run.id)
    again.log({"i": 15})
    again.finish()
    assert [n for n in _names(s3_root, run) if n.startswith("metrics")] == [
        "metrics.0.jsonl", "metrics.1.jsonl", "metrics.2.jsonl",
    ]  # fmt: skip
    assert [r["i"] for r in history(s3_root, "p", run.id)] == list(range(16))
    assert [r["_step"] for r in history(s3_root, "p", run.id)] == list(range(16))
    assert manifest(s3_root, "p", run.id).config == {"lr": 0.1}


def test_compact_merges_segments_and_refuses_running_runs(s3_root, ledger_cli, tmp_dir):
    run = quiet_init("p", root=s3_root, flush_interval=3600)
    for i in range(6):
        run.log({"i": i})
        run._flush_sinks()
    code, _, err = ledger_cli("compact", "--root", s3_root, run.id)
    assert code == 1
    assert "is still running; compact it after it ends" in err
    run.finish()
    code, out, _ = ledger_cli("compact", "--root", s3_root, run.id)
    assert code == 0
    assert out.strip() == f"{run.id}: merged 6 segments"
    assert [n for n in _names(s3_root, run) if n.startswith("metrics")] == ["metrics.jsonl"]
    assert [r["i"] for r in history(s3_root, "p", run.id)] == list(range(6))


def test_an_interrupted_compaction_never_duplicates_records(s3_root, tmp_dir):
    run = quiet_init("p", root=s3_root, flush_interval=3600)
    for i in range(4):
        run.log({"i": i})
        run._flush_sinks()
    run.finish()
    storage = open_storage(s3_root)
    folder = f"p/runs/{run.id}"
    # What compact() does, stopped after the merged file and the first deletion:
    merged = b"".join(storage.read_bytes(f"{folder}/metrics.{n}.jsonl") for n in range(4))
    storage.write_atomic(f"{folder}/metrics.jsonl", merged)
    storage.remove(f"{folder}/metrics.0.jsonl")
    assert [r["i"] for r in history(s3_root, "p", run.id)] == [0, 1, 2, 3]
    assert _maintenance.compact(storage, "p", run.id) == 0  # finishes the job, merges nothing twice
    assert [n for n in _names(s3_root, run) if n.startswith("metrics")] == ["metrics.jsonl"]
    assert [r["i"] for r in history(s3_root, "p", run.id)] == [0, 1, 2, 3]


def test_compact_on_finish(s3_root, monkeypatch, tmp_dir):
    monkeypatch.setenv("LEDGER_COMPACT_ON_FINISH", "1")
    run = ledger.init("p", root=s3_root, flush_interval=3600, system_metrics=False)
    print("to the log")
    run.log({"i": 0})
    run._flush_sinks()
    run.log({"i": 1})
    run.finish()
    assert _names(s3_root, run) == ["metrics.jsonl", "output.log", "requirements.txt", "run.yaml"]
    lg = ledger.open(s3_root)
    assert [r["i"] for r in lg.run(run.id).records()] == [0, 1]
    assert lg.run(run.id).output() == "to the log\n"


def test_credentials_are_never_written_into_the_ledger(s3_root, s3_server, tmp_dir):
    secret = s3_server.env["AWS_SECRET_ACCESS_KEY"]
    key = s3_server.env["AWS_ACCESS_KEY_ID"]
    run = ledger.init(
        "p", root=s3_root, config={"lr": 1}, system_metrics=0.05, storage_options={"key": key, "secret": secret}
    )
    run.log({"a": 1.0})
    print("training")
    time.sleep(0.1)
    run.finish()
    ledger.open(s3_root).runs().to_pandas()  # writes the index cache too
    storage = open_storage(s3_root)
    everything = storage.fs.find(storage.root)
    assert len(everything) >= 5
    for path in everything:
        data = storage.fs.cat_file(path)
        assert secret.encode() not in data, path
        assert key.encode() not in data, path


@pytest.mark.slow
def test_an_outage_of_20_s_never_blocks_training_and_loses_nothing(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="ledger")
    server = SeaweedS3(tmp_path / "own-server")  # its own server: this test stops it
    server.start()
    try:
        server.make_bucket("outage")
        for k, v in server.env.items():
            monkeypatch.setenv(k, v)
        # Explicit options: fsspec caches filesystems by their arguments, so the session
        # server's instance (same environment, no arguments) would be reused otherwise.
        options = {"client_kwargs": {"endpoint_url": server.endpoint}}
        run = ledger.init(
            "p",
            root="s3://outage/results",
            flush_interval=0.5,
            system_metrics=False,
            capture_output=False,
            storage_options=options,
        )
        events: dict[str, float] = {}

        def outage() -> None:
            time.sleep(2)
            server.stop()
            time.sleep(20)
            server.start()
            events["up"] = time.monotonic()

        chaos = threading.Thread(target=outage)
        chaos.start()
        i, worst_gap, last = 0, 0.0, time.monotonic()
        while chaos.is_alive() or time.monotonic() < events.get("up", float("inf")) + 3:
            run.log({"i": i})  # the training loop: must never raise or stall
            i += 1
            time.sleep(0.01)
            now = time.monotonic()
            worst_gap, last = max(worst_gap, now - last), now
        chaos.join()
        run.finish()
        assert "could not write" in caplog.text
        assert "storage is back" in caplog.text
        assert worst_gap < 5.0  # the loop never waited for the 20 s outage
        assert [r["i"] for r in history("s3://outage/results", "p", run.id, options)] == list(range(i))
        assert manifest("s3://outage/results", "p", run.id, options).status == "finished"
    finally:
        server.stop()


@pytest.mark.slow
def test_sixteen_processes_log_twenty_thousand_records_each_on_s3(s3_root, s3_server, tmp_path):
    code = f"""
import ledger
run = ledger.init("many", root={s3_root!r}, capture_output=False, system_metrics=False, flush_interval=2)
for i in range(20_000):
    run.log({{"i": i}})
run.finish()
print(run.id)
"""
    procs = [start_python(code, tmp_path, env=s3_server.env) for _ in range(16)]
    ids = []
    for proc in procs:
        with proc:
            out, err = proc.communicate(timeout=900)
            assert proc.returncode == 0, err
            ids.append(out.strip())
    assert len(set(ids)) == 16
    for run_id in ids:
        assert [r["i"] for r in history(s3_root, "many", run_id)] == list(range(20_000))
