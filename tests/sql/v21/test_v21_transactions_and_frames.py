"""OCPP 2.1 sessions (what TransactionEvent adds), the V2X commands, SEND and CALLRESULTERROR in SQL.

A SEND goes through ``ocpp.parse(..., message_type => 6)``: handled like a
CALL, journaled alone, never answered, its failure kept in the journal; a
resend under the same messageId is not applied twice. A CALLRESULTERROR from
the station reaches ``ocpp.complete_command`` as message type 5 and fails the
command it names.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.rollback

LIMIT = {"maxCost": 20.0, "maxEnergy": 30000, "maxTime": 7200, "maxSoC": 80}
COST = {"totalCost": {"currency": "EUR", "typeOfCost": "NormalCost", "total": {"exclTax": 1.0, "inclTax": 1.21}},
        "totalUsage": {"energy": 4000, "chargingTime": 1800, "idleTime": 0}}


def event(kind: str, seq: int, minute: int, **info: object) -> dict:
    payload: dict = {"eventType": kind, "timestamp": f"2025-03-01T10:{minute:02d}:00Z", "seqNo": seq,
                     "triggerReason": {"Started": "CablePluggedIn", "Updated": "MeterValuePeriodic",
                                       "Ended": "EVCommunicationLost"}[kind],
                     "transactionInfo": {"transactionId": "TX-V2X", **info.pop("info", {})}, **info}
    return payload


async def test_a_2_1_session_keeps_its_limits_mode_tariff_and_station_cost_latest_by_seq_no(db, station):
    await station.call("TransactionEvent", event("Started", 0, 0, evse={"id": 1, "connectorId": 1}, info={
        "transactionLimit": LIMIT, "operationMode": "ChargingOnly", "tariffId": "T-1"}))
    # A late event (seqNo 1) arrives after seqNo 2: it does not overwrite it.
    await station.call("TransactionEvent", event("Updated", 2, 20, info={"operationMode": "CentralSetpoint"}))
    await station.call("TransactionEvent", event("Updated", 1, 10, info={"operationMode": "ExternalLimits",
                                                                          "transactionLimit": {"maxSoC": 90}}))
    await station.call("TransactionEvent", event("Ended", 3, 30, costDetails=COST, info={"stoppedReason": "Local"}))
    row = await db.fetchrow("SELECT ocpp_version, transaction_limit, operation_mode, tariff_id, station_cost_details, "
                            "station_total_cost FROM ocpp.transaction_details WHERE remote_id = 'TX-V2X'")
    assert row["ocpp_version"] == "2.1"
    assert json.loads(row["transaction_limit"]) == {"maxSoC": 90}
    assert (row["operation_mode"], row["tariff_id"], float(row["station_total_cost"])) == ("CentralSetpoint", "T-1",
                                                                                          1.21)
    assert json.loads(row["station_cost_details"]) == COST
    assert await db.fetchval("SELECT stopped_at IS NOT NULL FROM ocpp.transactions WHERE remote_id = 'TX-V2X'")


async def test_v2x_commands(db, station):
    await station.call("TransactionEvent", event("Started", 0, 0, evse={"id": 1, "connectorId": 1}))
    allowed = await station.run(
        "SELECT ocpp.notify_allowed_energy_transfer('CS-21', 'TX-V2X', ARRAY['DC_BPT', 'DC'])",
        response={"status": "Accepted"})
    assert allowed["payload"] == {"transactionId": "TX-V2X", "allowedEnergyTransfer": ["DC_BPT", "DC"]}
    assert await db.fetchval("SELECT allowed_energy_transfer FROM ocpp.transaction_details "
                             "WHERE remote_id = 'TX-V2X'") == ["DC_BPT", "DC"]
    signal = await station.run("SELECT ocpp.afrr_signal('CS-21', -1)", response={"status": "Accepted"})
    assert (signal["status"], signal["payload"]["signal"]) == ("accepted", -1)
    web = await station.run("SELECT ocpp.notify_web_payment_started('CS-21', 1, 120)", response={})
    assert (web["status"], web["payload"]) == ("completed", {"evseId": 1, "timeout": 120})


async def test_a_send_is_journaled_alone_and_its_failure_kept(db, station, rows):
    await db.execute("UPDATE pgcsms.charge_points SET registration_status = 'Pending' WHERE id = 'CS-21'")
    failed = await station.send("NotifyPeriodicEventStream", {"id": 1, "pending": 0, "basetime": "2025-03-01T10:00:00Z",
                                                              "data": [{"t": 0, "v": "1"}]}, unique_id="s-1")
    assert failed["error_code"] == "SecurityError"
    assert await db.fetchval("SELECT count(*) FROM ocpp.periodic_event_values") == 0
    journal = await rows("SELECT direction, message_type, error_code FROM ocpp.message_log WHERE unique_id = 's-1'")
    assert journal == [{"direction": "in", "message_type": 6, "error_code": "SecurityError"}]


async def test_a_resent_send_is_applied_once(db, station, rows):
    payload = {"id": 1, "pending": 0, "basetime": "2025-03-01T10:00:00Z", "data": [{"t": 0, "v": "1"}]}
    for _ in range(2):
        assert (await station.send("NotifyPeriodicEventStream", payload, unique_id="s-2"))["error_code"] is None
    assert await db.fetchval("SELECT count(*) FROM ocpp.periodic_event_values") == 1
    journal = await rows("SELECT message_type, error_detail FROM ocpp.message_log WHERE unique_id = 's-2' ORDER BY id")
    assert [j["message_type"] for j in journal] == [6, 6]
    assert journal[0]["error_detail"] is None and "not applied again" in journal[1]["error_detail"]
    # Another message under a new id is new.
    await station.send("NotifyPeriodicEventStream", payload, unique_id="s-3")
    assert await db.fetchval("SELECT count(*) FROM ocpp.periodic_event_values") == 2


async def test_parse_takes_calls_and_sends_only(db, station, fails):
    import asyncpg

    async with fails(asyncpg.InvalidParameterValueError, match="message type 4"):
        await db.execute("SELECT ocpp.parse('CS-21', 'u', 'Heartbeat', '{}', '2.1', NULL, 4::smallint)")


async def test_a_callresulterror_from_the_station_fails_the_command_it_names(db, station):
    command_id = await db.fetchval("SELECT ocpp.afrr_signal('CS-21', 1)")
    sent = await station.deliver(command_id)
    assert await db.fetchval("SELECT ocpp.complete_command('CS-21', $1, '{\"why\": \"x\"}', 'FormatViolation', "
                             "'could not process', 'node-21', 5::smallint)", sent["unique_id"])
    row = await db.fetchrow("SELECT status, error_code, error_description FROM ocpp.commands WHERE id = $1",
                            command_id)
    assert tuple(row) == ("failed", "FormatViolation", "could not process")
    assert await db.fetchval("SELECT message_type FROM ocpp.message_log WHERE unique_id = $1 AND direction = 'in'",
                             sent["unique_id"]) == 5
