"""`ledger plot`: a mean line and a +-1 std band per group, with matplotlib (imported only here).

The curves come from the series engine (``RunSet.band``): runs on a shared grid, so the
figure shows the same numbers as the viewer and the publication report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ledger._query import Band, RunSet

X_AXES = {"step": "step", "time": "relative"}  # --x choices -> the series engine's axes


def label(band: Band) -> str:
    """How a group is named in the legend: its key ('(none)' without one) and its run count."""
    key = band.group
    shown = "(none)" if key is None else ", ".join(map(str, key)) if isinstance(key, tuple) else str(key)
    return f"{shown} (n={band.runs})"


def plot_groups(runs: RunSet, *, metric: str, group_by: str, x_axis: str, output: str) -> list[Band]:
    """Draw one mean line and a +-1 std band per group into ``output``; returns the bands
    drawn (groups without values of ``metric`` are left out)."""
    import matplotlib as mpl  # noqa: PLC0415

    mpl.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    bands = [b for b in runs.band(metric, by=group_by, x=X_AXES[x_axis]) if b.runs]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for band in bands:
        (line,) = ax.plot(band.x, band.mean, label=label(band), linewidth=1.5)
        spread: Any = np.nan_to_num(band.std)  # no band where one run holds the point
        ax.fill_between(band.x, band.mean - spread, band.mean + spread, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel("step" if x_axis == "step" else "time (s)")
    ax.set_ylabel(metric)
    ax.grid(visible=True, alpha=0.3)
    if bands:
        ax.legend(title=group_by, fontsize="small")
    fig.tight_layout()
    fig.savefig(output)
    plt.close(fig)
    return bands
