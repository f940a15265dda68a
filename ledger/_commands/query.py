"""Commands that read the ledger: ls, show, history, stats, export, plot, verify."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
import orjson

from ledger import _format
from ledger._commands._common import project_option, root_option
from ledger._commands._output import cell, csv_cell, emit, format_option, safe_text
from ledger._query import (
    Ledger,
    RunSet,
    RunView,
    _filter,
    compute_table,
    describe,
    flatten,
    open_ledger,
    record_columns,
)
from ledger._root import open_root
from ledger._units import hms

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_COLUMNS = ("id", "name", "project", "group", "job_type", "status", "created", "duration")


def run_filters(fn: F) -> F:
    """--root, --project and the run filters shared by the commands that select runs."""
    for option in reversed(
        [
            root_option,
            project_option,
            click.option("--group", multiple=True, help="Only runs of this group (repeat for any of several)."),
            click.option("--job-type", multiple=True, help="Only runs of this job type (repeatable)."),
            click.option("--tag", multiple=True, help="Only runs with this tag (repeat: all of them)."),
            click.option("--status", multiple=True, type=click.Choice(_format.STATUSES), help="Repeatable."),
            click.option("--user", multiple=True, help="Only runs of this user (repeatable)."),
            click.option("--where", help='Filter, e.g. "config.lr < 1e-3 and summary.acc > 0.9".'),
        ]
    ):
        fn = option(fn)
    return fn


def open_for_cli(root: str | None) -> Ledger:
    """The ledger at --root (default as ``ledger.open``); "no ledger at ..." is a one-line error."""
    return open_ledger(root)


def select(lg: Ledger, opts: dict[str, Any], *, order_by: str | None = "created", limit: int | None = None) -> RunSet:
    return lg.runs(
        opts.get("project"),
        where=opts.get("where"),
        group=opts.get("group") or None,
        job_type=opts.get("job_type") or None,
        tags=opts.get("tag") or None,
        status=opts.get("status") or None,
        user=opts.get("user") or None,
        order_by=order_by,
        limit=limit,
    )


def _column(run: RunView, name: str, fmt: str) -> Any:
    if name == "duration":
        return hms(run.doc.get("duration_s")) if fmt == "table" else run.doc.get("duration_s")
    if name == "status":
        return run.status
    return run.get(name)


# ---- ls, show, history -----------------------------------------------------------------------------


@click.command("ls")
@run_filters
@click.option("--sort", default="created", show_default=True, help="Fields to sort by, '-' for descending.")
@click.option("--columns", help="Comma-separated fields, e.g. id,name,config.lr,summary.acc.")
@click.option("--limit", type=click.IntRange(min=0), help="At most this many runs.")
@click.option("--uncommitted", is_flag=True, help="Only runs with files git has not committed (see ledger commit).")
@format_option
def ls_command(sort: str, columns: str | None, limit: int | None, uncommitted: bool, fmt: str, **opts: Any) -> None:
    """List runs (oldest first by default). The column `committed` says whether git has each run."""
    lg = open_for_cli(opts["root"])
    cols = [c.strip() for c in columns.split(",") if c.strip()] if columns else list(DEFAULT_COLUMNS)
    for c in cols:
        if c not in ("duration", "committed"):
            _filter.parse_field(c)  # an unknown column is a one-line error, before any output
    runs = list(select(lg, opts, order_by=sort, limit=None if uncommitted else limit))
    pending: set[tuple[str, str]] | None = None
    if uncommitted or "committed" in cols:
        from ledger._gitcommit import uncommitted_runs  # noqa: PLC0415 (git only when asked)

        pending = uncommitted_runs(open_root(lg.root))
        if uncommitted:
            if pending is None:
                msg = f"{lg.root} is not in a git repository: --uncommitted needs one"
                raise click.ClickException(msg)
            runs = [r for r in runs if (r.project, r.id) in pending][:limit]

    def value(run: RunView, c: str) -> Any:
        if c == "committed":
            return None if pending is None else (run.project, run.id) not in pending
        return _column(run, c, fmt)

    emit(cols, [[value(r, c) for c in cols] for r in runs], fmt)


@click.command("show")
@click.argument("run_id")
@root_option
@click.option("--format", "fmt", type=click.Choice(["text", "yaml", "json"]), default="text", show_default=True)
def show_command(run_id: str, root: str | None, fmt: str) -> None:
    """Show one run: overview, config and summary (RUN_ID may be a unique prefix)."""
    run = open_for_cli(root).run(run_id)
    if fmt == "yaml":
        sys.stdout.write(_format.yaml_dump(run.doc).decode())
        return
    if fmt == "json":
        sys.stdout.write(
            orjson.dumps(_format.json_ready(run.doc), option=orjson.OPT_INDENT_2, default=str).decode() + "\n"
        )
        return
    doc = run.doc
    host = doc.get("host") or {}
    git = doc.get("git") or {}
    command = doc.get("command") or {}
    overview = [
        ("id", run.id),
        ("name", run.name),
        ("project", run.project),
        ("group", run.group),
        ("job_type", run.job_type),
        ("tags", ", ".join(run.tags)),
        ("status", run.status),
        ("created", doc.get("created")),
        ("ended", doc.get("ended")),
        ("duration", hms(doc.get("duration_s"))),
        ("user", doc.get("user")),
        ("host", host.get("hostname")),
        ("git", f"{git.get('commit') or ''}{' (dirty)' if git.get('dirty') else ''} {git.get('branch') or ''}".strip()),
        ("command", " ".join(map(str, command.get("argv") or []))),
    ]
    if doc.get("error"):
        overview.append(("error", str(doc["error"]).splitlines()[-1]))
    _section("run", overview)
    flat: dict[str, Any] = {}
    flatten("", doc.get("config") or {}, flat)
    _section("config", list(flat.items()))
    _section("summary", list((doc.get("summary") or {}).items()))


def _section(title: str, items: list[tuple[str, Any]]) -> None:
    click.secho(title, bold=True)
    items = [(safe_text(str(k)), v) for k, v in items]
    width = max((len(k) for k, _ in items), default=0)
    for key, value in items:
        click.echo(f"  {key.ljust(width)}  {cell(value)}")


@click.command("history")
@click.argument("run_id")
@root_option
@click.option("--keys", help="Comma-separated metric names (default: all).")
@click.option("--tail", type=click.IntRange(min=1), help="Only the last N records.")
@format_option
def history_command(run_id: str, root: str | None, keys: str | None, tail: int | None, fmt: str) -> None:
    """Print a run's logged metrics, one row per log() call."""
    run = open_for_cli(root).run(run_id)
    records = run.records(tail=tail)  # --tail reads from the end of the files only
    cols = record_columns(records, [k.strip() for k in keys.split(",") if k.strip()] if keys else None)
    emit(cols, [[rec.get(c) for c in cols] for rec in records], fmt)


# ---- stats, export, plot -------------------------------------------------------------------------------

BY_CHOICES = ("group", "job_type", "user", "month", "host", "project")


@click.command("stats")
@run_filters
@click.option("--by", type=click.Choice(BY_CHOICES), default="group", show_default=True)
@format_option
def stats_command(by: str, fmt: str, **opts: Any) -> None:
    """Runs, hours and GPU hours per group (or job_type, user, month, host, project)."""
    runs = select(open_for_cli(opts["root"]), opts, order_by=None)
    table = compute_table(runs, by)
    rows: list[list[Any]] = [list(row) for row in table]
    if fmt == "table":
        rows = [[k, n, round(h, 2), round(g, 2)] for k, n, h, g in table]
        rows.append(
            ["total", sum(r[1] for r in table), round(sum(r[2] for r in table), 2), round(sum(r[3] for r in table), 2)]
        )
    emit([by, "runs", "hours", "gpu_hours"], rows, fmt)


def _metric_spec(text: str) -> tuple[str, str]:
    name, _, goal = text.partition(":")
    goal = goal or "max"
    if goal not in ("max", "min"):
        msg = f"--metric {text!r}: the goal after ':' must be max or min"
        raise click.BadParameter(msg)
    _filter.parse_field(name)
    return name, goal


def aggregate(runs: RunSet, group_by: str, metrics: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Per group: n, and mean, std (sample, n-1; None for a single value) and count of each
    metric's finite values."""
    out = []
    for key, members in runs.groups(group_by).items():
        row: dict[str, Any] = {"group": key, "n": len(members)}
        for name, _goal in metrics:
            stat = describe(r.get(name) for r in members)
            row[name] = {"mean": stat.mean, "std": stat.std, "n": stat.n}
        out.append(row)
    return out


def _best_groups(rows: list[dict[str, Any]], metrics: list[tuple[str, str]], precision: int) -> dict[str, set[Any]]:
    """Per metric, the groups whose mean is best as printed (ties are all bold)."""
    best: dict[str, set[Any]] = {}
    for name, goal in metrics:
        scored = [(round(r[name]["mean"], precision), r["group"]) for r in rows if r[name]["mean"] is not None]
        if scored:
            top = (max if goal == "max" else min)(v for v, _ in scored)
            best[name] = {g for v, g in scored if v == top}
    return best


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}  # fmt: skip


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def _short(name: str) -> str:
    head, _, rest = name.partition(".")
    return rest if head in ("summary", "config") and rest else name


def render_export(
    rows: list[dict[str, Any]], group_by: str, metrics: list[tuple[str, str]], fmt: str, precision: int
) -> str:
    best = _best_groups(rows, metrics, precision)

    def mean_std(stat: dict[str, Any], sep: str) -> str:
        if stat["mean"] is None:
            return "--" if sep.startswith(" $") else "-"
        if stat["std"] is None:  # one value: no spread to show
            return f"{stat['mean']:.{precision}f}"
        return f"{stat['mean']:.{precision}f}{sep}{stat['std']:.{precision}f}"

    if fmt == "json":
        return (
            orjson.dumps(
                [{group_by: r["group"], **{k: v for k, v in r.items() if k != "group"}} for r in rows],
                option=orjson.OPT_INDENT_2,
                default=str,
            ).decode()
            + "\n"
        )
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(
            [
                csv_cell(c)
                for c in [
                    group_by,
                    "n",
                    *(f"{name}_{part}" for name, _ in metrics for part in ("mean", "std", "count")),
                ]
            ]
        )
        for r in rows:
            writer.writerow(
                [csv_cell(r["group"]), r["n"], *(r[name][part] for name, _ in metrics for part in ("mean", "std", "n"))]
            )
        return buf.getvalue()
    if fmt == "markdown":
        header = [_short(group_by), "n", *(_short(m) for m, _ in metrics)]
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join([" --- "] + [" ---: "] * (len(header) - 1)) + "|"]
        for r in rows:
            cells = [safe_text(str(r["group"])).replace("|", "\\|"), str(r["n"])]
            for name, _ in metrics:
                text = mean_std(r[name], " ± ")
                cells.append(f"**{text}**" if r["group"] in best.get(name, ()) else text)
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"
    # latex (booktabs)
    header = [latex_escape(_short(group_by)), "$n$", *(latex_escape(_short(m)) for m, _ in metrics)]
    lines = [
        r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}",
        r"\toprule",
        " & ".join(header) + r" \\",
        r"\midrule",
    ]
    for r in rows:
        cells = [latex_escape(safe_text(str(r["group"]))), str(r["n"])]
        for name, _ in metrics:
            text = mean_std(r[name], r" $\pm$ ")
            cells.append(rf"\textbf{{{text}}}" if r["group"] in best.get(name, ()) else text)
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


@click.command("export")
@run_filters
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json", "markdown", "latex"]), default="markdown", show_default=True
)
@click.option("--group-by", required=True, help="Field whose values make the rows, e.g. config.model.")
@click.option(
    "--metric",
    "metric_specs",
    multiple=True,
    required=True,
    help="summary.x (best is max) or summary.x:min; repeatable.",
)
@click.option("--precision", type=click.IntRange(0, 12), default=3, show_default=True)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write to a file instead of stdout."
)
def export_command(
    fmt: str, group_by: str, metric_specs: tuple[str, ...], precision: int, output: str | None, **opts: Any
) -> None:
    """A results table: mean +- std and n per group, for papers (LaTeX uses booktabs; best in bold)."""
    _filter.parse_field(group_by)
    metrics = [_metric_spec(m) for m in metric_specs]
    runs = select(open_for_cli(opts["root"]), opts, order_by=None)
    if not len(runs):
        msg = "no runs match; nothing to export"
        raise click.ClickException(msg)
    text = render_export(aggregate(runs, group_by, metrics), group_by, metrics, fmt, precision)
    if output:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
        click.echo(f"wrote {output}", err=True)
    else:
        sys.stdout.write(text)


@click.command("plot")
@run_filters
@click.option("--metric", required=True, help="A logged metric name, e.g. val/loss.")
@click.option("--group-by", default="group", show_default=True, help="Field whose values make the lines.")
@click.option("--x", "x_axis", type=click.Choice(["step", "time"]), default="step", show_default=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="fig.pdf, fig.png or fig.svg")
def plot_command(metric: str, group_by: str, x_axis: str, output: str, **opts: Any) -> None:
    """A figure for a paper: per group, the mean over runs with a +-1 std band."""
    suffix = output.rsplit(".", 1)[-1].lower()
    if suffix not in ("pdf", "png", "svg"):
        msg = f"-o {output!r}: the file must end in .pdf, .png or .svg"
        raise click.BadParameter(msg)
    _filter.parse_field(group_by)
    runs = select(open_for_cli(opts["root"]), opts)
    if not len(runs):
        msg = "no runs match; nothing to plot"
        raise click.ClickException(msg)
    from ledger._commands._plot import plot_groups  # noqa: PLC0415 (matplotlib only here)

    drawn = plot_groups(runs, metric=metric, group_by=group_by, x_axis=x_axis, output=output)
    if not drawn:
        msg = f"no run has values for metric {metric!r}"
        raise click.ClickException(msg)
    click.echo(f"wrote {output} ({len(drawn)} group{'s' if len(drawn) != 1 else ''})", err=True)
