"""Console capture: a tee of sys.stdout and sys.stderr into each capturing run's output.log.

The terminal still gets everything. Carriage-return progress bars (tqdm) are collapsed:
a line is stored once it ends, as its last state, not as thousands of redraws.
One process-wide pair of tees serves every run that captures, so runs may start and
finish in any order without unwrapping each other's streams.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any, TextIO

from ledger import _format
from ledger._writer import StreamSink

if TYPE_CHECKING:
    from ledger._storage import Storage


class ConsoleSink(StreamSink):
    """The output.log of one run."""

    def __init__(self, storage: Storage, folder: str, *, next_segment: int = 0) -> None:
        super().__init__(storage, folder, _format.OUTPUT_STREAM, next_segment=next_segment)
        self._lines: list[str] = []
        self._partial = ""
        self._feed_lock = threading.RLock()  # reentrant: SIGTERM may finish the run mid-print

    def feed(self, text: str) -> None:
        """Take text as written to the terminal."""
        with self._feed_lock:
            *complete, partial = (self._partial + text).split("\n")
            for line in complete:
                self._lines.append(_last_state(line) + "\n")
            # Keep only the last redraw of an unfinished line: memory stays bounded.
            cut = partial.rstrip("\r").rfind("\r")
            self._partial = partial[cut:] if cut > 0 else partial

    def end(self) -> None:
        """The run ends: an unfinished last line is kept as it stands."""
        with self._feed_lock:
            if self._partial:
                self._lines.append(_last_state(self._partial) + "\n")
                self._partial = ""

    def _collect(self) -> tuple[bytes, int] | None:
        with self._feed_lock:
            if not self._lines:
                return None
            lines, self._lines = self._lines, []
        return "".join(lines).encode("utf-8", errors="replace"), len(lines)


def _last_state(line: str) -> str:
    """What a terminal shows for a line drawn with carriage returns."""
    body = line.rstrip("\r")  # "\r\n" line ends and a bar's trailing "\r"
    return body.rsplit("\r", 1)[-1]


class _Tee:
    """Stands in for sys.stdout/sys.stderr: writes through, then feeds the sinks."""

    def __init__(self, stream: TextIO) -> None:
        self._ledger_stream = stream

    def write(self, text: str) -> int:
        n = self._ledger_stream.write(text)
        for sink in _sinks:
            try:
                sink.feed(text)
            except Exception:  # noqa: S110 (capture must never break a print)
                pass
        return n

    def writelines(self, lines: list[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._ledger_stream.flush()

    def __getattr__(self, name: str) -> Any:  # encoding, isatty, fileno, buffer, ...
        return getattr(self._ledger_stream, name)


_sinks: list[ConsoleSink] = []
_lock = threading.RLock()
_originals: dict[str, TextIO] = {}


def attach(sink: ConsoleSink) -> None:
    """Start feeding ``sink`` with what this process prints."""
    with _lock:
        if not _sinks:
            for name in ("stdout", "stderr"):
                stream = getattr(sys, name)
                if stream is not None and not isinstance(stream, _Tee):
                    _originals[name] = stream
                    setattr(sys, name, _Tee(stream))
        _sinks.append(sink)


def forget_all() -> None:
    """In a forked child: stop feeding the parent's runs (the tees pass text through)."""
    with _lock:
        _sinks.clear()


def detach(sink: ConsoleSink) -> None:
    """Stop feeding ``sink``; the last one out puts the original streams back."""
    with _lock:
        if sink in _sinks:
            _sinks.remove(sink)
        if not _sinks:
            for name, original in list(_originals.items()):
                current = getattr(sys, name)
                if isinstance(current, _Tee) and current._ledger_stream is original:  # noqa: SLF001
                    setattr(sys, name, original)
                del _originals[name]
    sink.end()
