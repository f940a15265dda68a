"""A ledger root on any fsspec filesystem (``memory://``, ``s3://``, ``gs://``, ...): the only
module that imports fsspec, and only when such a root is opened."""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from typing import TYPE_CHECKING, Any

from ledger import _settings
from ledger._storage._base import Capabilities, Entry, Listing, Stat, Storage, as_os_error, entered, too_large

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

# Protocols whose files can be appended to in place. Object stores (s3, gcs, az, ...)
# re-upload a whole object for "ab" and two writers lose data, so they get segments.
_APPENDABLE = frozenset({"memory"})


class _Translating:
    """A filesystem whose method calls raise OSError subclasses only (see as_os_error)."""

    def __init__(self, fs: Any) -> None:
        self._fs = fs

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._fs, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with as_os_error(f"{name} {args[0] if args else ''}".strip()):
                return attr(*args, **kwargs)

        return call


_CREATE_LOCK = threading.Lock()


def _uses_generic_put(fs: Any) -> bool:
    """Whether ``fs`` uploads with fsspec's generic put_file, whose ``mode="create"`` is a check
    followed by a write (s3fs's is a conditional request the server decides)."""
    from fsspec.spec import AbstractFileSystem  # noqa: PLC0415  (only with an fsspec root)

    return getattr(type(fs), "put_file", None) is AbstractFileSystem.put_file


def _is_precondition_failed(exc: BaseException) -> bool:
    # s3fs reports a lost If-None-Match race as a plain OSError whose cause is HTTP 412.
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        text = f"{type(cur).__name__} {cur}"
        if "PreconditionFailed" in text or "412" in text:
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def _version(info: Mapping[str, Any]) -> str:
    version = info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified")
    return str(version if version is not None else info.get("created", ""))


def _mtime(info: Mapping[str, Any]) -> float | None:
    value = info.get("mtime") or info.get("LastModified") or info.get("created")
    if isinstance(value, (int, float)):
        return float(value)
    timestamp = getattr(value, "timestamp", None)
    return float(timestamp()) if callable(timestamp) else None


def _is_link(info: Mapping[str, Any]) -> bool:
    return bool(info.get("islink")) or info.get("type") in ("link", "symlink")


def split_url(url: str, storage_options: Mapping[str, Any] | None) -> tuple[Any, str, bool]:
    """(filesystem, path, is the local file system) of an fsspec URL."""
    import fsspec.core  # noqa: PLC0415  (kept out of `import ledger`)
    from fsspec.implementations.local import LocalFileSystem  # noqa: PLC0415

    fs, path = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
    return fs, path, isinstance(fs, LocalFileSystem)


class FsspecStorage(Storage):
    """A root on an fsspec filesystem: appends only where the protocol appends in place,
    exclusive create through ``open(path, "xb")`` (a conditional PUT on object stores)."""

    flush_interval_s = 10.0
    part_size: int | None = None  # bytes per part of a multipart upload (None: fsspec's default)

    def __init__(self, fs: Any, path: str) -> None:
        self.fs = _Translating(fs)
        protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
        self.root = path.rstrip("/") if path not in ("", "/") else path
        self.url = fs.unstrip_protocol(self.root)
        self._generic_put = _uses_generic_put(fs)
        self.caps = Capabilities(
            appends=bool(_APPENDABLE.intersection(protocols)) and _settings.get(_settings.APPEND),
            lists=True,
            conditional_create=True,
            writes=True,
            local=False,
        )

    def full(self, rel: str) -> str:
        return str(self.fs.unstrip_protocol(self._abs(rel)))

    # ---- reading -------------------------------------------------------------------

    def exists(self, rel: str) -> bool:
        path = self._abs(rel)
        self.fs.invalidate_cache(path)
        return bool(self.fs.exists(path))

    def is_dir(self, rel: str) -> bool:
        path = self._abs(rel)
        self.fs.invalidate_cache(path)
        return bool(self.fs.isdir(path))

    def read_bytes(self, rel: str, *, limit: int | None = None) -> bytes:
        path = self._abs(rel)
        if limit is None:
            data: bytes = self.fs.cat_file(path)
            return data
        head: bytes = self.fs.cat_file(path, start=0, end=limit + 1)  # never more than the limit
        if len(head) > limit:
            raise too_large(self.full(rel), len(head), limit)
        return head

    def read_range(self, rel: str, start: int, length: int) -> bytes:
        data: bytes = self.fs.cat_file(self._abs(rel), start=start, end=start + length)
        return data

    def list_dir(self, rel: str) -> list[Entry]:
        path = self._abs(rel)
        self.fs.invalidate_cache(path)  # other writers change the store: never list from a cache
        try:
            infos = self.fs.ls(path, detail=True)
        except FileNotFoundError:
            return []
        prefix = path.rstrip("/") + "/"
        entries = []
        for info in infos:
            name = str(info["name"]).rstrip("/")
            if _is_link(info):  # filesystems with links (sftp, ...): never followed
                continue
            if name.startswith(prefix):  # some stores list the folder itself
                entries.append(Entry(name[len(prefix) :], info.get("type") == "directory"))
        entries.sort(key=lambda e: e.name)
        return entries

    def find(self, name: str, depth: int, only: Mapping[int, str] | None = None) -> Listing:
        # One recursive listing, which object stores answer in pages of a thousand keys
        # instead of a request per folder.
        prefix = self.root.rstrip("/") + "/"
        out = Listing()
        self.fs.invalidate_cache(self.root)
        try:
            infos = self.fs.find(self.root, detail=True)
        except FileNotFoundError:
            return out
        for path, info in infos.items():
            rel = str(path)[len(prefix) :] if str(path).startswith(prefix) else None
            if rel is None or rel.count("/") != depth or not rel.endswith("/" + name):
                continue
            if only and not entered(rel, only):
                continue
            out.add(rel, Stat(int(info.get("size") or 0), _version(info), _mtime(info)))
        return out

    def files_under(self, rel: str) -> dict[str, int]:
        path = self._abs(rel)
        out: dict[str, int] = {}
        self.fs.invalidate_cache(path)
        try:
            infos = self.fs.find(path, detail=True)
        except FileNotFoundError:
            return out
        prefix = path.rstrip("/") + "/"
        for name, info in infos.items():
            if str(name).startswith(prefix) and not _is_link(info):
                out[str(name)[len(prefix) :]] = int(info.get("size") or 0)
        return out

    def read_many(self, rels: list[str]) -> dict[str, bytes | Exception]:
        # Concurrently: fsspec's cat of many paths.
        out: dict[str, bytes | Exception] = {}
        paths = {self._abs(rel): rel for rel in rels}
        results = self.fs.cat(list(paths), on_error="return")
        if len(paths) == 1 and not isinstance(results, dict):  # fsspec returns bare content for one path
            results = {next(iter(paths)): results}
        for path, data in results.items():
            key = paths.get(path) or paths.get(self.fs._strip_protocol(path))  # noqa: SLF001
            if key is not None:
                out[key] = data
        return out

    def stat(self, rel: str) -> Stat:
        info = self.fs.info(self._abs(rel))
        return Stat(int(info.get("size") or 0), _version(info), _mtime(info))

    # ---- writing -------------------------------------------------------------------

    def makedirs(self, rel: str) -> None:
        self.fs.makedirs(self._abs(rel), exist_ok=True)

    def _ensure_parent(self, path: str) -> None:
        if self.caps.appends:  # memory-like stores keep folders; object stores have none
            self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)

    def write_atomic(self, rel: str, data: bytes, *, durable: bool = False) -> None:  # noqa: ARG002
        # A single PUT is already atomic.
        path = self._abs(rel)
        self._ensure_parent(path)
        self.fs.pipe_file(path, data)

    @contextlib.contextmanager
    def _only_if_absent(self, rel: str, what: str) -> Iterator[None]:
        """A lost conditional write (HTTP 412 on object stores) is FileExistsError."""
        try:
            with as_os_error(f"{what} {self._abs(rel)}"):
                yield
        except FileExistsError:
            raise
        except OSError as exc:
            if _is_precondition_failed(exc):
                raise FileExistsError(errno.EEXIST, "already exists", self.full(rel)) from exc
            raise

    def create_exclusive(self, rel: str, data: bytes) -> None:
        self._need_content(data)
        path = self._abs(rel)
        self._ensure_parent(path)
        with self._only_if_absent(rel, "create"), self.fs.open(path, "xb") as f:
            f.write(data)

    def append(self, rel: str, data: bytes, *, durable: bool = False) -> None:  # noqa: ARG002
        if not self.caps.appends:
            raise self._cannot_append()
        path = self._abs(rel)
        self._ensure_parent(path)
        with as_os_error(f"append {path}"), self.fs.open(path, "ab") as f:
            f.write(data)

    def put_file(self, local_path: str, rel: str) -> None:
        path = self._abs(rel)
        self._ensure_parent(path)
        self.fs.put_file(local_path, path)

    def put_file_exclusive(self, local_path: str, rel: str) -> None:
        # fsspec's put_file with mode="create": on S3 a conditional PUT, or for large files a
        # multipart upload (parts sent in parallel) whose completion is conditional.
        self._need_content(os.path.getsize(local_path))
        path = self._abs(rel)
        self._ensure_parent(path)
        options = {"chunksize": self.part_size} if self.part_size else {}
        # fsspec's own put_file checks, then writes: where a filesystem keeps it (memory://,
        # which lives in this process), one lock makes the check and the write one step.
        with self._only_if_absent(rel, "put"), _CREATE_LOCK if self._generic_put else contextlib.nullcontext():
            self.fs.put_file(local_path, path, mode="create", **options)

    def get_file(self, rel: str, local_path: str) -> None:
        self.fs.get_file(self._abs(rel), local_path)

    def remove(self, rel: str) -> None:
        try:
            self.fs.rm_file(self._abs(rel))
        except FileNotFoundError:
            pass
