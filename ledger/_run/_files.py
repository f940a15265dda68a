"""Where a run's bytes go when things go wrong or grow: the spill folder that keeps what its
storage did not take, and the media budget warning."""

from __future__ import annotations

import dataclasses
import os
import re
import time
from typing import TYPE_CHECKING, Any

from ledger import _format, _settings
from ledger._errors import CorruptFileError
from ledger._root import SPILL_INFO, spill_folder
from ledger._storage import LocalStorage
from ledger._units import human_bytes as human

if TYPE_CHECKING:
    from collections.abc import Iterable

_USERINFO = re.compile(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", re.IGNORECASE)


def _local(folder: str) -> LocalStorage:
    """The spill folder as storage; it always appends (it is this machine's disk)."""
    local = LocalStorage(folder)
    local.caps = dataclasses.replace(local.caps, appends=True)
    return local


def read_spill_info(local: LocalStorage) -> dict[str, Any]:
    """A spill folder's spill.yaml: ``root``, ``project``, ``id``, ``spilled``, and per stream
    file how many bytes were already written back (``uploaded``) and how many after those a
    write that hung may have delivered (``inflight``)."""
    info = _format.yaml_load(local.read_bytes(SPILL_INFO), local.full(SPILL_INFO))
    if not isinstance(info, dict) or not all(isinstance(info.get(k), str) for k in ("root", "project", "id")):
        msg = f"{local.full(SPILL_INFO)}: not a ledger spill description (needs root, project, id)"
        raise CorruptFileError(msg)
    return info


def _write_info(local: LocalStorage, root_url: str, project: str, run_id: str, **changes: Any) -> None:
    try:
        info = read_spill_info(local)
    except (FileNotFoundError, CorruptFileError):
        info = {"root": _USERINFO.sub(r"\1", root_url), "project": project, "id": run_id}
    info["spilled"] = _format.iso(time.time())
    for key, value in changes.items():
        merged = dict(info.get(key) or {})
        merged.update(value)
        info[key] = {k: v for k, v in merged.items() if v}
    local.write_atomic(SPILL_INFO, _format.yaml_dump(info), durable=True)


class SpillFile:
    """One stream's file in the run's spill folder, for what a sink holds past its memory
    cap while storage is down (the sink's ``overflow``). Written back in order once storage
    answers; how far that got is kept in spill.yaml, so ``ledger recover`` after a crash
    writes only the rest."""

    def __init__(self, root_url: str, project: str, run_id: str, name: str) -> None:
        self._where = (root_url, project, run_id)
        self.name = name
        self.offset = 0
        self._local: LocalStorage | None = None

    def _storage(self) -> LocalStorage:
        if self._local is None:
            self._local = _local(spill_folder(self._where[1], self._where[2]))
        return self._local

    def append(self, data: bytes) -> None:
        local = self._storage()
        local.append(self.name, data, durable=True)
        if not local.exists(SPILL_INFO):
            _write_info(local, *self._where)

    def size(self) -> int:
        return self._storage().stat(self.name).size

    def read(self, offset: int, n: int) -> bytes:
        return self._storage().read_range(self.name, offset, n)

    def uploaded(self, offset: int) -> None:
        self.offset = offset
        _write_info(self._storage(), *self._where, uploaded={self.name: offset}, inflight={self.name: 0})

    def inflight(self, n: int) -> None:
        _write_info(self._storage(), *self._where, uploaded={self.name: self.offset}, inflight={self.name: n})

    def done(self) -> None:
        """All written back: the file goes, and the folder when nothing else is in it."""
        local = self._storage()
        local.remove(self.name)
        self.offset = 0
        _write_info(local, *self._where, uploaded={self.name: 0}, inflight={self.name: 0})
        if set(local.files_under("")) == {SPILL_INFO}:
            local.remove(SPILL_INFO)
            for folder in (local.root, os.path.dirname(local.root)):
                try:
                    os.rmdir(folder)
                except OSError:
                    break


def spill(
    root_url: str,
    project: str,
    run_id: str,
    streams: dict[str, bytes],
    manifest: bytes,
    *,
    files: dict[str, bytes] | None = None,
    inflight: dict[str, int] | None = None,
    inflight_to: dict[str, str | None] | None = None,
) -> str:
    """Write a run's unwritten data into a local spill folder; returns the folder. ``streams``
    are keyed by their file name (``metrics.jsonl``) and go after what the spill file of that
    stream already holds; ``files`` (media) are keyed by their path in the run folder;
    ``inflight`` says how many bytes a write that hung may still deliver, ``inflight_to`` the
    segment it delivers them to. ``ledger recover`` uploads it later."""
    folder = spill_folder(project, run_id)
    local = _local(folder)
    for name, data in streams.items():
        if data:
            local.append(name, data, durable=True)
    for path, data in (files or {}).items():
        local.write_atomic(path, data, durable=True)
    local.write_atomic(_format.MANIFEST, manifest, durable=True)
    _write_info(local, root_url, project, run_id, inflight=inflight or {}, inflight_to=inflight_to or {})
    return folder


def budget_warning(run_id: str, sizes: Iterable[tuple[str, int]]) -> str | None:
    """The warning for a run whose media and saved files exceed $LEDGER_MEDIA_BUDGET_MB, or None."""
    budget = _settings.get(_settings.MEDIA_BUDGET_MB) * 2**20
    items = sorted(sizes, key=lambda item: -item[1])
    total = sum(size for _, size in items)
    if total <= budget:
        return None
    largest = ", ".join(f"{path} ({human(size)})" for path, size in items[:5])
    exts = sorted({path.rsplit(".", 1)[-1] for path, _ in items[:5] if "." in path.rsplit("/", 1)[-1]})
    lines = "\n".join(f"  **/runs/*/**/*.{ext} filter=lfs diff=lfs merge=lfs -text" for ext in exts)
    return (
        f"ledger: run {run_id} holds {human(total)} of media and files, over its budget of {human(budget)} "
        f"(${_settings.MEDIA_BUDGET_MB.name}); largest: {largest}. Keep them out of plain git with Git LFS, "
        f"e.g. these .gitattributes lines:\n{lines}"
    )
