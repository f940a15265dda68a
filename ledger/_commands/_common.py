"""What every subcommand shares: the --root and --project options."""

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
