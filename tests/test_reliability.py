"""Faults and hostile input, each with the exact outcome: kills, full disks, many writers, fuzzing, secrets."""

from __future__ import annotations

import json
import math
import random
import signal
import subprocess
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ledger
from ledger import _format, _reader
from ledger._storage import open_storage
from ledger._verify import verify
from tests.helpers import all_runs, git, history, manifest, new_repo, quiet_init, run_python, start_python

LOGGER = """
import sys, time, ledger
run = ledger.init("p", root="results", system_metrics=False, flush_interval={flush})
print(run.id, flush=True)
i = 0
while True:
    run.log({{"i": i, "t": time.time()}})
    i += 1
    time.sleep(0.0005)
"""


@pytest.mark.slow
def test_kill_9_at_random_moments_in_50_runs(tmp_path):
    """Every run folder readable, nothing older than one flush interval lost, all crashed."""
    flush, heartbeat = 0.2, 0.3
    rng = random.Random(1234)
    killed: dict[str, float] = {}
    for batch in range(10):
        procs = [
            start_python(LOGGER.format(flush=flush), tmp_path, env={"LEDGER_HEARTBEAT_INTERVAL": str(heartbeat)})
            for _ in range(5)
        ]
        for proc in procs:
            run_id = proc.stdout.readline().strip()
            time.sleep(rng.uniform(0.05, 1.2))  # a random moment: mid-flush, mid-heartbeat, between
            killed[run_id] = time.time()
            proc.send_signal(signal.SIGKILL)
        for proc in procs:
            proc.wait(timeout=60)
            proc.stdout.close()
            proc.stderr.close()
        assert len(killed) == 5 * (batch + 1)
    time.sleep(_format.STALE_AFTER_INTERVALS * heartbeat + 0.1)
    runs = {m.id: m for m in all_runs(tmp_path / "results")}
    assert set(runs) == set(killed)
    for run_id, killed_at in killed.items():
        assert runs[run_id].effective_status() == "crashed"
        records = history(tmp_path / "results", "p", run_id)
        assert [r["i"] for r in records] == list(range(len(records)))  # nothing missing in between
        # Everything logged before the last flush interval (plus scheduling slack) is there.
        if records:
            assert records[-1]["t"] >= killed_at - flush - 0.3
        else:  # killed before the first flush ever happened
            assert killed_at - _format.parse_iso(runs[run_id].created) < flush + 0.3
    report = verify(open_storage(str(tmp_path / "results")))
    assert report.errors == []  # torn last lines at most, never corruption
    assert report.runs == 50
    assert len(report.crashed) == 50


def test_a_full_disk_leaves_whole_files_and_a_clear_message(tmp_path):
    """RLIMIT_FSIZE stands in for a disk that fills up during the run."""
    code = """
import pathlib, resource, signal, ledger
run = ledger.init("p", root="results", system_metrics=False, capture_output=False, flush_interval=3600)
for i in range(300):
    run.log({"i": i, "pad": 1.0})
run._flush_sinks()
metrics = pathlib.Path(run.dir) / "metrics.jsonl"
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = metrics.stat().st_size + 1000  # no file may grow past this: the next flush cannot fit
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
for i in range(300, 400):
    run.log({"i": i, "pad": 1.0})
run.finish()
print("finished normally")
"""
    proc = run_python(code, tmp_path, env={"LEDGER_SPILL_DIR": str(tmp_path / "spill")})
    assert proc.returncode == 0, proc.stderr
    assert "finished normally" in proc.stdout
    assert "could not write" in proc.stderr
    assert "run `ledger recover`" in proc.stderr
    (m,) = all_runs(tmp_path / "results")
    assert m.status == "finished"  # run.yaml is small enough to be replaced whole
    records = _reader.read_stream(open_storage(str(tmp_path / "results")), _format.run_dir("p", m.id))
    assert records.corrupt == []
    assert records.torn == []  # the cut-short append was rolled back
    assert [r["i"] for r in records.records] == list(range(300))
    spilled = (tmp_path / "spill/p" / m.id / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["i"] for line in spilled] == list(range(300, 400))


def test_when_even_the_spill_fails_finish_says_what_is_lost_and_returns(tmp_dir, caplog, monkeypatch):
    (tmp_dir / "not-a-folder").write_text("x")
    monkeypatch.setenv("LEDGER_SPILL_DIR", str(tmp_dir / "not-a-folder"))
    run = quiet_init("p", root="results", flush_interval=3600)
    for i in range(7):
        run.log({"i": i})
    folder = tmp_dir / "results/p/runs" / run.id
    folder.rename(tmp_dir / "away")
    folder.write_text("a file where the run folder was")
    run.finish()
    assert "and not kept in a local spill either" in caplog.text
    assert ": 7 records and lines are lost" in caplog.text


@pytest.mark.slow
def test_sixteen_processes_log_twenty_thousand_records_each(tmp_path):
    """On a local folder; the S3 variant is in test_s3.py."""
    code = """
import ledger
run = ledger.init("many", root="results", capture_output=False, system_metrics=False)
for i in range(20_000):
    run.log({"i": i})
run.finish()
print(run.id)
"""
    procs = [start_python(code, tmp_path) for _ in range(16)]
    ids = []
    for proc in procs:
        with proc:
            out, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, err
            ids.append(out.strip())
    assert len(set(ids)) == 16
    for run_id in ids:
        assert [r["i"] for r in history(tmp_path / "results", "many", run_id)] == list(range(20_000))


# ---- fuzzing ------------------------------------------------------------------------------------

finite_or_not = st.floats(allow_nan=True, allow_infinity=True)
keys = st.text(min_size=1, max_size=20).filter(lambda k: k not in ("_step", "_time") and "/" not in k)
values = st.one_of(finite_or_not, st.integers(min_value=-(2**80), max_value=2**80), st.booleans())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.dictionaries(keys, values, min_size=1, max_size=6), min_size=1, max_size=5))
def test_any_number_and_unicode_key_survives_write_and_read(tmp_path, batch):
    root = tmp_path / f"r{random.getrandbits(40)}"
    run = quiet_init("p", root=str(root))
    for rec in batch:
        run.log(rec)
    run.finish()
    got = history(root, "p", run.id)
    assert len(got) == len(batch)
    for sent, back in zip(batch, got, strict=True):
        assert set(back) == {*sent, "_step", "_time"}
        for k, v in sent.items():
            if isinstance(v, float) and math.isnan(v):
                assert math.isnan(back[k])
            else:
                assert back[k] == v
                assert type(back[k]) is type(v)
                if isinstance(v, float):
                    assert math.copysign(1, back[k]) == math.copysign(1, v)


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz") / "results"
    with ledger.init("p", root=str(root), config={"lr": 0.1}, system_metrics=False, capture_output=False) as run:
        for i in range(20):
            run.log({"loss": 1 / (i + 1), "nan": math.nan})
    folder = root / "p/runs" / run.id
    return root, run.id, (folder / "metrics.jsonl").read_bytes(), (folder / "run.yaml").read_bytes()


@settings(max_examples=150, deadline=None)
@given(
    cut=st.integers(min_value=0, max_value=10_000),
    garbage=st.binary(max_size=300),
    which=st.sampled_from(["metrics", "manifest"]),
)
def test_truncation_or_garbage_never_crashes_a_reader(sample_run, cut, garbage, which):
    root, run_id, metrics, manifest_bytes = sample_run
    folder = root / "p/runs" / run_id
    try:
        if which == "metrics":
            (folder / "metrics.jsonl").write_bytes(metrics[: cut % (len(metrics) + 1)] + garbage)
        else:
            (folder / "run.yaml").write_bytes(manifest_bytes[: cut % (len(manifest_bytes) + 1)] + garbage)
        storage = open_storage(str(root))
        stream = _reader.read_stream(storage, _format.run_dir("p", run_id))  # reports, skips, never raises
        assert all(isinstance(r, dict) for r in stream.records)
        lg = ledger.open(root, cache=False)
        assert len(lg) + len(lg.skipped) == 1  # the run, or a message naming its manifest
        report = verify(storage)
        assert report.runs == 1
    finally:
        (folder / "metrics.jsonl").write_bytes(metrics)
        (folder / "run.yaml").write_bytes(manifest_bytes)


# ---- secrets --------------------------------------------------------------------------------------


def test_a_planted_token_reaches_no_file_of_the_run(tmp_path):
    token = "tok_9f8e7d6c5b4a3210fedcba"
    repo = new_repo(tmp_path / "proj")
    git(repo, "remote", "add", "origin", f"https://ada:{token}@github.com/ada/proj.git")
    (repo / "train.py").write_text(
        "import ledger, sys\n"
        "with ledger.init('p', root='results', system_metrics=False) as run:\n"
        "    run.log({'a': 1.0})\n"
        "    print('args', len(sys.argv))\n"
    )
    git(repo, "add", "train.py")
    git(repo, "commit", "-qm", "train")
    proc = subprocess.run(
        ["python" if False else __import__("sys").executable, "train.py", "--api-key", token, f"--token={token}",
         f"HF_KEY={token}", "--lr", "0.1"],
        cwd=repo, capture_output=True, text=True, check=False,
        env={**__import__("os").environ, "WANDB_API_KEY": token, "SECRET_THING": token},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    files = [p for p in (repo / "results").rglob("*") if p.is_file()]
    assert len(files) >= 4
    for path in files:
        assert token.encode() not in path.read_bytes(), path
    (m,) = all_runs(repo / "results")
    assert m.command["argv"][1:] == ["--api-key", "***", "--token=***", "HF_KEY=***", "--lr", "0.1"]
    assert m.git["remote"] == "https://github.com/ada/proj.git"
    assert manifest(repo / "results", "p", m.id).user
