"""How a run joins a sweep: the agent describes the trial in environment variables, and
``ledger.init()`` (through :func:`join_sweep`) puts the run in the sweep's root and project,
merges the trial's parameters into its config and records ``sweep: {id, trial, fold}``.

Only the first ``init()`` per trial in a process joins; later runs of that process (an
evaluation run, say) are ordinary runs. The agent (``ledger.sweeps``) sets the variables
with :func:`trial_env`; the variables are declared in ``ledger._settings``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from ledger import _settings

if TYPE_CHECKING:
    from ledger._run._run import Run

log = logging.getLogger("ledger")

ENV_ID = _settings.SWEEP_ID.name
ENV_TRIAL = _settings.SWEEP_TRIAL.name
ENV_FOLD = _settings.SWEEP_FOLD.name
ENV_PARAMS = _settings.SWEEP_PARAMS.name
ENV_GROUP = _settings.SWEEP_GROUP.name
ENV_ROOT = _settings.SWEEP_ROOT.name
ENV_PROJECT = _settings.SWEEP_PROJECT.name
ENV_RESUME = _settings.SWEEP_RESUME.name
ENV_NAMES = tuple(s.name for s in _settings.SWEEP_TRIAL_SETTINGS)

_joined: set[tuple[str, int, int | None]] = set()


class Joined(NamedTuple):
    """What init uses: its own arguments, or the trial's when the run joins a sweep."""

    root: str | os.PathLike[str] | None
    project: str | None
    config: dict[str, Any]
    group: str | None
    sweep: dict[str, Any] | None  # the manifest's sweep: {id, trial, fold}
    resume: str | None = None  # the trial's interrupted run, which this init continues


def trial_env(  # noqa: PLR0913 (one keyword per variable)
    *,
    sweep_id: str,
    root: str,
    project: str,
    trial: int,
    fold: int | None,
    params: Mapping[str, Any],
    group: str | None,
    pinned: bool = True,
    resume: str | None = None,
) -> dict[str, str]:
    """The environment variables that make the next ``ledger.init()`` join this trial.
    ``pinned`` False (a sweep without a project key): the run goes to the project its
    ``init(project=...)`` asks for, ``project`` only when it asks for none. ``resume``: the
    id of the trial's interrupted run, which that ``init()`` then continues."""
    return {
        ENV_RESUME: resume or "",
        ENV_ID: sweep_id,
        ENV_TRIAL: str(trial),
        ENV_FOLD: "" if fold is None else str(fold),
        ENV_PARAMS: json.dumps(params, default=str),
        ENV_GROUP: group or "",
        ENV_ROOT: root,
        ENV_PROJECT: project if pinned else "",
        _settings.ROOT.name: root,  # other runs of the program and ledger.open() default to these
        _settings.PROJECT.name: project,
    }


def _int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        msg = f"${name}={value!r} is not a whole number; it is set by `ledger agent` for sweep trials"
        raise ValueError(msg) from None


def merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``top`` laid over it: nested mappings merge key by key, ``top`` wins."""
    out = dict(base)
    for k, v in top.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def join_sweep(
    root: str | os.PathLike[str] | None, project: str | None, config: dict[str, Any], group: str | None
) -> Joined:
    """What ``init()`` uses for the run: the trial's root, project, config and group if the
    environment names a trial this process has not joined yet, else the arguments as given."""
    unchanged = Joined(root, project, config, group, None)
    sweep_id = _settings.get(_settings.SWEEP_ID)
    if not sweep_id:
        return unchanged
    trial = _int(ENV_TRIAL, _settings.get(_settings.SWEEP_TRIAL) or "")
    fold_text = _settings.get(_settings.SWEEP_FOLD)
    fold = _int(ENV_FOLD, fold_text) if fold_text else None
    key = (sweep_id, trial, fold)
    if key in _joined:
        return unchanged
    try:
        params = json.loads(_settings.get(_settings.SWEEP_PARAMS) or "{}")
    except ValueError:
        params = None
    sweep_root, sweep_project = _settings.get(_settings.SWEEP_ROOT), _settings.get(_settings.SWEEP_PROJECT)
    if not isinstance(params, dict) or not sweep_root:
        msg = (
            f"${ENV_ID} is set but ${ENV_PARAMS} or ${ENV_ROOT} is missing or malformed; "
            f"these are set by `ledger agent`: start trials through it, or unset ${ENV_ID}"
        )
        raise ValueError(msg)
    _joined.add(key)
    if not sweep_project:  # the sweep names no project: the program's init(project=...) decides
        if project is not None:
            log.info(
                "ledger: trial %d of sweep %s goes to project %s, as init(project=...) asks", trial, sweep_id, project
            )
        sweep_project = project  # None: init's default ($LEDGER_PROJECT, the sweep's own project)
    passed = [
        f"{what}={os.fspath(given)!r}"
        for what, given, used in (("root", root, sweep_root), ("project", project, sweep_project))
        if given is not None and used is not None and os.fspath(given) != used
    ]
    if passed:
        log.warning(
            "ledger: this run is trial %d of sweep %s, so it goes to the sweep's root %s, project %s (not %s)",
            trial,
            sweep_id,
            sweep_root,
            sweep_project,
            ", ".join(passed),
        )
    merged = merge(config, params)
    if fold is not None:
        merged["fold"] = fold
    block: dict[str, Any] = {"id": sweep_id, "trial": trial, "fold": fold}
    global _resumable  # noqa: PLW0603
    if _resumable:
        block["resumable"] = True
        _resumable = False
    resume = _settings.get(_settings.SWEEP_RESUME)
    if resume:
        log.info("ledger: trial %d of sweep %s continues its interrupted run %s", trial, sweep_id, resume)
    group = _settings.get(_settings.SWEEP_GROUP) or group
    return Joined(sweep_root, sweep_project, merged, group, block, resume or None)


_resumable = False  # the program follows the resume convention (it asked resumed() or checkpoint_dir())


def resuming() -> bool:
    """Whether this process is a sweep trial that continues its interrupted run (the agent
    set ``$LEDGER_SWEEP_RESUME``)."""
    return bool(_settings.get(_settings.SWEEP_ID)) and bool(_settings.get(_settings.SWEEP_RESUME))


def mark_resumable(run: Run | None) -> None:
    """Record that the trial's program resumes from its checkpoints (``sweep.resumable`` in
    its run's manifest): an agent that finds the trial interrupted then continues that run
    instead of starting the trial over. ``run`` is the active run, or None before init."""
    global _resumable  # noqa: PLW0603
    if run is None:  # before init: the trial's init records it
        _resumable = True
        return
    if run._m.sweep is None or run._m.sweep.get("resumable"):  # noqa: SLF001
        return
    run._m.sweep["resumable"] = True  # noqa: SLF001
    run._write_manifest_quietly()  # noqa: SLF001


CHECKPOINTS = "checkpoints"  # under the run's files/: where a trial keeps what it resumes from


def checkpoint_folder(run: Run) -> str:
    """``files/checkpoints/`` of ``run``'s folder, made if missing: a local path, for roots on
    a (shared) disk. A resumed run has the same folder, so what a trial saved there before it
    was interrupted is there when it continues."""
    from ledger import _format  # noqa: PLC0415 (only trials that checkpoint need it)

    rel = f"{run._dir}/{_format.FILES_DIR}/{CHECKPOINTS}"  # noqa: SLF001
    path = run._storage.local_path(rel)  # noqa: SLF001
    if path is None:
        msg = (
            f"checkpoint_dir: the ledger root {run.root} is not on a disk this machine mounts, so a trial "
            f"cannot keep checkpoints in its run folder; write them to a folder on shared disk named after "
            f"the run id ({run.id}: the same when the trial continues), or run.save() them and read them "
            f"back from the run's files/"
        )
        raise ValueError(msg)
    os.makedirs(path, exist_ok=True)
    return path
