"""The tables of `ledger export`: a group table (``ledger._query.aggregate_runs``) as
markdown, booktabs LaTeX, CSV or JSON.

What a cell says: ``mean ± std`` (or ``± ci95``, or ``median [q1, q3]``) of the runs that
have the metric; ``n`` is the number of runs counted in the row, and a cell computed from
fewer says so (``(n=2)``); a single value has no spread (``± —``); a cell without values is
a dash. The best mean per metric (as printed) is bold.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

import orjson

from ledger import _format
from ledger._commands._output import csv_cell, safe_text
from ledger._query import STATS

if TYPE_CHECKING:
    from ledger._query import Aggregate, Cell

SPREADS = ("std", "sem", "ci95", "iqr", "none")
CENTERS = ("mean", "median")

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}  # fmt: skip


def latex_escape(text: str) -> str:
    """Text as LaTeX prints it literally."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def short(name: str) -> str:
    """A column heading: ``summary.acc`` -> ``acc``, ``config.model`` -> ``model``."""
    head, _, rest = name.partition(".")
    return rest if head in ("summary", "config") and rest else name


def _key_text(value: Any) -> str:
    return "(none)" if value is None else str(value)


class _Style:
    def __init__(self, *, latex: bool) -> None:
        self.latex = latex
        self.pm = r" $\pm$ " if latex else " ± "
        self.none = "---" if latex else "—"  # no spread: one value
        self.empty = "--" if latex else "-"  # no value at all

    def bold(self, text: str) -> str:
        return rf"\textbf{{{text}}}" if self.latex else f"**{text}**"

    def fewer(self, n: int) -> str:
        return rf" \textsuperscript{{$n={n}$}}" if self.latex else f" (n={n})"


def _center(cell: Cell, center: str) -> float | None:
    return cell.mean if center == "mean" else cell.median


def cell_text(cell: Cell, *, center: str, spread: str, precision: int, style: _Style) -> str:
    """One table cell (without the n note)."""
    value = _center(cell, center)
    if value is None:
        return style.empty
    text = f"{value:.{precision}f}"
    if spread == "none":
        return text
    if spread == "iqr":
        if cell.q1 is None or cell.q3 is None or cell.n < 2:
            return f"{text} [{style.none}]"
        return f"{text} [{cell.q1:.{precision}f}, {cell.q3:.{precision}f}]"
    amount = cell.get(spread)
    return f"{text}{style.pm}{style.none if amount is None else f'{amount:.{precision}f}'}"


def best_keys(table: Aggregate, goals: dict[str, str], *, center: str, precision: int) -> dict[str, set[Any]]:
    """Per metric, the row keys whose value is best as printed (ties are all bold)."""
    best: dict[str, set[Any]] = {}
    for metric in table.metrics:
        scored = [
            (round(v, precision), row.key)
            for row in table.rows
            if (v := _center(row.cells[metric], center)) is not None
        ]
        if scored:
            top = (max if goals.get(metric, "max") == "max" else min)(v for v, _ in scored)
            best[metric] = {k for v, k in scored if v == top}
    return best


def render(
    table: Aggregate,
    goals: dict[str, str],
    fmt: str,
    *,
    precision: int,
    center: str = "mean",
    spread: str = "std",
) -> str:
    """The table in ``fmt``: markdown, latex, csv or json."""
    # The project is a key of every row; shown only when the table spans several.
    keys = [k for k in table.keys if k != "project" or len({r.key[0] for r in table.rows}) > 1]
    at = [table.keys.index(k) for k in keys]
    if fmt == "json":
        data: list[dict[str, Any]] = [
            {
                **{k: row.key[i] for k, i in zip(keys, at, strict=True)},
                "n": len(row.runs),
                **{m: {s: row.cells[m].get(s) for s in STATS} for m in table.metrics},
            }
            for row in table.rows
        ]
        return orjson.dumps(_format.json_ready(data), option=orjson.OPT_INDENT_2).decode() + "\n"
    if fmt == "csv":
        stats = [s for s in STATS if s not in ("ci95_low", "ci95_high", "iqr")]
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([csv_cell(c) for c in [*keys, "n", *(f"{m}_{s}" for m in table.metrics for s in stats)]])
        for row in table.rows:
            values = [row.cells[m].get(s) for m in table.metrics for s in stats]
            keyed = [csv_cell(row.key[i]) for i in at]
            writer.writerow([*keyed, len(row.runs), *("" if v is None else v for v in values)])
        return buf.getvalue()
    style = _Style(latex=fmt == "latex")
    best = best_keys(table, goals, center=center, precision=precision)
    header = [short(k) for k in keys] + ["n"] + [short(m) for m in table.metrics]
    lines_of_cells: list[list[str]] = []
    for row in table.rows:
        cells: list[str] = [safe_text(_key_text(row.key[i])) for i in at]
        cells = [latex_escape(c) for c in cells] if style.latex else [c.replace("|", "\\|") for c in cells]
        cells.append(str(len(row.runs)))
        for metric in table.metrics:
            cell = row.cells[metric]
            text = cell_text(cell, center=center, spread=spread, precision=precision, style=style)
            if row.key in best.get(metric, ()):
                text = style.bold(text)
            if 0 < cell.n < len(row.runs):
                text += style.fewer(cell.n)
            cells.append(text)
        lines_of_cells.append(cells)
    if style.latex:
        header = [latex_escape(short(k)) for k in keys] + ["$n$"] + [latex_escape(short(m)) for m in table.metrics]
        lines = [
            r"\begin{tabular}{" + "l" * len(keys) + "r" * (len(header) - len(keys)) + "}",
            r"\toprule",
            " & ".join(header) + r" \\",
            r"\midrule",
            *(" & ".join(cells) + r" \\" for cells in lines_of_cells),
            r"\bottomrule",
            r"\end{tabular}",
        ]
        return "\n".join(lines) + "\n"
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join([" --- "] * len(keys) + [" ---: "] * (len(header) - len(keys))) + "|",
        *("| " + " | ".join(cells) + " |" for cells in lines_of_cells),
    ]
    return "\n".join(lines) + "\n"
