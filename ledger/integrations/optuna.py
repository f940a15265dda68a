"""Optuna: every trial of a study becomes a ledger run, in a group named after the study.

    from ledger.integrations.optuna import LedgerCallback

    ledger_cb = LedgerCallback(metric_name="val_acc", project="mnist")
    study = optuna.create_study(study_name="lr-width", direction="maximize")
    study.optimize(objective, n_trials=50, callbacks=[ledger_cb])

Each run is named ``trial-<number>``; its config holds the trial's parameters (and
``optuna: {study, trial}``), its summary the objective value(s), its history the values
reported with ``trial.report`` (at their steps), and its status the trial's state:
COMPLETE -> ``finished``, PRUNED -> ``killed`` (the error says where it was pruned),
FAIL -> ``failed``. Its duration is the trial's, so ``compute_hours()`` adds up.

To log from inside the objective too (curves, files), decorate it: the trial then runs
inside its run, and ``ledger.log`` / ``ledger.active_run()`` reach it::

    @ledger_cb.track_in_ledger()
    def objective(trial): ...
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, TypeVar

from ledger._lifecycle import format_error, status_for
from ledger._run import init
from ledger.integrations._common import check_init_kwargs, plain

try:
    import optuna
    from optuna.trial import TrialState
except ImportError as exc:  # pragma: no cover (the tests install optuna)
    msg = "ledger.integrations.optuna needs Optuna: pip install optuna"
    raise ImportError(msg) from exc

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ledger._run import Run

__all__ = ["LedgerCallback"]

T = TypeVar("T")
_OWN = ("name", "resume")  # set per trial by the callback


class LedgerCallback:
    """An Optuna callback (``study.optimize(..., callbacks=[cb])``) that records each
    finished trial as a run.

    Args:
        metric_name: the summary name of the objective value; for a study with several
            objectives, one name per objective (default ``value``, or ``value_0``, ...).
        **init_kwargs: passed to :func:`ledger.init` for every trial (``project``, ``root``,
            ``job_type``, ``tags``, ``config`` as a base the trial's parameters override,
            ...). ``group`` defaults to the study's name. Runs written after the trial
            ended capture no console output and no system metrics unless asked to.
    """

    def __init__(self, metric_name: str | Sequence[str] = "value", **init_kwargs: Any) -> None:
        check_init_kwargs("optuna LedgerCallback", None, init_kwargs)
        given = [k for k in _OWN if k in init_kwargs]
        if given:
            msg = f"optuna LedgerCallback: {', '.join(given)} is set per trial (trial-<number>); leave it out"
            raise TypeError(msg)
        names = [metric_name] if isinstance(metric_name, str) else list(metric_name)
        if not names or not all(isinstance(n, str) and n for n in names):
            msg = f"optuna LedgerCallback: metric_name must be a string or a list of strings, not {metric_name!r}"
            raise TypeError(msg)
        self._names = names
        self._kwargs = dict(init_kwargs)
        self._base_config = dict(self._kwargs.pop("config", None) or {})
        self._tracked: dict[tuple[str, int], Run] = {}  # (study, trial number) -> run made by the decorator

    # -- the callback -----------------------------------------------------------------------

    def __call__(self, study: Any, trial: Any) -> None:
        """Record ``trial`` (a FrozenTrial that has ended) as a run."""
        names = self._value_names(trial)
        run = self._tracked.pop((study.study_name, trial.number), None)
        if run is None:
            kwargs = {"capture_output": False, "system_metrics": False, **self._kwargs}
            run = self._init(study.study_name, trial.number, {}, kwargs)
            if trial.datetime_start is not None:
                run._backdate(trial.datetime_start.timestamp())  # noqa: SLF001 (written after the trial ran)
            for step, value in sorted(trial.intermediate_values.items()):
                run.log({self._names[0]: value}, step=step)
        elif run.status != "running":
            return  # the decorator already ended it (an exception Optuna was told to catch)
        run.config.update(self._trial_config(study, trial))
        for name, value in zip(names, trial.values or (), strict=False):
            run.summary[name] = value
        state = trial.state
        if state == TrialState.COMPLETE:
            run.finish(status="finished")
        elif state == TrialState.PRUNED:
            last = trial.last_step
            where = f" at step {last}" if last is not None else ""
            run.finish(status="killed", error=f"pruned by Optuna{where}")
        else:
            run.finish(
                status="failed",
                error=f"trial {trial.number} failed: its objective raised or returned no valid value (Optuna logs why)",
            )

    # -- the decorator ----------------------------------------------------------------------

    def track_in_ledger(self) -> Callable[[Callable[[Any], T]], Callable[[Any], T]]:
        """Decorate the objective so that each trial runs inside its own run (the active
        one: ``ledger.log(...)`` works in the objective), ended by this callback, which
        must therefore also be in ``callbacks=``. Use with ``n_jobs=1``: threads
        would share the active run. Values reported with ``trial.report`` are then not
        copied: log what you want yourself."""

        def decorator(func: Callable[[Any], T]) -> Callable[[Any], T]:
            @functools.wraps(func)
            def objective(trial: Any) -> T:
                study_name = trial.study.study_name
                run = self._init(study_name, trial.number, {}, self._kwargs)
                self._tracked[(study_name, trial.number)] = run
                try:
                    return func(trial)
                except optuna.TrialPruned:
                    raise  # the callback records it as pruned
                except BaseException as exc:
                    # Optuna calls no callback for an exception it re-raises: end the run here.
                    run.config.update(plain(trial.params))
                    run.finish(status=status_for(exc), error=format_error(type(exc), exc, exc.__traceback__))
                    raise

            return objective

        return decorator

    # -- helpers ----------------------------------------------------------------------------

    def _init(self, study_name: str, number: int, config: dict[str, Any], kwargs: dict[str, Any]) -> Run:
        kwargs = dict(kwargs)
        kwargs.setdefault("group", study_name)
        return init(name=f"trial-{number}", config={**self._base_config, **config}, **kwargs)

    def _trial_config(self, study: Any, trial: Any) -> dict[str, Any]:
        config: dict[str, Any] = plain(trial.params)
        info: dict[str, Any] = {"study": study.study_name, "trial": trial.number}
        if trial.user_attrs:
            info["user_attrs"] = plain(trial.user_attrs)
        config["optuna"] = info
        return config

    def _value_names(self, trial: Any) -> list[str]:
        count = len(trial.values or ())
        if count <= 1 or len(self._names) == count:
            return self._names[:count] if count else []
        if len(self._names) == 1:
            return [f"{self._names[0]}_{i}" for i in range(count)]
        msg = (
            f"optuna LedgerCallback: the study has {count} objectives but metric_name names "
            f"{len(self._names)} ({', '.join(self._names)}); give one name per objective"
        )
        raise ValueError(msg)
