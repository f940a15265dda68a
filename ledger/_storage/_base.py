"""The storage interface every backend implements, and what all of them share.

A :class:`Storage` is a ledger root. Every path given to it is relative to the root and
'/'-separated; it never accepts a path that leaves the root. What a backend can do is
declared in its :class:`Capabilities` (callers ask those, never which backend it is).
"""

from __future__ import annotations

import array
import contextlib
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from ledger._errors import InvalidNameError, RefusedFileError, StorageError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

T = TypeVar("T")

# OSErrors that retrying cannot fix: they describe the request, not a hiccup.
_PERMANENT = (
    FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError, RefusedFileError,
)  # fmt: skip


@dataclass(frozen=True)
class Entry:
    """One item of a directory listing."""

    name: str
    is_dir: bool


class Stat(NamedTuple):
    """What identifies a file's version cheaply: its size and mtime (or ETag); ``mtime`` in
    epoch seconds where the backend knows it. Hashable: a :class:`Listing` marks each entry
    by ``hash((path, stat))``."""

    size: int
    version: str
    mtime: float | None = None


class Listing(dict[str, Stat]):
    """What :meth:`Storage.find` returns: relative path -> :class:`Stat`; ``paths``, its keys
    as a list, and ``marks``, the ``hash((path, stat))`` of each entry, both in the dict's
    order and taken as each entry was made (then its objects are in the processor's cache:
    comparing two listings of 100,000 runs by these compact numbers touches none of the
    objects spread over memory). Not changed once made."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []
        self.marks = array.array("q")

    def add(self, path: str, st: Stat) -> None:
        self[path] = st
        self.paths.append(path)
        self.marks.append(hash((path, st)))


def entered(rel: str, only: Mapping[int, str]) -> bool:
    """Whether the file ``rel`` lies in the folder ``only`` names at each of its levels."""
    parts = rel.split("/")[:-1]
    return all(level < len(parts) and parts[level] == name for level, name in only.items())


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do.

    - ``appends``: a file can be appended to in place by its one writer (else streams are
      written as immutable segments);
    - ``lists``: folders can be listed (a published ledger over HTTP cannot: its
      ``index.json`` says what is there);
    - ``conditional_create``: create-if-absent is atomic (claims, run ids);
    - ``writes``: anything can be written at all;
    - ``local``: the files are on this machine's file system (``local_path`` gives paths, for
      git and tools that read paths).
    """

    appends: bool
    lists: bool
    conditional_create: bool
    writes: bool
    local: bool


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
def as_os_error(what: str) -> Iterator[None]:
    """Backends raise their own exceptions (botocore's EndpointConnectionError is not an
    OSError): callers only need to know that storage failed, so they all become StorageError."""
    try:
        yield
    except _PASS_THROUGH:
        raise
    except Exception as exc:
        msg = f"{what}: {type(exc).__name__}: {exc}"
        raise StorageError(msg) from exc


def too_large(where: str, size: int, limit: int) -> RefusedFileError:
    """The error for a file over a reader's size limit."""
    return RefusedFileError(f"{where}: {size} bytes, over the limit of {limit} bytes for this kind of file; not read")


def check_rel(rel: str) -> None:
    """The last guard: names are validated where they are made (the format), paths here."""
    if not rel or rel.startswith("/") or "\\" in rel or any(p in ("", ".", "..") for p in rel.split("/")):
        msg = f"path {rel!r} is not a plain relative path inside the ledger root"
        raise InvalidNameError(msg)


class Storage(ABC):
    """A ledger root on some backend. Paths are relative to the root, '/'-separated."""

    caps: Capabilities
    flush_interval_s: float  # how often a run's writer flushes by default on this backend
    root: str  # the backend's own path of the root
    url: str  # how to name the root to a person or to `ledger.open` again

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def _abs(self, rel: str) -> str:
        if rel == "":
            return self.root
        check_rel(rel)
        return f"{self.root.rstrip('/')}/{rel}"

    def full(self, rel: str) -> str:
        """The path or URL of ``rel``, for messages."""
        return self._abs(rel)

    def local_path(self, rel: str = "") -> str | None:  # noqa: ARG002 (backends with local files override it)
        """The local file system path of ``rel`` (None where ``caps.local`` is False)."""
        return None

    def preset_listing(self, files: Mapping[str, int]) -> None:  # noqa: B027 (a no-op for backends that list)
        """Be told the files under the root (relative path -> size), for backends that cannot
        list folders (``caps.lists`` False); the others list for themselves and ignore it."""

    # ---- reading -------------------------------------------------------------------

    @abstractmethod
    def exists(self, rel: str) -> bool:
        """Whether a file or folder exists at ``rel``."""

    @abstractmethod
    def is_dir(self, rel: str) -> bool:
        """Whether ``rel`` is a folder."""

    @abstractmethod
    def read_bytes(self, rel: str, *, limit: int | None = None) -> bytes:
        """The whole content of the file at ``rel`` (FileNotFoundError if absent). A file of
        more than ``limit`` bytes is a :class:`RefusedFileError`, and is not read whole."""

    @abstractmethod
    def read_range(self, rel: str, start: int, length: int) -> bytes:
        """At most ``length`` bytes of the file at ``rel`` from byte ``start`` (fewer at its end)."""

    def refused(self, rel: str = "") -> list[str]:  # noqa: ARG002 (backends without links have none)
        """Paths below the folder ``rel`` that readers skip and never follow: symlinks and
        special files (FIFOs, devices, sockets). Stores without such things have none."""
        return []

    @abstractmethod
    def list_dir(self, rel: str) -> list[Entry]:
        """The entries directly inside ``rel``, sorted by name; empty if it does not exist."""

    @abstractmethod
    def find(self, name: str, depth: int, only: Mapping[int, str] | None = None) -> Listing:
        """Every file called ``name`` exactly ``depth`` folders below the root, with its Stat,
        keyed by relative path (``find("run.yaml", 3, {1: "runs"})`` ->
        ``{"p/runs/<id>/run.yaml": ...}``); ``only`` names the one folder to enter at a level."""

    @abstractmethod
    def files_under(self, rel: str) -> dict[str, int]:
        """Every file below the folder ``rel`` (any depth): path relative to it -> size."""

    @abstractmethod
    def stat(self, rel: str) -> Stat:
        """Size and a version token (mtime, ETag or similar) of the file at ``rel``."""

    def read_many(self, rels: list[str]) -> dict[str, bytes | Exception]:
        """The content of many files at once; a file that cannot be read maps to its
        exception instead of failing the whole call."""
        out: dict[str, bytes | Exception] = {}
        for rel in rels:
            try:
                out[rel] = self.read_bytes(rel)
            except OSError as exc:
                out[rel] = exc
        return out

    # ---- writing -------------------------------------------------------------------

    def _read_only(self, what: str) -> StorageError:
        return StorageError(f"{what}: {self.url} is read-only")

    @abstractmethod
    def makedirs(self, rel: str) -> None:
        """Create the folder ``rel`` and its parents (a no-op on object stores)."""

    @abstractmethod
    def write_atomic(self, rel: str, data: bytes, *, durable: bool = False) -> None:
        """Replace the file at ``rel`` with ``data`` so that readers see old or new, never half;
        ``durable`` also syncs it to disk where that means something."""

    @abstractmethod
    def create_exclusive(self, rel: str, data: bytes) -> None:
        """Create ``rel`` with ``data`` only if it does not exist; else raise FileExistsError.
        ``data`` must not be empty (object stores do not protect an empty conditional PUT)."""

    @abstractmethod
    def append(self, rel: str, data: bytes, *, durable: bool = False) -> None:
        """Append ``data`` to ``rel`` (created if absent); only where ``caps.appends``."""

    @abstractmethod
    def put_file(self, local_path: str, rel: str) -> None:
        """Copy the local file ``local_path`` to ``rel``."""

    @abstractmethod
    def put_file_exclusive(self, local_path: str, rel: str) -> None:
        """Copy the local file ``local_path`` to ``rel`` only if ``rel`` does not exist, else
        raise FileExistsError; readers never see the file half-written. Large files stream
        (multipart uploads on object stores, whose completion is the conditional write). The
        file must not be empty (object stores do not protect an empty conditional write)."""

    @abstractmethod
    def get_file(self, rel: str, local_path: str) -> None:
        """Copy the file at ``rel`` to the local file ``local_path`` (made or replaced),
        streamed: it is never held in memory whole (ranged, parallel downloads where the
        backend has them). FileNotFoundError if ``rel`` is absent."""

    @abstractmethod
    def remove(self, rel: str) -> None:
        """Delete the file at ``rel`` (no error if it is already gone)."""

    @staticmethod
    def _need_content(data: bytes | int) -> None:
        if not data:
            msg = "create_exclusive needs content: an empty conditional write is not protected on object stores"
            raise ValueError(msg)

    def _cannot_append(self) -> NotImplementedError:
        return NotImplementedError(f"{self.url} cannot append in place; write segments instead")
