"""A real one-node SLURM cluster for the tests: Debian's slurm-wlm (22.05), run from a temp folder.

`slurmctld -D` and `slurmd -D` as this user (root in CI), `auth/none` and `cred/none` (no munge
daemon), free ports, every state and log file inside the folder; client commands (sbatch,
squeue, scontrol, scancel) find the cluster through `SLURM_CONF`, which :attr:`env` gives.

The node claims 4 CPUs and 2 GPUs whatever the machine has (`SlurmdParameters=config_overrides`;
the GPUs are empty files in the folder, enough for SLURM to allocate and count them, not for
CUDA). What was found on this machine (Slurm 22.05.8):

- Time limits are whole minutes: `--time=0:20` becomes 1:00. slurmctld checks limits every 30 s
  (fixed), so a 1-minute job is signalled 60-90 s after it starts; `OverTimeLimit=0`.
- At the limit every process of the job gets SIGTERM, then SIGKILL `KillWait` seconds later.
- `--signal=B:USR1@N` reaches the batch shell N s (+ up to 30 s) before the limit; a shell that
  traps it and runs `scontrol requeue` puts the task back in the queue (`JobRequeue=1`,
  `--requeue`): its processes get SIGTERM, and the task starts again with
  `SLURM_RESTART_COUNT=1`, but not before a begin time about 2 minutes later that slurmctld
  sets on every requeued job (the tests move it to now with `scontrol update`).
- A time limit alone never requeues (the job ends TIMEOUT).
- `sacct` needs slurmdbd: "Slurm accounting storage is disabled". `scontrol show job` keeps
  ended jobs for `MinJobAge` seconds.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.s3server import _free_ports

KILL_WAIT = 10  # seconds between SIGTERM and SIGKILL when a job ends
_CONF = """\
ClusterName=ledgertest
SlurmctldHost={host}
SlurmUser={user}
SlurmdUser={user}
AuthType=auth/none
CredType=cred/none
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
ReturnToService=2
SlurmdParameters=config_overrides
GresTypes=gpu
MpiDefault=none
JobRequeue=1
KillWait={kill_wait}
OverTimeLimit=0
MinJobAge=600
InactiveLimit=0
SlurmctldLogFile={dir}/ctld.log
SlurmdLogFile={dir}/d.log
NodeName={host} CPUs={cpus} RealMemory=4000 Gres=gpu:{gpus} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def slurm_installed() -> bool:
    return all(shutil.which(p) for p in ("slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel"))


class SlurmCluster:
    """slurmctld and slurmd on this machine, configured in ``folder``."""

    def __init__(self, folder: Path, cpus: int = 4, gpus: int = 2) -> None:
        self.folder = folder
        self.host = socket.gethostname().split(".")[0]
        self.conf = folder / "slurm.conf"
        for sub in ("state", "spool"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        ctld_port, d_port = _free_ports(2)
        fields = {
            "host": self.host, "user": pwd.getpwuid(os.getuid()).pw_name, "dir": folder, "ctld_port": ctld_port,
            "d_port": d_port, "cpus": cpus, "gpus": gpus, "kill_wait": KILL_WAIT,
        }  # fmt: skip
        self.conf.write_text(_CONF.format(**fields))
        for i in range(gpus):
            (folder / f"gpu{i}").touch()
        files = f"{folder}/gpu[0-{gpus - 1}]" if gpus > 1 else f"{folder}/gpu0"
        (folder / "gres.conf").write_text(f"AutoDetect=off\nNodeName={self.host} Name=gpu File={files}\n")
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def env(self) -> dict[str, str]:
        """What a process needs to talk to this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A client command (sbatch, squeue, scontrol, ...) against this cluster."""
        env = {**os.environ, **self.env}
        return subprocess.run(list(args), capture_output=True, text=True, env=env, check=check, timeout=60)

    def start(self, timeout: float = 60) -> None:
        env = {**os.environ, **self.env}
        for exe in ("slurmctld", "slurmd"):
            with (self.folder / f"{exe}.out").open("ab") as log:
                proc = subprocess.Popen(
                    [exe, "-D", "-f", str(self.conf)], stdout=log, stderr=subprocess.STDOUT, env=env,
                    start_new_session=True,
                )  # fmt: skip
            self.procs.append(proc)
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    self.stop()
                    msg = f"{proc.args[0]} exited with {proc.returncode}; see {self.folder}"
                    raise RuntimeError(msg)
            found = self.run("sinfo", "-h", "-N", "-o", "%T", check=False)
            last = (found.stdout + found.stderr).strip()
            if found.returncode == 0 and last == "idle":
                return
            time.sleep(0.5)
        self.stop()
        msg = f"the SLURM node did not become idle within {timeout} s (sinfo: {last!r}); see {self.folder}"
        raise RuntimeError(msg)

    def stop(self) -> None:
        if self.procs:
            self.cancel_all()
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        self.procs = []

    def cancel_all(self) -> None:
        """Cancel every job of the cluster (between tests)."""
        self.run("scancel", "--full", "--partition=debug", check=False)

    def jobs(self) -> list[dict[str, str]]:
        """Queued and running jobs: one mapping per array task (``id``, ``state``, ``reason``)."""
        out = self.run("squeue", "-h", "-r", "-o", "%i|%T|%r").stdout
        return [dict(zip(("id", "state", "reason"), line.split("|"), strict=True)) for line in out.splitlines()]

    def wait_until_empty(self, timeout: float = 300, *, release_requeued: bool = True) -> None:
        """Until no job is queued or running. ``release_requeued``: a requeued task waits about
        2 minutes for the begin time slurmctld gives it; start it now instead."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            jobs = self.jobs()
            if not jobs:
                return
            for job in jobs:
                if release_requeued and job["state"] == "PENDING" and job["reason"] == "BeginTime":
                    self.run("scontrol", "update", f"JobId={job['id']}", "StartTime=now", check=False)
            time.sleep(1)
        msg = f"jobs still queued after {timeout} s: {self.run('squeue').stdout}"
        raise TimeoutError(msg)

    def show_job(self, job_id: str) -> dict[str, str]:
        """``scontrol show job -o ID`` of one job (or array task) as a mapping."""
        out = self.run("scontrol", "show", "job", "-o", job_id).stdout
        fields: dict[str, str] = {}
        for word in out.split():
            key, sep, value = word.partition("=")
            if sep:
                fields.setdefault(key, value)
        return fields
