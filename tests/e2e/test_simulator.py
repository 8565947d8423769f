"""``pgcsms simulate``: simulated chargers (the ``ocpp`` library's client) against a real central system, in
OCPP 1.6 and 2.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from pgcsms.proxy.server import CentralSystem
from pgcsms.proxy.simulator import DEVICE_MODEL, Options, Summary, simulate
from websockets.typing import Subprotocol


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


# -- OCPP 2.0.1 -----------------------------------------------------------------------------------------


@pytest.fixture
async def accepting_v201(db) -> None:
    await db.execute("SELECT ocpp.set_setting('unknown_charge_points', 'accept')")
    # A 2.0.1 session's energy is the rise of its timestamped register readings: at 600x a 11 kW car looks like
    # 6.6 MW, which the default plausibility limit (1000 kW) leaves out.
    await db.execute("SELECT ocpp.set_setting('energy_step_max_kw', '100000')")


async def add_cards(db, run_options: Options) -> None:
    """The SQL the CLI prints for the run's cards, run as printed."""
    for statement in run_options.cards_sql():
        await db.execute(statement)


async def test_v201_chargers_complete_sessions_with_energy(db, events, options, accepting_v201):
    run_options = options(count=4, protocol="2.0.1", speed=600, meter_interval=1)
    assert run_options.cards_sql() == [
        "SELECT ocpp.add_id_tag(upper(to_hex(2684354560 + n)), id_token_type => 'ISO14443') "
        "FROM generate_series(1, 4) AS n;"]
    await add_cards(db, run_options)
    assert {r["id_tag"] for r in await db.fetch("SELECT id_tag FROM ocpp.id_tags")} == set(run_options.cards()) == {
        "A0000001", "A0000002", "A0000003", "A0000004"}
    chargers = {f"SIM-{n:04d}" for n in range(1, 5)}
    async with running(run_options) as run:
        done: set[str] = set()
        ended: set[int] = set()   # by the drivers, before the end of the run
        async with asyncio.timeout(20):
            while done != chargers:
                event = await events.wait(event="transaction_stopped")
                assert event["ocpp_version"] == "2.0.1"
                done.add(event["charge_point_id"])
                ended.add(event["transaction_id"])
        summary = await run.stop()

    assert summary.ok, summary.format()
    assert (summary.connected, summary.chargers_with_sessions) == (4, 4)
    assert summary.stats.boots == {"Accepted": 4}
    assert set(summary.stats.sent) == {"BootNotification", "StatusNotification", "Authorize", "TransactionEvent"}
    rows = await db.fetch("SELECT * FROM ocpp.transactions ORDER BY id")
    assert {r["charge_point_id"] for r in rows} == chargers
    assert {(r["ocpp_version"], r["id_token_type"], r["authorization_status"], r["start_trigger_reason"], r["offline"])
            for r in rows} == {("2.0.1", "ISO14443", "Accepted", "Authorized", False)}
    assert all(len(r["transaction_id"]) == 36 and r["evse_id"] in (1, 2) and r["connector_id"] == 1 for r in rows)
    assert all(r["energy_wh"] > 0 for r in rows if r["id"] in ended), rows
    assert all(r["stopped_at"] is not None for r in rows), rows
    assert {(r["stop_reason"], r["stop_trigger_reason"]) for r in rows} <= {
        ("Local", "StopAuthorized"), ("EVDisconnected", "EVCommunicationLost")}
    # pgcsms sums the rises between readings; the simulator meterStop - meterStart. A rise within the same
    # millisecond as the reading before it (no time: no power) is all that may differ.
    assert abs(sum(r["energy_wh"] for r in rows) - summary.stats.energy_wh) <= 5 * len(rows)
    # Each transaction's events are numbered 0, 1, 2... none missing: Started, Updated..., Ended.
    stories = await db.fetch("SELECT transaction_id, array_agg(event_type ORDER BY seq_no) AS kinds, "
                             "array_agg(seq_no ORDER BY seq_no) AS seq_nos FROM ocpp.transaction_events GROUP BY 1")
    assert len(stories) == len(rows)
    for story in stories:
        assert story["seq_nos"] == list(range(len(story["seq_nos"]))), story
        assert story["kinds"][0] == "Started" and story["kinds"][-1] == "Ended", story
        assert set(story["kinds"][1:-1]) <= {"Updated"}, story
    assert await db.fetchval("SELECT count(*) FROM ocpp.transaction_events WHERE event_type = 'Updated' "
                             "AND trigger_reason = 'MeterValuePeriodic' AND charging_state = 'Charging'") > 0
    assert await db.fetchval("SELECT count(*) FROM ocpp.meter_values WHERE measurand = 'Power.Active.Import' "
                             "AND normalized_value BETWEEN 5000 AND 12000") > 0
    contexts = {r["context"] for r in await db.fetch("SELECT DISTINCT context FROM ocpp.meter_values")}
    assert contexts == {"Transaction.Begin", "Sample.Periodic", "Transaction.End"}
    # Two EVSEs of one connector each; Occupied while a car is there, Available again at the end.
    assert {(r["evse_id"], r["connector_id"], r["status"]) for r in await db.fetch(
        "SELECT evse_id, connector_id, status FROM ocpp.connectors")} <= {(1, 1, "Available"), (2, 1, "Available")}
    assert await db.fetchval("SELECT count(*) FROM ocpp.status_history WHERE status = 'Occupied'") > 0
    assert await db.fetchval("SELECT count(*) FROM ocpp.message_log WHERE error_code IS NOT NULL") == 0
    assert await db.fetchval("SELECT count(*) FROM ocpp.anomalies") == 0


async def test_v201_request_start_and_stop_from_sql(db, events, options, accepting_v201):
    async with running(options(protocol="2.0.1", profile="idle", speed=60, meter_interval=1)) as run:
        await events.wait(event="boot", charge_point_id="SIM-0001", status="Accepted", reason="PowerUp")
        command_id = await db.fetchval("SELECT ocpp.request_start_transaction('SIM-0001', 'APP-USER-7', evse_id => 1)")
        answer, started = await wait_all(events, completed(command_id),
                                         {"event": "transaction_started", "charge_point_id": "SIM-0001"})
        assert answer["status"] == "accepted"
        assert (started["evse_id"], started["id_tag"], started["authorization_status"]) == (1, "APP-USER-7",
                                                                                            "Accepted")
        row = await db.fetchrow("SELECT * FROM ocpp.transactions WHERE id = $1", started["transaction_id"])
        assert (row["remote_command_id"], row["start_trigger_reason"], row["id_token_type"]) == (
            command_id, "RemoteStart", "Central")
        transaction_id = row["transaction_id"]   # the station's UUID

        busy = await db.fetchval("SELECT ocpp.request_start_transaction('SIM-0001', 'APP-USER-8', evse_id => 1)")
        assert (await events.command(busy))["status"] == "rejected"

        # The car charges: an Updated event comes (no event for those), then one asked for.
        await wait_for_poll(db, "SELECT count(*) FROM ocpp.transaction_events WHERE transaction_id = $1 "
                                "AND trigger_reason = 'MeterValuePeriodic'", transaction_id)
        status = await db.fetchval("SELECT ocpp.get_transaction_status('SIM-0001', $1)", transaction_id)
        assert (await events.command(status))["status"] == "completed"
        assert json.loads(await db.fetchval("SELECT response FROM ocpp.commands WHERE id = $1", status)) == {
            "messagesInQueue": False, "ongoingIndicator": True}
        trigger = await db.fetchval("SELECT ocpp.trigger_message('SIM-0001', 'TransactionEvent', evse_id => 1)")
        assert (await events.command(trigger))["status"] == "accepted"
        await wait_for_poll(db, "SELECT count(*) FROM ocpp.transaction_events WHERE transaction_id = $1 "
                                "AND trigger_reason = 'Trigger'", transaction_id)

        stop_id = await db.fetchval("SELECT ocpp.request_stop_transaction('SIM-0001', $1)", transaction_id)
        answer, stopped = await wait_all(events, completed(stop_id),
                                         {"event": "transaction_stopped", "remote_id": transaction_id})
        assert answer["status"] == "accepted"
        assert stopped["reason"] == "Remote" and stopped["energy_wh"] > 0
        summary = await run.stop()

    assert summary.ok, summary.format()
    assert summary.stats.commands == {"RequestStartTransaction": 2, "GetTransactionStatus": 1, "TriggerMessage": 1,
                                      "RequestStopTransaction": 1}
    assert summary.stats.sessions_completed == 1
    row = await db.fetchrow("SELECT * FROM ocpp.transactions WHERE transaction_id = $1", transaction_id)
    assert (row["stop_trigger_reason"], row["remote_start_id"] is not None) == ("RemoteStop", True)
    seq_nos = [r["seq_no"] for r in await db.fetch(
        "SELECT seq_no FROM ocpp.transaction_events WHERE transaction_id = $1 ORDER BY seq_no", transaction_id)]
    assert seq_nos == list(range(len(seq_nos)))


async def test_v201_device_model_from_sql(db, events, options, accepting_v201):
    await db.execute("SELECT ocpp.add_charge_point('SIM-0001')")
    await db.execute("SELECT ocpp.set_password('SIM-0001', 'first-password-16+')")
    async with running(options(protocol="2.0.1", profile="idle", password="first-password-16+")) as run:
        await events.wait(event="boot", charge_point_id="SIM-0001", status="Accepted")
        # GetBaseReport: Accepted, then the device model in NotifyReport pages.
        report = await db.fetchval("SELECT ocpp.get_base_report('SIM-0001')")
        answer, _ = await wait_all(events, completed(report),
                                   {"event": "report_completed", "charge_point_id": "SIM-0001"})
        assert answer["status"] == "accepted"
        assert tuple(await db.fetchrow("SELECT complete, pages, items FROM ocpp.report_requests")) == (
            True, -(-len(DEVICE_MODEL) // 8), len(DEVICE_MODEL))
        model = {(r["component"], r["evse_id"], r["variable"], r["variable_instance"]): (r["value"], r["mutability"])
                 for r in await db.fetch("SELECT * FROM ocpp.device_variables WHERE charge_point_id = 'SIM-0001'")}
        assert set(model) == set(DEVICE_MODEL)
        assert model[("OCPPCommCtrlr", None, "HeartbeatInterval", None)] == ("300", "ReadWrite")
        assert model[("SecurityCtrlr", None, "BasicAuthPassword", None)] == (None, "WriteOnly")
        assert model[("EVSE", 2, "AvailabilityState", None)] == ("Available", "ReadOnly")
        assert model[("DeviceDataCtrlr", None, "ItemsPerMessage", "GetVariables")] == ("16", "ReadOnly")

        # GetVariables from the helper: answered from the device model, unknown names said so.
        read = await db.fetchval("SELECT ocpp.get_variables('SIM-0001', ARRAY['SampledDataCtrlr/TxUpdatedInterval', "
                                 "'SecurityCtrlr/BasicAuthPassword', 'NoSuchCtrlr/X', 'OCPPCommCtrlr/NoSuchVariable', "
                                 "'EVSE/AvailabilityState'])")
        assert (await events.command(read))["status"] == "completed"
        results = [tuple(r) for r in await db.fetch(
            "SELECT component, variable, attribute_status, value FROM ocpp.variable_results WHERE command_id = $1 "
            "ORDER BY position", read)]
        assert results == [("SampledDataCtrlr", "TxUpdatedInterval", "Accepted", "5"),
                           ("SecurityCtrlr", "BasicAuthPassword", "Rejected", None),
                           ("NoSuchCtrlr", "X", "UnknownComponent", None),
                           ("OCPPCommCtrlr", "NoSuchVariable", "UnknownVariable", None),
                           ("EVSE", "AvailabilityState", "UnknownComponent", None)]   # which EVSE?
        read = await db.fetchval("SELECT ocpp.get_variables('SIM-0001', ARRAY['EVSE/AvailabilityState'], evse_id => 2)")
        assert (await events.command(read))["status"] == "completed"
        assert tuple(await db.fetchrow("SELECT evse_id, attribute_status, value FROM ocpp.variable_results "
                                       "WHERE command_id = $1", read)) == (2, "Accepted", "Available")

        # SetVariables: writable ones taken (at once), read-only and bad values refused.
        configured = await db.fetchval(
            "SELECT ocpp.set_variables('SIM-0001', $1::jsonb)",
            json.dumps({"OCPPCommCtrlr/HeartbeatInterval": 120, "SampledDataCtrlr/TxUpdatedInterval": 2,
                        "DeviceDataCtrlr/ItemsPerMessage.GetVariables": 99,
                        "SampledDataCtrlr/TxUpdatedMeasurands": "Energy.Active.Import.Register,Temperature",
                        "AuthCtrlr/AuthorizeRemoteStart": True}))
        assert (await events.command(configured))["status"] == "completed"
        results = dict(await db.fetch("SELECT variable, attribute_status FROM ocpp.variable_results "
                                      "WHERE command_id = $1", configured))
        assert results == {"HeartbeatInterval": "Accepted", "TxUpdatedInterval": "Accepted",
                           "ItemsPerMessage": "Rejected", "TxUpdatedMeasurands": "Rejected",
                           "AuthorizeRemoteStart": "Accepted"}
        values = dict(await db.fetch("SELECT variable, value FROM ocpp.device_variables WHERE source = 'set'"))
        assert values == {"HeartbeatInterval": "120", "TxUpdatedInterval": "2", "AuthorizeRemoteStart": "true"}
        read = await db.fetchval("SELECT ocpp.get_variables('SIM-0001', ARRAY['OCPPCommCtrlr/HeartbeatInterval', "
                                 "'AuthCtrlr/AuthorizeRemoteStart'])")
        assert (await events.command(read))["status"] == "completed"
        assert [r["value"] for r in await db.fetch("SELECT value FROM ocpp.variable_results WHERE command_id = $1 "
                                                   "ORDER BY position", read)] == ["120", "true"]

        # A new BasicAuthPassword: pgcsms takes it, the station uses it from its next connection on.
        rotated = await db.fetchval("SELECT ocpp.set_variables('SIM-0001', "
                                    "'{\"SecurityCtrlr/BasicAuthPassword\": \"second-password-16+\"}')")
        assert (await events.command(rotated))["status"] == "completed"
        reset = await db.fetchval("SELECT ocpp.reset('SIM-0001', 'Immediate')")
        assert (await events.command(reset))["status"] == "accepted"
        await events.wait(event="disconnected", charge_point_id="SIM-0001")
        await events.wait(event="boot", charge_point_id="SIM-0001", status="Accepted", reason="RemoteReset")
        summary = await run.stop()

    assert summary.ok, summary.format()
    assert summary.stats.handshake_refusals == {}
    assert await db.fetchval("SELECT count(*) FROM ocpp.message_log WHERE error_code IS NOT NULL") == 0


async def test_v201_reset_ends_sessions_reconnects_and_boots_with_remote_reset(db, events, options, accepting_v201):
    async with running(options(protocol="2.0.1", profile="idle", speed=10, meter_interval=1)) as run:
        await events.wait(event="boot", charge_point_id="SIM-0001", status="Accepted", reason="PowerUp")
        start = await db.fetchval("SELECT ocpp.request_start_transaction('SIM-0001', 'APP-USER-1')")
        answer, started = await wait_all(events, completed(start),
                                         {"event": "transaction_started", "charge_point_id": "SIM-0001"})
        assert answer["status"] == "accepted"

        # Immediate: the session ends (ImmediateReset), the station closes, reconnects and boots again.
        reset = await db.fetchval("SELECT ocpp.reset('SIM-0001', 'Immediate')")
        answer, stopped, _ = await wait_all(
            events, completed(reset), {"event": "transaction_stopped", "transaction_id": started["transaction_id"]},
            {"event": "disconnected", "charge_point_id": "SIM-0001"})
        assert (answer["status"], stopped["reason"]) == ("accepted", "ImmediateReset")
        await events.wait(event="connected", charge_point_id="SIM-0001")
        await events.wait(event="boot", charge_point_id="SIM-0001", status="Accepted", reason="RemoteReset")

        # OnIdle while charging: Scheduled, and the reset waits for the session to end.
        start = await db.fetchval("SELECT ocpp.request_start_transaction('SIM-0001', 'APP-USER-2')")
        answer, started = await wait_all(events, completed(start),
                                         {"event": "transaction_started", "charge_point_id": "SIM-0001"})
        reset = await db.fetchval("SELECT ocpp.reset('SIM-0001', 'OnIdle')")
        assert (await events.command(reset))["status"] == "accepted"
        assert json.loads(await db.fetchval("SELECT response FROM ocpp.commands WHERE id = $1", reset)) == {
            "status": "Scheduled"}
        assert await db.fetchval("SELECT connected FROM ocpp.charge_points WHERE id = 'SIM-0001'")
        stop = await db.fetchval("SELECT ocpp.request_stop_transaction('SIM-0001', $1)", started["remote_id"])
        _, stopped, _ = await wait_all(
            events, completed(stop), {"event": "transaction_stopped", "transaction_id": started["transaction_id"]},
            {"event": "disconnected", "charge_point_id": "SIM-0001"})
        assert stopped["reason"] == "Remote"
        await events.wait(event="boot", charge_point_id="SIM-0001", status="Accepted", reason="RemoteReset")
        summary = await run.stop()

    assert summary.ok, summary.format()
    assert (summary.stats.resets, summary.stats.reconnects) == (2, 2)
    reasons = [r["reason"] for r in await db.fetch(
        "SELECT payload->>'reason' AS reason FROM ocpp.message_log WHERE action = 'BootNotification' "
        "AND message_type = 2 ORDER BY id")]
    assert reasons == ["PowerUp", "RemoteReset", "RemoteReset"]


async def test_v201_events_of_an_offline_time_come_later_marked_offline(db, events, raw, options, accepting_v201):
    await db.execute("SELECT ocpp.set_setting('pending_retry_interval', '1')")
    async with running(options(protocol="2.0.1", profile="idle", speed=10, meter_interval=1)) as run:
        await events.wait(event="boot", charge_point_id="SIM-0001", status="Accepted")
        start = await db.fetchval("SELECT ocpp.request_start_transaction('SIM-0001', 'APP-USER-1', evse_id => 2)")
        _, started = await wait_all(events, completed(start),
                                    {"event": "transaction_started", "charge_point_id": "SIM-0001"})
        transaction_id = started["remote_id"]
        await wait_for_poll(db, "SELECT count(*) FROM ocpp.transaction_events WHERE transaction_id = $1 "
                                "AND event_type = 'Updated'", transaction_id)   # it charges
        # Made to wait: dropped (a second connection replaces it), then Pending twice, a second apart. The
        # station goes on charging and keeps its readings.
        await db.execute("SELECT ocpp.add_charge_point('SIM-0001', 'Pending')")
        async with raw("SIM-0001", subprotocols=["ocpp2.0.1"]):
            for _ in range(2):
                await events.wait(event="boot", charge_point_id="SIM-0001", status="Pending")
        # Accepted: pgcsms asks it to boot again (TriggerMessage), and the queued events follow, in order.
        await db.execute("SELECT ocpp.add_charge_point('SIM-0001')")
        await events.wait(event="boot", charge_point_id="SIM-0001", status="Accepted", reason="Triggered")
        await wait_for_poll(db, "SELECT count(*) FROM ocpp.transaction_events WHERE transaction_id = $1 AND offline",
                            transaction_id)
        summary = await run.stop()

    assert summary.ok, summary.format()
    assert summary.stats.boots == {"Accepted": 2, "Pending": 2}
    rows = await db.fetch("SELECT seq_no, event_type, offline FROM ocpp.transaction_events "
                          "WHERE transaction_id = $1 ORDER BY seq_no", transaction_id)
    assert [r["seq_no"] for r in rows] == list(range(len(rows)))
    assert [r["event_type"] for r in rows][::len(rows) - 1] == ["Started", "Ended"]
    # Online, offline, online again: one stretch of offline events.
    flags = "".join("x" if r["offline"] else "." for r in rows)
    assert flags.strip(".") and set(flags.strip(".")) == {"x"}, flags
    assert await db.fetchval("SELECT offline FROM ocpp.transactions WHERE transaction_id = $1", transaction_id)
    assert await db.fetchval("SELECT count(*) FROM ocpp.anomalies") == 0


async def test_v201_an_unanswered_transaction_event_is_sent_again_as_it_was():
    """Against a central system of a few lines that drops the connection instead of answering the first Updated."""
    frames: asyncio.Queue[tuple[int, list[Any]]] = asyncio.Queue()
    connections = 0
    now = "2026-01-01T00:00:00Z"
    answers = {"BootNotification": {"currentTime": now, "interval": 300, "status": "Accepted"},
               "Heartbeat": {"currentTime": now}, "Authorize": {"idTokenInfo": {"status": "Accepted"}}}

    async def central_system(websocket: Any) -> None:
        nonlocal connections
        connections += 1
        connection = connections
        async for text in websocket:
            message = json.loads(text)
            await frames.put((connection, message))
            _, unique_id, action, payload = message
            if connection == 1 and action == "TransactionEvent" and payload["eventType"] == "Updated":
                await websocket.close()
                return
            await websocket.send(json.dumps([3, unique_id, answers.get(action, {})]))

    async with websockets.serve(central_system, "127.0.0.1", 0, subprotocols=[Subprotocol("ocpp2.0.1")]) as server:
        port = server.sockets[0].getsockname()[1]
        run_options = Options(url=f"ws://127.0.0.1:{port}/ocpp", protocol="2.0.1", speed=600, meter_interval=1,
                              seed=7, response_timeout=10)
        async with running(run_options) as run, asyncio.timeout(20):
            while True:
                connection, message = await frames.get()
                if message[2] == "TransactionEvent" and message[3]["eventType"] == "Updated":
                    lost = message
                    break
            while True:   # the first TransactionEvent of the next connection
                connection, message = await frames.get()
                if message[2] == "TransactionEvent":
                    break
            assert connection == 2
            assert message == lost   # same uniqueId, same payload: same seqNo, timestamp, readings
            summary = await run.stop()
    assert summary.ok, summary.format()
    assert summary.stats.reconnects == 1


async def test_v201_other_commands(db, events, options, accepting_v201):
    async def answered(sql: str, *args: Any) -> str:
        return (await events.command(await db.fetchval(sql, *args)))["status"]

    async with running(options(protocol="2.0.1", profile="idle")) as run:
        await events.wait(event="boot", charge_point_id="SIM-0001", status="Accepted")
        change = await db.fetchval("SELECT ocpp.change_availability('SIM-0001', NULL, 'Inoperative', evse_id => 2)")
        answer, _ = await wait_all(events, completed(change), {"event": "status", "charge_point_id": "SIM-0001",
                                                               "evse_id": 2, "status": "Unavailable"})
        assert answer["status"] == "accepted"
        assert await answered("SELECT ocpp.trigger_message('SIM-0001', 'StatusNotification', 1, evse_id => 1)") \
            == "accepted"
        assert await answered("SELECT ocpp.trigger_message('SIM-0001', 'MeterValues', evse_id => 1)") == "accepted"
        assert await answered("SELECT ocpp.trigger_message('SIM-0001', 'Heartbeat')") == "accepted"
        assert await answered("SELECT ocpp.trigger_message('SIM-0001', 'BootNotification')") == "rejected"  # F06.FR.17
        assert await answered("SELECT ocpp.trigger_message('SIM-0001', 'TransactionEvent')") == "rejected"  # none
        assert await answered("SELECT ocpp.unlock_connector('SIM-0001', 1, evse_id => 1)") == "accepted"
        assert await answered("SELECT ocpp.unlock_connector('SIM-0001', 1, evse_id => 3)") == "rejected"
        assert await answered("SELECT ocpp.clear_cache('SIM-0001')") == "accepted"
        assert await answered("SELECT ocpp.data_transfer('SIM-0001', 'com.example', 'ping', 'x')") == "rejected"
        assert await answered("SELECT ocpp.get_transaction_status('SIM-0001')") == "completed"
        assert await answered("SELECT ocpp.get_log('SIM-0001', 'DiagnosticsLog', 41, 'https://logs.example/up')") \
            == "failed"
        # What the triggers asked for came after their answers.
        await wait_for_poll(db, "SELECT count(*) FROM ocpp.meter_values WHERE charge_point_id = 'SIM-0001' "
                                "AND context = 'Trigger'")
        await wait_for_poll(db, "SELECT count(*) FROM ocpp.message_log WHERE charge_point_id = 'SIM-0001' "
                                "AND action = 'Heartbeat'")
        # On change only (2 at boot, EVSE 2 Unavailable), and once more when asked (EVSE 1).
        await wait_for_poll(db, "SELECT count(*) = 4 FROM ocpp.message_log WHERE charge_point_id = 'SIM-0001' "
                                "AND action = 'StatusNotification' AND message_type = 2")
        summary = await run.stop()

    assert summary.ok, summary.format()
    assert summary.stats.commands_unsupported == {"GetLog": 1}
    assert sum(summary.stats.commands.values()) == 12
    responses = dict(await db.fetch("SELECT action || coalesce(':' || (payload->>'evseId'), ''), response->>'status' "
                                    "FROM ocpp.commands WHERE action = 'UnlockConnector'"))
    assert responses == {"UnlockConnector:1": "Unlocked", "UnlockConnector:3": "UnknownConnector"}
