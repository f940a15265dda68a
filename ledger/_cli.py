"""The `ledger` command line."""

from __future__ import annotations

import sys

import click

from ledger import _format, _reader
from ledger._errors import LedgerError
from ledger._storage import Storage


def _open(root: str | None) -> Storage:
    from ledger._run import _default_root  # noqa: PLC0415

    storage = Storage(root or _default_root())
    try:
        marker = storage.read_bytes(_format.ROOT_MARKER)
    except FileNotFoundError:
        msg = f"no ledger at {storage.url} (no {_format.ROOT_MARKER}); pass --root or set $LEDGER_ROOT"
        raise click.ClickException(msg) from None
    _format.check_root_marker(marker, storage.full(_format.ROOT_MARKER))
    return storage


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


root_option = click.option("--root", envvar="LEDGER_ROOT", help="Ledger root: a folder or fsspec URL.")
project_option = click.option("--project", help="Only this project.")


@click.group()
@click.version_option(package_name="experiment-ledger")
def cli() -> None:
    """experiment-ledger: runs as plain files, no server."""


@cli.command("ls")
@root_option
@project_option
def ls_command(root: str | None, project: str | None) -> None:
    """List runs, oldest first."""
    storage = _open(root)
    rows = [
        (
            m.id,
            m.name or "",
            m.project,
            m.group or "",
            m.job_type or "",
            m.effective_status(),
            m.created,
            _duration(m.duration_s),
        )
        for m in _reader.list_runs(storage, project)
    ]
    header = ("id", "name", "project", "group", "job_type", "status", "created", "duration")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def main() -> None:
    """Entry point of the `ledger` console script."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(1)
    except click.UsageError as exc:
        exc.show()
        sys.exit(2)
    except click.ClickException as exc:
        exc.show()
        sys.exit(1)
    except LedgerError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
