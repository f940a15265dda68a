"""Charts: one panel per metric for the selected runs (lines) and groups (mean and band)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st

from viewer import charts, data, ui

if TYPE_CHECKING:
    import ledger

MAX_RUN_LINES = 60

src = data.source()
st.title("Charts")
ss = st.session_state
run_ids, groups = ui.selected_runs(), ui.selected_groups()
if not run_ids and not groups:
    ui.need_selection("runs or groups")
    st.stop()

runs = data.runs(src, run_ids)
if len(runs) > MAX_RUN_LINES:
    st.warning(f"{len(runs)} runs selected: drawing the first {MAX_RUN_LINES} (chart groups to see them all).")
    runs = runs[:MAX_RUN_LINES]
members = {label: data.runs(src, ids) for label, ids in groups.items()}
everyone = runs + [r for rs in members.values() for r in rs]
any_running = any(r.status == "running" for r in everyone)
interval = float(ss.get("refresh_s", 10))

keys: dict[str, None] = {}
for r in everyone:
    keys.update(dict.fromkeys(data.series_keys(src, r, tick_=data.tick(interval))))
metric_options = sorted(keys)
if not metric_options:
    st.info("The selected runs have no metrics logged yet.")
    st.stop()
if "c_metrics" not in ss or not set(ss["c_metrics"]) <= set(metric_options):
    ss["c_metrics"] = [m for m in ss.get("c_metrics", []) if m in metric_options] or metric_options[:4]

st.multiselect("Metrics", metric_options, key="c_metrics", persist_state=ui.KEPT)
controls = st.columns([3, 2, 1, 2, 1])
controls[0].radio("x axis", list(charts.X_AXES), key="c_x", persist_state=ui.KEPT, horizontal=True)
controls[1].slider("Smoothing (EMA)", 0.0, 0.99, step=0.01, key="c_smoothing", persist_state=ui.KEPT)
controls[2].toggle("Log y", key="c_log", persist_state=ui.KEPT)
controls[3].radio("Group band", charts.BANDS, key="c_band", persist_state=ui.KEPT, horizontal=True, disabled=not groups)
controls[4].selectbox("Per row", (1, 2, 3, 4), key="c_grid", persist_state=ui.KEPT)

x_axis, smoothing, log_y = ss["c_x"], float(ss["c_smoothing"]), bool(ss["c_log"])
band_kind, per_row, metrics = ss["c_band"], int(ss["c_grid"]), list(ss["c_metrics"])
view = data.View(x=charts.X_AXES[x_axis], samples=charts.DEFAULT_MAX_POINTS, smoothing=smoothing)
run_labels = [data.label(r) for r in runs]
group_labels = [f"{label} ({len(rs)} runs)" for label, rs in members.items()]
order = run_labels + group_labels


def non_finite(curve: ledger.Series) -> int:
    return int(np.sum(~np.isfinite(curve.y)))


@st.fragment(run_every=ui.refresh_every(any_running))
def panels() -> None:
    tick = data.tick(interval)
    row = st.columns(per_row)
    for i, metric in enumerate(metrics):
        if i and i % per_row == 0:
            row = st.columns(per_row)
        lines, bands, gaps = [], [], 0
        for run, label in zip(runs, run_labels, strict=True):
            curve = data.curve(src, run, metric, view, tick)
            if len(curve.x):
                gaps += non_finite(curve)
                lines.append(charts.line_frame(charts.line_of(label, curve, log_y=log_y)))
        for rs, shown_label in zip(members.values(), group_labels, strict=True):
            curves = [c for c in (data.curve(src, r, metric, view, tick) for r in rs) if len(c.x)]
            if not curves:
                continue
            gaps += sum(non_finite(c) for c in curves)
            if x_axis == "wall time":  # runs of a group ran at different times: draw each, no band
                lines += charts.member_frames([charts.line_of(shown_label, c, log_y=log_y) for c in curves])
                continue
            group_band = data.band(src, rs, metric, view, tick)
            bands.append(charts.band_frame(shown_label, group_band, band_kind, log_y=log_y))
        line_data = pd.concat(lines, ignore_index=True) if lines else pd.DataFrame(columns=["source", "x", "y"])
        band_data = pd.concat(bands, ignore_index=True) if bands else pd.DataFrame(columns=["source", "x", "y"])
        with row[i % per_row]:
            st.altair_chart(
                charts.chart(line_data, band_data, title=metric, x_axis=x_axis, log_y=log_y, order=order),
                width="stretch",
            )
            if gaps:
                st.caption(f"{gaps} NaN/Inf points drawn as gaps")
            if members and x_axis == "wall time":
                st.caption("On a wall-time axis a group is drawn run by run, without a band.")


panels()
