"""Many writers on one root, and runs that continue in another process."""

from __future__ import annotations

import time

import pytest

import ledger
from ledger import _format
from tests.helpers import all_runs, history, manifest, quiet_init, run_python, start_python


@pytest.mark.slow
def test_eight_processes_fifty_runs_each_give_400_complete_runs(tmp_path):
    code = """
import sys, ledger
worker = int(sys.argv[1]) if len(sys.argv) > 1 else 0
for n in range({runs}):
    with ledger.init("shared", root="results", config={{"worker": WORKER, "n": n}},
                     capture_output=False, system_metrics=False) as run:
        for step in range(20):
            run.log({{"worker": WORKER, "n": n, "step_copy": step}})
print("done")
"""
    procs = [start_python(code.format(runs=50).replace("WORKER", str(w)), tmp_path) for w in range(8)]
    for proc in procs:
        with proc:
            out, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, err
            assert "done" in out

    runs = all_runs(tmp_path / "results", "shared")
    assert len(runs) == 400
    assert len({m.id for m in runs}) == 400
    assert sorted((m.config["worker"], m.config["n"]) for m in runs) == [(w, n) for w in range(8) for n in range(50)]
    for m in runs:
        assert m.status == "finished"
        recs = history(tmp_path / "results", "shared", m.id)
        assert [(r["worker"], r["n"], r["step_copy"]) for r in recs] == [
            (m.config["worker"], m.config["n"], s) for s in range(20)
        ]


def test_resume_across_two_processes(tmp_path):
    first = """
import ledger, time
run = ledger.init("p", root="results", config={"lr": 0.1}, system_metrics=False)
run.define_metric("loss", summary="min")
for i in range(10):
    run.log({"loss": 1.0 / (i + 1), "epoch": i})
time.sleep(0.3)
print(run.id)
"""
    proc = run_python(first, tmp_path)
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.strip()
    before = manifest(tmp_path / "results", "p", run_id)
    assert before.status == "finished"

    second = f"""
import ledger, time
run = ledger.init("p", root="results", resume="{run_id}", system_metrics=False)
for i in range(10, 15):
    run.log({{"loss": 0.5, "epoch": i}})
time.sleep(0.2)
run.finish()
"""
    time.sleep(0.5)  # a gap between the two intervals that must not count as active time
    proc = run_python(second, tmp_path)
    assert proc.returncode == 0, proc.stderr

    m = manifest(tmp_path / "results", "p", run_id)
    recs = history(tmp_path / "results", "p", run_id)
    assert [r["_step"] for r in recs] == list(range(15))
    assert [r["epoch"] for r in recs] == list(range(15))
    assert m.status == "finished"
    assert m.config == {"lr": 0.1}
    assert len(m.intervals) == 2
    spans = [_format.parse_iso(i["end"]) - _format.parse_iso(i["start"]) for i in m.intervals]
    assert m.duration_s == pytest.approx(sum(spans), abs=0.01)
    wall = _format.parse_iso(m.intervals[1]["end"]) - _format.parse_iso(m.intervals[0]["start"])
    assert m.duration_s < wall - 0.4
    assert m.summary["epoch"] == 14
    assert m.summary["loss"] == 0.5  # last value (define_metric lives in the process that set it)


def test_resume_after_a_crash_cuts_the_torn_tail_and_continues(tmp_dir, caplog):
    run = quiet_init("p", root="results")
    for i in range(3):
        run.log({"i": i})
    run.finish()
    metrics = tmp_dir / "results/p/runs" / run.id / "metrics.jsonl"
    with metrics.open("ab") as f:
        f.write(b'{"_step":3,"i":')
    again = quiet_init("p", root="results", resume=run.id)
    assert "skipped a torn last line" in caplog.text
    again.log({"i": 3})
    again.finish()
    recs = history(tmp_dir / "results", "p", run.id)
    assert [(r["_step"], r["i"]) for r in recs] == [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert metrics.read_bytes().count(b"\n") == 4


def test_resume_of_a_live_run_is_refused(tmp_dir):
    run = quiet_init("p", root="results")
    with pytest.raises(ledger.RunStateError, match="still running elsewhere"):
        quiet_init("p", root="results", resume=run.id)
    run.finish()


def test_resume_of_an_unknown_run_says_where_it_looked(tmp_dir):
    quiet_init("p", root="results").finish()
    with pytest.raises(
        ledger.RunNotFoundError, match=r"no run '20200101-000000-abcdef' in .*results \(looked in project: p\)"
    ):
        quiet_init(root="results", resume="20200101-000000-abcdef")
