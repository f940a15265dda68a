"""index.html of a publication: tables and curves that open from the file system.

No script, no network, no external file: inline CSS and SVG drawn here. Every piece of
user text goes through html.escape.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from html import escape
from typing import TYPE_CHECKING, Any

from ledger import _format
from ledger._query import Band, Cell, RunSet, RunView, aggregate_runs, finite_number

if TYPE_CHECKING:
    from ledger._storage import Storage

_MAX_METRICS = 6  # charts per project
_MAX_COLUMNS = 8  # summary columns per table
_POINTS = 300  # per line, after downsampling
_W, _H, _PAD = 520, 260, 40

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;
  margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0 1rem}
th,td{padding:.25rem .6rem;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f6f6f6}
.charts{display:flex;flex-wrap:wrap;gap:1rem}figure{margin:0}figcaption{font-weight:600}
details{margin:.3rem 0}summary{cursor:pointer}code{background:#f4f4f4;padding:0 .2rem}
.legend span{margin-right:1rem}.muted{color:#777}
"""
_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else f"{value:.4g}"
    return "" if value is None else str(value)


def _mean_std(cell: Cell, runs: int) -> str:
    if cell.mean is None:
        return "&ndash;"
    text = cell.text(none="&mdash;").replace("±", "&plusmn;")
    return text if cell.n == runs else f"{text} <span class='muted'>(n={cell.n})</span>"


def _finite_points(band: Band) -> tuple[list[float], list[float], list[float], list[float]]:
    """x, mean, and mean -+ std (the mean where one run holds a point) of a band's points."""
    xs, ys, lo, hi = [], [], [], []
    for x, mean, std in zip(band.x.tolist(), band.mean.tolist(), band.std.tolist(), strict=True):
        if math.isfinite(mean):
            spread = std if math.isfinite(std) else 0.0
            xs.append(x)
            ys.append(mean)
            lo.append(mean - spread)
            hi.append(mean + spread)
    return xs, ys, lo, hi


def _svg(curves: list[tuple[str, Band]]) -> str:
    drawn = [(label, *_finite_points(band)) for label, band in curves]
    points = [
        (x, y) for _, xs, _ys, lo, hi in drawn for x, low, high in zip(xs, lo, hi, strict=True) for y in (low, high)
    ]
    if not points:
        return ""
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)

    def sx(x: float) -> float:
        return _PAD + (x - x0) / (x1 - x0) * (_W - 2 * _PAD)

    def sy(y: float) -> float:
        return _H - _PAD - (y - y0) / (y1 - y0) * (_H - 2 * _PAD)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}">']
    parts.append(
        f'<rect x="{_PAD}" y="{_PAD}" width="{_W - 2 * _PAD}" height="{_H - 2 * _PAD}" fill="none" stroke="#ccc"/>'
    )
    for value, y in ((y0, _H - _PAD), (y1, _PAD)):
        parts.append(f'<text x="{_PAD - 4}" y="{y + 4}" font-size="10" text-anchor="end">{escape(_fmt(value))}</text>')
    for value, x in ((x0, _PAD), (x1, _W - _PAD)):
        parts.append(
            f'<text x="{x}" y="{_H - _PAD + 14}" font-size="10" text-anchor="middle">{escape(_fmt(value))}</text>'
        )
    for i, (_label, xs, ys, lo, hi) in enumerate(drawn):
        colour = _COLORS[i % len(_COLORS)]
        outline = [*zip(xs, hi, strict=True), *reversed(list(zip(xs, lo, strict=True)))]
        area = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in outline)
        parts.append(f'<polygon fill="{colour}" fill-opacity="0.2" stroke="none" points="{area}"/>')
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(xs, ys, strict=True))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{coords}"/>')
    parts.append("</svg>")
    return "".join(parts)


def group_curves(runs: list[RunView], metric: str) -> list[tuple[str, Band]]:
    """The report's curves of ``metric``: per group its mean and std band from the series
    engine (``RunSet.band``, by step, at most _POINTS points); a run without a group is a
    curve of its own, under its name."""
    grouped = RunSet(r for r in runs if r.group is not None)
    curves = [(str(band.group), band) for band in grouped.band(metric, by="group", samples=_POINTS) if band.runs]
    for run in runs:
        if run.group is None:
            band = RunSet([run]).band(metric, samples=_POINTS)[0]
            if band.runs:
                curves.append((run.name or run.id, band))
    return sorted(curves, key=lambda c: c[0])


def render_report(out: Storage, entries: list[dict[str, Any]]) -> str:
    """The publication's index.html, from its index entries (manifests) and the copied runs."""
    html = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Results</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Results</h1>",
        (
            f"<p class='muted'>{len(entries)} runs, published {escape(_format.iso(time.time()))} with "
            "experiment-ledger. The runs are in this folder as YAML and JSON lines "
            "(<code>&lt;project&gt;/runs/&lt;id&gt;/</code>); <code>index.json</code> lists them.</p>"
        ),
    ]
    projects: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        projects.setdefault(entry["project"], []).append(entry)
    now = time.time()
    for project in sorted(projects):
        runs = projects[project]
        views = [RunView(out, run["manifest"], now) for run in runs]
        html.append(f"<h2>{escape(project)}</h2>")
        html.append(_table(views))
        counts = Counter(k for view in views for k in view.series_keys())
        metrics = sorted(counts, key=lambda k: (-counts[k], k))[:_MAX_METRICS]
        if metrics:
            html.append("<div class='charts'>")
            for metric in metrics:
                curves = group_curves(views, metric)
                legend = "".join(
                    f"<span style='color:{_COLORS[i % len(_COLORS)]}'>&#9632; {escape(label)}</span>"
                    for i, (label, _band) in enumerate(curves)
                )
                html.append(
                    f"<figure><figcaption>{escape(metric)} <span class='muted'>(mean &plusmn; std per group, "
                    f"by step)</span></figcaption>{_svg(curves)}<div class='legend'>{legend}</div></figure>"
                )
            html.append("</div>")
        html.append("<h3>Runs</h3>")
        html.extend(_run_details(run) for run in runs)
    html.append("</body></html>")
    return "\n".join(html)


def _table(views: list[RunView]) -> str:
    """Mean ± std per group of the most common summary metrics (the library's aggregate:
    finished runs, n per cell, groups keyed by name within the project)."""
    keys = Counter(k for view in views for k, v in view.summary.items() if finite_number(v) is not None)
    columns = sorted(keys, key=lambda k: (-keys[k], k))[:_MAX_COLUMNS]
    table = aggregate_runs(views, "group", [f"summary.`{c}`" for c in columns])
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    rows = []
    for row in table.rows:
        name = "(no group)" if row.key[1] is None else str(row.key[1])
        cells = "".join(f"<td>{_mean_std(row.cells[m], len(row.runs))}</td>" for m in table.metrics)
        rows.append(f"<tr><td>{escape(name)}</td><td>{len(row.runs)}</td>{cells}</tr>")
    note = f"<p class='muted'>{escape(table.describe_counts())}.</p>"
    return f"<table><tr><th>group</th><th>n</th>{head}</tr>{''.join(rows)}</table>{note}"


def _kv_table(mapping: dict[str, Any]) -> str:
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(f"{prefix}{k}.", v)
        else:
            flat[prefix.rstrip(".")] = value

    walk("", mapping)
    rows = "".join(f"<tr><td>{escape(k)}</td><td>{escape(_fmt(v))}</td></tr>" for k, v in flat.items())
    return f"<table>{rows}</table>" if rows else "<p class='muted'>none</p>"


def _run_details(run: dict[str, Any]) -> str:
    m = run["manifest"]
    git = m.get("git") or {}
    command = m.get("command") or {}
    provenance = {
        "status": m.get("status"),
        "created": m.get("created"),
        "duration_s": m.get("duration_s"),
        "commit": git.get("commit"),
        "branch": git.get("branch"),
        "dirty": git.get("dirty"),
        "remote": git.get("remote"),
        "command": " ".join(map(str, command.get("argv") or [])),
    }
    title = " &middot; ".join(escape(str(v)) for v in (m.get("name"), m.get("group"), run["id"]) if v)
    return (
        f"<details><summary>{title}</summary>"
        f"<h4>Provenance</h4>{_kv_table(provenance)}<h4>Config</h4>{_kv_table(m.get('config') or {})}"
        f"<h4>Summary</h4>{_kv_table(m.get('summary') or {})}</details>"
    )
