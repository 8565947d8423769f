"""``pgcsms simulate``: simulated chargers (the ``ocpp`` library's client) against a real central system."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pgcsms.proxy.server import CentralSystem
from pgcsms.proxy.simulator import Options, Summary, simulate


class Run:
    """A simulation running in this event loop until ``stop()``."""

    def __init__(self, options: Options) -> None:
        self._stop = asyncio.Event()
        self.task = asyncio.create_task(simulate(options, self._stop))

    async def stop(self) -> Summary:
        self._stop.set()
        async with asyncio.timeout(20):
            return await self.task


@pytest.fixture
def options(central: CentralSystem) -> Any:
    def make(**kwargs: Any) -> Options:
        kwargs.setdefault("url", f"ws://127.0.0.1:{central.port}/ocpp")
        kwargs.setdefault("seed", 7)
        kwargs.setdefault("response_timeout", 10)
        return Options(**kwargs)

    return make


@contextlib.asynccontextmanager
async def running(options: Options) -> AsyncIterator[Run]:
    run = Run(options)
    try:
        yield run
    finally:
        if not run.task.done():
            run.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run.task


@pytest.fixture
async def accepting(db) -> None:
    await db.execute("SELECT ocpp.set_setting('unknown_charge_points', 'accept')")
    await db.execute("SELECT ocpp.add_id_tag('TAG')")


async def wait_all(events, *patterns: dict[str, Any], timeout: float = 10) -> list[dict[str, Any]]:
    """The events matching these field patterns, in whatever order they commit: a command's answer and
    what the charger sent after it are handled by the central system independently."""
    found: list[dict[str, Any] | None] = [None] * len(patterns)
    async with asyncio.timeout(timeout):
        while None in found:
            event = await events.queue.get()
            for i, pattern in enumerate(patterns):
                if found[i] is None and all(event.get(key) == value for key, value in pattern.items()):
                    found[i] = event
                    break
    return [event for event in found if event is not None]


def completed(command_id: int) -> dict[str, Any]:
    return {"event": "command_completed", "command_id": command_id}


async def wait_for_poll(db, sql: str, *args: Any, timeout: float = 10) -> Any:
    """A value the database has no event for: poll, bounded in time."""
    async with asyncio.timeout(timeout):
        while not (value := await db.fetchval(sql, *args)):
            await asyncio.sleep(0.05)
    return value


async def test_chargers_complete_sessions_with_energy(db, events, options, accepting):
    await db.execute("SELECT ocpp.add_id_tag('SIM-TAG-' || lpad(n::text, 4, '0')) FROM generate_series(1, 5) AS n")
    chargers = {f"SIM-{n:04d}" for n in range(1, 6)}
    async with running(options(count=5, id_tags=("SIM-TAG-{n}",), speed=600, meter_interval=1)) as run:
        done: set[str] = set()
        ended: set[int] = set()   # by the drivers, before the end of the run
        async with asyncio.timeout(20):
            while done != chargers:
                event = await events.wait(event="transaction_stopped")
                done.add(event["charge_point_id"])
                ended.add(event["transaction_id"])
        summary = await run.stop()

    assert summary.ok, summary.format()
    assert (summary.connected, summary.chargers_with_sessions) == (5, 5)
    assert summary.stats.boots == {"Accepted": 5}
    assert summary.stats.sessions_completed >= 5 and summary.stats.energy_wh > 0
    rows = await db.fetch("SELECT id, charge_point_id, connector_id, id_tag, meter_start, meter_stop, energy_wh, "
                          "stop_reason FROM ocpp.transactions ORDER BY id")
    assert {r["charge_point_id"] for r in rows} == chargers
    assert all(r["energy_wh"] > 0 for r in rows if r["id"] in ended), rows
    assert all(r["energy_wh"] >= 0 for r in rows), rows   # one stopped by the end of the run may be brief
    assert {r["stop_reason"] for r in rows} <= {"Local", "EVDisconnected"}
    assert sum(r["energy_wh"] for r in rows) == summary.stats.energy_wh
    # Each connector's meter is a lifetime register: a session starts where the previous one stopped.
    last_stop: dict[tuple[str, int], int] = {}
    for r in rows:
        key = (r["charge_point_id"], r["connector_id"])
        assert r["meter_start"] == last_stop.get(key, r["meter_start"]), rows
        last_stop[key] = r["meter_stop"]
    # A card is at one charger at a time: the central system never saw it twice at once.
    assert await db.fetchval("SELECT count(*) FROM ocpp.transactions WHERE authorization_status <> 'Accepted'") == 0
    assert await db.fetchval("SELECT count(*) FROM ocpp.meter_values WHERE measurand = 'Power.Active.Import' "
                             "AND normalized_value BETWEEN 5000 AND 12000") > 0
    assert await db.fetchval("SELECT count(*) FROM ocpp.connectors WHERE status <> 'Available'") == 0
    assert await db.fetchval("SELECT count(*) FROM ocpp.message_log WHERE error_code IS NOT NULL") == 0


async def test_remote_start_and_stop_from_sql(db, events, options, accepting):
    async with running(options(profile="idle", speed=60, meter_interval=1)) as run:
        await events.wait(event="boot", charge_point_id="SIM-0001", status="Accepted")
        command_id = await db.fetchval("SELECT ocpp.remote_start_transaction('SIM-0001', 'TAG', connector_id => 1)")
        answer, started = await wait_all(events, completed(command_id),
                                         {"event": "transaction_started", "charge_point_id": "SIM-0001"})
        assert answer["status"] == "accepted"
        transaction_id = started["transaction_id"]
        assert (started["connector_id"], started["id_tag"], started["authorization_status"]) == (1, "TAG", "Accepted")
        assert await db.fetchval("SELECT remote_command_id FROM ocpp.transactions WHERE id = $1",
                                 transaction_id) == command_id

        busy = await db.fetchval("SELECT ocpp.remote_start_transaction('SIM-0001', 'TAG', connector_id => 1)")
        assert (await events.command(busy))["status"] == "rejected"

        # The car charges: a MeterValues of the transaction arrives (no event for those).
        await wait_for_poll(db, "SELECT count(*) FROM ocpp.meter_values WHERE transaction_id = $1 "
                                "AND measurand = 'Energy.Active.Import.Register'", transaction_id)
        stop_id = await db.fetchval("SELECT ocpp.remote_stop_transaction('SIM-0001', $1)", transaction_id)
        answer, stopped = await wait_all(events, completed(stop_id),
                                         {"event": "transaction_stopped", "transaction_id": transaction_id})
        assert answer["status"] == "accepted"
        assert stopped["reason"] == "Remote" and stopped["energy_wh"] > 0
        summary = await run.stop()

    assert summary.ok, summary.format()
    assert summary.stats.commands == {"RemoteStartTransaction": 2, "RemoteStopTransaction": 1}
    assert summary.stats.sessions_completed == 1


async def test_reset_ends_the_session_reconnects_and_boots_again(db, events, options, accepting):
    async with running(options(profile="idle")) as run:
        await events.wait(event="boot", charge_point_id="SIM-0001", status="Accepted")
        start = await db.fetchval("SELECT ocpp.remote_start_transaction('SIM-0001', 'TAG')")
        answer, started = await wait_all(events, completed(start),
                                         {"event": "transaction_started", "charge_point_id": "SIM-0001"})
        assert answer["status"] == "accepted"

        reset = await db.fetchval("SELECT ocpp.reset('SIM-0001', 'Soft')")
        answer, stopped, _ = await wait_all(
            events, completed(reset), {"event": "transaction_stopped", "transaction_id": started["transaction_id"]},
            {"event": "disconnected", "charge_point_id": "SIM-0001"})
        assert (answer["status"], stopped["reason"]) == ("accepted", "SoftReset")
        await events.wait(event="connected", charge_point_id="SIM-0001")
        await events.wait(event="boot", charge_point_id="SIM-0001", status="Accepted")
        summary = await run.stop()

    assert summary.ok, summary.format()
    stats = summary.stats
    assert (stats.resets, stats.reconnects) == (1, 1)
    assert await db.fetchval("SELECT count(*) FROM ocpp.message_log WHERE charge_point_id = 'SIM-0001' "
                             "AND action = 'BootNotification' AND message_type = 2") == 2


async def test_a_dropped_connection_comes_back_and_the_session_survives(db, events, raw, options, accepting):
    async with running(options(profile="idle")) as run:
        await events.wait(event="boot", charge_point_id="SIM-0001", status="Accepted")
        start = await db.fetchval("SELECT ocpp.remote_start_transaction('SIM-0001', 'TAG')")
        answer, started = await wait_all(events, completed(start),
                                         {"event": "transaction_started", "charge_point_id": "SIM-0001"})
        assert answer["status"] == "accepted"
        # A second connection for the identity replaces the simulator's: it is dropped, and reconnects.
        async with raw("SIM-0001"):
            await events.wait(event="boot", charge_point_id="SIM-0001", status="Accepted")
        summary = await run.stop()

    assert summary.ok, summary.format()
    assert (summary.stats.reconnects, summary.stats.sessions_completed) == (1, 1)
    row = await db.fetchrow("SELECT stopped_at, energy_wh, stop_reason FROM ocpp.transactions WHERE id = $1",
                            started["transaction_id"])
    assert row["stopped_at"] is not None and row["energy_wh"] > 0 and row["stop_reason"] == "Local"


async def test_a_pending_charger_boots_again_when_triggered(db, events, options):
    # unknown_charge_points is 'pending' by default: the charger waits for an operator.
    async with running(options(profile="idle")) as run:
        await events.wait(event="boot", charge_point_id="SIM-0001", status="Pending")
        await db.execute("SELECT ocpp.add_charge_point('SIM-0001')")
        trigger = await db.fetchval("SELECT ocpp.trigger_message('SIM-0001', 'BootNotification')")
        answer, _ = await wait_all(events, completed(trigger),   # the boot again: now, not 60 s later
                                   {"event": "boot", "charge_point_id": "SIM-0001", "status": "Accepted"})
        assert answer["status"] == "accepted"
        summary = await run.stop()
    assert summary.ok, summary.format()
    assert summary.stats.boots["Pending"] == 1


async def test_configuration_and_other_commands(db, events, options, accepting):
    async def answered(sql: str) -> str:
        return (await events.command(await db.fetchval(sql)))["status"]

    async with running(options(profile="idle")) as run:
        await events.wait(event="boot", charge_point_id="SIM-0001", status="Accepted")
        assert await answered("SELECT ocpp.get_configuration('SIM-0001')") == "completed"
        keys = dict(await db.fetch("SELECT key, value FROM ocpp.charger_configuration "
                                   "WHERE charge_point_id = 'SIM-0001' AND NOT unknown"))
        assert (keys["HeartbeatInterval"], keys["NumberOfConnectors"]) == ("300", "2")
        assert "AuthorizationKey" in keys and keys["AuthorizationKey"] is None  # write-only

        assert await answered("SELECT ocpp.change_configuration('SIM-0001', 'MeterValueSampleInterval', '30')") \
            == "accepted"
        assert await answered("SELECT ocpp.change_configuration('SIM-0001', 'NumberOfConnectors', '3')") \
            == "rejected"
        assert await answered("SELECT ocpp.change_configuration('SIM-0001', 'NoSuchKey', '1')") == "rejected"
        assert await answered("SELECT ocpp.get_configuration('SIM-0001', ARRAY['MeterValueSampleInterval', "
                              "'NoSuchKey'])") == "completed"
        rows = dict(await db.fetch("SELECT key, coalesce(value, 'unknown:' || unknown) FROM ocpp.charger_configuration "
                                   "WHERE charge_point_id = 'SIM-0001' AND key IN ('MeterValueSampleInterval', "
                                   "'NoSuchKey')"))
        assert rows == {"MeterValueSampleInterval": "30", "NoSuchKey": "unknown:true"}

        change = await db.fetchval("SELECT ocpp.change_availability('SIM-0001', 2, 'Inoperative')")
        answer, _ = await wait_all(events, completed(change), {"event": "status", "charge_point_id": "SIM-0001",
                                                               "connector_id": 2, "status": "Unavailable"})
        assert answer["status"] == "accepted"
        assert await answered("SELECT ocpp.trigger_message('SIM-0001', 'MeterValues', 1)") == "accepted"
        assert await answered("SELECT ocpp.trigger_message('SIM-0001', 'Heartbeat')") == "accepted"
        assert await answered("SELECT ocpp.unlock_connector('SIM-0001', 1)") == "accepted"
        assert await answered("SELECT ocpp.clear_cache('SIM-0001')") == "accepted"
        assert await answered("SELECT ocpp.data_transfer('SIM-0001', 'com.example', 'ping', 'x')") == "rejected"
        assert await answered("SELECT ocpp.reserve_now('SIM-0001', 1, 'TAG', now() + interval '1 hour')") \
            == "rejected"
        assert await answered("SELECT ocpp.get_diagnostics('SIM-0001', 'ftp://diag.example/x')") == "failed"
        # What the triggers asked for came after their answers.
        await wait_for_poll(db, "SELECT count(*) FROM ocpp.meter_values WHERE charge_point_id = 'SIM-0001'")
        await wait_for_poll(db, "SELECT count(*) FROM ocpp.message_log WHERE charge_point_id = 'SIM-0001' "
                                "AND action = 'Heartbeat'")
        summary = await run.stop()

    assert summary.ok, summary.format()
    assert summary.stats.commands_unsupported == {"GetDiagnostics": 1}
    assert sum(summary.stats.commands.values()) == 13


async def test_a_callerror_from_the_central_system_fails_the_run(db, options, accepting):
    # A business rule that breaks: the central system answers Authorize with CALLERROR InternalError.
    await db.execute("""CREATE OR REPLACE FUNCTION ocpp.on_authorize(charge_point_id text, unique_id text,
                                                                     payload jsonb)
                        RETURNS jsonb LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'broken'; END $$""")
    async with running(options(id_tags=("TAG",), speed=600)) as run:
        await wait_for_poll(db, "SELECT count(*) FROM ocpp.message_log WHERE action = 'Authorize' "
                                "AND error_code = 'InternalError'")
        summary = await run.stop()
    assert not summary.ok
    assert summary.stats.call_errors["Authorize: InternalError"] >= 1
    assert summary.stats.sessions_started == 0
    assert "FAILED" in summary.format()


async def test_basic_auth_with_the_charger_password(db, events, options):
    await db.execute("SELECT ocpp.add_charge_point('SIM-0001')")
    await db.execute("SELECT ocpp.set_password('SIM-0001', 'correct-horse-battery')")
    async with running(options(profile="idle", password="correct-horse-battery")) as run:
        await events.wait(event="boot", charge_point_id="SIM-0001", status="Accepted")
        summary = await run.stop()
    assert summary.ok, summary.format()

    async with running(options(profile="idle", password="wrong-password-entirely", duration=1.5)) as run:
        summary = await asyncio.wait_for(run.task, 20)
    assert not summary.ok and summary.never_connected == 1
    assert summary.stats.handshake_refusals["HTTP 401"] >= 1


async def cli(central: CentralSystem, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pgcsms.proxy.cli", "simulate", "--url", f"ws://127.0.0.1:{central.port}/ocpp",
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(25):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_cli_prints_a_summary_and_exits_zero(central, db, accepting):
    await db.execute("SELECT ocpp.add_id_tag('SIM-TAG-' || lpad(n::text, 4, '0')) FROM generate_series(1, 3) AS n")
    returncode, out, err = await cli(central, "--count", "3", "--duration", "3", "--speed", "600",
                                     "--meter-interval", "1", "--seed", "1")
    assert returncode == 0, (out, err)
    assert "connected            3/3 (never 0)" in out
    assert "boots                Accepted 3" in out
    assert "CALLERRORs received  0" in out
    assert "result               OK" in out
    assert "connected 3/3, accepted 3/3" in err
    assert await db.fetchval("SELECT count(*) FROM ocpp.transactions WHERE energy_wh > 0") >= 1
    assert await db.fetchval("SELECT count(*) FROM ocpp.transactions WHERE stopped_at IS NULL") == 0


async def test_cli_exits_non_zero_when_chargers_never_come_up(central, db):
    await db.execute("SELECT ocpp.set_setting('unknown_charge_points', 'reject')")
    returncode, out, err = await cli(central, "--count", "2", "--duration", "1.5")
    assert returncode == 1, (out, err)
    assert "connected            0/2 (never 2)" in out
    assert "HTTP 404" in out
    assert "FAILED" in out
