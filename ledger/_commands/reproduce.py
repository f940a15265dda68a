"""`ledger reproduce` and `ledger diff`."""

from __future__ import annotations

import os
import subprocess
from typing import TYPE_CHECKING

import click

from ledger import _format, _reproduce
from ledger._capture._redact import REDACTED
from ledger._commands._common import project_option, root_option
from ledger._query import open_ledger
from ledger._root import open_root

if TYPE_CHECKING:
    from ledger._storage import Storage


def _reproductions(storage: Storage, project: str, run_id: str) -> list[str]:
    return open_ledger(storage.url).runs(project, where={"reproduces": run_id}).ids


def _manifest(storage: Storage, ref: str, project: str | None) -> _format.Manifest:
    """The manifest of the run ``ref`` names (id, unique start of one, or exact name)."""
    view = open_ledger(storage.url).run(ref, project=project)
    return _format.Manifest.from_dict(dict(view.doc), view.dir)


@click.command("reproduce")
@click.argument("run_id")
@click.option(
    "--into", "into", metavar="DIR", help="Make the worktree here (a new or empty folder) [default: a temp folder]."
)
@click.option("--run", "run_it", is_flag=True, help="Also run the command; the new run records `reproduces: RUN_ID`.")
@root_option
@project_option
def reproduce_command(run_id: str, into: str | None, run_it: bool, root: str | None, project: str | None) -> None:
    """Rebuild a run: a git worktree at its commit with its code.patch applied and its
    config written, and the command that reruns it."""
    storage = open_root(root)
    m = _manifest(storage, run_id, project)
    rep = _reproduce.reproduce(storage, m, into=into)
    click.echo(f"worktree: {rep.worktree} (commit {rep.commit[:12]}, {rep.patched_files} file(s) from code.patch)")
    click.echo(f"config:   {rep.config_path}")
    for note in rep.notes:
        click.echo(f"note:     {note}")
    click.echo(f"remove it with: git worktree remove --force {rep.worktree}")
    if rep.argv is None:
        if run_it:
            msg = f"--run: run {m.id} has no command that can be rerun from here (see the note above)"
            raise click.ClickException(msg)
        return
    click.echo("rerun with:")
    click.echo(f"  {rep.shell_command()}")
    if not run_it:
        return
    if any(REDACTED in a for a in rep.argv):
        msg = "--run: the recorded command has redacted secret values; run the printed command with the real values"
        raise click.ClickException(msg)
    before = _reproductions(storage, m.project, m.id)
    code = subprocess.run(rep.argv, cwd=rep.cwd, env={**os.environ, **rep.env}, check=False).returncode
    new = [i for i in _reproductions(storage, m.project, m.id) if i not in before]
    if new:
        click.echo(f"new run: {', '.join(new)} (reproduces {m.id})")
    else:
        click.echo(
            f"note:     no run under {storage.url} records reproduces: {m.id}; does the script set root= or project=?"
        )
    if code != 0:
        msg = f"the rerun of {m.id} exited with status {code}"
        raise click.ClickException(msg)


@click.command("diff")
@click.argument("run_a")
@click.argument("run_b")
@root_option
@project_option
def diff_command(run_a: str, run_b: str, root: str | None, project: str | None) -> None:
    """Show what differs between two runs: config, summary, code, command, packages, host."""
    storage = open_root(root)
    a = _manifest(storage, run_a, project)
    b = _manifest(storage, run_b, project)
    for line in _reproduce.diff_runs(storage, a, b):
        click.echo(line)
