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
from ledger.sweeps._slurm import SlurmError, SlurmOptions, launch, launches
from ledger.sweeps._slurm import cancel as cancel_job
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
@click.option(
    "--cancel",
    is_flag=True,
    help="Also scancel the sweep's SLURM jobs (from `ledger sweep launch --slurm`): running trials end now, "
    "recorded as preempted.",
)
def stop_command(sweep_id: str, root: str | None, project: str | None, cancel: bool) -> None:
    """No new trials start; running trials finish (with --cancel, its SLURM jobs are cancelled)."""
    sweep = _find(sweep_id, root, project)
    if sweep.files.stop():
        click.echo(f"stopped sweep {sweep.id}: agents claim no new trials; running trials finish")
    else:
        click.echo(f"sweep {sweep.id} was already stopped")
    if not cancel:
        return
    jobs = [str(record["job_id"]) for record in launches(sweep)]
    if not jobs:
        click.echo(f"sweep {sweep.id} has no SLURM jobs to cancel (none was launched with `ledger sweep launch`)")
    for job_id in jobs:
        try:
            cancel_job(job_id)
        except SlurmError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"cancelled SLURM job {job_id}")


@sweep_group.command("launch")
@click.argument("sweep_id")
@root_option
@project_option
@click.option("--slurm", "slurm", is_flag=True, required=True, help="Submit the agents as a SLURM job array.")
@click.option("--agents", type=click.IntRange(min=1), default=1, show_default=True, help="Array tasks: one agent each.")
@click.option("--partition", help="sbatch --partition.")
@click.option("--time", "time_limit", help="Time limit of each task, as sbatch takes it: 30, 4:00:00, 1-12:00.")
@click.option("--gpus-per-agent", type=click.IntRange(min=0), help="GPUs of each task (sbatch --gres=gpu:N).")
@click.option("--cpus-per-agent", type=click.IntRange(min=1), help="CPUs of each task (sbatch --cpus-per-task).")
@click.option("--mem", help="Memory of each task, as sbatch --mem takes it: 16G.")
@click.option(
    "--sbatch-arg", "sbatch_args", multiple=True, help="Any other sbatch option, one per use: --sbatch-arg=--qos=low."
)
@click.option(
    "--requeue",
    is_flag=True,
    help="Before a task's time limit, requeue it: its running trial is recorded as preempted and taken up again "
    "(continued, if its program resumes) when the task restarts.",
)
@click.option("--dry-run", is_flag=True, help="Print the script; submit nothing, record nothing.")
def launch_command(  # noqa: PLR0913, PLR0917 (one parameter per option)
    sweep_id: str,
    root: str | None,
    project: str | None,
    slurm: bool,
    agents: int,
    partition: str | None,
    time_limit: str | None,
    gpus_per_agent: int | None,
    cpus_per_agent: int | None,
    mem: str | None,
    sbatch_args: tuple[str, ...],
    requeue: bool,
    dry_run: bool,
) -> None:
    """Start agents on a scheduler: a SLURM job array whose tasks each run `ledger agent SWEEP_ID`.

    The script is kept in the sweep's folder (slurm/<launch>.sbatch) with the job id
    (slurm/<launch>.yaml); `ledger sweep status` shows each task's state.
    """
    del slurm  # the only scheduler so far; the flag says which one
    sweep = _find(sweep_id, root, project)
    options = SlurmOptions(
        agents=agents, partition=partition, time=time_limit, gpus_per_agent=gpus_per_agent,
        cpus_per_agent=cpus_per_agent, mem=mem, sbatch_args=list(sbatch_args), requeue=requeue,
    )  # fmt: skip
    try:
        done = launch(sweep, options, dry_run=dry_run)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    except SlurmError as exc:
        raise click.ClickException(str(exc)) from None
    if dry_run:
        click.echo(done.script, nl=False)
        return
    where = f"{_format.sweep_dir(sweep.project, sweep.id)}/{_format.SWEEP_SLURM}/{done.id}.sbatch"
    click.echo(f"submitted SLURM job {done.job_id}: {agents} agent{'s' if agents != 1 else ''} of sweep {sweep.id}")
    click.echo(f"script: {sweep.storage.full(where)}")
    click.echo(f"follow with: ledger sweep status {sweep.id} --root {sweep.storage.url}")


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
