"""What the Charts and Run pages draw, as plain functions: gaps, line segments, group bands as
frames, a robust y range, colours, and the Vega-Lite spec of a grid of panels.

No Streamlit here: the functions take the series engine's curves (``ledger.Series``,
``ledger.Band``: smoothing, downsampling and group bands are the library's, so the viewer
draws the same numbers as ``ledger plot`` and the publication report) and return pandas
frames and Vega-Lite specs. Non-finite values (and, on a log axis, values <= 0) are drawn as
gaps: :func:`line_frame` turns each gap into a break between line segments.

All panels of a page are one Vega-Lite chart (a ``concat``), so that they share one colour
scale (a run has the same colour in every panel) and one hover selection: pointing at a line
names the run, its step and value, and highlights that run in every panel. Each panel zooms
(wheel) and pans (drag) on its own; a double click resets it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Sequence

    import ledger

# The x axes as the page names them -> the series engine's.
X_AXES = {"step": "step", "wall time": "time", "relative time": "relative"}
BANDS = ("std", "min-max", "none")
DEFAULT_MAX_POINTS = 1000
# What the browser draws in one chart (Streamlit's Vega interprets its expressions, so each point
# costs): at most this many points over all panels and lines, fewer per line the more lines.
POINT_BUDGET = 25_000
MIN_POINTS = 16
HOVER_BUDGET = 2_000  # points per panel that answer the pointer (a subsample of its lines)
# Twenty colours that stay apart from each other on white (dark enough for thin lines).
PALETTE = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
    "#393b79", "#ad494a", "#637939", "#e6550d", "#7b4173", "#31a354", "#3182bd", "#843c39", "#d6616b", "#000000",
)  # fmt: skip
LEGEND_MAX = len(PALETTE)  # past this many colours the chart shows no legend (the page lists them)
PANEL_WIDTH = 860  # px across all the panels of a row, axes included (the main column at 1280 px)
AXES_PX = 60  # a panel's y axis labels and padding, outside its plotting width
SPACING = 24
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
BREAK = "break-paths-show-domains"  # a line mark's NaN rows break its path (gaps, and between runs)


def samples_for(lines: int, panels: int = 1) -> int:
    """Points per line for ``panels`` panels of ``lines`` lines: DEFAULT_MAX_POINTS for a few
    runs, fewer for many (within POINT_BUDGET; the downsampling keeps each bucket's min and
    max, so spikes and the shape stay)."""
    return int(max(MIN_POINTS, min(DEFAULT_MAX_POINTS, POINT_BUDGET // max(lines * panels, 1))))


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


def paths_frame(lines: Sequence[Line], colour_keys: Sequence[str]) -> pd.DataFrame:
    """Rows ``source, colour, x, y`` of many lines at once, in drawing order: each line's
    points (y NaN at its gaps), then one NaN row. The browser draws every line of one colour
    as one path broken at the NaN rows (between two runs, and at a run's gaps): a path per
    colour rather than per run, which keeps a chart of 500 runs quick to draw."""
    sources, keys, xs, ys = [], [], [], []
    for line, key in zip(lines, colour_keys, strict=True):
        y = np.asarray(line.y, dtype=float)
        if not len(y) or np.isnan(y).all():
            continue
        n = len(y) + 1
        sources.append(np.full(n, line.label, dtype=object))
        keys.append(np.full(n, key, dtype=object))
        xs.append(np.append(np.asarray(line.x, dtype=float), np.nan))
        ys.append(np.append(y, np.nan))
    if not xs:
        return pd.DataFrame({"source": [], "colour": [], "x": [], "y": []})
    return pd.DataFrame(
        {
            "source": np.concatenate(sources),
            "colour": np.concatenate(keys),
            "x": np.concatenate(xs),
            "y": np.concatenate(ys),
        }
    )


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


# ---- the y range, colours and axes -------------------------------------------------------------


def robust_range(values: Sequence[np.ndarray], *, log_y: bool = False) -> tuple[float, float] | None:
    """A y range that shows every ordinary line whole and ignores outliers: one run that
    diverges (its values far beyond the others'), one-step spikes. None when nothing would
    be cut (the full range is then the robust one).

    Per line, its min and max once up to 3 isolated spikes are set aside (a point further
    from the next one than 10 times that one's distance to the line's median); across
    lines, with four or more, a line whose extreme lies more than 3 interquartile ranges
    outside the others' extremes does not widen the range. Computed on log10 values on a
    log axis."""
    arrays = [np.asarray(v, dtype=float) for v in values]
    ids = np.repeat(np.arange(len(arrays)), [len(a) for a in arrays]) if arrays else np.empty(0, dtype=int)
    return robust_range_of(np.concatenate(arrays) if arrays else np.empty(0), ids, log_y=log_y)


def robust_range_of(values: np.ndarray, line: np.ndarray, *, log_y: bool = False) -> tuple[float, float] | None:
    """:func:`robust_range` of values labelled by their line's number (vectorised: a panel of
    500 runs costs no loop over its runs)."""
    keep = np.isfinite(values) & ((values > 0) if log_y else True)
    v, g = values[keep], line[keep]
    if not len(v):
        return None
    if log_y:
        v = np.log10(v)
    los, his = _extremes(v, g)
    if len(los) >= 4:
        his = his[his <= _fence(his, upper=True)]
        los = los[los >= _fence(los, upper=False)]
    lo, hi = float(los.min()), float(his.max())
    pad = (hi - lo) * 0.05 or abs(hi) * 0.05 or 0.5
    lo, hi = lo - pad, hi + pad
    if v.min() >= lo and v.max() <= hi:
        return None
    return (10**lo, 10**hi) if log_y else (lo, hi)


def _extremes(v: np.ndarray, line: np.ndarray, spikes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Each line's min and max, isolated spikes at either end set aside (see robust_range)."""
    order = np.lexsort((v, line))
    sv, sg = v[order], line[order]
    first = np.flatnonzero(np.r_[True, sg[1:] != sg[:-1]])  # each line's first sorted position
    last = np.r_[first[1:] - 1, len(sv) - 1]
    median = sv[(first + last) // 2]
    lo, hi = first.copy(), last.copy()
    for _ in range(spikes):
        room = hi - lo >= 5
        hi = np.where(room & (sv[hi] - sv[hi - 1] > 10 * (sv[hi - 1] - median) + 1e-12), hi - 1, hi)
        room = hi - lo >= 5
        lo = np.where(
            room & (sv[np.minimum(lo + 1, last)] - sv[lo] > 10 * (median - sv[np.minimum(lo + 1, last)]) + 1e-12),
            lo + 1,
            lo,
        )
    return sv[lo], sv[hi]


def _fence(extremes: np.ndarray, *, upper: bool) -> float:
    q1, median, q3 = np.percentile(extremes, [25, 50, 75])
    spread = max(q3 - q1, 0.1 * abs(median), 1e-12)
    return float(q3 + 3 * spread) if upper else float(q1 - 3 * spread)


def _panel_range(lines: pd.DataFrame, bands: pd.DataFrame, *, log_y: bool) -> tuple[float, float] | None:
    """The robust y range of a panel's lines and bands (each band's mean, lo and hi as lines)."""
    values, ids = [], []
    offset = 0
    for frame, columns in ((lines, ("y",)), (bands, ("y", "lo", "hi"))):
        if not len(frame):
            continue
        codes = pd.factorize(frame["source"])[0]
        for column in columns:
            values.append(frame[column].to_numpy(dtype=float))
            ids.append(codes + offset)
            offset += int(codes.max()) + 1
    if not values:
        return None
    return robust_range_of(np.concatenate(values), np.concatenate(ids), log_y=log_y)


def colours(keys: Sequence[str]) -> dict[str, str]:
    """A colour per key, in order: the 20 of PALETTE, then again (a page colours by group or
    column past 20 runs, so that no two lines that matter share one)."""
    return {key: PALETTE[i % len(PALETTE)] for i, key in enumerate(dict.fromkeys(keys))}


_TIME_UNITS = ((3600.0 * 48, "days", 86400.0), (3600.0 * 2, "hours", 3600.0), (120.0, "minutes", 60.0))


def relative_unit(max_seconds: float) -> tuple[str, float]:
    """The unit that relative times up to ``max_seconds`` read best in, and its seconds."""
    for bound, name, seconds in _TIME_UNITS:
        if max_seconds >= bound:
            return name, seconds
    return "seconds", 1.0


def hover_points(frame: pd.DataFrame, per_line: int) -> pd.DataFrame:
    """At most about ``per_line`` evenly spread points of each line (its first and last kept):
    what answers the pointer, so that a panel of 500 runs stays quick to point at."""
    if not len(frame):
        return frame
    groups = frame.groupby("source", sort=False)
    position = groups.cumcount().to_numpy()
    size = groups["source"].transform("size").to_numpy()
    stride = np.maximum(1, np.ceil(size / per_line)).astype(int)
    keep = (position % stride == 0) | (position == size - 1)
    kept: pd.DataFrame = frame[keep].reset_index(drop=True)
    return kept


# ---- panels ----------------------------------------------------------------------------------------


@dataclass
class Panel:
    """One panel: run lines and group bands (frames of :func:`line_frame`/:func:`band_frame`,
    with a ``colour`` column: the key the colour scale maps), and its robust y range."""

    title: str
    lines: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["source", "colour", "x", "y"]))
    bands: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["source", "colour", "x", "y"]))
    note: str = ""


def _x_frame(frame: pd.DataFrame, x_axis: str, seconds: float) -> pd.DataFrame:
    if not len(frame):
        return frame
    out = frame.copy()
    if x_axis == "wall time":
        out["x"] = out["x"] * 1000.0  # epoch milliseconds: Vega's time
    elif x_axis == "relative time":
        out["x"] = out["x"] / seconds
    return out


def _records(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    return frame[[c for c in columns if c in frame.columns]].reset_index(drop=True)


def grid_spec(  # noqa: PLR0913 (every setting of the page)
    panels: Sequence[Panel],
    *,
    x_axis: str = "step",
    log_y: bool = False,
    per_row: int = 2,
    outliers: bool = False,
    colour_keys: Sequence[str] = (),
    colour_title: str = "run",
    highlight: Sequence[str] = (),
    height: int = 260,
    width: int = PANEL_WIDTH,
) -> dict[str, Any]:
    """The Vega-Lite spec of ``panels`` in rows of ``per_row``: shared colours (``colour_keys``
    in order), one hover selection across panels (tooltip: the line, its x and y; the line
    drawn bold in every panel), zoom and pan per panel, the robust y range unless
    ``outliers``, and the lines named in ``highlight`` drawn bold over the others, faded.

    Nothing is computed per data point in the browser (Streamlit's Vega evaluates
    expressions with an interpreter): styles are constants, the highlights separate layers,
    and the hover works on a subsample of each line's points."""
    seconds = 1.0
    x_title = x_axis
    x_type = "temporal" if x_axis == "wall time" else "quantitative"
    if x_axis == "relative time":
        biggest = max([float(f["x"].max()) for p in panels for f in (p.lines, p.bands) if len(f)] or [0.0])
        unit, seconds = relative_unit(biggest if math.isfinite(biggest) else 0.0)
        x_title = f"relative time ({unit})"
    keys = list(dict.fromkeys(colour_keys))
    # Past LEGEND_MAX keys colours repeat: lines then go by their colour's slot, one path per slot.
    # Lines carry their colour as a small number (the browser decodes numbers faster than text): a
    # key's place among the keys, or past LEGEND_MAX keys, where colours repeat, its colour's slot.
    series = {k: i if len(keys) <= LEGEND_MAX else i % len(PALETTE) for i, k in enumerate(keys)}
    slots = len(set(series.values()))
    colour = {
        "field": "series",
        "type": "nominal",
        "title": colour_title,
        "scale": {"domain": list(range(slots)), "range": [PALETTE[i % len(PALETTE)] for i in range(slots)]},
        "legend": None
        if len(keys) > LEGEND_MAX or len(keys) < 2
        else {"orient": "bottom", "columns": 4, "labelLimit": 280, "symbolType": "stroke", "title": colour_title,
              "labelExpr": f"{json.dumps(keys)}[+datum.value]"},
    }  # fmt: skip
    lines_total = max(
        [len(set(p.lines.get("source", []))) + len(set(p.bands.get("source", []))) for p in panels] or [1]
    )
    by_source = all((f["colour"] == f["source"]).all() for p in panels for f in (p.lines, p.bands) if len(f))
    per_line = max(10, HOVER_BUDGET // max(lines_total, 1))
    width_each = max(200, (width - SPACING * (per_row - 1)) // max(per_row, 1) - AXES_PX)
    marked = set(highlight)
    base_opacity = 0.2 if marked else (0.85 if lines_total <= 50 else 0.6)
    base_width = 1.4 if lines_total <= 100 else 1.0
    datasets: dict[str, pd.DataFrame] = {}
    views: list[dict[str, Any]] = []
    hover_views: list[str] = []

    def mark(kind: str, **props: Any) -> dict[str, Any]:
        return {"type": kind, "clip": True, "invalid": None, **props}  # invalid: data holds finite numbers only

    for i, panel in enumerate(panels):
        lines = _x_frame(panel.lines, x_axis, seconds)
        bands = _x_frame(panel.bands, x_axis, seconds)
        for frame in (lines, bands):
            if len(frame):
                frame["series"] = frame["colour"].map(series).fillna(0).astype("int16")
        y_values = [g["y"].to_numpy() for _, g in lines.groupby("source")] if len(lines) else []
        y_values += (
            [g[c].to_numpy() for _, g in bands.groupby("source") for c in ("y", "lo", "hi")] if len(bands) else []
        )
        domain = None if outliers else robust_range(y_values, log_y=log_y)
        y_scale: dict[str, Any] = {"type": "log"} if log_y else {"zero": False}
        if domain is not None:
            y_scale["domain"] = list(domain)
        x_enc = {"field": "x", "type": x_type, "title": x_title}
        y_enc = {"field": "y", "type": "quantitative", "title": None, "scale": y_scale}
        layers: list[dict[str, Any]] = []

        if len(bands):
            datasets[f"bands{i}"] = _records(bands, ["source", "series", "x", "y", "lo", "hi", "n", "segment"])
            data = {"name": f"bands{i}"}
            detail = {"field": "segment", "type": "nominal"}
            layers.append({"data": data, "mark": mark("area", opacity=0.18),
                           "encoding": {"x": x_enc, "y": {**y_enc, "field": "lo"}, "y2": {"field": "hi"},
                                        "color": colour, "detail": detail}})  # fmt: skip
            layers.append({"name": f"means{i}", "data": data, "mark": mark("line", strokeWidth=2.4, opacity=0.95),
                           "encoding": {"x": x_enc, "y": y_enc, "color": colour, "detail": detail}})  # fmt: skip
        paths = {"x": x_enc, "y": y_enc, "color": colour, "order": {"value": None}}  # data order: runs stay apart
        if len(lines):
            datasets[f"lines{i}"] = _records(lines, ["series", "x", "y"])
            layers.append({"name": f"lines{i}", "data": {"name": f"lines{i}"},
                           "mark": mark("line", strokeWidth=base_width, opacity=base_opacity, invalid=BREAK),
                           "encoding": paths})  # fmt: skip
            bold = lines[lines["source"].isin(marked)] if marked else lines.iloc[:0]
            if len(bold):
                datasets[f"marked{i}"] = _records(bold, ["series", "x", "y"])
                layers.append({"data": {"name": f"marked{i}"}, "mark": mark("line", strokeWidth=2.6, invalid=BREAK),
                               "encoding": paths})  # fmt: skip
        hover_columns = ["source", "series", *([] if by_source else ["colour"]), "x", "y"]
        points = pd.concat(
            [
                hover_points(_records(f.dropna(subset=["y"]), [*hover_columns, "n"]), per_line)
                for f in (lines, bands)
                if len(f)
            ]
            or [pd.DataFrame({c: [] for c in hover_columns})],
            ignore_index=True,
        )
        datasets[f"hover{i}"] = points
        x_tip: dict[str, Any] = {"field": "x", "type": x_type, "title": x_title}
        if x_type == "temporal":
            x_tip["format"] = TIME_FORMAT
        tooltip: list[dict[str, Any]] = [
            {"field": "source", "type": "nominal", "title": "run" if colour_title == "run" else "line"},
            x_tip,
            {"field": "y", "type": "quantitative", "title": panel.title, "format": ".5~g"},
        ]
        if not by_source:
            tooltip.append({"field": "colour", "type": "nominal", "title": colour_title})
        if "n" in points.columns and points["n"].isna().any():
            points["n"] = points["n"].fillna(1)
        if "n" in points.columns:
            tooltip.append({"field": "n", "type": "quantitative", "title": "runs at this point"})
        layers.append({"name": f"hover{i}", "data": {"name": f"hover{i}"}, "mark": mark("circle", size=40, opacity=0),
                       "encoding": {"x": x_enc, "y": y_enc, "tooltip": tooltip}})  # fmt: skip
        hovered = [{"filter": {"param": "hover", "empty": False}}]  # the pointed-at line, bold in every panel
        one_line = {"x": x_enc, "y": y_enc, "color": colour, "detail": {"field": "source"}}
        layers.append({"data": {"name": f"hover{i}"}, "transform": hovered, "mark": mark("line", strokeWidth=3.2),
                       "encoding": one_line})  # fmt: skip
        hover_views.append(f"hover{i}")
        layers[0]["params"] = [{"name": f"zoom{i}", "select": {"type": "interval"}, "bind": "scales"}]
        title: dict[str, Any] = {"text": panel.title, "anchor": "start", "fontSize": 13}
        if panel.note:
            title["subtitle"] = panel.note
        views.append({"title": title, "width": width_each, "height": height, "layer": layers})
    params: list[dict[str, Any]] = [
        {
            "name": "hover",
            "select": {"type": "point", "fields": ["source"], "on": "pointerover", "clear": "pointerout",
                       "nearest": True},
            "views": hover_views,
        },
    ]  # fmt: skip
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "datasets": datasets,
        "params": params,
        "concat": views,
        "columns": per_row,
        "spacing": SPACING,
        "resolve": {"scale": {"x": "independent", "y": "independent", "color": "shared"}},
        "autosize": {"type": "pad"},
        # canvas, and no ARIA attributes per mark item: both cost per point in the browser
        "usermeta": {"embedOptions": {"renderer": "canvas"}, "colour_keys": keys},  # keys: what series n means
        "config": {
            "axis": {"labelFontSize": 11, "titleFontSize": 11},
            "legend": {"labelFontSize": 11},
            "mark": {"aria": False},
        },
    }


def histogram_cells(entries: list[tuple[int, dict[str, Any]]]) -> pd.DataFrame:
    """One row per (step, bin): the bin's centre and count, for a step x bins heat map."""
    rows = []
    for step, ref in entries:
        edges, counts = ref.get("edges") or [], ref.get("counts") or []
        for i, count in enumerate(counts):
            rows.append({"step": step, "low": edges[i], "high": edges[i + 1], "count": count})
    return pd.DataFrame(rows, columns=["step", "low", "high", "count"])


def histogram_spec(key: str, entries: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    """Histograms over steps: x the step, y the bins, colour the count."""
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "title": key,
        "height": 220,
        "data": {"name": "cells"},
        "datasets": {"cells": histogram_cells(entries)},
        "mark": "rect",
        "encoding": {
            "x": {"field": "step", "type": "ordinal", "title": "step"},
            "y": {"field": "low", "type": "quantitative", "title": "value", "bin": {"binned": True}},
            "y2": {"field": "high"},
            "color": {"field": "count", "type": "quantitative", "scale": {"scheme": "viridis"}},
            "tooltip": [
                {"field": "step", "type": "ordinal"},
                {"field": "low", "type": "quantitative"},
                {"field": "high", "type": "quantitative"},
                {"field": "count", "type": "quantitative"},
            ],
        },
    }


# ---- the Run page's system charts ----------------------------------------------------------------------

_SYSTEM_GROUPS = (
    ("CPU (%)", ("cpu/percent", "cpu/process_percent")),
    ("Memory (%)", ("memory/percent",)),
    ("Process memory (GB)", ("memory/process_rss_gb",)),
    ("GPU utilisation (%)", ("gpu/*/utilization_percent",)),
    ("GPU memory (%)", ("gpu/*/memory_percent",)),
    ("GPU memory used (GB)", ("gpu/*/memory_used_gb",)),
    ("GPU power (W)", ("gpu/*/power_w",)),
    ("GPU temperature (°C)", ("gpu/*/temperature_c",)),
    ("Disk (MB/s)", ("disk/*",)),
    ("Network (MB/s)", ("net/*",)),
)


def system_panels(names: Sequence[str]) -> list[tuple[str, list[str]]]:
    """The system metrics a run sampled, grouped into readable panels: CPU, memory, GPU
    utilisation and memory with one line per GPU, disk, network; any other name alone."""
    import fnmatch  # noqa: PLC0415

    left = list(names)
    out = []
    for title, patterns in _SYSTEM_GROUPS:
        found = [n for n in left if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
        if found:
            out.append((title, found))
            left = [n for n in left if n not in found]
    out += [(n, [n]) for n in left]
    return out


def system_label(name: str) -> str:
    """A system metric's name in its panel's legend: ``gpu/1/utilization_percent`` -> ``GPU 1``."""
    parts = name.split("/")
    if len(parts) == 3 and parts[0] == "gpu":
        return f"GPU {parts[1]}"
    return name
