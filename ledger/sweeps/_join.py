"""How a run joins a sweep: the agent describes the trial in environment variables, and
``ledger.init()`` (through :func:`join_sweep`) puts the run in the sweep's root and project,
merges the trial's parameters into its config and records ``sweep: {id, trial, fold}``.

Only the first ``init()`` per trial in a process joins; later runs of that process (an
evaluation run, say) are ordinary runs. This module stays light: ``init()`` imports it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any, NamedTuple

log = logging.getLogger("ledger")

ENV_ID = "LEDGER_SWEEP_ID"
ENV_TRIAL = "LEDGER_SWEEP_TRIAL"
ENV_FOLD = "LEDGER_SWEEP_FOLD"
ENV_PARAMS = "LEDGER_SWEEP_PARAMS"
ENV_GROUP = "LEDGER_SWEEP_GROUP"
ENV_ROOT = "LEDGER_SWEEP_ROOT"
ENV_PROJECT = "LEDGER_SWEEP_PROJECT"
ENV_NAMES = (ENV_ID, ENV_TRIAL, ENV_FOLD, ENV_PARAMS, ENV_GROUP, ENV_ROOT, ENV_PROJECT)

_joined: set[tuple[str, int, int | None]] = set()


class Joined(NamedTuple):
    """What init uses: its own arguments, or the trial's when the run joins a sweep."""

    root: str | os.PathLike[str] | None
    project: str | None
    config: dict[str, Any]
    group: str | None
    sweep: dict[str, Any] | None  # the manifest's sweep: {id, trial, fold}


def trial_env(
    *,
    sweep_id: str,
    root: str,
    project: str,
    trial: int,
    fold: int | None,
    params: Mapping[str, Any],
    group: str | None,
) -> dict[str, str]:
    """The environment variables that make the next ``ledger.init()`` join this trial."""
    return {
        ENV_ID: sweep_id,
        ENV_TRIAL: str(trial),
        ENV_FOLD: "" if fold is None else str(fold),
        ENV_PARAMS: json.dumps(params, default=str),
        ENV_GROUP: group or "",
        ENV_ROOT: root,
        ENV_PROJECT: project,
        "LEDGER_ROOT": root,  # other runs of the program and ledger.open() default to these
        "LEDGER_PROJECT": project,
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
    env = os.environ
    sweep_id = env.get(ENV_ID)
    if not sweep_id:
        return unchanged
    trial = _int(ENV_TRIAL, env.get(ENV_TRIAL, ""))
    fold = _int(ENV_FOLD, env[ENV_FOLD]) if env.get(ENV_FOLD) else None
    key = (sweep_id, trial, fold)
    if key in _joined:
        return unchanged
    try:
        params = json.loads(env.get(ENV_PARAMS) or "{}")
    except ValueError:
        params = None
    sweep_root, sweep_project = env.get(ENV_ROOT), env.get(ENV_PROJECT)
    if not isinstance(params, dict) or not sweep_root or not sweep_project:
        msg = (
            f"${ENV_ID} is set but ${ENV_PARAMS}, ${ENV_ROOT} or ${ENV_PROJECT} is missing or malformed; "
            f"these are set by `ledger agent`: start trials through it, or unset ${ENV_ID}"
        )
        raise ValueError(msg)
    _joined.add(key)
    passed = [
        f"{what}={os.fspath(given)!r}"
        for what, given, used in (("root", root, sweep_root), ("project", project, sweep_project))
        if given is not None and os.fspath(given) != used
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
    return Joined(
        sweep_root, sweep_project, merged, env.get(ENV_GROUP) or group, {"id": sweep_id, "trial": trial, "fold": fold}
    )
