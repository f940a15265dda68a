"""Host and hardware: hostname, OS, Python, CPU, memory, GPUs."""

from __future__ import annotations

import functools
import os
import platform
import socket
from typing import Any


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
        "gpus": [],
    }
