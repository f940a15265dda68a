"""`ledger artifact ls | show | get | lineage`: versioned datasets and models, and who made and used them."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click
import orjson

from ledger._commands._common import WholeHelpGroup, project_option, root_option
from ledger._commands._output import cell, emit, format_option, safe_text
from ledger._commands.query import open_for_cli
from ledger._units import human_bytes

if TYPE_CHECKING:
    from ledger._query import ArtifactView, Ledger, Lineage, Node

_SHOWN_FILES = 50  # files listed by `show` (all with --format json)


@click.group("artifact", cls=WholeHelpGroup)
def artifact_group() -> None:
    """Versioned datasets and models: list them, show one, get its files, trace its lineage."""


def _aliases(view: ArtifactView) -> str:
    return ", ".join(a for a in view.aliases if a != "latest")


@artifact_group.command("ls")
@click.argument("name", required=False)
@root_option
@project_option
@click.option("--type", "type_", help="Only artifacts of this type (model, dataset, ...).")
@format_option
def ls_command(name: str | None, root: str | None, project: str | None, type_: str | None, fmt: str) -> None:
    """List artifacts (one row each, with their latest version), or with NAME every version of it."""
    lg = open_for_cli(root)
    human = fmt == "table"
    if name is None:
        rows = [
            [view.project, view.name, view.type, view.version, _aliases(view),
             human_bytes(view.size) if human else view.size, view.created, view.run_id]
            for view in lg.artifacts(project, type=type_, latest=True)
        ]  # fmt: skip
        emit(["project", "name", "type", "versions", "aliases", "size", "updated", "run"], rows, fmt)
        return
    views = lg.artifacts(project, name=name, type=type_)
    if not views:
        lg.artifact(name, project=project)  # raises ArtifactNotFoundError naming what exists
    rows = [
        [f"v{v.version}", v.project, v.type, _aliases(v), human_bytes(v.size) if human else v.size, len(v.files),
         v.created, v.run_id, v.digest[:12] if human else v.digest]
        for v in views
    ]  # fmt: skip
    emit(["version", "project", "type", "aliases", "size", "files", "created", "run", "digest"], rows, fmt)


def _run_text(lg: Ledger, run_id: str | None, project: str) -> str:
    if run_id is None:
        return ""
    try:
        run = lg.run(run_id, project=project)
    except LookupError:
        return f"{run_id} (not in this ledger)"
    return " ".join(x for x in (run.id, run.name or "", f"({run.status})") if x)


@artifact_group.command("show")
@click.argument("ref")
@root_option
@project_option
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table", show_default=True)
def show_command(ref: str, root: str | None, project: str | None, fmt: str) -> None:
    """Show one artifact version: REF is name, name:v3, name:latest, name:best or project/name:v3."""
    lg = open_for_cli(root)
    view = lg.artifact(ref, project=project)
    users = view.used_by()
    if fmt == "json":
        doc: dict[str, Any] = {
            "project": view.project, "name": view.name, "version": view.version, "type": view.type,
            "created": view.created, "run": view.run_id, "aliases": view.aliases, "size": view.size,
            "digest": view.digest, "metadata": view.metadata,
            "files": [{"path": p, "size": s, "sha256": view.sha256[p]} for p, s in view.files.items()],
            "used_by": users.ids,
        }  # fmt: skip
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")
        return
    _section(
        "artifact",
        [
            ("version", view.qualified), ("type", view.type), ("created", view.created),
            ("logged by", _run_text(lg, view.run_id, view.project)), ("aliases", ", ".join(view.aliases)),
            ("size", f"{human_bytes(view.size)} in {len(view.files)} file{'s' if len(view.files) != 1 else ''}"),
            ("digest", view.digest),
        ],
    )  # fmt: skip
    if view.metadata:
        _section("metadata", list(view.metadata.items()))
    shown = list(view.files.items())[:_SHOWN_FILES]
    more = [("...", f"{len(view.files) - _SHOWN_FILES} more (--format json lists them all)")]
    files = [(path, f"{human_bytes(size)}  {view.sha256[path][:12]}") for path, size in shown]
    _section("files", files + (more if len(view.files) > _SHOWN_FILES else []))
    _section("used by", [(r.id, " ".join(x for x in (r.name or "", f"({r.status})") if x)) for r in users])


def _section(title: str, items: list[tuple[str, Any]]) -> None:
    click.secho(title, bold=True)
    if not items:
        click.echo("  (none)")
        return
    keys = [safe_text(str(k)) for k, _ in items]
    width = max(len(k) for k in keys)
    for key, (_k, value) in zip(keys, items, strict=True):
        click.echo(f"  {key.ljust(width)}  {cell(value)}")


@artifact_group.command("get")
@click.argument("ref")
@root_option
@project_option
@click.option("--dest", type=click.Path(file_okay=False), help="Copy the files into this folder (default: the cache).")
def get_command(ref: str, root: str | None, project: str | None, dest: str | None) -> None:
    """Get an artifact version's files, each checked against its sha256, and print where they are.
    Without --dest they are read-only links in the local cache ($LEDGER_ARTIFACT_CACHE)."""
    view = open_for_cli(root).artifact(ref, project=project)
    click.echo(view.download(dest))


def _node_text(node: Node) -> str:
    kind = "run" if node.kind == "run" else "artifact"
    label = (
        node.label if node.kind == "artifact" else f"{node.ref} {node.label}" if node.label != node.ref else node.ref
    )
    detail = f" ({node.detail})" if node.detail else ""
    missing = " (not in this ledger)" if node.missing else ""
    return f"{kind} {node.project}/{label}{detail}{missing}"


@artifact_group.command("lineage")
@click.argument("ref", required=False)
@click.option("--run", "run_ref", help="Trace a run (an id, a unique start of one, or its name) instead.")
@root_option
@project_option
@click.option("--depth", type=click.IntRange(min=1), default=1, show_default=True, help="Steps to follow.")
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table", show_default=True)
def lineage_command(
    ref: str | None, run_ref: str | None, root: str | None, project: str | None, depth: int, fmt: str
) -> None:
    """Who made and who used an artifact version (REF), or what a run (--run) used and made."""
    if (ref is None) == (run_ref is None):
        msg = "give an artifact version (REF, e.g. mnist:v3) or --run RUN, not both"
        raise click.UsageError(msg)
    lg = open_for_cli(root)
    if run_ref is not None:
        graph = lg.lineage(lg.run(run_ref, project=project), depth=depth)
    else:
        graph = lg.lineage(str(ref), project=project, depth=depth)
    if fmt == "json":
        doc = {
            "center": graph.center,
            "nodes": [n.__dict__ for n in graph.nodes],
            "edges": [{"from": a, "to": b} for a, b in graph.edges],
        }
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    _print_lineage(graph)


def _print_lineage(graph: Lineage) -> None:
    center = graph.node(graph.center)
    click.echo(safe_text(_node_text(center)))
    is_run = center.kind == "run"
    for title, nodes in (
        ("used" if is_run else "made by", graph.inputs()),
        ("made" if is_run else "used by", graph.outputs()),
    ):
        for node in nodes:
            click.echo(f"  {title.ljust(7)}  {safe_text(_node_text(node))}")
        if not nodes:
            click.echo(f"  {title.ljust(7)}  (none)")
    further = [(a, b) for a, b in graph.edges if graph.center not in (a, b)]
    if further:
        click.secho("further", bold=True)
        for a, b in further:
            click.echo(f"  {safe_text(_node_text(graph.node(a)))}  ->  {safe_text(_node_text(graph.node(b)))}")
