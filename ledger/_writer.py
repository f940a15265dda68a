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
from typing import TYPE_CHECKING, Any, TypeVar

from ledger import _format, _reader
from ledger._storage import Storage, retrying

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

log = logging.getLogger("ledger")

Record = dict[str, Any]
T = TypeVar("T")


class StreamSink:
    """One append-only file of a run. Subclasses say how new data becomes bytes."""

    def __init__(self, storage: Storage, folder: str, stream: _format.StreamSpec, *, next_segment: int = 0) -> None:
        self._storage = storage
        self._folder = folder
        self.stream = stream
        self.path = f"{folder}/{stream.file}"
        self._unwritten: list[bytes] = []
        self._unwritten_items = 0
        # Reentrant: the SIGTERM handler finishes the run on the main thread, which may be
        # inside drain() at that moment.
        self._lock = threading.RLock()
        self._segment = next_segment
        self._failing_since: float | None = None
        self.written_items = 0
        self.last_error: BaseException | None = None

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
            self._unwritten.append(collected[0])
            self._unwritten_items += collected[1]

    def flush(self, *, durable: bool = False, attempts: int = 4) -> bool:
        """Write everything so far. Returns False (and keeps the data) when storage fails."""
        with self._lock:
            self._drain_locked()
            if not self._unwritten:
                return True
            data = b"".join(self._unwritten)
            try:
                retrying(lambda: self._write(data, durable=durable), attempts=attempts, on_error=self._failed)
            except OSError:
                return False
            if self._failing_since is not None:
                log.warning(
                    "ledger: storage is back after %.0f s; %d held items written to %s",
                    time.time() - self._failing_since,
                    self._unwritten_items,
                    self._storage.full(self.path),
                )
                self._failing_since = None
            self.written_items += self._unwritten_items
            self._unwritten.clear()
            self._unwritten_items = 0
            return True

    def _failed(self, exc: OSError) -> None:
        # Said once per outage, at its first failed attempt (one attempt on a remote store
        # can take many seconds); then quiet until the store answers again.
        self.last_error = exc
        if self._failing_since is None:
            self._failing_since = time.time()
            log.warning(
                "ledger: could not write %d items to %s (%s: %s); retrying, and while the store "
                "is down they are kept in memory and retried at every flush; training goes on",
                self._unwritten_items,
                self._storage.full(self.path),
                type(exc).__name__,
                exc,
            )

    def _write(self, data: bytes, *, durable: bool) -> None:
        if self._storage.caps.appends:
            self._storage.append(self.path, data, durable=durable)
        else:
            # One immutable object per flush; a retry rewrites the same segment number.
            name = f"{self._folder}/{self.stream.segment(self._segment)}"
            self._storage.write_atomic(name, data)
            self._segment += 1

    def take_unwritten(self) -> bytes:
        """Hand over (and forget) what could not be written, for a spill file."""
        with self._lock:
            self._drain_locked()
            data = b"".join(self._unwritten)
            self._unwritten.clear()
            self._unwritten_items = 0
            return data


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
        """Records logged but not yet written."""
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

    def stop(self) -> None:
        """Stop after the task that may be running; the caller does the final flush."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

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
        with self._lock:
            self._encode_queued()
            for path, data in list(self._unwritten.items()):
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
                self.sizes[path] = len(data)
                del self._unwritten[path]
            self._warned = False
            return True

    def take_unwritten(self) -> dict[str, bytes]:
        """Hand over (and forget) what could not be written, for a spill folder."""
        with self._lock:
            self._encode_queued()
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
