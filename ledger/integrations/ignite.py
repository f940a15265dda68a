"""PyTorch Ignite: a logger in the style of Ignite's own (``ignite.handlers``: TensorBoard,
W&B, MLflow loggers), attached to engines with events and output or metric names.

    from ignite.engine import Events
    from ignite.handlers import global_step_from_engine
    from ledger.integrations.ignite import LedgerLogger

    with LedgerLogger(project="mnist", group="cnn") as logger:
        logger.attach_output_handler(trainer, Events.ITERATION_COMPLETED, tag="train",
                                     output_transform=lambda loss: {"loss": loss})
        logger.attach_output_handler(evaluator, Events.COMPLETED, tag="val", metric_names=["accuracy", "nll"],
                                     global_step_transform=global_step_from_engine(trainer, Events.ITERATION_COMPLETED))
        logger.attach_opt_params_handler(trainer, Events.ITERATION_STARTED, optimizer)   # lr/group_0
        trainer.run(train_loader, max_epochs=10)

Names are Ignite's: ``<tag>/<name>`` for outputs and metrics, ``lr/group_<i>`` (or
``<tag>/lr/group_<i>``) for optimizer parameters; the step is the handler's global step
(the engine's iteration or epoch, or ``global_step_transform``), never behind the run's
last step. Into config: ``ignite: {max_epochs, epoch_length}`` of the first engine the
logger was attached to, and each attached optimizer's class and defaults under
``optimizer``. The run ends with the logger: ``close()`` (or the end of the ``with`` block)
finishes it; an exception out of the ``with`` block marks it ``failed`` with the traceback,
Ctrl-C ``killed``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledger.integrations._common import RunHolder, number, plain

try:
    from ignite.engine import Engine, Events
    from ignite.handlers.base_logger import BaseLogger, BaseOptimizerParamsHandler, BaseOutputHandler
except ImportError as exc:  # pragma: no cover (the tests install pytorch-ignite)
    msg = "ledger.integrations.ignite needs PyTorch Ignite: pip install pytorch-ignite"
    raise ImportError(msg) from exc

if TYPE_CHECKING:
    from types import TracebackType

    from ledger._run import Run

__all__ = ["LedgerLogger", "OptimizerParamsHandler", "OutputHandler"]


class LedgerLogger(BaseLogger):
    """An Ignite logger that writes one ledger run.

    Args:
        run: a run to write to (you finish it; ``close()`` leaves it open). Without it, the
            logger makes its run from ``init_kwargs`` when it first logs and finishes it at
            ``close()`` (or the end of a ``with`` block).
        **init_kwargs: passed to :func:`ledger.init` (``project``, ``config``, ``group``,
            ``job_type``, ``root``, ...).

    A script that raises outside a ``with`` block leaves the run ``failed`` with the
    traceback through ledger's exception hook.
    """

    def __init__(self, run: Run | None = None, **init_kwargs: Any) -> None:
        self._holder = RunHolder("ignite LedgerLogger", run, init_kwargs)
        self._first_engine: Engine | None = None

    @property
    def run(self) -> Run | None:
        """The run written so far (None before the first record when the logger makes its run)."""
        return self._holder.run

    def attach(self, engine: Engine, log_handler: Any, event_name: Any, *args: Any, **kwargs: Any) -> Any:
        """Attach ``log_handler`` to ``engine`` at ``event_name`` (Ignite's ``BaseLogger.attach``);
        the first engine attached also gives the run its ``ignite`` config when it starts."""
        if self._first_engine is None:
            self._first_engine = engine
            engine.add_event_handler(Events.STARTED, self._engine_started)
        return super().attach(engine, log_handler, event_name, *args, **kwargs)

    def log(self, values: dict[str, Any], step: int | None) -> None:
        """Log ``values`` (numbers) at ``step``: what the handlers call."""
        record = {str(k): n for k, v in values.items() if (n := number(v)) is not None}
        if not record:
            return
        run = self._holder.get()
        run.log(record, step=None if step is None else max(int(step), run.step - 1))

    def close(self) -> None:
        """Finish a run the logger made (``finished``)."""
        self._holder.end("finished")

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.close()
        else:
            self._holder.fail(exc)  # failed with the traceback, or killed for Ctrl-C

    def _create_output_handler(self, *args: Any, **kwargs: Any) -> OutputHandler:
        return OutputHandler(*args, **kwargs)

    def _create_opt_params_handler(self, *args: Any, **kwargs: Any) -> OptimizerParamsHandler:
        return OptimizerParamsHandler(*args, **kwargs)

    def _engine_started(self, engine: Engine) -> None:
        state = engine.state
        info = {"max_epochs": getattr(state, "max_epochs", None), "epoch_length": getattr(state, "epoch_length", None)}
        self._holder.get().config.update({"ignite": plain(info)})

    def _optimizer_config(self, optimizer: Any) -> None:
        defaults = getattr(optimizer, "defaults", None)
        info = {"class": type(optimizer).__name__, **(plain(dict(defaults)) if isinstance(defaults, dict) else {})}
        self._holder.get().config.update({"optimizer": info})


class OutputHandler(BaseOutputHandler):
    """Log an engine's output (through ``output_transform``), metrics (``metric_names``, or
    ``"all"``) and state attributes as ``<tag>/<name>``, at the handler's global step.

    Args are Ignite's: ``tag``, ``metric_names``, ``output_transform``,
    ``global_step_transform``, ``state_attributes``.
    """

    def __call__(self, engine: Engine, logger: Any, event_name: Any) -> None:
        if not isinstance(logger, LedgerLogger):
            msg = f"OutputHandler works only with LedgerLogger, got {type(logger).__name__}"
            raise TypeError(msg)
        values = self._setup_output_metrics_state_attrs(engine, key_tuple=False)
        step = self.global_step_transform(engine, event_name)
        if not isinstance(step, int):
            msg = f"global_step must be int, got {type(step).__name__}; check the output of global_step_transform"
            raise TypeError(msg)
        logger.log(values, step)


class OptimizerParamsHandler(BaseOptimizerParamsHandler):
    """Log an optimizer parameter (``param_name``, default ``lr``) of every parameter group as
    ``[<tag>/]<param_name>/group_<i>``, at the engine's count for the event; the optimizer's
    class and defaults go into config under ``optimizer``."""

    def __call__(self, engine: Engine, logger: Any, event_name: Any) -> None:
        if not isinstance(logger, LedgerLogger):
            msg = f"OptimizerParamsHandler works only with LedgerLogger, got {type(logger).__name__}"
            raise TypeError(msg)
        if not getattr(self, "_described", False):
            logger._optimizer_config(self.optimizer)  # noqa: SLF001
            self._described = True
        prefix = f"{self.tag}/" if self.tag else ""
        values = {
            f"{prefix}{self.param_name}/group_{i}": group[self.param_name]
            for i, group in enumerate(self.optimizer.param_groups)
        }
        logger.log(values, engine.state.get_event_attrib_value(event_name))
