"""``pgcsms rfid``: cards read on a serial port become scans, recorded by ``ocpp.record_scan``.

Python only moves bytes: it opens the port, frames tags (:mod:`hardware.framing`),
counts the repeats a reader sends while a card is held as one scan, and hands each
scan to the database, which decides what it means (the reader's mode: log, enroll,
authorize; ``sql/functions/rfid.sql``).

Neither the port nor the database is taken for granted:

- the port may vanish (a USB reader unplugged): it is opened again, with backoff,
  for as long as the process lives;
- the database may be unavailable: scans wait in a bounded queue, in the order
  read, and are retried with backoff. ``ocpp.record_scan`` is idempotent for a
  (reader, tag, scanned_at), so a retry after a lost answer records nothing twice.
  Only a full queue drops a scan (the oldest), and only a scan the database refuses
  as invalid is given up; both are logged with the tag and time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import serial
from pgcsms.proxy import dbconnect

from .framing import Decoder, decoder_for

__all__ = ["Backoff", "Debouncer", "ReaderStats", "RfidReader", "Scan", "default_reader_id", "serve"]

logger = logging.getLogger("pgcsms.rfid")

_RECORD_SCAN = "SELECT ocpp.record_scan($1, $2, $3)"

# A scan the database refuses for what it is (SQLSTATE class 22, data
# exception; 23, integrity violation) will be refused on every retry.
_REFUSED_CLASSES = ("22", "23")

# What a database call may fail with and be retried. InternalClientError is
# neither of asyncpg's other two: it comes, for one, from a query on a
# connection whose backend was just terminated.
_DATABASE_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError,
                    asyncpg.InternalClientError)


@dataclass(frozen=True, slots=True)
class Scan:
    """One card presented to one reader."""

    reader_id: str
    id_tag: str
    scanned_at: datetime


@dataclass(slots=True)
class ReaderStats:
    """Counters of one reader process, since it started."""

    port_opens: int = 0
    port_failures: int = 0  # opens that failed, and open ports that were lost
    tags: int = 0  # tags framed, repeats included
    rejected: int = 0  # frames or lines dropped as unreadable (bad checksums included)
    repeats: int = 0  # tags dropped as the same card still held
    scans: int = 0  # scans queued for the database
    recorded: int = 0  # scans the database recorded
    database_failures: int = 0  # attempts that failed and will be retried
    dropped: int = 0  # scans lost: the queue was full, or the database refused them


class Backoff:
    """Delays that double from ``initial`` up to ``maximum``."""

    __slots__ = ("_next", "initial", "maximum")

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial = initial
        self.maximum = maximum
        self._next = initial

    def next(self) -> float:
        delay = self._next
        self._next = min(self.maximum, self._next * 2)
        return delay

    def reset(self) -> None:
        self._next = self.initial


class Debouncer:
    """Drops the repeats a reader sends while a card is held.

    A tag counts as a new scan only when it was not read during the last
    ``window`` seconds: a card held for a minute is one scan, the same card
    taken away and presented again after the window is a second one.
    """

    __slots__ = ("_last_read", "window")

    def __init__(self, window: float) -> None:
        self.window = window
        self._last_read: dict[str, float] = {}

    def accept(self, tag: str, now: float) -> bool:
        """Whether this read of ``tag`` at ``now`` (monotonic seconds) is a new scan."""
        # Forget the cards gone for longer than the window; the map stays small.
        for seen, at in list(self._last_read.items()):
            if now - at >= self.window:
                del self._last_read[seen]
        new = tag not in self._last_read
        self._last_read[tag] = now
        return new


def default_reader_id(port: str) -> str:
    """``HOSTNAME:DEVICE``, e.g. ``kiosk-3:ttyUSB0``."""
    return f"{socket.gethostname()}:{os.path.basename(port)}"


class RfidReader:
    """One RFID reader on one serial port, feeding one database.

    ``await reader.run()`` reads and records until cancelled. ``stats``,
    ``port_open``, ``database_connected`` and ``pending`` tell how it goes;
    ``await reader.wait_for(...)`` waits for a state of them.
    """

    def __init__(
        self,
        port: str,
        dsn: str,
        *,
        reader_id: str | None = None,
        protocol: str = "line",
        baudrate: int = 9600,
        # Scans
        debounce: float = 2.0,
        queue_size: int = 10_000,
        # Timeouts and retries
        database_timeout: float = 10.0,
        min_backoff: float = 0.5,
        max_backoff: float = 30.0,
        drain_timeout: float = 5.0,
    ) -> None:
        self.port = port
        self.dsn = dsn
        self.reader_id = reader_id or default_reader_id(port)
        self.protocol = protocol
        self.baudrate = baudrate
        self.queue_size = queue_size
        self.database_timeout = database_timeout
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.drain_timeout = drain_timeout
        self.stats = ReaderStats()
        self.port_open = False
        self.database_connected = False
        self._decoder: Decoder = decoder_for(protocol)
        self._debouncer = Debouncer(debounce)
        self._pending: deque[Scan] = deque()
        self._queued = asyncio.Event()
        self._change = asyncio.Event()

    @property
    def pending(self) -> int:
        """Scans waiting for the database."""
        return len(self._pending)

    # -- state -----------------------------------------------------------------------

    def _changed(self) -> None:
        self._change.set()
        self._change = asyncio.Event()

    async def wait_for(self, predicate: Callable[[RfidReader], bool]) -> None:
        """Return once ``predicate(self)`` holds; it is checked at each change of state."""
        while True:
            change = self._change
            if predicate(self):
                return
            await change.wait()

    # -- running ---------------------------------------------------------------------

    async def run(self) -> None:
        """Read the port and record scans until cancelled.

        On the way out, scans still queued get ``drain_timeout`` seconds to
        reach the database; those that do not are logged, tag and time.
        """
        logger.info("RFID reader %s on %s (%s, %d baud)", self.reader_id, self.port, self.protocol, self.baudrate)
        reading = asyncio.create_task(self._read_port(), name=f"rfid-read-{self.reader_id}")
        writing = asyncio.create_task(self._write_scans(), name=f"rfid-write-{self.reader_id}")
        try:
            done, _ = await asyncio.wait({reading, writing}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # neither returns: a bug surfaces here
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
            if self._pending and not writing.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wait_for(lambda reader: not reader.pending), self.drain_timeout)
            writing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writing
            for scan in self._pending:
                logger.error("not recorded (stopping): tag %s at %s on %s", scan.id_tag,
                             scan.scanned_at.isoformat(), scan.reader_id)

    # -- the serial port -------------------------------------------------------------

    async def _read_port(self) -> None:
        backoff = Backoff(self.min_backoff, self.max_backoff)
        failing_since: float | None = None
        while True:
            try:
                # exclusive: a second process on the port would get half of each frame.
                port = serial.Serial(self.port, self.baudrate, timeout=0, exclusive=True)
            except (serial.SerialException, OSError, ValueError) as error:
                self.stats.port_failures += 1
                self._changed()
                delay = backoff.next()
                if failing_since is None:
                    failing_since = time.monotonic()
                    logger.warning("cannot open %s: %s; retrying every %.0f s at most",
                                   self.port, error, self.max_backoff)
                else:
                    logger.debug("cannot open %s: %s; retrying in %.1f s", self.port, error, delay)
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            if failing_since is not None:
                logger.info("opened %s after %.1f s", self.port, time.monotonic() - failing_since)
                failing_since = None
            else:
                logger.info("opened %s", self.port)
            try:
                await self._pump(port)
            except (serial.SerialException, OSError) as error:
                self.stats.port_failures += 1
                logger.warning("lost %s: %s; opening it again", self.port, error)
            finally:
                with contextlib.suppress(serial.SerialException, OSError):
                    port.close()
                self.port_open = False
                self._changed()
            failing_since = time.monotonic()
            await asyncio.sleep(backoff.next())

    async def _pump(self, port: serial.Serial) -> None:
        """Feed what the port reads to the decoder until the port fails."""
        loop = asyncio.get_running_loop()
        lost: asyncio.Future[None] = loop.create_future()
        fd = port.fileno()

        def readable() -> None:
            try:
                data = port.read(4096)
            except (serial.SerialException, OSError) as error:
                loop.remove_reader(fd)
                if not lost.done():
                    lost.set_exception(error)
                return
            self._received(data)

        self._decoder.reset()  # a frame cut by the last loss is no frame
        loop.add_reader(fd, readable)
        self.port_open = True
        self.stats.port_opens += 1
        self._changed()
        try:
            await lost
        finally:
            loop.remove_reader(fd)

    def _received(self, data: bytes) -> None:
        rejected = self._decoder.rejected
        tags = self._decoder.feed(data)
        if self._decoder.rejected != rejected:
            self.stats.rejected += self._decoder.rejected - rejected
            logger.debug("%s: dropped %d unreadable frames", self.port, self._decoder.rejected - rejected)
        now = time.monotonic()
        for tag in tags:
            self.stats.tags += 1
            if self._debouncer.accept(tag, now):
                self._enqueue(Scan(self.reader_id, tag, datetime.now(UTC)))
            else:
                self.stats.repeats += 1
        self._changed()

    # -- the database ----------------------------------------------------------------

    def _enqueue(self, scan: Scan) -> None:
        if len(self._pending) >= self.queue_size:
            oldest = self._pending.popleft()
            self.stats.dropped += 1
            logger.error("queue full (%d scans waiting for the database): dropped tag %s at %s",
                         self.queue_size, oldest.id_tag, oldest.scanned_at.isoformat())
        self._pending.append(scan)
        self.stats.scans += 1
        self._queued.set()
        logger.debug("tag %s read (%d waiting)", scan.id_tag, len(self._pending))

    def _done_with(self, scan: Scan) -> None:
        # A full queue may have dropped it meanwhile.
        if self._pending and self._pending[0] is scan:
            self._pending.popleft()
        self._changed()

    async def _connect(self) -> asyncpg.Connection:
        return await dbconnect.connect(
            self.dsn, per_host_timeout=self.database_timeout,
            server_settings={"application_name": f"pgcsms rfid {self.reader_id}"[:63]})

    async def _write_scans(self) -> None:
        backoff = Backoff(self.min_backoff, self.max_backoff)
        connection: asyncpg.Connection | None = None
        down_since: float | None = None
        try:
            while True:
                if connection is None or connection.is_closed():
                    try:
                        connection = await self._connect()
                    except Exception as error:  # never crash: _DATABASE_ERRORS, or one we did not foresee
                        connection = None
                        down_since = self._database_failed(error, down_since)
                        await asyncio.sleep(backoff.next())
                        continue
                    self.database_connected = True
                    self._changed()
                    if down_since is None:
                        logger.info("connected to the database")
                    elif not self._pending:
                        self._database_recovered(down_since)
                        down_since = None
                if not self._pending:
                    self._queued.clear()
                    await self._queued.wait()
                    continue
                scan = self._pending[0]
                try:
                    outcome = await connection.fetchval(
                        _RECORD_SCAN, scan.reader_id, scan.id_tag, scan.scanned_at, timeout=self.database_timeout)
                except asyncpg.PostgresError as error:
                    if (error.sqlstate or "")[:2] in _REFUSED_CLASSES:
                        self.stats.dropped += 1
                        logger.error("the database refused tag %s at %s: %s", scan.id_tag,
                                     scan.scanned_at.isoformat(), error)
                        self._done_with(scan)
                        continue
                    failure: Exception = error
                except Exception as error:  # never crash: _DATABASE_ERRORS, or one we did not foresee
                    failure = error
                else:
                    if down_since is not None:
                        self._database_recovered(down_since)
                        down_since = None
                    backoff.reset()
                    self.stats.recorded += 1
                    logger.info("tag %s on %s: %s", scan.id_tag, scan.reader_id, outcome)
                    self._done_with(scan)
                    continue
                # The connection may be half-dead (a timeout): start afresh.
                if not connection.is_closed():
                    connection.terminate()
                connection = None
                self.database_connected = False
                down_since = self._database_failed(failure, down_since)
                await asyncio.sleep(backoff.next())
        finally:
            self.database_connected = False
            if connection is not None and not connection.is_closed():
                connection.terminate()

    def _database_recovered(self, down_since: float) -> None:
        logger.info("recording scans again after %.1f s; %d waiting", time.monotonic() - down_since,
                    len(self._pending))

    def _database_failed(self, error: Exception, down_since: float | None) -> float:
        self.stats.database_failures += 1
        self._changed()
        reason = str(error) or type(error).__name__
        if not isinstance(error, _DATABASE_ERRORS):
            logger.error("unexpected failure recording scans; retrying", exc_info=error)
        if down_since is None:
            logger.warning("cannot record scans: %s; %d waiting, retrying every %.0f s at most",
                           reason, len(self._pending), self.max_backoff)
            return time.monotonic()
        logger.debug("still cannot record scans: %s; %d waiting", reason, len(self._pending))
        return down_since


async def serve(port: str, dsn: str, *, reader_id: str | None = None, protocol: str = "line",
                baudrate: int = 9600, debounce: float = 2.0) -> None:
    """``pgcsms rfid``: run one reader until SIGINT or SIGTERM."""
    reader = RfidReader(port, dsn, reader_id=reader_id, protocol=protocol, baudrate=baudrate, debounce=debounce)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    running = asyncio.create_task(reader.run())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not running.done():
        logger.info("stopping")
        running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
