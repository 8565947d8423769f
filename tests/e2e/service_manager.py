"""The service manager's side of ``pgcsms serve``: a notify socket, and the process it started."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path


class Manager:
    """The service manager's end: a datagram socket, and what arrived on it."""

    def __init__(self, path: Path) -> None:
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(path))
        self.socket.setblocking(False)
        self.received: list[str] = []

    async def next(self, startswith: str, timeout: float = 60) -> str:
        """The next notification holding a field that starts with ``startswith`` (earlier ones are kept)."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            while True:
                message = (await loop.sock_recv(self.socket, 65536)).decode()
                self.received.append(message)
                if any(field.startswith(startswith) for field in message.split("\n")):
                    return message

    def close(self) -> None:
        self.socket.close()


class Serve:
    """``pgcsms serve`` as systemd starts it, its stderr collected."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for line in self.process.stderr:
            self.lines.append(line.decode(errors="replace"))

    async def line(self, pattern: str, timeout: float = 30, *, count: int = 1) -> re.Match[str]:
        """The ``count``-th stderr line matching ``pattern`` (the first by default), awaited."""
        async with asyncio.timeout(timeout):
            while True:
                found = [match for line in self.lines if (match := re.search(pattern, line))]
                if len(found) >= count:
                    return found[count - 1]
                if self._reader.done():
                    raise AssertionError(f"pgcsms serve exited:\n{''.join(self.lines)}")
                await asyncio.wait({self._reader}, timeout=0.05)  # more output, or its end

    @property
    def output(self) -> str:
        return "".join(self.lines)

    async def wait(self, timeout: float = 60) -> int:
        returncode = await asyncio.wait_for(self.process.wait(), timeout)
        await asyncio.wait_for(self._reader, timeout)
        return returncode


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, *args: str, watchdog_usec: int | None = None,
                  listen: str = "127.0.0.1:0") -> AsyncIterator[tuple[Manager, Serve]]:
    manager = Manager(tmp_path / "notify")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PGCSMS_")}
    environ["NOTIFY_SOCKET"] = str(tmp_path / "notify")
    if watchdog_usec is not None:
        environ["WATCHDOG_USEC"] = str(watchdog_usec)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pgcsms.proxy.cli", "serve", "--listen", listen, *args, env=environ,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    serve = Serve(process)
    try:
        yield manager, serve
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        manager.close()


def served_port(message: str) -> int:
    """The port in a notification's ``STATUS=serving ws://127.0.0.1:PORT/ocpp/...``."""
    found = re.search(r"STATUS=serving ws://127\.0\.0\.1:(\d+)/ocpp/", message)
    assert found, message
    return int(found.group(1))
