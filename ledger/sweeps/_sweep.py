"""Making a sweep folder, and finding one by id."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from ledger import _format, _root
from ledger._errors import CorruptFileError
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
        """The sweep's name (its ``name`` key, else its id)."""
        return self.config.name or self.id

    @property
    def project_pinned(self) -> bool:
        """Whether the sweep says where its trials' runs go (a ``project`` key, or
        ``--project`` at creation); if not, each trial's ``ledger.init(project=...)`` decides,
        and the sweep's own project is only the default."""
        return self.config.project is not None

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
        doc = _format.yaml_load(data, where, aliases=True)  # the user's own file: anchors as YAML allows
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
    if project is not None:
        doc["project"] = project  # recorded: the trials' runs go there, whatever init asks
    config = parse_config(doc, where)
    if config.method == "bayes":
        check_bayes_available()
    project = _format.check_name("project", project or config.project or _root.default_project())
    try:
        data = _format.yaml_dump(doc)
    except yaml.YAMLError as exc:
        msg = f"{where}: the config holds values that are not plain YAML data ({exc})"
        raise SweepConfigError(msg) from None
    sweep_id = _root.claim_id(
        storage, time.time(), lambda sid: (f"{_format.sweep_dir(project, sid)}/{_format.SWEEP_CONFIG}", data), "sweep"
    )
    return Sweep(storage, storage_options, project, sweep_id, config)


def find_sweep(
    storage: Storage,
    ref: str,
    project: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> Sweep:
    """The sweep with this id, or the one whose id starts with ``ref`` or whose ``name`` is
    ``ref``, in ``project`` or any project."""
    if not isinstance(ref, str) or not ref:
        msg = f"sweep id must be a non-empty string, got {ref!r}"
        raise SweepNotFoundError(msg)
    projects = [_format.check_name("project", project)] if project is not None else _root.projects(storage)
    found = [  # (project, id, name)
        (p, entry.name, _sweep_name(storage, p, entry.name))
        for p in projects
        for entry in storage.list_dir(f"{_format.project_dir(p)}/{_format.SWEEPS_DIR}")
        if entry.is_dir
    ]
    where = f"{storage.url} (looked in projects: {', '.join(projects) or 'none'})"
    p, sweep_id, _name = _root.pick(
        ref,
        found,
        id_of=lambda f: f[1],
        name_of=lambda f: f[2],
        what="sweep",
        where=where,
        error=SweepNotFoundError,
        hint="; make one with `ledger sweep create sweep.yaml`",
    )
    path = f"{_format.sweep_dir(p, sweep_id)}/{_format.SWEEP_CONFIG}"
    try:
        data = retrying(lambda: storage.read_bytes(path))
    except FileNotFoundError:
        msg = f"sweep {sweep_id!r} has no {_format.SWEEP_CONFIG} ({storage.full(path)}); it was not created by ledger"
        raise SweepNotFoundError(msg) from None
    config = parse_config(_format.yaml_load(data, storage.full(path)), storage.full(path))
    return Sweep(storage, storage_options, p, sweep_id, config)


def _sweep_name(storage: Storage, project: str, sweep_id: str) -> str | None:
    """A sweep's ``name`` key (None if it has none or its config cannot be read)."""
    path = f"{_format.sweep_dir(project, sweep_id)}/{_format.SWEEP_CONFIG}"
    try:
        doc = _format.yaml_load(storage.read_bytes(path), storage.full(path))
    except (OSError, CorruptFileError):
        return None
    name = doc.get("name") if isinstance(doc, dict) else None
    return name if isinstance(name, str) else None
