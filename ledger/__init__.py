"""experiment-ledger: a file-based, git-friendly experiment tracker.

    import ledger

    with ledger.init(project="mnist", config={"lr": 1e-3}, group="resnet") as run:
        for step in range(100):
            run.log({"loss": 1 / (step + 1)})

    lg = ledger.open("results")
    best = lg.runs(where="config.lr < 1e-2", order_by="-summary.acc", limit=5)

Everything lands as plain files (YAML manifests, JSON-lines metrics) under a ledger root.
Versioned datasets and models: ``run.log_artifact(...)``, ``run.use_artifact("name:latest")``.
Hyperparameter sweeps coordinated through that root: ``ledger.sweeps``.
"""

from __future__ import annotations

from typing import Any

from ledger import _lifecycle
from ledger._artifacts import ArtifactVersion
from ledger._errors import (
    ArtifactNotFoundError,
    CorruptFileError,
    FormatVersionError,
    InvalidNameError,
    LedgerError,
    LedgerNotFoundError,
    LedgerWarning,
    RefusedFileError,
    RunNotFoundError,
    RunStateError,
    SettingError,
    SqlError,
    StorageError,
)
from ledger._media import Histogram, Image, Table
from ledger._query import ArtifactView, Band, Ledger, Lineage, RunSet, RunView, Series
from ledger._query import open_ledger as open  # noqa: A004 (ledger.open is the documented name)
from ledger._query._filter import FilterError, UnknownFieldWarning
from ledger._run import Config, Run, Summary, init
from ledger._watch import Watcher, watch

__version__ = "0.1.0"

__all__ = [
    "ArtifactNotFoundError",
    "ArtifactVersion",
    "ArtifactView",
    "Band",
    "Config",
    "CorruptFileError",
    "FilterError",
    "FormatVersionError",
    "Histogram",
    "Image",
    "InvalidNameError",
    "Ledger",
    "LedgerError",
    "LedgerNotFoundError",
    "LedgerWarning",
    "Lineage",
    "RefusedFileError",
    "Run",
    "RunNotFoundError",
    "RunSet",
    "RunStateError",
    "RunView",
    "Series",
    "SettingError",
    "SqlError",
    "StorageError",
    "Summary",
    "Table",
    "UnknownFieldWarning",
    "Watcher",
    "__version__",
    "active_run",
    "finish",
    "init",
    "log",
    "open",
    "watch",
]


def active_run() -> Run | None:
    """The run that module-level calls go to: the latest started, unfinished one."""
    return _lifecycle.active()


def _require_active(what: str) -> Run:
    run = _lifecycle.active()
    if run is None:
        msg = f"ledger.{what}: no active run; call ledger.init() first"
        raise RunStateError(msg)
    return run


def log(data: dict[str, Any], step: int | None = None) -> None:
    """``run.log`` on the active run (see :meth:`Run.log`)."""
    _require_active("log").log(data, step=step)


def finish(*, status: str = "finished") -> None:
    """Finish the active run, if any (see :meth:`Run.finish`)."""
    run = _lifecycle.active()
    if run is not None:
        run.finish(status=status)


def __getattr__(name: str) -> Any:
    # `import ledger` then `ledger.sweeps.agent(...)`: the sweeps package loads on first use.
    if name == "sweeps":
        import importlib  # noqa: PLC0415

        return importlib.import_module("ledger.sweeps")
    msg = f"module 'ledger' has no attribute {name!r}"
    raise AttributeError(msg)
