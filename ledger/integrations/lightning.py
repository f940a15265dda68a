"""PyTorch Lightning: a logger that writes into the ledger.

    from ledger.integrations.lightning import LedgerLogger

    trainer = lightning.Trainer(max_epochs=10, logger=LedgerLogger(project="mnist", group="resnet"))
    trainer.fit(model, datamodule=dm)
    trainer.test(model, datamodule=dm)   # the same run, reopened: test metrics join it

Hyperparameters (``self.save_hyperparameters()``) go into config, metrics are logged at
the trainer's global step, and the run ends with the trainer's outcome: ``finished``,
``failed`` (with the traceback), or ``killed`` (Ctrl-C, or a SLURM requeue signal). With
``save_checkpoints=True`` the checkpoints that ModelCheckpoint keeps are copied into the
run's ``files/checkpoints/`` when training ends; ``"all"`` copies every checkpoint as it is
written. With ``log_model=True`` every checkpoint ModelCheckpoint writes becomes a version of
the artifact ``model-<run id>`` (type ``model``; its epoch, step and monitored metric in the
metadata) and the ``best`` alias moves to the best one; ``log_model="best"`` logs only the
checkpoints that are the best so far. Only the process of global rank zero writes anything.
"""

from __future__ import annotations

import os
import re
import sys
from argparse import Namespace
from typing import TYPE_CHECKING, Any

from ledger._lifecycle import format_error, status_for
from ledger.integrations._common import RunHolder, check_log_model, log_model, number, plain

try:
    from lightning.fabric.loggers.logger import rank_zero_experiment
    from lightning.pytorch.loggers import Logger
    from lightning.pytorch.utilities.rank_zero import rank_zero_only
except ImportError as exc:  # pragma: no cover (the tests install lightning)
    msg = "ledger.integrations.lightning needs PyTorch Lightning 2: pip install lightning"
    raise ImportError(msg) from exc

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ledger._run import Run

__all__ = ["LedgerLogger"]


class LedgerLogger(Logger):
    """A Lightning logger that writes one ledger run.

    Args:
        run: a run to write to (you finish it). Without it, the logger makes its run from
            ``init_kwargs`` when the trainer first needs it and finishes it with ``fit``.
        save_checkpoints: ``True`` copies the checkpoints ModelCheckpoint kept (best k and
            last) into ``files/checkpoints/`` when training ends and records the best one in
            the summary (``checkpoint/best``, ``checkpoint/best_score``); ``"all"`` copies
            each checkpoint as soon as it is written; ``False`` (default) copies none.
        log_model: ``True`` logs each checkpoint ModelCheckpoint writes as a version of the
            artifact ``model-<run id>`` (metadata: ``epoch``, ``step``, ``monitor``, ``mode``,
            ``score``), moving the ``best`` alias to the best one by its monitored metric;
            ``"best"`` logs only the checkpoints that are the best so far; ``False``
            (default) logs none. Stored once per content (deduplicated), unlike files.
        **init_kwargs: passed to :func:`ledger.init` (``project``, ``config``, ``group``, ...).

    Checkpoints that Lightning itself writes go to ``<default_root_dir>/<project>/<run id>/
    checkpoints`` (the logger's ``name`` and ``version``), as with W&B's logger.
    """

    def __init__(
        self,
        run: Run | None = None,
        *,
        save_checkpoints: bool | str = False,
        log_model: bool | str = False,
        **init_kwargs: Any,
    ) -> None:
        super().__init__()
        if not (isinstance(save_checkpoints, bool) or save_checkpoints == "all"):
            msg = f"LedgerLogger: save_checkpoints must be False, True or 'all', got {save_checkpoints!r}"
            raise ValueError(msg)
        self._log_model = check_log_model("LedgerLogger", log_model)
        self._logged_models: dict[str, float] = {}  # checkpoint path -> mtime when logged
        self._epoch: float | None = None  # the trainer's epoch, as Lightning logs it with metrics
        self._holder = RunHolder("LedgerLogger", run, init_kwargs)
        self._project = run.project if run is not None else init_kwargs.get("project")
        self._save_checkpoints = save_checkpoints
        self._checkpoint_callbacks: dict[int, Any] = {}
        self._saved: dict[str, float] = {}  # checkpoint path -> mtime when copied

    # -- what Lightning asks of a logger ----------------------------------------------------

    @property
    def name(self) -> str | None:
        """The run's project (Lightning puts checkpoints under ``<name>/<version>``)."""
        run = self._holder.run
        return run.project if run is not None else self._project

    @property
    def version(self) -> str | None:
        """The run id, once the run exists."""
        run = self._holder.run
        return run.id if run is not None else None

    @property
    @rank_zero_experiment
    def experiment(self) -> Run:
        """The ledger run (made on first use; reopened if it already ended). A stand-in
        that ignores every call on ranks other than zero."""
        return self._holder.get()

    @property
    def run(self) -> Run | None:
        """The run written so far (None before Lightning first needs it)."""
        return self._holder.run

    @rank_zero_only
    def log_hyperparams(self, params: Mapping[str, Any] | Namespace, *args: Any, **kwargs: Any) -> None:
        """Add the hyperparameters to the run's config."""
        values = vars(params) if isinstance(params, Namespace) else dict(params)
        if values:
            self.experiment.config.update(plain(values))

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log one record at the trainer's global step (never behind the run's last step)."""
        record = {k: n for k, v in metrics.items() if (n := number(v)) is not None}
        if not record:
            return
        self._epoch = record.get("epoch", self._epoch)
        run = self.experiment
        if step is not None:
            step = max(int(step), run.step - 1)
        run.log(record, step=step)

    @rank_zero_only
    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        """Log the checkpoint just written as a model version (``log_model``); copy the new
        checkpoints now (``save_checkpoints="all"``) or remember where they are (``True``)."""
        if self._log_model:
            self._log_checkpoint(checkpoint_callback)
        if self._save_checkpoints == "all":
            self._copy_checkpoints(checkpoint_callback)
        elif self._save_checkpoints:
            self._checkpoint_callbacks[id(checkpoint_callback)] = checkpoint_callback

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """The trainer is done: copy checkpoints if asked, and finish a run the logger made
        (``success`` -> ``finished``; ``failed`` -> ``failed``, or ``killed`` on Ctrl-C)."""
        run = self._holder.run
        if run is None or run.status != "running":
            return
        for callback in self._checkpoint_callbacks.values():
            self._copy_checkpoints(callback)
        if status == "success":
            self._holder.end("finished")
        elif status == "finished":  # Lightning's SLURM requeue handler: stopped, to continue later
            self._holder.end("killed", "stopped by Lightning for a SLURM requeue (SIGUSR1)")
        else:
            exc = sys.exc_info()[1]  # finalize("failed") runs while Lightning handles the exception
            if exc is not None:
                self._holder.end(status_for(exc), format_error(type(exc), exc, exc.__traceback__))
            else:
                self._holder.end("failed", f"Lightning ended the run with status {status!r}")

    # -- checkpoints ------------------------------------------------------------------------

    def _log_checkpoint(self, callback: Any) -> None:
        # ModelCheckpoint names the file it just wrote only privately; the last and best
        # paths it keeps publicly are the fallbacks.
        path = getattr(callback, "_last_checkpoint_saved", "") or getattr(callback, "last_model_path", "")
        best_path = getattr(callback, "best_model_path", "")
        path = path or best_path
        try:
            mtime = os.path.getmtime(path)
        except OSError:  # on a remote filesystem, or removed since
            return
        if self._logged_models.get(path) == mtime:
            return
        is_best = bool(best_path) and os.path.abspath(path) == os.path.abspath(best_path)
        if self._log_model == "best" and not is_best:
            return
        name = os.path.basename(path)
        found = {k: int(v) for k, v in re.findall(r"(epoch|step)=(\d+)", name)}
        scores = getattr(callback, "best_k_models", {}) or {}
        score = number(scores.get(path)) if path in scores else number(getattr(callback, "current_score", None))
        epoch = found.get("epoch", int(self._epoch) if self._epoch is not None else None)
        step = found.get("step", getattr(callback, "_last_global_step_saved", None))
        metadata = {
            "epoch": epoch, "step": step, "monitor": getattr(callback, "monitor", None),
            "mode": getattr(callback, "mode", None), "score": score, "filename": name,
        }  # fmt: skip
        log_model(self._holder.get(), path, best=is_best, metadata=metadata)
        self._logged_models[path] = mtime

    def _copy_checkpoints(self, callback: Any) -> None:
        run = self._holder.get()
        paths = [getattr(callback, "last_model_path", ""), getattr(callback, "best_model_path", "")]
        paths += list(getattr(callback, "best_k_models", {}) or {})
        for path in dict.fromkeys(p for p in paths if p):
            try:
                mtime = os.path.getmtime(path)
            except OSError:  # removed since (top-k rotation) or on a remote filesystem
                continue
            if self._saved.get(path) == mtime:
                continue
            run.save(path, name=f"checkpoints/{os.path.basename(path)}")
            self._saved[path] = mtime
        best = getattr(callback, "best_model_path", "")
        if best and best in self._saved:
            run.summary["checkpoint/best"] = f"files/checkpoints/{os.path.basename(best)}"
            score = number(getattr(callback, "best_model_score", None))
            if score is not None:
                run.summary["checkpoint/best_score"] = score
