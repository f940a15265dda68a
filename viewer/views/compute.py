"""Compute: hours, GPU hours and cost by project, group, user, GPU model, job type or host,
month by month (stacked, in date order); and the storage the runs take."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import ledger
from viewer import data, lineage, tables, ui

BY = {
    "project": "project",
    "group": "group",
    "user": "user",
    "gpu": "GPU model",
    "job_type": "job type",
    "host": "host",
}
MEASURES = {"hours": "hours", "gpu_hours": "GPU hours", "cost": "cost ($)"}
TOP = 12  # keys drawn in their own colour; the rest stacked as "(other)"

src = data.source()
st.title("Compute")
ss = st.session_state
filters = ui.filters()
scope = st.toggle("Only the runs the Runs page filters select", value=True, key="cu_filtered")
if not scope:
    filters = data.Filters()
try:
    data.select(src, filters)
except ledger.FilterError:  # the Runs page says why
    st.warning("The Runs page's where filter does not parse: counting all runs of the other filters.")
    filters = data.Filters(
        filters.project, filters.groups, filters.job_types, filters.tags, filters.statuses, users=filters.users
    )
if ss.get("cu_by") not in BY:
    ss["cu_by"] = "group"
if ss.get("cu_measure") not in MEASURES:
    ss["cu_measure"] = "hours"
top = st.columns([4, 2, 1, 1])
top[0].radio("By", list(BY), key="cu_by", persist_state=ui.KEPT, horizontal=True, format_func=BY.get)
top[1].radio("Show", list(MEASURES), key="cu_measure", persist_state=ui.KEPT, horizontal=True, format_func=MEASURES.get)
top[2].number_input("$ per GPU hour", min_value=0.0, step=0.1, key="cu_gpu_price", persist_state=ui.KEPT)
top[3].number_input(
    "$ per CPU hour",
    min_value=0.0,
    step=0.1,
    key="cu_hour_price",
    persist_state=ui.KEPT,
    help="An hour of a run without GPUs (as `ledger stats --price cpu=...` prices it)",
)
by, measure = str(ss["cu_by"]), str(ss["cu_measure"])
gpu_price, cpu_price = float(ss.get("cu_gpu_price") or 0.0), float(ss.get("cu_hour_price") or 0.0)
prices = {"gpu": gpu_price, "cpu": cpu_price} if gpu_price or cpu_price else None

monthly = data.compute_by_month(src, filters, by, prices)
totals = monthly.groupby(by, sort=False)[["runs", "hours", "gpu_hours", "cost"]].sum()
totals = totals.sort_values(measure, ascending=False)
st.caption(
    f"{int(totals['runs'].sum()):,} runs · {totals['hours'].sum():,.1f} hours"
    f" · {totals['gpu_hours'].sum():,.1f} GPU hours"
    + (f" · {totals['cost'].sum():,.2f} $" if prices else " · set a price to see the cost")
)
shown_keys = list(totals.index[:TOP])
chart_rows = monthly.assign(key=[k if k in shown_keys else "(other)" for k in monthly[by]])
chart_rows = chart_rows.groupby(["month", "key"], sort=False, as_index=False)[
    ["runs", "hours", "gpu_hours", "cost"]
].sum()
months = sorted(chart_rows["month"].unique(), key=lambda m: (m == "(unknown)", m))
st.vega_lite_chart(
    {
        "height": 320,
        "data": {"name": "monthly"},
        "datasets": {"monthly": chart_rows},
        "mark": {"type": "bar", "tooltip": True},
        "encoding": {
            "x": {"field": "month", "type": "ordinal", "sort": months, "title": "month"},
            "y": {"field": measure, "type": "quantitative", "title": MEASURES[measure], "stack": "zero"},
            "color": {"field": "key", "type": "nominal", "title": BY[by], "sort": [*shown_keys, "(other)"]},
            "order": {"field": measure, "type": "quantitative", "sort": "descending"},
            "tooltip": [
                {"field": "month", "type": "ordinal"},
                {"field": "key", "type": "nominal", "title": BY[by]},
                {"field": "runs", "type": "quantitative"},
                {"field": "hours", "type": "quantitative", "format": ",.2f"},
                {"field": "gpu_hours", "type": "quantitative", "format": ",.2f", "title": "GPU hours"},
                {"field": "cost", "type": "quantitative", "format": ",.2f", "title": "cost ($)"},
            ],
        },
    },
    width="stretch",
)
table = totals.reset_index()
by_month = monthly.pivot_table(index=by, columns="month", values=measure, aggfunc="sum", fill_value=0.0)
table = table.merge(by_month[[m for m in months if m in by_month.columns]], left_on=by, right_index=True, how="left")
st.dataframe(
    table.round(2),
    hide_index=True,
    width="stretch",
    column_config={by: st.column_config.TextColumn(BY[by], pinned=True)},
)
st.caption(f"One row per {BY[by]}, largest first; a column per month holds its {MEASURES[measure]}.")

st.subheader("Storage")
root_usage = lineage.storage_summary(src)
if isinstance(root_usage, str):
    st.caption(f"The root's size and quota could not be read: {ui.escape(root_usage)}")
else:
    said, share = lineage.quota_line(root_usage)
    if share is None:
        st.caption(f"The root: {said}")
    else:
        st.progress(min(share, 1.0), text=f"The root: {said}")
        if share > 1:
            st.warning("The root holds more than its quota: `ledger du` shows what takes space.")
    if (artifacts_said := lineage.artifacts_line(root_usage)) is not None:
        st.caption(artifacts_said)
st.caption("What takes space on disk (the same as `ledger du`), largest first.")
usage_by = st.radio("By", ("project", "group", "kind", "run"), horizontal=True, key="du_by")
usage = data.disk_usage(src, usage_by, filters.project)
usage[usage_by] = [tables.NONE if pd.isna(v) else str(v) for v in usage[usage_by]]
usage["MB"] = (usage["bytes"] / 2**20).round(3)
st.vega_lite_chart(
    {
        "height": max(120, 24 * min(len(usage), 30)),
        "data": {"name": "usage"},
        "datasets": {"usage": usage.head(30)},
        "mark": "bar",
        "encoding": {
            "y": {"field": usage_by, "type": "nominal", "sort": "-x", "title": usage_by},
            "x": {"field": "MB", "type": "quantitative", "title": "MB"},
            "tooltip": [{"field": usage_by}, {"field": "MB"}, {"field": "files"}, {"field": "runs"}],
        },
    },
    width="stretch",
)
st.dataframe(usage, hide_index=True, width="stretch")
