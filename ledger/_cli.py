"""The `ledger` command line: one click group; the subcommands live in ledger/_commands/."""

from __future__ import annotations

import sys
from typing import Any

import click

from ledger._commands._common import WholeHelpGroup
from ledger._commands.artifacts import artifact_group
from ledger._commands.importance import importance_command
from ledger._commands.importers import import_command
from ledger._commands.maintenance import compact_command, du_command, recover_command
from ledger._commands.query import (
    export_command,
    history_command,
    ls_command,
    plot_command,
    show_command,
    stats_command,
)
from ledger._commands.reproduce import diff_command, reproduce_command
from ledger._commands.share import commit_command, publish_command
from ledger._commands.sql import sql_command
from ledger._commands.sweeps import agent_command, sweep_group
from ledger._commands.verify import verify_command
from ledger._commands.view import view_command
from ledger._errors import LedgerError
from ledger._query._filter import FilterError


class _BadUsage(click.ClickException):
    exit_code = 2


class _Group(WholeHelpGroup):
    """The command group: errors ledger raises on purpose become one-line messages (exit 2
    for a filter that does not parse, which is bad usage; exit 1 for the others)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FilterError as exc:
            raise _BadUsage(str(exc)) from exc
        except LedgerError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Group)
@click.version_option(package_name="experiment-ledger")
def cli() -> None:
    """experiment-ledger: runs as plain files, no server."""


for command in (
    ls_command, show_command, history_command, stats_command, export_command, plot_command, importance_command,
    sql_command, verify_command,
    compact_command, recover_command, du_command, reproduce_command, diff_command, commit_command,
    publish_command, view_command, import_command, sweep_group, agent_command, artifact_group,
):  # fmt: skip
    cli.add_command(command)


def main() -> None:
    """Entry point of the `ledger` console script: exit 2 on bad usage, 1 on errors."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(1)
    except click.UsageError as exc:
        exc.show()
        sys.exit(2)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
