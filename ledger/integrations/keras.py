"""Keras 3: log ``model.fit`` into the ledger with one callback (any backend; tested on torch).

    from ledger.integrations.keras import LedgerCallback

    model.fit(x, y, epochs=10, validation_split=0.2,
              callbacks=[LedgerCallback(project="mnist", config=cfg, group="cnn", job_type="train")])

Per epoch, the metrics Keras reports (``loss``, ``accuracy``, ``val_loss``, ...) with the
epoch number and the learning rate; with ``log_every_n_batches=N`` also the running
batch metrics as ``batch/<name>``. Into config, under ``keras``: the model's name and
parameter counts, the optimizer's config, epochs and steps per epoch. The run finishes
with the fit; ``model.evaluate(..., callbacks=[cb])`` afterwards adds ``test/<name>``. With
``log_model=True`` the model is saved (``model.keras``) at each epoch's end as a version of the
artifact ``model-<run id>``, its epoch and monitored metric in the metadata, the ``best`` alias
on the best one; ``log_model="best"`` saves only the epochs that improve the metric.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from typing import TYPE_CHECKING, Any

from ledger.integrations._common import BestTracker, RunHolder, check_log_model, log_model, number, plain

try:
    import keras
except ImportError as exc:  # pragma: no cover (the tests install keras)
    msg = (
        "ledger.integrations.keras needs Keras 3: pip install 'keras>=3' and a backend "
        "(torch, jax or tensorflow; choose it with KERAS_BACKEND=torch)"
    )
    raise ImportError(msg) from exc

if TYPE_CHECKING:
    from ledger._run import Run

if int(str(keras.__version__).split(".", 1)[0]) < 3:  # pragma: no cover
    msg = f"ledger.integrations.keras needs Keras 3 or newer, found {keras.__version__}: pip install -U 'keras>=3'"
    raise ImportError(msg)

__all__ = ["LedgerCallback"]

log = logging.getLogger("ledger")


class LedgerCallback(keras.callbacks.Callback):
    """A Keras callback that logs a fit into a ledger run.

    Args:
        run: a run to write to (you finish it). Without it, each ``fit`` makes its own
            run from ``init_kwargs`` and finishes it when the fit ends.
        log_every_n_batches: also log the running batch metrics every N batches, as
            ``batch/<name>``; steps then count batches (epoch records share the step of
            their last batch). Without it, one record per epoch, step = epoch.
        log_model: ``True`` saves the model at the end of every epoch as a version of the
            artifact ``model-<run id>`` (metadata: ``epoch``, ``monitor``, ``mode``,
            ``score``), moving the ``best`` alias to the best epoch by ``monitor``;
            ``"best"`` saves only the epochs that improve it; ``False`` (default) none.
        monitor: the metric that decides the best model (default ``val_loss``, else
            ``loss`` when the fit has no validation), as Keras' ModelCheckpoint.
        mode: ``min``, ``max`` or ``auto`` (``max`` for accuracy-like names, as Keras decides).
        **init_kwargs: passed to :func:`ledger.init` (``project``, ``config``, ``group``,
            ``job_type``, ``root``, ...).

    A fit that raises leaves its run ``failed`` (``killed`` on Ctrl-C): in a script through
    ledger's exception hook, in Jupyter when the cell ends. To mark it yourself, pass a run
    from ``with ledger.init(...) as run:``.
    """

    def __init__(
        self,
        run: Run | None = None,
        *,
        log_every_n_batches: int | None = None,
        log_model: bool | str = False,
        monitor: str = "val_loss",
        mode: str = "auto",
        **init_kwargs: Any,
    ) -> None:
        super().__init__()
        if mode not in ("min", "max", "auto"):
            msg = f"LedgerCallback: mode must be 'min', 'max' or 'auto', got {mode!r}"
            raise ValueError(msg)
        self._log_model = check_log_model("LedgerCallback", log_model)
        self._monitor = monitor
        self._mode = mode
        self._best = BestTracker("min")
        if log_every_n_batches is not None and (
            isinstance(log_every_n_batches, bool) or not isinstance(log_every_n_batches, int) or log_every_n_batches < 1
        ):
            msg = f"LedgerCallback: log_every_n_batches must be a positive int or None, got {log_every_n_batches!r}"
            raise ValueError(msg)
        self._holder = RunHolder("LedgerCallback", run, init_kwargs)
        self._every = log_every_n_batches
        self._base = 0  # the run's next step when the fit began
        self._batches = 0  # batches done in this fit

    @property
    def run(self) -> Run | None:
        """The run being written (None before the first fit when the callback makes its runs)."""
        return self._holder.run

    # -- fit --------------------------------------------------------------------------------

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._best = BestTracker(_direction(self._monitor, self._mode))
        run = self._holder.begin()
        self._base = run.step
        self._batches = 0
        run.config.update({"keras": self._describe()})

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._batches += 1
        if self._every is None or self._batches % self._every:
            return
        record = {f"batch/{k}": v for k, v in _numbers(logs).items()}
        if record:
            run = self._holder.get()
            run.log(record, step=self._batch_step(run))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        record = _numbers(logs)
        record["epoch"] = epoch
        if "learning_rate" not in record:
            lr = self._learning_rate()
            if lr is not None:
                record["learning_rate"] = lr
        run = self._holder.get()
        run.log(record, step=self._batch_step(run) if self._every is not None else None)
        if self._log_model:
            self._save_model(run, epoch, record)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._holder.end("finished")

    # -- evaluate after the fit -------------------------------------------------------------

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._holder.in_work:
            return  # validation inside fit: Keras reports it as val_* at the epoch's end
        record = {f"test/{k}": v for k, v in _numbers(logs).items()}
        if not record:
            return
        run = self._holder.get()
        run.log(record, step=max(run.step - 1, 0))
        self._holder.end("finished")

    # -- helpers ----------------------------------------------------------------------------

    def _save_model(self, run: Run, epoch: int, record: dict[str, Any]) -> None:
        monitor = self._monitor
        if monitor not in record and monitor == "val_loss" and "loss" in record:
            monitor = "loss"  # a fit without validation: Keras' own loss
        score = record.get(monitor)
        best = self._best.improves(score)
        if self._log_model == "best" and not best:
            return
        metadata = {"epoch": epoch, "monitor": monitor, "mode": self._best.mode, "score": score}
        with tempfile.TemporaryDirectory(prefix="ledger-keras-") as tmp:
            path = os.path.join(tmp, "model.keras")
            try:
                self.model.save(path)
            except Exception as exc:  # a model Keras cannot save (custom layers): the fit goes on
                log.warning("ledger: the model of epoch %d could not be saved (%s); not logged", epoch, exc)
                return
            log_model(run, path, best=best, metadata=metadata)

    def _batch_step(self, run: Run) -> int:
        # Never behind the run's last step (something else may log into a given run).
        return max(self._base + self._batches, run.step - 1)

    def _learning_rate(self) -> float | None:
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None:
            return None
        try:
            return number(keras.ops.convert_to_numpy(optimizer.learning_rate))
        except Exception:  # a custom optimizer without a readable rate: log without it
            return None

    def _describe(self) -> dict[str, Any]:
        model = self.model
        info: dict[str, Any] = {"model": str(model.name)}
        try:
            info["params"] = int(model.count_params())
            info["trainable_params"] = sum(math.prod(int(d) for d in w.shape) for w in model.trainable_weights)
        except ValueError:  # a model that is not built yet has no weights to count
            pass
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None:
            info["optimizer"] = plain(optimizer.get_config())
        params = self.params or {}
        info["epochs"] = params.get("epochs")
        info["steps_per_epoch"] = params.get("steps")
        return info


def _direction(monitor: str, mode: str) -> str:
    """``min`` or ``max``: Keras' rule for ``auto`` (accuracy-like metrics go up)."""
    if mode != "auto":
        return mode
    name = monitor.removeprefix("val_")
    return "max" if "acc" in name or name.startswith(("fmeasure", "auc", "f1", "precision", "recall")) else "min"


def _numbers(logs: dict[str, Any] | None) -> dict[str, Any]:
    """The numeric entries of Keras logs as floats (tensors and numpy scalars included)."""
    out: dict[str, Any] = {}
    for key, value in (logs or {}).items():
        n = number(value)
        if n is None:
            try:
                n = number(keras.ops.convert_to_numpy(value))
            except Exception:  # not a tensor: not a metric
                n = None
        if n is not None:
            out[str(key)] = n
    return out
