"""What every page shares: the selection, the Runs page's filters, the sidebar, safe text,
and waiting for the ledger to open."""

from __future__ import annotations

import os
import re
from typing import Any, Final, Literal, NoReturn

import streamlit as st

from viewer import data, state

# Widgets whose values outlive the page that shows them (the Runs page's filters also drive
# Compute and Sweeps) are made with persist_state=KEPT.
KEPT: Final = "session"  # the persist_state of those widgets (Final: typed as that literal)
SEL_RUNS = "sel_runs"  # selected run ids, in the order they were picked
SEL_GROUPS = "sel_groups"  # selected groups: their labels under SEL_GROUP_BY
SEL_GROUP_BY = "sel_group_by"  # the fields the selected groups are groups of
_SEL_SLOT = "_sel_slot"  # the sidebar placeholder that shows the selection
SEL_GEN = "sel_gen"  # bumped when the selection is replaced from code, so tables start afresh
ALL_PROJECTS = state.ALL_PROJECTS
DEFAULTS: dict[str, Any] = state.defaults()

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
    st.session_state.setdefault(SEL_GEN, 0)


def wait_for_ledger(src: data.Source) -> data.Workspace:
    """The workspace of ``src`` once its ledger is open; meanwhile a progress bar with counts
    (a cold start reads every manifest once). Stops the page if the ledger cannot be opened."""
    ws = data.workspace(src)
    if ws.snapshot() is None and ws.error is None:
        slot = st.empty()

        def show(done: int, total: int) -> None:
            if total:
                slot.progress(min(done / total, 1.0), text=f"Reading the ledger: {done:,} of {total:,} runs indexed")
            else:
                slot.progress(0.0, text="Listing the runs...")

        data.wait_for(ws, show)
        slot.empty()
    if ws.error is not None:
        st.error("Cannot open the ledger")
        st.code(f"{type(ws.error).__name__}: {ws.error}", language=None)
        if st.button("Try again"):
            data.workspace.clear()  # forget the failed attempt: the next run opens the ledger again
            rerun()
        st.stop()
    return ws


def selected_runs() -> list[str]:
    return list(st.session_state.get(SEL_RUNS, []))


def selected_group_labels() -> list[str]:
    return list(st.session_state.get(SEL_GROUPS, []))


def selected_groups(src: data.Source) -> dict[str, list[str]]:
    """The selected groups, label -> run ids, as the current filters make them (a new run of
    a selected group joins it)."""
    labels = selected_group_labels()
    by = list(st.session_state.get(SEL_GROUP_BY, []))
    if not labels or not by:
        return {}
    try:
        found = {g.label: g.runs.ids for g in data.groups(src, filters(), by)}
    except Exception:  # a where that no longer parses: the Runs page says so
        return {}
    return {label: found[label] for label in labels if label in found}


def set_selection(runs: list[str] | None = None, groups: list[str] | None = None, by: list[str] | None = None) -> None:
    """Replace the selection from code (buttons): tables forget their own row selection."""
    if runs is not None:
        st.session_state[SEL_RUNS] = runs
    if groups is not None:
        st.session_state[SEL_GROUPS] = groups
    if by is not None:
        st.session_state[SEL_GROUP_BY] = by
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


def project() -> str | None:
    """The project the Runs page shows (None: all projects)."""
    chosen = st.session_state.get("f_project")
    return None if chosen in (None, "", ALL_PROJECTS) else str(chosen)


def filters() -> data.Filters:
    """The Runs page's filters as they are now (also used by Charts, Sweeps and Compute)."""
    ss = st.session_state
    return data.Filters(
        project=project(),
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
        st.code(shown_root(src.root), language=None)
        if st.button("Reload", help="Read the tree again now (new and changed runs also appear by themselves)."):
            data.refresh(src)
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
            set_selection([], [], [])
            rerun()


def shown_root(root: str) -> str:
    """The root as the sidebar shows it: relative to the folder ``ledger view`` ran in when
    it lies below it (``example_project/results``), else as given."""
    if "://" in root or not os.path.isabs(root):
        return root
    relative = os.path.relpath(root)
    return root if relative.startswith("..") else relative


def show_selection() -> None:
    """The sidebar's count of selected runs and groups (pages that change the selection call it again)."""
    slot = st.session_state.get(_SEL_SLOT)
    if slot is not None:
        slot.caption(f"Selected: {len(selected_runs())} runs, {len(selected_group_labels())} groups")


def refresh_every(any_running: bool) -> float | None:
    """The fragment period for pages that show running runs: None when off or nothing runs."""
    if not any_running or not st.session_state.get("auto_refresh", True):
        return None
    return float(st.session_state.get("refresh_s", 10))


def rerun(scope: Literal["app", "fragment"] = "app") -> NoReturn:
    """``st.rerun()`` with the URL written first: a rerun takes the query string as it is when
    asked for, and would otherwise bring back the settings of the run before."""
    state.publish()
    st.rerun(scope=scope)


def need_selection(what: str) -> None:
    st.info(f"Select {what} on the Runs page first (tick rows in the runs table or the groups table).")
    st.page_link("views/runs.py", label="Go to Runs", icon="📋")
