"""`ledger importance`: which config parameters matter for a metric (W&B's parameter-importance panel)."""

from __future__ import annotations

from typing import Any

import click

from ledger._commands._output import emit, format_option
from ledger._commands.query import open_for_cli, run_filters, select
from ledger._query import RunSet
from ledger._query._importance import ranked
from ledger._query._runset import scored_configs


@click.command("importance")
@run_filters
@click.option("--metric", help="The metric, e.g. val/loss or summary.acc [default with --sweep: the sweep's metric].")
@click.option("--sweep", "sweep_ref", help="Only this sweep's trials (an id, a unique start of one, or its name).")
@click.option("--param", "params", multiple=True, help="Only these config parameters (repeatable; default: all).")
@click.option("--no-forest", is_flag=True, help="Correlations alone, without the random forest (no scikit-learn).")
@format_option
def importance_command(
    metric: str | None, sweep_ref: str | None, params: tuple[str, ...], no_forest: bool, fmt: str, **opts: Any
) -> None:
    """Rank config parameters by how much they matter for a metric: a random forest's feature
    importance (scikit-learn) and the linear correlation with the metric, over the selected
    runs that have a number for it. Text parameters are one-hot (config.optimizer=sgd)."""
    lg = open_for_cli(opts["root"])
    runs = select(lg, opts, order_by=None)
    if sweep_ref is not None:
        sweep = lg.sweep(sweep_ref, opts.get("project"))
        trials = {r.id for r in sweep.runs}
        runs = RunSet(r for r in runs if r.id in trials)
        if metric is None and sweep.metric is not None:
            metric = sweep.metric[0]
    if metric is None:
        msg = "give the metric: --metric NAME (a summary metric such as val/loss, or a field such as summary.acc)"
        raise click.UsageError(msg)
    try:
        rows, ys = scored_configs(runs, metric)
        table = ranked(rows, ys, params=params or None, forest=not no_forest)
    except (ValueError, ImportError) as exc:
        raise click.ClickException(str(exc)) from exc
    if not table:
        click.echo(f"No config parameter varies among the {len(ys)} runs with {metric}.", err=True)
        return
    columns = ["parameter", "correlation", "runs"] if no_forest else ["parameter", "importance", "correlation", "runs"]
    out = [[name, corr, n] if no_forest else [name, weight, corr, n] for name, weight, corr, n in table]
    emit(columns, out, fmt, title=f"{metric}: {len(ys)} runs")
