"""Charts: a panel per metric for the selected (or the filtered) runs: one line per run, or,
grouped by any column, one mean with its band per group; selected groups as bands too."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st

import ledger
from viewer import charts, data, state, tables, ui

if TYPE_CHECKING:
    from collections.abc import Sequence

MAX_LINES = 1000  # runs drawn one by one at most (group them to see more)
MAX_DEFAULT_METRICS = 12
SOURCES = {"selection": "Selected runs and groups", "filtered": "The runs the Runs page filters select"}
COLOUR_AUTO = "auto"

src = data.source()
st.title("Charts")
ss = st.session_state
interval = float(ss.get("refresh_s", 10))
now = data.tick(interval)

# ---- which runs ---------------------------------------------------------------------------------
selected_ids, selected_groups = ui.selected_runs(), ui.selected_groups(src)
if ss.get("c_source") not in SOURCES:
    ss["c_source"] = "selection"
if ss["c_source"] == "selection" and not selected_ids and not selected_groups:
    ss["c_source"] = "filtered"
st.radio("Chart", list(SOURCES), key="c_source", persist_state=ui.KEPT, horizontal=True, format_func=SOURCES.get)
filters = ui.filters()
try:
    filtered = data.select(src, filters, "-created") if ss["c_source"] == "filtered" else ledger.RunSet([])
except ledger.FilterError:
    st.warning("The Runs page's where filter does not parse; fix it there.")
    filtered = ledger.RunSet([])
if ss["c_source"] == "filtered":
    runs = list(filtered[:MAX_LINES])
    band_groups: dict[str, list[ledger.RunView]] = {}
    if len(filtered) > MAX_LINES:
        st.warning(f"{len(filtered):,} runs: charting the newest {MAX_LINES:,} (narrow the filters or group them).")
else:
    runs = data.runs(src, selected_ids)
    band_groups = {label: data.runs(src, ids) for label, ids in selected_groups.items()}
if not runs and not band_groups:
    ui.need_selection("runs or groups") if ss["c_source"] == "selection" else st.info("No run matches the filters.")
    st.stop()

everyone = list({r.id: r for r in [*runs, *(r for rs in band_groups.values() for r in rs)]}.values())
any_running = any(r.status == "running" for r in everyone)
metric_options = data.metric_names(src, everyone, now)
if not metric_options:
    st.info("These runs have no metrics logged yet.")
    st.stop()
if "c_metrics" not in ss:
    wanted = [m.removeprefix("summary.") for m in data.key_metrics(src, ui.project())]
    ordered = [*(m for m in wanted if m in metric_options), *metric_options]
    ss["c_metrics"] = list(dict.fromkeys(ordered))[:MAX_DEFAULT_METRICS]
ss["c_metrics"] = [m for m in ss["c_metrics"] if m in metric_options]

# ---- settings -------------------------------------------------------------------------------------
groupable = tables.groupable(data.runs_table(src).columns)
ss["c_group_by"] = [c for c in ss.get("c_group_by", []) if c in groupable][:2]
top = st.columns([4, 3])
top[0].multiselect(
    "Metrics", metric_options, key="c_metrics", persist_state=ui.KEPT, on_change=state.choose, args=("c_metrics",)
)
top[1].multiselect(
    "Group by",
    groupable,
    key="c_group_by",
    persist_state=ui.KEPT,
    max_selections=2,
    help="One mean and band per value (of two columns: per pair of values), instead of a line per run.",
)
controls = st.columns([3, 3, 3, 2, 2])
controls[0].radio("x axis", list(charts.X_AXES), key="c_x", persist_state=ui.KEPT, horizontal=True)
controls[1].slider("Smoothing (EMA)", 0.0, 0.99, step=0.01, key="c_smoothing", persist_state=ui.KEPT)
if ss.get("c_band") not in charts.BANDS:
    ss["c_band"] = charts.BANDS[0]
controls[2].radio("Group band", charts.BANDS, key="c_band", persist_state=ui.KEPT, horizontal=True)
if ss.get("c_grid") not in (1, 2, 3):
    ss["c_grid"] = 2
controls[3].selectbox("Panels per row", (1, 2, 3), key="c_grid", persist_state=ui.KEPT)
with controls[4]:
    st.toggle("Log y", key="c_log", persist_state=ui.KEPT)
    st.toggle("Outliers", key="c_outliers", persist_state=ui.KEPT, help="Show the full y range, outliers too.")

x_axis, smoothing, log_y = str(ss["c_x"]), float(ss["c_smoothing"]), bool(ss["c_log"])
band_kind, per_row, metrics = str(ss["c_band"]), int(ss["c_grid"]), list(ss["c_metrics"])
group_by = list(ss["c_group_by"])

# ---- what is drawn: lines and groups ---------------------------------------------------------------
if group_by:
    for group in tables.grouped(ledger.RunSet(runs), group_by):
        band_groups[group.label] = list(group.runs)
    runs = []
labels = [data.label(r) for r in runs]
group_labels = [f"{label} ({len(rs)} runs)" for label, rs in band_groups.items()]
colour_options = [COLOUR_AUTO, "run", *(c for c in groupable if c != "run")]
if ss.get("c_colour") not in colour_options:
    ss["c_colour"] = COLOUR_AUTO


def run_colour_key(run: ledger.RunView, field: str, fallback: str) -> str:
    if field == "run":
        return fallback
    return tables.text(run.get(field)) or tables.NONE


colour_by = str(ss["c_colour"])
if colour_by == COLOUR_AUTO:
    distinct_groups = {r.group for r in runs}
    colour_by = "group" if len(runs) > charts.LEGEND_MAX and 1 < len(distinct_groups) <= charts.LEGEND_MAX else "run"
line_keys = [run_colour_key(r, colour_by, lab) for r, lab in zip(runs, labels, strict=True)]
colour_keys = [*line_keys, *group_labels]
colour_title = "run" if colour_by == "run" and not group_labels else ("line" if colour_by == "run" else colour_by)
samples = charts.samples_for(len(runs) + len(group_labels), max(len(metrics), 1))
line_view = data.View(x=charts.X_AXES[x_axis], samples=samples, smoothing=smoothing)
band_view = data.View(x=charts.X_AXES[x_axis], samples=charts.DEFAULT_MAX_POINTS, smoothing=smoothing)


def non_finite(curves: Sequence[ledger.Series]) -> int:
    return sum(int(np.sum(~np.isfinite(c.y))) for c in curves)


def panel(metric: str, tick: int) -> charts.Panel:
    curves = data.curves(src, runs, metric, line_view, tick) if runs else []
    lines = [charts.line_of(lab, c, log_y=log_y) for lab, c in zip(labels, curves, strict=True)]
    gaps = non_finite(curves)
    member_lines: list[charts.Line] = []
    member_keys: list[str] = []
    bands = []
    offset = 0
    for members, shown in zip(band_groups.values(), group_labels, strict=True):
        if x_axis == "wall time":  # runs of a group ran at different times: each drawn, no band
            for c in data.curves(src, members, metric, line_view, tick):
                member_lines.append(charts.line_of(shown, c, log_y=log_y))
                member_keys.append(shown)
            continue
        group_band = data.band(src, members, metric, band_view, tick)
        if group_band.runs:
            frame = charts.band_frame(shown, group_band, band_kind, log_y=log_y)
            frame["colour"] = shown
            frame["segment"] += offset  # every group's segments apart from the others'
            offset = int(frame["segment"].max()) + 1 if len(frame) else offset
            bands.append(frame)
    line_data = charts.paths_frame([*lines, *member_lines], [*line_keys, *member_keys])
    band_data = pd.concat(bands, ignore_index=True) if bands else charts.Panel("").bands
    note = f"{gaps} NaN/Inf points drawn as gaps" if gaps else ""
    return charts.Panel(metric, line_data, band_data, note)


# ---- legend and highlight ----------------------------------------------------------------------------
distinct = list(dict.fromkeys(colour_keys))
palette = charts.colours(distinct)
with st.expander(
    f"Legend: {len(labels)} runs, {len(group_labels)} groups, coloured by {colour_title}"
    + (" (colours repeat past 20: colour by a column)" if len(distinct) > charts.LEGEND_MAX else ""),
    expanded=len(distinct) > charts.LEGEND_MAX,
):
    left, right = st.columns([1, 2])
    left.selectbox("Colour by", colour_options, key="c_colour", persist_state=ui.KEPT)
    right.text_input(
        "Highlight runs whose name contains",
        key="c_highlight",
        persist_state=ui.KEPT,
        placeholder="part of a name, or a regular expression",
    )
    legend = pd.DataFrame(
        {
            "colour": [palette[k] for k in colour_keys],
            "line": [*labels, *group_labels],
            colour_title if colour_title not in ("run", "line") else "key": colour_keys,
        }
    )
    st.dataframe(
        legend.style.map(lambda c: f"background-color: {c}; color: {c}", subset=["colour"]),
        hide_index=True,
        height=min(35 * (len(legend) + 1) + 3, 320),
        column_config={"colour": st.column_config.TextColumn(" ", width="small")},
    )
needle = str(ss.get("c_highlight") or "").strip()
try:
    pattern = re.compile(needle, re.IGNORECASE) if needle else None
except re.error:
    pattern = re.compile(re.escape(needle), re.IGNORECASE)
highlight = [lab for lab in [*labels, *group_labels] if pattern is not None and pattern.search(lab)]


@st.fragment(run_every=ui.refresh_every(any_running))
def draw() -> None:
    tick = data.tick(interval)
    if not metrics:
        st.info("Pick metrics to chart.")
        return
    spec = charts.grid_spec(
        [panel(metric, tick) for metric in metrics],
        x_axis=x_axis,
        log_y=log_y,
        per_row=per_row,
        outliers=bool(ss.get("c_outliers")),
        colour_keys=colour_keys,
        colour_title=colour_title,
        highlight=highlight,
        height=300 if per_row == 1 else 260,
    )
    st.vega_lite_chart(spec, width="content")
    st.caption(
        "Point at a line to name it and see it in every panel; scroll to zoom, drag to pan, double-click to reset."
        + ("" if ss.get("c_outliers") else " The y range ignores outliers (toggle Outliers to see all).")
        + (
            " On a wall-time axis a group is drawn run by run, without a band."
            if band_groups and x_axis == "wall time"
            else ""
        )
    )


draw()
