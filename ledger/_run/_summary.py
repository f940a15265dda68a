"""A run's summary: what it keeps of each metric (the last value, or min, max or mean per
``define_metric``), computed from the records as the writer thread drains them."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

from ledger import _format
from ledger._config import normalize_value

Record = dict[str, Any]


class _Agg:
    __slots__ = ("kind", "n", "value")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.n = 0
        self.value: float | None = None

    def add(self, v: float) -> None:
        if v != v:  # NaN never wins a min/max and does not poison a mean  # noqa: PLR0124
            return
        if self.value is None:
            self.value, self.n = v, 1
        elif self.kind == "min":
            self.value = min(self.value, v)
        elif self.kind == "max":
            self.value = max(self.value, v)
        else:  # running mean
            self.n += 1
            self.value += (v - self.value) / self.n


class SummaryTracker:
    """The computed part of a summary. ``fold`` runs on the writer thread with each drained
    batch (or the history, on resume); ``define`` and ``computed`` must be called where no
    fold runs at the same time (the run calls them under its metrics sink's lock).

    ``scalars`` and ``media`` are the run's metric names so far (shared with ``log()``)."""

    def __init__(self, scalars: set[str], media: set[str]) -> None:
        self._scalars = scalars
        self._media = media
        self._last: dict[str, Any] = {}
        self._aggs: dict[str, _Agg] = {}
        self._defined: list[tuple[str, str]] = []  # (pattern, kind) from define_metric

    @property
    def tracked(self) -> set[str]:
        """Names the tracker has seen a value of."""
        return set(self._last)

    def define(self, pattern: str, kind: str) -> None:
        """From now on keep ``kind`` of the metrics matching ``pattern`` (the latest definition wins)."""
        self._defined.append((pattern, kind))
        for key in list(self._last):
            if fnmatch.fnmatchcase(key, pattern):
                self._set_kind(key, kind)

    def _set_kind(self, key: str, kind: str) -> None:
        if kind == "last":
            self._aggs.pop(key, None)
            return
        agg = _Agg(kind)
        last = self._last.get(key)
        if isinstance(last, (int, float)):
            agg.add(last)
        self._aggs[key] = agg

    def fold(self, batch: list[Record]) -> None:
        """Update with drained records."""
        # The last value of every name: walk back from the newest record and stop once every
        # name logged so far has turned up, which is after one record when keys do not vary.
        latest: dict[str, Any] = {}
        everything = len(self._scalars) + len(self._media) + len(_format.RESERVED)
        for rec in reversed(batch):
            latest = rec | latest
            if len(latest) >= everything:
                break
        for reserved in _format.RESERVED:
            latest.pop(reserved, None)
        if self._media:  # references to images and tables are not summary values
            latest = {k: v for k, v in latest.items() if k not in self._media}
        new = latest.keys() - self._last.keys()
        self._last.update(latest)
        for key in new:
            for pattern, kind in reversed(self._defined):  # the latest definition wins
                if fnmatch.fnmatchcase(key, pattern):
                    self._set_kind(key, kind)
                    break
        for key, agg in self._aggs.items():
            for rec in batch:
                v = rec.get(key)
                if v is not None:
                    agg.add(v)

    def computed(self) -> dict[str, Any]:
        """Each metric's value as the summary keeps it."""
        out = dict(self._last)
        for key, agg in self._aggs.items():
            if agg.value is not None:
                out[key] = agg.value
        return out


class Summary(MutableMapping[str, Any]):
    """The run's summary: per metric, its last value (or min/max/mean per
    :meth:`Run.define_metric`); values set here explicitly win over computed ones."""

    def __init__(self, computed: Callable[[], dict[str, Any]]) -> None:
        self._computed = computed
        self._explicit: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key in self._explicit:
            return self._explicit[key]
        return self._computed()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str) or not key:
            msg = f"summary keys must be non-empty strings, got {key!r}"
            raise TypeError(msg)
        self._explicit[key] = normalize_value(value, f"summary.{key}")

    def __delitem__(self, key: str) -> None:
        del self._explicit[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.as_dict())

    def __len__(self) -> int:
        return len(self.as_dict())

    def as_dict(self) -> dict[str, Any]:
        """A plain dict of the summary as it would be written now, keys sorted."""
        merged = {**self._computed(), **self._explicit}
        return {k: merged[k] for k in sorted(merged)}

    def __repr__(self) -> str:
        return f"Summary({self.as_dict()!r})"
