"""The local artifact cache: a version's files on this machine, each checked against its
sha256 once, when it arrives.

``$LEDGER_ARTIFACT_CACHE`` (else ``~/.cache/ledger/artifacts``) holds ``blobs/<h[:2]>/<h>``,
read-only copies of the ledger's blobs that matched their hash, and per ledger root, project,
artifact and version the version's files as hard links to those blobs (copies where a link
cannot be made) beside a small JSON marker of what was laid out. A version laid out before is
handed out again after a stat of each file: a file whose size or modification time changed
(someone wrote to it) makes its blob suspect, and it is checked and laid out again.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
import tempfile
from typing import TYPE_CHECKING, Any

from ledger import _format, _settings
from ledger._errors import CorruptFileError
from ledger._storage import Storage, retrying

if TYPE_CHECKING:
    from ledger._format import ArtifactFile, VersionManifest

_BUFFER = 1 << 20
_MARKER_KIND = "ledger-artifact-cache"


def cache_base() -> str:
    """``$LEDGER_ARTIFACT_CACHE``, else ``~/.cache/ledger/artifacts``, else the temporary folder."""
    env = _settings.get(_settings.ARTIFACT_CACHE)
    if env:
        return os.path.abspath(os.path.expanduser(env))
    home = os.path.expanduser("~")
    if home != "~" and os.access(home, os.W_OK):
        return os.path.join(home, ".cache", "ledger", "artifacts")
    return os.path.join(tempfile.gettempdir(), "ledger-artifacts")


def sha256_file(path: str) -> tuple[str, int]:
    """(sha256 hex digest, size) of a local file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    buffer = bytearray(_BUFFER)
    view = memoryview(buffer)
    size = 0
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buffer):
            digest.update(view[:n])
            size += n
    return digest.hexdigest(), size


def _root_key(url: str) -> str:
    """A folder name for a ledger root: readable, and unique by a hash of its URL."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", url).strip("-.")[-60:].lstrip("-.") or "root"
    return f"{readable}-{hashlib.sha256(url.encode()).hexdigest()[:10]}"


def _blob(base: str, sha256: str) -> str:
    return os.path.join(base, _format.ARTIFACT_BLOBS, sha256[:2], sha256)


def _corrupt(storage: Storage, project: str, manifest: VersionManifest, file: ArtifactFile, found: str) -> Exception:
    where = storage.full(_format.blob_path(project, file.sha256))
    msg = (
        f"{where}: the content of {file.path!r} of {project}/{manifest.name}:v{manifest.version} {found}, "
        f"so it is refused; the ledger's copy is damaged (`ledger verify --deep` lists every such blob)"
    )
    return CorruptFileError(msg)


def _fetch(storage: Storage, project: str, manifest: VersionManifest, file: ArtifactFile, base: str) -> str:
    """The cached blob of ``file``: from the cache when it is there whole, else copied out of
    the ledger, checked against its sha256 and made read-only."""
    target = _blob(base, file.sha256)
    try:
        if os.lstat(target).st_size == file.size and stat.S_ISREG(os.lstat(target).st_mode):
            return target
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(target), exist_ok=True)
    tmp = f"{target}.tmp-{os.getpid()}-{secrets.token_hex(3)}"
    try:
        if file.size == 0:
            open(tmp, "wb").close()
        else:
            source = _format.blob_path(project, file.sha256)
            try:
                retrying(lambda: storage.get_file(source, tmp))
            except FileNotFoundError:
                raise _corrupt(storage, project, manifest, file, "is missing") from None
        found, size = sha256_file(tmp)
        if found != file.sha256 or size != file.size:
            raise _corrupt(
                storage, project, manifest, file, f"does not match its sha256 (it hashes to {found[:12]}...)"
            )
        os.chmod(tmp, 0o444)  # shared by every version that holds it: never written through a link
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return target


def _forget(target: str) -> None:
    """Drop a suspect cached blob (someone wrote to a file linked to it)."""
    with contextlib.suppress(OSError):
        os.chmod(target, 0o644)
        os.unlink(target)


def _version_dir(storage: Storage, project: str, manifest: VersionManifest, base: str) -> str:
    return os.path.join(base, _root_key(storage.url), project, manifest.name, f"v{manifest.version}")


def _stats(folder: str, files: list[ArtifactFile]) -> dict[str, list[int]] | None:
    """(size, mtime in ns) of each laid-out file, or None when one is missing or not a file."""
    out: dict[str, list[int]] = {}
    for f in files:
        try:
            st = os.lstat(os.path.join(folder, *f.path.split("/")))
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        out[f.path] = [st.st_size, st.st_mtime_ns]
    return out


def _read_marker(path: str) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("kind") == _MARKER_KIND else None


def _entry(folder: str, manifest: VersionManifest) -> str:
    """What a caller gets: the folder, or the one file of a version logged from a file."""
    if manifest.source == "file" and len(manifest.files) == 1:
        return os.path.join(folder, *manifest.files[0].path.split("/"))
    return folder


def materialise(storage: Storage, project: str, manifest: VersionManifest) -> str:
    """Lay out a version's files in the local cache (or find them laid out and untouched);
    returns the folder, or the file of a version logged from one file."""
    base = cache_base()
    folder = _version_dir(storage, project, manifest, base)
    marker_path = f"{folder}.json"
    marker = _read_marker(marker_path)
    suspects: set[str] = set()
    if marker is not None and marker.get("digest") == manifest.digest:
        now = _stats(folder, manifest.files)
        if now is not None and now == marker.get("files"):
            return _entry(folder, manifest)
        recorded = marker.get("files") or {}
        suspects = {f.sha256 for f in manifest.files if now is None or now.get(f.path) != recorded.get(f.path)}
    for sha in suspects:
        _forget(_blob(base, sha))
    blobs = [_fetch(storage, project, manifest, f, base) for f in manifest.files]
    tmp = f"{folder}.tmp-{os.getpid()}-{secrets.token_hex(3)}"
    try:
        for f, blob in zip(manifest.files, blobs, strict=True):
            dest = os.path.join(tmp, *f.path.split("/"))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            try:
                os.link(blob, dest)
            except OSError:  # a file system without hard links: a read-only copy
                shutil.copyfile(blob, dest)
                os.chmod(dest, 0o444)
        os.makedirs(os.path.dirname(folder), exist_ok=True)
        _replace_folder(tmp, folder)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    laid_out = _stats(folder, manifest.files)
    doc = {"kind": _MARKER_KIND, "digest": manifest.digest, "files": laid_out}
    marker_tmp = f"{marker_path}.tmp-{os.getpid()}-{secrets.token_hex(3)}"
    with open(marker_tmp, "w", encoding="utf-8") as out:
        json.dump(doc, out)
    os.replace(marker_tmp, marker_path)
    return _entry(folder, manifest)


def _replace_folder(new: str, folder: str) -> None:
    """Put the folder ``new`` where ``folder`` is (an old, touched layout goes). Another
    process that laid out the same version at the same moment may win: its files are the same."""
    old = None
    if os.path.lexists(folder):
        old = f"{folder}.old-{os.getpid()}-{secrets.token_hex(3)}"
        try:
            os.rename(folder, old)
        except FileNotFoundError:
            old = None
    try:
        os.rename(new, folder)
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def copy_to(storage: Storage, project: str, manifest: VersionManifest, root: str) -> str:
    """Copy a version's files into the folder ``root`` (writable copies, each checked);
    returns the folder, or the file of a version logged from one file."""
    base = cache_base()
    os.makedirs(root, exist_ok=True)
    for f in manifest.files:
        blob = _fetch(storage, project, manifest, f, base)
        dest = os.path.join(root, *f.path.split("/"))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(blob, dest)  # a new file, writable: the caller's own
    return _entry(os.path.abspath(root), manifest)
