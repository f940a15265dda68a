"""The series engine: how records become a curve, and how a group of curves becomes a mean
with a band. Every chart (the viewer, ``ledger plot``, the publication report) and
hyperband take their numbers from here.

**A run's series** of a metric is the records that hold a number under that key, in the
order logged: ``x`` (the step, the wall time, or the seconds since the run's first
record), ``y`` as logged (NaN and infinities kept: a diverged run is data; drawing shows
them as gaps). Booleans count as 0 and 1; media references and missing keys are skipped.

**Downsampling** (``samples=N``) keeps at most about N points: the points are cut into N/2
buckets of equal count, and each bucket keeps its minimum and maximum (so a one-step spike
survives) and its first non-finite point (so a gap survives); the first and last points
are always kept.

**A band** over several runs puts every run on one shared x grid before anything is
averaged: the grid is the union of the runs' x values (or, past ``samples`` points, that
many evenly spaced x values), and each run is interpolated linearly onto the grid points
inside its own x range (never beyond its first or last point). So a point where only one
run happened to log does not make a spike, and where a shorter run ends, the band simply
holds fewer runs: ``n`` says how many runs each point holds. A run's non-finite values,
and grid points interpolated from them, do not count. At each grid point: ``mean``,
``std`` (sample standard deviation, NaN where n < 2), ``min``, ``max`` and ``n``; points
where no run has a value are NaN (a gap). With smoothing, each run is smoothed first (a
debiased exponential moving average that skips non-finite values, as TensorBoard does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledger import _format

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    import numpy as np

X_AXES = ("step", "time", "relative")
DEFAULT_BAND_POINTS = 1000  # a band's grid, past which the union of x values is resampled


def _np() -> Any:
    import numpy as np  # noqa: PLC0415 (numpy only when a curve is asked for: `import ledger` stays light)

    return np


@dataclass(frozen=True)
class Columns:
    """A run's records parsed once: every record's step and time, and per metric key the
    positions of the records holding a number and those numbers."""

    steps: np.ndarray
    times: np.ndarray
    keys: Mapping[str, tuple[np.ndarray, np.ndarray]]

    @property
    def nbytes(self) -> int:
        """The memory its arrays take."""
        return int(self.steps.nbytes + self.times.nbytes + sum(p.nbytes + v.nbytes for p, v in self.keys.values()))

    @property
    def start(self) -> float:
        """The time of the run's first record (the zero of ``x="relative"``)."""
        return float(self.times[0]) if len(self.times) else 0.0


def columns(records: Sequence[Mapping[str, Any]]) -> Columns:
    """Parse records (as read from a stream) into :class:`Columns`."""
    np = _np()
    steps = np.empty(len(records), dtype=float)
    times = np.empty(len(records), dtype=float)
    positions: dict[str, list[int]] = {}
    values: dict[str, list[float]] = {}
    for i, rec in enumerate(records):
        step, when = rec.get(_format.STEP), rec.get(_format.TIME)
        steps[i] = step if isinstance(step, (int, float)) else np.nan
        times[i] = when if isinstance(when, (int, float)) else np.nan
        for key, value in rec.items():
            if key in _format.RESERVED or not isinstance(value, (int, float)):
                continue
            positions.setdefault(key, []).append(i)
            values.setdefault(key, []).append(float(value))
    keys = {k: (np.asarray(positions[k], dtype=np.intp), np.asarray(values[k], dtype=float)) for k in sorted(values)}
    return Columns(steps, times, keys)


@dataclass(frozen=True)
class Series:
    """One metric of one run: ``x`` ascending as logged, ``y`` as logged (NaN, +-inf kept)."""

    key: str
    x: np.ndarray
    y: np.ndarray


def x_values(cols: Columns, positions: np.ndarray, x: str) -> np.ndarray:
    """The x of the records at ``positions``: their step, wall time (epoch seconds) or seconds
    since the run's first record."""
    axes: dict[str, Callable[[], np.ndarray]] = {
        "step": lambda: cols.steps[positions],
        "time": lambda: cols.times[positions],
        "relative": lambda: cols.times[positions] - cols.start,
    }
    if x not in axes:
        msg = f"x must be one of {', '.join(X_AXES)}, got {x!r}"
        raise ValueError(msg)
    return axes[x]()


def series(cols: Columns, key: str, *, x: str = "step", samples: int | None = None, smoothing: float = 0.0) -> Series:
    """The series of ``key`` (empty if the run never logged a number under it)."""
    np = _np()
    found = cols.keys.get(key)
    if found is None:
        xs, ys = x_values(cols, np.empty(0, dtype=np.intp), x), np.empty(0, dtype=float)
    else:
        xs, ys = x_values(cols, found[0], x), found[1]
    ys = ema(ys, smoothing)
    if samples is not None:
        xs, ys = downsample(xs, ys, samples)
    return Series(key, xs, ys)


def ema(y: np.ndarray, weight: float) -> np.ndarray:
    """Debiased exponential moving average (TensorBoard's smoothing): ``weight`` 0 returns
    ``y``; non-finite points stay as they are and do not take part, so a gap never drags the
    line to zero."""
    np = _np()
    y = np.asarray(y, dtype=float)
    if not 0 <= weight < 1:
        msg = f"smoothing must be in [0, 1), got {weight}"
        raise ValueError(msg)
    if weight == 0 or len(y) == 0:
        return y
    out = y.copy()
    acc = 0.0
    debias = 0.0
    for i, v in enumerate(y.tolist()):
        if not math.isfinite(v):
            continue
        acc = weight * acc + (1 - weight) * v
        debias = weight * debias + (1 - weight)
        out[i] = acc / debias
    return out


def downsample(x: np.ndarray, y: np.ndarray, samples: int) -> tuple[np.ndarray, np.ndarray]:
    """At most about ``samples`` points of a long series, chosen deterministically (see the
    module's docstring): bucket minima and maxima, first gaps, first and last points."""
    np = _np()
    x = np.asarray(x)
    y = np.asarray(y, dtype=float)
    idx = downsample_index(y, samples)
    return (x, y) if idx is None else (x[idx], y[idx])


def check_samples(samples: Any) -> None:
    """ValueError unless ``samples`` is a whole number >= 2."""
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
        msg = f"samples must be a whole number >= 2, got {samples!r}"
        raise ValueError(msg)


def downsample_index(y: np.ndarray, samples: int) -> np.ndarray | None:
    """The positions of ``y`` that :func:`downsample` keeps, ascending; None when it keeps
    every point (``len(y) <= samples``)."""
    np = _np()
    check_samples(samples)
    y = np.asarray(y, dtype=float)
    n = len(y)
    if n <= samples:
        return None
    buckets = max(1, samples // 2)
    edges = np.linspace(0, n, buckets + 1).astype(int)
    starts = np.unique(edges[:-1][edges[:-1] < edges[1:]])  # the first index of each non-empty bucket
    counts = np.diff(np.append(starts, n))
    bucket = np.repeat(np.arange(len(starts)), counts)  # each point's bucket
    good = np.isfinite(y)
    keep = [np.array([0, n - 1])]
    all_good = bool(good.all())
    for extreme, fill in ((np.minimum, np.inf), (np.maximum, -np.inf)):
        values = y if all_good else np.where(good, y, fill)
        best = extreme.reduceat(values, starts)  # each bucket's min (max) of its finite points
        hits = np.flatnonzero(values == np.repeat(best, counts))
        if not all_good:
            hits = hits[good[hits]]
        keep.append(_first_per_bucket(hits, bucket))  # where it is first reached
    if not all_good:
        keep.append(_first_per_bucket(np.flatnonzero(~good), bucket))  # each bucket's first gap
    return _array(np.unique(np.concatenate(keep)))


def sample_rows(numbers: Mapping[str, tuple[np.ndarray, np.ndarray]], keys: Iterable[str], samples: int) -> np.ndarray:
    """The records a downsampled table keeps: for each of ``keys``, the records
    :func:`downsample` keeps of its series (``numbers[key]``: the positions of the records
    holding a number, and those numbers, as in :attr:`Columns.keys`), ``samples`` points each
    so that every metric's spikes and gaps survive, united, ascending. A key without numbers
    keeps none."""
    np = _np()
    check_samples(samples)
    picked = [np.empty(0, dtype=np.intp)]
    for key in keys:
        found = numbers.get(key)
        if found is None:
            continue
        positions, values = found
        idx = downsample_index(values, samples)
        picked.append(positions if idx is None else positions[idx])
    return _array(np.unique(np.concatenate(picked)))


def _array(value: Any) -> np.ndarray:
    found: np.ndarray = value
    return found


def _first_per_bucket(positions: np.ndarray, bucket: np.ndarray) -> np.ndarray:
    """Of ``positions`` (ascending), the first one in each bucket that has any."""
    _, first = _np().unique(bucket[positions], return_index=True)
    found: np.ndarray = positions[first]
    return found


@dataclass(frozen=True)
class Band:
    """A group's curve: per grid point ``x``, the ``mean``, ``std``, ``min`` and ``max`` over the
    runs that have a value there, and ``n``, how many do. ``group`` is the group's key (a
    value, or a tuple of values when grouped by several fields; None ungrouped) and ``runs``
    the number of runs with at least one value."""

    group: Any
    runs: int
    x: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    min: np.ndarray
    max: np.ndarray
    n: np.ndarray


def _last_per_x(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted by x, one point per x (the last logged wins), x not NaN."""
    np = _np()
    ok = ~np.isnan(xs)
    xs, ys = xs[ok], ys[ok]
    order = np.argsort(xs, kind="stable")
    xs, ys = xs[order], ys[order]
    if len(xs) > 1:
        last = np.append(xs[1:] != xs[:-1], True)
        xs, ys = xs[last], ys[last]
    return xs, ys


def band(members: Iterable[Series], *, group: Any = None, samples: int | None = None) -> Band:
    """The mean and band of ``members`` on a shared grid (see the module's docstring)."""
    np = _np()
    cap = DEFAULT_BAND_POINTS if samples is None else samples
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 2:
        msg = f"samples must be a whole number >= 2, got {samples!r}"
        raise ValueError(msg)
    lines = [_last_per_x(np.asarray(m.x, dtype=float), np.asarray(m.y, dtype=float)) for m in members]
    lines = [(xs, ys) for xs, ys in lines if len(xs)]
    if not lines:
        empty = np.empty(0, dtype=float)
        return Band(group, 0, empty, empty, empty, empty, empty, np.empty(0, dtype=int))
    grid = np.unique(np.concatenate([xs for xs, _ in lines]))
    if len(grid) > cap:
        grid = np.linspace(float(grid[0]), float(grid[-1]), cap)
    table = np.full((len(lines), len(grid)), np.nan)
    for i, (xs, ys) in enumerate(lines):
        inside = (grid >= xs[0]) & (grid <= xs[-1])
        with np.errstate(invalid="ignore"):
            values = np.interp(grid[inside], xs, ys)
        table[i, inside] = np.where(np.isfinite(values), values, np.nan)
    n = np.sum(~np.isnan(table), axis=0)
    has = n > 0
    mean = np.full(len(grid), np.nan)
    std = np.full(len(grid), np.nan)
    low = np.full(len(grid), np.nan)
    high = np.full(len(grid), np.nan)
    cols = table[:, has]
    mean[has] = np.nansum(cols, axis=0) / n[has]
    low[has] = np.nanmin(cols, axis=0)
    high[has] = np.nanmax(cols, axis=0)
    two = n >= 2
    centred = np.where(np.isnan(table[:, two]), 0.0, table[:, two] - mean[two])
    std[two] = np.sqrt(np.sum(centred**2, axis=0) / (n[two] - 1))
    runs = sum(1 for i in range(len(lines)) if np.any(~np.isnan(table[i])))
    return Band(group, runs, grid, mean, std, low, high, n)
