"""What the integrations share: the run they write to, how outcomes become statuses, and
config values made plain. Imports no framework."""

from __future__ import annotations

import dataclasses
import enum
import inspect
import logging
import math
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ledger._errors import LedgerError
from ledger._lifecycle import format_error, status_for
from ledger._media import MAX_TABLE_ROWS, Table
from ledger._run import init

if TYPE_CHECKING:
    from collections.abc import Callable

    from ledger._run import Run

log = logging.getLogger("ledger")

_INIT_PARAMS = frozenset(inspect.signature(init).parameters)
_MAX_LIST = 1000  # longer sequences are summarised: config is not a data store


def check_init_kwargs(who: str, run: Run | None, init_kwargs: Mapping[str, Any]) -> None:
    """Raise a TypeError naming what is wrong with the keyword arguments meant for ``ledger.init``."""
    unknown = sorted(set(init_kwargs) - _INIT_PARAMS)
    if unknown:
        msg = (
            f"{who}: unexpected keyword argument(s) {', '.join(unknown)}; extra keyword arguments go to "
            f"ledger.init, which takes {', '.join(sorted(_INIT_PARAMS))}"
        )
        raise TypeError(msg)
    if run is not None and init_kwargs:
        msg = (
            f"{who}: got run= and keyword arguments for ledger.init ({', '.join(sorted(init_kwargs))}); "
            f"pass either an existing run or the arguments for a new one"
        )
        raise TypeError(msg)


class RunHolder:
    """The run an integration writes to.

    Either the user's (given as ``run=``: the integration never finishes it), or one the
    integration makes with ``ledger.init(**init_kwargs)`` and owns: it starts with the
    work (a fit), ends with it, and is reopened (resumed) when results arrive after it
    ended, such as an evaluation after the fit.
    """

    def __init__(self, who: str, run: Run | None, init_kwargs: Mapping[str, Any]) -> None:
        check_init_kwargs(who, run, init_kwargs)
        self._who = who
        self._run = run
        self.owned = run is None
        self._kwargs = dict(init_kwargs)
        self.in_work = False  # between begin() and end(): a fit is under way
        self._watching = False

    @property
    def run(self) -> Run | None:
        """The run written to last (None before the first write of an integration-made run)."""
        return self._run

    def copy(self) -> RunHolder:
        """A holder for a copy of the integration (scikit-learn's ``clone`` deep-copies
        estimators' callbacks): the same given run, or runs of its own from the same arguments."""
        return RunHolder(self._who, None if self.owned else self._run, self._kwargs)

    def _new(self) -> Run:
        self._run = init(**self._kwargs)
        return self._run

    def begin(self) -> Run:
        """The work starts: the given run, or a new run for it.

        An owned run still open from an earlier piece of work that never ended (an
        exception the integration could not see) is first marked ``failed``.
        """
        if self.owned:
            if self._run is not None and self._run.status == "running":
                self._run.finish(
                    status="failed",
                    error=f"{self._who}: the work logged to this run stopped before its end (an exception?)",
                )
            self._new()
        self.in_work = True
        self.watch_notebook_cell()
        return self.get()

    def get(self) -> Run:
        """A run to write to now: the given one; the owned one (reopened if it had ended); or a new one."""
        run = self._run
        if run is None:
            return self._new()
        if self.owned and run.status != "running":
            kwargs = {k: v for k, v in self._kwargs.items() if k not in ("root", "project", "resume")}
            self._run = init(run.project, root=run.root, resume=run.id, **kwargs)
            return self._run
        return run

    def end(self, status: str = "finished", error: str | None = None) -> None:
        """The work ended: finish an owned run with ``status``; a given run is the caller's."""
        self.in_work = False
        if self.owned and self._run is not None and self._run.status == "running":
            self._run.finish(status=status, error=error)

    def fail(self, exc: BaseException) -> None:
        """The work raised ``exc``: ``failed``, or ``killed`` for an interrupt (Ctrl-C)."""
        self.end(status_for(exc), format_error(type(exc), exc, exc.__traceback__))

    def watch_notebook_cell(self) -> None:
        """In IPython/Jupyter, an exception ends a cell without reaching ``sys.excepthook``:
        watch the cell, and mark an owned run whose work it interrupted as failed (or killed)."""
        shell = _ipython_shell()
        if shell is None or self._watching or not self.owned:
            return

        def after_cell(result: Any) -> None:
            exc = getattr(result, "error_in_exec", None)
            if self.in_work and exc is None:
                return  # the work goes on beyond this cell (a thread): keep watching
            shell.events.unregister("post_run_cell", after_cell)
            self._watching = False
            if self.in_work and isinstance(exc, BaseException):
                self.fail(exc)

        shell.events.register("post_run_cell", after_cell)
        self._watching = True


def _ipython_shell() -> Any:
    """The running IPython shell, if this process is one (a Jupyter kernel), else None."""
    module = sys.modules.get("IPython")
    get_ipython = getattr(module, "get_ipython", None)
    shell = get_ipython() if callable(get_ipython) else None
    return shell if shell is not None and hasattr(shell, "events") else None


def plain(value: Any, _depth: int = 0) -> Any:
    """``value`` as plain YAML data, without warnings: framework objects (dtypes, classes,
    callables, estimators) become their names or ``str``; numpy and torch scalars numbers."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return float(value) if isinstance(value, float) else value
    if isinstance(value, enum.Enum):
        return plain(value.value, _depth)
    if _depth > 8:
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v, _depth + 1) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name), _depth + 1) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        if len(items) > _MAX_LIST:
            return f"<{type(value).__name__} of {len(items)} items>"
        return [plain(v, _depth + 1) for v in items]
    if isinstance(value, type) or inspect.isroutine(value):
        return getattr(value, "__qualname__", None) or getattr(value, "__name__", None) or str(value)
    if getattr(value, "ndim", None) == 0 and callable(getattr(value, "item", None)):
        return plain(value.item(), _depth)  # numpy and torch scalars
    return str(value)


def number(value: Any) -> float | None:
    """``value`` as a float if it is a real number (numpy and torch scalars too), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", 0) == 0:
        try:
            inner = item()
        except (ValueError, RuntimeError):
            return None
        if isinstance(inner, (int, float)) and not isinstance(inner, bool):
            return float(inner)
    return None


def importance_table(features: Sequence[str], scores: Mapping[str, Mapping[str, float]]) -> Table | None:
    """Feature importance as a table: one row per feature, one column per kind of importance
    (``scores[kind][feature]``; a feature a kind does not name scores 0), the most important
    first by the first kind. None when there is nothing to show."""
    kinds = [kind for kind, by_feature in scores.items() if by_feature]
    if not kinds:
        return None
    names = list(dict.fromkeys([*features, *(f for kind in kinds for f in scores[kind])]))
    first = scores[kinds[0]]
    names.sort(key=lambda name: -float(first.get(name, 0.0)))  # stable: features in their own order among equals
    rows = [[name, *(float(scores[kind].get(name, 0.0)) for kind in kinds)] for name in names[:MAX_TABLE_ROWS]]
    return Table(rows, columns=["feature", *kinds])


def save_model_file(run: Run, name: str, write: Callable[[str], Any]) -> str:
    """``write(path)`` a model file in a temporary folder and save it into the run's ``files/``
    as ``name``; returns its path in the run."""
    with tempfile.TemporaryDirectory(prefix="ledger-model-") as tmp:
        path = os.path.join(tmp, os.path.basename(name))
        write(path)
        return run.save(path, name=name)


def check_log_model(who: str, value: object) -> bool | str:
    """``log_model`` as the integrations take it: False, True (every checkpoint) or ``"best"``
    (only those that improve the monitored metric)."""
    if isinstance(value, bool) or value == "best":
        return value
    msg = f"{who}: log_model must be False, True (every checkpoint) or 'best' (each better one), got {value!r}"
    raise ValueError(msg)


def model_artifact(run: Run) -> str:
    """The artifact checkpoints of a run are versions of: ``model-<run id>`` (W&B's name)."""
    return f"model-{run.id}"


class BestTracker:
    """Which checkpoint is the best so far by a monitored metric (``min`` or ``max``)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.best: float | None = None

    def improves(self, score: float | None) -> bool:
        """Whether ``score`` beats every one before it (then it is remembered). A checkpoint
        without a score, or with NaN, never does, except the first one."""
        if score is None or math.isnan(score):
            return self.best is None
        if self.best is None or (score < self.best if self.mode == "min" else score > self.best):
            self.best = score
            return True
        return False


def log_model(run: Run, path: str, *, best: bool, metadata: dict[str, Any]) -> None:
    """Log a checkpoint (a file or a folder) as the next version of the run's model artifact,
    ``best`` moving the ``best`` alias to it. Storage failing must not end the training: it
    is a warning that says which checkpoint was not logged."""
    try:
        run.log_artifact(
            path, model_artifact(run), type="model", aliases=["best"] if best else [],
            metadata={k: v for k, v in metadata.items() if v is not None},
        )  # fmt: skip
    except (OSError, LedgerError) as exc:
        log.warning("ledger: checkpoint %s was not logged as %s (%s); training goes on", path, model_artifact(run), exc)
