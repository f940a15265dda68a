"""`ledger verify`."""

from __future__ import annotations

import sys

import click

from ledger._commands._common import project_option, root_option
from ledger._root import open_root
from ledger._verify import verify


@click.command("verify")
@root_option
@project_option
@click.option("--strict", is_flag=True, help="Also fail on torn last lines (left by killed writers).")
@click.option("--deep", is_flag=True, help="Also hash every artifact blob (reads every byte of them).")
def verify_command(root: str | None, project: str | None, strict: bool, deep: bool) -> None:
    """Check the ledger against the format: manifests, schema, streams, artifacts, unreadable files."""
    storage = open_root(root)
    report = verify(storage, project, deep=deep)
    for line in report.errors:
        click.echo(f"error    {line}")
    for line in report.torn:
        click.echo(f"torn     {line}")
    for line in report.crashed:
        click.echo(f"crashed  {line}")
    artifacts = ""
    if report.versions or report.blobs:
        hashed = " (hashed)" if deep else ""
        unreferenced = f", {report.unreferenced} that no version names" if report.unreferenced else ""
        artifacts = f", {report.versions} artifact versions and {report.blobs} blobs{hashed}{unreferenced}"
    click.echo(
        f"checked {report.runs} runs{artifacts}: {len(report.errors)} errors, {len(report.torn)} torn last lines, "
        f"{len(report.crashed)} crashed"
    )
    if report.errors or (strict and report.torn):
        sys.exit(1)
