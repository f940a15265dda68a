"""Hyperparameter sweeps coordinated through the ledger folder: no server.

    import ledger.sweeps

    sweep_id = ledger.sweeps.create("sweep.yaml", root="results")   # or a dict
    ledger.sweeps.agent(sweep_id, function=train, count=20, root="results")

A sweep config is a W&B sweep file, read and decided as W&B's own sweep engine and agent
do (``method: grid | random | bayes``, ``metric``, ``parameters`` with every distribution,
``early_terminate: {type: hyperband}``, ``run_cap``, ``program``, ``command`` with W&B's
macros), plus ``cv: {folds: K}``; what needs W&B's servers (``method: custom``, ``job``) is
refused with what to use instead. Agents on any number of machines that
share the root claim trials by exclusive-creating ``claims/<n>`` in the sweep's folder and
rebuild the search state from the runs in the tree. See docs/format.md, "Sweeps".

A trial that its job scheduler ends (a time limit, a preemption: SIGTERM inside a SLURM, PBS
or LSF job) is ``killed`` with ``stop_reason: preempted``, and the next agent takes it up
again. A program that can continue from a checkpoint says so by calling :func:`resumed` (or
:func:`checkpoint_dir`); its interrupted run is then continued (``ledger.init(resume=...)``:
steps go on, active time adds up) instead of started over::

    run = ledger.init(project="mnist", config=cfg)
    ckpt = os.path.join(ledger.sweeps.checkpoint_dir(), "last.pt")
    start = 0
    if ledger.sweeps.resumed() and os.path.exists(ckpt):
        start = load(ckpt) + 1
    for epoch in range(start, cfg["epochs"]):
        ...
        save(ckpt, epoch)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ledger import _lifecycle
from ledger._errors import RunStateError
from ledger._root import open_root
from ledger._run._sweep import checkpoint_folder, mark_resumable, resuming
from ledger.sweeps._agent import Agent
from ledger.sweeps._errors import SweepConfigError, SweepNotFoundError
from ledger.sweeps._status import SweepStatus, sweep_status
from ledger.sweeps._sweep import Sweep, create_sweep, find_sweep, load_config_file

if TYPE_CHECKING:
    import os

__all__ = [
    "SweepConfigError",
    "SweepNotFoundError",
    "SweepStatus",
    "agent",
    "checkpoint_dir",
    "create",
    "resumed",
    "status",
    "stop",
]


def _existing(
    sweep_id: str,
    root: str | os.PathLike[str] | None,
    project: str | None,
    storage_options: Mapping[str, Any] | None,
) -> Sweep:
    return find_sweep(open_root(root, storage_options), sweep_id, project, storage_options)


def create(
    config: Mapping[str, Any] | str | os.PathLike[str],
    *,
    root: str | os.PathLike[str] | None = None,
    project: str | None = None,
    name: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> str:
    """Create a sweep and return its id.

    Args:
        config: the sweep config, a mapping or the path of a YAML file. It is checked whole
            first: an unsupported key or a malformed value raises :class:`SweepConfigError`
            naming the key, and nothing is written.
        root: the ledger root (default ``$LEDGER_ROOT``, else ``results/`` at the top of the
            git repository, else ``./results``).
        project: the project (default: the config's ``project`` key, else the repository's name).
        name: the sweep's name (default: the config's ``name`` key, else its id).
        storage_options: passed to fsspec for remote roots.
    """
    if isinstance(config, Mapping):
        doc, where = dict(config), "sweep config"
    else:
        doc, where = load_config_file(config)
    storage = open_root(root, storage_options, create=True)
    return create_sweep(storage, doc, where=where, project=project, name=name, storage_options=storage_options).id


def agent(
    sweep_id: str,
    function: Callable[[], object] | None = None,
    *,
    count: int | None = None,
    root: str | os.PathLike[str] | None = None,
    project: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> None:
    """Claim and run trials of a sweep, one after another, until ``count`` trials ran, the
    sweep is stopped, its target is reached, or nothing is left to claim.

    With ``function``, each trial calls ``function()`` in this process (for notebooks): the
    ``ledger.init()`` inside it joins the trial, and ``run.config`` holds its parameters.
    Without, each trial runs the sweep's ``program``/``command`` as a subprocess.
    Prints a progress line per trial (trial n of the cap, best so far) to stderr.
    """
    sweep = _existing(sweep_id, root, project, storage_options)
    Agent(sweep, function=function, count=count).run()


def stop(
    sweep_id: str,
    *,
    root: str | os.PathLike[str] | None = None,
    project: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> bool:
    """Stop a sweep: agents claim no new trials; running trials finish. False if it was
    already stopped."""
    return _existing(sweep_id, root, project, storage_options).files.stop()


def status(
    sweep_id: str,
    *,
    root: str | os.PathLike[str] | None = None,
    project: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> SweepStatus:
    """Trials by status, the best trial with its parameters, the running agents."""
    return sweep_status(_existing(sweep_id, root, project, storage_options))


def resumed() -> bool:
    """Whether this sweep trial continues its interrupted run (its job was preempted or hit
    its time limit, and an agent took the trial up again): load your checkpoint and go on.

    Calling it also tells the agents that the program resumes: if the trial is interrupted,
    the next agent continues its run (steps go on, active time adds up) instead of starting
    the trial over. Call it before or after ``ledger.init()``. False outside a sweep trial.
    """
    mark_resumable(_lifecycle.active())
    return resuming()


def checkpoint_dir() -> str:
    """The folder of the running trial's checkpoints: ``files/checkpoints/`` in its run's
    folder, the same when the trial continues after an interruption (made if missing).

    Call it after ``ledger.init()``; the root must be a folder on (shared) disk. Like
    :func:`resumed`, it tells the agents that the program resumes. Works for any run, in a
    sweep or not.
    """
    run = _lifecycle.active()
    if run is None:
        msg = "checkpoint_dir: no active run; call it after ledger.init()"
        raise RunStateError(msg)
    mark_resumable(run)
    return checkpoint_folder(run)
