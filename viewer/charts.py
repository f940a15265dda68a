"""What the Charts page draws, as plain functions: smoothing, downsampling, gaps, group bands.

No Streamlit here: the functions take and return numpy arrays and pandas frames, so they are
tested on their own. The order a line goes through is :func:`prepare`: non-finite values
(and, on a log axis, values <= 0) become NaN, the EMA skips them, the downsampler keeps them
as gap markers, and :func:`line_frame` turns each gap into a break between line segments.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import altair as alt
import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Sequence

X_AXES = ("step", "wall time", "relative time")
BANDS = ("min-max", "std", "none")
DEFAULT_MAX_POINTS = 1000


@dataclass(frozen=True)
class Line:
    """One line to draw: a run's metric (or a group member's), x ascending, NaN = gap."""

    label: str
    x: np.ndarray
    y: np.ndarray


# ---- one line ------------------------------------------------------------------------------


def gaps(y: np.ndarray, *, log_y: bool = False) -> np.ndarray:
    """``y`` as floats with NaN, +-Inf (and values <= 0 on a log axis) turned into NaN."""
    out = np.asarray(y, dtype=float).copy()
    bad = ~np.isfinite(out)
    if log_y:
        bad |= out <= 0
    out[bad] = np.nan
    return out


def ema(y: np.ndarray, weight: float) -> np.ndarray:
    """Debiased exponential moving average (TensorBoard's smoothing): ``weight`` 0 returns
    ``y``; NaN points stay NaN and do not take part, so a gap never drags the line to zero."""
    y = np.asarray(y, dtype=float)
    if weight <= 0 or len(y) == 0:
        return y.copy()
    if not 0 <= weight < 1:
        msg = f"smoothing weight must be in [0, 1), got {weight}"
        raise ValueError(msg)
    smooth = np.array(pd.Series(y).ewm(alpha=1 - weight, adjust=True, ignore_na=True).mean(), dtype=float)
    smooth[np.isnan(y)] = np.nan
    return smooth


def downsample(x: np.ndarray, y: np.ndarray, max_points: int = DEFAULT_MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most about ``max_points`` points of a long line, chosen deterministically.

    The points are cut into ``max_points // 2`` buckets of equal count; each bucket keeps its
    minimum and its maximum (so a one-step spike survives any zoom level) and, if it holds
    a gap, its first NaN (so the gap survives too). The first and last points are kept.
    """
    x = np.asarray(x)
    y = np.asarray(y, dtype=float)
    n = len(y)
    if n <= max_points:
        return x, y
    buckets = max(1, max_points // 2)
    edges = np.linspace(0, n, buckets + 1).astype(int)
    keep = {0, n - 1}
    nan = np.isnan(y)
    for a, b in itertools.pairwise(edges):
        if a >= b:
            continue
        part = y[a:b]
        finite = ~nan[a:b]
        if finite.any():
            keep.add(a + int(np.nanargmin(part)))
            keep.add(a + int(np.nanargmax(part)))
        if not finite.all():
            keep.add(a + int(np.argmax(~finite)))
    idx = np.fromiter(sorted(keep), dtype=int)
    return x[idx], y[idx]


def prepare(line: Line, *, smoothing: float = 0.0, log_y: bool = False, max_points: int = DEFAULT_MAX_POINTS) -> Line:
    """A line as it is drawn: gaps marked, smoothed, downsampled."""
    y = ema(gaps(line.y, log_y=log_y), smoothing)
    x, y = downsample(line.x, y, max_points)
    return Line(line.label, x, y)


def line_frame(line: Line) -> pd.DataFrame:
    """Rows ``source, x, y, segment`` of the line's finite points; each run of points
    between two gaps has its own ``segment``, so the chart breaks the line there."""
    y = np.asarray(line.y, dtype=float)
    nan = np.isnan(y)
    segment = np.cumsum(nan)
    return pd.DataFrame(
        {"source": line.label, "x": np.asarray(line.x)[~nan], "y": y[~nan], "segment": segment[~nan]}
    ).reset_index(drop=True)


# ---- groups ----------------------------------------------------------------------------------


def member_frames(members: Sequence[Line], **prepare_kw: Any) -> list[pd.DataFrame]:
    """A group drawn run by run under the group's label: each member its own segments, so
    the lines of two runs are never joined."""
    frames = []
    offset = 0
    for member in members:
        frame = line_frame(prepare(member, **prepare_kw))
        frame["segment"] += offset
        offset = int(frame["segment"].max()) + 1 if len(frame) else offset
        frames.append(frame)
    return frames


def group_band(members: Sequence[Line], max_points: int = DEFAULT_MAX_POINTS) -> pd.DataFrame:
    """Across the member lines of a group: ``x, mean, std, min, max, n`` per x.

    Members are aligned on their x values when there are at most ``max_points`` distinct
    ones (steps usually are); otherwise on ``max_points`` equal-width x buckets, each member
    contributing the mean of its points in the bucket. NaN points do not count; an x where
    no member has a value is NaN (a gap).
    """
    members = [m for m in members if len(m.x)]
    columns = ["x", "mean", "std", "min", "max", "n"]
    if not members:
        return pd.DataFrame(columns=columns)
    all_x = np.concatenate([np.asarray(m.x, dtype=float) for m in members])
    grid = np.unique(all_x)
    exact = len(grid) <= max_points
    if not exact:
        lo, hi = float(grid[0]), float(grid[-1])
        width = (hi - lo) / max_points or 1.0
        grid = lo + width * (np.arange(max_points) + 0.5)
    table = np.full((len(members), len(grid)), np.nan)
    for i, m in enumerate(members):
        x = np.asarray(m.x, dtype=float)
        y = np.asarray(m.y, dtype=float)
        if exact:
            pos = np.searchsorted(grid, x)
            table[i, pos] = y  # a step logged twice: the last value wins
        else:
            pos = np.minimum(((x - lo) / width).astype(int), max_points - 1)
            sums = np.bincount(pos, weights=np.where(np.isnan(y), 0.0, y), minlength=max_points)
            counts = np.bincount(pos, weights=~np.isnan(y), minlength=max_points)
            with np.errstate(invalid="ignore", divide="ignore"):
                table[i] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    n = np.sum(~np.isnan(table), axis=0)
    any_value = n > 0
    mean = np.full(len(grid), np.nan)
    std = np.full(len(grid), np.nan)
    low = np.full(len(grid), np.nan)
    high = np.full(len(grid), np.nan)
    cols = table[:, any_value]
    mean[any_value] = np.nanmean(cols, axis=0)
    low[any_value] = np.nanmin(cols, axis=0)
    high[any_value] = np.nanmax(cols, axis=0)
    centred = np.where(np.isnan(cols), 0.0, cols - mean[any_value])
    dof = np.maximum(n[any_value] - 1, 1)
    std[any_value] = np.sqrt(np.sum(centred**2, axis=0) / dof)
    return pd.DataFrame({"x": grid, "mean": mean, "std": std, "min": low, "max": high, "n": n})


def band_frame(label: str, band: pd.DataFrame, kind: str = "min-max", *, log_y: bool = False) -> pd.DataFrame:
    """Rows ``source, x, y, lo, hi, segment`` of a group: the mean line and its band
    (``min-max``, ``std`` = mean +- one std, or ``none``: lo = hi = mean)."""
    if kind not in BANDS:
        msg = f"band must be one of {', '.join(BANDS)}, got {kind!r}"
        raise ValueError(msg)
    mean = band["mean"].to_numpy(dtype=float)
    if kind == "min-max":
        lo, hi = band["min"].to_numpy(dtype=float), band["max"].to_numpy(dtype=float)
    elif kind == "std":
        std = np.nan_to_num(band["std"].to_numpy(dtype=float))
        lo, hi = mean - std, mean + std
        if log_y:  # a log axis cannot draw below zero: there the band starts at the group's minimum
            lo = np.where(lo > 0, lo, band["min"].to_numpy(dtype=float))
    else:
        lo, hi = mean, mean
    frame = line_frame(Line(label, band["x"].to_numpy(), mean))
    finite = ~np.isnan(mean)
    frame["lo"] = lo[finite]
    frame["hi"] = hi[finite]
    return frame


# ---- axes and the chart -------------------------------------------------------------------------

_TIME_UNITS = ((3600.0 * 48, "days", 86400.0), (3600.0 * 2, "hours", 3600.0), (120.0, "minutes", 60.0))


def relative_unit(max_seconds: float) -> tuple[str, float]:
    """The unit that relative times up to ``max_seconds`` read best in, and its seconds."""
    for bound, name, seconds in _TIME_UNITS:
        if max_seconds >= bound:
            return name, seconds
    return "seconds", 1.0


def x_values(steps: np.ndarray, times: np.ndarray, axis: str) -> np.ndarray:
    """The x of each point: the step, the wall time (epoch seconds) or seconds since the first point."""
    if axis == "step":
        return np.asarray(steps, dtype=float)
    times = np.asarray(times, dtype=float)
    if axis == "wall time":
        return times
    if axis == "relative time":
        return times - times[0] if len(times) else times
    msg = f"x axis must be one of {', '.join(X_AXES)}, got {axis!r}"
    raise ValueError(msg)


def chart(
    lines: pd.DataFrame,
    bands: pd.DataFrame,
    *,
    title: str,
    x_axis: str,
    log_y: bool = False,
    order: Sequence[str] = (),
    height: int = 260,
) -> alt.LayerChart | alt.FacetChart:  # what alt.layer is typed to return
    """One panel: run lines (colour by source, broken at gaps) and group bands with their mean."""
    x_title = x_axis
    x_type: Literal["quantitative", "temporal"] = "quantitative"
    lines, bands = lines.copy(), bands.copy()
    if x_axis == "wall time":
        x_type = "temporal"
        for frame in (lines, bands):
            if len(frame):
                frame["x"] = pd.to_datetime(frame["x"], unit="s", utc=True)
    elif x_axis == "relative time":
        biggest = max([float(f["x"].max()) for f in (lines, bands) if len(f)] or [0.0])
        unit, seconds = relative_unit(biggest if math.isfinite(biggest) else 0.0)
        x_title = f"relative time ({unit})"
        for frame in (lines, bands):
            if len(frame):
                frame["x"] = frame["x"] / seconds
    domain = list(order) or sorted({*lines.get("source", []), *bands.get("source", [])})
    colour = alt.Color(
        "source:N",
        scale=alt.Scale(domain=domain, scheme="tableau10"),
        legend=alt.Legend(title=None, orient="bottom", labelLimit=400),
    )
    y_scale = alt.Scale(type="log") if log_y else alt.Scale(zero=False)
    x_enc = alt.X("x", type=x_type, title=x_title)
    layers: list[alt.Chart] = []
    if len(bands):
        layers.append(
            alt.Chart(bands)
            .mark_area(opacity=0.2)
            .encode(x=x_enc, y=alt.Y("lo:Q", scale=y_scale, title=None), y2="hi:Q", color=colour, detail="segment:N")
        )
    tooltip: list[Any] = ["source:N", alt.Tooltip("x", type=x_type, title=x_title), "y:Q"]
    for frame, width, extra in ((bands, 2.0, ["lo:Q", "hi:Q"]), (lines, 1.5, [])):
        if len(frame):
            layers.append(
                alt.Chart(frame)
                .mark_line(strokeWidth=width)
                .encode(
                    x=x_enc,
                    y=alt.Y("y:Q", scale=y_scale, title=None),
                    color=colour,
                    detail="segment:N",
                    tooltip=tooltip + extra,
                )
            )
    if not layers:
        layers.append(alt.Chart(pd.DataFrame({"x": [], "y": []})).mark_line().encode(x="x:Q", y="y:Q"))
    return alt.layer(*layers).properties(title=title, height=height).interactive(bind_y=False)


def histogram_cells(entries: list[tuple[int, dict[str, Any]]]) -> pd.DataFrame:
    """One row per (step, bin): the bin's centre and count, for a step x bins heat map."""
    rows = []
    for step, ref in entries:
        edges, counts = ref.get("edges") or [], ref.get("counts") or []
        for i, count in enumerate(counts):
            rows.append({"step": step, "low": edges[i], "high": edges[i + 1], "count": count})
    return pd.DataFrame(rows, columns=["step", "low", "high", "count"])


def histogram_heatmap(key: str, entries: list[tuple[int, dict[str, Any]]]) -> alt.Chart:
    """Histograms over steps: x the step, y the bins, colour the count."""
    return (  # type: ignore[no-any-return]  # altair types mark_*() as Any
        alt.Chart(histogram_cells(entries), title=key)
        .mark_rect()
        .encode(
            x=alt.X("step:O", title="step"),
            y=alt.Y("low:Q", title="value", bin=alt.Bin(binned=True)),
            y2="high:Q",
            color=alt.Color("count:Q", scale=alt.Scale(scheme="viridis")),
            tooltip=["step:O", "low:Q", "high:Q", "count:Q"],
        )
        .properties(height=220)
    )
