"""System utilisation samples for system.jsonl: CPU, memory, disk and network rates, GPUs."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ledger._writer import JsonlSink

_MB = 1024 * 1024


class SystemSampler:
    """Called by the run's background thread every sampling interval."""

    def __init__(self, sink: JsonlSink) -> None:
        import psutil  # noqa: PLC0415

        self._psutil = psutil
        self._sink = sink
        self._proc = psutil.Process(os.getpid())
        self._proc.cpu_percent(None)  # the first call only starts the measurement
        psutil.cpu_percent(None)
        self._step = 0
        self._last_time = time.monotonic()
        self._disk = _counters(psutil.disk_io_counters)
        self._net = _counters(psutil.net_io_counters)
        self._gpus = _Nvml.start()

    def sample(self) -> None:
        ps = self._psutil
        now = time.monotonic()
        dt = max(now - self._last_time, 1e-6)
        rec: dict[str, Any] = {"_step": self._step, "_time": time.time()}
        rec["cpu/percent"] = ps.cpu_percent(None)
        rec["cpu/process_percent"] = self._proc.cpu_percent(None)
        mem = ps.virtual_memory()
        rec["memory/percent"] = mem.percent
        rec["memory/process_rss_gb"] = round(self._proc.memory_info().rss / 2**30, 4)
        disk = _counters(ps.disk_io_counters)
        if disk is not None and self._disk is not None:
            rec["disk/read_mb_s"] = round((disk[0] - self._disk[0]) / _MB / dt, 4)
            rec["disk/write_mb_s"] = round((disk[1] - self._disk[1]) / _MB / dt, 4)
        net = _counters(ps.net_io_counters)
        if net is not None and self._net is not None:
            rec["net/recv_mb_s"] = round((net[0] - self._net[0]) / _MB / dt, 4)
            rec["net/sent_mb_s"] = round((net[1] - self._net[1]) / _MB / dt, 4)
        self._disk, self._net, self._last_time = disk, net, now
        if self._gpus is not None and not self._gpus.sample(rec):
            self._gpus = None
        self._sink.put(rec)
        self._step += 1


class _Nvml:
    """Per-GPU utilisation, memory, power and temperature through NVML (nvidia-ml-py)."""

    def __init__(self, nvml: Any, handles: list[Any]) -> None:
        self._nvml = nvml
        self._handles = handles

    @classmethod
    def start(cls) -> _Nvml | None:
        """NVML sampling if pynvml imports and finds GPUs; None otherwise (no GPU records)."""
        try:
            import pynvml  # noqa: PLC0415 (optional)

            pynvml.nvmlInit()
            handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(int(pynvml.nvmlDeviceGetCount()))]
        except Exception:  # not installed, no driver, no GPU
            return None
        return cls(pynvml, handles) if handles else None

    def _read(self, h: Any) -> dict[str, float]:
        nv = self._nvml
        out: dict[str, float] = {}
        readers: tuple[tuple[str, Any], ...] = (
            ("utilization_percent", lambda: float(nv.nvmlDeviceGetUtilizationRates(h).gpu)),
            ("memory_used_gb", lambda: round(int(nv.nvmlDeviceGetMemoryInfo(h).used) / 2**30, 4)),
            ("memory_percent", lambda: _percent(nv.nvmlDeviceGetMemoryInfo(h))),
            ("power_w", lambda: round(nv.nvmlDeviceGetPowerUsage(h) / 1000, 2)),
            ("temperature_c", lambda: float(nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU))),
        )
        for key, read in readers:
            try:
                out[key] = read()
            except Exception:  # noqa: S112 (power or temperature is not supported on every card)
                continue
        return out

    def sample(self, rec: dict[str, Any]) -> bool:
        """Add ``gpu/<i>/<metric>`` keys to ``rec``; False once NVML answers nothing at all."""
        got = False
        for i, h in enumerate(self._handles):
            for key, value in self._read(h).items():
                rec[f"gpu/{i}/{key}"] = value
                got = True
        return got


def _percent(mem: Any) -> float:
    return round(100 * int(mem.used) / max(int(mem.total), 1), 2)


def _counters(fn: Any) -> tuple[int, int] | None:
    try:
        c = fn()
    except (OSError, RuntimeError):
        return None
    if c is None:
        return None
    if hasattr(c, "read_bytes"):
        return int(c.read_bytes), int(c.write_bytes)
    return int(c.bytes_recv), int(c.bytes_sent)
