"""A ledger root in a local folder, through ``os``: atomic replace, O_APPEND, link-into-place
exclusive create, fsync."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil

from ledger import _settings
from ledger._storage._base import Capabilities, Entry, Stat, Storage


class LocalStorage(Storage):
    """A folder on this machine's file system."""

    flush_interval_s = 1.0

    def __init__(self, path: str) -> None:
        self.root = path.rstrip("/") if path not in ("", "/") else path
        self.url = self.root
        # $LEDGER_APPEND=0 forces segments, for mounts that fake appends by rewriting whole
        # objects (gcsfuse, s3fs-fuse): there, segments are the only safe way.
        self.caps = Capabilities(
            appends=_settings.get(_settings.APPEND), lists=True, conditional_create=True, writes=True, local=True
        )

    def local_path(self, rel: str = "") -> str | None:
        return self._abs(rel)

    # ---- reading -------------------------------------------------------------------

    def exists(self, rel: str) -> bool:
        return os.path.exists(self._abs(rel))

    def is_dir(self, rel: str) -> bool:
        return os.path.isdir(self._abs(rel))

    def read_bytes(self, rel: str) -> bytes:
        with open(self._abs(rel), "rb") as f:
            return f.read()

    def list_dir(self, rel: str) -> list[Entry]:
        try:
            with os.scandir(self._abs(rel)) as it:
                entries = [Entry(e.name, e.is_dir()) for e in it]
        except (FileNotFoundError, NotADirectoryError):
            return []
        entries.sort(key=lambda e: e.name)
        return entries

    def find(self, name: str, depth: int) -> dict[str, Stat]:
        # A bounded scandir walk: only the folders at each depth, hidden ones skipped.
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
            out[f"{rel}{name}"] = Stat(st.st_size, str(st.st_mtime_ns), st.st_mtime)
        return out

    def files_under(self, rel: str) -> dict[str, int]:
        path = self._abs(rel)
        out: dict[str, int] = {}
        for dirpath, _dirs, names in os.walk(path):
            for name in names:
                full = os.path.join(dirpath, name)
                out[os.path.relpath(full, path).replace(os.sep, "/")] = os.path.getsize(full)
        return out

    def stat(self, rel: str) -> Stat:
        st = os.stat(self._abs(rel))
        return Stat(st.st_size, str(st.st_mtime_ns), st.st_mtime)

    # ---- writing -------------------------------------------------------------------

    def makedirs(self, rel: str) -> None:
        os.makedirs(self._abs(rel), exist_ok=True)

    @staticmethod
    def _ensure_parent(path: str) -> None:
        os.makedirs(path.rsplit("/", 1)[0], exist_ok=True)

    @staticmethod
    def _written_beside(path: str, data: bytes, *, durable: bool) -> str:
        """``data`` written whole to a new temporary file beside ``path``; its name."""
        tmp = f"{path}.tmp-{os.getpid()}-{secrets.token_hex(3)}"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                if durable:
                    f.flush()
                    os.fsync(f.fileno())
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return tmp

    def write_atomic(self, rel: str, data: bytes, *, durable: bool = False) -> None:
        # A temporary file beside it, then os.replace.
        path = self._abs(rel)
        self._ensure_parent(path)
        tmp = self._written_beside(path, data, durable=durable)
        try:
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def create_exclusive(self, rel: str, data: bytes) -> None:
        self._need_content(data)
        path = self._abs(rel)
        self._ensure_parent(path)
        # Write it whole under a temporary name, then link it into place: the link fails if
        # the name exists, and a reader never sees the file empty or half-written.
        tmp = self._written_beside(path, data, durable=False)
        try:
            os.link(tmp, path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def append(self, rel: str, data: bytes, *, durable: bool = False) -> None:
        # An append that fails part-way is cut back to the old length, so a failed write
        # never leaves half a record in the middle of the file.
        if not self.caps.appends:
            raise self._cannot_append()
        path = self._abs(rel)
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
        path = self._abs(rel)
        self._ensure_parent(path)
        shutil.copyfile(local_path, path)

    def remove(self, rel: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._abs(rel))
