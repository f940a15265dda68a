"""Hugging Face Accelerate: a tracker for ``Accelerator(log_with=...)``.

    from accelerate import Accelerator
    from ledger.integrations.accelerate import LedgerTracker

    accelerator = Accelerator(log_with=LedgerTracker(project="sst2", group="bert"))
    accelerator.init_trackers("sst2", config={"lr": 3e-4, "batch_size": 32})   # -> config
    for step, batch in enumerate(loader):
        ...
        accelerator.log({"train/loss": loss.item()}, step=step)
    accelerator.end_training()                                                   # -> finished

Accelerate's tracker API (``GeneralTracker``): ``init_trackers`` starts the run and puts
its ``config`` into the run's config; ``accelerator.log(values, step=)`` logs a record
(numbers, tensors of one value, nested dicts as ``a/b``; text values go into the summary);
``end_training`` finishes the run. Only the main process writes: on the other processes
the tracker does nothing. Accelerate hands custom trackers neither ``init_trackers``'
project name nor its ``init_kwargs``: give ``project=`` and the rest to ``LedgerTracker``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ledger.integrations._common import RunHolder, number, plain

try:
    from accelerate.tracking import GeneralTracker, on_main_process
except ImportError as exc:  # pragma: no cover (the tests install accelerate)
    msg = "ledger.integrations.accelerate needs Hugging Face Accelerate: pip install accelerate"
    raise ImportError(msg) from exc

if TYPE_CHECKING:
    from ledger._run import Run

__all__ = ["LedgerTracker"]


class LedgerTracker(GeneralTracker):
    """An Accelerate tracker that writes one ledger run from the main process.

    Args:
        run: a run to write to (you finish it; ``end_training`` leaves it open). Without it,
            ``init_trackers`` makes a run from ``init_kwargs`` and ``end_training`` finishes it.
        **init_kwargs: passed to :func:`ledger.init` (``project``, ``config``, ``group``,
            ``job_type``, ``root``, ...).

    A script that raises before ``end_training`` leaves its run ``failed`` with the
    traceback (``killed`` on Ctrl-C) through ledger's exception hook.
    """

    name = "ledger"
    requires_logging_directory = False
    main_process_only = True

    def __init__(self, run: Run | None = None, **init_kwargs: Any) -> None:
        super().__init__()
        self._holder = RunHolder("LedgerTracker", run, init_kwargs)

    @property
    def tracker(self) -> Run | None:
        """The ledger run (None before ``init_trackers``, and on processes other than the main one)."""
        return self._holder.run

    @on_main_process
    def start(self) -> None:
        """Start the run (``accelerator.init_trackers`` calls it)."""
        self._holder.begin()

    @on_main_process
    def store_init_configuration(self, values: dict[str, Any]) -> None:
        """Put ``init_trackers``' ``config`` into the run's config."""
        if values:
            self._holder.get().config.update(plain(dict(values)))

    @on_main_process
    def log(self, values: dict[str, Any], step: int | None = None, **kwargs: Any) -> None:
        """Log one record (``accelerator.log``) at ``step`` (never behind the run's last step;
        the next step when None)."""
        record: dict[str, float] = {}
        text: dict[str, str] = {}
        _flatten(values, "", record, text)
        run = self._holder.get()
        if record:
            run.log(record, step=None if step is None else max(int(step), run.step - 1))
        for key, value in text.items():
            run.summary[key] = value

    @on_main_process
    def finish(self) -> None:
        """Finish a run the tracker made (``accelerator.end_training`` calls it)."""
        self._holder.end("finished")


def _flatten(values: Mapping[str, Any], prefix: str, record: dict[str, float], text: dict[str, str]) -> None:
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            _flatten(value, f"{name}/", record, text)
        elif isinstance(value, str):
            text[name] = value
        elif isinstance(value, bool):
            record[name] = value
        elif (n := number(value)) is not None:
            record[name] = n
        else:
            msg = (
                f"LedgerTracker.log: {name!r} is a {type(value).__name__}; log numbers (int, float, a tensor "
                f"of one value), text, or dicts of them"
            )
            raise TypeError(msg)
