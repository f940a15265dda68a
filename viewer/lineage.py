"""Artifacts in the viewer: a run's inputs and outputs (the artifact versions it used and
logged, with the runs that made and used them), its lineage graph, and the root against its
quota. Read through the query API (``Ledger.lineage``, ``RunView.used_artifacts``,
``Ledger.storage_summary``), cached per snapshot; the tables and the graph are plain
functions of what was read, so they are tested without Streamlit."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

import ledger
from ledger._units import human_bytes
from viewer import data

if TYPE_CHECKING:
    from ledger._query._artifacts import ArtifactView, Lineage, Node

MAX_AROUND = 8  # runs shown around one artifact version in the graph; the rest are counted
NOT_USED = "(not used yet)"
MISSING = "(missing from the ledger)"


@dataclass(frozen=True)
class RunArtifacts:
    """What the Run page shows of a run's artifacts: its lineage two steps out (its versions,
    their producers and consumers), and the versions it names that could be read."""

    lineage: Lineage
    versions: dict[str, ArtifactView]  # lineage node key -> the version, where it could be read


@st.cache_resource(max_entries=64, show_spinner=False)
def _run_artifacts(src: data.Source, version_: int, run_id: str) -> RunArtifacts | None:  # noqa: ARG001 (keys the cache)
    run = data.run(src, run_id)
    if not (run.doc.get("used_artifacts") or run.doc.get("logged_artifacts")):
        return None
    lg = data.open_ledger(src)
    found = {f"artifact:{v.qualified}": v for v in (*run.used_artifacts(), *run.logged_artifacts())}
    return RunArtifacts(lg.lineage(run, depth=2), found)


def run_artifacts(src: data.Source, run: ledger.RunView) -> RunArtifacts | None:
    """The run's artifacts and their lineage; None when it used and logged none."""
    return _run_artifacts(src, data.version(src), run.id)


def _link(node: Node | None) -> str | None:
    if node is None or node.kind != "run" or node.missing:
        return None
    return "?" + urllib.parse.urlencode({"run": node.ref})


def _row(node: Node, version: ArtifactView | None, home: str) -> dict[str, Any]:
    return {
        "artifact": node.ref if node.project == home else f"{node.project}/{node.ref}",
        "type": (version.type if version else None) or "",
        "aliases": ", ".join(version.aliases) if version else MISSING,
        "files": len(version.files) if version else None,
        "size": human_bytes(version.size) if version else "",
    }


def inputs_table(found: RunArtifacts) -> pd.DataFrame:
    """One row per artifact version the run used: what it is, and the run that made it
    (``made by``; ``open`` is that run's page)."""
    graph = found.lineage
    home = graph.node(graph.center).project
    rows: list[dict[str, Any]] = []
    for node in graph.inputs():
        maker = next((n for n in graph.inputs(node.key) if n.kind == "run"), None)
        rows.append(
            {**_row(node, found.versions.get(node.key), home), "made by": _run_label(maker, "(logged outside a run)"),
             "open": _link(maker)}
        )  # fmt: skip
    return pd.DataFrame(rows, columns=["artifact", "type", "aliases", "files", "size", "made by", "open"])


def outputs_table(found: RunArtifacts) -> pd.DataFrame:
    """One row per artifact version the run logged and run that used it (one row, ``used by``
    empty, for a version nobody used yet); ``open`` is the user's page."""
    graph = found.lineage
    home = graph.node(graph.center).project
    rows: list[dict[str, Any]] = []
    for node in graph.outputs():
        users: list[Node | None] = [n for n in graph.outputs(node.key) if n.kind == "run"]
        shown = _row(node, found.versions.get(node.key), home)
        rows.extend({**shown, "used by": _run_label(user, NOT_USED), "open": _link(user)} for user in users or [None])
    return pd.DataFrame(rows, columns=["artifact", "type", "aliases", "files", "size", "used by", "open"])


def _run_label(node: Node | None, default: str) -> str:
    if node is None:
        return default
    if node.missing:
        return f"{node.ref} {MISSING}"
    return f"{node.label} ({node.ref})" if node.label != node.ref else node.ref


def _quoted(text: str) -> str:
    """A DOT string literal: quotes and backslashes escaped, line breaks as DOT's own."""
    clean = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "\\n")
    return f'"{clean[:80]}"'


def lineage_dot(graph: Lineage, max_around: int = MAX_AROUND) -> str:
    """The lineage graph as Graphviz DOT, left to right: runs as boxes (the center bold, each
    a link to its page), artifact versions as notes; beyond ``max_around`` runs around one
    version, the rest are one node saying how many."""
    keep = {graph.center}
    keep.update(n.key for n in (*graph.inputs(), *graph.outputs()))
    extra: dict[str, int] = {}  # version key -> runs around it left out
    for version in [n for n in graph.nodes if n.key in keep and n.kind == "artifact"]:
        around = [n.key for n in (*graph.inputs(version.key), *graph.outputs(version.key)) if n.key not in keep]
        keep.update(around[:max_around])
        if len(around) > max_around:
            extra[version.key] = len(around) - max_around
    ids = {n.key: f"n{i}" for i, n in enumerate(n for n in graph.nodes if n.key in keep)}
    lines = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="sans-serif", fontsize=11];']
    for node in graph.nodes:
        if node.key not in ids:
            continue
        attrs = {"label": _quoted(f"{node.label}\n{node.detail}" if node.detail else node.label)}
        if node.kind == "run":
            attrs["shape"] = "box"
            attrs["style"] = '"rounded,bold,filled"' if node.key == graph.center else '"rounded"'
            if node.key == graph.center:
                attrs["fillcolor"] = '"#e8eefc"'
            link = _link(node)
            if link and node.key != graph.center:
                attrs["URL"] = _quoted(link)
                attrs["target"] = '"_self"'
                attrs["tooltip"] = _quoted(f"open run {node.ref}")
        else:
            attrs["shape"] = "note"
        if node.missing:
            attrs["style"] = '"dashed"'
            attrs["label"] = _quoted(f"{node.label}\n(missing)")
        lines.append(f"  {ids[node.key]} [{', '.join(f'{k}={v}' for k, v in attrs.items())}];")
    for a, b in graph.edges:
        if a in ids and b in ids:
            lines.append(f"  {ids[a]} -> {ids[b]};")
    for i, (key, count) in enumerate(extra.items()):
        lines.append(f'  more{i} [label="{count} more runs", shape=plaintext, fontcolor="#666666"];')
        lines.append(f"  {ids[key]} -> more{i} [style=dotted];")
    lines.append("}")
    return "\n".join(lines)


# ---- the root against its quota -----------------------------------------------------------------


@st.cache_data(max_entries=4, show_spinner=False)
def _storage(src: data.Source, version_: int) -> dict[str, Any] | str:  # noqa: ARG001 (keys the cache)
    try:
        return data.open_ledger(src).storage_summary()
    except (ledger.LedgerError, OSError) as exc:
        return str(exc)


def storage_summary(src: data.Source) -> dict[str, Any] | str:
    """``Ledger.storage_summary()`` of the current snapshot (used bytes, quota, artifacts'
    deduplication), or why it could not be read."""
    return _storage(src, data.version(src))


def quota_line(summary: dict[str, Any]) -> tuple[str, float | None]:
    """What the storage panel says of the root against its quota, and the share used (None
    without a quota)."""
    used, quota = summary["used_bytes"], summary["quota_bytes"]
    if not quota:
        return f"{human_bytes(used)} used (no quota: set $LEDGER_QUOTA_GB or quota_gb in ledger.yaml)", None
    share = used / quota
    over = " (over the quota)" if used > quota else ""
    return f"{human_bytes(used)} used of {human_bytes(quota)} ({100 * share:.0f}%){over}", share


def artifacts_line(summary: dict[str, Any]) -> str | None:
    """What artifacts take and what their deduplication saved; None without artifacts."""
    if not summary["versions"] and not summary["blobs"]:
        return None
    return (
        f"Artifacts: {summary['versions']} versions of {human_bytes(summary['version_bytes'])} stored as "
        f"{summary['blobs']} blobs of {human_bytes(summary['blob_bytes'])}; deduplication saved "
        f"{human_bytes(summary['dedup_saved_bytes'])}"
    )
