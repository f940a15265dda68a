"""Runs: the runs table with filters, a where box, sorting, grouping, pages and selection."""

from __future__ import annotations

import dataclasses
import math

import streamlit as st

import ledger
from viewer import data, tables, ui

PAGE_SIZES = (10, 50, 100, 500, 1000, 5000)
SELECT_ALL_LIMIT = 200
ROW_PX = 35  # the grid's row height
SORT_FIELDS = {"duration": "duration_s"}  # table column -> query field, where they differ

src = data.source()
st.title("Runs")
table = data.runs_table(src)
ss = st.session_state

# ---- filters ----------------------------------------------------------------------------------
projects = data.projects(src)
project_options = [ui.ALL_PROJECTS, *projects]
if ss.get("f_project") not in project_options:
    ss["f_project"] = projects[0] if len(projects) == 1 else ui.ALL_PROJECTS
cols = st.columns([2, 3, 2, 2, 2])
cols[0].selectbox("Project", project_options, key="f_project", persist_state=ui.KEPT)
facets = data.facets(src, None if ss["f_project"] == ui.ALL_PROJECTS else ss["f_project"])
cols[1].multiselect("Group", facets.groups, key="f_groups", persist_state=ui.KEPT)
cols[2].multiselect("Job type", facets.job_types, key="f_job_types", persist_state=ui.KEPT)
cols[3].multiselect("Tags (all of)", facets.tags, key="f_tags", persist_state=ui.KEPT)
cols[4].multiselect("Status", facets.statuses, key="f_statuses", persist_state=ui.KEPT, format_func=tables.status_label)
st.text_input(
    "where",
    key="f_where",
    persist_state=ui.KEPT,
    placeholder='config.lr < 1e-3 and summary.acc > 0.9 or tags contains "baseline"',
    help="The query language of `ledger ls --where` (MLflow search strings work too). Press Enter to apply.",
)

extra_columns = [c for c in table.columns if c.startswith(("config.", "summary."))]
if "f_columns" not in ss:
    summary_cols = [c for c in extra_columns if c.startswith("summary.")]
    config_cols = [c for c in extra_columns if c.startswith("config.")]
    ss["f_columns"] = config_cols[:4] + summary_cols[:4]
ss["f_columns"] = [c for c in ss["f_columns"] if c in extra_columns]
with st.expander("Columns, sorting and grouping", expanded=False):
    st.multiselect("Config and summary columns", extra_columns, key="f_columns", persist_state=ui.KEPT)
    left, mid, right = st.columns([3, 1, 3])
    sort_options = ["created", "name", "group", "job_type", "status", "duration", "id", *extra_columns]
    left.selectbox("Sort by", sort_options, key="f_sort", persist_state=ui.KEPT)
    mid.toggle("Descending", key="f_descending", persist_state=ui.KEPT)
    right.radio(
        "Group rows",
        ["none", "group", "group, then job_type"],
        key="f_grouping",
        persist_state=ui.KEPT,
        horizontal=True,
    )

filters = ui.filters()
sort = ss.get("f_sort", "created")
order_by = ("-" if ss.get("f_descending", True) else "") + SORT_FIELDS.get(sort, sort)
try:
    selected = data.select(src, filters, order_by)
except ledger.FilterError as exc:
    st.error("The where filter does not parse; it is ignored until it does.")
    st.code(str(exc), language=None)
    filters = dataclasses.replace(filters, where="")
    selected = data.select(src, filters, order_by)
ids = selected.ids

# ---- groups -------------------------------------------------------------------------------------
grouping = ss.get("f_grouping", "none")
if grouping != "none":
    summary_options = [c for c in extra_columns if c.startswith("summary.")]
    if "f_group_metrics" not in ss:
        ss["f_group_metrics"] = [c for c in ss["f_columns"] if c.startswith("summary.")][:4]
    st.multiselect("Mean ± std of", summary_options, key="f_group_metrics", persist_state=ui.KEPT)
    metrics = list(ss["f_group_metrics"])
    members = table.loc[ids, ["id", "group", "job_type", *metrics]]
    groups = tables.group_summary(members, metrics, by_job_type=grouping != "group")
    shown = groups.drop(columns=["ids"])
    shown["job_type"] = shown["job_type"].where(shown["job_type"] != tables.ALL, "")
    labels = [
        g if jt == tables.ALL else f"{g} / {jt}" for g, jt in zip(groups["group"], groups["job_type"], strict=True)
    ]
    picked = ui.selected_groups()
    st.caption(f"{len(groups)} group rows over {len(ids):,} runs; tick rows to chart or compare whole groups.")
    rows = ui.pick_rows(
        shown,
        f"groups-{hash((filters, grouping, tuple(metrics)))}",
        [i for i, lab in enumerate(labels) if lab in picked],
    )
    chosen = {labels[i]: list(groups["ids"].iloc[i]) for i in rows}
    kept = {lab: run_ids for lab, run_ids in picked.items() if lab not in labels}
    ss[ui.SEL_GROUPS] = {**kept, **chosen}

# ---- the runs table -----------------------------------------------------------------------------
total = len(ids)
size = int(ss.get("f_page_size", 500))
pages = max(1, math.ceil(total / size))
if int(ss.get("f_page", 1)) > pages:
    ss["f_page"] = 1
summary_line = st.empty()
bar = st.columns([1, 1, 2, 2])
bar[0].selectbox("Rows per page", PAGE_SIZES, key="f_page_size", persist_state=ui.KEPT)
bar[1].number_input(f"Page (of {pages})", min_value=1, max_value=pages, key="f_page", persist_state=ui.KEPT)
page = int(ss.get("f_page", 1))
start = (page - 1) * size
page_ids = ids[start : start + size]

if bar[2].button(
    f"Select all {total} filtered runs" if total <= SELECT_ALL_LIMIT else f"Select all (at most {SELECT_ALL_LIMIT})",
    disabled=total == 0 or total > SELECT_ALL_LIMIT,
):
    ui.set_selection(list(ids))
    st.rerun()

picked_runs = ui.selected_runs()
columns = [*data.BASE_COLUMNS, *ss["f_columns"]]
page_frame = table.loc[page_ids, columns]
in_page = set(page_ids)
rows = ui.pick_rows(
    page_frame,
    f"runs-{hash((filters, order_by, page, size))}",
    [i for i, r in enumerate(page_ids) if r in set(picked_runs)],
    column_config={"created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss")},
    height=min(ROW_PX * (len(page_ids) + 1) + 3, 720),
    placeholder="",
)
chosen_ids = {page_ids[i] for i in rows if i < len(page_ids)}
now_selected = [r for r in picked_runs if r not in in_page or r in chosen_ids]
now_selected += [r for r in page_ids if r in chosen_ids and r not in now_selected]
ss[ui.SEL_RUNS] = now_selected

end = min(start + size, total)
summary_line.markdown(
    f"**{total:,} of {len(table):,} runs**"
    + (f" · rows {start + 1:,}-{end:,}" if total else "")
    + f" · {len(now_selected)} selected"
)
ui.show_selection()
if now_selected or ss.get(ui.SEL_GROUPS):
    links = st.columns(4)
    links[0].page_link("views/charts.py", label="Chart the selection", icon="📈")
    links[1].page_link("views/compare.py", label="Compare the selected runs", icon="⚖️")
    links[2].page_link("views/run.py", label="Open a selected run", icon="🔎")
