"""The state of a sweep, rebuilt from the runs in the tree (read through the query index).

Every agent reads the same runs, so agents on different machines share one search
without sharing memory. A trial's runs are those whose manifest has ``sweep.id`` and
``sweep.trial``; per fold the latest run counts (a reclaimed trial's new run supersedes
the crashed one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ledger import _format
from ledger._query import describe, open_ledger
from ledger.sweeps._search import Flat, Observation, constants, observed_params

if TYPE_CHECKING:
    from ledger._query import RunSet, RunView
    from ledger.sweeps._config import Metric
    from ledger.sweeps._sweep import Sweep


@dataclass
class Trial:
    """One trial as the runs show it."""

    n: int
    runs: dict[int | None, RunView] = field(default_factory=dict)  # fold (None without cv) -> latest run
    status: str = "incomplete"  # running, finished, failed, killed, early_terminated, preempted, crashed, incomplete
    objective: float | None = None  # the metric (mean over folds)
    spread: float | None = None  # its standard deviation over folds (cv)
    params: Flat = field(default_factory=dict)

    @property
    def done(self) -> bool:
        """Nothing more will happen to it: it finished, failed or was stopped."""
        return self.status in (*_format.FINAL_STATUSES, "early_terminated")


def _judge(trial: Trial, folds: int, metric: str | None) -> None:
    runs = list(trial.runs.values())
    statuses = [r.status for r in runs]
    if "running" in statuses:
        trial.status = "running"
    elif "failed" in statuses:
        trial.status = "failed"
    elif "killed" in statuses:
        reasons = {r.doc.get("stop_reason") for r in runs if r.status == "killed"}
        if "early_terminated" in reasons:
            trial.status = "early_terminated"
        elif reasons == {_format.PREEMPTED}:  # its job scheduler ended it: an agent takes it up again
            trial.status = _format.PREEMPTED
        else:
            trial.status = "killed"
    elif "crashed" in statuses:
        trial.status = "crashed"
    elif len(runs) < folds:
        trial.status = "incomplete"
    else:
        trial.status = "finished"
        stat = describe(r.summary.get(metric) for r in runs) if metric else None
        if stat is not None and stat.n and stat.n == len(runs):  # every fold has a number
            trial.objective = stat.mean
            trial.spread = stat.std


def sweep_runs(sweep: Sweep) -> RunSet:
    """Every run of the sweep (``sweep.id`` in its manifest), in creation order, in any
    project: a sweep without a ``project`` key lets each trial's program choose one."""
    lg = open_ledger(sweep.storage.url, storage_options=sweep.storage_options)
    return lg.runs(where={"sweep.id": sweep.id}, order_by="created")


def read_trials(sweep: Sweep) -> dict[int, Trial]:
    """Every trial that has at least one run, by trial number."""
    runs = sweep_runs(sweep)
    config = sweep.config
    trials: dict[int, Trial] = {}
    for run in runs:
        block = run.doc.get("sweep") or {}
        n, fold = block.get("trial"), block.get("fold")
        if not isinstance(n, int) or isinstance(n, bool):
            continue
        trial = trials.setdefault(n, Trial(n))
        trial.runs[fold if isinstance(fold, int) else None] = run  # later runs replace earlier ones
    metric = config.metric.name if config.metric else None
    for trial in trials.values():
        _judge(trial, config.folds or 1, metric)
        first = next(iter(trial.runs.values()))
        trial.params = dict(sorted({**constants(config), **observed_params(config, first.config)}.items()))
    return trials


def best_trial(sweep: Sweep, trials: dict[int, Trial]) -> Trial | None:
    """The finished trial with the best objective (the lowest number on ties)."""
    metric = sweep.config.metric
    if metric is None:
        return None
    best: Trial | None = None
    best_value = math.nan
    for n in sorted(trials):
        value = trials[n].objective
        if value is not None and (best is None or metric.better(value, best_value)):
            best, best_value = trials[n], value
    return best


def observations(trials: dict[int, Trial], metric: Metric | None = None) -> list[Observation]:
    """What bayes is told: objectives of finished trials; failed, killed, crashed or
    metric-less ones to be imputed (``metric.impute``: worst, best, or their own latest
    value); running ones as pending, or imputed the same way when the sweep's
    ``metric.impute_while_running`` says so."""
    out = []
    for n in sorted(trials):
        t = trials[n]
        latest = _latest(t, metric.name) if metric is not None else None
        if t.status == "running":
            if metric is not None and metric.impute_while_running != "false":
                out.append(Observation(t.params, None, latest=latest, impute=metric.impute_while_running))
            else:
                out.append(Observation(t.params, None, pending=True))
        elif t.status != "incomplete":
            out.append(Observation(t.params, t.objective, latest=latest))
    return out


def _latest(trial: Trial, name: str) -> float | None:
    """A trial's own latest value of the metric: the mean of its runs' summaries of it."""
    return describe(r.summary.get(name) for r in trial.runs.values()).mean
