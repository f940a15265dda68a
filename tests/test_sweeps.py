"""Sweeps run by real agents: processes on one root, claims, leases, hyperband, cv, bayes."""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

import ledger
import ledger.sweeps
from ledger._storage import open_storage
from tests.helpers import REPO

CLI = "from ledger._cli import main; main()"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update({"LEDGER_SWEEP_POLL": "0.1", "PYTHONPATH": str(REPO)})
    env.update(extra)
    return env


def start_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, **popen) -> subprocess.Popen[str]:
    """`ledger ARGS...` in a fresh interpreter."""
    return subprocess.Popen(
        [sys.executable, "-c", CLI, *args],
        cwd=cwd,
        env=env or _env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    with start_cli(*args, cwd=cwd, env=env) as proc:
        out, err = proc.communicate(timeout=600)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def create(cwd: Path, config: str, *extra: str, root: str = "results", env: dict[str, str] | None = None) -> str:
    write(cwd / "sweep.yaml", config)
    proc = run_cli("sweep", "create", "sweep.yaml", "--root", root, "--project", "p", *extra, cwd=cwd, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "ledger agent" in proc.stdout
    return proc.stdout.split()[2]


def sweep_runs(root: Path | str, sweep_id: str) -> list[ledger.RunView]:
    return list(ledger.open(root).runs(where={"sweep.id": sweep_id}))


def claims(root: Path | str, sweep_id: str) -> dict[str, dict]:
    storage = open_storage(str(root))
    folder = f"p/sweeps/{sweep_id}/claims"
    return {e.name: yaml.safe_load(storage.read_bytes(f"{folder}/{e.name}")) for e in storage.list_dir(folder)}


def quiet(**kwargs):
    return ledger.init(capture_output=False, system_metrics=False, **kwargs)


# ---- subprocess agents ---------------------------------------------------------------------------

TRAIN = """
import argparse, ledger
p = argparse.ArgumentParser()
p.add_argument("--a", type=int)
p.add_argument("--b", type=str)
p.add_argument("--c", type=float)
args = p.parse_args()
with ledger.init("mine", config=args, capture_output=False, system_metrics=False) as run:
    run.log({"score": args.a * args.c})
"""


@pytest.mark.slow
@pytest.mark.parametrize("store", ["local", "s3"])
def test_three_agent_processes_cover_a_grid_exactly_once(tmp_path, request, store):
    """On a local folder and on a real S3 server (SeaweedFS): claims are conditional PUTs there."""
    root = str(tmp_path / "results") if store == "local" else request.getfixturevalue("s3_root")
    env = _env(**(request.getfixturevalue("s3_server").env if store == "s3" else {}))
    write(tmp_path / "train.py", TRAIN)
    sweep_id = create(
        tmp_path,
        """
        program: train.py
        method: grid
        metric: {name: score, goal: maximize}
        parameters:
          a: {values: [1, 2, 3]}
          b: {values: [x, y]}
          c: {values: [0.5, 1.5]}
        """,
        root=root,
        env=env,
    )
    agents = [start_cli("agent", sweep_id, "--root", root, cwd=tmp_path, env=env) for _ in range(3)]
    for proc in agents:
        with proc:
            _out, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, err

    runs = sweep_runs(root, sweep_id)
    assert sorted((r.config["a"], r.config["b"], r.config["c"]) for r in runs) == sorted(
        itertools.product([1, 2, 3], ["x", "y"], [0.5, 1.5])
    )
    assert all(r.status == "finished" and r.project == "p" for r in runs)
    assert sorted(r.doc["sweep"]["trial"] for r in runs) == list(range(1, 13))
    assert all(r.doc["sweep"]["fold"] is None for r in runs)
    made = claims(root, sweep_id)
    assert sorted(made, key=int) == [str(n) for n in range(1, 13)]  # one claim per trial, no retries
    for claim in made.values():
        assert claim["outcome"] == "finished"
        assert claim["agent"]
        assert claim["host"]
        assert claim["pid"] > 0
        assert claim["claimed"]
        (run,) = [r for r in runs if r.id in claim["runs"]]
        assert {k: run.config[k] for k in "abc"} == claim["params"]
    status = ledger.sweeps.status(sweep_id, root=root)
    assert (status.claimed, status.cap, status.trials) == (12, 12, {"finished": 12})
    assert status.best_value == 4.5
    assert status.best_params == {"a": 3, "b": "x", "c": 1.5}
    assert status.agents == []  # all ended


HYPERBAND_TRAIN = """
import argparse, time, ledger
p = argparse.ArgumentParser()
p.add_argument("--bad", type=str)
p.add_argument("--seed", type=int)
args = p.parse_args()
bad = args.bad == "True"
with ledger.init(config=args, capture_output=False, system_metrics=False, flush_interval=0.05) as run:
    for i in range(2 if bad else 8):
        run.log({"loss": (5.0 if bad else 0.0) + 1.0 / (i + 1)})
    # A bad trial waits at band 2 (up to 60 s) to be judged there: logging on, a busy
    # machine's first poll could find it past the good runs' 8 values, with nothing to
    # compare against (W&B's rule too), and it would never be stopped.
    deadline = time.monotonic() + (60 if bad else 0)
    while time.monotonic() < deadline:
        time.sleep(0.02)
"""


@pytest.mark.slow
def test_hyperband_stops_the_bad_trials(tmp_path):
    """Grid order puts three good trials first; each bad one is judged at band 2 (its second
    value, as W&B judges) against them, falls outside the top 1/3 and is stopped."""
    write(tmp_path / "train.py", HYPERBAND_TRAIN)
    sweep_id = create(
        tmp_path,
        """
        program: train.py
        method: grid
        metric: {name: loss, goal: minimize}
        early_terminate: {type: hyperband, min_iter: 2, eta: 3}
        parameters:
          bad: {values: [false, true]}
          seed: {values: [0, 1, 2]}
        """,
    )
    proc = run_cli("agent", sweep_id, "--root", "results", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    root = tmp_path / "results"
    runs = {r.doc["sweep"]["trial"]: r for r in sweep_runs(root, sweep_id)}
    for n in (1, 2, 3):  # good
        assert runs[n].status == "finished"
        assert "stop_reason" not in runs[n].doc
        assert len(runs[n].records()) == 8
    for n in (4, 5, 6):  # bad
        run = runs[n]
        assert run.config["bad"] is True
        assert (run.status, run.doc["stop_reason"]) == ("killed", "early_terminated")
        assert "hyperband" in run.doc["error"]
        assert "1/3" in run.doc["error"]
        assert len(run.records()) == 2
        assert run.doc["duration_s"] < 60  # stopped in its wait
    made = claims(root, sweep_id)
    assert [made[str(n)]["outcome"] for n in range(1, 7)] == ["finished"] * 3 + ["early_terminated"] * 3
    assert "trial 4 early_terminated" in proc.stderr
    assert ledger.sweeps.status(sweep_id, root=root).trials == {"finished": 3, "early_terminated": 3}
    text = (root / "p/runs" / runs[4].id / "run.yaml").read_text()
    assert list(yaml.safe_load(text))[-2:] == ["error", "stop_reason"]  # manifest key order
    stopped = run_cli(
        "ls", "--root", "results", "--where", 'stop_reason == "early_terminated"', "--columns", "id", "--format", "csv",
        cwd=tmp_path,
    )  # fmt: skip
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.split() == ["id", *(runs[n].id for n in (4, 5, 6))]


LEASE_TRAIN = """
import argparse, os, time, ledger
p = argparse.ArgumentParser()
p.add_argument("--n", type=int)
args = p.parse_args()
with ledger.init(config=args, capture_output=False, system_metrics=False, flush_interval=0.1) as run:
    run.log({"loss": 1.0})
    if args.n == 1 and not os.path.exists("hung-once"):  # the first attempt of trial 1 hangs
        open("hung-once", "w").close()
        print("HANGING", flush=True)
        time.sleep(600)
    run.log({"loss": float(args.n)})
"""


@pytest.mark.slow
def test_agent_killed_mid_trial_loses_its_claim_after_the_lease(tmp_path):
    """SIGKILL to the agent and its trial (a lost machine): once its heartbeat is older than
    the lease, another agent takes the trial over and the interrupted run is marked."""
    write(tmp_path / "train.py", LEASE_TRAIN)
    sweep_id = create(
        tmp_path,
        """
        program: train.py
        method: grid
        metric: {name: loss}
        parameters:
          n: {values: [1, 2]}
        """,
    )
    env = _env(LEDGER_SWEEP_LEASE="1.5", LEDGER_HEARTBEAT_INTERVAL="0.3")
    root = tmp_path / "results"
    first = start_cli("agent", sweep_id, "--root", "results", cwd=tmp_path, env=env, start_new_session=True)
    with first:
        assert first.stdout is not None
        for line in first.stdout:
            if "HANGING" in line:
                break
        os.killpg(first.pid, signal.SIGKILL)  # the agent and its trial, like a lost node
        first.wait()
    (lost,) = sweep_runs(root, sweep_id)
    while ledger.sweeps.status(sweep_id, root=root).agents:  # wait for the lease to run out
        time.sleep(0.2)

    second = run_cli("agent", sweep_id, "--root", "results", cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr
    assert "trial 1 of 2 (attempt 2, taken over)" in second.stderr
    made = claims(root, sweep_id)
    assert sorted(made) == ["1", "1.1", "2"]
    assert made["1"]["outcome"] is None
    assert made["1"]["ended"] is None
    assert made["1.1"]["reclaimed_from"] == made["1"]["agent"] != made["1.1"]["agent"]
    assert made["1.1"]["outcome"] == "finished"
    assert made["1.1"]["params"] == {"n": 1}
    runs = {r.id: r for r in sweep_runs(root, sweep_id)}
    assert runs[lost.id].status == "crashed"
    assert runs[lost.id].doc["stop_reason"] == "lease_expired"
    (retry,) = [r for r in runs.values() if r.id in made["1.1"]["runs"]]
    assert retry.status == "finished"
    assert retry.summary["loss"] == 1.0
    assert retry.doc["sweep"]["trial"] == 1
    assert ledger.sweeps.status(sweep_id, root=root).trials == {"finished": 2}


PREEMPTED_ONCE = """
    import os, signal, ledger, ledger.sweeps

    run = ledger.init(config={"lr": 0.0})
    resumable = os.environ.get("RESUMABLE") == "1"
    start = 0
    if resumable:
        ckpt = os.path.join(ledger.sweeps.checkpoint_dir(), "epoch.txt")
        if ledger.sweeps.resumed() and os.path.exists(ckpt):
            start = int(open(ckpt).read()) + 1
    for epoch in range(start, 10):
        run.log({"epoch": epoch}, step=epoch)
        if resumable:
            open(ckpt, "w").write(str(epoch))
        if epoch == 4 and not os.path.exists("preempted-once"):
            open("preempted-once", "w").close()
            os.kill(os.getpid(), signal.SIGTERM)  # as a job scheduler's time limit does
"""


@pytest.mark.parametrize("resumable", [True, False])
def test_a_preempted_trial_is_taken_up_again_and_continued_if_it_resumes(tmp_path, resumable):
    write(tmp_path / "train.py", PREEMPTED_ONCE)
    sweep_id = create(
        tmp_path,
        """
        program: train.py
        method: grid
        parameters:
          lr: {values: [0.1]}
        """,
    )
    env = _env(SLURM_JOB_ID="41", RESUMABLE="1" if resumable else "0")  # the agent runs in a SLURM job
    proc = run_cli("agent", sweep_id, "--root", "results", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "trial 1 preempted" in proc.stderr
    runs = sweep_runs(tmp_path / "results", sweep_id)
    assert sorted(claims(tmp_path / "results", sweep_id)) == ["1", "1.1"]
    assert claims(tmp_path / "results", sweep_id)["1"]["outcome"] == "preempted"
    assert claims(tmp_path / "results", sweep_id)["1.1"]["outcome"] == "finished"
    if resumable:
        (run,) = runs
        assert run.status == "finished"
        assert run.history()["epoch"].tolist() == list(range(10))  # continued at epoch 5
        assert len(run.doc["intervals"]) == 2
        assert run.doc["sweep"]["resumable"] is True
        assert f"continuing its interrupted run {run.id}" in proc.stderr
    else:
        first, second = runs
        assert (first.status, first.doc["stop_reason"]) == ("killed", "preempted")
        assert first.history()["epoch"].tolist() == list(range(5))
        assert second.status == "finished"
        assert second.history()["epoch"].tolist() == list(range(10))  # started over
        assert f"run {first.id} was interrupted and starts over: its program does not resume" in proc.stderr
    assert ledger.sweeps.status(sweep_id, root=tmp_path / "results").trials == {"finished": 1}


def test_checkpoint_dir_is_in_the_run_folder_and_needs_a_disk(tmp_path, memory_root):
    run = quiet(project="p", root=tmp_path / "results")
    path = ledger.sweeps.checkpoint_dir()
    assert path == os.path.join(run.dir, "files", "checkpoints")
    assert os.path.isdir(path)
    assert ledger.sweeps.resumed() is False  # not a sweep trial
    run.finish()
    assert "resumable" not in (tmp_path / "results" / "p" / "runs" / run.id / "run.yaml").read_text()
    with pytest.raises(ledger.RunStateError, match=r"call it after ledger\.init"):
        ledger.sweeps.checkpoint_dir()
    run = quiet(project="p", root=memory_root)
    with pytest.raises(ValueError, match="not on a disk this machine mounts"):
        ledger.sweeps.checkpoint_dir()
    run.finish()


def test_sweep_stop_lets_no_agent_claim(tmp_path):
    write(tmp_path / "train.py", TRAIN)
    sweep_id = create(
        tmp_path, "program: train.py\nmethod: grid\nparameters: {a: {values: [1]}, b: {value: x}, c: {value: 1.0}}\n"
    )
    stop = run_cli("sweep", "stop", sweep_id[:12], "--root", "results", cwd=tmp_path)
    assert stop.returncode == 0
    assert f"stopped sweep {sweep_id}" in stop.stdout
    agent = run_cli("agent", sweep_id, "--root", "results", cwd=tmp_path)
    assert agent.returncode == 0, agent.stderr
    assert "was stopped" in agent.stderr
    assert "ran 0 trials" in agent.stderr
    status = run_cli("sweep", "status", sweep_id, "--root", "results", cwd=tmp_path)
    assert "trials: 0 of 1 claimed: none yet" in status.stdout
    assert "stopped: 20" in status.stdout


def test_create_with_an_unsupported_key_fails_and_writes_nothing(tmp_path):
    write(tmp_path / "sweep.yaml", "method: grid\nparameters: {a: {values: [1]}}\nmetrics: [{name: a}]\n")
    proc = run_cli("sweep", "create", "sweep.yaml", "--root", "results", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: sweep.yaml: metrics: not supported: several metrics need `method: custom`")
    assert not list(tmp_path.glob("results/*/sweeps"))
    write(tmp_path / "sweep.yaml", "method: grid\nparameters: {a: {values: [1]}}\nmetricz: {name: a}\n")
    proc = run_cli("sweep", "create", "sweep.yaml", "--root", "results", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: sweep.yaml: unknown key 'metricz'; allowed: method, metric, parameters,")
    assert not list(tmp_path.glob("results/*/sweeps"))


# ---- in-process agents ---------------------------------------------------------------------------


def test_in_process_trials_join_through_init(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep_id = ledger.sweeps.create(
        {
            "method": "random",
            "seed": 3,
            "metric": {"name": "acc", "goal": "maximize"},
            "run_cap": 3,
            "parameters": {
                "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
                "opt": {"parameters": {"name": {"values": ["adam", "sgd"]}}},
            },
        },
        root="results",
        project="p",
    )
    seen = []

    def train():
        with quiet(config={"epochs": 2, "opt": {"momentum": 0.9}}) as run:
            seen.append(dict(run.config))
            run.log({"acc": run.config["lr"] * 10})
        with quiet(project="p", root="results") as extra:  # a second run of the same trial: not in the sweep
            extra.log({"x": 1})

    ledger.sweeps.agent(sweep_id, function=train, root="results")
    assert len(seen) == 3  # run_cap
    runs = sweep_runs(tmp_path / "results", sweep_id)
    assert [r.doc["sweep"] for r in runs] == [{"id": sweep_id, "trial": n, "fold": None} for n in (1, 2, 3)]
    for run, config in zip(runs, seen, strict=True):
        assert run.config == config
        assert config["epochs"] == 2
        assert config["opt"]["momentum"] == 0.9
        assert config["opt"]["name"] in ("adam", "sgd")
        assert 1e-4 <= config["lr"] <= 1e-1
    assert len(ledger.open(tmp_path / "results").runs("p")) == 6
    assert "LEDGER_SWEEP_ID" not in os.environ

    # random is reproducible: the same seed gives the same trials in another sweep
    again = ledger.sweeps.create(
        dict(yaml.safe_load((tmp_path / f"results/p/sweeps/{sweep_id}/sweep.yaml").read_text())), root="results"
    )
    seen_again = []
    ledger.sweeps.agent(
        again, function=lambda: seen_again.append(dict(quiet().config)) or ledger.finish(), root="results"
    )
    assert [{k: c[k] for k in ("lr",)} | {"opt": c["opt"]} for c in seen_again] == [
        {"lr": c["lr"], "opt": {"name": c["opt"]["name"]}} for c in seen
    ]


def test_cv_runs_every_fold_in_one_group_and_scores_the_mean(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep_id = ledger.sweeps.create(
        {
            "name": "kfold",
            "method": "grid",
            "metric": {"name": "val_loss", "goal": "minimize"},
            "cv": {"folds": 3},
            "parameters": {"depth": {"values": [2, 4]}},
        },
        root="results",
        project="p",
    )

    def train():
        with quiet() as run:
            run.log({"val_loss": run.config["depth"] + 0.1 * run.config["fold"]})

    ledger.sweeps.agent(sweep_id, function=train, root="results")
    runs = sweep_runs(tmp_path / "results", sweep_id)
    g1, g2 = f"kfold-{sweep_id}-trial-1", f"kfold-{sweep_id}-trial-2"  # unique to the sweep
    assert [(r.group, r.config["depth"], r.config["fold"], r.doc["sweep"]["fold"]) for r in runs] == [
        (g1, 2, 0, 0), (g1, 2, 1, 1), (g1, 2, 2, 2),
        (g2, 4, 0, 0), (g2, 4, 1, 1), (g2, 4, 2, 2),
    ]  # fmt: skip
    status = ledger.sweeps.status(sweep_id, root="results")
    assert status.best_trial == 1
    assert status.best_params == {"depth": 2}
    assert status.best_value == pytest.approx(2.1)
    assert status.best_std == pytest.approx(0.1)
    text = run_cli("sweep", "status", sweep_id, "--root", "results", cwd=tmp_path).stdout
    assert "best: trial 1, val_loss = 2.1 ± 0.1 (std over folds)" in text
    assert "trials: 2 of 2 claimed: 2 finished" in text


def test_the_same_sweep_twice_never_shares_a_group(tmp_path, monkeypatch):
    """Two sweeps made from one file (same name): their cv groups stay apart, so a group's
    mean ± std is over the folds of one parameter set (version 1 mixed them: the first
    `make demo` showed "1.037 ± 0.785, n=6")."""
    monkeypatch.chdir(tmp_path)
    config = {
        "name": "kfold",
        "method": "random",
        "run_cap": 1,
        "metric": {"name": "val_loss"},
        "cv": {"folds": 2},
        "parameters": {"depth": {"values": [1, 2, 3, 4, 5, 6, 7, 8]}},
    }
    ids = [ledger.sweeps.create(config | {"seed": seed}, root="results", project="p") for seed in (1, 2)]

    def train():
        with quiet() as run:
            run.log({"val_loss": float(run.config["depth"])})

    for sweep_id in ids:
        ledger.sweeps.agent(sweep_id, function=train, root="results")
    lg = ledger.open("results")
    groups = lg.runs("p").groups("group")
    assert set(groups) == {f"kfold-{i}-trial-1" for i in ids}
    for members in groups.values():
        assert len(members) == 2
        assert len({r.config["depth"] for r in members}) == 1  # one parameter set per group
    table = lg.runs("p").aggregate(by="group", metrics="summary.val_loss")
    assert (table["summary.val_loss", "std"] == 0).all()
    assert list(table["summary.val_loss", "n"]) == [2, 2]


def test_a_sweep_without_a_project_goes_where_init_asks(tmp_path, monkeypatch, capsys):
    """A sweep file without `project:` (and no --project): each trial's run goes to the project
    its ledger.init(project=...) asks for, and the agent says so; the sweep still finds it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEDGER_PROJECT", "home")
    sweep_id = ledger.sweeps.create(
        {"method": "grid", "metric": {"name": "acc", "goal": "maximize"}, "parameters": {"x": {"values": [1, 2]}}},
        root="results",
    )
    assert (tmp_path / f"results/home/sweeps/{sweep_id}/sweep.yaml").exists()

    def train():
        with quiet(project="mnist") as run:
            run.log({"acc": run.config["x"] / 10})

    ledger.sweeps.agent(sweep_id, function=train, root="results")
    err = capsys.readouterr().err
    assert "the sweep names no project: each trial's runs go to the project its program's" in err
    runs = sweep_runs(tmp_path / "results", sweep_id)
    assert [(r.project, r.config["x"]) for r in runs] == [("mnist", 1), ("mnist", 2)]
    status = ledger.sweeps.status(sweep_id, root="results")
    assert (status.trials, status.best_trial) == ({"finished": 2}, 2)
    (view,) = ledger.open("results").sweeps()
    assert len(view.runs) == 2

    pinned = ledger.sweeps.create(
        {"method": "grid", "parameters": {"x": {"values": [3]}}}, root="results", project="fixed"
    )
    ledger.sweeps.agent(pinned, function=train, root="results")
    assert [r.project for r in sweep_runs(tmp_path / "results", pinned)] == ["fixed"]  # the sweep decides


def test_target_reached_means_no_new_trials(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    sweep_id = ledger.sweeps.create(
        {
            "method": "grid",
            "metric": {"name": "acc", "goal": "maximize", "target": 0.9},
            "parameters": {"acc": {"values": [0.5, 0.95, 0.99, 0.3]}},
        },
        root="results",
    )
    ledger.sweeps.agent(
        sweep_id, function=lambda: quiet().log({"acc": ledger.active_run().config["acc"]}), root="results"
    )
    assert len(sweep_runs(tmp_path / "results", sweep_id)) == 2
    assert "trial 2 reached the target acc=0.9; no new trials" in capsys.readouterr().err
    zero = ledger.sweeps.create(
        {"method": "grid", "metric": {"name": "loss", "target": 0}, "parameters": {"loss": {"values": [1, 0, 2]}}},
        root="results",
    )
    ledger.sweeps.agent(
        zero, function=lambda: quiet().log({"loss": ledger.active_run().config["loss"]}), root="results"
    )
    assert len(sweep_runs(tmp_path / "results", zero)) == 2  # a loss of exactly 0 reaches the target 0


def test_a_failing_function_is_a_failed_trial_and_the_agent_goes_on(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    sweep_id = ledger.sweeps.create(
        {"method": "grid", "metric": {"name": "m"}, "parameters": {"x": {"values": [1, 2]}}}, root="results"
    )

    def train():
        run = quiet()
        run.log({"m": 1.0})
        if run.config["x"] == 1:
            msg = "diverged"
            raise RuntimeError(msg)

    ledger.sweeps.agent(sweep_id, function=train, root="results")
    runs = sweep_runs(tmp_path / "results", sweep_id)
    assert [r.status for r in runs] == ["failed", "finished"]
    assert "RuntimeError: diverged" in runs[0].doc["error"]
    assert "trial 1: the function raised RuntimeError: diverged" in capsys.readouterr().err
    assert ledger.active_run() is None


def test_hyperband_stops_an_in_process_trial(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEDGER_SWEEP_POLL", "0.05")
    sweep_id = ledger.sweeps.create(
        {
            "method": "grid",
            "metric": {"name": "loss"},
            "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": 3},
            "parameters": {"offset": {"values": [0, 9]}},
        },
        root="results",
    )
    waited = []

    def train():
        with ledger.init(capture_output=False, system_metrics=False, flush_interval=0.02) as run:
            offset = run.config["offset"]
            for i in range(3 if offset == 0 else 1):
                run.log({"loss": offset + 1 / (i + 1)})
            # The bad trial waits (up to 60 s) at band 1 to be judged there: were it to go on
            # logging, a busy machine's first poll could find it past band 3, where no other
            # run has a value to compare with (W&B's rule too), and nothing would stop it.
            deadline = time.monotonic() + (60 if offset else 0)
            while time.monotonic() < deadline:
                time.sleep(0.005)
            waited.append(offset)

    ledger.sweeps.agent(sweep_id, function=train, root="results")
    good, bad = sweep_runs(tmp_path / "results", sweep_id)
    assert good.status == "finished"
    assert (bad.status, bad.doc["stop_reason"]) == ("killed", "early_terminated")
    assert waited == [0]  # the bad trial was stopped in its wait, not at its end
    assert ledger.active_run() is None


def _bayes_vs_random_best(tmp_path: Path, method: str, seed: int) -> float:
    root = tmp_path / f"{method}-{seed}"
    sweep_id = ledger.sweeps.create(
        {
            "method": method,
            "seed": seed,
            "metric": {"name": "loss", "goal": "minimize"},
            "run_cap": 30,
            "parameters": {
                "lr": {"distribution": "log_uniform_values", "min": 1e-6, "max": 1.0},
                "x": {"min": -5.0, "max": 5.0},
            },
        },
        root=root,
        project="p",
    )

    def objective():
        with quiet() as run:
            lr, x = run.config["lr"], run.config["x"]
            run.log({"loss": (math.log10(lr) + 2.5) ** 2 + (x - 1.3) ** 2})

    ledger.sweeps.agent(sweep_id, function=objective, root=root)
    return ledger.sweeps.status(sweep_id, root=root).best_value or math.inf


@pytest.mark.slow
def test_bayes_beats_random_over_seeds(tmp_path, monkeypatch):
    """30 trials each, 8 seeds: a one-sided sign test on the best loss found. Fixed seeds
    make it deterministic; the threshold (7 of 8, p = 9/256 = 0.035) is a real test."""
    monkeypatch.chdir(tmp_path)
    seeds = range(8)
    pairs = [(_bayes_vs_random_best(tmp_path, "bayes", s), _bayes_vs_random_best(tmp_path, "random", s)) for s in seeds]
    wins = sum(b < r for b, r in pairs)
    p_value = sum(math.comb(8, k) for k in range(wins, 9)) / 2**8
    assert wins >= 7, pairs
    assert p_value < 0.05
    assert sum(b for b, _ in pairs) < sum(r for _, r in pairs)


def test_status_json_has_the_numbers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep_id = ledger.sweeps.create(
        {"method": "grid", "metric": {"name": "m"}, "parameters": {"x": {"values": [3, 1, 2]}}}, root="results"
    )
    ledger.sweeps.agent(
        sweep_id, function=lambda: quiet().log({"m": ledger.active_run().config["x"]}), count=2, root="results"
    )
    proc = run_cli("sweep", "status", sweep_id, "--root", "results", "--format", "json", cwd=tmp_path)
    doc = json.loads(proc.stdout)
    assert (doc["claimed"], doc["cap"], doc["trials"], doc["best_trial"], doc["best_value"]) == (
        2,
        3,
        {"finished": 2},
        2,
        1,
    )
    assert doc["method"] == "grid"
    assert doc["goal"] == "minimize"
    assert doc["stopped"] is None


@pytest.mark.slow
def test_the_example_project_sweep_runs(tmp_path):
    """example_project/sweep.yaml as the README runs it: bayes, cv, hyperband, a CLI program."""
    root = str(tmp_path / "results")
    created = run_cli("sweep", "create", "example_project/sweep.yaml", "--root", root, cwd=REPO)
    assert created.returncode == 0, created.stderr
    sweep_id = created.stdout.split()[2]
    agent = run_cli("agent", sweep_id, "--root", root, "--count", "2", cwd=REPO)
    assert agent.returncode == 0, agent.stderr
    assert "trial 2 of 12" in agent.stderr
    runs = sweep_runs(tmp_path / "results", sweep_id)
    assert {r.project for r in runs} == {"digits"}
    by_trial = {n: [r for r in runs if r.doc["sweep"]["trial"] == n] for n in (1, 2)}
    assert {r.group for r in by_trial[1]} == {f"mlp-lr-width-{sweep_id}-trial-1"}
    assert {r.group for r in by_trial[2]} == {f"mlp-lr-width-{sweep_id}-trial-2"}
    # Trial 1 is the first of each fold: hyperband (W&B's rule, fold by fold) never stops it.
    assert [(r.config["fold"], r.status) for r in by_trial[1]] == [(0, "finished"), (1, "finished"), (2, "finished")]
    # Trial 2 meets trial 1's fold at each band: it runs every fold, or stops at the first one it loses.
    second = [(r.config["fold"], r.status, r.doc.get("stop_reason")) for r in by_trial[2]]
    assert [f for f, _, _ in second] == list(range(len(second)))
    assert all(s == "finished" for _, s, _ in second[:-1])
    assert second[-1][1:] in (("finished", None), ("killed", "early_terminated"))
    assert all(r.config["fold"] == r.doc["sweep"]["fold"] and r.config["epochs"] == 10 for r in runs)
    assert all(r.config["width"] in (16, 32, 64, 128) and 0.005 <= r.config["lr"] <= 0.5 for r in runs)
    assert all("val/loss" in r.summary for r in runs)
    status = ledger.sweeps.status(sweep_id, root=root)
    assert status.claimed == 2
    default_root = REPO / "example_project/results"  # where train_torch.py logs when run alone
    if (default_root / "ledger.yaml").exists():
        assert not sweep_runs(default_root, sweep_id)


def test_a_sweep_on_an_fsspec_store(memory_root):
    """The same files through fsspec (conditional create, whole-object writes, listings)."""
    sweep_id = ledger.sweeps.create(
        {"method": "grid", "metric": {"name": "m"}, "parameters": {"x": {"values": [1, 2, 3]}}}, root=memory_root
    )
    ledger.sweeps.agent(
        sweep_id, function=lambda: quiet().log({"m": ledger.active_run().config["x"]}), root=memory_root
    )
    status = ledger.sweeps.status(sweep_id, root=memory_root)
    assert (status.claimed, status.trials, status.best_trial) == (3, {"finished": 3}, 1)
    assert sorted(r.config["x"] for r in ledger.open(memory_root).runs(where={"sweep.id": sweep_id})) == [1, 2, 3]
    with pytest.raises(
        ledger.sweeps.SweepNotFoundError,
        match=r"^no sweep 'nope' in memory:///ledger-test .*make one with `ledger sweep create",
    ):
        ledger.sweeps.status("nope", root=memory_root)


MODULE_TRAIN = """
import argparse, ledger
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float)
p.add_argument("--bn", action="store_true")
args = p.parse_args()
with ledger.init(config=args, capture_output=False, system_metrics=False) as run:
    run.log({"loss": args.lr * (0.5 if args.bn else 1.0)})
"""


@pytest.mark.slow
def test_a_program_run_as_a_module_with_boolean_flags(tmp_path):
    """W&B's `python -m ${program}` and ${args_no_boolean_flags}: the agent starts the module,
    a true flag arrives as a bare --bn, a false one not at all (argparse's store_true)."""
    (tmp_path / "trainpkg").mkdir()
    write(tmp_path / "trainpkg/__init__.py", "")
    write(tmp_path / "trainpkg/train.py", MODULE_TRAIN)
    sweep_id = create(
        tmp_path,
        """
        program: trainpkg.train
        method: grid
        command:
          - ${env}
          - ${interpreter}
          - -m
          - ${program}
          - ${args_no_boolean_flags}
        parameters:
          lr: {values: [0.1]}
          bn: {values: [true, false]}
        """,
    )
    proc = run_cli("agent", sweep_id, "--root", "results", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    runs = sweep_runs(tmp_path / "results", sweep_id)
    assert [(r.config["bn"], r.summary["loss"]) for r in runs] == [(True, 0.05), (False, 0.1)]
    assert all(r.doc["command"]["module"] == "trainpkg.train" for r in runs)
