"""The RFID reader loop end to end: a pseudo-terminal as the serial port, a real database.

The port is a pty reached through a symbolic link, as a USB reader is through
/dev/serial/by-id/: unplugging closes the pty and removes the link, plugging
makes a new pty behind the same link. Cards are bytes written to the pty's
master side; the test awaits the reader's state (``RfidReader.wait_for``) and
the ``ocpp_event`` notifications, never a sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action
from pgcsms.hardware.rfid import RfidReader
from pgcsms.proxy.server import CentralSystem

T = TypeVar("T")

DATASHEET_FRAME = b"\x0262E3086CED08\x03"  # RDM6300: version 62, tag E3086CED
BAD_CHECKSUM_FRAME = b"\x0262E3086CED09\x03"
OTHER_FRAME = b"\x02010047FE5BE3\x03"  # version 01, tag 0047FE5B


async def within(awaitable: Awaitable[T], timeout: float = 10) -> T:
    async with asyncio.timeout(timeout):
        return await awaitable


class PtyPort:
    """A pseudo-terminal standing in for a USB serial reader, behind a stable link."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "ttyRFID"
        self._master: int | None = None
        self._slave: int | None = None

    def plug(self) -> None:
        self._master, self._slave = os.openpty()
        os.symlink(os.ttyname(self._slave), self.path)

    def write(self, data: bytes) -> None:
        assert self._master is not None
        os.write(self._master, data)

    def unplug(self) -> None:
        if self._master is None or self._slave is None:
            return
        self.path.unlink()
        os.close(self._master)
        os.close(self._slave)
        self._master = self._slave = None


@pytest.fixture
def port(tmp_path: Path) -> Iterator[PtyPort]:
    pty = PtyPort(tmp_path)
    pty.plug()
    try:
        yield pty
    finally:
        pty.unplug()


class Events:
    """``LISTEN ocpp_event`` on a connection of its own."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def on_notify(self, connection: object, pid: int, channel: str, payload: str) -> None:
        self.queue.put_nowait(json.loads(payload))

    async def scan(self, timeout: float = 10) -> dict[str, Any]:
        """The next rfid_scan event."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.queue.get()
                if event["event"] == "rfid_scan":
                    return event


@pytest.fixture
async def events(dsn: str) -> AsyncIterator[Events]:
    listener = Events()
    connection = await asyncpg.connect(dsn)
    await connection.add_listener("ocpp_event", listener.on_notify)
    try:
        yield listener
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def running(reader: RfidReader) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(reader.run())
    try:
        yield task
        assert not task.done(), "the reader loop ended by itself"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def reader_on(port: PtyPort, dsn: str, reader_id: str, **options: Any) -> RfidReader:
    """A reader that retries fast: the tests wait for what it does, not for its backoff."""
    options = {"min_backoff": 0.01, "max_backoff": 0.05, **options}
    return RfidReader(str(port.path), dsn, reader_id=reader_id, **options)


# -- cards in, scans out ---------------------------------------------------------------------


async def test_a_card_on_the_serial_port_becomes_a_scan(dsn, db, port, events):
    reader = reader_on(port, dsn, "desk-1")
    async with running(reader):
        await within(reader.wait_for(lambda r: r.port_open))
        port.write(b"04a2")
        port.write(b"b3c4\r\n")
        event = await events.scan()
    assert event == {"event": "rfid_scan", "reader_id": "desk-1", "id_tag": "04A2B3C4", "outcome": "logged",
                     "scan_id": event["scan_id"], "command_id": None}
    row = await db.fetchrow("SELECT reader_id, id_tag, outcome FROM ocpp.rfid_scans")
    assert tuple(row) == ("desk-1", "04A2B3C4", "logged")
    assert await db.fetchval("SELECT mode FROM ocpp.rfid_readers WHERE reader_id = 'desk-1'") == "log"


async def test_rdm6300_repeats_and_bad_frames_on_an_enrolling_desk(dsn, db, port, events):
    await db.execute("SELECT ocpp.add_rfid_reader('desk-2', 'enroll')")
    reader = reader_on(port, dsn, "desk-2", protocol="rdm6300", debounce=60)
    async with running(reader):
        await within(reader.wait_for(lambda r: r.port_open))
        # The module repeats the frame while the card is held; line noise garbles one.
        port.write(DATASHEET_FRAME * 3 + BAD_CHECKSUM_FRAME + b"\xff\x00" + DATASHEET_FRAME * 2)
        first = await events.scan()
        port.write(OTHER_FRAME)
        second = await events.scan()
    assert [(first["id_tag"], first["outcome"]), (second["id_tag"], second["outcome"])] == [
        ("E3086CED", "enrolled"), ("0047FE5B", "enrolled")]
    assert await db.fetchval("SELECT count(*) FROM ocpp.rfid_scans") == 2
    assert {r["id_tag"] for r in await db.fetch("SELECT id_tag FROM ocpp.id_tags")} == {"E3086CED", "0047FE5B"}
    stats = reader.stats
    assert (stats.tags, stats.repeats, stats.rejected, stats.scans, stats.recorded) == (6, 4, 1, 2, 2)


class Charger(ChargePoint):  # type: ignore[misc]
    """Accepts RemoteStartTransaction and hands it to the test."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.remote_starts: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    @on(Action.remote_start_transaction)
    async def remote_start(self, **payload: Any) -> Any:
        self.remote_starts.put_nowait(payload)
        return call_result.RemoteStartTransaction(status="Accepted")


async def test_a_card_at_a_kiosk_starts_the_charger_beside_it(dsn, db, port, events):
    """Serial port → ocpp.record_scan → RemoteStartTransaction over OCPP-J → the charger's session."""
    await db.execute("SELECT ocpp.add_charge_point('CP-1')")
    await db.execute("SELECT ocpp.add_id_tag('04A2B3C4')")
    await db.execute("SELECT ocpp.add_rfid_reader('kiosk-1', 'authorize', 'CP-1', 2)")
    central = CentralSystem(dsn, host="127.0.0.1", port=0, node_id="test-node", pool_size=2)
    await central.start()
    try:
        async with websockets.connect(f"ws://127.0.0.1:{central.port}/ocpp/CP-1", subprotocols=["ocpp1.6"],
                                      open_timeout=5) as websocket:
            charger = Charger("CP-1", websocket, response_timeout=10)
            listening = asyncio.create_task(charger.start())
            try:
                await charger.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
                reader = reader_on(port, dsn, "kiosk-1")
                async with running(reader):
                    await within(reader.wait_for(lambda r: r.port_open))
                    port.write(b"04:a2:b3:c4\r\n")
                    event = await events.scan()
                    assert event["outcome"] == "remote_start_queued"
                    assert await within(charger.remote_starts.get()) == {"id_tag": "04A2B3C4", "connector_id": 2}
                started = await charger.call(call.StartTransaction(
                    connector_id=2, id_tag="04A2B3C4", meter_start=0, timestamp="2024-05-01T12:00:00Z"))
                assert started.id_tag_info["status"] == "Accepted"
            finally:
                listening.cancel()
                with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                    await listening
    finally:
        await central.close()
    command = await db.fetchrow("SELECT status FROM ocpp.commands WHERE id = $1", event["command_id"])
    assert command["status"] == "accepted"
    assert await db.fetchval("SELECT remote_command_id FROM ocpp.transactions") == event["command_id"]


# -- the port comes and goes -------------------------------------------------------------------


async def test_the_reader_survives_its_port_vanishing(dsn, port, events):
    reader = reader_on(port, dsn, "desk-4")
    async with running(reader):
        await within(reader.wait_for(lambda r: r.port_open))
        port.write(b"BBBB0001\n")
        assert (await events.scan())["id_tag"] == "BBBB0001"

        port.unplug()
        # Lost, then opening it again fails while it is gone: the loop keeps trying.
        await within(reader.wait_for(lambda r: not r.port_open and r.stats.port_failures >= 3))

        port.plug()
        await within(reader.wait_for(lambda r: r.port_open and r.stats.port_opens == 2))
        port.write(b"BBBB0002\n")
        assert (await events.scan())["id_tag"] == "BBBB0002"


async def test_a_reader_started_before_its_port_exists(dsn, port, events, caplog):
    caplog.set_level(logging.DEBUG, logger="pgcsms.rfid")
    port.unplug()
    reader = reader_on(port, dsn, "desk-5")
    async with running(reader):
        await within(reader.wait_for(lambda r: r.stats.port_failures >= 5))
        port.plug()
        await within(reader.wait_for(lambda r: r.port_open))
        port.write(b"BBBB0003\n")
        assert (await events.scan())["id_tag"] == "BBBB0003"
    # One warning for the whole absence, not one per attempt.
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "cannot open" in r.getMessage()]
    assert len(warnings) == 1


# -- the database comes and goes ---------------------------------------------------------------


class Outage:
    """``async with Outage(dsn)``: no new connection gets into the test's database (existing ones stay).

    PostgreSQL lets no session shut the door of the database it is in, so the
    door is closed from the maintenance database.
    """

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.name = ""
        self.admin: asyncpg.Connection | None = None

    async def __aenter__(self) -> Outage:
        self.admin = await asyncpg.connect(self.dsn, database="postgres")
        self.name = await self.admin.fetchval("SELECT datname FROM pg_database WHERE datname = $1",
                                              self.dsn.rpartition("/")[2].partition("?")[0])
        assert self.name
        await self.admin.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
        return self

    async def end(self) -> None:
        if self.admin is not None:
            await self.admin.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')
            await self.admin.close()
            self.admin = None

    async def __aexit__(self, *exc_info: object) -> None:
        await self.end()


async def test_scans_wait_out_a_database_outage_in_order(dsn, db, port, events):
    reader = reader_on(port, dsn, "desk-6")
    async with running(reader):
        await within(reader.wait_for(lambda r: r.port_open and r.database_connected))
        async with Outage(dsn):
            killed = await db.fetchval("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                       "WHERE application_name = 'pgcsms rfid desk-6'")
            assert killed == 1
            port.write(b"CCCC0001\nCCCC0002\n")
            # Both kept while the writer fails to reconnect, again and again.
            await within(reader.wait_for(lambda r: r.pending == 2 and r.stats.database_failures >= 3))
            assert await db.fetchval("SELECT count(*) FROM ocpp.rfid_scans") == 0
        first, second = await events.scan(), await events.scan()
        await within(reader.wait_for(lambda r: r.pending == 0))
    assert [first["id_tag"], second["id_tag"]] == ["CCCC0001", "CCCC0002"]
    rows = await db.fetch("SELECT id_tag, scanned_at, received_at FROM ocpp.rfid_scans ORDER BY id")
    assert [r["id_tag"] for r in rows] == ["CCCC0001", "CCCC0002"]
    assert rows[0]["scanned_at"] < rows[1]["scanned_at"] < rows[0]["received_at"]  # read during the outage
    assert (reader.stats.recorded, reader.stats.dropped) == (2, 0)


async def test_scans_read_before_the_database_is_there(dsn, db, port, events):
    async with Outage(dsn) as outage:
        reader = reader_on(port, dsn, "desk-7")
        async with running(reader):
            await within(reader.wait_for(lambda r: r.port_open and r.stats.database_failures >= 1))
            port.write(b"DDDD0001\n")
            await within(reader.wait_for(lambda r: r.pending == 1))
            await outage.end()
            assert (await events.scan())["id_tag"] == "DDDD0001"


async def test_stopping_logs_the_scans_not_recorded(dsn, db, port, caplog):
    reader = reader_on(port, dsn, "desk-8", drain_timeout=0.05)
    async with Outage(dsn), running(reader):
        await within(reader.wait_for(lambda r: r.port_open))
        port.write(b"EEEE0001\n")
        await within(reader.wait_for(lambda r: r.pending == 1))
    lost = [r.getMessage() for r in caplog.records if r.name == "pgcsms.rfid" and r.levelno == logging.ERROR]
    assert len(lost) == 1 and "not recorded (stopping): tag EEEE0001" in lost[0]


async def test_a_full_queue_drops_the_oldest_scan(dsn, db, port):
    reader = reader_on(port, dsn, "desk-9", queue_size=2, drain_timeout=0.05)
    async with Outage(dsn), running(reader):
        await within(reader.wait_for(lambda r: r.port_open))
        port.write(b"FFFF0001\nFFFF0002\nFFFF0003\n")
        await within(reader.wait_for(lambda r: r.stats.scans == 3))
        assert [s.id_tag for s in reader._pending] == ["FFFF0002", "FFFF0003"]
        assert reader.stats.dropped == 1


# -- the command -------------------------------------------------------------------------------


async def test_pgcsms_rfid_command(dsn, db, port, events):
    """``pgcsms rfid`` as systemd would run it: migrate, read, record, stop on SIGTERM."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pgcsms.proxy.cli", "--log-level", "INFO", "rfid", "--dsn", dsn, "--port", str(port.path),
        "--reader-id", "cli-1", "--protocol", "rdm6300", stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    assert process.stderr is not None
    output: list[str] = []

    async def until(predicate: Callable[[str], bool]) -> None:
        assert process.stderr is not None
        while not output or not predicate(output[-1]):
            line = await process.stderr.readline()
            assert line, "pgcsms rfid ended:\n" + "".join(output)
            output.append(line.decode())

    try:
        await within(until(lambda line: f"opened {port.path}" in line), 30)
        port.write(DATASHEET_FRAME)
        event = await events.scan()
        assert (event["reader_id"], event["id_tag"], event["outcome"]) == ("cli-1", "E3086CED", "logged")
        process.send_signal(signal.SIGTERM)
        assert await within(process.wait()) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    rest = (await process.stderr.read()).decode()
    assert "tag E3086CED on cli-1: logged" in "".join(output) + rest
