"""Hugging Face Accelerate: a real Accelerator on the CPU (and two real processes), read back from the files."""

from __future__ import annotations

import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("accelerate")

from accelerate import Accelerator  # noqa: E402

import ledger  # noqa: E402
from ledger.integrations.accelerate import LedgerTracker  # noqa: E402
from tests.helpers import run_python  # noqa: E402
from tests.integrations.stops import run_stopped_script, stop_params  # noqa: E402

QUIET = {"capture_output": False, "system_metrics": False}

TRAIN = """
import torch
from accelerate import Accelerator
from ledger.integrations.accelerate import LedgerTracker

def train(accelerator, epochs=2, stop_at=None):
    torch.manual_seed(0)
    x = torch.rand(32, 4)
    y = (x.sum(dim=1) > 2).long()
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    logged = []
    step = 0
    for epoch in range(epochs):
        for xb, yb in loader:
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            accelerator.backward(loss)
            optimizer.step()
            optimizer.zero_grad()
            if step == stop_at:
                stop()
            values = {"train": {"loss": loss.detach()}, "lr": optimizer.param_groups[0]["lr"]}
            accelerator.log(values, step=step)
            logged.append((step, float(loss.detach()), values["lr"]))
            step += 1
        accelerator.log({"epoch": epoch, "phase": f"epoch {epoch} done"})
    return logged
"""
namespace: dict = {}
exec(TRAIN, namespace)  # the same loop runs in the scripts below
train = namespace["train"]


def test_init_trackers_log_and_end_training_make_one_finished_run(tmp_path):
    tracker = LedgerTracker(project="acc", root=tmp_path / "results", group="mlp", **QUIET)
    accelerator = Accelerator(cpu=True, log_with=tracker)
    accelerator.init_trackers("ignored-by-custom-trackers", config={"lr": 0.1, "optimizer": {"name": "sgd"}})
    assert accelerator.get_tracker("ledger").tracker is tracker.tracker
    logged = train(accelerator)
    assert tracker.tracker.status == "running"
    accelerator.end_training()

    (run,) = ledger.open(tmp_path / "results").runs()
    assert (run.id, run.status, run.group, run.project) == (tracker.tracker.id, "finished", "mlp", "acc")
    assert run.config == {"lr": 0.1, "optimizer": {"name": "sgd"}}
    records = run.records()
    steps = [r for r in records if "train/loss" in r]
    assert [(r["_step"], r["train/loss"], r["lr"]) for r in steps] == logged  # what accelerator.log was given
    epochs = [r for r in records if "epoch" in r]
    assert [(r["_step"], r["epoch"]) for r in epochs] == [(4, 0), (8, 1)]  # no step given: the next one
    assert run.summary["phase"] == "epoch 1 done"  # text goes into the summary


def test_a_given_run_is_written_and_left_open(tmp_path):
    with ledger.init("acc", root=tmp_path, **QUIET) as run:
        accelerator = Accelerator(cpu=True, log_with=[LedgerTracker(run=run)])
        accelerator.init_trackers("acc", config={"lr": 0.1})
        train(accelerator, epochs=1)
        accelerator.end_training()
        assert run.status == "running"
    view = ledger.open(tmp_path).run(run.id)
    assert view.status == "finished"
    assert view.config["lr"] == 0.1


def test_values_it_cannot_log_are_refused_with_their_name(tmp_path):
    accelerator = Accelerator(cpu=True, log_with=LedgerTracker(project="acc", root=tmp_path, **QUIET))
    accelerator.init_trackers("acc")
    with pytest.raises(TypeError, match=r"'val/preds' is a list; log numbers"):
        accelerator.log({"val": {"preds": [1, 2]}})
    accelerator.end_training()


@pytest.mark.slow
@stop_params
def test_a_script_that_stops_before_end_training_records_how(tmp_path, status):
    script = (
        TRAIN
        + """
def stop():
    {stop}

accelerator = Accelerator(cpu=True, log_with=LedgerTracker(project="acc", root="results", system_metrics=False))
accelerator.init_trackers("acc", config={"lr": 0.1})
train(accelerator, stop_at=3)
accelerator.end_training()
"""
    )
    run = run_stopped_script(tmp_path, script, status)
    assert [r["_step"] for r in run.records()] == [0, 1, 2]


@pytest.mark.slow
def test_only_the_main_process_writes(tmp_path):
    script = (
        TRAIN
        + """
import json
accelerator = Accelerator(cpu=True, log_with=LedgerTracker(project="acc", root="results", system_metrics=False))
accelerator.init_trackers("acc", config={"processes": accelerator.num_processes})
logged = train(accelerator, epochs=1)
run = getattr(accelerator.get_tracker("ledger"), "tracker", None)  # Accelerate has no trackers off the main process
report = {"rank": accelerator.process_index, "run": getattr(run, "id", None), "logged": logged}
open(f"report-{accelerator.process_index}.json", "w").write(json.dumps(report))  # a file each: two ranks' prints interleave
accelerator.end_training()
"""
    )
    launch = f"""
import subprocess, sys
script = {script!r}
open("train.py", "w").write(script)
proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "train.py"],
                      capture_output=True, text=True, timeout=240)
print(proc.stdout)
sys.stderr.write(proc.stderr)
sys.exit(proc.returncode)
"""
    proc = run_python(launch, tmp_path, env={"OMP_NUM_THREADS": "1"}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    import json

    reports = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("report-*.json"))]
    by_rank = {r["rank"]: r for r in reports}
    assert sorted(by_rank) == [0, 1]
    (run,) = ledger.open(tmp_path / "results").runs()  # one run: rank 1 made none
    assert (by_rank[0]["run"], by_rank[1]["run"]) == (run.id, None)
    assert run.status == "finished"
    assert run.config["processes"] == 2
    steps = [(r["_step"], r["train/loss"]) for r in run.records() if "train/loss" in r]
    assert steps == [(step, loss) for step, loss, _ in by_rank[0]["logged"]]  # rank 0's values


def test_the_tracker_is_what_accelerate_expects():
    tracker = LedgerTracker(project="acc")
    assert (tracker.name, tracker.requires_logging_directory, tracker.main_process_only) == ("ledger", False, True)
    assert tracker.tracker is None  # no run before init_trackers
    assert "accelerate" in sys.modules
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) project_name"):
        LedgerTracker(project_name="acc")
