"""Sweeps: a sweep's trials, parallel coordinates with brushing, parameter importance, the
best so far, and each parameter against the metric."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pandas as pd
import streamlit as st

from viewer import data, parallel, tables, ui

BRUSHES = "sw_brushes"  # sweep id -> {parameter: constraint}
LAST_BRUSH = "sw_last_brush"  # the brush event last applied (a chart keeps reporting it)

src = data.source()
st.title("Sweeps")
ss = st.session_state
project = ui.project()
sweeps = data.sweeps(src, project)
if not sweeps:
    st.info("No sweeps in " + (f"project {ui.escape(project)}" if project else "this ledger") + ".")
    st.stop()

by_id = {s.id: s for s in sweeps}
if ss.get("sw_sweep") not in by_id:
    ss["sw_sweep"] = max(sweeps, key=lambda s: max((str(r.doc.get("created") or "") for r in s.runs), default="")).id
st.selectbox(
    "Sweep",
    list(by_id),
    key="sw_sweep",
    persist_state=ui.KEPT,
    format_func=lambda i: f"{by_id[i].project} / {by_id[i].name or i} ({i}) · {len(by_id[i].runs)} runs",
)
sweep = by_id[str(ss["sw_sweep"])]
specs = parallel.sweep_params(sweep.config.get("parameters") or {})
params = list(specs)
metric_name, goal = sweep.metric or (None, "minimize")
st.caption(
    ui.escape(
        f"method: {sweep.config.get('method', '?')} · metric: {metric_name or '(none)'} ({goal})"
        f" · {len(sweep.runs)} runs"
    )
)
statuses = Counter(r.status for r in sweep.runs)
st.dataframe(
    pd.DataFrame({"status": [tables.status_label(s) for s in statuses], "runs": list(statuses.values())}),
    hide_index=True,
)
if not len(sweep.runs):
    st.caption("No trial has run yet.")
    st.stop()
trials = tables.trials(sweep.runs, params, metric_name)


def shown(frame: pd.DataFrame) -> pd.DataFrame:
    """The trials as the browser table shows them (mixed-kind columns as text)."""
    return pd.DataFrame({c: tables.display_column(frame[c].astype(object)) for c in frame.columns})


if not metric_name:
    st.subheader("Trials")
    st.dataframe(shown(trials), hide_index=True)
    st.stop()

scored = trials[trials[metric_name].map(lambda v: isinstance(v, float) and math.isfinite(v))].reset_index(drop=True)
dims = parallel.varying(scored, params)
hidden = [p for p in params if p not in dims]
limits: dict[str, Any] = dict(ss.get(BRUSHES, {}).get(sweep.id, {}))

# ---- parallel coordinates -------------------------------------------------------------------------
st.subheader("Parameters against the metric")
if len(scored) and dims:
    axes = [parallel.axis_of(p, list(scored[p]), log=parallel.is_log(specs[p])) for p in dims]
    axes.append(parallel.axis_of(metric_name, list(scored[metric_name])))
    inside = parallel.inside(scored, limits)
    lines = parallel.long_frame(scored, axes, metric_name, inside)
    event = st.vega_lite_chart(
        parallel.spec(axes, lines, metric=metric_name, goal=goal),
        on_select="rerun",
        selection_mode="brush",
        key=f"pc-{sweep.id}",
        width="content",
    )
    brush = dict(event.selection.get("brush") or {}) if event is not None else {}
    if brush and brush != ss.get(LAST_BRUSH):
        ss[LAST_BRUSH] = brush
        made = parallel.constraints(axes, brush)
        if made:
            ss[BRUSHES] = {**ss.get(BRUSHES, {}), sweep.id: {**limits, **made}}
            ui.rerun()
    notes = [f"{len(hidden)} constant parameters hidden: {', '.join(hidden)}"] if hidden else []
    notes += [f"{a.name}: log scale" for a in axes if a.kind == "log"]
    st.caption(
        "Drag across an axis to keep the trials whose value lies there (brush several axes one after another). "
        + " · ".join(notes)
    )
else:
    inside = [True] * len(scored)
    st.caption("No parameter varies among the scored trials yet.")
if limits:
    left, right = st.columns([4, 1])
    left.markdown(
        "**Brushed:** "
        + " · ".join(ui.escape(parallel.describe_constraint(k, v)) for k, v in limits.items())
        + f" · {sum(inside)} of {len(scored)} trials"
    )
    if right.button("Clear brushes", key=f"clear-{sweep.id}"):
        ss[BRUSHES] = {k: v for k, v in ss.get(BRUSHES, {}).items() if k != sweep.id}
        ui.rerun()

# ---- trials ---------------------------------------------------------------------------------------
st.subheader("Trials")
kept = scored[inside] if limits else trials
st.caption(f"{len(kept)} trials" + (f" of {len(trials)} (brushed)" if limits else ""))
st.dataframe(shown(kept), hide_index=True)

# ---- parameter importance ---------------------------------------------------------------------------
st.subheader(f"Parameter importance for {ui.escape(metric_name)}")
try:
    if not dims:
        raise ValueError("no parameter of the sweep varies among its scored trials")  # noqa: TRY301
    importance, note = data.importance(src, list(sweep.runs), metric_name, dims)
except ValueError as exc:
    st.caption(str(exc))
else:
    if note:
        st.caption(note)
    st.dataframe(
        importance,
        hide_index=True,
        column_config={
            "importance": st.column_config.ProgressColumn("importance", min_value=0.0, max_value=1.0, format="%.3f"),
            "correlation": st.column_config.NumberColumn("correlation", format="%.3f"),
        },
    )
    st.caption(
        "importance: a random forest's feature importance predicting the metric from all parameters at once "
        "(they sum to 1); correlation: linear, with the metric (text values one-hot). As W&B's panel."
    )

# ---- best so far and each parameter against the metric ------------------------------------------------
scores = trials[metric_name].tolist()
finite = [(s, i) for i, s in enumerate(scores) if isinstance(s, float) and math.isfinite(s)]
if finite:
    value, at = (max if goal == "maximize" else min)(finite)
    best = trials.iloc[at]
    left, right = st.columns([1, 3])
    left.metric(f"Best {metric_name}", f"{value:.4g}")
    right.dataframe(best.map(tables.text).to_frame("best trial"), width="stretch")
    progress = pd.DataFrame({"trial": range(1, len(scores) + 1), "best": tables.cumulative_best(scores, goal)})
    st.vega_lite_chart(
        {
            "title": "Best so far",
            "height": 200,
            "data": {"name": "progress"},
            "datasets": {"progress": progress},
            "mark": {"type": "line", "point": True, "interpolate": "step-after"},
            "encoding": {
                "x": {"field": "trial", "type": "quantitative", "title": "trials run",
                      "axis": {"tickMinStep": 1, "format": "d"}},
                "y": {"field": "best", "type": "quantitative", "title": f"best {metric_name} so far",
                      "scale": {"zero": False}},
            },
        },
        width="stretch",
    )  # fmt: skip
if dims and len(scored):
    row = st.columns(min(3, len(dims)))
    for i, p in enumerate(dims):
        axis = parallel.axis_of(p, list(scored[p]), log=parallel.is_log(specs[p]))
        kind = "nominal" if axis.kind == "categorical" else "quantitative"
        points = pd.DataFrame(
            {"param": scored[p].map(tables.text) if kind == "nominal" else scored[p], "score": scored[metric_name]}
        )
        x_scale: dict[str, Any] = (
            {"type": "log"} if axis.kind == "log" else ({"zero": False} if kind != "nominal" else {})
        )
        with row[i % len(row)]:
            st.vega_lite_chart(
                {
                    "title": f"{p} vs {metric_name}",
                    "height": 200,
                    "data": {"name": "points"},
                    "datasets": {"points": points},
                    "mark": {"type": "circle", "size": 60},
                    "encoding": {
                        "x": {"field": "param", "type": kind, "title": p, "scale": x_scale},
                        "y": {"field": "score", "type": "quantitative", "title": metric_name, "scale": {"zero": False}},
                        "tooltip": [{"field": "param", "title": p}, {"field": "score", "title": metric_name}],
                    },
                },
                width="stretch",
            )
