"""Buffered, append-only writing off the training loop.

``run.log`` only appends a dict to a deque (:meth:`JsonlSink.put`). A background
:class:`Ticker` thread drains it every flush interval, serialises the records with
orjson, and appends them to the run's file, or writes one immutable segment per flush
where the store cannot append. Failed writes are retried with backoff; if the store stays
down, the encoded bytes stay in memory and every later flush tries again.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ledger import _format, _reader, _settings
from ledger._storage import Storage, retrying

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

log = logging.getLogger("ledger")

Record = dict[str, Any]
T = TypeVar("T")


class Overflow(Protocol):
    """Where a sink puts what it holds past its memory cap while storage is down (a local
    spill file; ``ledger._run._files.SpillFile``): appended in order, uploaded from
    ``offset`` once storage is back, the upload's progress kept on disk."""

    offset: int

    def append(self, data: bytes) -> None: ...
    def size(self) -> int: ...
    def read(self, offset: int, n: int) -> bytes: ...
    def uploaded(self, offset: int) -> None: ...
    def inflight(self, n: int) -> None: ...
    def done(self) -> None: ...


_UPLOAD_CHUNK = 8 << 20  # bytes of a spill file written back per request


class StreamSink:
    """One append-only file of a run. Subclasses say how new data becomes bytes.

    Data not yet written is held in memory, in order. While storage is down, what is held
    past ``$LEDGER_SPILL_CAP_MB`` moves to the local spill file (``overflow``); once storage
    answers again, the spill file is written first, then what is held in memory. The write
    itself happens outside the state lock, so ``finish()`` can give up on a write that hangs
    and spill (:meth:`take_unwritten`) without waiting for it.
    """

    def __init__(self, storage: Storage, folder: str, stream: _format.StreamSpec, *, next_segment: int = 0) -> None:
        self._storage = storage
        self._folder = folder
        self.stream = stream
        self.path = f"{folder}/{stream.file}"
        self._unwritten: list[tuple[bytes, int]] = []  # (bytes, items), oldest first
        self._held = 0  # bytes in _unwritten
        # Reentrant: the SIGTERM handler finishes the run on the main thread, which may be
        # inside drain() at that moment.
        self._lock = threading.RLock()
        self._flush_lock = threading.Lock()  # one write at a time (the ticker, finish)
        self._segment = next_segment
        self._failing_since: float | None = None
        self._abandoned = False  # finish() gave up on the store and spilled
        self._inflight = 0  # bytes at the head of what is held (spill file first) being written now
        self._inflight_to: str | None = None  # the segment that write goes to (stores without appends)
        self.overflow: Overflow | None = None
        self._overflowed = False  # the spill file holds bytes not written back yet
        self.written_items = 0
        self.last_error: BaseException | None = None

    @property
    def _unwritten_items(self) -> int:
        return sum(items for _data, items in self._unwritten)

    def _collect(self) -> tuple[bytes, int] | None:
        """New data as bytes and how many items it holds (called under the lock)."""
        raise NotImplementedError

    def drained(self, then: Callable[[], T]) -> T:
        """Move new data into the not-yet-written buffer (without writing), then call
        ``then`` while still holding the lock, so it sees a state no flush is changing."""
        with self._lock:
            self._drain_locked()
            return then()

    def _drain_locked(self) -> None:
        collected = self._collect()
        if collected is not None:
            self._unwritten.append(collected)
            self._held += len(collected[0])

    def flush(self, *, durable: bool = False, attempts: int = 4) -> bool:
        """Write everything so far. Returns False (and keeps the data) when storage fails."""
        with self._flush_lock:
            if not self._write_back_overflow(attempts):
                with self._lock:  # still down: what came since joins the spill file past the cap
                    self._drain_locked()
                    self._overflow_locked()
                return False
            with self._lock:
                self._drain_locked()
                if self._abandoned:
                    return False
                if not self._unwritten:
                    return True
                taken = len(self._unwritten)
                data = b"".join(d for d, _ in self._unwritten)
                items = sum(n for _, n in self._unwritten[:taken])
                self._inflight = len(data)
            try:
                retrying(lambda: self._write(data, durable=durable), attempts=attempts, on_error=self._failed)
            except OSError:
                with self._lock:
                    self._inflight = 0
                    self._overflow_locked()
                return False
            with self._lock:
                self._inflight = 0
                if self._given_up():  # finish() spilled it meanwhile (recover sees it arrived)
                    return True
                del self._unwritten[:taken]
                self._held -= len(data)
                self.written_items += items
                self._back()
            return True

    def _given_up(self) -> bool:
        """Whether finish() gave up on the store (another thread may set it during a write)."""
        return self._abandoned

    def _back(self) -> None:
        if self._failing_since is not None:
            log.warning(
                "ledger: storage is back after %.0f s; held items written to %s",
                time.time() - self._failing_since,
                self._storage.full(self.path),
            )
            self._failing_since = None

    def _overflow_locked(self) -> None:
        """Past the cap, what is held goes to the spill file (in order, after what is there)."""
        cap = _settings.get(_settings.SPILL_CAP_MB) * 2**20
        if self.overflow is None or self._held <= cap or not self._unwritten:
            return
        data = b"".join(d for d, _ in self._unwritten)
        try:
            self.overflow.append(data)
        except OSError as exc:  # the local disk failed too: keep holding it
            log.warning("ledger: could not spill %d held bytes of %s to local disk (%s)", len(data), self.path, exc)
            return
        if not self._overflowed:
            log.warning(
                "ledger: %s: over %.0f MB held while storage is down; the oldest data now waits on local disk "
                "($%s) and is written back, in order, when storage answers",
                self._storage.full(self.path),
                cap / 2**20,
                _settings.SPILL_CAP_MB.name,
            )
        self._unwritten.clear()
        self._held = 0
        self._overflowed = True

    def _write_back_overflow(self, attempts: int) -> bool:
        """Write the spill file back (from where the last attempt stopped); False if storage fails."""
        while self._overflowed and self.overflow is not None:
            overflow = self.overflow
            with self._lock:
                if self._abandoned:
                    return False
                offset, size = overflow.offset, overflow.size()
                if offset >= size:
                    overflow.done()
                    self._overflowed = False
                    return True
                chunk = overflow.read(offset, min(_UPLOAD_CHUNK, size - offset))
                if self.stream.records and offset + len(chunk) < size and b"\n" in chunk:
                    chunk = chunk[: chunk.rfind(b"\n") + 1]  # whole records per request
                self._inflight = len(chunk)
                overflow.inflight(len(chunk))
            try:
                retrying(lambda: self._write(chunk, durable=False), attempts=attempts, on_error=self._failed)  # noqa: B023
            except OSError:
                with self._lock:
                    self._inflight = 0
                return False
            with self._lock:
                self._inflight = 0
                if self._given_up():
                    return True
                overflow.uploaded(offset + len(chunk))
        return True

    def _failed(self, exc: OSError) -> None:
        # Said once per outage, at its first failed attempt (one attempt on a remote store
        # can take many seconds); then quiet until the store answers again.
        self.last_error = exc
        if self._failing_since is None:
            self._failing_since = time.time()
            log.warning(
                "ledger: could not write %d items to %s (%s: %s); retrying, and while the store "
                "is down they are kept in memory and retried at every flush (past $%s, on local disk); "
                "training goes on",
                self._unwritten_items,
                self._storage.full(self.path),
                type(exc).__name__,
                exc,
                _settings.SPILL_CAP_MB.name,
            )

    def _write(self, data: bytes, *, durable: bool) -> None:
        if self._storage.caps.appends:
            self._storage.append(self.path, data, durable=durable)
        else:
            # One immutable object per flush; a retry rewrites the same segment number.
            segment = self.stream.segment(self._segment)
            self._inflight_to = segment
            self._storage.write_atomic(f"{self._folder}/{segment}", data)
            self._segment += 1

    def take_unwritten(self) -> tuple[bytes, int, str | None]:
        """Hand over (and forget) what is held in memory, for the spill file (it goes after
        what the spill file already holds); how many bytes at the head of the spill's
        unwritten part a write that hangs may still deliver, and the segment it writes them
        to (``ledger recover`` writes them there again, so they land once whenever the hung
        write does). The sink writes nothing afterwards."""
        with self._lock:
            self._drain_locked()
            self._abandoned = True
            data = b"".join(d for d, _ in self._unwritten)
            self._unwritten.clear()
            self._held = 0
            return data, self._inflight, self._inflight_to if self._inflight else None


class JsonlSink(StreamSink):
    """A JSON-lines stream (metrics.jsonl, system.jsonl); ``put`` is the lock-free hot path."""

    def __init__(
        self,
        storage: Storage,
        folder: str,
        stream: _format.StreamSpec,
        *,
        fold: Callable[[list[Record]], None] | None = None,
        next_segment: int = 0,
    ) -> None:
        super().__init__(storage, folder, stream, next_segment=next_segment)
        self._fold = fold
        self._queue: deque[Record] = deque()
        # deque.append is atomic, so the training thread never takes a lock to log.
        self.put: Callable[[Record], None] = self._queue.append

    def _collect(self) -> tuple[bytes, int] | None:
        queue = self._queue
        n = len(queue)
        if not n:
            return None
        popleft = queue.popleft
        batch = [popleft() for _ in range(n)]
        if self._fold is not None:
            self._fold(batch)
        return _format.encode_records(batch), n

    def pending(self) -> int:
        """Records logged but not yet written (those waiting in a spill file not counted)."""
        return len(self._queue) + self._unwritten_items


class Ticker:
    """The background thread of a run: calls each task every its interval seconds, and each
    ``once`` task one time, after its delay (a run's early heartbeat).

    Intervals keep a fixed cadence (a slow write does not push later ticks back), and an
    exception in a task is reported and retried at its next tick: the thread never dies.
    """

    def __init__(
        self,
        tasks: list[tuple[float, Callable[[], object]]],
        *,
        name: str,
        once: Sequence[tuple[float, Callable[[], object]]] = (),
    ) -> None:
        self._tasks: list[tuple[float | None, Callable[[], object], float]] = [
            (interval, task, interval) for interval, task in tasks
        ] + [(None, task, delay) for delay, task in once]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the task that may be running (waiting at most ``timeout`` seconds for
        it: a write to a store that hangs is left behind); the caller does the final flush."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _loop(self) -> None:
        start = time.monotonic()
        due = [start + first for _, _, first in self._tasks]
        while not self._stop.wait(None if math.isinf(min(due)) else max(0.0, min(due) - time.monotonic())):
            for i, (interval, task, _first) in enumerate(self._tasks):
                now = time.monotonic()
                if now < due[i]:
                    continue
                try:
                    task()
                except Exception:
                    log.exception("ledger: background writer error (the run goes on)")
                due[i] = math.inf if interval is None else max(due[i] + interval, time.monotonic())


class MediaSink:
    """Media files of a run (images, tables): queued by ``run.log``, encoded and written by
    the background thread, each file once. Failed writes are kept and retried."""

    def __init__(self, storage: Storage, folder: str) -> None:
        self._storage = storage
        self._folder = folder
        self._queue: deque[tuple[str, Any]] = deque()
        self.put: Callable[[tuple[str, Any]], None] = self._queue.append
        self._unwritten: dict[str, bytes] = {}  # encoded, not yet stored
        self._lock = threading.RLock()
        self._flush_lock = threading.Lock()
        self._abandoned = False
        self.sizes: dict[str, int] = {}  # written: path in the run folder -> bytes
        self.last_error: BaseException | None = None
        self._warned = False

    def _encode_queued(self) -> None:
        queue = self._queue
        for _ in range(len(queue)):
            path, media = queue.popleft()
            try:
                self._unwritten[path] = media.encode()
            except Exception:  # a media object that cannot be encoded must not stop the others
                log.exception("ledger: could not encode %s; it is left out", path)

    def flush(self, *, durable: bool = False, attempts: int = 4) -> bool:  # noqa: ARG002 (same call as streams)
        with self._flush_lock:
            with self._lock:
                self._encode_queued()
                if self._abandoned:
                    return False
                pending = list(self._unwritten.items())
            for path, data in pending:  # written outside the state lock: finish() may give up on it
                try:
                    retrying(lambda: self._storage.write_atomic(f"{self._folder}/{path}", data), attempts=attempts)  # noqa: B023
                except OSError as exc:
                    self.last_error = exc
                    if not self._warned:
                        self._warned = True
                        log.warning(
                            "ledger: could not write %s (%s); media are kept in memory and retried",
                            self._storage.full(f"{self._folder}/{path}"),
                            exc,
                        )
                    return False
                with self._lock:
                    self.sizes[path] = len(data)
                    self._unwritten.pop(path, None)
            self._warned = False
            return True

    def take_unwritten(self) -> dict[str, bytes]:
        """Hand over (and forget) what could not be written, for a spill folder."""
        with self._lock:
            self._encode_queued()
            self._abandoned = True
            out, self._unwritten = self._unwritten, {}
            return out


def compact_streams(storage: Storage, folder: str) -> int:
    """Merge each stream's segments (``metrics.<n>.jsonl``...) of the run folder ``folder`` into
    its single file and delete them; returns how many segments were merged. Only for a run
    that nothing writes any more.

    Crash-safe: the merged file is written whole first, then the segments are deleted in
    order; readers recognise segments left by an interrupted compaction and skip them.
    """
    merged = 0
    for stream in _format.STREAMS:
        chunks, leftovers = _reader.stream_chunks(storage, folder, stream)
        main = next((data for name, data in chunks if name == stream.file), b"")
        segments = [(name, data) for name, data in chunks if name != stream.file]
        if not segments and not leftovers:
            continue
        if main and not main.endswith(b"\n"):  # a torn tail must not glue onto the next line
            main = main[: main.rfind(b"\n") + 1]
        storage.write_atomic(f"{folder}/{stream.file}", main + b"".join(data for _, data in segments), durable=True)
        for name in leftovers + [name for name, _ in segments]:  # lowest first: see stream_chunks
            storage.remove(f"{folder}/{name}")
        merged += len(segments)
    return merged
