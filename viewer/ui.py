"""What every page shares: the selection, the Runs page's filters, the sidebar, safe text."""

from __future__ import annotations

import re
from typing import Any, Final

import streamlit as st

from viewer import data

# Widgets whose values outlive the page that shows them (the Runs page's filters also drive
# Compute and Sweeps) are made with persist_state=KEPT.
KEPT: Final = "session"  # the persist_state of those widgets (Final: typed as that literal)
SEL_RUNS = "sel_runs"  # selected run ids, in the order they were picked
SEL_GROUPS = "sel_groups"  # selected groups: label -> run ids
_SEL_SLOT = "_sel_slot"  # the sidebar placeholder that shows the selection
SEL_GEN = "sel_gen"  # bumped when the selection is replaced from code, so tables start afresh
ALL_PROJECTS = "(all projects)"
DEFAULTS: dict[str, Any] = {
    "f_where": "", "f_groups": [], "f_job_types": [], "f_tags": [], "f_statuses": [], "f_users": [],
    "f_sort": "created", "f_descending": True, "f_page": 1, "f_page_size": 500, "f_grouping": "none", "c_x": "step",
    "c_smoothing": 0.0, "c_log": False, "c_band": "min-max", "c_grid": 2, "auto_refresh": True, "refresh_s": 10,
}  # fmt: skip

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def escape(value: Any) -> str:
    """User text for a place Streamlit renders as markdown (headers): every markup character
    escaped, so a name like ``<b>x</b> ![](http://...)`` shows as typed."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(value))


def keep_state() -> None:
    """Defaults of the kept widgets, set here and never as widget arguments (a widget given
    both a default and a session value warns), and an empty selection."""
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
    st.session_state.setdefault(SEL_RUNS, [])
    st.session_state.setdefault(SEL_GROUPS, {})
    st.session_state.setdefault(SEL_GEN, 0)


def selected_runs() -> list[str]:
    return list(st.session_state.get(SEL_RUNS, []))


def selected_groups() -> dict[str, list[str]]:
    return dict(st.session_state.get(SEL_GROUPS, {}))


def set_selection(runs: list[str] | None = None, groups: dict[str, list[str]] | None = None) -> None:
    """Replace the selection from code (buttons): tables forget their own row selection."""
    if runs is not None:
        st.session_state[SEL_RUNS] = runs
    if groups is not None:
        st.session_state[SEL_GROUPS] = groups
    st.session_state[SEL_GEN] = st.session_state.get(SEL_GEN, 0) + 1


def pick_rows(frame: Any, key: str, selected: list[int], **kwargs: Any) -> list[int]:
    """A table whose rows can be ticked; returns the ticked positions. ``selected`` is
    where a new table starts; the key changes with what the table shows and with
    set_selection, so a table never carries ticks over to other rows."""
    event = st.dataframe(
        frame,
        hide_index=True,
        on_select="rerun",
        selection_mode="multi-row",
        key=f"{key}-{st.session_state.get(SEL_GEN, 0)}",
        selection_default={"selection": {"rows": selected}},
        **kwargs,
    )
    return list(event.selection.rows)


def filters() -> data.Filters:
    """The Runs page's filters as they are now (also used by Compute)."""
    ss = st.session_state
    project = ss.get("f_project")
    return data.Filters(
        project=None if project in (None, ALL_PROJECTS) else project,
        groups=tuple(ss.get("f_groups") or ()),
        job_types=tuple(ss.get("f_job_types") or ()),
        tags=tuple(ss.get("f_tags") or ()),
        statuses=tuple(ss.get("f_statuses") or ()),
        users=tuple(ss.get("f_users") or ()),
        where=ss.get("f_where") or "",
    )


def sidebar(src: data.Source) -> None:
    """The root, a reload button, the auto-refresh setting and the current selection."""
    with st.sidebar:
        st.caption("Ledger root")
        st.code(src.root, language=None)
        if st.button("Reload", help="Read the tree again (new runs also appear by themselves within seconds)."):
            data.refresh()
        st.toggle(
            "Auto-refresh running runs",
            key="auto_refresh",
            persist_state=KEPT,
            help="Charts and the Run page re-read the metrics of running runs.",
        )
        st.number_input("every (s)", min_value=2, max_value=600, step=1, key="refresh_s", persist_state=KEPT)
        st.session_state[_SEL_SLOT] = st.empty()
        show_selection()
        if st.button("Clear selection"):
            set_selection([], {})
            st.rerun()


def show_selection() -> None:
    """The sidebar's count of selected runs and groups (pages that change the selection call it again)."""
    slot = st.session_state.get(_SEL_SLOT)
    if slot is not None:
        slot.caption(f"Selected: {len(selected_runs())} runs, {len(selected_groups())} groups")


def refresh_every(any_running: bool) -> float | None:
    """The fragment period for pages that show running runs: None when off or nothing runs."""
    if not any_running or not st.session_state.get("auto_refresh", True):
        return None
    return float(st.session_state.get("refresh_s", 10))


def need_selection(what: str) -> None:
    st.info(f"Select {what} on the Runs page first (tick rows in the runs table or the groups table).")
    st.page_link("views/runs.py", label="Go to Runs", icon="📋")
