"""Tabular output for the CLI: rich tables on a terminal, plain text, CSV or JSON in a pipe."""

from __future__ import annotations

import csv
import math
import sys
from typing import Any

import click
import orjson

from ledger import _format

FORMATS = ("table", "csv", "json")
format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="table for people, csv or json for programs.",
)


def cell(value: Any) -> str:
    """A value as table text: short floats, lists joined, nothing for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if not math.isfinite(value):
            return _format.nonfinite_text(value)
        return f"{value:.4g}"
    if isinstance(value, list):
        return ",".join(cell(v) for v in value)
    if isinstance(value, dict):
        return orjson.dumps(value, default=str).decode()
    return str(value)


def emit(columns: list[str], rows: list[list[Any]], fmt: str, *, title: str | None = None) -> None:
    """Print rows under columns in the chosen format."""
    if fmt == "json":
        data = [dict(zip(columns, (_format.json_ready(v) for v in row), strict=True)) for row in rows]
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")
        return
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if v is None else (cell(v) if isinstance(v, (list, dict)) else v) for v in row])
        return
    texts = [[cell(v) for v in row] for row in rows]
    if sys.stdout.isatty():
        from rich.console import Console  # noqa: PLC0415 (only for people at a terminal)
        from rich.table import Table  # noqa: PLC0415
        from rich.text import Text  # noqa: PLC0415

        table = Table(*columns, title=title, header_style="bold")
        for row in texts:
            table.add_row(*(Text(v) for v in row))  # Text: names like "[red]x" stay literal
        Console().print(table)
        return
    widths = [max([len(c), *(len(r[i]) for r in texts)]) for i, c in enumerate(columns)]
    for row in [columns, *texts]:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
