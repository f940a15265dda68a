"""`ledger sweep create|status|stop` and `ledger agent`."""

from __future__ import annotations

import signal
import sys
from typing import TYPE_CHECKING

import click
import orjson

from ledger import _format
from ledger._commands._common import WholeHelpGroup, project_option, root_option
from ledger._root import open_root
from ledger.sweeps._agent import Agent
from ledger.sweeps._status import render, sweep_status
from ledger.sweeps._sweep import Sweep, create_sweep, find_sweep, load_config_file

if TYPE_CHECKING:
    from types import FrameType


def _find(sweep_id: str, root: str | None, project: str | None) -> Sweep:
    return find_sweep(open_root(root), sweep_id, project)


@click.group("sweep", cls=WholeHelpGroup)
def sweep_group() -> None:
    """Hyperparameter sweeps coordinated through the ledger root (no server)."""


@sweep_group.command("create")
@click.argument("config_file", type=click.Path(dir_okay=False))
@root_option
@click.option(
    "--project", help="Project of the sweep's runs [default: the config's 'project', else the repository's name]."
)
@click.option("--name", help="The sweep's name [default: the config's 'name', else its id].")
def create_command(config_file: str, root: str | None, project: str | None, name: str | None) -> None:
    """Check a sweep YAML (W&B's schema, plus cv) and write it under ROOT/PROJECT/sweeps/."""
    doc, where = load_config_file(config_file)
    storage = open_root(root, create=True)
    sweep = create_sweep(storage, doc, where=where, project=project, name=name)
    cap = sweep.cap
    size = f", {cap} trials" if cap is not None else ""
    folds = f" x {sweep.config.folds} folds" if sweep.config.folds else ""
    click.echo(
        f"created sweep {sweep.id} ({sweep.config.method}{size}{folds}) in {storage.url}, project {sweep.project}"
    )
    click.echo("start agents (on any machine that shares the root) with:")
    click.echo(f"  ledger agent {sweep.id} --root {storage.url}")


@sweep_group.command("status")
@click.argument("sweep_id")
@root_option
@project_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def status_command(sweep_id: str, root: str | None, project: str | None, fmt: str) -> None:
    """Trials by status, the best trial with its parameters, running agents."""
    status = sweep_status(_find(sweep_id, root, project))
    if fmt == "json":
        click.echo(orjson.dumps(_format.json_ready(status.as_dict()), option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(render(status))


@sweep_group.command("stop")
@click.argument("sweep_id")
@root_option
@project_option
def stop_command(sweep_id: str, root: str | None, project: str | None) -> None:
    """No new trials start; running trials finish."""
    sweep = _find(sweep_id, root, project)
    if sweep.files.stop():
        click.echo(f"stopped sweep {sweep.id}: agents claim no new trials; running trials finish")
    else:
        click.echo(f"sweep {sweep.id} was already stopped")


def _exit_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    sys.exit(128 + signum)  # unwinds the agent: its trial is stopped and its claim recorded


@click.command("agent")
@click.argument("sweep_id")
@click.option("--count", type=click.IntRange(min=1), help="Run at most this many trials [default: until none is left].")
@root_option
@project_option
def agent_command(sweep_id: str, count: int | None, root: str | None, project: str | None) -> None:
    """Claim and run trials of SWEEP_ID one after another, as subprocesses."""
    agent = Agent(_find(sweep_id, root, project), count=count)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    ran = agent.run()
    click.echo(f"agent {agent.id} ran {ran} trial{'s' if ran != 1 else ''}", err=True)
