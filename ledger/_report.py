"""index.html of a publication: tables and curves that open from the file system.

No script, no network, no external file: inline CSS and SVG drawn here. Every piece of
user text goes through html.escape.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import Counter
from html import escape
from typing import TYPE_CHECKING, Any, TypeGuard

from ledger import _format, _reader

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


def _mean_std(values: list[float]) -> str:
    if not values:
        return "&ndash;"
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.4g} &plusmn; {std:.2g}"


def _finite(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _downsample(xs: list[float], ys: list[float]) -> tuple[list[float], list[float]]:
    """At most _POINTS points, keeping the min and max of each bucket (spikes stay)."""
    if len(xs) <= _POINTS:
        return xs, ys
    size = math.ceil(len(xs) / (_POINTS // 2))
    ox: list[float] = []
    oy: list[float] = []
    for start in range(0, len(xs), size):
        idx = range(start, min(start + size, len(xs)))
        lo = min(idx, key=lambda i: ys[i])
        hi = max(idx, key=lambda i: ys[i])
        for i in sorted({lo, hi}):
            ox.append(xs[i])
            oy.append(ys[i])
    return ox, oy


def _svg(series: list[tuple[str, list[float], list[float]]]) -> str:
    points = [(x, y) for _, xs, ys in series for x, y in zip(xs, ys, strict=True)]
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
    for i, (_label, xs, ys) in enumerate(series):
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(xs, ys, strict=True))
        parts.append(
            f'<polyline fill="none" stroke="{_COLORS[i % len(_COLORS)]}" stroke-width="1.5" points="{coords}"/>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _group_curves(runs: list[dict[str, Any]], metric: str) -> list[tuple[str, list[float], list[float]]]:
    by_group: dict[str, dict[float, list[float]]] = {}
    for run in runs:
        records = run["_records"]
        per_step = by_group.setdefault(
            str(run["manifest"].get("group") or run["manifest"].get("name") or run["id"]), {}
        )
        for rec in records:
            v = rec.get(metric)
            if _finite(v):
                per_step.setdefault(float(rec["_step"]), []).append(float(v))
    curves = []
    for label in sorted(by_group):
        steps = sorted(by_group[label])
        if steps:
            xs, ys = _downsample(steps, [statistics.fmean(by_group[label][s]) for s in steps])
            curves.append((label, xs, ys))
    return curves


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
    for project in sorted(projects):
        runs = projects[project]
        for run in runs:
            stream = _reader.read_stream(out, _format.run_dir(project, run["id"]))
            run["_records"] = stream.records
        html.append(f"<h2>{escape(project)}</h2>")
        html.append(_table(runs))
        counts = Counter(k for run in runs for rec in run["_records"][-1:] for k in rec if k not in ("_step", "_time"))
        metrics = sorted(counts, key=lambda k: (-counts[k], k))[:_MAX_METRICS]
        if metrics:
            html.append("<div class='charts'>")
            for metric in metrics:
                curves = _group_curves(runs, metric)
                legend = "".join(
                    f"<span style='color:{_COLORS[i % len(_COLORS)]}'>&#9632; {escape(label)}</span>"
                    for i, (label, _, _) in enumerate(curves)
                )
                html.append(
                    f"<figure><figcaption>{escape(metric)} <span class='muted'>(mean per group, by step)</span>"
                    f"</figcaption>{_svg(curves)}<div class='legend'>{legend}</div></figure>"
                )
            html.append("</div>")
        html.append("<h3>Runs</h3>")
        html.extend(_run_details(run) for run in runs)
        for run in runs:
            run.pop("_records", None)
    html.append("</body></html>")
    return "\n".join(html)


def _table(runs: list[dict[str, Any]]) -> str:
    groups: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault(str(run["manifest"].get("group") or "(no group)"), []).append(run)
    keys = Counter(k for run in runs for k, v in (run["manifest"].get("summary") or {}).items() if _finite(v))
    columns = sorted(keys, key=lambda k: (-keys[k], k))[:_MAX_COLUMNS]
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    rows = []
    for name in sorted(groups):
        members = groups[name]
        cells = "".join(f"<td>{_mean_std(_values(members, c))}</td>" for c in columns)
        rows.append(f"<tr><td>{escape(name)}</td><td>{len(members)}</td>{cells}</tr>")
    return f"<table><tr><th>group</th><th>n</th>{head}</tr>{''.join(rows)}</table>"


def _values(runs: list[dict[str, Any]], key: str) -> list[float]:
    """The finite summary values of ``key`` across runs."""
    out = []
    for run in runs:
        v = (run["manifest"].get("summary") or {}).get(key)
        if _finite(v):
            out.append(float(v))
    return out


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
