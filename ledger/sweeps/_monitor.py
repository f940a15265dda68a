"""The hyperband monitor of one running trial fold: it polls the run's metric (through the
series engine) and stops the run once it falls below the threshold at a band."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from ledger import _format, _reader, _root
from ledger._errors import LedgerError
from ledger._query import RunView
from ledger.sweeps._hyperband import Verdict, history_of, judge, reached_band
from ledger.sweeps._state import sweep_runs

if TYPE_CHECKING:
    from collections.abc import Callable

    from ledger._format import Manifest
    from ledger.sweeps._config import Hyperband, Metric
    from ledger.sweeps._sweep import Sweep

log = logging.getLogger("ledger")

GRACE_S = 30.0  # after SIGTERM, how long an early-terminated trial may take to exit


def find_trial_run(sweep: Sweep, n: int, fold: int | None, since: float) -> Manifest | None:
    """The run a trial's fold created after ``since`` (the latest, if several): run ids start
    with their UTC creation time, so only the newest few manifests are read."""
    storage = sweep.storage
    oldest = time.strftime("%Y%m%d-%H%M%S", time.gmtime(since - 2))
    want = {"id": sweep.id, "trial": n, "fold": fold}
    # The sweep's project first; a sweep without a project key lets the program choose one.
    projects = [sweep.project] if sweep.project_pinned else [sweep.project, *_root.projects(storage)]
    found: list[Manifest] = []
    for project in dict.fromkeys(projects):
        for entry in reversed(storage.list_dir(_format.runs_dir(project))):
            if entry.name < oldest:
                break
            try:
                manifest = _reader.read_manifest(storage, project, entry.name)
            except (OSError, LedgerError):
                continue
            block = manifest.sweep or {}
            if all(block.get(k) == v for k, v in want.items()):
                found.append(manifest)
    # The latest: ids of one second sort by their random part, and a trial taken up again
    # moments after its interrupted run has two runs in that window.
    return max(found, key=lambda m: m.created, default=None)


class Monitor:
    """Hyperband for one running fold: polls its metric and stops it below the threshold."""

    def __init__(
        self,
        sweep: Sweep,
        rule: tuple[Metric, Hyperband],
        n: int,
        fold: int | None,
        since: float,
        *,
        poll_s: float,
        stop: Callable[[], None],
    ) -> None:
        self._sweep = sweep
        self.metric, self.hyperband = rule
        self._n, self._fold, self._since = n, fold, since
        self._poll_s = poll_s
        self._stop = stop
        self._kill: Callable[[], None] | None = None
        self.run_id: str | None = None
        self.run_project: str | None = None
        self._run: RunView | None = None
        self.verdict: Verdict | None = None
        self._others: list[list[float]] = []
        self._final: dict[str, list[float]] = {}  # histories of runs that will not change
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"ledger-hyperband-{n}", daemon=True)

    def follow(self, run_id: str, project: str) -> None:
        """Watch this run (a resumed trial's, made before ``since``) instead of looking for a new one."""
        self.run_id, self.run_project = run_id, project
        self._run = RunView(self._sweep.storage, {"id": run_id, "project": project}, time.time())

    def start(self, kill: Callable[[], None] | None = None) -> None:
        self._kill = kill
        self._thread.start()

    def halt(self) -> None:
        self._halt.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _loop(self) -> None:
        while not self._halt.wait(self._poll_s):
            try:
                if self.check():
                    break
            except Exception:
                log.exception("ledger agent: hyperband check failed (the trial goes on)")
        if self.verdict is not None and self._kill is not None and not self._halt.wait(GRACE_S):
            self._kill()

    def _history(self, run: RunView) -> list[float]:
        return history_of(run.series(self.metric.name))

    def _refresh_others(self) -> None:
        """The histories of every other run of the sweep, as W&B's engine takes them (every
        run, whatever its state); those of ended runs are read once. With cv, a fold is judged
        among the runs of the same fold of the other trials (as if each fold were a W&B sweep
        of its own): the folds of one trial are not rivals."""
        others = []
        for run in sweep_runs(self._sweep):
            block = run.doc.get("sweep") or {}
            if run.id == self.run_id or block.get("fold") != self._fold:
                continue
            history = self._final.get(run.id)
            if history is None:
                history = self._history(run)
                if run.status in _format.FINAL_STATUSES:
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
        if self._run is None:
            found = find_trial_run(self._sweep, self._n, self._fold, self._since)
            if found is None:
                return False
            self.run_id, self.run_project = found.id, found.project
            self._run = RunView(self._sweep.storage, {"id": found.id, "project": found.project}, time.time())
        mine = self._history(self._run)
        if reached_band(hb, len(mine)) is None:
            return False
        self._refresh_others()  # thresholds move as the other runs log (W&B recomputes them at every poll)
        verdict = judge(hb, self.metric.goal, mine, [*self._others, mine])
        if verdict is None:
            return False
        self.verdict = verdict
        self._stop()
        return True
