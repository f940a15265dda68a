"""`ledger commit` and `ledger publish`: results with the code, and with the paper."""

from __future__ import annotations

from typing import Any

import click

from ledger import _format
from ledger._commands._common import project_option, root_option
from ledger._commands.query import open_for_cli, run_filters, select
from ledger._gitcommit import DEFAULT_SIZE_LIMIT, commit_runs, uncommitted_runs
from ledger._publish import publish, strip_list
from ledger._root import open_root
from ledger._storage import open_storage


@click.command("commit")
@click.argument("run_ids", nargs=-1)
@click.option("--all-finished", is_flag=True, help="Every finished run that git does not have yet.")
@click.option(
    "--all-ended", is_flag=True, help="Every ended run (finished, failed, killed, crashed) that git does not have yet."
)
@click.option("-m", "--message", help="The commit's first line (the runs are listed below it).")
@click.option("--size-limit", type=click.IntRange(min=1), default=DEFAULT_SIZE_LIMIT // 2**20, show_default=True,
              help="Warn about files larger than this many MB.")  # fmt: skip
@root_option
@project_option
def commit_command(
    *, run_ids: tuple[str, ...], all_finished: bool, all_ended: bool, message: str | None, size_limit: int,
    root: str | None, project: str | None,
) -> None:  # fmt: skip
    """Stage run folders and make one git commit that names them, each with its metric.
    RUN_IDS are ids, unique starts of ids, or exact run names."""
    if not run_ids and not all_finished and not all_ended:
        msg = "name the runs to commit, or pass --all-finished (finished runs) or --all-ended (every ended run)"
        raise click.UsageError(msg)
    lg = open_for_cli(root)
    storage = open_root(lg.root)
    if run_ids:
        runs = [lg.run(r, project=project) for r in run_ids]
    else:
        pending = uncommitted_runs(storage)
        statuses = list(_format.ENDED_STATUSES) if all_ended else ["finished"]
        runs = [
            r for r in lg.runs(project, status=statuses)
            if pending is None or (r.project, r.id) in pending
        ]  # fmt: skip
    if project is not None:
        runs = [r for r in runs if r.project == project]
    sweep_metrics = {s.id: s.metric[0] for s in lg.sweeps(project) if s.metric is not None}
    result = commit_runs(storage, runs, message=message, size_limit=size_limit * 2**20, sweep_metrics=sweep_metrics)
    for note in result.skipped:
        click.echo(f"warning: {note}; not committed", err=True)
    for path, size in result.large_files:
        click.echo(f"warning: {path} is {size / 2**20:.0f} MB (over {size_limit} MB)", err=True)
    if result.lfs_patterns:
        click.echo(
            "  consider Git LFS for them: " + "; ".join(f"git lfs track '{p}'" for p in result.lfs_patterns), err=True
        )
    if result.commit is None:
        click.echo("nothing to commit: those runs are committed already")
        return
    versions = f" with {len(result.versions)} artifact versions" if result.versions else ""
    plural = "s" if len(result.runs) != 1 else ""
    click.echo(f"committed {len(result.runs)} run{plural}{versions} as {result.commit[:12]}")


@click.command("publish")
@click.argument("out")
@run_filters
@click.option(
    "--public", is_flag=True, help="Leave out what should not leave the lab: " + ", ".join(_format.PUBLIC_STRIP) + "."
)
@click.option("--strip", "strip", multiple=True, help="Also leave out this manifest field (dotted) or run file.")
@click.option("--keep", multiple=True, help="Keep this item of the --public list.")
@click.option("--no-artifacts", is_flag=True, help="Leave out the artifact versions the runs used or logged.")
def publish_command(
    out: str, public: bool, strip: tuple[str, ...], keep: tuple[str, ...], no_artifacts: bool, **opts: Any
) -> None:
    """Write a self-contained results folder OUT: the runs, the artifact versions they used or
    logged (with their files), index.json and index.html."""
    lg = open_for_cli(opts["root"])
    runs = select(lg, opts)
    if not len(runs):
        msg = "no runs match; nothing to publish"
        raise click.ClickException(msg)
    source = open_root(lg.root)
    target = open_storage(out)
    if target.url.rstrip("/") == source.url.rstrip("/"):
        msg = "OUT is the ledger itself; publish into another folder"
        raise click.UsageError(msg)
    target.makedirs("")
    result = publish(
        source, runs, target, strip=strip_list(public=public, strip=strip, keep=keep), artifacts=not no_artifacts
    )
    for note in [*result.skipped, *result.warnings]:
        click.echo(f"warning: {note}", err=True)
    versions = f" and {len(result.versions)} artifact versions" if result.versions else ""
    click.echo(
        f"published {len(runs)} runs{versions} to {target.url} ({len(result.copied)} copied, "
        f"{len(result.unchanged)} unchanged, {len(result.removed)} removed); "
        f"open {target.full(_format.PUBLICATION_REPORT)}"
    )
