"""fastai: real Learner.fit / fit_one_cycle on the CPU, compared with fastai's own Recorder."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("fastai")

from fastai.callback.core import Callback, CancelFitException  # noqa: E402

import ledger  # noqa: E402
from ledger.integrations.fastai import LedgerCallback  # noqa: E402
from tests.integrations.stops import run_stopped_script, stop_params  # noqa: E402

QUIET = {"capture_output": False, "system_metrics": False}

SETUP = """
import torch
from fastai.callback.schedule import fit_one_cycle  # Learner.fit_one_cycle
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from fastai.metrics import accuracy

def learner(cbs=(), n=64):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 4, generator=g)
    y = (x.sum(dim=1) > 2).long()
    items = list(zip(x, y))
    dls = DataLoaders.from_dsets(items[: n * 3 // 4], items[n * 3 // 4 :], bs=16, device="cpu")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    learn = Learner(dls, model, loss_func=torch.nn.CrossEntropyLoss(), metrics=accuracy, cbs=list(cbs))
    learn.remove_cb(learn.progress)  # no progress bars in test output
    return learn
"""
namespace: dict = {}
exec(SETUP, namespace)  # the same learner in the scripts below
learner = namespace["learner"]


class StopAt(Callback):
    """Raises ``exc`` after the given training batch."""

    order = 60

    def __init__(self, batch: int, exc: BaseException) -> None:
        self.batch, self.exc = batch, exc

    def after_batch(self):
        if self.training and self.learn.train_iter == self.batch:
            raise self.exc


class CancelAfterFirstEpoch(Callback):
    order = 60  # after the Recorder and ledger's callback have seen the epoch

    def after_epoch(self):
        raise CancelFitException


def test_fit_one_cycle_logs_what_the_recorder_records(tmp_path):
    cb = LedgerCallback(project="fa", root=tmp_path / "results", group="mlp", **QUIET)
    learn = learner([cb])
    with learn.no_logging():
        learn.fit_one_cycle(3, lr_max=1e-2)
    recorder = learn.recorder

    (run,) = ledger.open(tmp_path / "results").runs()
    assert (run.id, run.status, run.group) == (cb.ledger_run.id, "finished", "mlp")
    assert learn.ledger is cb  # fastai's name for the callback
    records = run.records()
    batches = [r for r in records if "train/loss" in r]
    assert [r["_step"] for r in batches] == list(range(9))  # 3 batches x 3 epochs
    assert [r["train/loss"] for r in batches] == pytest.approx([float(v) for v in recorder.losses])
    assert [r["lr"] for r in batches] == pytest.approx([float(v) for v in recorder.lrs])
    assert [r["lr"] for r in batches] == pytest.approx([float(v) for v in recorder.hps["lr"]])
    assert [r["mom"] for r in batches] == pytest.approx([float(v) for v in recorder.hps["mom"]])
    assert {"train/raw_loss", "wd", "sqr_mom", "eps"} <= set(batches[0])
    epochs = [r for r in records if "valid_loss" in r]
    assert [(r["_step"], r["epoch"]) for r in epochs] == [(2, 0), (5, 1), (8, 2)]  # each epoch's last batch
    logged = [r[name] for r in epochs for name in ("train_loss", "valid_loss", "accuracy")]
    assert logged == pytest.approx([float(v) for row in recorder.values for v in row])
    fastai_config = run.config["fastai"]
    assert (fastai_config["n_epoch"], fastai_config["batch_size"], fastai_config["batches_per_epoch"]) == (3, 16, 3)
    assert (fastai_config["model"], fastai_config["params"], fastai_config["opt_func"]) == ("Sequential", 58, "Adam")
    assert (fastai_config["loss_func"], fastai_config["metrics"]) == ("CrossEntropyLoss()", ["accuracy"])
    schedule = fastai_config["schedule"]
    assert schedule["lr"]["max"] == pytest.approx(1e-2)
    assert schedule["lr"]["start"] == pytest.approx(1e-2 / 25)  # fit_one_cycle's div
    assert (schedule["mom"]["start"], schedule["mom"]["min"]) == pytest.approx((0.95, 0.85))


def test_a_plain_fit_records_its_constant_learning_rate(tmp_path):
    cb = LedgerCallback(project="fa", root=tmp_path, **QUIET)
    learn = learner([cb])
    with learn.no_logging():
        learn.fit(2, lr=3e-3)
    run = ledger.open(tmp_path).run(cb.ledger_run.id)
    assert run.config["fastai"]["lr"] == pytest.approx(3e-3)
    assert "schedule" not in run.config["fastai"]
    lrs = [r["lr"] for r in run.records() if "lr" in r]
    assert lrs == [pytest.approx(3e-3)] * 6


def test_a_fit_cancelled_by_a_callback_is_finished(tmp_path):
    cb = LedgerCallback(project="fa", root=tmp_path, **QUIET)
    learn = learner([cb, CancelAfterFirstEpoch()])
    with learn.no_logging():
        learn.fit(5, lr=1e-2)
    run = ledger.open(tmp_path).run(cb.ledger_run.id)
    assert run.status == "finished"  # early stopping is a normal end
    assert [r["epoch"] for r in run.records() if "epoch" in r] == [0]


def test_each_fit_is_a_run_and_a_given_run_is_left_open(tmp_path):
    cb = LedgerCallback(project="fa", root=tmp_path / "own", **QUIET)
    learn = learner([cb])
    with learn.no_logging():
        learn.fit(1, lr=1e-2)
        learn.fit(1, lr=1e-2)
    assert [r.status for r in ledger.open(tmp_path / "own").runs()] == ["finished", "finished"]

    with ledger.init("fa", root=tmp_path / "given", **QUIET) as run:
        run.log({"before": 1.0})
        learn = learner([LedgerCallback(run=run)])
        with learn.no_logging():
            learn.fit(1, lr=1e-2)
        assert run.status == "running"
    records = ledger.open(tmp_path / "given").run(run.id).records()
    assert [r["_step"] for r in records if "train/loss" in r] == [1, 2, 3]


@pytest.mark.parametrize("exc", [FloatingPointError("loss diverged"), KeyboardInterrupt()])
def test_a_fit_that_raised_is_failed_at_the_next_one(tmp_path, exc):
    cb = LedgerCallback(project="fa", root=tmp_path, **QUIET)
    learn = learner([cb])
    with learn.no_logging(), pytest.raises(type(exc)):
        learn.fit(3, lr=1e-2, cbs=[StopAt(4, exc)])
    first = cb.ledger_run
    assert first.status == "running"  # fastai tells callbacks nothing about exceptions
    with learn.no_logging():
        learn.fit(1, lr=1e-2)
    first_view, second_view = ledger.open(tmp_path).runs()
    assert (first_view.id, first_view.status) == (first.id, "failed")
    assert "stopped before its end" in first_view.doc["error"]
    assert [r["_step"] for r in first_view.records() if "train/loss" in r] == [0, 1, 2, 3]
    assert second_view.status == "finished"


@pytest.mark.slow
@stop_params
def test_a_script_whose_fit_stops_records_how(tmp_path, status):
    script = (
        SETUP
        + """
from ledger.integrations.fastai import LedgerCallback

class StoppingLoss(torch.nn.CrossEntropyLoss):  # fastai rewrites the message of what callbacks raise
    calls = 0
    def forward(self, pred, target):
        if pred.requires_grad:
            StoppingLoss.calls += 1
            if StoppingLoss.calls == 5:
                {stop}
        return super().forward(pred, target)

learn = learner([LedgerCallback(project="fa", root="results", system_metrics=False)])
learn.loss_func = StoppingLoss()
with learn.no_logging():
    learn.fit_one_cycle(3, 1e-2)
"""
    )
    run = run_stopped_script(tmp_path, script, status)
    assert [r["_step"] for r in run.records() if "train/loss" in r] == [0, 1, 2, 3]


def test_arguments_are_checked_with_a_clear_error():
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) projet; .* ledger.init, which takes"):
        LedgerCallback(projet="fa")
