"""What the Charts page draws, as plain functions: gaps, line segments, group bands as frames.

No Streamlit here: the functions take the series engine's curves (``ledger.Series``,
``ledger.Band``: smoothing, downsampling and group bands are the library's, so the viewer
draws the same numbers as ``ledger plot`` and the publication report) and return pandas
frames for Altair. Non-finite values (and, on a log axis, values <= 0) are drawn as gaps:
:func:`line_frame` turns each gap into a break between line segments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import altair as alt
import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Sequence

    import ledger

# The x axes as the page names them -> the series engine's.
X_AXES = {"step": "step", "wall time": "time", "relative time": "relative"}
BANDS = ("min-max", "std", "none")
DEFAULT_MAX_POINTS = 1000


@dataclass(frozen=True)
class Line:
    """One line to draw: a run's metric (or a group member's), x ascending, NaN = gap."""

    label: str
    x: np.ndarray
    y: np.ndarray


def gaps(y: np.ndarray, *, log_y: bool = False) -> np.ndarray:
    """``y`` as floats with NaN, +-Inf (and values <= 0 on a log axis) turned into NaN."""
    out = np.asarray(y, dtype=float).copy()
    bad = ~np.isfinite(out)
    if log_y:
        bad |= out <= 0
    out[bad] = np.nan
    return out


def line_of(label: str, curve: ledger.Series, *, log_y: bool = False) -> Line:
    """A run's curve as a line to draw (gaps marked)."""
    return Line(label, np.asarray(curve.x), gaps(curve.y, log_y=log_y))


def line_frame(line: Line) -> pd.DataFrame:
    """Rows ``source, x, y, segment`` of the line's finite points; each run of points
    between two gaps has its own ``segment``, so the chart breaks the line there."""
    y = np.asarray(line.y, dtype=float)
    nan = np.isnan(y)
    segment = np.cumsum(nan)
    return pd.DataFrame(
        {"source": line.label, "x": np.asarray(line.x)[~nan], "y": y[~nan], "segment": segment[~nan]}
    ).reset_index(drop=True)


def member_frames(members: Sequence[Line]) -> list[pd.DataFrame]:
    """A group drawn run by run under the group's label: each member its own segments, so
    the lines of two runs are never joined."""
    frames = []
    offset = 0
    for member in members:
        frame = line_frame(member)
        frame["segment"] += offset
        offset = int(frame["segment"].max()) + 1 if len(frame) else offset
        frames.append(frame)
    return frames


def band_frame(label: str, band: ledger.Band, kind: str = "min-max", *, log_y: bool = False) -> pd.DataFrame:
    """Rows ``source, x, y, lo, hi, n, segment`` of a group: the series engine's mean line and
    its band (``min-max``, ``std`` = mean +- one std, or ``none``: lo = hi = mean)."""
    if kind not in BANDS:
        msg = f"band must be one of {', '.join(BANDS)}, got {kind!r}"
        raise ValueError(msg)
    mean = np.asarray(band.mean, dtype=float)
    if kind == "min-max":
        lo, hi = np.asarray(band.min, dtype=float), np.asarray(band.max, dtype=float)
    elif kind == "std":
        std = np.nan_to_num(np.asarray(band.std, dtype=float))  # one run at a point: no band there
        lo, hi = mean - std, mean + std
        if log_y:  # a log axis cannot draw below zero: there the band starts at the group's minimum
            lo = np.where(lo > 0, lo, np.asarray(band.min, dtype=float))
    else:
        lo, hi = mean, mean
    line = Line(label, np.asarray(band.x), gaps(mean, log_y=log_y))
    frame = line_frame(line)
    drawn = ~np.isnan(line.y)
    frame["lo"] = lo[drawn]
    frame["hi"] = hi[drawn]
    frame["n"] = np.asarray(band.n)[drawn]
    return frame


# ---- axes and the chart -------------------------------------------------------------------------

_TIME_UNITS = ((3600.0 * 48, "days", 86400.0), (3600.0 * 2, "hours", 3600.0), (120.0, "minutes", 60.0))


def relative_unit(max_seconds: float) -> tuple[str, float]:
    """The unit that relative times up to ``max_seconds`` read best in, and its seconds."""
    for bound, name, seconds in _TIME_UNITS:
        if max_seconds >= bound:
            return name, seconds
    return "seconds", 1.0


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
    for frame, width, extra in ((bands, 2.0, ["lo:Q", "hi:Q", "n:Q"]), (lines, 1.5, [])):
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
