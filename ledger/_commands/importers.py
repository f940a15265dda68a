"""`ledger import KIND SOURCE`: copy runs from MLflow, TensorBoard, DVCLive or W&B."""

from __future__ import annotations

import sys

import click

from ledger import _format
from ledger._commands._common import root_option
from ledger._importers import KINDS, find, import_runs
from ledger._root import default_project, open_root


@click.command("import")
@click.argument("kind", type=click.Choice(KINDS), metavar="KIND")
@click.argument("source")
@root_option
@click.option("--project", help="Put every imported run in this project [default: the source's own, else as init].")
def import_command(kind: str, source: str, root: str | None, project: str | None) -> None:
    """Copy the runs of another tool into the ledger; runs imported before are skipped.

    \b
    KIND is one of: mlflow, tensorboard, dvclive, wandb. SOURCE is
      mlflow       an mlruns folder (file store), or sqlite:///mlflow.db (needs mlflow)
      tensorboard  a log folder: each folder in it with event files is a run (needs tensorboard)
      dvclive      DVCLive's output folder (default dvclive/)
      wandb        a wandb/ folder, one offline-run-* folder, or a .wandb file (needs wandb)
    """
    if project is not None:
        _format.check_name("project", project)
    found = find(kind, source)  # a bad source fails before the root is made
    storage = open_root(root, create=True)
    outcomes = import_runs(storage, kind, found, project=project, default_project=default_project)
    imported = skipped = 0
    failed: list[str] = []
    for o in outcomes:
        if o.error is not None:
            failed.append(o.label)
            click.echo(f"failed {o.label}: {o.error}", err=True)
            continue
        if o.manifest is None:
            skipped += 1
            click.echo(f"skipped {o.label}: already imported as {o.existing}")
            continue
        imported += 1
        m, run = o.manifest, o.run
        assert run is not None  # noqa: S101 (set with every manifest)
        metrics = len({k for rec in run.records for k in rec} - {"_step", "_time"})
        parts = [f"{metrics} metric{'s' if metrics != 1 else ''}", f"{len(run.records)} records"]
        if run.system:
            parts.append(f"{len(run.system)} system records")
        if run.files:
            parts.append(f"{len(run.files)} file{'s' if len(run.files) != 1 else ''}")
        if run.datasets:
            parts.append(f"{len(run.datasets)} dataset{'s' if len(run.datasets) != 1 else ''}")
        if m.parent:
            parts.append(f"parent {m.parent}")
        click.echo(f"imported {o.label} -> {m.project}/{m.id} ({m.status}; {', '.join(parts)})")
        for note in o.notes:
            click.echo(f"  left out: {note}")
    if not outcomes:
        click.echo(f"no {kind} runs found in {source}")
        return
    click.echo(f"{imported} imported, {skipped} skipped (already imported), {len(failed)} failed into {storage.url}")
    if failed:
        click.echo(
            f"could not import {len(failed)} of {len(outcomes)} runs (reasons above): " + "; ".join(failed), err=True
        )
        sys.exit(1)
