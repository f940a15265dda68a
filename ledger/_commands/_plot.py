"""`ledger plot`: mean and std band per group, with matplotlib (imported only here)."""

from __future__ import annotations

import math
import warnings
from typing import Any

from ledger._query._ledger import RunSet, RunView, group_key

_TIME_POINTS = 200  # runs do not share wall times: each is resampled onto this many points


def _series(run: RunView, metric: str, x_axis: str) -> dict[float, float]:
    """x -> value of one run's finite values of ``metric`` (the last one per step wins)."""
    records = run.records()
    start = records[0]["_time"] if records else 0.0
    points: dict[float, float] = {}
    for rec in records:
        v = rec.get(metric)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            points[rec["_step"] if x_axis == "step" else rec["_time"] - start] = float(v)
    return points


def plot_groups(runs: RunSet, *, metric: str, group_by: str, x_axis: str, output: str) -> int:
    """Draw one mean line and +-1 std band per group; returns how many groups were drawn."""
    import matplotlib as mpl  # noqa: PLC0415

    mpl.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    groups: dict[str, list[dict[float, float]]] = {}
    for run in runs:
        series = _series(run, metric, x_axis)
        if series:
            key = group_key(run, group_by)
            groups.setdefault("(none)" if key is None else str(key), []).append(series)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name in sorted(groups):
        members = groups[name]
        xs: Any
        if x_axis == "step":
            xs = np.array(sorted({x for s in members for x in s}))
            stacked = np.array([[s.get(x, np.nan) for x in xs] for s in members])
        else:
            end = max(max(s) for s in members)
            xs = np.linspace(0.0, end, _TIME_POINTS)
            stacked = np.array([np.interp(xs, sorted(s), [s[k] for k in sorted(s)], right=np.nan) for s in members])
        counts = np.sum(~np.isnan(stacked), axis=0)  # every x has at least one run's value
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # std of a single value
            mean = np.nanmean(stacked, axis=0)
            std = np.where(counts > 1, np.nanstd(stacked, axis=0, ddof=1), 0.0)
        (line,) = ax.plot(xs, mean, label=f"{name} (n={len(members)})", linewidth=1.5)
        ax.fill_between(xs, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel("step" if x_axis == "step" else "time (s)")
    ax.set_ylabel(metric)
    ax.grid(visible=True, alpha=0.3)
    if groups:
        ax.legend(title=group_by, fontsize="small")
    fig.tight_layout()
    fig.savefig(output)
    plt.close(fig)
    return len(groups)
