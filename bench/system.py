"""What the benchmark measures of the machine and of the processes under test.

CPU time is read with psutil from a process tree: the process itself, its live
descendants, and the children it has already reaped (``children_user`` and
``children_system``), so a PostgreSQL backend that exits mid-run still counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

__all__ = [
    "CpuSample",
    "ProcessTree",
    "free_port",
    "machine_info",
    "machine_sample",
    "wait_for_port",
    "wait_until_quiet",
]


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds (user + system) of a process tree at one moment."""

    at: float
    cpu_s: float
    rss_bytes: int
    processes: int


class ProcessTree:
    """A process and its descendants, sampled together."""

    def __init__(self, pid: int, name: str) -> None:
        self.pid = pid
        self.name = name
        self.root = psutil.Process(pid)

    def alive(self) -> bool:
        return self.root.is_running() and self.root.status() != psutil.STATUS_ZOMBIE

    def sample(self) -> CpuSample:
        """CPU seconds and resident memory of the whole tree now."""
        total = 0.0
        rss = 0
        count = 0
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return CpuSample(time.time(), 0.0, 0, 0)
        for index, proc in enumerate(procs):
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    total += times.user + times.system
                    if index == 0:
                        total += times.children_user + times.children_system
                    rss += proc.memory_info().rss
                    count += 1
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return CpuSample(time.time(), total, rss, count)


def machine_sample() -> CpuSample:
    """CPU seconds all cores spent busy (not idle, not waiting on I/O) since boot."""
    times = psutil.cpu_times()
    # guest time is already inside user; steal is the hypervisor's, not ours.
    busy = times.user + times.system + sum(
        getattr(times, name, 0.0) for name in ("nice", "irq", "softirq")
    )
    return CpuSample(time.time(), busy, psutil.virtual_memory().used, psutil.cpu_count() or 0)


async def wait_until_quiet(max_wait: float, threshold: float = 0.25,
                           window: float = 1.0) -> dict[str, float]:
    """Wait (at most ``max_wait`` s) for a ``window`` in which all cores together were
    busy less than ``threshold`` cores: other people's work skews a benchmark.

    Returns the seconds waited and the busy cores of the last window.
    """
    started = time.monotonic()
    busy = 0.0
    while True:
        first = machine_sample()
        await asyncio.sleep(window)
        last = machine_sample()
        busy = (last.cpu_s - first.cpu_s) / max(1e-9, last.at - first.at)
        waited = time.monotonic() - started
        if busy < threshold or waited >= max_wait:
            return {"waited_s": round(waited, 1), "busy_cores": round(busy, 3)}


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float, alive: Any = None) -> bool:
    """Wait until ``host:port`` accepts TCP; stop early when ``alive()`` turns false."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            return False
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return True
        time.sleep(0.1)
    return False


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _command_version(*command: str) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout or out.stderr).strip().splitlines()[0] if out.returncode == 0 else None


def _node_package_version(package: str) -> str | None:
    path = Path(__file__).parent / "node_peer" / "node_modules" / package / "package.json"
    with contextlib.suppress(OSError, ValueError):
        import json

        return str(json.loads(path.read_text())["version"])
    return None


def machine_info(postgres_version: str | None = None) -> dict[str, Any]:
    """The machine and software a result was measured on."""
    memory = psutil.virtual_memory().total
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(memory / 2**30, 1),
        "kernel": platform.release(),
        "postgresql": postgres_version,
        "python": sys.version.split()[0],
        "node": _command_version("node", "--version"),
        "packages": {
            name: _version(name)
            for name in ("websockets", "ocpp", "asyncpg", "uvloop", "psutil", "pgcsms")
        }
        | {"ocpp-rpc (npm)": _node_package_version("ocpp-rpc")},
    }
