"""Sweep agents as a SLURM job array: the sbatch script, its submission, and the jobs' state.

``ledger sweep launch SWEEP --slurm --agents N`` writes an array script whose tasks each run
``ledger agent SWEEP``, keeps it in the sweep's folder (``slurm/<launch>.sbatch``), submits it
with ``sbatch`` and records the job id (``slurm/<launch>.yaml``); ``ledger sweep status`` asks
``squeue`` (live tasks), then ``sacct`` (where accounting runs), then ``scontrol show job``
(recently ended) for the state of each task; ``ledger sweep stop --cancel`` runs ``scancel``.

With ``requeue``, the script asks SLURM for SIGUSR1 some time before the task's time limit
(``--signal=B:USR1@N``) and answers it with ``scontrol requeue``: SLURM then ends the task's
processes with SIGTERM (the running trial's run is ``killed`` with ``stop_reason: preempted``)
and starts the task again, whose agent takes that trial up again first.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledger import _format
from ledger._capture import current_user
from ledger._errors import LedgerError
from ledger._storage import retrying
from ledger.sweeps._claims import hostname

if TYPE_CHECKING:
    from ledger.sweeps._sweep import Sweep

_TIMEOUT_S = 60.0  # for one sbatch/squeue/scontrol/scancel call
REQUEUE_LEAD_S = 120  # SIGUSR1 this long before the time limit (at most half the limit)
_TIME_RE = re.compile(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?")
_PARTITION = re.compile(r"[A-Za-z0-9_.-]+(?:,[A-Za-z0-9_.-]+)*")
_MEM = re.compile(r"\d+[KMGT]?B?", re.IGNORECASE)
_SAFE_ARG = re.compile(r"--?[A-Za-z][A-Za-z0-9-]*(?:[= ].*)?")


class SlurmError(LedgerError):
    """A SLURM command is missing or failed (the message has its output)."""


def parse_time(text: str) -> int:
    """Seconds of a SLURM time limit: ``minutes``, ``minutes:seconds``, ``hours:minutes:seconds``,
    ``days-hours``, ``days-hours:minutes``, ``days-hours:minutes:seconds``; ValueError otherwise."""
    m = _TIME_RE.fullmatch(text.strip())
    if m is None:
        msg = (
            f"--time {text!r} is not a SLURM time limit: give minutes (30), MM:SS, HH:MM:SS or D-HH[:MM[:SS]] (1-12:00)"
        )
        raise ValueError(msg)
    days, a, b, c = (int(g) if g is not None else None for g in m.groups())
    if days is not None:  # D-H, D-H:M, D-H:M:S
        return days * 86400 + (a or 0) * 3600 + (b or 0) * 60 + (c or 0)
    if c is not None:  # H:M:S
        return (a or 0) * 3600 + (b or 0) * 60 + c
    if b is not None:  # M:S
        return (a or 0) * 60 + b
    return (a or 0) * 60


@dataclass
class SlurmOptions:
    """What each array task asks for; None leaves it to the cluster's defaults."""

    agents: int
    partition: str | None = None
    time: str | None = None
    gpus_per_agent: int | None = None
    cpus_per_agent: int | None = None
    mem: str | None = None
    sbatch_args: list[str] = field(default_factory=list)
    requeue: bool = False

    def check(self) -> None:
        if isinstance(self.agents, bool) or not isinstance(self.agents, int) or self.agents < 1:
            msg = f"--agents must be a positive number of array tasks, got {self.agents!r}"
            raise ValueError(msg)
        if self.time is not None:
            parse_time(self.time)
        if self.partition is not None and not _PARTITION.fullmatch(self.partition):
            msg = f"--partition {self.partition!r}: give partition names, comma-separated (gpu or gpu,long)"
            raise ValueError(msg)
        if self.mem is not None and not _MEM.fullmatch(self.mem):
            msg = f"--mem {self.mem!r}: give a size as sbatch takes it, a number with an optional K, M, G or T (16G)"
            raise ValueError(msg)
        for arg in self.sbatch_args:
            if not _SAFE_ARG.fullmatch(arg) or "\n" in arg:
                msg = (
                    f"--sbatch-arg {arg!r}: give one sbatch option per --sbatch-arg, such as --account=lab or --qos=low"
                )
                raise ValueError(msg)

    def requeue_lead(self) -> int:
        """Seconds before the time limit at which the task asks to be requeued."""
        if self.time is None:
            return REQUEUE_LEAD_S
        return max(1, min(REQUEUE_LEAD_S, parse_time(self.time) // 2))


def _q(text: str) -> str:
    return shlex.quote(text)


def agent_command(sweep: Sweep) -> list[str]:
    """How each array task starts its agent: this Python (a virtual environment on shared disk
    is the same on every node) running ``ledger agent``."""
    return [
        sys.executable, "-m", "ledger", "agent", sweep.id, "--root", sweep.storage.url, "--project", sweep.project,
    ]  # fmt: skip


def log_pattern(sweep: Sweep) -> str:
    """Where the tasks' own output goes (``%A`` the array job id, ``%a`` the task): the sweep's
    ``slurm/`` folder on a root on (shared) disk, else the submission folder."""
    folder = sweep.storage.local_path(f"{_format.sweep_dir(sweep.project, sweep.id)}/{_format.SWEEP_SLURM}")
    if folder is not None:
        return os.path.join(folder, "%A_%a.out")
    return os.path.join(os.getcwd(), f"ledger-{sweep.id}-%A_%a.out")


def sbatch_script(sweep: Sweep, options: SlurmOptions, *, launch_id: str) -> str:
    """The sbatch array script: one task per agent, each running ``ledger agent``."""
    options.check()
    name = re.sub(r"[^A-Za-z0-9._-]", "-", sweep.name)[:60]
    directives = [
        f"--job-name=ledger-{name}",
        f"--array=0-{options.agents - 1}",
        f"--output={log_pattern(sweep)}",
    ]
    gpus = f"gpu:{options.gpus_per_agent}" if options.gpus_per_agent else None
    asked = (
        ("partition", options.partition), ("time", options.time), ("cpus-per-task", options.cpus_per_agent),
        ("gres", gpus), ("mem", options.mem),
    )  # fmt: skip
    directives += [f"--{option}={value}" for option, value in asked if value]
    if options.requeue:
        directives += ["--requeue", f"--signal=B:USR1@{options.requeue_lead()}"]
    directives += options.sbatch_args  # last: sbatch lets a later directive override an earlier one
    agent = " ".join(_q(a) for a in agent_command(sweep))
    lines = [
        "#!/bin/bash",
        f"# Made by `ledger sweep launch` ({launch_id}): agents of sweep {sweep.id} ({sweep.name}),",
        f"# project {sweep.project}, root {sweep.storage.url}. Each array task runs one agent; agents",
        "# claim trials through the root, so tasks may start, stop and requeue in any order.",
        *(f"#SBATCH {d}" for d in directives),
        "",
        "set -u",
        f"cd {_q(os.getcwd())}",
    ]
    if options.requeue:
        lines += [
            "",
            "# Before the time limit SLURM sends SIGUSR1 (--signal above): requeue this task. SLURM then",
            "# ends its processes with SIGTERM (the running trial is recorded as preempted) and starts",
            "# the task again; its new agent takes the interrupted trial up first.",
            "requeue() {",
            '    echo "ledger: requeueing task ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID} before its time limit" >&2',
            '    scontrol requeue "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"',
            "}",
            "trap requeue USR1",
            f"{agent} &",
            "agent=$!",
            "# bash runs a trap only between commands: wait in the background, and again after a trap",
            'wait "$agent"; status=$?',
            'while kill -0 "$agent" 2>/dev/null; do wait "$agent"; status=$?; done',
            'exit "$status"',
        ]
    else:
        lines.append(f"exec {agent}")
    return "\n".join(lines) + "\n"


def _run(args: list[str], *, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which(args[0])
    if exe is None:
        msg = (
            f"{args[0]} is not on PATH: run this on a machine of the SLURM cluster (a login node), "
            f"or use --dry-run to print the script"
        )
        raise SlurmError(msg)
    try:
        return subprocess.run(
            [exe, *args[1:]], input=stdin, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        msg = f"{args[0]} did not answer within {_TIMEOUT_S:.0f} s (is slurmctld up?)"
        raise SlurmError(msg) from None


@dataclass
class Launch:
    """One submission of agents: its script and, once submitted, its job id."""

    id: str
    script: str
    agents: int
    job_id: str | None = None
    submitted: str | None = None
    user: str | None = None
    host: str | None = None

    def record(self) -> dict[str, Any]:
        return {
            "launch": self.id,
            "job_id": self.job_id,
            "agents": self.agents,
            "submitted": self.submitted,
            "user": self.user,
            "host": self.host,
            "script": f"{self.id}.sbatch",
        }


def _folder(sweep: Sweep) -> str:
    return f"{_format.sweep_dir(sweep.project, sweep.id)}/{_format.SWEEP_SLURM}"


def launch(sweep: Sweep, options: SlurmOptions, *, dry_run: bool = False) -> Launch:
    """Write the script into the sweep's folder and submit it; with ``dry_run`` only make it."""
    options.check()
    now = time.time()
    launch_id = _format.new_run_id(now)
    script = sbatch_script(sweep, options, launch_id=launch_id)
    done = Launch(launch_id, script, options.agents)
    if dry_run:
        return done
    storage, folder = sweep.storage, _folder(sweep)
    retrying(lambda: storage.create_exclusive(f"{folder}/{launch_id}.sbatch", script.encode()))
    if storage.local_path(folder) is not None:
        os.makedirs(str(storage.local_path(folder)), exist_ok=True)  # for the tasks' output files
    result = _run(["sbatch", "--parsable"], stdin=script)  # the script on stdin: the root may be remote
    if result.returncode != 0:
        msg = f"sbatch failed ({result.returncode}): {(result.stderr or result.stdout).strip()}"
        raise SlurmError(msg)
    done.job_id = result.stdout.strip().split(";")[0]  # "<id>" or "<id>;<cluster>"
    done.submitted, done.user, done.host = _format.iso(time.time()), current_user(), hostname()
    data = _format.yaml_dump(done.record())
    retrying(lambda: storage.write_atomic(f"{folder}/{launch_id}.yaml", data))
    return done


def launches(sweep: Sweep) -> list[dict[str, Any]]:
    """The recorded submissions of the sweep, oldest first."""
    storage, folder = sweep.storage, _folder(sweep)
    out = []
    for entry in storage.list_dir(folder):
        if entry.is_dir or not entry.name.endswith(".yaml"):
            continue
        try:
            doc = _format.yaml_load(retrying(lambda: storage.read_bytes(f"{folder}/{entry.name}")), entry.name)  # noqa: B023
        except (OSError, LedgerError):
            continue
        if isinstance(doc, dict) and doc.get("job_id"):
            out.append(doc)
    return sorted(out, key=lambda d: str(d.get("launch")))


def _squeue(job_id: str) -> dict[str, dict[str, str]]:
    result = _run(["squeue", "-h", "-r", "-j", job_id, "-o", "%i|%T|%r|%M|%N"])
    out: dict[str, dict[str, str]] = {}
    if result.returncode != 0:
        return out  # an ended job is unknown to squeue
    for line in result.stdout.splitlines():
        parts = line.split("|")
        if len(parts) == 5:
            out[parts[0]] = {"state": parts[1], "reason": parts[2], "elapsed": parts[3], "nodes": parts[4]}
    return out


def _sacct(job_id: str) -> dict[str, dict[str, str]]:
    if shutil.which("sacct") is None:
        return {}
    result = _run(["sacct", "-n", "-P", "-X", "-j", job_id, "--format=JobID,State,Elapsed,NodeList"])
    out: dict[str, dict[str, str]] = {}
    if result.returncode != 0:
        return out  # "Slurm accounting storage is disabled"
    for line in result.stdout.splitlines():
        parts = line.split("|")
        if len(parts) == 4 and "_" in parts[0] and "[" not in parts[0]:
            out[parts[0]] = {"state": parts[1].split()[0], "reason": "", "elapsed": parts[2], "nodes": parts[3]}
    return out


def _scontrol(job_id: str) -> dict[str, dict[str, str]]:
    result = _run(["scontrol", "show", "job", "-o", job_id])
    out: dict[str, dict[str, str]] = {}
    if result.returncode != 0:
        return out  # ended longer ago than MinJobAge
    for line in result.stdout.splitlines():
        fields = dict(w.partition("=")[::2] for w in line.split() if "=" in w)
        array, task = fields.get("ArrayJobId"), fields.get("ArrayTaskId")
        if array and task and task.isdigit():
            out[f"{array}_{task}"] = {
                "state": fields.get("JobState", ""),
                "reason": fields.get("Reason", ""),
                "elapsed": fields.get("RunTime", ""),
                "nodes": fields.get("NodeList", ""),
                "restarts": fields.get("Restarts", "0"),
            }
    return out


def job_tasks(job_id: str) -> dict[str, dict[str, str]]:
    """The state of each task of an array job, ``<job>_<task>`` -> state, reason, elapsed,
    nodes: what ``squeue`` shows of live tasks, else ``sacct``, else ``scontrol show job``."""
    found = _scontrol(job_id)
    found.update(_sacct(job_id))
    found.update(_squeue(job_id))
    return dict(sorted(found.items(), key=lambda kv: int(kv[0].rpartition("_")[2] or 0)))


def cancel(job_id: str) -> None:
    """``scancel`` the job (every task of the array)."""
    result = _run(["scancel", job_id])
    if result.returncode != 0:
        msg = f"scancel {job_id} failed ({result.returncode}): {(result.stderr or result.stdout).strip()}"
        raise SlurmError(msg)
