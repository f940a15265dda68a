"""Making a sweep folder, and finding one by id."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from ledger import _format
from ledger._errors import CorruptFileError
from ledger._run import _default_project, _open_root, claim_id, default_root
from ledger._storage import Storage, retrying
from ledger.sweeps._claims import SweepFiles
from ledger.sweeps._config import SweepConfig, parse_config
from ledger.sweeps._errors import SweepConfigError, SweepNotFoundError
from ledger.sweeps._search import check_bayes_available, grid_size

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass
class Sweep:
    """One sweep: where it lives and its validated config."""

    storage: Storage
    storage_options: Mapping[str, Any] | None
    project: str
    id: str
    config: SweepConfig

    @property
    def name(self) -> str:
        """The sweep's name (its ``name`` key, else its id): cv groups are ``<name>-trial-<n>``."""
        return self.config.name or self.id

    @property
    def files(self) -> SweepFiles:
        return SweepFiles(self.storage, self.project, self.id)

    @property
    def cap(self) -> int | None:
        """How many trials the sweep runs at most: run_cap, and the grid's size for grid."""
        caps = [c for c in (self.config.run_cap,) if c is not None]
        if self.config.method == "grid":
            caps.append(grid_size(self.config))
        return min(caps) if caps else None


def open_root(root: str | os.PathLike[str] | None, storage_options: Mapping[str, Any] | None) -> Storage:
    """The ledger root (made if absent, as ``ledger.init`` does)."""
    return _open_root(root, storage_options)


def existing_root(root: str | os.PathLike[str] | None, storage_options: Mapping[str, Any] | None) -> Storage:
    """The ledger root a sweep is looked up in; it must exist (nothing is created)."""
    storage = Storage(os.fspath(root) if root is not None else default_root(), storage_options)
    try:
        marker = retrying(lambda: storage.read_bytes(_format.ROOT_MARKER))
    except FileNotFoundError:
        msg = f"no ledger at {storage.url} (no {_format.ROOT_MARKER}); pass the sweep's root (--root, root=)"
        raise SweepNotFoundError(msg) from None
    _format.check_root_marker(marker, storage.full(_format.ROOT_MARKER))
    return storage


def load_config_file(path: str | os.PathLike[str]) -> tuple[dict[str, Any], str]:
    """Read a sweep YAML file: (its mapping, its name for messages)."""
    where = os.fspath(path)
    try:
        with open(where, "rb") as f:
            data = f.read()
    except OSError as exc:
        msg = f"cannot read the sweep config {where}: {exc.strerror or exc}"
        raise SweepConfigError(msg) from None
    try:
        doc = _format.yaml_load(data, where)
    except CorruptFileError as exc:
        raise SweepConfigError(str(exc)) from None
    if not isinstance(doc, dict):
        msg = f"{where}: a sweep config is a mapping with at least 'method' and 'parameters', got {doc!r}"
        raise SweepConfigError(msg)
    return doc, where


def create_sweep(
    storage: Storage,
    doc: Mapping[str, Any],
    *,
    where: str,
    project: str | None = None,
    name: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> Sweep:
    """Check the config whole, then write ``sweeps/<id>/sweep.yaml`` with an exclusive create.

    ``name`` and ``project`` (command-line options) replace the config's keys of that name.
    """
    doc = dict(doc)
    if name is not None:
        doc["name"] = name
    if project is not None and "project" in doc:
        doc["project"] = project
    config = parse_config(doc, where)
    if config.method == "bayes":
        check_bayes_available()
    project = _format.check_name("project", project or config.project or _default_project())
    try:
        data = _format.yaml_dump(doc)
    except yaml.YAMLError as exc:
        msg = f"{where}: the config holds values that are not plain YAML data ({exc})"
        raise SweepConfigError(msg) from None
    sweep_id = claim_id(
        storage, time.time(), lambda sid: (f"{_format.sweep_dir(project, sid)}/{_format.SWEEP_CONFIG}", data), "sweep"
    )
    return Sweep(storage, storage_options, project, sweep_id, config)


def _projects(storage: Storage, project: str | None) -> list[str]:
    if project is not None:
        return [_format.check_name("project", project)]
    return [e.name for e in storage.list_dir("") if e.is_dir and not e.name.startswith(".")]


def find_sweep(
    storage: Storage,
    sweep_id: str,
    project: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> Sweep:
    """The sweep with this id (or unique id prefix), in ``project`` or any project."""
    if not isinstance(sweep_id, str) or not sweep_id:
        msg = f"sweep id must be a non-empty string, got {sweep_id!r}"
        raise SweepNotFoundError(msg)
    projects = _projects(storage, project)
    exact: list[tuple[str, str]] = []
    prefixed: list[tuple[str, str]] = []
    for p in projects:
        for entry in storage.list_dir(f"{_format.project_dir(p)}/{_format.SWEEPS_DIR}"):
            if entry.is_dir and entry.name.startswith(sweep_id):
                (exact if entry.name == sweep_id else prefixed).append((p, entry.name))
    matches = exact or prefixed
    if len(matches) != 1:
        if matches:
            shown = ", ".join(f"{p}/{s}" for p, s in matches[:5])
            msg = f"sweep id prefix {sweep_id!r} is ambiguous: {len(matches)} sweeps match ({shown}); say more of it"
        else:
            looked = ", ".join(projects) or "none"
            msg = (
                f"no sweep {sweep_id!r} under {storage.url} (looked in projects: {looked}); "
                f"make one with `ledger sweep create sweep.yaml`"
            )
        raise SweepNotFoundError(msg)
    p, found = matches[0]
    path = f"{_format.sweep_dir(p, found)}/{_format.SWEEP_CONFIG}"
    try:
        data = retrying(lambda: storage.read_bytes(path))
    except FileNotFoundError:
        msg = f"sweep {found!r} has no {_format.SWEEP_CONFIG} ({storage.full(path)}); it was not created by ledger"
        raise SweepNotFoundError(msg) from None
    config = parse_config(_format.yaml_load(data, storage.full(path)), storage.full(path))
    return Sweep(storage, storage_options, p, found, config)
