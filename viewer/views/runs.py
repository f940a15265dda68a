"""Runs: the runs table with filters, a where box, columns, sorting, grouping by any column,
pages and selection."""

from __future__ import annotations

import dataclasses
import math

import streamlit as st

import ledger
from viewer import data, state, tables, ui

PAGE_SIZES = (10, 50, 100, 500, 1000, 5000)
SELECT_ALL_LIMIT = 200
ROW_PX = 35  # the grid's row height
GROUP_TABLE_PX = 420  # the group table scrolls past this height
MAX_GROUP_BY = 2
SORT_FIELDS = {"duration": "duration_s"}  # table column -> query field, where they differ

src = data.source()
st.title("Runs")
shown_version = data.version(src)
table = data.runs_table(src)
ss = st.session_state

# ---- filters ----------------------------------------------------------------------------------
projects = data.projects(src)
project_options = [ui.ALL_PROJECTS, *projects]
if ss.get("f_project") not in project_options:
    ss["f_project"] = projects[0] if len(projects) == 1 else ui.ALL_PROJECTS
cols = st.columns([2, 3, 2, 2, 2, 2])
cols[0].selectbox("Project", project_options, key="f_project", persist_state=ui.KEPT)
facets = data.facets(src, ui.project())
cols[1].multiselect("Group", facets.groups, key="f_groups", persist_state=ui.KEPT)
cols[2].multiselect("Job type", facets.job_types, key="f_job_types", persist_state=ui.KEPT)
cols[3].multiselect("Tags (all of)", facets.tags, key="f_tags", persist_state=ui.KEPT)
cols[4].multiselect("Status", facets.statuses, key="f_statuses", persist_state=ui.KEPT, format_func=tables.status_label)
cols[5].multiselect("User", facets.users, key="f_users", persist_state=ui.KEPT, help="Who ran it")
st.text_input(
    "where",
    key="f_where",
    persist_state=ui.KEPT,
    placeholder='config.lr < 1e-3 and summary.acc > 0.9 or tags contains "baseline"',
    help="The query language of `ledger ls --where` (MLflow search strings work too). Press Enter to apply.",
)

filters = ui.filters()
column_options = [c for c in table.columns if c != "name"]
sort_options = ["created", "name", "status", "group", "job_type", "duration", "id", "project"]
sort_options += [c for c in column_options if c not in sort_options]
if ss.get("f_sort") not in sort_options:
    ss["f_sort"] = "created"
sort = str(ss["f_sort"])
order_by = ("-" if ss.get("f_descending", True) else "") + SORT_FIELDS.get(sort, sort)
try:
    selected = data.select(src, filters, order_by)
except ledger.FilterError as exc:
    st.error("The where filter does not parse; it is ignored until it does.")
    st.code(str(exc), language=None)
    filters = dataclasses.replace(filters, where="")
    selected = data.select(src, filters, order_by)
else:
    for hint in data.where_hints(src, filters, order_by):
        st.warning(hint)
ids = selected.ids

# ---- columns (remembered per project), sorting and grouping ---------------------------------
project_key = str(ss.get("f_project"))
if ss.get("_columns_project") != project_key or "f_columns" not in ss:
    remembered = ss.get(state.COLUMNS_BY_PROJECT, {}).get(project_key)
    if remembered is None:
        shown_rows = table.loc[ids] if len(ids) < len(table) else table
        remembered = tables.default_columns(shown_rows, sort_key=sort, key_metrics=data.key_metrics(src, ui.project()))
    ss["f_columns"] = remembered
    ss["_columns_project"] = project_key
ss["f_columns"] = [c for c in ss["f_columns"] if c in column_options]
groupable = tables.groupable(column_options)
ss["f_group_by"] = [c for c in ss.get("f_group_by", []) if c in groupable][:MAX_GROUP_BY]

bar = st.columns([3, 1, 3])
bar[0].selectbox("Sort by", sort_options, key="f_sort", persist_state=ui.KEPT)
bar[1].toggle("Descending", key="f_descending", persist_state=ui.KEPT)
bar[2].multiselect(
    "Group by",
    groupable,
    key="f_group_by",
    persist_state=ui.KEPT,
    max_selections=MAX_GROUP_BY,
    help="Any column: a row per value with mean ± std of chosen metrics; two columns nest.",
)
with st.expander(f"Columns ({len(ss['f_columns'])} shown; the name stays pinned at the left)"):
    st.multiselect(
        "Columns",
        column_options,
        key="f_columns",
        persist_state=ui.KEPT,
        on_change=state.choose,
        args=("f_columns",),
        label_visibility="collapsed",
    )
    if st.button("Columns from the data", help="The sort key, sweep metrics, and config keys that vary here."):
        ss.get(state.COLUMNS_BY_PROJECT, {}).pop(project_key, None)
        ss.pop("_columns_project", None)
        ui.rerun()

# ---- groups -------------------------------------------------------------------------------------
group_by = list(ss.get("f_group_by", []))
if group_by:
    summary_options = [c for c in column_options if c.startswith("summary.")]
    if "f_group_metrics" not in ss:
        wanted = [*data.key_metrics(src, ui.project()), *(c for c in ss["f_columns"] if c.startswith("summary."))]
        ss["f_group_metrics"] = list(dict.fromkeys(m for m in wanted if m in summary_options))[:4]
    ss["f_group_metrics"] = [m for m in ss["f_group_metrics"] if m in summary_options]
    st.multiselect(
        "Mean ± std of",
        summary_options,
        key="f_group_metrics",
        persist_state=ui.KEPT,
        on_change=state.choose,
        args=("f_group_metrics",),
    )
    metrics = list(ss["f_group_metrics"])
    groups = data.group_table(src, filters, group_by, metrics)
    shown = groups.drop(columns=["label", "ids"])
    labels = list(groups["label"])
    same_grouping = list(ss.get(ui.SEL_GROUP_BY, [])) == group_by
    picked = ui.selected_group_labels() if same_grouping else []
    st.caption(
        f"{len(groups):,} groups over {len(ids):,} runs (sort by clicking a header); "
        "tick rows to chart or compare whole groups."
    )
    rows = ui.pick_rows(
        shown,
        f"groups-{hash((filters, tuple(group_by), tuple(metrics)))}",
        [i for i, lab in enumerate(labels) if lab in picked],
        height=min(ROW_PX * (len(groups) + 1) + 3, GROUP_TABLE_PX),
        column_config={"runs": st.column_config.NumberColumn("runs", format="%d")},
    )
    chosen_labels = [labels[i] for i in rows if i < len(labels)]
    kept = [lab for lab in picked if lab not in labels]
    if chosen_labels or same_grouping:
        ss[ui.SEL_GROUPS] = [*kept, *chosen_labels]
        ss[ui.SEL_GROUP_BY] = group_by

# ---- the runs table -----------------------------------------------------------------------------
total = len(ids)
size = int(ss.get("f_page_size", state.BY_KEY["f_page_size"].default))
if size not in PAGE_SIZES:
    ss["f_page_size"] = size = state.BY_KEY["f_page_size"].default
pages = max(1, math.ceil(total / size))
if not 1 <= int(ss.get("f_page", 1)) <= pages:
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
    ui.rerun()

picked_runs = ui.selected_runs()
sort_column = sort if sort in table.columns and sort != "name" else None
columns = ["name", *([sort_column] if sort_column else []), *(c for c in ss["f_columns"] if c != sort_column)]
page_frame = table.loc[page_ids, columns]
in_page = set(page_ids)
rows = ui.pick_rows(
    page_frame,
    f"runs-{hash((filters, order_by, page, size, tuple(columns)))}",
    [i for i, r in enumerate(page_ids) if r in set(picked_runs)],
    column_config={
        "name": st.column_config.TextColumn("name", pinned=True),
        "created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
    },
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


@st.fragment(run_every=ui.refresh_every(True))
def follow() -> None:
    """New, finished and changed runs show up by themselves: the page is drawn again when the
    ledger's snapshot changed (the workspace re-reads only what changed)."""
    if data.latest_version(src) != shown_version:
        ui.rerun(scope="app")


follow()
if now_selected or ss.get(ui.SEL_GROUPS) or total:
    links = st.columns(4)
    links[0].page_link("views/charts.py", label="Chart these runs", icon="📈")
    links[1].page_link("views/compare.py", label="Compare the selected runs", icon="⚖️")
    links[2].page_link("views/run.py", label="Open a selected run", icon="🔎")
