"""What every subcommand shares: the --root/--project options and opening the root."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ledger import _format
from ledger._storage import Storage

if TYPE_CHECKING:
    from collections.abc import Mapping

root_option = click.option(
    "--root", envvar="LEDGER_ROOT", help="Ledger root: a folder or fsspec URL [default: $LEDGER_ROOT or ./results]."
)
project_option = click.option("--project", help="Only this project.")


def open_storage(root: str | None, *, storage_options: Mapping[str, Any] | None = None) -> Storage:
    """The ledger at ``root`` (or the default root); a one-line error if there is none."""
    from ledger._run import default_root  # noqa: PLC0415

    storage = Storage(root or default_root(), storage_options)
    try:
        marker = storage.read_bytes(_format.ROOT_MARKER)
    except FileNotFoundError:
        msg = f"no ledger at {storage.url} (no {_format.ROOT_MARKER}); pass --root or set $LEDGER_ROOT"
        raise click.ClickException(msg) from None
    _format.check_root_marker(marker, storage.full(_format.ROOT_MARKER))
    return storage
