"""`ledger compact` and `ledger recover`."""

from __future__ import annotations

import click

from ledger import _maintenance
from ledger._commands._common import project_option, root_option
from ledger._commands._output import emit, format_option
from ledger._query import open_ledger
from ledger._query._usage import BY
from ledger._root import open_root, spill_base
from ledger._units import human_bytes


@click.command("compact")
@click.argument("run_ids", nargs=-1, required=True)
@root_option
@project_option
def compact_command(run_ids: tuple[str, ...], root: str | None, project: str | None) -> None:
    """Merge the metric segments of ended runs (object stores) into one file each."""
    storage = open_root(root)
    lg = open_ledger(storage.url)
    for ref in run_ids:
        run = lg.run(ref, project=project)
        merged = _maintenance.compact(storage, run.project, run.id)
        click.echo(f"{run.id}: merged {merged} segment{'s' if merged != 1 else ''}")


@click.command("recover")
@click.argument("folders", nargs=-1, type=click.Path(exists=True, file_okay=False))
@click.option("--root", help="Upload into this root instead of the one recorded in the spill.")
def recover_command(folders: tuple[str, ...], root: str | None) -> None:
    """Upload what runs spilled locally when their storage was down (default: every spill)."""
    targets = list(folders) or _maintenance.spill_folders()
    if not targets:
        click.echo(f"nothing to recover in {spill_base()}")
        return
    for folder in targets:
        try:
            done = _maintenance.recover(folder, root=root)
        except OSError as exc:
            msg = f"{folder}: not recovered, the storage still fails ({exc}); the spill is kept"
            raise click.ClickException(msg) from exc
        click.echo(f"{done.run_id}: {done.items} files written to {done.root}")


@click.command("du")
@root_option
@project_option
@click.option("--by", type=click.Choice(BY), default="project", show_default=True)
@format_option
def du_command(root: str | None, project: str | None, by: str, fmt: str) -> None:
    """What takes space: bytes and files per project, group, run or kind, largest first."""
    lg = open_ledger(root)
    rows = [
        [b[by], b["runs"], b["files"], b["bytes"] if fmt != "table" else human_bytes(b["bytes"])]
        for b in lg.disk_usage(by, project)
    ]
    emit([by, "runs", "files", "bytes" if fmt != "table" else "size"], rows, fmt)
