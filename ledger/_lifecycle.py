"""Process-level bookkeeping: the active runs, and what happens to them when the process ends.

- normal exit (atexit): ``finished``
- an uncaught exception (sys.excepthook): ``failed``, with the traceback in run.yaml
- KeyboardInterrupt (Ctrl-C, SIGINT): ``killed``
- SIGTERM: ``killed``; then the previous handler runs (the default one ends the process
  with the usual exit code, so schedulers still see a terminated job). Inside a job
  scheduler's job (SLURM, PBS, LSF) the run also gets ``stop_reason: preempted``: the
  scheduler ended it (a time limit, a preemption, a requeue), and a sweep agent may resume it
- kill -9 or a lost machine: nothing can run; readers see a stale heartbeat as ``crashed``

The hooks chain to whatever was installed before and are installed once, at the first init.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
import traceback
from typing import TYPE_CHECKING, Any

from ledger._capture import scheduler_job
from ledger._format import PREEMPTED

if TYPE_CHECKING:
    from types import FrameType, TracebackType

    from ledger._run import Run

_runs: list[Run] = []  # unfinished runs, oldest first; the last is the active one
_lock = threading.RLock()  # reentrant: signal handlers run on the main thread mid-call
_installed = False
_prev_excepthook: Any = None
_prev_sigterm: Any = None


def register(run: Run) -> None:
    with _lock:
        _runs.append(run)
    _install()


def forget(run: Run) -> None:
    with _lock, contextlib.suppress(ValueError):
        _runs.remove(run)


def active() -> Run | None:
    """The most recently started run that is not finished."""
    with _lock:
        return _runs[-1] if _runs else None


def status_for(exc: BaseException) -> str:
    """How an exception ends a run: Ctrl-C is ``killed``, anything else ``failed``."""
    return "killed" if isinstance(exc, KeyboardInterrupt) else "failed"


def format_error(exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> str:
    """The traceback a failed run records in its manifest's ``error``."""
    return "".join(traceback.format_exception(exc_type, exc, tb)).rstrip("\n")


def _finish_all(status: str, error: str | None = None, stop_reason: str | None = None) -> None:
    with _lock:
        runs = list(reversed(_runs))
    for run in runs:
        try:
            if stop_reason is not None:
                run._m.stop_reason = stop_reason  # noqa: SLF001 (written by the finish below)
            run.finish(status=status, error=error)
        except Exception as exc:
            sys.stderr.write(f"ledger: could not finish run {run.id}: {exc}\n")


def _excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    _finish_all(status_for(exc), format_error(exc_type, exc, tb))
    (_prev_excepthook or sys.__excepthook__)(exc_type, exc, tb)


def _atexit() -> None:
    _finish_all("finished")


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    job = scheduler_job()  # a job scheduler sent it: the run was preempted
    prev = _prev_sigterm
    if callable(prev):
        # Someone else (Lightning, a job system) handles SIGTERM, maybe to stop cleanly
        # and keep logging: record the intent and let them decide when the run ends.
        with _lock:
            runs = list(_runs)
        for run in runs:
            run._killed_by_signal = True  # noqa: SLF001
            if job is not None:
                run._m.stop_reason = PREEMPTED  # noqa: SLF001
        prev(signum, frame)
        return
    # A scheduler signals every process of a job, and a sweep agent passes it on to its trial:
    # a second SIGTERM must not cut the first one's finish short.
    signal.signal(signum, signal.SIG_IGN)
    where = f" in {job}" if job is not None else ""
    _finish_all(
        "killed", f"terminated by signal {signal.Signals(signum).name}{where}", PREEMPTED if job is not None else None
    )
    # Die the way the default handler would, so the exit status still says SIGTERM.
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _after_fork_in_child() -> None:
    # A forked child (DataLoader worker, multiprocessing) inherits the run objects but not
    # their writer thread: the parent owns the runs, and the child must not touch them.
    from ledger._capture import _console  # noqa: PLC0415

    with _lock:
        runs = list(_runs)
        _runs.clear()
    for run in runs:
        run._disown()  # noqa: SLF001
    _console.forget_all()


def _install() -> None:
    global _installed, _prev_excepthook, _prev_sigterm  # noqa: PLW0603
    with _lock:
        if _installed:
            return
        _installed = True
    _prev_excepthook = sys.excepthook
    sys.excepthook = _excepthook
    atexit.register(_atexit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
    if threading.current_thread() is threading.main_thread():
        current = signal.getsignal(signal.SIGTERM)
        if current is not signal.SIG_IGN:
            _prev_sigterm = current if callable(current) else None
            signal.signal(signal.SIGTERM, _on_sigterm)
