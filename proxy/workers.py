"""``pgcsms serve --workers N``: N serving processes on one port, under one supervisor.

One Python process runs one event loop, so it keeps at most one core busy;
under load the proxy's loop is one stage every message goes through twice
(its frame in, its answer out), and the rest of the machine waits on it.
With ``--workers N`` the process systemd started (the supervisor) forks N
workers, each a whole proxy of its own: its own pool, LISTEN connection and
node id (``NODE_ID/0`` ... ``NODE_ID/N-1``), exactly as several proxies over
one database, which pgcsms already supports (a charger that reconnects to
another worker moves there; its connection epoch fences the old one). Their
listening sockets share the port with ``SO_REUSEPORT``: the kernel spreads
new connections over them by source address and port.

The supervisor serves nothing itself. It speaks for the workers to the
service manager: each worker sends its ``sd_notify`` messages to the
supervisor over a datagram socket pair of its own, and the supervisor sends
``READY=1`` once every worker serves, ``STATUS=`` with their chargers
summed, and ``WATCHDOG=1`` only while every worker's event loop still pings.
SIGTERM and SIGINT are passed on and awaited (each worker drains its CALLs as
a single process does), SIGHUP is passed on (each worker reloads), and a
worker that dies is forked again, at most once a second. A worker that dies
before the first READY=1 of all of them stops the whole service: that is a
configuration or environment error, which systemd should see.

The supervisor forks only from a process that runs no event loop and no
thread, so a worker starts from a clean state; it leaves by ``os._exit``, so
nothing of the supervisor (the embedded PostgreSQL above all) is cleaned up
in its name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import selectors
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType

from .systemd import Notifier

__all__ = ["Supervisor", "serving_status", "worker_node_id"]

logger = logging.getLogger("pgcsms.workers")

# A worker that dies is forked again after this many seconds at the earliest.
RESPAWN_DELAY = 1.0
# After SIGTERM the workers get the shutdown timeout and this much more before SIGKILL.
STOP_GRACE = 10.0
# A worker pings every this many seconds while the supervisor has a watchdog to feed.
WORKER_PING = 1.0

# What a serving process reports in STATUS= (serving_status), read back from each worker.
_WORKER_STATUS = re.compile(r"^STATUS=serving (?P<url>\S+): (?P<chargers>\d+) chargers? connected", re.MULTILINE)

RunWorker = Callable[[int, Notifier], int]  # (worker index, its notifier) -> exit code


def serving_status(url: str, chargers: int) -> str:
    """The STATUS= of a serving process: one alone, a worker, or the supervisor (which adds its workers)."""
    return f"serving {url}: {chargers} charger{'' if chargers == 1 else 's'} connected"


def worker_node_id(node_id: str, index: int) -> str:
    """The node id of worker ``index`` of a process whose node id is ``node_id``."""
    return f"{node_id}/{index}"


def _leave_with(supervisor: int) -> None:
    """Stop this worker (as SIGTERM does) once its supervisor is gone, killed with -9 say.

    Nobody would reap, replace or stop it then, and it would keep the port and
    its database connections. A thread, not the event loop: it holds from the
    fork on, before any loop runs.
    """
    def watch() -> None:
        while os.getppid() == supervisor:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="pgcsms-supervisor-watch", daemon=True).start()


@dataclasses.dataclass
class _Worker:
    index: int
    node_id: str
    pid: int = 0
    channel: socket.socket | None = None  # the supervisor's end of the worker's notify socket pair
    ready: bool = False
    chargers: int = 0
    url: str = ""
    pinged_at: float = 0.0
    respawn_at: float | None = None  # dead, and forked again at this monotonic time
    exit_status: int = 0


class Supervisor:
    """Forks the workers, speaks for them to the service manager, and keeps them running."""

    def __init__(self, count: int, node_id: str, run_worker: RunWorker, *, notifier: Notifier,
                 shutdown_timeout: float, on_serving: Callable[[], None] = lambda: None) -> None:
        self.workers = [_Worker(index, worker_node_id(node_id, index)) for index in range(count)]
        self._run_worker = run_worker
        self._notifier = notifier
        self._shutdown_timeout = shutdown_timeout
        self._on_serving = on_serving  # once, when every worker serves
        self._selector = selectors.DefaultSelector()
        self._wakeup_read, self._wakeup_write = socket.socketpair()
        self._requests: list[int] = []  # signals received, in order, not yet handled
        self._serving = False  # every worker has been ready once
        self._stopping_since: float | None = None
        self._failed = False
        self._reloading: set[int] = set()  # workers (indexes) whose READY=1 after a SIGHUP is awaited
        self._killed = False  # SIGKILL sent to what outlived the stop's grace
        self._watchdog_sent_at = 0.0

    # -- the supervisor's loop ------------------------------------------------------------------------

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT (0), or until a worker fails to start (1)."""
        for sock in (self._wakeup_read, self._wakeup_write):
            sock.setblocking(False)
        self._selector.register(self._wakeup_read, selectors.EVENT_READ)
        previous_wakeup = signal.set_wakeup_fd(self._wakeup_write.fileno())
        handled = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD)
        previous = {signum: signal.signal(signum, self._on_signal) for signum in handled}
        try:
            for worker in self.workers:
                self._fork(worker)
            while self._alive() or self._stopping_since is None:
                self._step()
        finally:
            signal.set_wakeup_fd(previous_wakeup)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            self._selector.close()
            self._wakeup_read.close()
            self._wakeup_write.close()
        failed = self._failed or any(worker.exit_status != 0 for worker in self.workers)
        return 1 if failed else 0

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._requests.append(signum)  # handled in the loop, never in the handler

    def _step(self) -> None:
        now = time.monotonic()
        for key, _ in self._selector.select(self._timeout(now)):
            if key.fileobj is self._wakeup_read:
                with contextlib.suppress(BlockingIOError):
                    while self._wakeup_read.recv(4096):
                        pass
            else:
                self._receive(key.data)
        while self._requests:
            signum = self._requests.pop(0)
            if signum in (signal.SIGTERM, signal.SIGINT):
                self._stop()
            elif signum == signal.SIGHUP and self._stopping_since is None:
                self._reload()
        self._reap()
        now = time.monotonic()
        if self._stopping_since is not None:
            if not self._killed and now - self._stopping_since > self._shutdown_timeout + STOP_GRACE:
                self._killed = True
                for worker in self.workers:
                    self._signal(worker, signal.SIGKILL)
            return
        for worker in self.workers:
            if worker.respawn_at is not None and now >= worker.respawn_at:
                self._fork(worker)
        self._feed_watchdog(now)

    def _timeout(self, now: float) -> float:
        deadlines = [worker.respawn_at for worker in self.workers if worker.respawn_at is not None]
        if self._notifier.watchdog_interval is not None:
            deadlines.append(self._watchdog_sent_at + self._notifier.watchdog_interval)
        if self._stopping_since is not None and not self._killed:
            deadlines.append(self._stopping_since + self._shutdown_timeout + STOP_GRACE)
        return max(0.0, min(deadlines) - now) if deadlines else 5.0

    # -- workers ----------------------------------------------------------------------------------------

    def _fork(self, worker: _Worker) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                ours.close()
                self._become_worker()
                ping = WORKER_PING if self._notifier.watchdog_interval is not None else None
                code = self._run_worker(worker.index, Notifier.over(theirs, watchdog_interval=ping))
            except BaseException:
                logger.exception("worker %d failed", worker.index)
            finally:
                with contextlib.suppress(Exception):
                    logging.shutdown()
                    sys.stdout.flush()
                    sys.stderr.flush()
                os._exit(code)
        theirs.close()
        ours.setblocking(False)
        worker.pid, worker.channel = pid, ours
        worker.ready, worker.chargers, worker.respawn_at = False, 0, None
        worker.pinged_at = time.monotonic()
        self._selector.register(ours, selectors.EVENT_READ, worker)
        logger.debug("worker %d started (pid %d, node %s)", worker.index, pid, worker.node_id)

    def _become_worker(self) -> None:
        """In a freshly forked worker: none of the supervisor's signal handling, sockets or selector."""
        _leave_with(os.getppid())
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGTERM, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until the worker's event loop takes it: never fatal
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for other in self.workers:
            if other.channel is not None:
                other.channel.close()
        self._selector.close()
        self._wakeup_read.close()
        self._wakeup_write.close()

    def _alive(self) -> list[_Worker]:
        return [worker for worker in self.workers if worker.pid]

    def _signal(self, worker: _Worker, signum: int) -> None:
        if worker.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signum)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            worker = next((worker for worker in self.workers if worker.pid == pid), None)
            if worker is None:
                continue
            self._buried(worker, status)

    def _buried(self, worker: _Worker, status: int) -> None:
        if worker.channel is not None:
            self._selector.unregister(worker.channel)
            worker.channel.close()
        worker.pid, worker.channel, worker.ready, worker.chargers = 0, None, False, 0
        worker.exit_status = os.waitstatus_to_exitcode(status)
        self._reloading.discard(worker.index)
        how = (f"killed by signal {-worker.exit_status}" if worker.exit_status < 0
               else f"exited with code {worker.exit_status}")
        if self._stopping_since is not None:
            if worker.exit_status not in (0, -signal.SIGTERM):
                logger.warning("worker %d %s while stopping", worker.index, how)
            else:
                worker.exit_status = 0
            return
        if not self._serving:
            logger.error("worker %d %s before it served: stopping", worker.index, how)
            self._failed = True
            self._stop()
            return
        logger.error("worker %d (node %s) %s; starting it again", worker.index, worker.node_id, how)
        worker.respawn_at = time.monotonic() + RESPAWN_DELAY
        self._notifier.status(self.status())

    # -- what the workers say, and what we say for them -----------------------------------------------------

    def _receive(self, worker: _Worker) -> None:
        assert worker.channel is not None
        while True:
            try:
                message = worker.channel.recv(65536).decode("utf-8", errors="replace")
            except OSError:  # nothing more now (BlockingIOError), or the worker is gone
                return
            if not message:
                return
            fields = message.split("\n")
            worker.pinged_at = time.monotonic()
            if found := _WORKER_STATUS.search(message):
                worker.url, worker.chargers = found["url"], int(found["chargers"])
            if "READY=1" in fields:
                self._on_ready(worker)
            elif found:
                self._notifier.status(self.status())

    def _on_ready(self, worker: _Worker) -> None:
        worker.ready = True
        if not self._serving:
            if all(each.ready for each in self.workers):
                self._serving = True
                url = self.workers[0].url
                logger.info("%d workers serving %s", len(self.workers), url)
                self._on_serving()
                print(f"pgcsms: serving {url} with {len(self.workers)} workers", file=sys.stderr, flush=True)
                self._notifier.ready(self.status())
            return
        self._reloading.discard(worker.index)
        if not self._reloading:
            self._notifier.ready(self.status())

    def status(self) -> str:
        serving = sum(1 for worker in self.workers if worker.ready)
        url = next((worker.url for worker in self.workers if worker.url), "")
        return (f"{serving_status(url, sum(worker.chargers for worker in self.workers))} "
                f"({serving} of {len(self.workers)} workers serving)")

    def _feed_watchdog(self, now: float) -> None:
        interval = self._notifier.watchdog_interval
        if interval is None or now - self._watchdog_sent_at < interval:
            return
        # Every worker's loop answers (a worker being forked again has a second's grace).
        stale = [worker.index for worker in self.workers
                 if worker.pid and now - worker.pinged_at > max(interval * 2, WORKER_PING * 3)]
        if stale:
            logger.warning("workers %s have not pinged: the watchdog is not fed", stale)
            return
        self._watchdog_sent_at = now
        self._notifier.watchdog()

    def _stop(self) -> None:
        if self._stopping_since is not None:
            return
        self._stopping_since = time.monotonic()
        self._notifier.stopping(f"stopping {len(self._alive())} workers: their chargers get up to "
                                f"{self._shutdown_timeout:g} s to finish their CALLs, then 1001 (going away)")
        for worker in self.workers:
            worker.respawn_at = None
            self._signal(worker, signal.SIGTERM)

    def _reload(self) -> None:
        self._notifier.reloading()
        alive = self._alive()
        self._reloading = {worker.index for worker in alive if worker.ready}
        for worker in alive:  # one still starting reads the file as it is now anyway
            if worker.ready:
                self._signal(worker, signal.SIGHUP)
        if not self._reloading:
            self._notifier.ready(self.status())
