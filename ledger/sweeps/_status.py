"""`ledger sweep status`: trials by status, the best trial, the agents at work."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledger import _format
from ledger._errors import LedgerError
from ledger.sweeps._search import nest
from ledger.sweeps._slurm import SlurmError, job_tasks, launches
from ledger.sweeps._state import best_trial, read_trials

if TYPE_CHECKING:
    from ledger.sweeps._sweep import Sweep

# The order statuses are listed in.
TRIAL_STATUSES = (
    "finished",
    "failed",
    "early_terminated",
    "killed",
    "preempted",
    "crashed",
    "running",
    "starting",
    "no_run",
    "incomplete",
)


@dataclass
class SweepStatus:
    """A sweep's progress as the tree shows it (what ``ledger sweep status`` prints)."""

    id: str
    project: str
    name: str
    method: str
    metric: str | None
    """The metric's name, or None."""
    goal: str | None
    """``minimize`` or ``maximize``, or None without a metric."""
    cap: int | None
    """The most trials the sweep runs (run_cap; the grid's size), or None for no limit."""
    claimed: int
    """Trials claimed so far."""
    trials: dict[str, int]
    """Trials by status: finished, failed, early_terminated, killed, preempted (its job
    scheduler ended it; the next agent takes it up again), crashed, running,
    starting (claimed, no run yet), no_run (the program made none), incomplete (cv folds missing)."""
    best_trial: int | None
    best_value: float | None
    """The best trial's objective: its metric, the mean over folds with cv."""
    best_std: float | None
    """The standard deviation of the best trial's metric over its folds (cv), or None."""
    best_params: dict[str, Any] = field(default_factory=dict)
    agents: list[dict[str, Any]] = field(default_factory=list)
    """The running agents: id, host, pid, trial, heartbeat."""
    stopped: str | None = None
    """When ``ledger sweep stop`` was run, or None."""
    jobs: list[dict[str, Any]] = field(default_factory=list)
    """The sweep's SLURM submissions (``ledger sweep launch --slurm``): launch, job_id, agents,
    submitted, and ``tasks``: each array task's state, reason, elapsed and nodes as SLURM
    reports them (``<job>_<task>`` -> ...), or ``error`` when SLURM could not be asked."""

    def as_dict(self) -> dict[str, Any]:
        """Plain data (for JSON)."""
        return dict(self.__dict__)


def sweep_status(sweep: Sweep) -> SweepStatus:
    """Read the sweep's claims, agents and runs once and summarise them."""
    files = sweep.files
    claimed = files.claimed()
    trials = read_trials(sweep)
    counts = dict.fromkeys(TRIAL_STATUSES, 0)
    for n, attempt in claimed.items():
        trial = trials.get(n)
        if trial is not None:
            counts[trial.status] += 1
            continue
        try:
            claim = files.read_claim(n, attempt)
        except (OSError, ValueError, LedgerError):
            counts["starting"] += 1
            continue
        counts[claim.outcome if claim.outcome in counts else "starting"] += 1
    best = best_trial(sweep, trials)
    metric = sweep.config.metric
    now = time.time()
    agents = [
        {"id": a.agent, "host": a.host, "pid": a.pid, "trial": a.trial, "heartbeat": a.heartbeat, "job": a.job}
        for a in sorted(files.agents().values(), key=lambda a: a.started)
        if a.alive(now)
    ]
    stop = files.stopped()
    return SweepStatus(
        id=sweep.id,
        project=sweep.project,
        name=sweep.name,
        method=sweep.config.method,
        metric=metric.name if metric else None,
        goal=metric.goal if metric else None,
        cap=sweep.cap,
        claimed=len(claimed),
        trials={k: v for k, v in counts.items() if v},
        best_trial=best.n if best else None,
        best_value=best.objective if best else None,
        best_std=best.spread if best else None,
        best_params=nest(best.params) if best else {},
        agents=agents,
        stopped=str(stop.get("stopped")) if stop is not None else None,
        jobs=_jobs(sweep),
    )


def _jobs(sweep: Sweep) -> list[dict[str, Any]]:
    out = []
    for record in launches(sweep):
        job: dict[str, Any] = {k: record.get(k) for k in ("launch", "job_id", "agents", "submitted")}
        try:
            job["tasks"] = job_tasks(str(record["job_id"]))
        except SlurmError as exc:
            job["tasks"], job["error"] = {}, str(exc)
        out.append(job)
    return out


def _flat_lines(prefix: str, value: Any, out: list[str]) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _flat_lines(f"{prefix}{k}.", v, out)
    else:
        out.append(f"    {prefix[:-1]}: {value}")


def render(status: SweepStatus) -> str:
    """The text ``ledger sweep status`` prints."""
    metric = f"{status.metric} ({status.goal})" if status.metric else "none"
    named = f" ({status.name})" if status.name != status.id else ""
    lines = [f"sweep {status.id}{named}, project {status.project}: method {status.method}, metric {metric}"]
    cap = f" of {status.cap}" if status.cap is not None else ""
    by_status = ", ".join(f"{v} {k}" for k, v in status.trials.items()) or "none yet"
    lines.append(f"trials: {status.claimed}{cap} claimed: {by_status}")
    if status.best_trial is not None and status.best_value is not None:
        spread = f" ± {status.best_std:.4g} (std over folds)" if status.best_std is not None else ""
        lines.append(f"best: trial {status.best_trial}, {status.metric} = {status.best_value:.6g}{spread}")
        _flat_lines("", status.best_params, lines)
    else:
        lines.append("best: none yet")
    lines.append(f"running agents: {len(status.agents)}")
    now = time.time()
    for a in status.agents:
        ago = now - _format.parse_iso(a["heartbeat"]) if a["heartbeat"] else float("nan")
        doing = f"trial {a['trial']}" if a["trial"] is not None else "between trials"
        held = f", job {a['job']}" if a.get("job") else ""
        lines.append(f"    {a['id']} on {a['host']} (pid {a['pid']}{held}): {doing}, heartbeat {ago:.0f} s ago")
    for launched in status.jobs:
        lines.append(
            f"SLURM job {launched['job_id']} ({launched['agents']} agents, submitted {launched['submitted']}):"
        )
        if launched.get("error"):
            lines.append(f"    cannot ask SLURM: {launched['error']}")
        elif not launched["tasks"]:
            lines.append("    SLURM no longer knows its tasks (ended longer ago than its MinJobAge)")
        for task, info in launched["tasks"].items():
            running = [a for a in status.agents if a.get("job") == task]
            doing = f", agent {running[0]['id']} on trial {running[0]['trial']}" if running else ""
            reason = f" ({info['reason']})" if info.get("reason") not in (None, "", "None") else ""
            lines.append(f"    task {task}: {info['state']}{reason}, {info.get('elapsed') or '0:00'} elapsed{doing}")
    if status.stopped is not None:
        lines.append(f"stopped: {status.stopped} (running trials finish; no new ones start)")
    return "\n".join(lines)
