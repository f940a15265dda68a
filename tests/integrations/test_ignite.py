"""PyTorch Ignite: real trainer and evaluator engines on the CPU, compared with the engines' own state."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("ignite")

from ignite.engine import Events  # noqa: E402
from ignite.handlers import global_step_from_engine  # noqa: E402
from ignite.handlers.tensorboard_logger import TensorboardLogger  # noqa: E402

import ledger  # noqa: E402
from ledger.integrations.ignite import LedgerLogger, OutputHandler  # noqa: E402
from tests.integrations.stops import run_stopped_script, stop_params  # noqa: E402

QUIET = {"capture_output": False, "system_metrics": False}

SETUP = """
import torch
from ignite.engine import Events, create_supervised_evaluator, create_supervised_trainer
from ignite.handlers import LRScheduler
from ignite.metrics import Accuracy, Loss

def engines(stop_at=None):
    torch.manual_seed(0)
    x = torch.rand(32, 4)
    y = (x.sum(dim=1) > 2).long()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss = torch.nn.CrossEntropyLoss()

    def output(x, y, y_pred, loss_value):
        if stop_at is not None and trainer.state.iteration == stop_at:
            stop()
        return loss_value.item()

    trainer = create_supervised_trainer(model, optimizer, loss, output_transform=output)
    evaluator = create_supervised_evaluator(model, metrics={"accuracy": Accuracy(), "nll": Loss(loss)})
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda engine: evaluator.run(loader))
    scheduler = LRScheduler(torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5))
    trainer.add_event_handler(Events.ITERATION_COMPLETED, scheduler)
    return trainer, evaluator, optimizer, loader

def attach(logger, trainer, evaluator, optimizer):
    logger.attach_output_handler(trainer, Events.ITERATION_COMPLETED, tag="train", output_transform=lambda l: {"loss": l})
    logger.attach_output_handler(evaluator, Events.COMPLETED, tag="val", metric_names=["accuracy", "nll"],
                                 global_step_transform=global_step_from_engine(trainer, Events.ITERATION_COMPLETED))
    logger.attach_opt_params_handler(trainer, Events.ITERATION_STARTED, optimizer)
"""
namespace: dict = {"global_step_from_engine": global_step_from_engine}
exec(SETUP, namespace)  # the same engines in the scripts below
engines, attach = namespace["engines"], namespace["attach"]


def watch(trainer, evaluator, optimizer):
    """What the engines themselves report, event by event."""
    seen: dict = {"loss": [], "lr": [], "val": []}
    trainer.add_event_handler(
        Events.ITERATION_STARTED, lambda e: seen["lr"].append((e.state.iteration, optimizer.param_groups[0]["lr"]))
    )
    trainer.add_event_handler(
        Events.ITERATION_COMPLETED, lambda e: seen["loss"].append((e.state.iteration, e.state.output))
    )
    evaluator.add_event_handler(
        Events.COMPLETED, lambda e: seen["val"].append((trainer.state.iteration, dict(e.state.metrics)))
    )
    return seen


def test_outputs_metrics_and_learning_rates_as_the_engines_report_them(tmp_path):
    trainer, evaluator, optimizer, loader = engines()
    seen = watch(trainer, evaluator, optimizer)
    with LedgerLogger(project="ig", root=tmp_path / "results", group="mlp", **QUIET) as logger:
        attach(logger, trainer, evaluator, optimizer)
        trainer.run(loader, max_epochs=3)
        assert logger.run.status == "running"

    (run,) = ledger.open(tmp_path / "results").runs()
    assert (run.id, run.status, run.group) == (logger.run.id, "finished", "mlp")
    records = run.records()
    assert [(r["_step"], r["train/loss"]) for r in records if "train/loss" in r] == seen["loss"]
    assert [(r["_step"], r["lr/group_0"]) for r in records if "lr/group_0" in r] == seen["lr"]
    assert len({lr for _, lr in seen["lr"]}) == 4  # the scheduler moved it: 0.1, 0.05, ...
    val = [(r["_step"], {"accuracy": r["val/accuracy"], "nll": r["val/nll"]}) for r in records if "val/nll" in r]
    assert val == seen["val"]
    assert [step for step, _ in val] == [4, 8, 12]  # the trainer's iteration at each evaluation
    assert run.config["ignite"] == {"max_epochs": 3, "epoch_length": 4}
    assert run.config["optimizer"]["class"] == "SGD"
    assert (run.config["optimizer"]["lr"], run.config["optimizer"]["momentum"]) == (0.1, 0.9)


def test_a_step_behind_the_last_one_is_logged_at_the_last_one(tmp_path):
    trainer, evaluator, _, loader = engines()
    with LedgerLogger(project="ig", root=tmp_path, **QUIET) as logger:
        logger.attach_output_handler(
            trainer, Events.ITERATION_COMPLETED, tag="train", output_transform=lambda loss: loss
        )
        logger.attach_output_handler(
            evaluator,
            Events.COMPLETED,
            tag="val",
            metric_names="all",
            global_step_transform=global_step_from_engine(trainer),
        )  # the trainer's epoch: 1, 2 after iterations 1..4, 5..8
        trainer.run(loader, max_epochs=2)
    records = ledger.open(tmp_path).run(logger.run.id).records()
    assert [r["_step"] for r in records if "val/accuracy" in r] == [4, 8]
    assert [r["_step"] for r in records if "train/output" in r] == list(range(1, 9))


@pytest.mark.parametrize(
    ("exc", "status"), [(FloatingPointError("loss diverged"), "failed"), (KeyboardInterrupt(), "killed")]
)
def test_an_exception_out_of_the_with_block_ends_the_run_with_its_traceback(tmp_path, exc, status):
    trainer, evaluator, optimizer, loader = engines()

    def stop(engine):
        if engine.state.iteration == 3:
            raise exc

    trainer.add_event_handler(Events.ITERATION_COMPLETED, stop)
    logger = LedgerLogger(project="ig", root=tmp_path, **QUIET)
    attach(logger, trainer, evaluator, optimizer)
    with pytest.raises(type(exc)), logger:
        trainer.run(loader, max_epochs=3)

    run = ledger.open(tmp_path).run(logger.run.id)
    assert run.status == status
    assert type(exc).__name__ in run.doc["error"]
    assert "Traceback (most recent call last)" in run.doc["error"]
    assert [r["_step"] for r in run.records() if "train/loss" in r] == [1, 2]  # stopped before the logger saw 3


def test_close_finishes_and_a_given_run_is_left_open(tmp_path):
    trainer, evaluator, optimizer, loader = engines()
    logger = LedgerLogger(project="ig", root=tmp_path / "own", **QUIET)
    attach(logger, trainer, evaluator, optimizer)
    trainer.run(loader, max_epochs=1)
    logger.close()
    assert ledger.open(tmp_path / "own").run(logger.run.id).status == "finished"

    with ledger.init("ig", root=tmp_path / "given", **QUIET) as run:
        trainer, evaluator, optimizer, loader = engines()
        with LedgerLogger(run=run) as logger:
            attach(logger, trainer, evaluator, optimizer)
            trainer.run(loader, max_epochs=1)
        assert run.status == "running"
    assert ledger.open(tmp_path / "given").run(run.id).status == "finished"


@pytest.mark.slow
@stop_params
def test_a_script_whose_training_stops_records_how(tmp_path, status):
    script = (
        SETUP
        + """
from ignite.handlers import global_step_from_engine
from ledger.integrations.ignite import LedgerLogger

def stop():
    {stop}

trainer, evaluator, optimizer, loader = engines(stop_at=3)
logger = LedgerLogger(project="ig", root="results", system_metrics=False)
attach(logger, trainer, evaluator, optimizer)
trainer.run(loader, max_epochs=3)
logger.close()
"""
    )
    run = run_stopped_script(tmp_path, script, status)
    assert [r["_step"] for r in run.records() if "train/loss" in r] == [1, 2]


def test_handlers_work_only_with_a_ledger_logger(tmp_path):
    trainer, _, _, loader = engines()
    handler = OutputHandler(tag="train", output_transform=lambda loss: loss)
    tensorboard = TensorboardLogger(log_dir=str(tmp_path / "tb"))
    tensorboard.attach(trainer, handler, Events.ITERATION_COMPLETED)
    with pytest.raises(TypeError, match="OutputHandler works only with LedgerLogger, got TensorboardLogger"):
        trainer.run(loader, max_epochs=1)
    tensorboard.close()
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) log_dir"):
        LedgerLogger(log_dir="x")
