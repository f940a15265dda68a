"""`ledger ls`."""

from __future__ import annotations

import click

from ledger import _reader
from ledger._commands._common import open_storage, project_option, root_option


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


@click.command("ls")
@root_option
@project_option
def ls_command(root: str | None, project: str | None) -> None:
    """List runs, oldest first."""
    storage = open_storage(root)
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
