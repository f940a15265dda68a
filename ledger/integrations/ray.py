"""Ray Tune: every trial of a ``Tuner.fit()`` becomes a ledger run, in one group per fit.

    from ledger.integrations.ray import LedgerLoggerCallback

    tuner = tune.Tuner(
        train,
        param_space={"lr": tune.loguniform(1e-4, 1e-1)},
        tune_config=tune.TuneConfig(metric="val_loss", mode="min", scheduler=ASHAScheduler()),
        run_config=tune.RunConfig(callbacks=[LedgerLoggerCallback(project="mnist", root="s3://lab/results")]),
    )

The shape of W&B's ``WandbLoggerCallback`` and MLflow's ``MLflowLoggerCallback``: the callback
runs in Tune's driver process, so the trials' workers need no access to the root (a folder
on shared disk, an ``s3://`` bucket, any fsspec URL the driver reaches). Each run is named
after the trial (``train_fn_3f9a1_00002``); its config is the trial's config (and
``ray: {trial_id, experiment}``); each reported result is one record at step
``training_iteration``, with every number the trainable reported (nested dicts as ``a/b``)
and Tune's ``time_this_iter_s`` and ``time_total_s``. How a trial ends sets the status:

- the trainable returned, or a stop criterion of ``RunConfig(stop=...)`` or the scheduler's
  budget (ASHA's ``max_t``) was reached: ``finished``;
- a trial scheduler stopped it early (ASHA, HyperBand, the median stopping rule): ``killed``
  with ``stop_reason: early_terminated`` and the scheduler's name in ``error``;
- it raised: ``failed``, with Ray's error message.

A trial Tune runs again after a failure (``FailureConfig(max_failures=...)``) continues its run.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from ledger._run import init
from ledger.integrations._common import check_init_kwargs, number, plain

try:
    from ray.tune.logger import LoggerCallback
    from ray.tune.schedulers import FIFOScheduler
except ImportError as exc:  # pragma: no cover (the tests install ray[tune])
    msg = "ledger.integrations.ray needs Ray Tune: pip install 'ray[tune]'"
    raise ImportError(msg) from exc

if TYPE_CHECKING:
    from types import FrameType

    from ledger._run import Run

__all__ = ["LedgerLoggerCallback"]

_OWN = ("name", "resume", "config")  # set per trial by the callback
# What Tune adds to every result that is bookkeeping, not a measurement of the trial.
_SKIPPED = frozenset(
    {
        "config", "date", "done", "experiment_id", "experiment_tag", "hostname", "node_ip", "pid", "timestamp",
        "trial_id", "should_checkpoint", "checkpoint_dir_name", "training_iteration", "iterations_since_restore",
        "time_since_restore", "timesteps_since_restore", "episodes_total", "timesteps_total",
    }
)  # fmt: skip


class LedgerLoggerCallback(LoggerCallback):
    """A Ray Tune callback (``tune.RunConfig(callbacks=[...])``) that records each trial as a run.

    Args:
        project: the project of the runs (default: as :func:`ledger.init` decides).
        root: the ledger root, a folder or any fsspec URL the Tune driver reaches.
        excludes: names of reported metrics to leave out.
        **init_kwargs: passed to :func:`ledger.init` for every trial (``group``, ``job_type``,
            ``tags``, ``notes``, ``storage_options``, ...). ``group`` defaults to the
            experiment's name (one per ``Tuner.fit()``). Console output and system
            metrics are the driver's, so they are off unless asked for.
    """

    def __init__(
        self,
        project: str | None = None,
        root: str | os.PathLike[str] | None = None,
        *,
        excludes: Any = (),
        **init_kwargs: Any,
    ) -> None:
        check_init_kwargs("ray LedgerLoggerCallback", None, init_kwargs)
        given = [k for k in _OWN if k in init_kwargs]
        if given:
            msg = (
                f"ray LedgerLoggerCallback: {', '.join(given)} is set per trial (the trial's name and "
                f"config); leave it out"
            )
            raise TypeError(msg)
        if isinstance(excludes, str) or not all(isinstance(e, str) for e in excludes):
            msg = f"ray LedgerLoggerCallback: excludes must be a list of metric names, not {excludes!r}"
            raise TypeError(msg)
        super().__init__()
        self._kwargs: dict[str, Any] = {
            "project": project, "root": root, "capture_output": False, "system_metrics": False, **init_kwargs,
        }  # fmt: skip
        self._excludes = frozenset(excludes)
        self._runs: dict[str, Run] = {}  # trial id -> its run
        self._last: dict[str, dict[str, Any]] = {}  # trial id -> the last result seen
        self._scheduler: Any = None
        self._stop: Any = None

    # -- Tune's hooks -------------------------------------------------------------------------

    def setup(
        self, stop: Any = None, num_samples: int | None = None, total_num_samples: int | None = None, **info: Any
    ) -> None:
        """Called by Tune before the first trial: remembers the trial scheduler, to tell its
        early stops from trials that reached their end."""
        self._stop = stop
        self._scheduler = _tune_scheduler()

    def log_trial_start(self, trial: Any) -> None:
        """A run for the trial (its earlier run continued, when Tune runs a trial again)."""
        previous = self._runs.get(trial.trial_id)
        if previous is not None and previous.status == "running":
            return
        kwargs = {k: v for k, v in self._kwargs.items() if v is not None}
        kwargs.setdefault("group", trial.experiment_dir_name)
        if previous is not None:
            kwargs = {k: v for k, v in kwargs.items() if k not in ("project", "root")}
            run = init(previous.project, root=previous.root, resume=previous.id, **kwargs)
        else:
            config = plain(dict(trial.config))
            config["ray"] = {"trial_id": trial.trial_id, "experiment": trial.experiment_dir_name}
            run = init(name=str(trial), config=config, **kwargs)
        self._runs[trial.trial_id] = run

    def log_trial_result(self, iteration: int, trial: Any, result: dict[str, Any]) -> None:
        """One record per reported result, at step ``training_iteration``."""
        run = self._runs.get(trial.trial_id)
        if run is None or run.status != "running":
            self.log_trial_start(trial)
            run = self._runs[trial.trial_id]
        self._last[trial.trial_id] = result
        metrics = _numbers(result, self._excludes)
        step = result.get("training_iteration")
        if metrics:
            run.log(metrics, step=step if isinstance(step, int) and step >= run.step - 1 else None)

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        """Finish the trial's run: ``failed``, ``killed`` (stopped early by the scheduler) or
        ``finished``."""
        run = self._runs.get(trial.trial_id)
        if run is None or run.status != "running":
            return
        last = self._last.pop(trial.trial_id, {})
        if failed:
            run.finish(status="failed", error=_trial_error(trial))
            return
        stopper = self._early_stopper(trial, last)
        if stopper is None:
            run.finish(status="finished")
            return
        run._m.stop_reason = "early_terminated"  # noqa: SLF001 (written by the finish below)
        where = f" at training_iteration {last.get('training_iteration')}" if "training_iteration" in last else ""
        run.finish(status="killed", error=f"stopped early by Ray Tune's {stopper}{where}")

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        """Finish what Tune left open (an interrupted ``fit()``) as ``killed``."""
        for run in self._runs.values():
            if run.status == "running":
                run.finish(status="killed", error="the Ray Tune experiment ended before this trial did")

    # -- how a trial ended --------------------------------------------------------------------

    def _early_stopper(self, trial: Any, last: dict[str, Any]) -> str | None:
        """The scheduler's name if it stopped the trial before its end, else None.

        Tune marks the result it stopped a trial on with ``done``; a trainable that returns
        ends after a result without it. A stop on a result that meets the trial's stop
        criteria or the scheduler's budget (ASHA's ``max_t``) is the trial's end; a FIFO
        scheduler never stops trials, so there a stop came from ``RunConfig(stop=...)``.
        """
        if not last.get("done"):
            return None
        scheduler = self._scheduler
        if scheduler is None or type(scheduler) is FIFOScheduler:
            return None
        criteria = getattr(trial, "stopping_criterion", None) or {}
        flat = _flatten(last)
        if any(_reached(flat.get(k), v) for k, v in criteria.items()):
            return None
        time_attr = getattr(scheduler, "_time_attr", None)
        max_t = getattr(scheduler, "_max_t", None) or getattr(scheduler, "_max_t_attr", None)
        if isinstance(time_attr, str) and _reached(flat.get(time_attr), max_t):
            return None
        return type(scheduler).__name__


def _tune_scheduler() -> Any:
    """The trial scheduler of the Tune run calling ``setup``: Tune's controller (which has it
    as ``scheduler_alg``) is a caller a few frames up. None if it cannot be found."""
    frame: FrameType | None = sys._getframe(1)  # noqa: SLF001 (Tune hands callbacks no scheduler)
    for _ in range(8):
        if frame is None:
            break
        owner = frame.f_locals.get("self")
        if owner is not None and hasattr(type(owner), "scheduler_alg"):
            return owner.scheduler_alg
        frame = frame.f_back
    return None


def _trial_error(trial: Any) -> str:
    """The traceback Tune kept of the trial's error (in the driver's copy of its error file,
    else in the experiment's storage)."""
    text = None
    try:
        path = trial.error_file
        if path and os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        text = text or trial.get_error()
    except Exception:  # noqa: S110 (an older Ray, or its storage erred: the message below is enough)
        pass
    return str(text).rstrip("\n") if text else f"trial {trial} raised (Ray keeps the traceback in {trial.error_file})"


def _reached(value: Any, limit: Any) -> bool:
    got, bound = number(value), number(limit)
    return got is not None and bound is not None and got >= bound


def _flatten(result: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in result.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}/"))
        else:
            out[name] = value
    return out


def _numbers(result: dict[str, Any], excludes: frozenset[str]) -> dict[str, Any]:
    """The measurements of a result: numbers (and booleans) except Tune's bookkeeping."""
    out: dict[str, Any] = {}
    for key, value in _flatten({k: v for k, v in result.items() if k not in _SKIPPED}).items():
        if key in excludes:
            continue
        if isinstance(value, bool):
            out[key] = value
        elif (found := number(value)) is not None:
            out[key] = int(value) if isinstance(value, int) else found
    return out
