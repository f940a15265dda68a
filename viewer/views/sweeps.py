"""Sweeps: per sweep, its trials, the best so far, parameters against the metric, statuses."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Literal

import altair as alt
import pandas as pd
import streamlit as st

from viewer import data, tables, ui

src = data.source()
st.title("Sweeps")
project = ui.filters().project
sweeps = data.sweeps(src, project)
if not sweeps:
    st.info("No sweeps in " + (f"project {ui.escape(project)}" if project else "this ledger") + ".")
    st.stop()


def number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)


def trials_table(sweep: Any, params: list[str], metric: str | None) -> pd.DataFrame:
    """One row per trial (its folds' metric averaged), in trial order."""
    by_trial: dict[object, list[Any]] = {}
    for run in sweep.runs:
        info = run.meta.get("sweep") or {}
        by_trial.setdefault(info.get("trial"), []).append(run)
    rows = []
    for trial, runs in sorted(by_trial.items(), key=lambda kv: (kv[0] is None, str(kv[0]).zfill(12))):
        first = runs[0]
        scores = [number(r.summary.get(metric)) for r in runs] if metric else []
        finite = [s for s in scores if math.isfinite(s)]
        statuses = Counter(r.status for r in runs)
        row: dict[str, Any] = {
            "trial": trial,
            "runs": len(runs),
            "status": ", ".join(f"{s}" if n == 1 else f"{s} x{n}" for s, n in statuses.items()),
            "run": data.label(first) if len(runs) == 1 else f"{len(runs)} folds",
        }
        for p in params:
            row[p] = tables.text(first.get(f"config.{p}"))
        if metric:
            row[metric] = sum(finite) / len(finite) if finite else math.nan
            if len(runs) > 1 and len(finite) > 1:
                mean = row[metric]
                row[f"{metric} std"] = math.sqrt(sum((s - mean) ** 2 for s in finite) / (len(finite) - 1))
        rows.append(row)
    return pd.DataFrame(rows)


def normalised(trials: pd.DataFrame, dims: list[str]) -> pd.DataFrame:
    """Long rows (trial, dimension, position in [0, 1], value) for parallel coordinates:
    numbers scaled to their range, anything else placed by its sorted category."""
    rows = []
    for dim in dims:
        raw = trials[dim]
        nums = pd.to_numeric(raw, errors="coerce")
        if nums.notna().all():
            lo, hi = float(nums.min()), float(nums.max())
            pos = (nums - lo) / (hi - lo) if hi > lo else nums * 0 + 0.5
        else:
            cats = sorted({tables.text(v) for v in raw})
            pos = raw.map(lambda v, c=cats: (c.index(tables.text(v)) + 0.5) / len(c))
        for trial, p, v in zip(trials["trial"], pos, raw, strict=True):
            rows.append({"trial": str(trial), "dimension": dim, "position": p, "value": tables.text(v)})
    return pd.DataFrame(rows)


for sweep in sweeps:
    st.header(ui.escape(f"{sweep.project} / {sweep.id}"))
    params = list((sweep.config.get("parameters") or {}).keys())
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
        continue
    trials = trials_table(sweep, params, metric_name)
    st.subheader("Trials")
    st.dataframe(trials, hide_index=True)
    if not metric_name:
        continue
    scores = trials[metric_name].tolist()
    best_so_far = tables.cumulative_best(scores, goal)
    finite = [(s, i) for i, s in enumerate(scores) if math.isfinite(s)]
    if finite:
        value, at = (max if goal == "maximize" else min)(finite)
        best = trials.iloc[at]
        left, right = st.columns([1, 3])
        left.metric(f"Best {metric_name}", f"{value:.4g}")
        right.dataframe(best.to_frame("best trial").astype(str), width="stretch")
        progress = pd.DataFrame({"trial": range(1, len(scores) + 1), "best": best_so_far})
        st.altair_chart(
            alt.Chart(progress)
            .mark_line(point=True, interpolate="step-after")
            .encode(
                x=alt.X("trial:Q", title="trials run", axis=alt.Axis(tickMinStep=1, format="d")),
                y=alt.Y("best:Q", title=f"best {metric_name} so far", scale=alt.Scale(zero=False)),
            )
            .properties(title="Best so far", height=200),
            width="stretch",
        )
    scored = trials[trials[metric_name].map(math.isfinite)]
    if params and len(scored):
        dims = [*params, metric_name]
        long = normalised(scored, dims)
        long = long.merge(scored[["trial", metric_name]].astype({"trial": str}).set_axis(["trial", "score"], axis=1))
        st.altair_chart(
            alt.Chart(long)
            .mark_line(opacity=0.7)
            .encode(
                x=alt.X("dimension:N", sort=dims, title=None),
                y=alt.Y("position:Q", axis=None),
                detail="trial:N",
                color=alt.Color("score:Q", title=metric_name, scale=alt.Scale(scheme="viridis")),
                tooltip=["trial:N", "dimension:N", "value:N"],
            )
            .properties(title="Parameters against the metric", height=260),
            width="stretch",
        )
        row = st.columns(min(3, len(params)))
        for i, p in enumerate(params):
            # Field names are fixed ("param", "score"): Vega reads dots in names as nesting.
            numeric = pd.to_numeric(scored[p], errors="coerce")
            kind: Literal["quantitative", "nominal"] = "quantitative" if numeric.notna().all() else "nominal"
            points = pd.DataFrame(
                {"param": numeric if kind == "quantitative" else scored[p], "score": scored[metric_name]}
            )
            x_scale = alt.Scale(zero=False) if kind == "quantitative" else alt.Undefined
            with row[i % len(row)]:
                st.altair_chart(
                    alt.Chart(points)
                    .mark_circle(size=60)
                    .encode(
                        x=alt.X("param", type=kind, title=p, scale=x_scale),
                        y=alt.Y("score:Q", title=metric_name, scale=alt.Scale(zero=False)),
                    )
                    .properties(title=f"{p} vs {metric_name}", height=200),
                    width="stretch",
                )
