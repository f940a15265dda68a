"""A published ledger read over plain HTTP(S), with the standard library; read-only.

Web servers do not list folders, so what each folder holds comes from the publication's
``index.json``, handed over with :meth:`HttpStorage.preset_listing` (``caps.lists`` is
False: readers take the listing from the index instead of asking).
"""

from __future__ import annotations

import contextlib
import errno
import shutil
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

from ledger._errors import StorageError
from ledger._storage._base import Capabilities, Entry, Listing, Stat, Storage, check_rel, entered, too_large

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

_TIMEOUT_S = 60
_CHUNK = 1 << 20


@contextlib.contextmanager
def _answered(url: str) -> Iterator[None]:
    """HTTP errors as the storage interface reports them: 404 is FileNotFoundError."""
    try:
        yield
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise FileNotFoundError(errno.ENOENT, "not found", url) from exc
        msg = f"GET {url}: HTTP {exc.code} {exc.reason}"
        raise StorageError(msg) from exc
    except urllib.error.URLError as exc:
        msg = f"GET {url}: {exc.reason}"
        raise StorageError(msg) from exc


class HttpStorage(Storage):
    """``http(s)://host/path/`` of a folder made by ``ledger publish``."""

    flush_interval_s = 10.0
    caps = Capabilities(appends=False, lists=False, conditional_create=False, writes=False, local=False)

    def __init__(self, url: str) -> None:
        self.root = self.url = url.rstrip("/")
        self._listing: dict[str, dict[str, tuple[bool, int]]] = {}  # folder -> name -> (is_dir, size)

    def preset_listing(self, files: Mapping[str, int]) -> None:
        """The files under the root (relative path -> size), from the publication's index.json."""
        listing: dict[str, dict[str, tuple[bool, int]]] = {}
        for rel, size in files.items():
            check_rel(rel)
            parts = rel.split("/")
            for depth in range(len(parts)):
                folder = "/".join(parts[:depth])
                is_dir = depth < len(parts) - 1
                listing.setdefault(folder, {})[parts[depth]] = (is_dir, 0 if is_dir else int(size))
        self._listing = listing

    def _split(self, rel: str) -> tuple[str, str]:
        if rel:
            check_rel(rel)
        parent, _, name = rel.rpartition("/")
        return parent, name

    # ---- reading -------------------------------------------------------------------

    def read_bytes(self, rel: str, *, limit: int | None = None) -> bytes:
        return self._get(rel, None, limit)

    def read_range(self, rel: str, start: int, length: int) -> bytes:
        return self._get(rel, (start, start + length - 1), None)[:length]

    def _get(self, rel: str, byte_range: tuple[int, int] | None, limit: int | None) -> bytes:
        url = self._abs(rel)
        opener = urllib.request.build_opener()
        request = urllib.request.Request(url)  # noqa: S310 (http(s) only: open_storage picks this backend for them)
        if byte_range is not None:
            request.add_header("Range", f"bytes={byte_range[0]}-{byte_range[1]}")
        with _answered(url), opener.open(request, timeout=_TIMEOUT_S) as resp:
            data: bytes = resp.read() if limit is None else resp.read(limit + 1)
            if limit is not None and len(data) > limit:
                raise too_large(url, len(data), limit)
            if byte_range is not None and resp.status == 200:  # a server that ignores Range
                data = data[byte_range[0] : byte_range[1] + 1]
            return data

    def get_file(self, rel: str, local_path: str) -> None:
        url = self._abs(rel)
        request = urllib.request.Request(url)  # noqa: S310 (http(s) only, as in _get)
        opener = urllib.request.build_opener()
        with _answered(url), opener.open(request, timeout=_TIMEOUT_S) as resp, open(local_path, "wb") as out:
            shutil.copyfileobj(resp, out, _CHUNK)

    def exists(self, rel: str) -> bool:
        if rel == "":
            return True
        parent, name = self._split(rel)
        if parent in self._listing:
            return name in self._listing[parent]
        try:
            self.read_bytes(rel)
        except FileNotFoundError:
            return False
        return True

    def is_dir(self, rel: str) -> bool:
        if rel == "":
            return True
        parent, name = self._split(rel)
        return self._listing.get(parent, {}).get(name, (False, 0))[0]

    def list_dir(self, rel: str) -> list[Entry]:
        return [Entry(name, is_dir) for name, (is_dir, _size) in sorted(self._listing.get(rel, {}).items())]

    def find(self, name: str, depth: int, only: Mapping[int, str] | None = None) -> Listing:
        out = Listing()
        for folder, entries in self._listing.items():
            if folder.count("/") + 1 == depth and name in entries and not entries[name][0]:
                path = f"{folder}/{name}"
                if not only or entered(path, only):
                    out.add(path, Stat(entries[name][1], ""))
        return out

    def files_under(self, rel: str) -> dict[str, int]:
        prefix = f"{rel}/" if rel else ""
        out: dict[str, int] = {}
        for folder, entries in self._listing.items():
            inside = f"{folder}/" if folder else ""
            if not inside.startswith(prefix):
                continue
            for name, (is_dir, size) in entries.items():
                if not is_dir:
                    out[f"{inside}{name}"[len(prefix) :]] = size
        return out

    def stat(self, rel: str) -> Stat:
        parent, name = self._split(rel)
        _is_dir, size = self._listing.get(parent, {}).get(name, (False, 0))
        return Stat(size, "")

    # ---- writing: refused ----------------------------------------------------------

    def makedirs(self, rel: str) -> None:
        raise self._read_only(f"makedirs {rel}")

    def write_atomic(self, rel: str, data: bytes, *, durable: bool = False) -> None:  # noqa: ARG002
        raise self._read_only(f"write {rel}")

    def create_exclusive(self, rel: str, data: bytes) -> None:  # noqa: ARG002
        raise self._read_only(f"create {rel}")

    def append(self, rel: str, data: bytes, *, durable: bool = False) -> None:  # noqa: ARG002
        raise self._read_only(f"append {rel}")

    def put_file(self, local_path: str, rel: str) -> None:  # noqa: ARG002
        raise self._read_only(f"put {rel}")

    def put_file_exclusive(self, local_path: str, rel: str) -> None:  # noqa: ARG002
        raise self._read_only(f"put {rel}")

    def remove(self, rel: str) -> None:
        raise self._read_only(f"remove {rel}")
