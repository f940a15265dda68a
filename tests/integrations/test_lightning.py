"""PyTorch Lightning: real Trainer.fit / test runs on the CPU, read back from the files."""

from __future__ import annotations

import os
import signal

import pytest

torch = pytest.importorskip("torch")
L = pytest.importorskip("lightning.pytorch")

from lightning.pytorch.callbacks import ModelCheckpoint  # noqa: E402
from lightning.pytorch.utilities.rank_zero import rank_zero_only  # noqa: E402

import ledger  # noqa: E402
from ledger.integrations.lightning import LedgerLogger  # noqa: E402

QUIET = {"capture_output": False, "system_metrics": False}


class Tiny(L.LightningModule):
    def __init__(self, lr: float = 0.1, hidden: int = 8, fail_at_step: int | None = None, interrupt_at_step=None):
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 2))

    def _loss(self, batch):
        x, y = batch
        return torch.nn.functional.cross_entropy(self.net(x), y)

    def training_step(self, batch, batch_idx):
        if self.hparams.fail_at_step is not None and self.global_step == self.hparams.fail_at_step:
            msg = "loss exploded"
            raise FloatingPointError(msg)
        if self.hparams.interrupt_at_step is not None and self.global_step == self.hparams.interrupt_at_step:
            raise KeyboardInterrupt
        loss = self._loss(batch)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", self._loss(batch))

    def test_step(self, batch, batch_idx):
        self.log("test_loss", self._loss(batch))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def loader():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(32, 4, generator=g)
    y = (x.sum(dim=1) > 2).long()
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)


def trainer(tmp_path, logger, **kwargs):
    torch.manual_seed(0)
    options = {
        "max_epochs": 2,
        "accelerator": "cpu",
        "devices": 1,
        "logger": logger,
        "log_every_n_steps": 1,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "enable_checkpointing": False,
        "default_root_dir": tmp_path,
        **kwargs,
    }
    return L.Trainer(**options)


# Lightning's advice about DataLoader workers on a 2-core machine is not what these tests check.
pytestmark = pytest.mark.filterwarnings("ignore:The '\\w+_dataloader' does not have many workers")


def test_fit_logs_hyperparameters_metrics_at_global_steps_and_finishes(tmp_path):
    logger = LedgerLogger(project="pl", root=tmp_path / "results", group="tiny", **QUIET)
    trainer(tmp_path, logger).fit(Tiny(lr=0.05, hidden=8), loader(), loader())

    (run,) = ledger.open(tmp_path / "results").runs()
    assert (run.id, run.project, run.group, run.status) == (logger.version, "pl", "tiny", "finished")
    assert logger.name == "pl"
    assert run.config["lr"] == 0.05
    assert run.config["hidden"] == 8
    records = run.records()
    train = [r for r in records if "train_loss" in r]
    val = [r for r in records if "val_loss" in r]
    assert [r["_step"] for r in train] == list(range(8))  # 4 batches x 2 epochs, at the trainer's global step
    assert [(r["_step"], r["epoch"]) for r in val] == [(3, 0), (7, 1)]
    steps = [r["_step"] for r in records]
    assert steps == sorted(steps)
    assert run.summary["val_loss"] == pytest.approx(val[-1]["val_loss"])


def test_test_after_fit_reopens_the_same_run(tmp_path):
    logger = LedgerLogger(project="pl", root=tmp_path, **QUIET)
    t = trainer(tmp_path, logger)
    model = Tiny()
    t.fit(model, loader(), loader())
    t.test(model, loader())

    (run,) = ledger.open(tmp_path).runs()
    assert run.status == "finished"
    last = run.records()[-1]
    assert (last["_step"], sorted(last)) == (8, ["_step", "_time", "epoch", "test_loss"])  # the global step
    assert run.summary["test_loss"] == last["test_loss"]
    assert len(run.doc["intervals"]) == 2  # fit, then test


def test_a_fit_that_raises_is_failed_with_the_traceback(tmp_path):
    logger = LedgerLogger(project="pl", root=tmp_path, **QUIET)
    with pytest.raises(FloatingPointError, match="loss exploded"):
        trainer(tmp_path, logger).fit(Tiny(fail_at_step=5), loader(), loader())

    (run,) = ledger.open(tmp_path).runs()
    assert run.status == "failed"
    assert "FloatingPointError: loss exploded" in run.doc["error"]
    assert [r["_step"] for r in run.records() if "train_loss" in r] == [0, 1, 2, 3, 4]


def test_ctrl_c_during_fit_is_killed(tmp_path):
    sigint = signal.getsignal(signal.SIGINT)
    logger = LedgerLogger(project="pl", root=tmp_path, **QUIET)
    try:
        with pytest.raises(SystemExit):  # Lightning turns Ctrl-C into a graceful exit(1)
            trainer(tmp_path, logger).fit(Tiny(interrupt_at_step=2), loader(), loader())
    finally:
        signal.signal(signal.SIGINT, sigint)  # Lightning ignores SIGINT while it shuts down

    (run,) = ledger.open(tmp_path).runs()
    assert run.status == "killed"
    assert "KeyboardInterrupt" in run.doc["error"]


@pytest.mark.parametrize(("mode", "expected"), [(True, 1), ("all", 2)])
def test_checkpoints_are_saved_as_run_files(tmp_path, mode, expected):
    logger = LedgerLogger(project="pl", root=tmp_path / "results", save_checkpoints=mode, **QUIET)
    checkpoint = ModelCheckpoint(monitor="val_loss", save_top_k=1)
    t = trainer(tmp_path, logger, enable_checkpointing=True, callbacks=[checkpoint])
    t.fit(Tiny(), loader(), loader())

    (run,) = ledger.open(tmp_path / "results").runs()
    saved = sorted(p.name for p in (tmp_path / "results" / "pl" / "runs" / run.id / "files" / "checkpoints").iterdir())
    assert len(saved) == expected  # True: the best one kept at the end; "all": each epoch's as written
    assert all(name.endswith(".ckpt") for name in saved)
    best = run.summary["checkpoint/best"]
    assert best == f"files/checkpoints/{checkpoint.best_model_path.rsplit('/', 1)[-1]}"
    assert (tmp_path / "results" / "pl" / "runs" / run.id / best).is_file()
    assert run.summary["checkpoint/best_score"] == pytest.approx(float(checkpoint.best_model_score))
    # Lightning's own copy sits under <default_root_dir>/<project>/<run id>/checkpoints, as with W&B's logger.
    assert checkpoint.dirpath == str(tmp_path / "pl" / run.id / "checkpoints")


def test_a_given_run_is_written_but_left_open(tmp_path):
    with ledger.init("pl", root=tmp_path, **QUIET) as run:
        trainer(tmp_path, LedgerLogger(run=run)).fit(Tiny(), loader(), loader())
        assert run.status == "running"
        run.summary["note"] = "fit done"
    view = ledger.open(tmp_path).run(run.id)
    assert view.status == "finished"
    assert view.summary["note"] == "fit done"
    assert view.config["lr"] == 0.1


def test_only_rank_zero_writes(tmp_path, monkeypatch):
    monkeypatch.setattr(rank_zero_only, "rank", 1)  # what Lightning sets in the other processes
    logger = LedgerLogger(project="pl", root=tmp_path / "results", **QUIET)
    logger.log_hyperparams({"lr": 0.1})
    logger.log_metrics({"loss": 1.0}, step=0)
    logger.finalize("success")
    assert logger.experiment.log({"loss": 1.0}) is None  # a stand-in that does nothing
    assert logger.run is None
    assert logger.version is None
    assert not (tmp_path / "results").exists()


def test_save_checkpoints_takes_only_its_three_values():
    with pytest.raises(ValueError, match="save_checkpoints must be False, True or 'all'"):
        LedgerLogger(save_checkpoints="best")


@pytest.mark.parametrize("log_model", [True, "best"])
def test_log_model_logs_checkpoints_as_versions_and_moves_best_to_the_best_one(tmp_path, monkeypatch, log_model):
    monkeypatch.setenv("LEDGER_ARTIFACT_CACHE", str(tmp_path / "cache"))
    logger = LedgerLogger(project="pl", root=tmp_path / "results", log_model=log_model, **QUIET)
    checkpoint = ModelCheckpoint(monitor="val_loss", save_top_k=-1)  # every epoch's checkpoint is written
    t = trainer(tmp_path, logger, enable_checkpointing=True, callbacks=[checkpoint], max_epochs=4)
    t.fit(Tiny(lr=3.0), loader(), loader())  # a rate so high that val_loss goes up and down

    lg = ledger.open(tmp_path / "results")
    (run,) = lg.runs()
    val = [r["val_loss"] for r in run.records() if "val_loss" in r]
    improving = [i for i, v in enumerate(val) if v < min(val[:i], default=float("inf"))]
    versions = lg.artifacts(name=f"model-{run.id}")
    expected = list(range(len(val))) if log_model is True else improving
    assert improving != list(range(len(val)))  # the best is not simply the last one
    assert [v.metadata["epoch"] for v in versions] == expected
    assert all(v.type == "model" and v.run_id == run.id for v in versions)
    assert [v.metadata["score"] for v in versions] == pytest.approx([val[e] for e in expected])
    assert {v.metadata["monitor"] for v in versions} == {"val_loss"}
    best = lg.artifact(f"model-{run.id}:best")
    assert best.metadata["epoch"] == int(min(range(len(val)), key=val.__getitem__))
    assert best.metadata["score"] == pytest.approx(float(checkpoint.best_model_score))
    assert best.metadata["filename"] == os.path.basename(checkpoint.best_model_path)
    local = best.download()
    with open(local, "rb") as got, open(checkpoint.best_model_path, "rb") as written:
        assert got.read() == written.read()
    assert [v.ref for v in lg.run(run.id).logged_artifacts()] == [v.ref for v in versions]


def test_log_model_takes_only_its_three_values():
    with pytest.raises(ValueError, match="log_model must be False, True"):
        LedgerLogger(log_model="all")
