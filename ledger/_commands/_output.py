"""Tabular output for the CLI: rich tables on a terminal, plain text, CSV or JSON in a pipe."""

from __future__ import annotations

import csv
import math
import re
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


# Control characters (C0, DEL, C1) and bidirectional overrides: a run name holding an escape
# sequence must not move the cursor, retitle the terminal or hide text ("Trojan source").
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_CSV = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# A CSV cell a spreadsheet would run as a formula (OWASP's list): shown with a leading quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _escaped(ch: re.Match[str]) -> str:
    c = ch.group()
    return _NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def safe_text(text: str) -> str:
    """User text for a terminal: control characters shown as escapes (``\\x1b``, ``\\n``)."""
    return _CONTROL.sub(_escaped, text)


def csv_cell(value: Any) -> Any:
    """A value for a CSV cell: text that a spreadsheet would take for a formula gets a leading
    ``'``, control characters (but newlines and tabs) become escapes; numbers stay numbers."""
    if not isinstance(value, str):
        return value
    value = _CONTROL_CSV.sub(_escaped, value)
    return "'" + value if value.startswith(_FORMULA_START) else value


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
        return safe_text(orjson.dumps(value, default=str).decode())
    return safe_text(str(value))


def emit(columns: list[str], rows: list[list[Any]], fmt: str, *, title: str | None = None) -> None:
    """Print rows under columns in the chosen format."""
    if fmt == "json":
        data = [dict(zip(columns, (_format.json_ready(v) for v in row), strict=True)) for row in rows]
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")
        return
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([csv_cell(c) for c in columns])
        for row in rows:
            writer.writerow(["" if v is None else csv_cell(cell(v) if isinstance(v, (list, dict)) else v) for v in row])
        return
    texts = [[cell(v) for v in row] for row in rows]
    if sys.stdout.isatty():
        from rich.console import Console  # noqa: PLC0415 (only for people at a terminal)
        from rich.table import Column, Table  # noqa: PLC0415
        from rich.text import Text  # noqa: PLC0415

        rich_heads = [Column(header=Text(safe_text(c))) for c in columns]  # Text: "[red]" stays literal
        table = Table(*rich_heads, title=title, header_style="bold")
        for row in texts:
            table.add_row(*(Text(v) for v in row))  # Text: names like "[red]x" stay literal
        Console().print(table)
        return
    heads = [safe_text(c) for c in columns]
    widths = [max([len(c), *(len(r[i]) for r in texts)]) for i, c in enumerate(heads)]
    for row in [heads, *texts]:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
