"""The one module that talks to storage.

A :class:`Storage` is a ledger root on any fsspec filesystem. Every path passed to it is
relative to the root and '/'-separated; it never accepts a path that leaves the root.
Local folders take a fast path through ``os`` (atomic replace, O_APPEND, O_EXCL, fsync);
everything else goes through fsspec, which is imported only when a Storage is made.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ledger._errors import InvalidNameError, StorageError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

T = TypeVar("T")

# Protocols whose files can be appended to in place. Object stores (s3, gcs, az, ...)
# re-upload a whole object for "ab" and two writers lose data, so they get segments.
_APPENDABLE = frozenset({"file", "local", "memory"})

# OSErrors that retrying cannot fix: they describe the request, not a hiccup.
_PERMANENT = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError)


@dataclass(frozen=True)
class Entry:
    """One item of a directory listing."""

    name: str
    is_dir: bool


@dataclass(frozen=True)
class Stat:
    """What identifies a file's version cheaply: its size and mtime (or ETag)."""

    size: int
    version: str


def retrying(
    op: Callable[[], T],
    *,
    attempts: int = 4,
    first_delay: float = 0.05,
    on_error: Callable[[OSError], None] | None = None,
) -> T:
    """Call ``op``, retrying transient OSErrors with exponential backoff.

    Errors that describe the request itself (missing file, already exists, permission)
    are raised at once; the last transient error is raised when attempts run out.
    ``on_error(exc)`` hears of every failure as it happens (on remote stores one attempt
    can take many seconds, so callers report before giving up).
    """
    delay = first_delay
    for attempt in range(attempts):
        try:
            return op()
        except OSError as exc:
            if on_error is not None:
                on_error(exc)
            if isinstance(exc, _PERMANENT) or attempt == attempts - 1:
                raise
            time.sleep(delay)
            delay *= 4
    raise AssertionError("unreachable")  # pragma: no cover


_PASS_THROUGH = (OSError, ValueError, TypeError, NotImplementedError)


@contextlib.contextmanager
def _as_os_error(what: str) -> Iterator[None]:
    """Backends raise their own exceptions (botocore's EndpointConnectionError is not an
    OSError): callers only need to know that storage failed, so they all become StorageError."""
    try:
        yield
    except _PASS_THROUGH:
        raise
    except Exception as exc:
        msg = f"{what}: {type(exc).__name__}: {exc}"
        raise StorageError(msg) from exc


class _Translating:
    """A filesystem whose method calls raise OSError subclasses only (see _as_os_error)."""

    def __init__(self, fs: Any) -> None:
        self._fs = fs

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._fs, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with _as_os_error(f"{name} {args[0] if args else ''}".strip()):
                return attr(*args, **kwargs)

        return call


def _check_rel(rel: str) -> None:
    # Names are validated where they are made (format module); this is the last guard.
    if not rel or rel.startswith("/") or "\\" in rel or any(p in ("", ".", "..") for p in rel.split("/")):
        msg = f"path {rel!r} is not a plain relative path inside the ledger root"
        raise InvalidNameError(msg)


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


class _HttpFS:
    """Read-only access to a published ledger over plain HTTP(S), with the standard library.

    Web servers do not list folders, so what each folder holds comes from the publication's
    index.json, handed over with :meth:`Storage.preset_listing`.
    """

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        self.listing: dict[str, dict[str, tuple[bool, int]]] = {}  # folder URL -> name -> (is_dir, size)

    def unstrip_protocol(self, path: str) -> str:
        return path

    def _strip_protocol(self, path: str) -> str:
        return path

    def invalidate_cache(self, _path: str | None = None) -> None:
        return None

    def cat_file(self, path: str) -> bytes:
        import urllib.error  # noqa: PLC0415
        import urllib.request  # noqa: PLC0415

        try:
            with urllib.request.urlopen(path, timeout=60) as resp:  # noqa: S310 (the ledger's own http(s) URL)
                data: bytes = resp.read()
                return data
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise FileNotFoundError(errno.ENOENT, "not found", path) from exc
            raise StorageError(f"GET {path}: HTTP {exc.code} {exc.reason}") from exc
        except urllib.error.URLError as exc:
            raise StorageError(f"GET {path}: {exc.reason}") from exc

    def cat(self, paths: list[str], on_error: str = "raise") -> dict[str, bytes | Exception]:
        out: dict[str, bytes | Exception] = {}
        for path in paths:
            try:
                out[path] = self.cat_file(path)
            except OSError as exc:
                if on_error != "return":
                    raise
                out[path] = exc
        return out

    def ls(self, path: str, detail: bool = True) -> list[dict[str, Any]]:  # noqa: ARG002
        folder = path.rstrip("/")
        if folder not in self.listing:
            raise FileNotFoundError(errno.ENOENT, "not in the publication's index.json", folder)
        return [
            {"name": f"{folder}/{name}", "type": "directory" if is_dir else "file", "size": size}
            for name, (is_dir, size) in self.listing[folder].items()
        ]

    def exists(self, path: str) -> bool:
        parent, _, name = path.rstrip("/").rpartition("/")
        if parent in self.listing:
            return name in self.listing[parent]
        try:
            self.cat_file(path)
        except FileNotFoundError:
            return False
        return True

    def find(self, path: str, detail: bool = True) -> dict[str, dict[str, Any]]:  # noqa: ARG002
        prefix = path.rstrip("/") + "/"
        return {
            f"{folder}/{name}": {"name": f"{folder}/{name}", "type": "file", "size": size}
            for folder, entries in self.listing.items()
            if f"{folder}/".startswith(prefix)
            for name, (is_dir, size) in entries.items()
            if not is_dir
        }

    def info(self, path: str) -> dict[str, Any]:
        parent, _, name = path.rstrip("/").rpartition("/")
        is_dir, size = self.listing.get(parent, {}).get(name, (False, 0))
        return {"name": path, "size": size, "type": "directory" if is_dir else "file"}

    def __getattr__(self, name: str) -> Any:  # every writing method
        def refuse(*_args: Any, **_kwargs: Any) -> Any:
            msg = f"{name}: a ledger published over {self.protocol}:// is read-only"
            raise StorageError(msg)

        return refuse


class Storage:
    """A ledger root: a local folder or any fsspec URL (``memory://x``, ``s3://bucket/x``), or
    a published ledger over ``https://`` (read-only)."""

    fs: Any  # the fsspec filesystem (remote stores), or _HttpFS; local folders use os directly
    protocol: str
    is_local: bool
    can_append: bool
    root: str
    url: str

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None) -> None:
        url = str(url)
        if url.startswith(("http://", "https://")):
            self.fs = _HttpFS(url.split(":", 1)[0])
            self.protocol = self.fs.protocol
            self.is_local = False
            self.can_append = False
            self.root = self.url = url.rstrip("/")
            return
        import fsspec.core  # noqa: PLC0415  (kept out of `import ledger`)
        from fsspec.implementations.local import LocalFileSystem  # noqa: PLC0415

        fs, path = fsspec.core.url_to_fs(str(url), **dict(storage_options or {}))
        self.fs = fs if isinstance(fs, LocalFileSystem) else _Translating(fs)
        protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
        self.protocol = protocols[0]
        self.is_local = isinstance(fs, LocalFileSystem)
        # LEDGER_APPEND=0 forces segments, for mounts that fake appends by rewriting whole
        # objects (gcsfuse, s3fs-fuse): there, segments are the only safe way.
        self.can_append = (self.is_local or bool(_APPENDABLE.intersection(protocols))) and os.environ.get(
            "LEDGER_APPEND", "1"
        ) != "0"
        self.root = path.rstrip("/") if path not in ("", "/") else path
        self.url = self.root if self.is_local else fs.unstrip_protocol(self.root)

    def __repr__(self) -> str:
        return f"Storage({self.url!r})"

    @property
    def is_http(self) -> bool:
        """Whether this is a published ledger read over http(s) (no listing, no writes)."""
        return isinstance(self.fs, _HttpFS)

    def preset_listing(self, files: Mapping[str, int]) -> None:
        """For http(s) roots: the files under the root (relative path -> size), from index.json."""
        if not isinstance(self.fs, _HttpFS):
            msg = "preset_listing is only for http(s) roots"
            raise TypeError(msg)
        listing: dict[str, dict[str, tuple[bool, int]]] = {}
        for rel, size in files.items():
            _check_rel(rel)
            parts = rel.split("/")
            for depth in range(len(parts)):
                folder = "/".join([self.root, *parts[:depth]])
                is_dir = depth < len(parts) - 1
                listing.setdefault(folder, {})[parts[depth]] = (is_dir, 0 if is_dir else int(size))
        self.fs.listing = listing

    def full(self, rel: str) -> str:
        """The filesystem path (or URL for remote stores) of ``rel``, for messages."""
        return self._abs(rel) if self.is_local else self.fs.unstrip_protocol(self._abs(rel))

    def _abs(self, rel: str) -> str:
        if rel == "":
            return self.root
        _check_rel(rel)
        return f"{self.root.rstrip('/')}/{rel}"

    # ---- reading -------------------------------------------------------------------

    def exists(self, rel: str) -> bool:
        """Whether a file or folder exists at ``rel``."""
        path = self._abs(rel)
        if self.is_local:
            return os.path.exists(path)
        self.fs.invalidate_cache(path)
        return bool(self.fs.exists(path))

    def read_bytes(self, rel: str) -> bytes:
        """The whole content of the file at ``rel`` (FileNotFoundError if absent)."""
        path = self._abs(rel)
        if self.is_local:
            with open(path, "rb") as f:
                return f.read()
        data: bytes = self.fs.cat_file(path)
        return data

    def list_dir(self, rel: str) -> list[Entry]:
        """The entries directly inside ``rel``, sorted by name; empty if it does not exist."""
        path = self._abs(rel)
        if self.is_local:
            try:
                with os.scandir(path) as it:
                    entries = [Entry(e.name, e.is_dir()) for e in it]
            except (FileNotFoundError, NotADirectoryError):
                return []
        else:
            self.fs.invalidate_cache(path)  # other writers change the store: never list from a cache
            try:
                infos = self.fs.ls(path, detail=True)
            except FileNotFoundError:
                return []
            prefix = path.rstrip("/") + "/"
            entries = []
            for info in infos:
                name = str(info["name"]).rstrip("/")
                if not name.startswith(prefix):  # some stores list the folder itself
                    continue
                entries.append(Entry(name[len(prefix) :], info.get("type") == "directory"))
        entries.sort(key=lambda e: e.name)
        return entries

    def find(self, name: str, depth: int) -> dict[str, Stat]:
        """Every file called ``name`` exactly ``depth`` folders below the root, with its Stat,
        keyed by relative path (``find("run.yaml", 3)`` -> ``{"p/runs/<id>/run.yaml": ...}``).

        Locally a bounded scandir walk; on remote stores one recursive listing, which object
        stores answer in pages of a thousand keys instead of a request per folder.
        """
        if self.is_local:
            return self._find_local(name, depth)
        prefix = self.root.rstrip("/") + "/"
        out: dict[str, Stat] = {}
        self.fs.invalidate_cache(self.root)
        try:
            infos = self.fs.find(self.root, detail=True)
        except FileNotFoundError:
            return out
        for path, info in infos.items():
            rel = str(path)[len(prefix) :] if str(path).startswith(prefix) else None
            if rel is None or rel.count("/") != depth or not rel.endswith("/" + name):
                continue
            version = info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified")
            out[rel] = Stat(
                int(info.get("size") or 0), str(version if version is not None else info.get("created", ""))
            )
        return out

    def _find_local(self, name: str, depth: int) -> dict[str, Stat]:
        out: dict[str, Stat] = {}
        folders = [("", self.root)]
        for _level in range(depth):
            deeper = []
            for rel, path in folders:
                try:
                    with os.scandir(path) as it:
                        deeper += [(f"{rel}{e.name}/", e.path) for e in it if e.is_dir() and not e.name.startswith(".")]
                except (FileNotFoundError, NotADirectoryError):
                    continue
            folders = deeper
        for rel, path in folders:
            try:
                st = os.stat(f"{path}/{name}")
            except (FileNotFoundError, NotADirectoryError):
                continue
            out[f"{rel}{name}"] = Stat(st.st_size, str(st.st_mtime_ns))
        return out

    def files_under(self, rel: str) -> dict[str, int]:
        """Every file below the folder ``rel`` (any depth): path relative to it -> size."""
        path = self._abs(rel)
        out: dict[str, int] = {}
        if self.is_local:
            for dirpath, _dirs, names in os.walk(path):
                for name in names:
                    full = os.path.join(dirpath, name)
                    out[os.path.relpath(full, path).replace(os.sep, "/")] = os.path.getsize(full)
            return out
        self.fs.invalidate_cache(path)
        try:
            infos = self.fs.find(path, detail=True)
        except FileNotFoundError:
            return out
        prefix = path.rstrip("/") + "/"
        for name, info in infos.items():
            if str(name).startswith(prefix):
                out[str(name)[len(prefix) :]] = int(info.get("size") or 0)
        return out

    def read_many(self, rels: list[str]) -> dict[str, bytes | Exception]:
        """The content of many files at once (concurrently on remote stores); a file that
        cannot be read maps to its exception instead of failing the whole call."""
        out: dict[str, bytes | Exception] = {}
        if self.is_local:
            for rel in rels:
                try:
                    out[rel] = self.read_bytes(rel)
                except OSError as exc:
                    out[rel] = exc
            return out
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
        """Size and a version token (mtime, ETag or similar) of the file at ``rel``."""
        path = self._abs(rel)
        if self.is_local:
            st = os.stat(path)
            return Stat(st.st_size, str(st.st_mtime_ns))
        info = self.fs.info(path)
        version = info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified")
        if version is None:
            version = info.get("created", "")
        return Stat(int(info.get("size") or 0), str(version))

    # ---- writing -------------------------------------------------------------------

    def makedirs(self, rel: str) -> None:
        """Create the folder ``rel`` and its parents (a no-op on object stores)."""
        path = self._abs(rel)
        if self.is_local:
            os.makedirs(path, exist_ok=True)
        else:
            self.fs.makedirs(path, exist_ok=True)

    def _ensure_parent(self, path: str) -> None:
        parent = path.rsplit("/", 1)[0]
        if self.is_local:
            os.makedirs(parent, exist_ok=True)
        elif self.can_append:  # memory-like stores keep folders; object stores have none
            self.fs.makedirs(parent, exist_ok=True)

    def write_atomic(self, rel: str, data: bytes, *, durable: bool = False) -> None:
        """Replace the file at ``rel`` with ``data`` so that readers see old or new, never half.

        Locally: write a temporary file beside it, then ``os.replace``; ``durable`` fsyncs
        first. Object stores: a single PUT is already atomic.
        """
        path = self._abs(rel)
        self._ensure_parent(path)
        if not self.is_local:
            self.fs.pipe_file(path, data)
            return
        tmp = f"{path}.tmp-{os.getpid()}-{secrets.token_hex(3)}"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                if durable:
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def create_exclusive(self, rel: str, data: bytes) -> None:
        """Create ``rel`` with ``data`` only if it does not exist; else raise FileExistsError.

        ``data`` must not be empty: object stores do not protect an empty conditional PUT.
        """
        if not data:
            msg = "create_exclusive needs content: an empty conditional write is not protected on object stores"
            raise ValueError(msg)
        path = self._abs(rel)
        self._ensure_parent(path)
        if self.is_local:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            return
        try:
            with _as_os_error(f"create {path}"), self.fs.open(path, "xb") as f:
                f.write(data)
        except FileExistsError:
            raise
        except OSError as exc:
            if _is_precondition_failed(exc):
                raise FileExistsError(errno.EEXIST, "already exists", self.full(rel)) from exc
            raise

    def append(self, rel: str, data: bytes, *, durable: bool = False) -> None:
        """Append ``data`` to ``rel`` (created if absent). Only where ``can_append``.

        A local append that fails part-way is cut back to the old length, so a failed
        write never leaves half a record in the middle of the file.
        """
        path = self._abs(rel)
        if not self.can_append:
            msg = f"{self.protocol}:// cannot append in place; write segments instead"
            raise NotImplementedError(msg)
        if not self.is_local:
            self._ensure_parent(path)
            with _as_os_error(f"append {path}"), self.fs.open(path, "ab") as f:
                f.write(data)
            return
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        try:
            fd = os.open(path, flags, 0o666)
        except FileNotFoundError:
            self._ensure_parent(path)
            fd = os.open(path, flags, 0o666)
        try:
            start = os.lseek(fd, 0, os.SEEK_END)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if durable:
                    os.fsync(fd)
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)
                raise
        finally:
            os.close(fd)

    def put_file(self, local_path: str, rel: str) -> None:
        """Copy the local file ``local_path`` to ``rel``."""
        path = self._abs(rel)
        self._ensure_parent(path)
        if self.is_local:
            shutil.copyfile(local_path, path)
        else:
            self.fs.put_file(local_path, path)

    def remove(self, rel: str) -> None:
        """Delete the file at ``rel`` (no error if it is already gone)."""
        path = self._abs(rel)
        with contextlib.suppress(FileNotFoundError):
            if self.is_local:
                os.unlink(path)
            else:
                self.fs.rm_file(path)
