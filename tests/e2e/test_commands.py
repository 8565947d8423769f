"""Commands from SQL, delivered by the proxy to real charger clients, answered back into the database."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import websockets
from ocpp.v16 import call
from pgcsms.proxy.server import CentralSystem
from simulated_charger import SimulatedCharger


@pytest.fixture
async def sim(db, charger) -> AsyncIterator[SimulatedCharger]:
    await db.execute("SELECT ocpp.add_charge_point('CP-1')")
    async with charger("CP-1", charge_point_class=SimulatedCharger) as cp:
        await cp.call(call.BootNotification(charge_point_vendor="Sim", charge_point_model="S1"))
        yield cp


async def send(db, sql: str, *args: Any) -> int:
    return await db.fetchval(sql, *args)


async def command_row(db, command_id: int) -> asyncpg.Record:
    return await db.fetchrow("SELECT * FROM ocpp.commands WHERE id = $1", command_id)


# (helper call, expected status, what the charger must have received)
EVERY_COMMAND = [
    ("SELECT ocpp.remote_start_transaction('CP-1', 'TAG-1', connector_id => 1)", "accepted", "RemoteStartTransaction"),
    ("SELECT ocpp.remote_stop_transaction('CP-1', 42)", "accepted", "RemoteStopTransaction"),
    ("SELECT ocpp.reset('CP-1', 'Hard')", "accepted", "Reset"),
    ("SELECT ocpp.unlock_connector('CP-1', 1)", "accepted", "UnlockConnector"),
    ("SELECT ocpp.change_availability('CP-1', 1, 'Inoperative')", "accepted", "ChangeAvailability"),
    ("SELECT ocpp.get_configuration('CP-1')", "completed", "GetConfiguration"),
    ("SELECT ocpp.change_configuration('CP-1', 'HeartbeatInterval', '120')", "accepted", "ChangeConfiguration"),
    ("SELECT ocpp.clear_cache('CP-1')", "accepted", "ClearCache"),
    ("SELECT ocpp.trigger_message('CP-1', 'StatusNotification', 1)", "accepted", "TriggerMessage"),
    ("SELECT ocpp.reserve_now('CP-1', 1, 'TAG-1', now() + interval '1 hour')", "accepted", "ReserveNow"),
    ("SELECT ocpp.send_local_list('CP-1')", "accepted", "SendLocalList"),
    ("SELECT ocpp.get_local_list_version('CP-1')", "completed", "GetLocalListVersion"),
    ("""SELECT ocpp.set_charging_profile('CP-1', 1, '{"chargingProfileId": 5, "stackLevel": 1,
        "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
        "chargingSchedule": {"chargingRateUnit": "A",
                             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}}')""",
     "accepted", "SetChargingProfile"),
    ("SELECT ocpp.clear_charging_profile('CP-1', id => 5)", "accepted", "ClearChargingProfile"),
    ("SELECT ocpp.get_composite_schedule('CP-1', 1, 3600)", "accepted", "GetCompositeSchedule"),
    ("SELECT ocpp.get_diagnostics('CP-1', 'ftp://diag.example/upload')", "completed", "GetDiagnostics"),
    ("SELECT ocpp.update_firmware('CP-1', 'https://fw.example/v2.bin', now())", "completed", "UpdateFirmware"),
    ("SELECT ocpp.data_transfer('CP-1', 'com.example', 'ping', 'hello')", "accepted", "DataTransfer"),
    ("SELECT ocpp.certificate_signed('CP-1', '-----BEGIN CERTIFICATE-----x-----END CERTIFICATE-----')",
     "accepted", "CertificateSigned"),
    ("SELECT ocpp.install_certificate('CP-1', 'CentralSystemRootCertificate', "
     "'-----BEGIN CERTIFICATE-----y-----END CERTIFICATE-----')", "accepted", "InstallCertificate"),
    ("SELECT ocpp.get_installed_certificate_ids('CP-1', 'CentralSystemRootCertificate')", "accepted",
     "GetInstalledCertificateIds"),
    ("SELECT ocpp.delete_certificate('CP-1', 'SHA256', repeat('a', 64), repeat('b', 64), '01')", "accepted",
     "DeleteCertificate"),
    ("SELECT ocpp.get_log('CP-1', 'DiagnosticsLog', 77, 'https://logs.example/upload')", "accepted", "GetLog"),
    ("SELECT ocpp.signed_update_firmware('CP-1', 78, 'https://fw.example/v3.bin', now(), "
     "'-----BEGIN CERTIFICATE-----z-----END CERTIFICATE-----', 'c2lnbmF0dXJl')", "accepted", "SignedUpdateFirmware"),
    ("SELECT ocpp.extended_trigger_message('CP-1', 'Heartbeat')", "accepted", "ExtendedTriggerMessage"),
]


async def test_every_command_round_trips(db, sim, events):
    await db.execute("SELECT ocpp.add_id_tag('TAG-1')")
    for sql, expected, action in EVERY_COMMAND:
        command_id = await send(db, sql)
        event = await events.command(command_id)
        row = await command_row(db, command_id)
        assert (row["action"], row["status"], event["status"]) == (action, expected, expected), row
        assert sim.received[-1][0] == action
        assert row["sent_at"] is not None and row["completed_at"] is not None
        journal = await db.fetch("SELECT direction, message_type FROM ocpp.message_log "
                                 "WHERE charge_point_id = 'CP-1' AND unique_id = $1 ORDER BY id", row["unique_id"])
        assert [(r["direction"], r["message_type"]) for r in journal] == [("out", 2), ("in", 3)]
    assert sim.max_concurrent == 1
    assert {action for action, _ in sim.received} >= {action for _, _, action in EVERY_COMMAND}
    # Effects in SQL.
    config = await db.fetch("SELECT key, value, readonly FROM ocpp.charger_configuration "
                            "WHERE charge_point_id = 'CP-1' ORDER BY key")
    assert {(r["key"], r["value"], r["readonly"]) for r in config} == {
        ("HeartbeatInterval", "120", False), ("NumberOfConnectors", "2", True)}
    assert await db.fetchval("SELECT status FROM ocpp.reservations WHERE charge_point_id = 'CP-1'") == "Accepted"
    assert await db.fetchval("SELECT count(*) FROM ocpp.charging_profiles WHERE charge_point_id = 'CP-1'") == 0
    assert await db.fetchval("SELECT count(*) FROM ocpp.composite_schedules WHERE charge_point_id = 'CP-1'") == 1
    assert await db.fetchval("SELECT count(*) FROM ocpp.jobs WHERE charge_point_id = 'CP-1'") >= 3


async def test_remote_start_is_linked_to_the_transaction_it_caused(db, sim, events):
    await db.execute("SELECT ocpp.add_id_tag('TAG-9')")
    command_id = await send(db, "SELECT ocpp.remote_start_transaction('CP-1', 'TAG-9', connector_id => 2)")
    await events.command(command_id)
    start = await sim.call(call.StartTransaction(connector_id=2, id_tag="TAG-9", meter_start=0,
                                                 timestamp="2026-11-23T10:00:00Z"))
    linked = await db.fetchval("SELECT remote_command_id FROM ocpp.transactions WHERE id = $1", start.transaction_id)
    assert linked == command_id


async def test_call_procedure_returns_the_answer(dsn, db, sim):
    connection = await asyncpg.connect(dsn)
    try:
        row = await asyncio.wait_for(connection.fetchrow(
            "CALL ocpp.call('CP-1', 'GetConfiguration', '{\"key\": [\"HeartbeatInterval\"]}')"), 15)
    finally:
        await connection.close()
    answer = json.loads(row["response"])
    assert answer["configurationKey"][0]["key"] == "HeartbeatInterval"


async def test_call_procedure_errors_in_words(dsn, db):
    await db.execute("SELECT ocpp.add_charge_point('CP-OFF')")
    connection = await asyncpg.connect(dsn)
    try:
        with pytest.raises(asyncpg.PostgresError, match=r"(?i)not connected|offline"):
            await asyncio.wait_for(
                connection.execute("CALL ocpp.call('CP-OFF', 'Reset', '{\"type\": \"Soft\"}', 2)"), 15)
    finally:
        await connection.close()


async def test_invalid_payload_fails_before_sending(db, sim, events):
    command_id = await send(db, "SELECT ocpp.send('CP-1', 'Reset', '{\"type\": \"Bogus\"}')")
    await events.command(command_id)
    row = await command_row(db, command_id)
    assert (row["status"], row["error_code"]) == ("failed", "PropertyConstraintViolation")
    assert all(action != "Reset" for action, _ in sim.received)
    journal = await db.fetchval("SELECT error_description FROM ocpp.message_log "
                                "WHERE unique_id = $1 AND direction = 'out'", row["unique_id"])
    assert journal.startswith("not sent")


async def test_callerror_from_the_charger_fails_the_command(db, raw, events):
    await db.execute("SELECT ocpp.add_charge_point('CP-E')")
    async with raw("CP-E") as ws:
        command_id = await send(db, "SELECT ocpp.clear_cache('CP-E')")
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert frame[0] == 2 and frame[2] == "ClearCache"
        await ws.send(json.dumps([4, frame[1], "NotSupported", "no cache here", {}]))
        await events.command(command_id)
    row = await command_row(db, command_id)
    assert (row["status"], row["error_code"], row["error_description"]) == ("failed", "NotSupported", "no cache here")


async def test_an_answer_that_breaks_its_schema_fails_the_command(db, raw, events):
    await db.execute("SELECT ocpp.add_charge_point('CP-X')")
    async with raw("CP-X") as ws:
        command_id = await send(db, "SELECT ocpp.reset('CP-X')")
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        await ws.send(json.dumps([3, frame[1], {"status": "Maybe"}]))
        await events.command(command_id)
    row = await command_row(db, command_id)
    assert (row["status"], row["error_code"]) == ("failed", "PropertyConstraintViolation")
    answer = await db.fetchrow("SELECT message_type, payload FROM ocpp.message_log "
                               "WHERE unique_id = $1 AND direction = 'in'", frame[1])
    assert answer["message_type"] == 3 and json.loads(answer["payload"]) == {"status": "Maybe"}


async def test_commands_queued_while_offline_are_delivered_on_connect(db, charger, events):
    await db.execute("SELECT ocpp.add_charge_point('CP-Q')")
    first = await send(db, "SELECT ocpp.clear_cache('CP-Q')")
    expired = await send(db, "SELECT ocpp.reset('CP-Q', expires_at => now() + interval '1 hour')")
    # An hour later, as far as the row knows.
    await db.execute("UPDATE pgcsms.commands SET expires_at = now() - interval '1 second' WHERE id = $1", expired)
    async with charger("CP-Q", charge_point_class=SimulatedCharger) as cp:
        await events.command(first)
        assert [action for action, _ in cp.received] == ["ClearCache"]
    assert (await command_row(db, expired))["status"] == "expired"


async def test_burst_of_50_one_in_flight_in_queue_order(db, sim, events):
    sim.answer_delay = 0.005
    ids = [await send(db, "SELECT ocpp.data_transfer('CP-1', 'com.example', $1)", f"m{n}") for n in range(50)]
    for command_id in ids:
        await events.command(command_id, timeout=30)
    received = [payload.get("message_id") for action, payload in sim.received if action == "DataTransfer"]
    assert received == [f"m{n}" for n in range(50)]
    assert sim.max_concurrent == 1


async def test_unanswered_command_times_out(dsn, db, events):
    await db.execute("SELECT ocpp.add_charge_point('CP-T')")
    server = CentralSystem(dsn, port=0, node_id="impatient", call_timeout=0.5)
    await server.start()
    try:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/ocpp/CP-T", subprotocols=["ocpp1.6"]) as ws:
            command_id = await send(db, "SELECT ocpp.clear_cache('CP-T')")
            await asyncio.wait_for(ws.recv(), 5)  # received, never answered
            await events.command(command_id)
            assert (await command_row(db, command_id))["status"] == "timeout"
    finally:
        await server.close()


@contextlib.asynccontextmanager
async def node(dsn: str, name: str) -> AsyncIterator[CentralSystem]:
    server = CentralSystem(dsn, port=0, node_id=name)
    await server.start()
    await asyncio.wait_for(server.wait_listening(), 5)
    try:
        yield server
    finally:
        await server.close()


async def test_two_nodes_route_commands_to_the_holder(dsn, db, events):
    await db.execute("SELECT ocpp.add_charge_point('CP-MOVE')")
    async with node(dsn, "node-a") as a, node(dsn, "node-b") as b:
        url_a = f"ws://127.0.0.1:{a.port}/ocpp/CP-MOVE"
        url_b = f"ws://127.0.0.1:{b.port}/ocpp/CP-MOVE"
        async with websockets.connect(url_a, subprotocols=["ocpp1.6"]) as on_a:
            sim_a = SimulatedCharger("CP-MOVE", on_a)
            task_a = asyncio.create_task(sim_a.start())
            command_id = await send(db, "SELECT ocpp.clear_cache('CP-MOVE')")
            await events.command(command_id)
            assert await db.fetchval("SELECT node_id FROM ocpp.commands WHERE id = $1", command_id) == "node-a"

            # The charger moves to node B; node A lets go of its socket.
            async with websockets.connect(url_b, subprotocols=["ocpp1.6"]) as on_b:
                sim_b = SimulatedCharger("CP-MOVE", on_b)
                task_b = asyncio.create_task(sim_b.start())
                await asyncio.wait_for(on_a.wait_closed(), 5)
                command_id = await send(db, "SELECT ocpp.clear_cache('CP-MOVE')")
                await events.command(command_id)
                assert await db.fetchval("SELECT node_id FROM ocpp.commands WHERE id = $1", command_id) == "node-b"
                assert [a for a, _ in sim_b.received] == ["ClearCache"]
                task_b.cancel()
            task_a.cancel()
