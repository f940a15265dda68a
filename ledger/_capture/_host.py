"""Host and hardware: hostname, OS, Python, CPU, memory, GPUs, scheduler context."""

from __future__ import annotations

import functools
import logging
import os
import platform
import re
import shutil
import socket
import subprocess
from typing import Any

log = logging.getLogger("ledger")

# Environment variables recorded as host.scheduler: job identity and placement only. This is
# an allowlist on purpose; the environment as a whole holds tokens and is never recorded.
SCHEDULER_VARS = (
    # Slurm
    "SLURM_JOB_ID",
    "SLURM_JOB_NAME",
    "SLURM_ARRAY_JOB_ID",
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_JOB_NODELIST",
    "SLURM_NNODES",
    "SLURM_NTASKS",
    "SLURM_PROCID",
    "SLURM_LOCALID",
    "SLURM_JOB_PARTITION",
    "SLURM_JOB_ACCOUNT",
    "SLURM_CLUSTER_NAME",
    "SLURM_RESTART_COUNT",
    "SLURM_JOB_GPUS",
    "SLURM_CPUS_PER_TASK",
    # PBS / Torque, LSF, Grid Engine
    "PBS_JOBID",
    "PBS_JOBNAME",
    "PBS_ARRAY_INDEX",
    "PBS_QUEUE",
    "LSB_JOBID",
    "LSB_JOBNAME",
    "LSB_JOBINDEX",
    "LSB_QUEUE",
    "JOB_ID",
    "SGE_TASK_ID",
    # distributed launchers (torchrun, accelerate) and the devices the job was given
    "RANK",
    "LOCAL_RANK",
    "WORLD_SIZE",
    "CUDA_VISIBLE_DEVICES",
)

_NVIDIA_SMI_TIMEOUT_S = 10.0


@functools.cache
def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("model name", "Model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _gpus_nvml() -> list[dict[str, Any]] | None:
    """GPUs through NVML (nvidia-ml-py), or None when it is not installed or does not work."""
    try:
        import pynvml  # noqa: PLC0415 (optional)
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver, no GPU: NVMLError_LibraryNotFound and friends
        return None
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        try:
            v = int(pynvml.nvmlSystemGetCudaDriverVersion())
            cuda: str | None = f"{v // 1000}.{v % 1000 // 10}"
        except Exception:
            cuda = None
        gpus = []
        for i in range(int(pynvml.nvmlDeviceGetCount())):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            gpus.append(
                {
                    "index": i,
                    "name": _text(pynvml.nvmlDeviceGetName(handle)),
                    "memory_gb": round(int(pynvml.nvmlDeviceGetMemoryInfo(handle).total) / 2**30, 1),
                    "uuid": _text(pynvml.nvmlDeviceGetUUID(handle)),
                    "driver": driver,
                    "cuda": cuda,
                }
            )
    except Exception as exc:
        log.warning("ledger: NVML could not describe the GPUs (%s); trying nvidia-smi", exc)
        return None
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: S110 (nothing to do about a failed shutdown)
            pass
    return gpus


def parse_nvidia_smi(query_csv: str, banner: str) -> list[dict[str, Any]]:
    """GPUs from ``nvidia-smi --query-gpu=index,name,memory.total,uuid,driver_version
    --format=csv,noheader,nounits`` and the CUDA version from plain ``nvidia-smi``."""
    m = re.search(r"CUDA Version:\s*([0-9.]+)", banner)
    cuda = m.group(1) if m else None
    gpus = []
    for line in query_csv.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 5 or not parts[0].isdigit():
            continue
        index, name, memory_mib, uuid, driver = parts
        try:
            memory_gb: float | None = round(float(memory_mib) / 1024, 1)
        except ValueError:
            memory_gb = None
        gpus.append(
            {"index": int(index), "name": name, "memory_gb": memory_gb, "uuid": uuid, "driver": driver, "cuda": cuda}
        )
    return gpus


def _gpus_smi() -> list[dict[str, Any]]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    fields = "index,name,memory.total,uuid,driver_version"
    try:
        query = subprocess.run(
            [exe, f"--query-gpu={fields}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=_NVIDIA_SMI_TIMEOUT_S,
            check=True,
        )
        banner = subprocess.run([exe], capture_output=True, text=True, timeout=_NVIDIA_SMI_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("ledger: nvidia-smi failed (%s); no GPUs recorded", exc)
        return []
    return parse_nvidia_smi(query.stdout, banner.stdout)


@functools.cache
def _gpus() -> tuple[dict[str, Any], ...]:
    # Hardware does not change within a process: a sweep pays NVML or nvidia-smi once.
    found = _gpus_nvml()
    return tuple(found if found is not None else _gpus_smi())


def visible_gpu_count(gpus: list[dict[str, Any]], cuda_visible_devices: str | None) -> int:
    """How many of ``gpus`` a process sees under ``CUDA_VISIBLE_DEVICES`` (unset: all).

    CUDA reads the list up to its first invalid entry: ``""`` and ``"-1"`` hide every GPU.
    """
    if cuda_visible_devices is None:
        return len(gpus)
    seen = 0
    for item in cuda_visible_devices.split(","):
        item = item.strip()  # noqa: PLW2901
        if not item or (item.lstrip("-").isdigit() and int(item) < 0):
            break
        seen += 1
    return min(seen, len(gpus))


def scheduler_context() -> dict[str, str]:
    """The allowlisted scheduler variables that are set, by name."""
    return {name: os.environ[name] for name in sorted(SCHEDULER_VARS) if name in os.environ}


def capture_host() -> dict[str, Any]:
    """The machine the run is on. Never reads the whole environment."""
    import psutil  # noqa: PLC0415 (kept out of `import ledger`)

    return {
        "hostname": socket.gethostname(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "gpus": [dict(g) for g in _gpus()],
        "scheduler": scheduler_context(),
    }


# ---- the scheduler's allocation ---------------------------------------------------------------


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None and value.strip() else None
    except ValueError:
        return None


def _slurm_counts(text: str | None) -> int | None:
    """The total of a SLURM per-node count list: ``2(x3),1`` is 7; ``a100:2`` is 2."""
    if not text:
        return None
    total = 0
    for part in text.split(","):
        m = re.fullmatch(r"(?:[\w-]+:)*(\d+)(?:\(x(\d+)\))?", part.strip())
        if m is None:
            return None
        total += int(m.group(1)) * int(m.group(2) or 1)
    return total


def _device_count(text: str | None) -> int | None:
    """How many devices a list such as ``0,1`` or CUDA_VISIBLE_DEVICES names (None if unset)."""
    if text is None:
        return None
    return len([d for d in text.split(",") if d.strip() and not d.strip().startswith("-")])


def _slurm_allocation(env: dict[str, str]) -> dict[str, Any]:
    nodes = _int(env.get("SLURM_JOB_NUM_NODES")) or _int(env.get("SLURM_NNODES")) or 1
    cpus = _slurm_counts(env.get("SLURM_JOB_CPUS_PER_NODE"))
    if cpus is None and _int(env.get("SLURM_CPUS_ON_NODE")) is not None:
        cpus = (_int(env.get("SLURM_CPUS_ON_NODE")) or 0) * nodes
    per_node = _int(env.get("SLURM_GPUS_ON_NODE"))
    if per_node is None:
        per_node = _slurm_counts(env.get("SLURM_GPUS_PER_NODE")) or _device_count(env.get("SLURM_JOB_GPUS"))
    gpus = per_node * nodes if per_node is not None else _slurm_counts(env.get("SLURM_GPUS"))
    mem_mb = _int(env.get("SLURM_MEM_PER_NODE"))
    mem_mb = mem_mb * nodes if mem_mb is not None else None
    if mem_mb is None and _int(env.get("SLURM_MEM_PER_CPU")) is not None and cpus:
        mem_mb = (_int(env.get("SLURM_MEM_PER_CPU")) or 0) * cpus
    return {
        "scheduler": "slurm",
        "job_id": env.get("SLURM_JOB_ID"),
        "array_job_id": env.get("SLURM_ARRAY_JOB_ID"),
        "array_task_id": _int(env.get("SLURM_ARRAY_TASK_ID")),
        "restart_count": _int(env.get("SLURM_RESTART_COUNT")),
        "partition": env.get("SLURM_JOB_PARTITION"),
        "nodes": env.get("SLURM_JOB_NODELIST"),
        "node_count": nodes,
        "cpus": cpus,
        "gpus": gpus or 0,
        "memory_gb": round(mem_mb / 1024, 2) if mem_mb is not None else None,
    }


def _pbs_allocation(env: dict[str, str]) -> dict[str, Any]:
    # Torque sets PBS_NUM_NODES and PBS_NP; PBS Pro sets NCPUS (per chunk) and, for GPU jobs,
    # CUDA_VISIBLE_DEVICES (as Torque with its GPU support).
    return {
        "scheduler": "pbs",
        "job_id": env.get("PBS_JOBID"),
        "array_task_id": _int(env.get("PBS_ARRAY_INDEX")),
        "partition": env.get("PBS_QUEUE"),
        "node_count": _int(env.get("PBS_NUM_NODES")) or 1,
        "cpus": _int(env.get("PBS_NP")) or _int(env.get("NCPUS")),
        "gpus": _int(env.get("PBS_NGPUS")) or _device_count(env.get("CUDA_VISIBLE_DEVICES")) or 0,
    }


def _lsf_allocation(env: dict[str, str]) -> dict[str, Any]:
    hosts = (env.get("LSB_MCPU_HOSTS") or "").split()  # "host1 4 host2 4"
    return {
        "scheduler": "lsf",
        "job_id": env.get("LSB_JOBID"),
        "array_task_id": _int(env.get("LSB_JOBINDEX")) or None,  # 0 outside an array
        "partition": env.get("LSB_QUEUE"),
        "nodes": ",".join(hosts[::2]) or None,
        "node_count": len(hosts) // 2 or 1,
        "cpus": _int(env.get("LSB_DJOB_NUMPROC")) or _int(env.get("LSB_MAX_NUM_PROCESSORS")),
        "gpus": _device_count(env.get("CUDA_VISIBLE_DEVICES")) or 0,
    }


def capture_allocation(env: dict[str, str] | None = None) -> dict[str, Any] | None:
    """What the job scheduler allocated to the job this process runs in (SLURM, PBS/Torque,
    LSF), from the variables the scheduler sets: job id, array task, nodes, CPUs and GPUs of
    the whole job, memory; keys without a value are left out. None outside a scheduler job."""
    env = dict(os.environ) if env is None else env
    if env.get("SLURM_JOB_ID"):
        found = _slurm_allocation(env)
    elif env.get("PBS_JOBID"):
        found = _pbs_allocation(env)
    elif env.get("LSB_JOBID"):
        found = _lsf_allocation(env)
    else:
        return None
    return {k: v for k, v in found.items() if v is not None}


def scheduler_job(env: dict[str, str] | None = None) -> str | None:
    """The scheduler job this process runs in, for messages: ``SLURM job 12 (array 10_2)``;
    None outside one."""
    found = capture_allocation(env)
    if found is None:
        return None
    array = found.get("array_job_id"), found.get("array_task_id")
    where = f" (array {array[0]}_{array[1]})" if array[0] is not None and array[1] is not None else ""
    return f"{str(found['scheduler']).upper()} job {found.get('job_id')}{where}"
