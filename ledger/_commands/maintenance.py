"""`ledger compact` and `ledger recover`."""

from __future__ import annotations

import click

from ledger import _maintenance, _reader
from ledger._commands._common import open_storage, project_option, root_option
from ledger._commands._output import emit, format_option
from ledger._usage import BY, human, usage


@click.command("compact")
@click.argument("run_ids", nargs=-1, required=True)
@root_option
@project_option
def compact_command(run_ids: tuple[str, ...], root: str | None, project: str | None) -> None:
    """Merge the metric segments of ended runs (object stores) into one file each."""
    storage = open_storage(root)
    for run_id in run_ids:
        m = _reader.find_run(storage, run_id, project)
        merged = _maintenance.compact(storage, m.project, m.id)
        click.echo(f"{m.id}: merged {merged} segment{'s' if merged != 1 else ''}")


@click.command("recover")
@click.argument("folders", nargs=-1, type=click.Path(exists=True, file_okay=False))
@click.option("--root", help="Upload into this root instead of the one recorded in the spill.")
def recover_command(folders: tuple[str, ...], root: str | None) -> None:
    """Upload what runs spilled locally when their storage was down (default: every spill)."""
    targets = list(folders) or _maintenance.spill_folders()
    if not targets:
        click.echo(f"nothing to recover in {_maintenance.spill_base()}")
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
    storage = open_storage(root)
    groups = {}
    if by == "group":
        from ledger._query._ledger import open_ledger  # noqa: PLC0415

        groups = {(r.project, r.id): r.group for r in open_ledger(storage.url).runs(project, order_by=None)}
    buckets = usage(storage, groups, by)
    if project is not None and by != "kind":
        buckets = [b for b in buckets if any(r.startswith(f"{project}/") for r in b.runs)]
    rows = [[b.key, len(b.runs), b.files, b.bytes if fmt != "table" else human(b.bytes)] for b in buckets]
    emit([by, "runs", "files", "bytes" if fmt != "table" else "size"], rows, fmt)
