"""`ledger compact` and `ledger recover`."""

from __future__ import annotations

import click

from ledger import _maintenance
from ledger._commands._common import project_option, root_option
from ledger._commands._output import emit, format_option
from ledger._query import open_ledger
from ledger._query._usage import BY, listing, summary, usage
from ledger._root import open_root, spill_base
from ledger._settings import QUOTA_GB
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
    """What takes space: bytes and files per project, group, run or kind, largest first; then
    the artifacts (each blob counted once, and what deduplication saved) and the root against
    its quota ($LEDGER_QUOTA_GB or quota_gb in ledger.yaml)."""
    lg = open_ledger(root)
    storage = open_root(lg.root)
    files = listing(storage)
    groups = {(r.project, r.id): r.group for r in lg.runs(order_by=None)}
    rows = [
        [b.key, len(b.runs), b.files, b.bytes if fmt != "table" else human_bytes(b.bytes)]
        for b in usage(storage, groups, by, project, files)
    ]
    emit([by, "runs", "files", "bytes" if fmt != "table" else "size"], rows, fmt)
    totals = summary(storage, files)
    err = fmt != "table"  # csv and json stay machine-readable on stdout
    if totals["versions"]:
        click.echo(
            f"artifacts: {totals['versions']} versions of {human_bytes(totals['version_bytes'])} stored as "
            f"{totals['blobs']} blobs in {human_bytes(totals['blob_bytes'])}, each counted once "
            f"(deduplication saved {human_bytes(totals['dedup_saved_bytes'])})"
            + (f"; {totals['unreferenced_blobs']} blobs no version names" if totals["unreferenced_blobs"] else ""),
            err=err,
        )
    used, quota = totals["used_bytes"], totals["quota_bytes"]
    if quota:
        over = " (over the quota)" if used > quota else ""
        click.echo(f"used: {human_bytes(used)} of {human_bytes(quota)} ({100 * used / quota:.0f}%){over}", err=err)
    else:
        click.echo(f"used: {human_bytes(used)} (no quota: ${QUOTA_GB.name} or quota_gb in ledger.yaml)", err=err)
