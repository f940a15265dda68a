"""Compute: hours and GPU hours by group, job_type, user, host or month, what they cost, and the
storage the runs take."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

import ledger
from viewer import data, ui

BY = ("group", "job_type", "user", "host", "month")

src = data.source()
st.title("Compute")
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
left, mid, right = st.columns([3, 1, 1])
by = left.radio("By", BY, horizontal=True, key="cu_by")
gpu_price = mid.number_input("$ per GPU hour", min_value=0.0, value=0.0, step=0.1, key="cu_gpu_price")
hour_price = right.number_input("$ per hour", min_value=0.0, value=0.0, step=0.1, key="cu_hour_price")

table = data.compute_hours(src, filters, by)
table[by] = ["(none)" if pd.isna(v) else str(v) for v in table[by]]
if gpu_price or hour_price:  # machine hours at the hourly price, plus GPU hours at the GPU price
    table["cost"] = (table["hours"] * hour_price + table["gpu_hours"] * gpu_price).round(2)
totals = table[["runs", "hours", "gpu_hours"]].sum()
st.caption(
    f"{int(totals['runs'])} runs · {totals['hours']:.1f} hours · {totals['gpu_hours']:.1f} GPU hours"
    + (f" · {table['cost'].sum():,.2f} $" if "cost" in table else "")
)
long = table.melt(id_vars=[by], value_vars=["hours", "gpu_hours"], var_name="kind", value_name="value")
long = long.rename(columns={by: "key"})
st.altair_chart(
    alt.Chart(long)
    .mark_bar()
    .encode(
        y=alt.Y("key:N", title=by, sort="-x"),
        x=alt.X("value:Q", title="hours"),
        color=alt.Color("kind:N", title=None),
        yOffset="kind:N",
        tooltip=["key:N", "kind:N", alt.Tooltip("value:Q", format=".2f")],
    )
    .properties(height=max(120, 36 * len(table))),
    width="stretch",
)
st.dataframe(table, hide_index=True, width="stretch")

st.subheader("Storage")
st.caption("What takes space on disk (the same as `ledger du`), largest first.")
usage_by = st.radio("By", ("project", "group", "kind", "run"), horizontal=True, key="du_by")
usage = data.disk_usage(src, usage_by, filters.project)
usage[usage_by] = ["(none)" if pd.isna(v) else str(v) for v in usage[usage_by]]
usage["MB"] = (usage["bytes"] / 2**20).round(3)
st.altair_chart(
    alt.Chart(usage.head(30))
    .mark_bar()
    .encode(
        y=alt.Y(f"{usage_by}:N", sort="-x", title=usage_by),
        x=alt.X("MB:Q", title="MB"),
        tooltip=[f"{usage_by}:N", "MB:Q", "files:Q", "runs:Q"],
    )
    .properties(height=max(120, 24 * min(len(usage), 30))),
    width="stretch",
)
st.dataframe(usage, hide_index=True, width="stretch")
