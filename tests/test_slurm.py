"""Sweeps on a real SLURM cluster (tests/slurmcluster.py): agents as a job array, time limits,
preemption, requeue and resume, and what runs record about their allocation."""

from __future__ import annotations

import itertools
import textwrap
import time
from pathlib import Path

import pytest
import yaml

import ledger
from ledger.sweeps._slurm import parse_time

pytestmark = pytest.mark.slow

GRID = """
    project: p
    method: grid
    metric: {name: score, goal: maximize}
    program: train.py
    parameters:
      lr: {values: [0.1, 0.01, 0.001]}
      width: {values: [8, 16]}
"""
QUICK = """
    import time
    import ledger

    run = ledger.init(config={"lr": 0.0, "width": 0})
    for step in range(3):
        time.sleep(0.2)
        run.log({"score": run.config["lr"] * run.config["width"] + step})
    run.finish()
"""
# A trial that follows the resume convention: slow at first (it outlives a one-minute limit),
# quick once resumed, so the test does not wait for a second time limit.
RESUMING = """
    import os
    import time
    import ledger
    import ledger.sweeps

    run = ledger.init(config={"lr": 0.0})
    ckpt = os.path.join(ledger.sweeps.checkpoint_dir(), "epoch.txt")
    start = 0
    if ledger.sweeps.resumed() and os.path.exists(ckpt):
        start = int(open(ckpt).read()) + 1
    pause = 0.05 if start else 1.0
    for epoch in range(start, 200):
        run.log({"score": epoch * run.config["lr"], "epoch": epoch}, step=epoch)
        with open(ckpt + ".tmp", "w") as f:
            f.write(str(epoch))
        os.replace(ckpt + ".tmp", ckpt)
        time.sleep(pause)
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def _sweep(ledger_cli, tmp_path: Path, config: str, program: str) -> str:
    _write(tmp_path / "sweep.yaml", config)
    _write(tmp_path / "train.py", program)
    code, out, err = ledger_cli("sweep", "create", "sweep.yaml", "--root", "results")
    assert code == 0, err
    return out.split()[2]


def test_parse_time_takes_every_spelling_sbatch_takes():
    assert parse_time("30") == 1800
    assert parse_time("1:30") == 90
    assert parse_time("2:00:00") == 7200
    assert parse_time("1-12") == 36 * 3600
    assert parse_time("1-0:30") == 86400 + 1800
    assert parse_time("0-0:0:20") == 20
    with pytest.raises(ValueError, match="not a SLURM time limit"):
        parse_time("1h")


def test_dry_run_prints_the_script_and_submits_nothing(slurm, ledger_cli, tmp_path):
    sweep_id = _sweep(ledger_cli, tmp_path, GRID, QUICK)
    code, out, err = ledger_cli(
        "sweep", "launch", sweep_id, "--root", "results", "--slurm", "--agents", "3", "--partition", "debug",
        "--time", "10", "--gpus-per-agent", "1", "--cpus-per-agent", "2", "--mem", "1G",
        "--sbatch-arg=--qos=normal", "--sbatch-arg=--account=lab", "--requeue", "--dry-run",
    )  # fmt: skip
    assert code == 0, err
    directives = [line.split(None, 1)[1] for line in out.splitlines() if line.startswith("#SBATCH")]
    assert directives[1:2] == ["--array=0-2"]
    for wanted in ("--partition=debug", "--time=10", "--gres=gpu:1", "--cpus-per-task=2", "--mem=1G", "--requeue"):
        assert wanted in directives
    assert "--signal=B:USR1@120" in directives  # 2 minutes before a 10-minute limit
    assert directives[-2:] == ["--qos=normal", "--account=lab"]  # last: they override ours
    assert f"-m ledger agent {sweep_id} --root " in out
    assert "scontrol requeue" in out
    assert slurm.jobs() == []  # nothing submitted
    assert not (tmp_path / "results" / "p" / "sweeps" / sweep_id / "slurm").exists()  # nothing recorded
    for option, value, message in (
        ("--time", "1h", "not a SLURM time limit"),
        ("--partition", "gpu\nrm -rf ~", "give partition names"),  # nothing but the option lands in the script
        ("--mem", "16G --wrap=x", "give a size as sbatch takes it"),
        ("--sbatch-arg", "--qos=low\nrm -rf ~", "one sbatch option per --sbatch-arg"),
    ):
        code, out, err = ledger_cli(
            "sweep", "launch", sweep_id, "--root", "results", "--slurm", option, value, "--dry-run"
        )
        assert code == 2, option
        assert message in err


def test_three_agents_cover_a_six_point_grid_once(slurm, ledger_cli, tmp_path):
    sweep_id = _sweep(ledger_cli, tmp_path, GRID, QUICK)
    code, out, err = ledger_cli("sweep", "launch", sweep_id, "--root", "results", "--slurm", "--agents", "3")
    assert code == 0, err
    assert out.startswith("submitted SLURM job ")
    job_id = out.split()[3].rstrip(":")
    folder = tmp_path / "results" / "p" / "sweeps" / sweep_id / "slurm"
    (script,) = folder.glob("*.sbatch")
    record = yaml.safe_load(script.with_suffix(".yaml").read_text())
    assert record["job_id"] == job_id
    assert record["agents"] == 3
    assert "#SBATCH --array=0-2" in script.read_text()

    slurm.wait_until_empty()
    tasks = {f"{job_id}_{i}" for i in range(3)}
    assert {t: slurm.show_job(t)["JobState"] for t in tasks} == dict.fromkeys(tasks, "COMPLETED")

    runs = ledger.open("results").runs(project="p")
    assert len(runs) == 6
    assert {r.status for r in runs} == {"finished"}
    points = sorted((r.config["lr"], r.config["width"]) for r in runs)
    assert points == sorted(itertools.product([0.1, 0.01, 0.001], [8, 16]))  # each point exactly once
    claims = sorted(p.name for p in (folder.parent / "claims").iterdir())
    assert claims == ["1", "2", "3", "4", "5", "6"]  # no trial claimed twice
    for run in runs:
        allocation = run.doc["allocation"]
        assert allocation["scheduler"] == "slurm"
        assert allocation["array_job_id"] == job_id
        assert allocation["array_task_id"] in (0, 1, 2)
        assert allocation["cpus"] == 1
        assert allocation["gpus"] == 0  # asked for none, so none are billed
        assert allocation["nodes"] == slurm.host
        assert run.doc["host"]["scheduler"]["SLURM_ARRAY_JOB_ID"] == job_id
    agents = [yaml.safe_load(p.read_text()) for p in (folder.parent / "agents").iterdir()]
    assert sorted(a["job"] for a in agents) == sorted(tasks)

    code, out, err = ledger_cli("sweep", "status", sweep_id, "--root", "results")
    assert code == 0, err
    assert "trials: 6 of 6 claimed: 6 finished" in out
    assert f"SLURM job {job_id} (3 agents" in out
    for task in sorted(tasks):
        assert f"task {task}: COMPLETED" in out
    code, out, _ = ledger_cli("sweep", "status", sweep_id, "--root", "results", "--format", "json")
    assert code == 0


def test_gpus_the_scheduler_allocated_are_what_compute_hours_count(slurm, ledger_cli, tmp_path):
    """The node has two GPUs for SLURM (no CUDA devices): a task given one records it, and its
    GPU hours count it although the process saw none."""
    sweep_id = _sweep(
        ledger_cli, tmp_path, GRID.replace("[0.1, 0.01, 0.001]", "[0.1]").replace("[8, 16]", "[8]"), QUICK
    )
    code, _, err = ledger_cli("sweep", "launch", sweep_id, "--root", "results", "--slurm", "--gpus-per-agent", "1")
    assert code == 0, err
    slurm.wait_until_empty()
    (run,) = ledger.open("results").runs(project="p")
    assert run.doc["gpu_count"] == 0  # the process saw no GPU
    assert run.doc["allocation"]["gpus"] == 1
    table = ledger.open("results").compute_hours(by="project")
    assert table["gpu_hours"].iloc[0] == pytest.approx(run.doc["duration_s"] / 3600, abs=1e-6)  # hours to 6 decimals
    assert table["allocated_runs"].iloc[0] == 1


def test_time_limits_preempt_and_the_trial_resumes(slurm, ledger_cli, tmp_path):
    """Two sweeps, one minute per task. With --requeue the task asks to be requeued before its
    limit: its trial is preempted and the requeued task continues the same run. Without, the
    limit's SIGTERM preempts the trial, and the next agent (a second launch) continues it."""
    config = GRID.replace("[0.1, 0.01, 0.001]", "[0.5]").replace("[8, 16]", "[8]")
    requeued_id = _sweep(ledger_cli, tmp_path, config, RESUMING)
    limited_id = _sweep(ledger_cli, tmp_path, config, RESUMING)
    code, out, err = ledger_cli(
        "sweep", "launch", requeued_id, "--root", "results", "--slurm", "--time", "1", "--requeue"
    )  # fmt: skip
    assert code == 0, err
    requeued_job = out.split()[3].rstrip(":")
    code, out, err = ledger_cli("sweep", "launch", limited_id, "--root", "results", "--slurm", "--time", "0:20")
    assert code == 0, err
    limited_job = out.split()[3].rstrip(":")

    slurm.wait_until_empty()
    assert slurm.show_job(f"{requeued_job}_0")["Restarts"] == "1"
    assert slurm.show_job(f"{requeued_job}_0")["JobState"] == "COMPLETED"
    assert slurm.show_job(f"{limited_job}_0")["JobState"] == "TIMEOUT"

    lg = ledger.open("results")
    (limited,) = lg.runs(project="p", where={"sweep.id": limited_id})
    assert limited.status == "killed"
    assert limited.doc["stop_reason"] == "preempted"
    assert f"terminated by signal SIGTERM in SLURM job {limited_job} (array {limited_job}_0)" in limited.doc["error"]
    assert limited.doc["sweep"]["resumable"] is True
    code, out, _ = ledger_cli("sweep", "status", limited_id, "--root", "results")
    assert "1 preempted" in out

    (requeued,) = lg.runs(project="p", where={"sweep.id": requeued_id})
    assert requeued.status == "finished"
    assert len(requeued.doc["intervals"]) == 2  # preempted once, continued once
    assert "stop_reason" not in requeued.doc
    epochs = requeued.history()["epoch"].tolist()
    assert epochs == list(range(200))  # no step lost, none repeated
    assert requeued.doc["duration_s"] == pytest.approx(
        sum(
            ledger._format.parse_iso(i["end"]) - ledger._format.parse_iso(i["start"]) for i in requeued.doc["intervals"]
        ),
        abs=0.01,
    )
    assert requeued.doc["allocation"]["restart_count"] == 1  # recorded by the task that continued it
    claims = sorted(p.name for p in (tmp_path / "results" / "p" / "sweeps" / requeued_id / "claims").iterdir())
    assert claims == ["1", "1.1"]
    first = yaml.safe_load((tmp_path / "results" / "p" / "sweeps" / requeued_id / "claims" / "1").read_text())
    assert first["outcome"] == "preempted"

    # The limited sweep's trial waits for the next agent: a second launch continues its run.
    code, out, err = ledger_cli("sweep", "launch", limited_id, "--root", "results", "--slurm")
    assert code == 0, err
    slurm.wait_until_empty()
    (limited,) = ledger.open("results").runs(project="p", where={"sweep.id": limited_id})
    assert limited.status == "finished"
    assert len(limited.doc["intervals"]) == 2
    assert limited.history()["epoch"].tolist() == list(range(200))


SLEEPY = """
    import time
    import ledger

    run = ledger.init(config={"lr": 0.0, "width": 0})
    for step in range(600):
        run.log({"score": step})
        time.sleep(0.5)
"""


def test_stop_cancel_scancels_the_jobs_and_no_trial_is_taken_up(slurm, ledger_cli, tmp_path):
    sweep_id = _sweep(ledger_cli, tmp_path, GRID, SLEEPY)
    code, out, err = ledger_cli("sweep", "launch", sweep_id, "--root", "results", "--slurm", "--agents", "2")
    assert code == 0, err
    job_id = out.split()[3].rstrip(":")
    runs_dir = tmp_path / "results" / "p" / "runs"
    deadline = time.monotonic() + 120
    while len(list(runs_dir.glob("*/metrics.jsonl"))) < 2:  # both agents are training
        assert time.monotonic() < deadline, slurm.run("squeue").stdout
        time.sleep(0.5)
    code, out, err = ledger_cli("sweep", "status", sweep_id, "--root", "results")
    assert f"task {job_id}_0: RUNNING" in out
    assert "on trial" in out

    code, out, err = ledger_cli("sweep", "stop", sweep_id, "--root", "results", "--cancel")
    assert code == 0, err
    assert f"cancelled SLURM job {job_id}" in out
    slurm.wait_until_empty()
    assert {slurm.show_job(f"{job_id}_{i}")["JobState"] for i in range(2)} == {"CANCELLED"}
    runs = ledger.open("results").runs(project="p")
    assert len(runs) == 2  # no agent started another trial
    assert {(r.status, r.doc.get("stop_reason")) for r in runs} == {("killed", "preempted")}
    assert (tmp_path / "results" / "p" / "sweeps" / sweep_id / "stop.yaml").exists()
