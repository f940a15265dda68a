"""What every subcommand shares: the --root and --project options, and command groups that
list their commands with whole descriptions."""

from __future__ import annotations

import click

from ledger import _settings

root_option = click.option(
    "--root",
    envvar=_settings.ROOT.name,
    help="Ledger root: a folder or fsspec URL [default: $LEDGER_ROOT, else results/ at the top of the git "
    "repository, else ./results].",
)
project_option = click.option("--project", help="Only this project.")


class WholeHelpGroup(click.Group):
    """A command group whose ``--help`` lists each command with its whole first paragraph
    (click cuts it at 45 characters, mid-sentence)."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=10_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
