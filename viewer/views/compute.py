"""Compute: hours and GPU hours by group, job_type, user, host or month, and what they cost."""

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
    filters = data.Filters(filters.project, filters.groups, filters.job_types, filters.tags, filters.statuses)
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
