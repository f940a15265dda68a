"""A ledger root in a local folder, through ``os``: atomic replace, O_APPEND, link-into-place
exclusive create, fsync.

A ledger may come from someone else, so nothing below the root is trusted to be what it
seems: every path is checked component by component with ``lstat`` and the file itself is
opened with ``O_NOFOLLOW``, so a symlink (to ``/proc/self/environ``, to ``../../.env``, to a
folder outside) is never followed, for reading or writing. Listings and walks leave out
symlinks and special files (FIFOs, devices), so they cannot loop or block; :meth:`refused`
names them. The root itself is the caller's choice and may be reached through a link.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from typing import TYPE_CHECKING

from ledger import _settings
from ledger._errors import RefusedFileError
from ledger._storage._base import Capabilities, Entry, Listing, Stat, Storage, too_large

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO must not block the open
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_READ = os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC | _BINARY
_CHUNK = 1 << 20


def _refused(path: str, what: str) -> RefusedFileError:
    return RefusedFileError(errno.EPERM, f"{what}: not followed (a ledger never reads through one)", path)


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

    # ---- the guard -----------------------------------------------------------------

    def _checked(self, rel: str, *, create_parents: bool = False) -> str:
        """The path of ``rel`` after checking that no folder on the way below the root is a
        symlink (or not a folder); the last component is the caller's to open safely."""
        path = self._abs(rel)
        if rel == "":
            return path
        current = self.root
        for part in rel.split("/")[:-1]:
            current = f"{current}/{part}" if current != "/" else f"/{part}"
            try:
                st = os.lstat(current)
            except FileNotFoundError:
                if not create_parents:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(current)
                st = os.lstat(current)
            if stat.S_ISLNK(st.st_mode):
                raise _refused(current, "a symlink")
            if not stat.S_ISDIR(st.st_mode):
                raise NotADirectoryError(errno.ENOTDIR, "not a folder", current)
        return path

    def _lstat(self, rel: str) -> os.stat_result:
        return os.lstat(self._checked(rel))

    def _open_read(self, rel: str) -> tuple[int, os.stat_result]:
        """An fd of the regular file at ``rel``, opened without following a link, and its stat."""
        path = self._checked(rel)
        try:
            fd = os.open(path, _READ)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EMLINK) or (_NOFOLLOW == 0 and os.path.islink(path)):
                raise _refused(path, "a symlink") from None
            raise
        try:
            st = _regular(fd, path)
        except BaseException:
            os.close(fd)
            raise
        return fd, st

    # ---- reading -------------------------------------------------------------------

    def exists(self, rel: str) -> bool:
        try:
            st = self._lstat(rel)
        except (OSError, ValueError):
            return False
        return stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)

    def is_dir(self, rel: str) -> bool:
        try:
            return stat.S_ISDIR(self._lstat(rel).st_mode)
        except (OSError, ValueError):
            return False

    def read_bytes(self, rel: str, *, limit: int | None = None) -> bytes:
        fd, st = self._open_read(rel)
        try:
            if limit is not None and st.st_size > limit:
                raise too_large(self._abs(rel), st.st_size, limit)
            parts = []
            total = 0
            cap = (limit + 1) if limit is not None else None
            while True:
                chunk = os.read(fd, max(st.st_size - total, _CHUNK) if cap is None else min(_CHUNK, cap - total))
                if not chunk:
                    break
                parts.append(chunk)
                total += len(chunk)
                if cap is not None and total >= cap:  # it grew past the limit while being read
                    raise too_large(self._abs(rel), total, limit or 0)
            return b"".join(parts)
        finally:
            os.close(fd)

    def read_range(self, rel: str, start: int, length: int) -> bytes:
        fd, _st = self._open_read(rel)
        try:
            return os.pread(fd, length, start) if hasattr(os, "pread") else _seek_read(fd, start, length)
        finally:
            os.close(fd)

    def list_dir(self, rel: str) -> list[Entry]:
        try:
            path = self._checked(rel) if rel else self.root
            if rel and stat.S_ISLNK(os.lstat(path).st_mode):
                return []
            with os.scandir(path) as it:
                entries = [Entry(e.name, e.is_dir(follow_symlinks=False)) for e in it if _plain(e)]
        except (FileNotFoundError, NotADirectoryError, RefusedFileError):
            return []
        entries.sort(key=lambda e: e.name)
        return entries

    def find(self, name: str, depth: int, only: Mapping[int, str] | None = None) -> Listing:
        # A bounded scandir walk: only the folders at each depth, hidden ones and links skipped.
        out = Listing()
        paths, marks = out.paths, out.marks
        folders = [("", self.root)]
        for level in range(depth):
            want = only.get(level) if only else None
            deeper = []
            for rel, path in folders:
                try:
                    with os.scandir(path) as it:
                        deeper += [
                            (f"{rel}{e.name}/", e.path)
                            for e in it
                            if (want is None or e.name == want)
                            and e.is_dir(follow_symlinks=False)
                            and not e.name.startswith(".")
                        ]
                except (FileNotFoundError, NotADirectoryError, PermissionError):
                    continue
            folders = deeper
        for rel, path in folders:
            try:
                st = os.lstat(f"{path}/{name}")
            except (FileNotFoundError, NotADirectoryError):
                continue
            if stat.S_ISREG(st.st_mode):  # a symlinked manifest is not a run (verify names it)
                key, found = f"{rel}{name}", Stat(st.st_size, str(st.st_mtime_ns), st.st_mtime)
                out[key] = found  # Listing.add, inline: this loop runs 100,000 times
                paths.append(key)
                marks.append(hash((key, found)))
        return out

    def _walk(self, rel: str) -> tuple[dict[str, int], list[str]]:
        """(regular files below ``rel`` -> size, refused entries), never following a link."""
        files: dict[str, int] = {}
        refused: list[str] = []
        try:
            base = self._checked(rel) if rel else self.root
            if rel:
                st = os.lstat(base)
                if stat.S_ISLNK(st.st_mode):
                    return files, [rel]
        except FileNotFoundError:
            return files, refused
        except RefusedFileError:
            return files, [rel]
        pending = [""]
        while pending:
            sub = pending.pop()
            try:
                with os.scandir(f"{base}/{sub}" if sub else base) as it:
                    entries = list(it)
            except (FileNotFoundError, NotADirectoryError, PermissionError):
                continue
            for e in entries:
                inner = f"{sub}/{e.name}" if sub else e.name
                if e.is_dir(follow_symlinks=False):
                    pending.append(inner)
                elif e.is_file(follow_symlinks=False):
                    files[inner] = e.stat(follow_symlinks=False).st_size
                else:
                    refused.append(f"{rel}/{inner}" if rel else inner)
        return files, sorted(refused)

    def files_under(self, rel: str) -> dict[str, int]:
        return self._walk(rel)[0]

    def refused(self, rel: str = "") -> list[str]:
        return self._walk(rel)[1]

    def stat(self, rel: str) -> Stat:
        path = self._checked(rel)
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            raise _refused(path, "a symlink")
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder", path)
        if not stat.S_ISREG(st.st_mode):
            raise _refused(path, "not a regular file (a FIFO, device or socket)")
        return Stat(st.st_size, str(st.st_mtime_ns), st.st_mtime)

    # ---- writing -------------------------------------------------------------------

    def makedirs(self, rel: str) -> None:
        if rel == "":
            os.makedirs(self.root, exist_ok=True)
            return
        os.makedirs(self.root, exist_ok=True)
        path = self._checked(f"{rel}/_", create_parents=True)  # every folder of rel, checked
        del path

    def _parent(self, rel: str) -> str:
        """The checked path of ``rel``, its folders made (never through a link)."""
        if not os.path.isdir(self.root):
            os.makedirs(self.root, exist_ok=True)
        return self._checked(rel, create_parents=True)

    @staticmethod
    def _written_beside(path: str, data: bytes, *, durable: bool) -> str:
        """``data`` written whole to a new temporary file beside ``path``; its name."""

        def fill(fd: int) -> None:
            _write_all(fd, data)
            if durable:
                os.fsync(fd)

        return _beside(path, fill)

    def write_atomic(self, rel: str, data: bytes, *, durable: bool = False) -> None:
        # A temporary file beside it, then os.replace (which replaces a link, never its target).
        path = self._parent(rel)
        tmp = self._written_beside(path, data, durable=durable)
        try:
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def create_exclusive(self, rel: str, data: bytes) -> None:
        self._need_content(data)
        path = self._parent(rel)
        # Write it whole under a temporary name, then link it into place: the link fails if
        # the name exists (a symlink too), and a reader never sees the file empty or half-written.
        tmp = self._written_beside(path, data, durable=False)
        try:
            os.link(tmp, path, follow_symlinks=False)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def append(self, rel: str, data: bytes, *, durable: bool = False) -> None:
        # An append that fails part-way is cut back to the old length, so a failed write
        # never leaves half a record in the middle of the file.
        if not self.caps.appends:
            raise self._cannot_append()
        path = self._parent(rel)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | _NOFOLLOW | _NONBLOCK | _CLOEXEC | _BINARY
        try:
            fd = os.open(path, flags, 0o666)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EMLINK):
                raise _refused(path, "a symlink") from None
            raise
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise _refused(path, "not a regular file (a FIFO, device or socket)")
            start = os.lseek(fd, 0, os.SEEK_END)
            try:
                _write_all(fd, data)
                if durable:
                    os.fsync(fd)
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)
                raise
        finally:
            os.close(fd)

    def put_file(self, local_path: str, rel: str) -> None:
        # The source is opened without following a link either (an import source is someone
        # else's folder); callers that mean the target of their own link resolve it first.
        src = self._open_source(local_path)
        try:
            path = self._parent(rel)
            tmp = _copied_beside(src, path)
        finally:
            os.close(src)
        try:
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def put_file_exclusive(self, local_path: str, rel: str) -> None:
        # Copied whole under a temporary name beside it, then linked into place (as
        # create_exclusive): the link fails if the name exists, and nobody sees half a file.
        src = self._open_source(local_path)
        try:
            self._need_content(os.fstat(src).st_size)
            path = self._parent(rel)
            tmp = _copied_beside(src, path)
        finally:
            os.close(src)
        try:
            os.link(tmp, path, follow_symlinks=False)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def get_file(self, rel: str, local_path: str) -> None:
        fd, _st = self._open_read(rel)  # never through a link, never a FIFO
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW | _CLOEXEC | _BINARY
            dst = os.open(local_path, flags, 0o666)
            try:
                copy_fd(fd, dst)
            finally:
                os.close(dst)
        finally:
            os.close(fd)

    @staticmethod
    def _open_source(local_path: str) -> int:
        """An fd of a local file to copy in, opened without following a link (an import
        source is someone else's folder; callers that mean their own link's target resolve it)."""
        try:
            src = os.open(local_path, _READ)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EMLINK):
                raise _refused(local_path, "a symlink") from None
            raise
        if not stat.S_ISREG(os.fstat(src).st_mode):
            os.close(src)
            raise _refused(local_path, "not a regular file (a FIFO, device or socket)")
        return src

    def remove(self, rel: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._checked(rel))  # a link is removed itself, never its target


def _regular(fd: int, path: str) -> os.stat_result:
    """The stat of an open file that must be a regular file (not a folder, FIFO or link)."""
    st = os.fstat(fd)
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a folder", path)
    if not stat.S_ISREG(st.st_mode):
        raise _refused(path, "not a regular file (a FIFO, device or socket)")
    if _NOFOLLOW == 0 and os.path.islink(path):
        raise _refused(path, "a symlink")
    return st


def _plain(entry: os.DirEntry[str]) -> bool:
    """A regular file or a folder (links and special files are left out of listings)."""
    return entry.is_dir(follow_symlinks=False) or entry.is_file(follow_symlinks=False)


def _beside(path: str, fill: Callable[[int], None]) -> str:
    """A new temporary file beside ``path``, filled by ``fill(fd)``; its name (removed again
    if filling fails)."""
    tmp = f"{path}.tmp-{os.getpid()}-{secrets.token_hex(3)}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC | _BINARY
    try:
        fd = os.open(tmp, flags, 0o666)
        try:
            fill(fd)
        finally:
            os.close(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def _copied_beside(src: int, path: str) -> str:
    """The rest of the open file ``src`` copied to a new temporary file beside ``path``; its name."""
    return _beside(path, lambda dst: copy_fd(src, dst))


def copy_fd(src: int, dst: int) -> None:
    """Copy the rest of the open file ``src`` into ``dst`` inside the kernel where it can
    (copy_file_range, then sendfile, as shutil.copyfile does), else in 1 MiB chunks."""
    for kernel_copy in (_copy_file_range, _sendfile):
        try:
            if kernel_copy(src, dst):
                return
        except OSError as exc:
            if exc.errno not in _NO_KERNEL_COPY:
                raise
    while chunk := os.read(src, _CHUNK):
        _write_all(dst, chunk)


# What a file system answers when it cannot copy in the kernel (the caller falls back to
# read and write): not supported, across devices, not allowed on this kind of file.
_NO_KERNEL_COPY = frozenset({errno.ENOSYS, errno.EXDEV, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EBADF})
_KERNEL_CHUNK = 1 << 30


def _copy_file_range(src: int, dst: int) -> bool:
    copy = getattr(os, "copy_file_range", None)
    if copy is None:
        return False
    while copy(src, dst, _KERNEL_CHUNK):
        pass
    return True


def _sendfile(src: int, dst: int) -> bool:
    send = getattr(os, "sendfile", None)
    if send is None:
        return False
    offset = os.lseek(src, 0, os.SEEK_CUR)
    while n := send(dst, src, offset, _KERNEL_CHUNK):
        offset += n
    os.lseek(src, offset, os.SEEK_SET)
    return True


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _seek_read(fd: int, start: int, length: int) -> bytes:
    os.lseek(fd, start, os.SEEK_SET)
    return os.read(fd, length)
