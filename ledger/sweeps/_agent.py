"""The agent: claims trials one after another and runs them, as subprocesses or in-process.

At every claim the agent rebuilds the sweep's state from the runs in the tree, takes over a
trial whose holder's lease expired if there is one, else claims the next free trial number
and chooses its parameters (grid, random or bayes). Each trial (each fold, with ``cv``) is
one run: a subprocess started with the sweep's command, or ``function()`` in this process;
``ledger.init()`` inside it joins the trial through environment variables.

With ``early_terminate``, a monitor thread reads the trial's metric as it is logged and
applies hyperband at each band: a subprocess trial gets SIGTERM (SIGKILL after a grace
period), an in-process one an exception raised in its thread; the agent then records
``status: killed``, ``stop_reason: early_terminated`` in the run's manifest.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from ledger import _format, _lifecycle, _reader
from ledger._capture import current_user
from ledger._errors import LedgerError
from ledger._run import _env_float
from ledger._storage import retrying
from ledger._writer import Ticker
from ledger.sweeps._claims import AgentBeat, Claim, hostname, lease_expired, lease_seconds
from ledger.sweeps._command import build_command
from ledger.sweeps._config import DEFAULT_COMMAND
from ledger.sweeps._hyperband import Verdict, history_of, judge, reached_band
from ledger.sweeps._join import ENV_NAMES, trial_env
from ledger.sweeps._search import (
    Flat,
    bayes_point,
    grid_point,
    lookup,
    nest,
    random_point,
    sweep_seed,
)
from ledger.sweeps._state import FINAL, Trial, best_trial, observations, read_trials

if TYPE_CHECKING:
    from collections.abc import Callable

    from ledger._format import Manifest
    from ledger.sweeps._config import Hyperband, Metric
    from ledger.sweeps._sweep import Sweep

log = logging.getLogger("ledger")

DEFAULT_POLL_S = 2.0
GRACE_S = 30.0  # after SIGTERM, how long an early-terminated trial may take to exit


class _EarlyTerminated(KeyboardInterrupt):  # a KeyboardInterrupt, so the run ends as killed
    """Raised inside an in-process trial that hyperband stopped."""


@dataclass
class _Task:
    """A claimed trial: its number, its claim, its parameters and the folds left to run."""

    n: int
    claim: Claim
    params: Flat
    folds: list[int | None]


@dataclass
class _FoldResult:
    outcome: str  # finished, failed, killed, early_terminated, crashed, no_run
    run_id: str | None


def _mark_run(sweep: Sweep, run_id: str, **changes: Any) -> None:
    """Rewrite the manifest of a run whose writer is gone (its process ended or crashed)."""
    storage = sweep.storage
    manifest = _reader.read_manifest(storage, sweep.project, run_id)
    for key, value in changes.items():
        setattr(manifest, key, value)
    path = f"{_format.run_dir(sweep.project, run_id)}/{_format.MANIFEST}"
    data = manifest.to_yaml()
    retrying(lambda: storage.write_atomic(path, data, durable=True))


def find_trial_run(sweep: Sweep, n: int, fold: int | None, since: float) -> Manifest | None:
    """The run a trial's fold created after ``since``: run ids start with their UTC creation
    time, so only the newest few manifests are read."""
    storage = sweep.storage
    oldest = time.strftime("%Y%m%d-%H%M%S", time.gmtime(since - 2))
    want = {"id": sweep.id, "trial": n, "fold": fold}
    for entry in reversed(storage.list_dir(_format.runs_dir(sweep.project))):
        if entry.name < oldest:
            break
        try:
            manifest = _reader.read_manifest(storage, sweep.project, entry.name)
        except (OSError, LedgerError):
            continue
        if manifest.sweep == want:
            return manifest
    return None


class _Monitor:
    """Hyperband for one running fold: polls its metric and stops it below the threshold."""

    def __init__(
        self,
        agent: Agent,
        rule: tuple[Metric, Hyperband],
        n: int,
        fold: int | None,
        since: float,
        stop: Callable[[], None],
    ) -> None:
        self._agent = agent
        self._sweep = agent.sweep
        self.metric, self.hyperband = rule
        self._n, self._fold, self._since = n, fold, since
        self._stop = stop
        self._kill: Callable[[], None] | None = None
        self.run_id: str | None = None
        self.verdict: Verdict | None = None
        self._band: int | None = None
        self._others: list[list[float]] = []
        self._final: dict[str, list[float]] = {}  # histories of runs that will not change
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"ledger-hyperband-{n}", daemon=True)

    def start(self, kill: Callable[[], None] | None = None) -> None:
        self._kill = kill
        self._thread.start()

    def halt(self) -> None:
        self._halt.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _loop(self) -> None:
        while not self._halt.wait(self._agent.poll_s):
            try:
                if self.check():
                    break
            except Exception:
                log.exception("ledger agent: hyperband check failed (the trial goes on)")
        if self.verdict is not None and self._kill is not None and not self._halt.wait(GRACE_S):
            self._kill()

    def _history(self, run_id: str) -> list[float]:
        records = _reader.read_stream(self._sweep.storage, _format.run_dir(self._sweep.project, run_id)).records
        return history_of(records, self.metric.name)

    def _refresh_others(self) -> None:
        others = []
        for trial in read_trials(self._sweep).values():
            for run in trial.runs.values():
                if run.id == self.run_id:
                    continue
                history = self._final.get(run.id)
                if history is None:
                    history = self._history(run.id)
                    if run.status in FINAL:
                        self._final[run.id] = history
                others.append(history)
        self._others = others

    def explain(self) -> str:
        """Why the run was stopped (for its manifest's ``error``)."""
        if self.verdict is None:
            return ""
        return self.verdict.explain(self.metric.name, self.metric.goal, self.hyperband.eta)

    def check(self) -> bool:
        """One look at the run; True once it has been told to stop."""
        hb = self.hyperband
        if self.run_id is None:
            found = find_trial_run(self._sweep, self._n, self._fold, self._since)
            if found is None:
                return False
            self.run_id = found.id
        mine = self._history(self.run_id)
        band = reached_band(hb, len(mine))
        if band is None:
            return False
        if band != self._band:  # a new band: read what the other runs did up to now
            self._band = band
            self._refresh_others()
        verdict = judge(hb, self.metric.goal, mine, [*self._others, mine])
        if verdict is None:
            return False
        self.verdict = verdict
        self._stop()
        return True


class _InProcessStop:
    """Stops ``function()`` running in the agent's thread by raising _EarlyTerminated in it
    (as W&B's agent does for function trials); never once the function has returned."""

    def __init__(self) -> None:
        self._tid = threading.get_ident()
        self._lock = threading.Lock()
        self._running = True
        self.injected = False

    def __call__(self) -> None:
        with self._lock:
            if self._running and not self.injected:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(self._tid), ctypes.py_object(_EarlyTerminated)
                )
                self.injected = True

    def done(self) -> None:
        with self._lock:
            self._running = False
            if self.injected:  # not raised yet (the function returned first): withdraw it
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._tid), None)


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
        if function is None and uses_program and config.program is not None and not os.path.exists(config.program):
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
        self.poll_s = _env_float("LEDGER_SWEEP_POLL", DEFAULT_POLL_S)
        self.lease_s = lease_seconds()
        self.seed = sweep_seed(config, sweep.id)
        now = _format.iso(time.time())
        self.id = _format.new_run_id(time.time())
        self._beat = AgentBeat(self.id, hostname(), os.getpid(), current_user(), now, now, self.lease_s)
        self._beat_lock = threading.Lock()
        self._ticker = Ticker([(self.lease_s / 4, self._heartbeat)], name=f"ledger-agent-{self.id}")

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

    def _reclaim(self, trials: dict[int, Trial], claimed: dict[int, int]) -> _Task | None:
        """Take over a trial whose agent stopped heartbeating before it was done."""
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
            if claim.ended is not None:
                continue
            if agents is None:
                agents = self.files.agents()
            if not lease_expired(claim, agents.get(claim.agent), now, self.lease_s):
                continue
            params = self._params_of(claim)
            new = self._new_claim(n, params, claim.attempt + 1, claim.agent)
            new.runs = [r.id for r in trial.runs.values() if r.status == "finished"] if trial else []
            if not self.files.try_claim(new):
                continue
            for run in trial.runs.values() if trial else ():
                if run.status == "crashed":  # its writer is gone: say why it stopped
                    try:
                        _mark_run(self.sweep, run.id, stop_reason="lease_expired")
                    except (OSError, LedgerError) as exc:
                        log.warning("ledger agent: could not mark run %s as lease_expired (%s)", run.id, exc)
            return _Task(n, new, params, self._folds_left(trial))
        return None

    def _choose(self, n: int, trials: dict[int, Trial], asked: list[Flat]) -> Flat:
        config = self.sweep.config
        if config.method == "grid":
            return grid_point(config, n, self.seed)
        if config.method == "random":
            return random_point(config, n, self.seed)
        if not asked:  # bayes: ask once per claim round, whatever number it ends up with
            asked.append(bayes_point(config, observations(trials), (self.seed * 1_000_003 + n) % 2**32))
        return asked[0]

    def _claim(self, trials: dict[int, Trial]) -> _Task | None:
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
                return _Task(n, claim, params, self._folds_left(None))
            claimed[n] = 0  # another agent was first: try the next number
        return None

    # -- running -------------------------------------------------------------------------

    def _run_task(self, task: _Task) -> None:
        self._heartbeat(trial=task.n)
        outcome, run_ids = "killed", list(task.claim.runs)
        try:
            for fold in task.folds:
                result = self._run_fold(task, fold)
                if result.run_id is not None:
                    run_ids.append(result.run_id)
                outcome = result.outcome
                if outcome != "finished":
                    break
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

    def _run_fold(self, task: _Task, fold: int | None) -> _FoldResult:
        sweep = self.sweep
        group = f"{sweep.name}-trial-{task.n}" if sweep.config.folds is not None else None
        env = trial_env(
            sweep_id=sweep.id,
            root=sweep.storage.url,
            project=sweep.project,
            trial=task.n,
            fold=fold,
            params=nest(task.params),
            group=group,
        )
        since = time.time()
        if self.function is not None:
            monitor, stopped, crashed = self._call_function(task, fold, env, since)
        else:
            monitor, stopped, crashed = self._run_process(task, fold, env, since)
        run_id = monitor.run_id if monitor is not None else None
        manifest = (
            _reader.read_manifest(sweep.storage, sweep.project, run_id)
            if run_id is not None
            else find_trial_run(sweep, task.n, fold, since)
        )
        if manifest is None:
            return _FoldResult("failed" if crashed else "no_run", None)
        if stopped and monitor is not None and monitor.verdict is not None and manifest.status != "finished":
            _mark_run(sweep, manifest.id, status="killed", stop_reason="early_terminated", error=monitor.explain())
            return _FoldResult("early_terminated", manifest.id)
        if manifest.status == "running":  # the process is gone but never finished its run
            return _FoldResult("crashed", manifest.id)
        return _FoldResult(manifest.status, manifest.id)

    def _monitor(self, task: _Task, fold: int | None, since: float, stop: Callable[[], None]) -> _Monitor | None:
        hb, metric = self.sweep.config.hyperband, self.sweep.config.metric
        if hb is None or metric is None:
            return None
        return _Monitor(self, (metric, hb), task.n, fold, since, stop)

    def _run_process(
        self, task: _Task, fold: int | None, env: dict[str, str], since: float
    ) -> tuple[_Monitor | None, bool, bool]:
        with tempfile.TemporaryDirectory(prefix="ledger-trial-") as tmp:
            json_file = os.path.join(tmp, "params.json")
            with open(json_file, "w", encoding="utf-8") as f:
                json.dump(nest(task.params), f, default=str)
            argv = build_command(self.sweep.config, task.params, json_file)
            child_env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
            child_env.update(env)
            try:
                proc = subprocess.Popen(argv, env=child_env)
            except OSError as exc:
                self._say(f"trial {task.n}: cannot start {argv[0]!r}: {exc}")
                return None, False, True

            def stop() -> None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)

            def kill() -> None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()

            monitor = self._monitor(task, fold, since, stop)
            if monitor is not None:
                monitor.start(kill)
            try:
                code = proc.wait()
            except BaseException:  # Ctrl-C or SIGTERM in the agent: the trial ends with it
                stop()
                try:
                    proc.wait(GRACE_S)
                except subprocess.TimeoutExpired:
                    kill()
                raise
            finally:
                if monitor is not None:
                    monitor.halt()
        stopped = monitor is not None and monitor.verdict is not None
        return monitor, stopped, code != 0 and not stopped

    def _call_function(
        self, task: _Task, fold: int | None, env: dict[str, str], since: float
    ) -> tuple[_Monitor | None, bool, bool]:
        function = self.function
        if function is None:
            return None, False, True
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        stopper = _InProcessStop()
        monitor = self._monitor(task, fold, since, stopper)
        failed = False
        if monitor is not None:
            monitor.start()
        try:
            try:
                function()
            finally:
                stopper.done()
        except _EarlyTerminated:
            pass
        except Exception as exc:
            failed = True
            self._say(f"trial {task.n}: the function raised {type(exc).__name__}: {exc}")
            traceback.print_exc(file=self.out)
            self._finish_left_runs(task.n, "failed", "".join(traceback.format_exception(exc)).rstrip("\n"))
        except BaseException:  # Ctrl-C, SystemExit: the trial's runs end with the agent
            self._finish_left_runs(task.n, "killed", None)
            raise
        finally:
            stopper.done()
            if monitor is not None:
                monitor.halt()
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        stopped = stopper.injected
        self._finish_left_runs(task.n, "killed" if stopped else "finished", None)
        return monitor, stopped, failed

    def _finish_left_runs(self, n: int, status: str, error: str | None) -> None:
        """Finish the trial's runs the function left open (as W&B's agent does)."""
        while (run := _lifecycle.active()) is not None:
            block = run._m.sweep or {}  # noqa: SLF001
            if block.get("id") != self.sweep.id or block.get("trial") != n:
                break
            run.finish(status=status, error=error)


def _short(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.4g}"
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."
