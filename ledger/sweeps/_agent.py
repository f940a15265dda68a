"""The agent's claim loop: claim trials one after another and hand them to the trial runner.

At every claim the agent rebuilds the sweep's state from the runs in the tree, takes over a
trial whose holder's lease expired if there is one, else claims the next free trial number
and chooses its parameters (grid, random or bayes). Running the claimed trial (its folds,
as subprocesses or in-process, with hyperband) is :mod:`ledger.sweeps._trial`'s job.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, TextIO

from ledger import _format, _maintenance, _settings
from ledger._capture import current_user, scheduler_job
from ledger._errors import LedgerError
from ledger._writer import Ticker
from ledger.sweeps._claims import AgentBeat, Claim, hostname, lease_expired, lease_seconds, scheduler_job_id
from ledger.sweeps._command import program_is_module
from ledger.sweeps._config import DEFAULT_COMMAND
from ledger.sweeps._search import Flat, bayes_point, grid_point, lookup, nest, random_point, sweep_seed
from ledger.sweeps._state import Trial, best_trial, observations, read_trials
from ledger.sweeps._trial import Task, TrialRunner

if TYPE_CHECKING:
    from collections.abc import Callable

    from ledger.sweeps._sweep import Sweep

log = logging.getLogger("ledger")


class Agent:
    """Runs trials of one sweep until ``count`` is reached or nothing is left to claim."""

    def __init__(
        self,
        sweep: Sweep,
        *,
        function: Callable[[], object] | None = None,
        count: int | None = None,
        out: TextIO | None = None,
    ) -> None:
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            msg = f"count must be a positive number of trials, got {count!r}"
            raise ValueError(msg)
        config = sweep.config
        if function is None and config.program is None and config.command == DEFAULT_COMMAND:
            msg = (
                f"sweep {sweep.id} has no 'program' (or 'command') to run: add `program: train.py` to its "
                f"config, or run trials in-process with ledger.sweeps.agent({sweep.id!r}, function=train)"
            )
            raise LedgerError(msg)
        uses_program = "${program}" in config.command
        if (
            function is None
            and uses_program
            and config.program is not None
            and not program_is_module(config)
            and not os.path.exists(config.program)
        ):
            msg = (
                f"the sweep's program {config.program!r} is not in {os.getcwd()}; start the agent in the "
                f"folder the program path is relative to"
            )
            raise LedgerError(msg)
        self.sweep = sweep
        self.files = sweep.files
        self.function = function
        self.count = count
        self.out = out if out is not None else sys.stderr
        self.poll_s = _settings.get(_settings.SWEEP_POLL)
        self.lease_s = lease_seconds()
        self.seed = sweep_seed(config, sweep.id)
        now = _format.iso(time.time())
        self.id = _format.new_run_id(time.time())
        self._beat = AgentBeat(
            self.id, hostname(), os.getpid(), current_user(), now, now, self.lease_s, job=scheduler_job_id()
        )
        self._beat_lock = threading.Lock()
        self._ticker = Ticker([(self.lease_s / 4, self._heartbeat)], name=f"ledger-agent-{self.id}")
        self._runner = TrialRunner(sweep, function=function, poll_s=self.poll_s, say=self._say, out=self.out)

    # -- bookkeeping ---------------------------------------------------------------------

    def _say(self, text: str) -> None:
        print(f"ledger agent: {text}", file=self.out, flush=True)

    def _heartbeat(self, **changes: Any) -> None:
        with self._beat_lock:
            for key, value in changes.items():
                setattr(self._beat, key, value)
            self._beat.heartbeat = _format.iso(time.time())
            self.files.write_agent(self._beat)

    def _describe(self, params: Flat) -> str:
        searched = {p.path for p in self.sweep.config.searched}
        shown = [f"{'.'.join(k)}={_short(v)}" for k, v in params.items() if k in searched]
        return " ".join(shown) or "(no searched parameters)"

    def _best_text(self, trials: dict[int, Trial]) -> str:
        metric = self.sweep.config.metric
        best = best_trial(self.sweep, trials)
        if metric is None or best is None or best.objective is None:
            return "best so far: none yet"
        spread = f" ± {best.spread:.4g}" if best.spread is not None else ""
        return f"best so far: {metric.name}={best.objective:.6g}{spread} (trial {best.n})"

    # -- the loop ------------------------------------------------------------------------

    def run(self) -> int:
        """Claim and run trials; returns how many this agent ran."""
        ran = 0
        self._heartbeat()
        self._ticker.start()
        config = self.sweep.config
        how = "in-process" if self.function is not None else " ".join(config.command)
        self._say(f"agent {self.id} on sweep {self.sweep.id} ({config.method}) in {self.sweep.storage.url}: {how}")
        if not self.sweep.project_pinned:
            self._say(
                f"the sweep names no project: each trial's runs go to the project its program's "
                f"ledger.init(project=...) asks for (else {self.sweep.project}); add `project:` to the sweep to fix one"
            )
        try:
            while self.count is None or ran < self.count:
                stop = self.files.stopped()
                if stop is not None:
                    self._say(f"sweep {self.sweep.id} was stopped ({stop.get('stopped')}); no new trials")
                    break
                trials = read_trials(self.sweep)
                metric = self.sweep.config.metric
                best = best_trial(self.sweep, trials)
                if (
                    metric is not None
                    and best is not None
                    and best.objective is not None
                    and metric.reached(best.objective)
                ):
                    self._say(f"trial {best.n} reached the target {metric.name}={metric.target:g}; no new trials")
                    break
                task = self._claim(trials)
                if task is None:
                    self._say(f"no trials left to claim in sweep {self.sweep.id}")
                    break
                cap = self.sweep.cap
                of = f" of {cap}" if cap is not None else ""
                again = f" (attempt {task.claim.attempt + 1}, taken over)" if task.claim.attempt else ""
                self._say(f"trial {task.n}{of}{again}: {self._describe(task.params)} | {self._best_text(trials)}")
                self._run_task(task)
                ran += 1
        finally:
            self._ticker.stop()
            with contextlib.suppress(OSError):
                self._heartbeat(trial=None, ended=_format.iso(time.time()))
        return ran

    # -- claiming ------------------------------------------------------------------------

    def _params_of(self, claim: Claim) -> Flat:
        out: Flat = {}
        for p in self.sweep.config.params:
            found, value = lookup(claim.params, p.path)
            if found:
                out[p.path] = value
        return out

    def _new_claim(self, n: int, params: Flat, attempt: int = 0, reclaimed_from: str | None = None) -> Claim:
        return Claim(
            trial=n,
            attempt=attempt,
            agent=self.id,
            host=self._beat.host,
            pid=self._beat.pid,
            claimed=_format.iso(time.time()),
            params=nest(params),
            reclaimed_from=reclaimed_from,
        )

    def _folds_left(self, trial: Trial | None) -> list[int | None]:
        folds = self.sweep.config.folds
        if folds is None:
            return [None]
        finished = {f for f, r in (trial.runs.items() if trial else ()) if r.status == "finished"}
        return [f for f in range(folds) if f not in finished]

    def _reclaim(self, trials: dict[int, Trial], claimed: dict[int, int]) -> Task | None:
        """Take up a trial its job scheduler preempted, or take over one whose agent stopped
        heartbeating before it was done."""
        now = time.time()
        agents: dict[str, AgentBeat] | None = None
        for n in sorted(claimed):
            trial = trials.get(n)
            if trial is not None and (trial.done or trial.status == "running"):
                continue
            try:
                claim = self.files.read_claim(n, claimed[n])
            except (FileNotFoundError, ValueError, LedgerError):
                continue
            preempted = (trial is not None and trial.status == _format.PREEMPTED) or claim.outcome == _format.PREEMPTED
            if claim.ended is not None and not preempted:
                continue
            if agents is None:
                agents = self.files.agents()
            if not preempted and not lease_expired(claim, agents.get(claim.agent), now, self.lease_s):
                continue
            if preempted and _holder_alive(claim, agents.get(claim.agent), now):
                continue  # its agent outlived the preemption and takes it up itself
            params = self._params_of(claim)
            new = self._new_claim(n, params, claim.attempt + 1, claim.agent)
            new.runs = [r.id for r in trial.runs.values() if r.status == "finished"] if trial else []
            if not self.files.try_claim(new):
                continue
            for run in trial.runs.values() if trial else ():
                if run.status == "crashed":  # its writer is gone: say why it stopped
                    try:
                        _maintenance.rewrite_manifest(
                            self.sweep.storage, run.project, run.id, stop_reason="lease_expired"
                        )
                    except (OSError, LedgerError) as exc:
                        log.warning("ledger agent: could not mark run %s as lease_expired (%s)", run.id, exc)
            folds = self._folds_left(trial)
            return Task(n, new, params, folds, self._resumable(n, trial, folds))
        return None

    def _resumable(self, n: int, trial: Trial | None, folds: list[int | None]) -> dict[int | None, tuple[str, str]]:
        """The interrupted runs (preempted, or crashed) of a taken-up trial that its program
        can continue: those whose program follows the resume convention (``sweep.resumable``)."""
        out: dict[int | None, tuple[str, str]] = {}
        for fold in folds:
            run = trial.runs.get(fold) if trial is not None else None
            if run is None or run.status not in ("killed", "crashed"):
                continue
            block = run.doc.get("sweep") or {}
            stopped = run.status == "crashed" or run.doc.get("stop_reason") == _format.PREEMPTED
            if stopped and block.get("resumable"):
                out[fold] = (run.project, run.id)
                self._say(f"trial {n}: continuing its interrupted run {run.id} (fold {fold})" if fold is not None
                          else f"trial {n}: continuing its interrupted run {run.id}")  # fmt: skip
            elif stopped:
                self._say(
                    f"trial {n}: run {run.id} was interrupted and starts over: its program does not resume "
                    f"(call ledger.sweeps.resumed() or ledger.sweeps.checkpoint_dir() in it to continue instead)"
                )
        return out

    def _choose(self, n: int, trials: dict[int, Trial], asked: list[Flat]) -> Flat:
        config = self.sweep.config
        if config.method == "grid":
            return grid_point(config, n, self.seed)
        if config.method == "random":
            return random_point(config, n, self.seed)
        if not asked:  # bayes: ask once per claim round, whatever number it ends up with
            asked.append(bayes_point(config, observations(trials, config.metric), (self.seed * 1_000_003 + n) % 2**32))
        return asked[0]

    def _claim(self, trials: dict[int, Trial]) -> Task | None:
        claimed = self.files.claimed()
        task = self._reclaim(trials, claimed)
        if task is not None:
            return task
        cap = self.sweep.cap
        asked: list[Flat] = []
        n = 1
        while cap is None or n <= cap:
            if n in claimed:
                n += 1
                continue
            params = self._choose(n, trials, asked)
            claim = self._new_claim(n, params)
            if self.files.try_claim(claim):
                return Task(n, claim, params, self._folds_left(None))
            claimed[n] = 0  # another agent was first: try the next number
        return None

    # -- running ------------------------------------------------------------------------

    def _run_task(self, task: Task) -> None:
        self._heartbeat(trial=task.n)
        outcome, run_ids = "killed", list(task.claim.runs)
        try:
            outcome, run_ids = self._runner.run(task)
        except BaseException:
            if scheduler_job() is not None:  # the scheduler ended the job (its SIGTERM unwinds the agent)
                outcome = _format.PREEMPTED
            raise
        finally:
            claim = task.claim
            claim.ended, claim.outcome, claim.runs = _format.iso(time.time()), outcome, run_ids
            try:
                self.files.update_claim(claim)
            except OSError as exc:
                log.warning("ledger agent: could not record the end of trial %d (%s)", task.n, exc)
            self._heartbeat(trial=None, trials_run=self._beat.trials_run + 1)
        self._say(f"trial {task.n} {outcome}{self._result_text(task.n)}")

    def _result_text(self, n: int) -> str:
        metric = self.sweep.config.metric
        if metric is None:
            return ""
        trial = read_trials(self.sweep).get(n)
        if trial is None or trial.objective is None:
            return ""
        spread = f" ± {trial.spread:.4g} over {len(trial.runs)} folds" if trial.spread is not None else ""
        return f": {metric.name}={trial.objective:.6g}{spread}"


def _holder_alive(claim: Claim, beat: AgentBeat | None, now: float) -> bool:
    """Whether the agent holding the claim still runs (heartbeats, not ended)."""
    return beat is not None and beat.alive(now) and claim.ended is None


def _short(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.4g}"
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."
