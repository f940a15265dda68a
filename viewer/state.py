"""The view's state in the URL (``st.query_params``): project, filters, where, columns, sort,
grouping, selection and chart settings, so that a reload, back and forward, and a link sent
to a colleague show the same view.

Each setting is a :class:`Param`: a session-state key (the widget's key) and its name in the
query string. At the start of every script run :func:`restore` compares the URL with what this
session last wrote; if they differ (a first visit, a shared link, back or forward), the URL's
values go into the session state, before any widget is made. At the end of the run
:func:`publish` writes the settings back, leaving out values at their defaults, and Streamlit
pushes a browser history entry whenever the query string changes.

Settings whose default depends on the data (the runs table's columns, the group table's and
the charts' metrics) are written only once the user has chosen them (:func:`choose`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

ALL_PROJECTS = "(all projects)"  # the project picker's "any": the URL leaves it out
SEEN = "_url_seen"  # the query string this session last read or wrote
CHOSEN = "_chosen"  # keys of data-derived settings the user has set
COLUMNS_BY_PROJECT = "f_columns_by_project"  # the runs table's columns, remembered per project


@dataclass(frozen=True)
class Param:
    """One setting: its session key, its query-string name, its kind and default; ``derived``
    settings have a default computed from the data (absent from the URL until chosen)."""

    key: str
    name: str
    kind: str  # str, list, int, float, bool
    default: Any = None
    derived: bool = False


PARAMS = (
    # the Runs page: filters, table and groups
    Param("f_project", "project", "str"),
    Param("f_groups", "group", "list", ()),
    Param("f_job_types", "job_type", "list", ()),
    Param("f_tags", "tag", "list", ()),
    Param("f_statuses", "status", "list", ()),
    Param("f_users", "user", "list", ()),
    Param("f_where", "where", "str", ""),
    Param("f_sort", "sort", "str", "created"),
    Param("f_descending", "desc", "bool", True),
    Param("f_group_by", "group_by", "list", ()),
    Param("f_group_metrics", "metric", "list", (), derived=True),
    Param("f_page", "page", "int", 1),
    Param("f_page_size", "rows", "int", 100),
    # the selection
    Param("sel_runs", "sel", "list", ()),
    Param("sel_groups", "sel_group", "list", ()),
    Param("sel_group_by", "sel_group_by", "list", ()),
    # the Charts page
    Param("c_source", "runs", "str", "selection"),
    Param("c_metrics", "chart", "list", (), derived=True),
    Param("c_group_by", "chart_group_by", "list", ()),
    Param("c_x", "x", "str", "step"),
    Param("c_smoothing", "smoothing", "float", 0.0),
    Param("c_log", "log_y", "bool", False),
    Param("c_band", "band", "str", "std"),
    Param("c_grid", "per_row", "int", 2),
    Param("c_outliers", "outliers", "bool", False),
    Param("c_colour", "colour", "str", "auto"),
    Param("c_highlight", "highlight", "str", ""),
    # the other pages
    Param("run_id", "run", "str"),
    Param("sw_sweep", "sweep", "str"),
    Param("cu_by", "compute_by", "str", "group"),
    Param("cu_measure", "measure", "str", "hours"),
    Param("cu_hour_price", "price_hour", "float", 0.0),
    Param("cu_gpu_price", "price_gpu_hour", "float", 0.0),
    # following live runs
    Param("auto_refresh", "live", "bool", True),
    Param("refresh_s", "refresh", "int", 10),
)
BY_KEY = {p.key: p for p in PARAMS}


def defaults() -> dict[str, Any]:
    """The session defaults of the settings that have a fixed one."""
    return {p.key: list(p.default) if p.kind == "list" else p.default for p in PARAMS if not p.derived}


def _decode(param: Param, values: list[str]) -> Any:
    if param.kind == "list":
        return [v for v in values if v != ""]
    raw = values[-1] if values else ""
    try:
        if param.kind == "int":
            return int(raw)
        if param.kind == "float":
            return float(raw)
    except ValueError:
        return param.default  # a hand-edited URL: keep the default
    if param.kind == "bool":
        return raw.lower() in ("1", "true", "yes", "on")
    return raw


def _encode(param: Param, value: Any) -> list[str] | None:
    """The URL values of a setting, None when it is at its default (left out)."""
    if value is None or (param.key == "f_project" and value == ALL_PROJECTS):
        return None
    if param.kind == "list":
        items = [str(v) for v in value]
        return None if not param.derived and items == [str(v) for v in param.default] else items
    if not param.derived and value == param.default:
        return None
    if param.kind == "bool":
        return ["1" if value else "0"]
    if param.kind == "float":
        return [f"{float(value):g}"]
    return [str(value)]


def current_url() -> dict[str, list[str]]:
    """The query string now, every value as a list."""
    return {name: list(st.query_params.get_all(name)) for name in st.query_params}


def chosen() -> set[str]:
    return set(st.session_state.get(CHOSEN, ()))


def choose(key: str) -> None:
    """Mark a data-derived setting as set by the user (a widget's on_change), so the URL keeps it."""
    st.session_state[CHOSEN] = sorted({*chosen(), key})
    if key == "f_columns":
        remember_columns()


def remember_columns() -> None:
    """Keep the runs table's columns for the current project."""
    ss = st.session_state
    memory = dict(ss.get(COLUMNS_BY_PROJECT, {}))
    memory[str(ss.get("f_project"))] = list(ss.get("f_columns", []))
    ss[COLUMNS_BY_PROJECT] = memory


def restore() -> bool:
    """Take the settings from the URL when it changed from what this session last saw (first
    visit, shared link, back or forward); returns whether it did."""
    ss = st.session_state
    url = current_url()
    if ss.get(SEEN) == url:
        return False
    picked = chosen()
    for param in PARAMS:
        if param.name in url:
            ss[param.key] = _decode(param, url[param.name])
            if param.derived:
                picked.add(param.key)
        elif param.derived:
            ss.pop(param.key, None)
            picked.discard(param.key)
        else:
            ss[param.key] = list(param.default) if param.kind == "list" else param.default
    columns = url.get("columns")
    if columns is not None:
        ss["f_columns"] = [c for c in columns if c]
        ss[COLUMNS_BY_PROJECT] = {**ss.get(COLUMNS_BY_PROJECT, {}), str(ss.get("f_project")): ss["f_columns"]}
        ss["_columns_project"] = str(ss.get("f_project"))
    ss[CHOSEN] = sorted(picked)
    ss[SEEN] = url
    return True


def encoded() -> dict[str, list[str]]:
    """The settings as query-string values (defaults left out)."""
    ss = st.session_state
    picked = chosen()
    out: dict[str, list[str]] = {}
    for param in PARAMS:
        if param.derived and param.key not in picked:
            continue
        values = _encode(param, ss.get(param.key))
        if values is not None:
            out[param.name] = values
    memory = ss.get(COLUMNS_BY_PROJECT, {})
    project = str(ss.get("f_project"))
    if project in memory:
        out["columns"] = list(memory[project]) or [""]
    return out


def publish() -> None:
    """Write the settings to the URL if they changed (Streamlit adds a history entry)."""
    ss = st.session_state
    new = encoded()
    if new != current_url():
        st.query_params.from_dict(new)
    ss[SEEN] = new
