"""`ledger sql`: a SQL query over the ledger (DuckDB), printed like the other commands' tables."""

from __future__ import annotations

import click

from ledger._commands._common import root_option
from ledger._commands._output import emit, format_option
from ledger._query import open_ledger
from ledger._query._sql import INSTALL_HINT, query_rows


@click.command("sql")
@click.argument("query")
@root_option
@format_option
def sql_command(query: str, root: str | None, fmt: str) -> None:
    """Run a SQL query over the ledger with DuckDB (pip install 'experiment-ledger[sql]').
    Views: runs (one row per run; quote dotted columns: "config.lr", "summary.val/acc"),
    metrics (run_id, row, step, time, key, value), metrics_wide (a column per metric),
    system, sweeps. Read-only: the query sees only these views.

    Example: ledger sql 'SELECT "group", avg("summary.acc") FROM runs GROUP BY 1'"""
    lg = open_ledger(root)
    try:
        columns, rows = query_rows(lg.runs(order_by=None), lg.sweeps, query)
    except ImportError as exc:
        msg = f"{exc}" if INSTALL_HINT in str(exc) else f"ledger sql needs DuckDB: {INSTALL_HINT}"
        raise click.ClickException(msg) from exc
    emit(columns, rows, fmt)
