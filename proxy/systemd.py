"""systemd's service notification protocol (``sd_notify``), for ``Type=notify`` units.

A notification is one datagram of ``KEY=VALUE`` lines to the Unix socket named
by ``$NOTIFY_SOCKET`` (in the abstract namespace when the name starts with
``@``). ``pgcsms serve`` sends ``READY=1`` once it has migrated and its port
accepts connections, ``STATUS=`` lines (how many chargers are connected),
``RELOADING=1`` on SIGHUP, ``STOPPING=1`` on SIGTERM, and ``WATCHDOG=1`` every
half ``WatchdogSec`` when the unit sets one. Without ``$NOTIFY_SOCKET`` every
call does nothing, so the same process runs under systemd or not.

A few lines over a socket, so no dependency: the PyPI packages for it are
either unmaintained or bind libsystemd.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, MutableMapping

__all__ = ["Notifier"]

logger = logging.getLogger("pgcsms.systemd")

# What systemd gives the main process only; children (the embedded PostgreSQL,
# which speaks sd_notify itself) must not see it.
_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


class Notifier:
    """Sends notifications to the service manager, if there is one."""

    __slots__ = ("_address", "_failed", "_socket", "_status", "watchdog_interval")

    def __init__(self, environ: MutableMapping[str, str] | None = None, *, unset: bool = True) -> None:
        """Read ``$NOTIFY_SOCKET`` and ``$WATCHDOG_USEC`` from ``environ`` (os.environ), and by default
        remove them, so that no child process notifies in our name."""
        environ = os.environ if environ is None else environ
        name = environ.get("NOTIFY_SOCKET", "")
        usec = environ.get("WATCHDOG_USEC", "")
        watchdog_pid = environ.get("WATCHDOG_PID", "")
        if unset:
            for variable in _VARIABLES:
                environ.pop(variable, None)
        self._address: str | None = None
        if name.startswith("@"):
            self._address = "\0" + name[1:]
        elif name.startswith("/"):
            self._address = name
        self._socket: socket.socket | None = None
        self._failed = False
        self._status = ""  # the last STATUS= sent
        # Half the watchdog timeout, as sd_watchdog_enabled(3) advises; None: no watchdog.
        self.watchdog_interval: float | None = None
        if usec.isdigit() and int(usec) > 0 and (not watchdog_pid or watchdog_pid == str(os.getpid())):
            self.watchdog_interval = int(usec) / 2e6

    @classmethod
    def over(cls, connected: socket.socket, *, watchdog_interval: float | None = None) -> Notifier:
        """Notifications over a connected datagram socket: a ``--workers`` worker to its supervisor."""
        notifier = cls({}, unset=False)
        connected.setblocking(False)
        notifier._socket = connected
        notifier.watchdog_interval = watchdog_interval
        return notifier

    @property
    def enabled(self) -> bool:
        """Whether a service manager listens."""
        return self._address is not None or self._socket is not None

    def notify(self, *fields: str) -> bool:
        """Send ``KEY=VALUE`` fields in one datagram; False when nobody listens or it could not be sent."""
        if not self.enabled:
            return False
        message = "\n".join(fields).encode("utf-8")
        try:
            if self._address is None:
                assert self._socket is not None
                self._socket.send(message)  # connected (Notifier.over)
            else:
                if self._socket is None:
                    self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                    self._socket.setblocking(False)  # never stall the event loop on a full queue
                self._socket.sendto(message, self._address)
            self._status = next((f for f in fields if f.startswith("STATUS=")), self._status)
        except OSError as error:
            if not self._failed:  # once: a manager that went away would repeat it every second
                logger.warning("cannot notify the service manager at %s: %s",
                               (self._address or "the supervisor").lstrip("\0"), error)
                self._failed = True
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.notify("READY=1", _status(status))

    def status(self, status: str) -> bool:
        return self.notify(_status(status))

    def reloading(self) -> bool:
        # MONOTONIC_USEC lets systemd (253+, Type=notify-reload) match it to the reload it asked for.
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def stopping(self, status: str) -> bool:
        return self.notify("STOPPING=1", _status(status))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    async def keep_alive(self) -> None:
        """``WATCHDOG=1`` every half WatchdogSec, while the event loop runs; returns at once without a watchdog."""
        if self.watchdog_interval is None or not self.enabled:
            return
        while True:
            self.watchdog()
            await asyncio.sleep(self.watchdog_interval)

    async def report(self, describe: Callable[[], str], every: float = 1.0) -> None:
        """``STATUS=`` with ``describe()`` whenever it changes (looked at every ``every`` seconds)."""
        if not self.enabled:
            return
        while True:
            if _status(describe()) != self._status:
                self.status(describe())
            await asyncio.sleep(every)

    def close(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.close()
            self._socket = None


def _status(text: str) -> str:
    return "STATUS=" + " ".join(text.split())  # one line
