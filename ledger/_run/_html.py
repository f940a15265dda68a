"""The short HTML summary Jupyter shows for a run (``Run._repr_html_``).

Every piece of text that came from the user or the run (names, config keys and values,
paths) goes through :func:`html.escape`: a config value like ``<script>`` shows as text.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from ledger import _format

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ledger._format import Manifest
    from ledger._run import Run

_MAX_ITEMS = 8  # per section: a summary, not the whole manifest
_MAX_TEXT = 60  # characters of one value


def _flat(prefix: str, mapping: Mapping[str, Any], out: dict[str, Any]) -> None:
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            _flat(f"{prefix}{key}.", value, out)
        else:
            out[f"{prefix}{key}"] = value


def _short(value: Any) -> str:
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "\u2026"


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def _section(title: str, mapping: Mapping[str, Any]) -> str:
    flat: dict[str, Any] = {}
    _flat("", mapping, flat)
    if not flat:
        return ""
    cell = "<td style='text-align:left'>"
    rows = "".join(
        f"<tr>{cell}{html.escape(k)}</td>{cell}{html.escape(_short(v))}</td></tr>"
        for k, v in list(flat.items())[:_MAX_ITEMS]
    )
    more = len(flat) - _MAX_ITEMS
    if more > 0:
        rows += f"<tr><td colspan='2' style='text-align:left'>\u2026 and {more} more</td></tr>"
    return f"<tr><th colspan='2' style='text-align:left'>{html.escape(title)}</th></tr>{rows}"


def run_html(run: Run, manifest: Manifest, duration_s: float) -> str:
    """The run as a small HTML table: identity, status, duration, config and summary excerpts, folder."""
    status = manifest.status
    color = _format.STATUS_COLOURS.get(status, "inherit")
    where = " / ".join(
        html.escape(str(v)) for v in (manifest.project, manifest.group, manifest.job_type) if v is not None
    )
    tags = ", ".join(html.escape(t) for t in manifest.tags)
    head = (
        f"<b>{html.escape(str(manifest.name or manifest.id))}</b> "
        f"<code>{html.escape(manifest.id)}</code> "
        f"<span style='color:{color};font-weight:bold'>{html.escape(status)}</span> "
        f"after {html.escape(_duration(duration_s))}"
    )
    lines = [f"<div>{head}</div>", f"<div>{where}{' &middot; tags: ' + tags if tags else ''}</div>"]
    table = _section("config", manifest.config) + _section("summary", run.summary.as_dict())
    if table:
        lines.append(f"<table>{table}</table>")
    lines.append(f"<div style='font-size:smaller'>{html.escape(run.dir)}</div>")
    return "<div class='ledger-run'>" + "".join(lines) + "</div>"
