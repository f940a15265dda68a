"""Running one claimed trial: each fold as a subprocess started with the sweep's command, or
as ``function()`` in this process, with a hyperband monitor where the sweep has one; and
recording the verdict in the run's manifest afterwards (its writer is gone by then)."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from ledger import _lifecycle, _maintenance, _reader
from ledger._format import PREEMPTED
from ledger._run._sweep import ENV_NAMES, trial_env
from ledger.sweeps._command import build_command, interpreter_path, macro_values
from ledger.sweeps._monitor import GRACE_S, Monitor, find_trial_run
from ledger.sweeps._search import Flat, nest

if TYPE_CHECKING:
    from collections.abc import Callable

    from ledger.sweeps._claims import Claim
    from ledger.sweeps._sweep import Sweep

log = logging.getLogger("ledger")


def trial_group(sweep: Sweep, n: int) -> str:
    """The group of a cross-validated trial's runs: ``<sweep name>-<sweep id>-trial-<n>``
    (``<sweep id>-trial-<n>`` for a sweep without a name), unique to the sweep, so running
    the same sweep file twice never mixes two parameter sets in one group."""
    base = sweep.id if sweep.name == sweep.id else f"{sweep.name}-{sweep.id}"
    return f"{base}-trial-{n}"


class _EarlyTerminated(KeyboardInterrupt):  # a KeyboardInterrupt, so the run ends as killed
    """Raised inside an in-process trial that hyperband stopped."""


@dataclass
class Task:
    """A claimed trial: its number, its claim, its parameters and the folds left to run."""

    n: int
    claim: Claim
    params: Flat
    folds: list[int | None]
    resume: dict[int | None, tuple[str, str]] = field(default_factory=dict)
    """Folds whose interrupted run the trial continues: fold -> (project, run id)."""


@dataclass
class FoldResult:
    outcome: str  # finished, failed, killed, early_terminated, preempted, crashed, no_run
    run_id: str | None


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


class TrialRunner:
    """Runs the folds of trials of one sweep; ``say`` prints a progress line."""

    def __init__(
        self,
        sweep: Sweep,
        *,
        function: Callable[[], object] | None,
        poll_s: float,
        say: Callable[[str], None],
        out: TextIO,
    ) -> None:
        self.sweep = sweep
        self.function = function
        self.poll_s = poll_s
        self._say = say
        self._out = out

    def run(self, task: Task) -> tuple[str, list[str]]:
        """Run the trial's folds until one does not finish; (outcome, run ids)."""
        outcome, run_ids = "killed", list(task.claim.runs)
        for fold in task.folds:
            result = self._run_fold(task, fold)
            if result.run_id is not None:
                run_ids.append(result.run_id)
            outcome = result.outcome
            if outcome != "finished":
                break
        return outcome, run_ids

    def _run_fold(self, task: Task, fold: int | None) -> FoldResult:
        sweep = self.sweep
        group = trial_group(sweep, task.n) if sweep.config.folds is not None else None
        env = trial_env(
            sweep_id=sweep.id,
            root=sweep.storage.url,
            project=sweep.project,
            trial=task.n,
            fold=fold,
            params=nest(task.params),
            group=group,
            pinned=sweep.project_pinned,
            resume=task.resume[fold][1] if fold in task.resume else None,
        )
        since = time.time()
        if self.function is not None:
            monitor, stopped, crashed = self._call_function(task, fold, env, since)
        else:
            monitor, stopped, crashed = self._run_process(task, fold, env, since)
        known = (monitor.run_project or sweep.project, monitor.run_id) if monitor is not None else task.resume.get(fold)
        manifest = (
            _reader.read_manifest(sweep.storage, known[0], known[1])
            if known is not None and known[1] is not None
            else find_trial_run(sweep, task.n, fold, since)
        )
        if manifest is None:
            return FoldResult("failed" if crashed else "no_run", None)
        if stopped and monitor is not None and monitor.verdict is not None and manifest.status != "finished":
            _maintenance.rewrite_manifest(
                sweep.storage, manifest.project, manifest.id,
                status="killed", stop_reason="early_terminated", error=monitor.explain(),
            )  # fmt: skip
            return FoldResult("early_terminated", manifest.id)
        if manifest.status == "running":  # the process is gone but never finished its run
            return FoldResult("crashed", manifest.id)
        if manifest.status == "killed" and manifest.stop_reason == PREEMPTED:
            return FoldResult(PREEMPTED, manifest.id)
        return FoldResult(manifest.status, manifest.id)

    def _monitor(self, task: Task, fold: int | None, since: float, stop: Callable[[], None]) -> Monitor | None:
        hb, metric = self.sweep.config.hyperband, self.sweep.config.metric
        if hb is None or metric is None:
            return None
        monitor = Monitor(self.sweep, (metric, hb), task.n, fold, since, poll_s=self.poll_s, stop=stop)
        if fold in task.resume:
            project, run_id = task.resume[fold]
            monitor.follow(run_id, project)
        return monitor

    def _run_process(
        self, task: Task, fold: int | None, env: dict[str, str], since: float
    ) -> tuple[Monitor | None, bool, bool]:
        with tempfile.TemporaryDirectory(prefix="ledger-trial-") as tmp:
            json_file = os.path.join(tmp, "params.json")
            with open(json_file, "w", encoding="utf-8") as f:
                f.write(macro_values(nest(task.params), json_file)["${args_json}"][0])
            argv = build_command(self.sweep.config, task.params, json_file)
            child_env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
            child_env.update(env)
            child_env["PATH"] = interpreter_path()  # `python` (W&B's ${interpreter}) is the agent's Python
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
        self, task: Task, fold: int | None, env: dict[str, str], since: float
    ) -> tuple[Monitor | None, bool, bool]:
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
            traceback.print_exc(file=self._out)
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
