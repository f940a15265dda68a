"""Writing artifacts: a new version (its blobs, then its manifest under the next free number)
and alias moves. Every file is made once by exclusive create, so writers on any number of
machines share a root without locks (docs/format.md, section 11)."""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

from ledger import _format
from ledger._artifacts._cache import sha256_file
from ledger._artifacts._read import alias_move_path, alias_moves, version_path, versions
from ledger._config import normalize_value
from ledger._errors import CorruptFileError, InvalidNameError, StorageError
from ledger._storage import Storage, retrying

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

log = logging.getLogger("ledger")

_MAX_ATTEMPTS = 10_000  # version numbers or alias moves tried before giving up (writers at once)


def _need_exclusive(storage: Storage) -> None:
    if not storage.caps.conditional_create:
        msg = f"{storage.url} cannot create files only-if-absent, so artifacts cannot be versioned there"
        raise StorageError(msg)


def source_files(path: str) -> tuple[str, list[tuple[str, str]]]:
    """(``file`` or ``folder``, [(path in the version, local path)]) of what ``path`` names:
    a file is one entry under its name; a folder every regular file below it, by its path
    relative to the folder, sorted. The caller's own links to files count as those files;
    links to folders are not followed (they could loop), and are named in a warning."""
    path = os.fspath(path)
    if os.path.isfile(path):
        return "file", [(_format.check_relative_file(os.path.basename(path)), os.path.realpath(path))]
    if not os.path.isdir(path):
        msg = f"log_artifact: {path!r} is neither a file nor a folder (working directory: {os.getcwd()})"
        raise FileNotFoundError(msg)
    found: list[tuple[str, str]] = []
    skipped: list[str] = []
    pending = [""]
    while pending:
        sub = pending.pop()
        with os.scandir(os.path.join(path, sub) if sub else path) as it:
            entries = list(it)
        for entry in entries:
            rel = f"{sub}/{entry.name}" if sub else entry.name
            if entry.is_dir(follow_symlinks=False):
                pending.append(rel)
            elif entry.is_file(follow_symlinks=True):
                found.append((_format.check_relative_file(rel), os.path.realpath(entry.path)))
            else:
                skipped.append(rel)
    if skipped:
        log.warning("ledger: log_artifact left out %d link(s) to folders or special files in %s: %s",
                    len(skipped), path, ", ".join(sorted(skipped)[:5]))  # fmt: skip
    if not found:
        msg = f"log_artifact: the folder {path!r} holds no files; there is nothing to log"
        raise ValueError(msg)
    return "folder", sorted(found)


def _identity(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def put_blob(storage: Storage, project: str, local: str) -> tuple[str, int]:
    """Store one local file's content as a blob (once: an existing blob is not written
    again); returns its sha256 and size. A file that changes while it is stored is an error."""
    before = _identity(local)
    sha, size = sha256_file(local)
    rel = _format.blob_path(project, sha)
    try:
        existing = retrying(lambda: storage.stat(rel)).size
    except FileNotFoundError:
        existing = None
    if existing is None:
        try:
            if size == 0:  # an empty conditional write is not protected; every writer writes the same nothing
                retrying(lambda: storage.write_atomic(rel, b""))
            else:
                retrying(lambda: storage.put_file_exclusive(local, rel))
        except FileExistsError:
            pass  # another writer stored the same content first
    elif existing != size:
        msg = (
            f"{storage.full(rel)}: a blob of {existing} bytes where {size} are expected: the ledger's copy is "
            f"damaged; `ledger verify --deep` names it, delete it and log again"
        )
        raise CorruptFileError(msg)
    if _identity(local) != before:
        msg = f"log_artifact: {local} changed while it was being stored; log it again once it is written"
        raise ValueError(msg)
    return sha, size


def _claim_version(storage: Storage, project: str, manifest: _format.VersionManifest) -> None:
    """Give ``manifest`` the next free version number and create its file: one more than the
    highest listed, then the next while another writer took it first."""
    have = versions(storage, project, manifest.name)
    manifest.version = (have[-1] if have else 0) + 1
    for _attempt in range(_MAX_ATTEMPTS):
        data = manifest.to_yaml()
        path = version_path(project, manifest.name, manifest.version)
        try:
            retrying(lambda: storage.create_exclusive(path, data))  # noqa: B023
        except FileExistsError:
            # A retried request whose first try did go through finds its own bytes there.
            try:
                if storage.read_bytes(path) == data:
                    return
            except FileNotFoundError:
                pass
            manifest.version += 1
            continue
        return
    msg = f"could not take a version number of artifact {manifest.name!r} after {_MAX_ATTEMPTS} attempts"
    raise StorageError(msg)  # pragma: no cover


def move_alias(storage: Storage, project: str, name: str, alias: str, version: int, run: str | None) -> None:
    """Point ``alias`` of artifact ``name`` at ``version``: its next move, by exclusive create
    (the moves before stay: they are its history)."""
    _need_exclusive(storage)
    alias = _format.check_alias(alias)
    if alias == _format.LATEST:
        return  # always the highest version; not stored
    moves = alias_moves(storage, project, name, alias)
    if moves and moves[-1][1].version == version:
        return
    k = (moves[-1][0] if moves else 0) + 1
    for _attempt in range(_MAX_ATTEMPTS):
        data = _format.AliasMove(alias, version, _format.iso(time.time()), run).to_yaml()
        path = alias_move_path(project, name, alias, k)
        try:
            retrying(lambda: storage.create_exclusive(path, data))  # noqa: B023
        except FileExistsError:
            k += 1
            continue
        return
    msg = f"could not move alias {alias!r} of artifact {name!r} after {_MAX_ATTEMPTS} attempts"
    raise StorageError(msg)  # pragma: no cover


def log_version(
    storage: Storage,
    project: str,
    path: str,
    name: str,
    *,
    type: str | None = None,  # noqa: A002 (the documented name)
    aliases: Iterable[str] = (_format.LATEST,),
    metadata: Mapping[str, Any] | None = None,
    run: str | None = None,
) -> _format.VersionManifest:
    """Store the file or folder ``path`` as the next version of artifact ``name`` of
    ``project``: its blobs first, then its manifest, then its aliases moved to it."""
    _need_exclusive(storage)
    name = _format.check_artifact_name(name)
    wanted = _check_aliases(aliases)
    _check_type(type)
    meta: dict[str, Any] = normalize_value(dict(metadata), "metadata") if metadata is not None else {}
    source, entries = source_files(path)
    files = []
    for rel, local in entries:
        sha, size = put_blob(storage, project, local)
        files.append(_format.ArtifactFile(rel, size, sha))
    manifest = _format.VersionManifest(
        name=name, version=0, type=type, created=_format.iso(time.time()), run=run, source=source, files=files,
        metadata=meta,
    )  # fmt: skip
    _claim_version(storage, project, manifest)
    for alias in wanted:
        move_alias(storage, project, name, alias, manifest.version, run)
    return manifest


def _check_type(value: object) -> None:
    if value is not None and not isinstance(value, str):
        msg = f"log_artifact: type must be a string such as 'model' or 'dataset', got {value!r}"
        raise TypeError(msg)


def _check_aliases(aliases: object) -> list[str]:
    if isinstance(aliases, str) or not isinstance(aliases, (list, tuple, set, frozenset)):
        msg = f"aliases must be a list of names such as ['best'], got {aliases!r}"
        raise TypeError(msg)
    out = []
    for alias in aliases:
        try:
            out.append(_format.check_alias(alias))
        except InvalidNameError as exc:
            raise InvalidNameError(f"log_artifact: {exc}") from None
    return list(dict.fromkeys(out))
