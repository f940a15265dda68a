"""Commands that read the ledger: ls, show, history, stats, export, plot, verify."""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import click
import orjson

from ledger import _format
from ledger._commands import _export
from ledger._commands._common import project_option, root_option
from ledger._commands._output import cell, emit, format_option, safe_text
from ledger._query import (
    Ledger,
    RunSet,
    RunView,
    _filter,
    aggregate_runs,
    best_rows,
    compute_table,
    flatten,
    open_ledger,
    parse_price,
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


def check_fields(lg: Ledger, names: list[str] | str | None, what: str) -> None:
    """A field no run has (a misspelt metric, column or sort key, or one in --where) is an
    error naming the closest fields, before any output: it would silently give an empty
    column or match nothing."""
    if not names:
        return
    unknown = lg.unknown_fields(names)
    if unknown:
        listed = "; ".join(u.message for u in unknown)
        msg = f"{what}: {listed}"
        raise click.UsageError(msg)


def select(lg: Ledger, opts: dict[str, Any], *, order_by: str | None = "created", limit: int | None = None) -> RunSet:
    """The runs the shared filter options select (an unknown field in --where is an error)."""
    check_fields(lg, opts.get("where"), "--where")
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
        return hms(run.active_seconds()) if fmt == "table" else run.active_seconds()
    if name == "status":
        return run.status
    return run.get(name)


_SPECIAL_COLUMNS = ("duration", "committed")


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
    named = [c for c in cols if c not in _SPECIAL_COLUMNS]
    for c in named:
        _filter.parse_field(c)  # an unknown column is a one-line error, before any output
    check_fields(lg, named, "--columns")
    check_fields(lg, [k.strip() for k in sort.split(",") if k.strip()], "--sort")
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
@project_option
@click.option("--format", "fmt", type=click.Choice(["text", "yaml", "json"]), default="text", show_default=True)
def show_command(run_id: str, root: str | None, project: str | None, fmt: str) -> None:
    """Show one run: overview, relations, config and summary. RUN_ID is an id, a unique
    start of one, or the run's exact name."""
    lg = open_for_cli(root)
    run = lg.run(run_id, project=project)
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
    sweep = doc.get("sweep") or {}
    origin = doc.get("imported_from") or {}
    overview = [
        ("id", run.id),
        ("name", run.name),
        ("project", run.project),
        ("group", run.group),
        ("job_type", run.job_type),
        ("tags", ", ".join(run.tags)),
        ("status", run.status + (f" ({doc['stop_reason']})" if doc.get("stop_reason") else "")),
        ("created", doc.get("created")),
        ("ended", doc.get("ended")),
        ("duration", hms(run.active_seconds())),
        ("gpus", doc.get("gpu_count") or 0),
        ("user", doc.get("user")),
        ("host", host.get("hostname")),
        ("git", f"{git.get('commit') or ''}{' (dirty)' if git.get('dirty') else ''} {git.get('branch') or ''}".strip()),
        ("command", " ".join(map(str, command.get("argv") or []))),
    ]
    if sweep:
        fold = f", fold {sweep.get('fold')}" if sweep.get("fold") is not None else ""
        overview.append(("sweep", f"{sweep.get('id')} trial {sweep.get('trial')}{fold}"))
    if origin:
        overview.append(("imported", f"from {origin.get('kind')} run {origin.get('id')}"))
    if doc.get("error"):
        overview.append(("error", str(doc["error"]).splitlines()[-1]))
    _section("run", overview)
    relations = _relations(lg, run)
    if relations:
        _section("relations", relations)
    if doc.get("datasets"):
        _section("datasets", [(str(d.get("name") or i), _dataset_text(d)) for i, d in enumerate(doc["datasets"])])
    for field_name, title in (("used_artifacts", "used artifacts"), ("logged_artifacts", "logged artifacts")):
        entries = [e for e in doc.get(field_name) or () if isinstance(e, dict)]
        if entries:
            _section(title, [(_artifact_ref(e, run.project), e.get("type") or "") for e in entries])
    flat: dict[str, Any] = {}
    flatten("", doc.get("config") or {}, flat)
    _section("config", list(flat.items()))
    _section("summary", list((doc.get("summary") or {}).items()))
    attached = [(rid, rel) for rel, rid, way in run.links() if rel == "attached" and way == "in"]
    for rid, _rel in attached:
        values = ((_safe_run(lg, rid) or {}).get("attach") or {}).get(run.id) or {}
        _section(f"attached by {rid}", [(k, v) for k, v in values.items()])


def _safe_run(lg: Ledger, run_id: str) -> dict[str, Any] | None:
    try:
        return lg.run(run_id).doc
    except LookupError:
        return None


def _run_label(lg: Ledger, run_id: str) -> str:
    doc = _safe_run(lg, run_id)
    if doc is None:
        return f"{run_id} (not in this ledger)"
    return f"{run_id} {doc.get('name') or ''}".rstrip()


def _relations(lg: Ledger, run: RunView) -> list[tuple[str, Any]]:
    """Parent, links and reproduces going out; runs that name this one coming in."""
    out: list[tuple[str, Any]] = []
    for rel, rid, way in run.links():
        if rel == "attached":
            continue
        out.append((rel if way == "out" else f"{rel} (from)", _run_label(lg, rid)))
    if run.doc.get("reproduces"):
        out.append(("reproduces", _run_label(lg, str(run.doc["reproduces"]))))
    return out


def _artifact_ref(entry: dict[str, Any], project: str) -> str:
    head = entry.get("name") if entry.get("project") == project else f"{entry.get('project')}/{entry.get('name')}"
    return f"{head}:v{entry.get('version')}"


def _dataset_text(dataset: dict[str, Any]) -> str:
    parts = [f"{k}={dataset[k]}" for k in ("context", "digest", "source_type") if dataset.get(k)]
    return ", ".join(parts)


def _section(title: str, items: list[tuple[str, Any]]) -> None:
    click.secho(title, bold=True)
    items = [(safe_text(str(k)), v) for k, v in items]
    width = max((len(k) for k, _ in items), default=0)
    for key, value in items:
        click.echo(f"  {key.ljust(width)}  {cell(value)}")


@click.command("history")
@click.argument("run_id")
@root_option
@project_option
@click.option("--keys", help="Comma-separated metric names (default: all).")
@click.option("--tail", type=click.IntRange(min=1), help="Only the last N records.")
@format_option
def history_command(
    run_id: str, root: str | None, project: str | None, keys: str | None, tail: int | None, fmt: str
) -> None:
    """Print a run's logged metrics, one row per log() call (RUN_ID: an id, a unique start
    of one, or the run's exact name). Tables show _time as ISO-8601 UTC."""
    run = open_for_cli(root).run(run_id, project=project)
    records = run.records(tail=tail)  # --tail reads from the end of the files only
    wanted = [k.strip() for k in keys.split(",") if k.strip()] if keys else None
    if wanted:
        logged = {k for rec in records for k in rec} | (set(run.series_keys()) if tail is not None else set())
        missing = [k for k in wanted if k not in logged and k not in _format.RESERVED]
        if missing:
            hints = []
            for k in missing:
                close = _filter.suggest(k, sorted(logged - set(_format.RESERVED)))
                hints.append(f"{k!r}" + (f" (did you mean {' or '.join(close)}?)" if close else ""))
            msg = f"--keys: run {run.id} logged no metric {', '.join(hints)}"
            raise click.UsageError(msg)
    cols = record_columns(records, wanted)

    def value(rec: dict[str, Any], c: str) -> Any:
        v = rec.get(c)
        if c == _format.TIME and fmt == "table" and isinstance(v, (int, float)) and not isinstance(v, bool):
            return _format.iso(float(v))
        return v

    emit(cols, [[value(rec, c) for c in cols] for rec in records], fmt)


# ---- stats, export, plot -------------------------------------------------------------------------------

BY_CHOICES = ("group", "job_type", "user", "month", "host", "project", "gpu")


def hours_text(hours: float) -> str:
    """Hours as a table shows them: three significant digits below 100, whole hours above
    (0.00417, 0.25, 12.3, 1234), never a misleading 0 for a short run."""
    if hours == 0:
        return "0"
    if hours >= 100:
        return f"{hours:.0f}"
    digits = max(0, 2 - math.floor(math.log10(abs(hours))))
    return f"{hours:.{digits}f}"


def price_option(values: tuple[str, ...]) -> dict[str, float] | None:
    """--price gpu=2.5,cpu=0.1 (or repeated) as a mapping; None when not given."""
    if not values:
        return None
    try:
        return parse_price(values)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("stats")
@run_filters
@click.option("--by", type=click.Choice(BY_CHOICES), default="group", show_default=True)
@click.option(
    "--price",
    multiple=True,
    help="Cost per hour: gpu=2.5 (per GPU hour), A100=3.0 (per GPU hour of that model), cpu=0.1 (per hour of a run "
    "without GPUs); comma-separated or repeated. Adds a cost column.",
)
@format_option
def stats_command(by: str, price: tuple[str, ...], fmt: str, **opts: Any) -> None:
    """Runs, hours and GPU hours (and their cost, with --price) per group, job type, user,
    month, host or project. GPU hours count the GPUs a job scheduler allocated where a run
    recorded its allocation (allocated_runs says how many did), else the GPUs it saw."""
    prices = price_option(price)
    runs = select(open_for_cli(opts["root"]), opts, order_by=None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = compute_table(runs, by, price=prices)
    for w in caught:
        click.echo(f"warning: {w.message}", err=True)
    columns = [by, "runs", "hours", "gpu_hours", "allocated_runs"] + (["cost"] if prices is not None else [])
    rows: list[list[Any]] = [
        [r.key, r.runs, r.hours, r.gpu_hours, r.allocated] + ([r.cost] if prices is not None else []) for r in table
    ]
    if fmt == "table":
        costs = [r.cost for r in table]
        rows = [
            [r.key, r.runs, hours_text(r.hours), hours_text(r.gpu_hours), r.allocated]
            + ([("" if r.cost is None else f"{r.cost:.2f}")] if prices is not None else [])
            for r in table
        ]
        total = [
            "total",
            sum(r.runs for r in table),
            hours_text(sum(r.hours for r in table)),
            hours_text(sum(r.gpu_hours for r in table)),
            sum(r.allocated for r in table),
        ]
        if prices is not None:
            total.append("" if any(c is None for c in costs) else f"{sum(c or 0.0 for c in costs):.2f}")
        rows.append(total)
    emit(columns, rows, fmt)


def _metric_spec(text: str) -> tuple[str, str]:
    name, _, goal = text.partition(":")
    goal = goal or "max"
    if goal not in ("max", "min"):
        msg = f"--metric {text!r}: the goal after ':' must be max or min"
        raise click.BadParameter(msg)
    _filter.parse_field(name)
    return name, goal


def _fields(values: tuple[str, ...]) -> list[str]:
    return [f.strip() for v in values for f in v.split(",") if f.strip()]


@click.command("export")
@run_filters
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json", "markdown", "latex"]), default="markdown", show_default=True
)
@click.option(
    "--group-by",
    "group_by",
    multiple=True,
    required=True,
    help="Field(s) whose values make the rows, e.g. config.model (comma-separated or repeated). Rows are also "
    "keyed by project.",
)
@click.option(
    "--metric",
    "metric_specs",
    multiple=True,
    required=True,
    help="summary.x (best is max) or summary.x:min; repeatable.",
)
@click.option(
    "--stat",
    default="mean,std",
    show_default=True,
    help="What a cell shows: CENTER,SPREAD with CENTER mean or median and SPREAD std, sem, ci95 (95% confidence "
    "interval of the mean, Student's t), iqr (median [q1, q3]) or none.",
)
@click.option(
    "--best-per",
    help="Keep only the best row (by the first --metric's mean) per value of this --group-by field: the best "
    "configuration per group.",
)
@click.option(
    "--all-statuses",
    is_flag=True,
    help="Count runs of every status (default: finished runs only; --status picks others).",
)
@click.option("--precision", type=click.IntRange(0, 12), default=3, show_default=True)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write to a file instead of stdout."
)
def export_command(
    *,
    fmt: str,
    group_by: tuple[str, ...],
    metric_specs: tuple[str, ...],
    stat: str,
    best_per: str | None,
    all_statuses: bool,
    precision: int,
    output: str | None,
    **opts: Any,
) -> None:
    """A results table for papers: mean +- std and n per group (LaTeX uses booktabs; best
    in bold). Counts finished runs; n is per cell; says on stderr what it counted."""
    by = _fields(group_by)
    for field in by:
        _filter.parse_field(field)
    metrics = [_metric_spec(m) for m in metric_specs]
    center, _, spread = stat.partition(",")
    if center not in _export.CENTERS or (spread or "std") not in _export.SPREADS:
        msg = (
            f"--stat {stat!r}: give CENTER,SPREAD with CENTER one of {', '.join(_export.CENTERS)} and SPREAD one of "
            f"{', '.join(_export.SPREADS)}"
        )
        raise click.BadParameter(msg)
    if best_per is not None and best_per not in by:
        msg = f"--best-per {best_per!r} must be one of the --group-by fields ({', '.join(by)})"
        raise click.BadParameter(msg)
    lg = open_for_cli(opts["root"])
    check_fields(lg, by, "--group-by")
    check_fields(lg, [m for m, _ in metrics], "--metric")
    statuses: list[str] | None = None if all_statuses else list(opts.get("status") or ["finished"])
    runs = select(lg, {**opts, "status": None}, order_by=None)
    if not len(runs):
        msg = "no runs match; nothing to export"
        raise click.ClickException(msg)
    table = aggregate_runs(runs, by, [m for m, _ in metrics], status=statuses)
    if best_per is not None:
        table = best_rows(table, best_per, metrics[0][0], metrics[0][1])
    if not table.rows:
        msg = f"no runs to count: {table.describe_counts()}"
        raise click.ClickException(msg)
    text = _export.render(table, dict(metrics), fmt, precision=precision, center=center, spread=spread or "std")
    click.echo(
        table.describe_counts() + (" (--status or --all-statuses to count them)" if table.left_out else ""), err=True
    )
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
        close = _filter.suggest(metric, sorted({k for r in runs for k in r.summary}))
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        msg = f"no run has values for metric {metric!r}{hint}"
        raise click.ClickException(msg)
    click.echo(f"wrote {output} ({len(drawn)} group{'s' if len(drawn) != 1 else ''})", err=True)
