"""OCPP 2.0.1 TransactionEvent (block E), remote start and stop (F01-F03), GetTransactionStatus (E14).

Every CALL goes through ``ocpp.parse(..., '2.0.1')`` with a payload checked
against the official 2.0.1 request schema, and every answer is checked against
the response schema, as a station would.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from pgcsms.proxy.ocppj import Validator

pytestmark = pytest.mark.rollback

V201 = Validator("2.0.1")
NODE = "node-a"
CS = "CS-1"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CARD = {"idToken": "04A2B3C4", "type": "ISO14443"}
FRIEND = {"idToken": "04A2B3C5", "type": "ISO14443"}
_ids = iter(range(10**9))
# The action each helper queues for a 2.0.1 station.
HELPER_ACTIONS = {
    "ocpp.reserve_now": "ReserveNow",
    "ocpp.request_start_transaction": "RequestStartTransaction",
    "ocpp.request_stop_transaction": "RequestStopTransaction",
    "ocpp.get_transaction_status": "GetTransactionStatus",
    "ocpp.unlock_connector": "UnlockConnector",
}


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def energy(wh: float, minutes: float, context: str | None = None, **extra: Any) -> dict[str, Any]:
    """A meterValue with one Energy.Active.Import.Register reading (the schema's defaults)."""
    sampled: dict[str, Any] = {"value": wh, **extra}
    if context:
        sampled["context"] = context
    return {"timestamp": at(minutes), "sampledValue": [sampled]}


def event(kind: str, seq: int, trigger: str, minutes: float = 0, tx: str = "TX-1", **extra: Any) -> dict[str, Any]:
    info = {"transactionId": tx, **extra.pop("info", {})}
    return {"eventType": kind, "timestamp": at(minutes), "triggerReason": trigger, "seqNo": seq,
            "transactionInfo": info, **extra}


@pytest.fixture
async def station(db: asyncpg.Connection) -> str:
    """CS-1, Accepted, connected over OCPP 2.0.1; two cards of one group, and a stranger."""
    await db.execute("SELECT ocpp.add_charge_point($1)", CS)
    assert (await db.fetchrow("SELECT accepted FROM ocpp.connect($1, $2, NULL, '2.0.1')", CS, NODE))["accepted"]
    await db.execute("SELECT ocpp.add_id_tag('04A2B3C4', parent_id_tag => 'FAMILY', id_token_type => 'ISO14443')")
    await db.execute("SELECT ocpp.add_id_tag('04A2B3C5', parent_id_tag => 'FAMILY')")
    return CS


@pytest.fixture
def call(db: asyncpg.Connection):
    """``await call(action, payload)``: the CALLRESULT payload, both ways schema-checked."""

    async def call(action: str, payload: dict[str, Any], *, unique_id: str | None = None,
                   station: str = CS) -> dict[str, Any]:
        V201.check_request(action, payload)
        row = await db.fetchrow(
            "SELECT result::text, error_code, error_description FROM ocpp.parse($1, $2, $3, $4::jsonb, '2.0.1')",
            station, unique_id or f"u-{next(_ids)}", action, json.dumps(payload))
        assert row["error_code"] is None, dict(row)
        result = json.loads(row["result"])
        V201.check_response(action, result)
        return result

    return call


async def transaction(db: asyncpg.Connection, tx: str = "TX-1") -> dict[str, Any]:
    row = await db.fetchrow("SELECT * FROM ocpp.transactions WHERE transaction_id = $1", tx)
    assert row is not None
    return dict(row)


async def anomalies(db: asyncpg.Connection) -> list[tuple[str, Any]]:
    return [(r["kind"], json.loads(r["detail"])) for r in await db.fetch("SELECT * FROM ocpp.anomalies ORDER BY id")]


class Station:
    """Plays CS-1's proxy for commands: claims, checks against the 2.0.1 schema, answers."""

    def __init__(self, db: asyncpg.Connection) -> None:
        self.db = db

    async def queue(self, sql: str, *args: Any) -> tuple[int, dict[str, Any]]:
        command_id = await self.db.fetchval(sql, *args)
        epoch = await self.db.fetchval("SELECT connection_epoch FROM pgcsms.charge_points WHERE id = $1", CS)
        row = await self.db.fetchrow("SELECT * FROM ocpp.next_command($1, $2, $3)", CS, NODE, epoch)
        assert row is not None and row["command_id"] == command_id
        assert row["action"] == HELPER_ACTIONS[re.search(r"ocpp\.\w+", sql).group()]
        payload = json.loads(row["payload"])
        V201.check_request(row["action"], payload)
        return command_id, payload

    async def answer(self, command_id: int, response: dict[str, Any]) -> str:
        action = await self.db.fetchval("SELECT action FROM ocpp.commands WHERE id = $1", command_id)
        V201.check_response(action, response)
        assert await self.db.fetchval("SELECT ocpp.complete_command($1, $2, $3::jsonb, NULL, NULL, $4)",
                                      CS, str(command_id), json.dumps(response), NODE)
        assert await self.db.fetch("SELECT * FROM ocpp.anomalies WHERE kind = 'command_effect_failed'") == []
        return await self.db.fetchval("SELECT status FROM ocpp.commands WHERE id = $1", command_id)


@pytest.fixture
def commands(db: asyncpg.Connection, station: str) -> Station:
    return Station(db)


# -- a session, as the station tells it ---------------------------------------------------------------

async def test_a_local_session(db, call, station):
    """Authorize, then Started with the token (TC_E_01), Updated while charging, Ended on unplugging."""
    assert (await call("Authorize", {"idToken": CARD}))["idTokenInfo"]["status"] == "Accepted"
    started = await call("TransactionEvent", event(
        "Started", 0, "Authorized", idToken=CARD, evse={"id": 1, "connectorId": 1},
        info={"chargingState": "EVConnected"}, meterValue=[energy(1_000_000, 0, "Transaction.Begin")]))
    assert started == {"idTokenInfo": {"status": "Accepted", "groupIdToken": {"idToken": "FAMILY", "type": "Central"}}}
    assert await call("TransactionEvent", event(
        "Updated", 1, "ChargingStateChanged", 1, info={"chargingState": "Charging"})) == {}
    assert await call("TransactionEvent", event(
        "Updated", 2, "MeterValuePeriodic", 30, meterValue=[energy(1_005_500, 30)])) == {}
    open_row = await transaction(db)
    assert (open_row["stopped_at"], open_row["energy_wh"], open_row["meter_stop"]) == (None, 5_500, None)
    assert await call("TransactionEvent", event(
        "Ended", 3, "EVCommunicationLost", 60, info={"chargingState": "Idle", "stoppedReason": "EVDisconnected",
                                                     "timeSpentCharging": 3540},
        meterValue=[energy(1_011_000, 60, "Transaction.End")])) == {}

    row = await transaction(db)
    assert {key: row[key] for key in (
        "charge_point_id", "transaction_id", "remote_id", "ocpp_version", "evse_id", "connector_id", "id_tag",
        "id_token_type", "parent_id_tag", "authorization_status", "meter_start", "meter_stop", "energy_wh",
        "stop_reason", "start_trigger_reason", "stop_trigger_reason", "charging_state", "time_spent_charging",
        "last_seq_no", "offline", "stop_id_tag")} == {
        "charge_point_id": CS, "transaction_id": "TX-1", "remote_id": "TX-1", "ocpp_version": "2.0.1",
        "evse_id": 1, "connector_id": 1, "id_tag": "04A2B3C4", "id_token_type": "ISO14443",
        "parent_id_tag": "FAMILY", "authorization_status": "Accepted", "meter_start": 1_000_000,
        "meter_stop": 1_011_000, "energy_wh": 11_000, "stop_reason": "EVDisconnected",
        "start_trigger_reason": "Authorized", "stop_trigger_reason": "EVCommunicationLost", "charging_state": "Idle",
        "time_spent_charging": 3540, "last_seq_no": 3, "offline": False, "stop_id_tag": None}
    assert (row["started_at"], row["stopped_at"], row["duration"]) == (T0, T0 + timedelta(hours=1), timedelta(hours=1))
    assert isinstance(row["id"], int) and row["id"] != "TX-1"
    values = await db.fetch("SELECT * FROM ocpp.meter_values WHERE transaction_id = $1 ORDER BY sampled_at", row["id"])
    assert [(v["context"], v["source"], v["evse_id"], v["connector_id"], v["normalized_value"]) for v in values] == [
        ("Transaction.Begin", "TransactionEvent", 1, 1, 1_000_000.0),
        ("Sample.Periodic", "TransactionEvent", 1, 1, 1_005_500.0),
        ("Transaction.End", "TransactionEvent", 1, 1, 1_011_000.0)]
    events = await db.fetch("SELECT seq_no, event_type, trigger_reason, authorization_status "
                            "FROM ocpp.transaction_events WHERE charge_point_id = $1 AND transaction_id = 'TX-1' "
                            "ORDER BY seq_no", CS)
    assert [tuple(e) for e in events] == [(0, "Started", "Authorized", "Accepted"),
                                          (1, "Updated", "ChargingStateChanged", None),
                                          (2, "Updated", "MeterValuePeriodic", None),
                                          (3, "Ended", "EVCommunicationLost", None)]
    assert await anomalies(db) == []


async def test_cable_first_then_the_token(db, call, station):
    """TC_E_03/E_09: Started on plugging in, without a token; the token comes in an Updated."""
    assert await call("TransactionEvent", event("Started", 0, "CablePluggedIn", evse={"id": 2, "connectorId": 1},
                                                info={"chargingState": "EVConnected"})) == {}
    row = await transaction(db)
    assert (row["id_tag"], row["authorization_status"], row["evse_id"], row["stopped_at"]) == (None, None, 2, None)
    updated = await call("TransactionEvent", event("Updated", 1, "Authorized", 1, idToken=CARD))
    assert updated["idTokenInfo"]["status"] == "Accepted"
    row = await transaction(db)
    assert (row["id_tag"], row["authorization_status"], row["start_trigger_reason"]) == (
        "04A2B3C4", "Accepted", "CablePluggedIn")


async def test_token_first_then_the_evse(db, call, station):
    """TC_J_08: Started without evse; the EVSE, and the Transaction.Begin values, come with an Updated."""
    started = await call("TransactionEvent", event("Started", 0, "Authorized", idToken=CARD))
    assert started["idTokenInfo"]["status"] == "Accepted"
    row = await transaction(db)
    assert (row["evse_id"], row["connector_id"]) == (None, None)
    await call("TransactionEvent", event("Updated", 1, "CablePluggedIn", 1, evse={"id": 1, "connectorId": 2},
                                         meterValue=[energy(500, 1, "Transaction.Begin")]))
    row = await transaction(db)
    assert (row["evse_id"], row["connector_id"], row["meter_start"]) == (1, 2, 500)
    [value] = await db.fetch("SELECT evse_id, connector_id, context FROM ocpp.meter_values")
    assert tuple(value) == (1, 2, "Transaction.Begin")


async def test_meter_values_before_the_evse_is_known_get_it(db, call, station):
    await call("TransactionEvent", event("Started", 0, "Authorized", idToken=CARD,
                                         meterValue=[energy(100, 0, "Transaction.Begin")]))
    assert await db.fetchval("SELECT evse_id FROM ocpp.meter_values") is None
    await call("TransactionEvent", event("Updated", 1, "CablePluggedIn", 1, evse={"id": 3}))
    assert tuple(await db.fetchrow("SELECT evse_id, connector_id FROM ocpp.meter_values")) == (3, None)


async def test_stopped_reason_left_out_is_local(db, call, station):
    await call("TransactionEvent", event("Started", 0, "Authorized", idToken=CARD, evse={"id": 1}))
    ended = await call("TransactionEvent", event("Ended", 1, "StopAuthorized", 5, idToken=CARD))
    assert ended["idTokenInfo"]["status"] == "Accepted"  # its own transaction: no ConcurrentTx
    row = await transaction(db)
    assert (row["stop_reason"], row["stop_trigger_reason"], row["stop_id_tag"], row["id_tag"]) == (
        "Local", "StopAuthorized", "04A2B3C4", "04A2B3C4")


async def test_signed_meter_values_are_kept_verbatim(db, call, station):
    """TC_E_11: Started with a 0.0 Transaction.Begin reading and its signature."""
    signed = {"signedMeterData": "AQID", "signingMethod": "ECDSA-secp256r1-SHA256", "encodingMethod": "OCMF",
              "publicKey": "BAUG"}
    await call("TransactionEvent", event("Started", 0, "SignedDataReceived", evse={"id": 1}, idToken=CARD,
                                         meterValue=[energy(0.0, 0, "Transaction.Begin", signedMeterValue=signed)]))
    row = await db.fetchrow("SELECT value, signed_meter_value, normalized_value FROM ocpp.meter_values")
    assert (row["value"], json.loads(row["signed_meter_value"]), row["normalized_value"]) == ("0.0", signed, 0.0)


# -- resends, late and out-of-order events ---------------------------------------------------------------

async def test_a_resend_changes_nothing_and_gets_the_same_answer(db, call, station):
    started = event("Started", 0, "Authorized", idToken=CARD, evse={"id": 1},
                    meterValue=[energy(10, 0, "Transaction.Begin")])
    first = await call("TransactionEvent", started, unique_id="e-1")
    await db.execute("SELECT ocpp.add_id_tag('04A2B3C4', 'Blocked', id_token_type => 'ISO14443')")
    assert await call("TransactionEvent", started, unique_id="e-1") == first
    assert await call("TransactionEvent", started, unique_id="e-2") == first  # lost answer, new message id
    assert first["idTokenInfo"]["status"] == "Accepted"
    assert await db.fetchval("SELECT count(*) FROM ocpp.transaction_events") == 1
    assert await db.fetchval("SELECT count(*) FROM ocpp.meter_values") == 1
    assert await db.fetchval("SELECT count(*) FROM ocpp.transactions") == 1
    assert await anomalies(db) == []


async def test_another_event_under_a_used_seq_no_is_applied_and_flagged(db, call, station):
    await call("TransactionEvent", event("Started", 0, "CablePluggedIn", evse={"id": 1}))
    await call("TransactionEvent", event("Updated", 1, "ChargingStateChanged", 1, info={"chargingState": "Charging"}))
    other = event("Updated", 1, "ChargingStateChanged", 2, info={"chargingState": "SuspendedEV"})
    assert await call("TransactionEvent", other) == {}
    # After the events of its seqNo that came before it.
    assert (await transaction(db))["charging_state"] == "SuspendedEV"
    [(kind, detail)] = await anomalies(db)
    assert (kind, detail["seq_no"], detail["payload"]) == ("transaction_event_conflict", 1, other)


async def test_an_ended_under_a_used_seq_no_ends_the_transaction(db, call, station):
    """F4: a station whose seqNo counter restarted sends its Ended under a seqNo already used."""
    await call("TransactionEvent", event("Started", 0, "Authorized", idToken=CARD, evse={"id": 1, "connectorId": 1},
                                         meterValue=[energy(1_000, 0, "Transaction.Begin")]))
    await call("TransactionEvent", event("Updated", 1, "ChargingStateChanged", 1, info={"chargingState": "Charging"}))
    ended = event("Ended", 1, "EnergyLimitReached", 60, info={"stoppedReason": "PowerLoss", "chargingState": "Idle"},
                  meterValue=[energy(9_000, 60, "Transaction.End")])
    assert await call("TransactionEvent", ended, unique_id="end-1") == {}
    row = await transaction(db)
    assert (row["stopped_at"], row["stop_reason"], row["meter_stop"], row["energy_wh"], row["charging_state"]) == (
        T0 + timedelta(hours=1), "PowerLoss", 9_000, 8_000, "Idle")
    assert await db.fetchval("SELECT count(*) FROM ocpp.meter_values WHERE transaction_id = $1", row["id"]) == 2
    events = await db.fetch("SELECT seq_no, event_no, event_type FROM ocpp.transaction_events "
                            "ORDER BY seq_no, event_no")
    assert [tuple(e) for e in events] == [(0, 0, "Started"), (1, 0, "Updated"), (1, 1, "Ended")]
    assert [k for k, _ in await anomalies(db)] == ["transaction_event_conflict"]
    # Only the very same event again is a resend: nothing changes.
    assert await call("TransactionEvent", ended, unique_id="end-2") == {}
    assert await db.fetchval("SELECT count(*) FROM ocpp.transaction_events") == 3
    assert await db.fetchval("SELECT count(*) FROM ocpp.meter_values") == 2
    assert len(await anomalies(db)) == 1


async def test_ended_first_then_the_late_updates(db, call, station):
    """TC_E_31: after a reconnect the Ended (offline, seqNo skipping two) comes before the two Updated."""
    await call("TransactionEvent", event("Started", 0, "Authorized", idToken=CARD, evse={"id": 1, "connectorId": 1},
                                         info={"chargingState": "Charging"},
                                         meterValue=[energy(2_000, 0, "Transaction.Begin")]))
    await call("TransactionEvent", event("Updated", 1, "MeterValuePeriodic", 10, meterValue=[energy(3_000, 10)]))
    ended = event("Ended", 4, "EVCommunicationLost", 40, offline=True,
                  info={"chargingState": "Idle", "stoppedReason": "EVDisconnected"},
                  meterValue=[energy(6_000, 40, "Transaction.End")])
    assert await call("TransactionEvent", ended) == {}
    row = await transaction(db)
    assert (row["stopped_at"], row["charging_state"], row["energy_wh"], row["last_seq_no"]) == (
        T0 + timedelta(minutes=40), "Idle", 4_000, 4)
    for seq, minutes, wh in ((2, 20, 4_000), (3, 30, 5_000)):
        late = event("Updated", seq, "MeterValuePeriodic", minutes, offline=True,
                     info={"chargingState": "SuspendedEV"}, meterValue=[energy(wh, minutes)])
        assert await call("TransactionEvent", late) == {}
    row = await transaction(db)
    # The late events add their readings, and change nothing the Ended said.
    assert (row["stopped_at"], row["charging_state"], row["stop_reason"], row["energy_wh"], row["offline"]) == (
        T0 + timedelta(minutes=40), "Idle", "EVDisconnected", 4_000, True)
    assert await db.fetchval("SELECT count(*) FROM ocpp.meter_values") == 5
    assert await db.fetchval("SELECT array_agg(seq_no ORDER BY seq_no) FROM ocpp.transaction_events") == [0, 1, 2, 3, 4]
    assert await anomalies(db) == []


async def test_an_ended_transaction_never_seen_is_recorded_and_flagged(db, call, station):
    ended = event("Ended", 7, "StopAuthorized", 90, tx="TX-LOST", offline=True, idToken=CARD,
                  evse={"id": 2, "connectorId": 1}, info={"stoppedReason": "Local"},
                  meterValue=[energy(1_000, 0, "Transaction.Begin"), energy(9_000, 90, "Transaction.End")])
    answered = await call("TransactionEvent", ended)
    assert answered["idTokenInfo"]["status"] == "Accepted"
    row = await transaction(db, "TX-LOST")
    assert (row["started_at"], row["stopped_at"], row["energy_wh"], row["stop_id_tag"], row["id_tag"]) == (
        T0 + timedelta(minutes=90), T0 + timedelta(minutes=90), 8_000, "04A2B3C4", None)
    [(kind, detail)] = await anomalies(db)
    assert (kind, detail["transaction_id"], detail["seq_no"]) == ("unknown_transaction_stop", "TX-LOST", 7)
    # Its Started comes after all: the start is the Started event's.
    await call("TransactionEvent", event("Started", 0, "Authorized", 0, tx="TX-LOST", offline=True, idToken=CARD,
                                         evse={"id": 2, "connectorId": 1}))
    row = await transaction(db, "TX-LOST")
    assert (row["started_at"], row["start_trigger_reason"], row["id_tag"], row["stopped_at"]) == (
        T0, "Authorized", "04A2B3C4", T0 + timedelta(minutes=90))
    assert len(await anomalies(db)) == 1


async def test_an_update_before_its_start(db, call, station):
    await call("TransactionEvent", event("Updated", 1, "ChargingStateChanged", 5, evse={"id": 1},
                                         info={"chargingState": "Charging"}))
    row = await transaction(db)
    assert (row["started_at"], row["start_trigger_reason"], row["stopped_at"]) == (
        T0 + timedelta(minutes=5), None, None)
    await call("TransactionEvent", event("Started", 0, "CablePluggedIn", 0, evse={"id": 1},
                                         info={"chargingState": "EVConnected"}))
    row = await transaction(db)
    assert (row["started_at"], row["start_trigger_reason"], row["charging_state"]) == (
        T0, "CablePluggedIn", "Charging")
    assert await anomalies(db) == []


async def test_each_transaction_counts_from_seq_no_zero(db, call, station):
    """TC_E_53: two transactions in a row, each Started with seqNo 0."""
    for tx, minutes in (("TX-A", 0), ("TX-B", 60)):
        started = await call("TransactionEvent", event("Started", 0, "Authorized", minutes, tx=tx, idToken=CARD,
                                                       evse={"id": 1}))
        assert started["idTokenInfo"]["status"] == "Accepted"
        await call("TransactionEvent", event("Ended", 1, "StopAuthorized", minutes + 30, tx=tx, idToken=CARD))
    rows = await db.fetch("SELECT transaction_id, stopped_at IS NOT NULL AS ended FROM ocpp.transactions ORDER BY id")
    assert [tuple(r) for r in rows] == [("TX-A", True), ("TX-B", True)]
    assert await anomalies(db) == []


async def test_the_same_transaction_id_at_another_station_is_another_transaction(db, call, station):
    await db.execute("SELECT ocpp.add_charge_point('CS-2')")
    await db.execute("SELECT ocpp.connect('CS-2', $1, NULL, '2.0.1')", NODE)
    for cs in (CS, "CS-2"):
        await call("TransactionEvent", event("Started", 0, "CablePluggedIn", evse={"id": 1}), station=cs)
    assert await db.fetchval("SELECT count(DISTINCT id) FROM ocpp.transactions WHERE transaction_id = 'TX-1'") == 2


async def test_a_start_closes_an_older_transaction_left_open_on_its_evse(db, call, station):
    await call("TransactionEvent", event("Started", 0, "Authorized", 0, tx="TX-OLD", idToken=CARD, evse={"id": 1}))
    await call("TransactionEvent", event("Started", 0, "CablePluggedIn", 5, tx="TX-OTHER", evse={"id": 2}))
    await call("TransactionEvent", event("Started", 0, "Authorized", 60, tx="TX-NEW", idToken=CARD, evse={"id": 1}))
    old, other, new = [await transaction(db, tx) for tx in ("TX-OLD", "TX-OTHER", "TX-NEW")]
    assert (old["stopped_at"], other["stopped_at"], new["stopped_at"]) == (T0 + timedelta(minutes=60), None, None)
    [(kind, detail)] = await anomalies(db)
    assert kind == "superseded_transaction" and detail["connector_id"] == 1
    # The token that went with the lost transaction is free again.
    assert (await transaction(db, "TX-NEW"))["authorization_status"] == "Accepted"
    # A late Ended fills the old one in; an older transaction replayed later closes nothing newer.
    await call("TransactionEvent", event("Ended", 1, "EVCommunicationLost", 30, tx="TX-OLD", offline=True))
    assert (await transaction(db, "TX-OLD"))["stopped_at"] == T0 + timedelta(minutes=30)
    await call("TransactionEvent", event("Started", 0, "CablePluggedIn", -30, tx="TX-OLDER", offline=True,
                                         evse={"id": 1}))
    assert (await transaction(db, "TX-NEW"))["stopped_at"] is None


# -- the tokens in events ------------------------------------------------------------------------------

async def test_an_invalid_token_is_answered_and_the_transaction_kept(db, call, station):
    """TC_E_16 / TC_C_20: the station started with a token we do not know; it decides to stop."""
    stranger = {"idToken": "DEADBEEF", "type": "ISO14443"}
    started = await call("TransactionEvent", event("Started", 0, "Authorized", idToken=stranger, evse={"id": 1}))
    assert started == {"idTokenInfo": {"status": "Unknown"}}
    await call("TransactionEvent", event("Ended", 1, "Deauthorized", 1, info={"stoppedReason": "DeAuthorized"}))
    row = await transaction(db)
    assert (row["id_tag"], row["authorization_status"], row["stop_reason"], row["stop_trigger_reason"]) == (
        "DEADBEEF", "Unknown", "DeAuthorized", "Deauthorized")


async def test_every_event_with_a_token_gets_its_group(db, call, station):
    """TC_C_39: a token of the same group stops the transaction; both answered with the group."""
    group = {"idToken": "FAMILY", "type": "Central"}
    await call("TransactionEvent", event("Started", 0, "CablePluggedIn", evse={"id": 1}))
    authorized = await call("Authorize", {"idToken": FRIEND})
    assert authorized["idTokenInfo"] == {"status": "Accepted", "groupIdToken": group}
    updated = await call("TransactionEvent", event("Updated", 1, "Authorized", 1, idToken=CARD))
    assert updated["idTokenInfo"] == {"status": "Accepted", "groupIdToken": group}
    again = await call("TransactionEvent", event("Updated", 2, "Authorized", 2, idToken=CARD))
    assert again["idTokenInfo"]["status"] == "Accepted"  # its own transaction: no ConcurrentTx
    assert (await call("Authorize", {"idToken": FRIEND}))["idTokenInfo"]["status"] == "Accepted"
    stop = await call("TransactionEvent", event("Updated", 3, "StopAuthorized", 3, idToken=FRIEND))
    assert stop["idTokenInfo"] == {"status": "Accepted", "groupIdToken": group}
    row = await transaction(db)
    assert (row["id_tag"], row["stop_id_tag"], row["stop_id_token_type"]) == ("04A2B3C4", "04A2B3C5", "ISO14443")


async def test_one_token_on_every_evse(db, call, station):
    """F1, TC_C_48: Reusable State Authorized once per EVSE with the same token, then Authorize while it charges:
    all Accepted, with the group."""
    accepted = {"idTokenInfo": {"status": "Accepted", "groupIdToken": {"idToken": "FAMILY", "type": "Central"}}}
    for n, tx in enumerate(("TX-A", "TX-B")):
        assert await call("Authorize", {"idToken": CARD}) == accepted
        assert await call("TransactionEvent", event("Started", 0, "Authorized", n, tx=tx, idToken=CARD,
                                                    evse={"id": n + 1, "connectorId": 1})) == accepted
    assert await call("Authorize", {"idToken": CARD}) == accepted
    assert [r["authorization_status"] for r in await db.fetch(
        "SELECT authorization_status FROM ocpp.transactions ORDER BY id")] == ["Accepted", "Accepted"]
    # A 1.6 charger is still told ConcurrentTx, as the 1.6 spec has it.
    await db.execute("SELECT ocpp.add_charge_point('CP-16')")
    reply = await db.fetchval("SELECT result FROM ocpp.parse('CP-16', 'a-1', 'Authorize', $1::jsonb)",
                              json.dumps({"idTag": "04a2b3c4"}))
    assert json.loads(reply)["idTagInfo"]["status"] == "ConcurrentTx"


async def test_a_transaction_left_open_elsewhere_refuses_nothing(db, call, station):
    """F1: an earlier test case ended in EnergyTransferStarted, at another station: the next case's token is
    Accepted."""
    await db.execute("SELECT ocpp.add_charge_point('CS-2')")
    await db.execute("SELECT ocpp.connect('CS-2', $1, NULL, '2.0.1')", NODE)
    await call("TransactionEvent", event("Started", 0, "Authorized", tx="TX-STALE", idToken=CARD, evse={"id": 1}),
               station="CS-2")
    assert (await call("Authorize", {"idToken": CARD}))["idTokenInfo"]["status"] == "Accepted"
    started = await call("TransactionEvent", event("Started", 0, "Authorized", 1, idToken=CARD, evse={"id": 1}))
    assert started["idTokenInfo"]["status"] == "Accepted"


async def test_concurrent_tx_is_the_operators_choice_in_2_0_1(db, call, station):
    """F1: with the v201_concurrent_tx setting on, a TransactionEvent starting with a busy token is ConcurrentTx."""
    assert await db.fetchval("SELECT value FROM ocpp.settings WHERE key = 'v201_concurrent_tx'") == "off"
    await db.execute("SELECT ocpp.set_setting('v201_concurrent_tx', 'on')")
    await call("TransactionEvent", event("Started", 0, "Authorized", tx="TX-A", idToken=CARD, evse={"id": 1}))
    busy = await call("TransactionEvent", event("Started", 0, "Authorized", tx="TX-B", idToken=CARD, evse={"id": 2}))
    assert busy["idTokenInfo"]["status"] == "ConcurrentTx"
    # A token presented to stop, and its own transaction, are never concurrent.
    stop = await call("TransactionEvent", event("Ended", 1, "StopAuthorized", 1, tx="TX-B", idToken=CARD))
    assert stop["idTokenInfo"]["status"] == "Accepted"
    again = await call("TransactionEvent", event("Updated", 1, "Authorized", 2, tx="TX-A", idToken=CARD))
    assert again["idTokenInfo"]["status"] == "Accepted"
    assert (await call("Authorize", {"idToken": CARD}))["idTokenInfo"]["status"] == "Accepted"
    # 1.6 answers ConcurrentTx (its spec), whatever the 2.0.1 setting.
    await db.execute("SELECT ocpp.add_charge_point('CP-16')")
    reply = await db.fetchval("SELECT result FROM ocpp.parse('CP-16', 'a-1', 'Authorize', $1::jsonb)",
                              json.dumps({"idTag": "04a2b3c4"}))
    assert json.loads(reply)["idTagInfo"]["status"] == "ConcurrentTx"


async def test_no_authorization(db, call, station):
    nobody = {"idToken": "", "type": "NoAuthorization"}
    started = await call("TransactionEvent", event("Started", 0, "CablePluggedIn", idToken=nobody, evse={"id": 1}))
    assert started == {"idTokenInfo": {"status": "Accepted"}}
    row = await transaction(db)
    assert (row["id_tag"], row["id_token_type"]) == ("", "NoAuthorization")


# -- energy ----------------------------------------------------------------------------------------

async def test_a_zero_register_after_an_offline_period_is_not_billed_as_the_lifetime_register(db, call, station):
    """The Begin reading is 0 (the meter not read yet), the next ones the lifetime register."""
    await call("TransactionEvent", event("Started", 0, "Authorized", 0, offline=True, idToken=CARD, evse={"id": 1},
                                         meterValue=[energy(0, 0, "Transaction.Begin")]))
    await call("TransactionEvent", event("Updated", 1, "MeterValuePeriodic", 5, offline=True,
                                         meterValue=[energy(12_345_000, 5)]))
    await call("TransactionEvent", event("Ended", 2, "EVCommunicationLost", 65,
                                         meterValue=[energy(12_356_000, 65, "Transaction.End")]))
    row = await transaction(db)
    assert (row["meter_start"], row["meter_stop"], row["energy_wh"]) == (0, 12_356_000, 11_000)


async def test_energy_is_the_sum_of_plausible_rises(db, call, station):
    """A session-relative register from 0 counts in full; a fall (meter reset) counts nothing."""
    readings = [(0, 0), (1_500, 10), (3_000, 20), (200, 30), (1_200, 40)]
    await call("TransactionEvent", event("Started", 0, "Authorized", 0, idToken=CARD, evse={"id": 1},
                                         meterValue=[energy(wh, minutes) for wh, minutes in readings]))
    assert (await transaction(db))["energy_wh"] == 1_500 + 1_500 + 1_000
    # Other registers, phases and locations are not the transaction's energy.
    await call("TransactionEvent", event("Updated", 1, "MeterValuePeriodic", 50, meterValue=[
        {"timestamp": at(50), "sampledValue": [
            {"value": 99_999, "phase": "L1"}, {"value": 99_999, "location": "Inlet"},
            {"value": 99_999, "measurand": "Energy.Active.Export.Register"},
            {"value": 1.4, "unitOfMeasure": {"unit": "kWh"}}]}]))
    assert (await transaction(db))["energy_wh"] == 4_000 + 200


async def test_the_power_limit_is_a_setting(db, call, station):
    await db.execute("SELECT ocpp.set_setting('energy_step_max_kw', '10')")
    await call("TransactionEvent", event("Started", 0, "Authorized", 0, idToken=CARD, evse={"id": 1},
                                         meterValue=[energy(0, 0), energy(5_000, 60), energy(20_000, 120)]))
    assert (await transaction(db))["energy_wh"] == 5_000  # 15 kWh in an hour is more than 10 kW


# -- reservations ------------------------------------------------------------------------------------

async def test_a_transaction_uses_its_reservation(db, call, station, commands):
    command_id, payload = await commands.queue(
        "SELECT ocpp.reserve_now($1, id_tag => '04A2B3C4', expires_at => now() + interval '1 hour', evse_id => 1)", CS)
    assert await commands.answer(command_id, {"status": "Accepted"}) == "accepted"
    reservation = payload["id"]
    stranger = {"idToken": "0A0B0C0D", "type": "ISO14443"}
    await db.execute("SELECT ocpp.add_id_tag('0A0B0C0D', id_token_type => 'ISO14443')")
    refused = await call("TransactionEvent", event("Started", 0, "Authorized", tx="TX-S", idToken=stranger,
                                                   evse={"id": 1}))
    assert refused["idTokenInfo"]["status"] == "Invalid"  # EVSE 1 is held for someone else
    await call("TransactionEvent", event("Ended", 1, "Deauthorized", 1, tx="TX-S"))
    started = await call("TransactionEvent", event("Started", 0, "Authorized", 2, idToken=CARD, evse={"id": 1},
                                                   reservationId=reservation))
    assert started["idTokenInfo"]["status"] == "Accepted"
    row = await db.fetchrow("SELECT status, transaction_id FROM ocpp.reservations WHERE id = $1", reservation)
    assert (row["status"], row["transaction_id"]) == ("Used", (await transaction(db))["id"])
    assert (await transaction(db))["reservation_id"] == reservation
    await call("TransactionEvent", event("Started", 0, "Authorized", 3, tx="TX-2", idToken=FRIEND, evse={"id": 2},
                                         reservationId=987654))
    assert [(k, d) for k, d in await anomalies(db)] == [("unknown_reservation", {"reservation_id": 987654})]


# -- remote start and stop ---------------------------------------------------------------------------------

async def test_remote_start_links_the_transaction_to_its_command(db, call, station, commands):
    """F01/F02, TC_F_03: RequestStartTransaction Accepted, then Started with its remoteStartId."""
    command_id, payload = await commands.queue(
        "SELECT ocpp.request_start_transaction($1, 'APP-USER-7', evse_id => 2)", CS)
    assert payload["idToken"] == {"idToken": "APP-USER-7", "type": "Central"}
    assert payload["evseId"] == 2 and isinstance(payload["remoteStartId"], int) and payload["remoteStartId"] > 0
    assert await commands.answer(command_id, {"status": "Accepted"}) == "accepted"
    started = await call("TransactionEvent", event(
        "Started", 0, "RemoteStart", idToken=payload["idToken"], evse={"id": 2, "connectorId": 1},
        info={"remoteStartId": payload["remoteStartId"], "chargingState": "EVConnected"}))
    # A Central id we gave: no tag knows it, and it is accepted at this station.
    assert started == {"idTokenInfo": {"status": "Accepted"}}
    row = await transaction(db)
    assert (row["remote_command_id"], row["remote_start_id"], row["id_tag"]) == (
        command_id, payload["remoteStartId"], "APP-USER-7")
    # Not a key to every station, nor for ever.
    assert (await call("Authorize", {"idToken": {"idToken": "OTHER-USER", "type": "Central"}}))[
        "idTokenInfo"]["status"] == "Unknown"
    stop_id, stop = await commands.queue("SELECT ocpp.request_stop_transaction($1, $2)", CS, row["transaction_id"])
    assert stop == {"transactionId": "TX-1"}
    assert await commands.answer(stop_id, {"status": "Accepted"}) == "accepted"
    await call("TransactionEvent", event("Ended", 1, "RemoteStop", 10, info={"stoppedReason": "Remote"}))
    row = await transaction(db)
    assert (row["stop_reason"], row["stop_trigger_reason"], row["remote_command_id"]) == (
        "Remote", "RemoteStop", command_id)


async def test_a_station_that_starts_before_it_answers(db, call, station, commands):
    command_id, payload = await commands.queue("SELECT ocpp.request_start_transaction($1, '04A2B3C4', 'ISO14443')", CS)
    assert payload["groupIdToken"] == {"idToken": "FAMILY", "type": "Central"}  # the tag's parent
    await call("TransactionEvent", event("Started", 0, "RemoteStart", idToken=CARD, evse={"id": 1},
                                         info={"remoteStartId": payload["remoteStartId"]}))
    assert await commands.answer(command_id, {"status": "Accepted"}) == "accepted"
    assert (await transaction(db))["remote_command_id"] == command_id


async def test_the_answer_names_a_transaction_already_under_way(db, call, station, commands):
    """TC_F_01: cable first; RequestStartTransaction answered with its transactionId."""
    await call("TransactionEvent", event("Started", 0, "CablePluggedIn", evse={"id": 1}))
    command_id, payload = await commands.queue(
        "SELECT ocpp.request_start_transaction($1, '04A2B3C4', 'ISO14443', evse_id => 1, remote_start_id => 42)", CS)
    assert payload["remoteStartId"] == 42
    assert await commands.answer(command_id, {"status": "Accepted", "transactionId": "TX-1"}) == "accepted"
    assert (await transaction(db))["remote_command_id"] == command_id
    updated = await call("TransactionEvent", event("Updated", 1, "RemoteStart", 1, idToken=CARD,
                                                   info={"remoteStartId": 42}))
    assert updated["idTokenInfo"]["status"] == "Accepted"
    assert (await transaction(db))["remote_start_id"] == 42


async def test_a_rejected_remote_start_links_nothing(db, call, station, commands):
    command_id, payload = await commands.queue("SELECT ocpp.request_start_transaction($1, 'X-1')", CS)
    assert await commands.answer(command_id, {"status": "Rejected"}) == "rejected"
    assert (await call("Authorize", {"idToken": payload["idToken"]}))["idTokenInfo"]["status"] == "Unknown"


async def test_remote_start_ids_come_from_a_sequence(db, station):
    ids = []
    for _ in range(2):
        command_id = await db.fetchval("SELECT ocpp.request_start_transaction($1, 'T')", CS)
        ids.append(await db.fetchval("SELECT (payload->>'remoteStartId')::int FROM ocpp.commands WHERE id = $1",
                                     command_id))
    assert ids[1] == ids[0] + 1


async def test_request_start_transaction_sends_the_tags_own_type(db, station):
    """F3, TC_F_01-03 step 1: idToken.type is the tag's (ocpp._id_token_type_for), not a default of the helper."""
    await db.execute("SELECT ocpp.add_id_tag('LOCAL-7', id_token_type => 'Local')")
    sent = {}
    for token in ("04A2B3C4", "04A2B3C5", "LOCAL-7", "APP-USER-7"):
        command_id = await db.fetchval("SELECT ocpp.request_start_transaction($1, $2)", CS, token)
        payload = json.loads(await db.fetchval("SELECT payload FROM ocpp.commands WHERE id = $1", command_id))
        V201.check_request("RequestStartTransaction", payload)
        sent[token] = payload["idToken"]["type"]
    # Typed; untyped in the form of a 4-byte UID; typed; no tag: an id we give.
    assert sent == {"04A2B3C4": "ISO14443", "04A2B3C5": "ISO14443", "LOCAL-7": "Local", "APP-USER-7": "Central"}
    command_id = await db.fetchval("SELECT ocpp.request_start_transaction($1, 'LOCAL-7', 'Central')", CS)
    assert await db.fetchval("SELECT payload->'idToken'->>'type' FROM ocpp.commands WHERE id = $1",
                             command_id) == "Central"  # as asked


async def test_a_remote_start_with_an_id_no_tag_knows_is_accepted_in_the_type_it_was_sent(db, call, station, commands):
    """An id we made up that looks like a card UID is sent as ISO14443 (F3), and still accepted at that station."""
    command_id, payload = await commands.queue("SELECT ocpp.request_start_transaction($1, 'DEADBEEF')", CS)
    assert payload["idToken"] == {"idToken": "DEADBEEF", "type": "ISO14443"}
    assert await commands.answer(command_id, {"status": "Accepted"}) == "accepted"
    started = await call("TransactionEvent", event("Started", 0, "RemoteStart", idToken=payload["idToken"],
                                                   evse={"id": 1}, info={"remoteStartId": payload["remoteStartId"]}))
    assert started == {"idTokenInfo": {"status": "Accepted"}}
    # Not in another type.
    assert (await call("Authorize", {"idToken": {"idToken": "DEADBEEF", "type": "Central"}}))[
        "idTokenInfo"]["status"] == "Unknown"


async def claim(db: asyncpg.Connection, command_id: int) -> dict[str, Any]:
    epoch = await db.fetchval("SELECT connection_epoch FROM pgcsms.charge_points WHERE id = $1", CS)
    row = await db.fetchrow("SELECT * FROM ocpp.next_command($1, $2, $3)", CS, NODE, epoch)
    assert row is not None and row["command_id"] == command_id
    return json.loads(row["payload"])


async def test_a_remote_start_queued_while_offline_is_fresh_from_when_it_was_sent(db, call, station, commands):
    """F7: the command waited an hour in the queue (the station was offline); its Central token is good at that
    station from when it was sent, not from when it was made."""
    command_id = await db.fetchval("SELECT ocpp.request_start_transaction($1, 'APP-USER-7', evse_id => 1)", CS)
    await db.execute("UPDATE pgcsms.commands SET created_at = created_at - interval '1 hour' WHERE id = $1", command_id)
    payload = await claim(db, command_id)
    assert (await call("Authorize", {"idToken": payload["idToken"]}))["idTokenInfo"]["status"] == "Accepted"
    assert await commands.answer(command_id, {"status": "Accepted"}) == "accepted"
    started = await call("TransactionEvent", event("Started", 0, "RemoteStart", idToken=payload["idToken"],
                                                   evse={"id": 1}, info={"remoteStartId": payload["remoteStartId"]}))
    assert started == {"idTokenInfo": {"status": "Accepted"}}
    assert (await transaction(db))["remote_command_id"] == command_id


async def test_a_remote_start_plugged_in_late_is_linked_before_its_token_is_judged(db, call, station, commands):
    """F7, TC_F_03/F_04 with TxStartPoint EVConnected: the cable comes 20 minutes after the answer. The Started
    event echoes remoteStartId: linked first, its Central token is that transaction's."""
    command_id, payload = await commands.queue("SELECT ocpp.request_start_transaction($1, 'APP-USER-7')", CS)
    assert await commands.answer(command_id, {"status": "Accepted"}) == "accepted"
    await db.execute("UPDATE pgcsms.commands SET created_at = created_at - interval '20 minutes', "
                     "sent_at = sent_at - interval '20 minutes', completed_at = completed_at - interval '20 minutes' "
                     "WHERE id = $1", command_id)
    # Without the remoteStartId it is no longer fresh: not a key for ever.
    assert (await call("Authorize", {"idToken": payload["idToken"]}))["idTokenInfo"]["status"] == "Unknown"
    started = await call("TransactionEvent", event("Started", 0, "CablePluggedIn", idToken=payload["idToken"],
                                                   evse={"id": 1}, info={"remoteStartId": payload["remoteStartId"]}))
    assert started == {"idTokenInfo": {"status": "Accepted"}}
    row = await transaction(db)
    assert (row["remote_command_id"], row["authorization_status"]) == (command_id, "Accepted")
    updated = await call("TransactionEvent", event("Updated", 1, "ChargingStateChanged", 1, idToken=payload["idToken"]))
    assert updated == {"idTokenInfo": {"status": "Accepted"}}


async def test_one_home_for_the_command_a_remote_start_id_echoes(db, call, station, commands):
    """F12: the TransactionEvent and the answer to RequestStartTransaction find the command by one rule,
    ocpp._remote_start_command_v201: the newest one sent to the station with that remoteStartId."""
    for function in ("v201_transaction_event", "_v201_effect_request_start_transaction"):
        source = await db.fetchval("SELECT prosrc FROM pg_proc WHERE pronamespace = 'ocpp'::regnamespace "
                                   "AND proname = $1", function)
        assert "ocpp._remote_start_command_v201(" in source and "'RequestStartTransaction'" not in source, function
    older, _ = await commands.queue("SELECT ocpp.request_start_transaction($1, 'APP-USER-1', remote_start_id => 7)", CS)
    assert await commands.answer(older, {"status": "Accepted"}) == "accepted"
    newer, payload = await commands.queue(
        "SELECT ocpp.request_start_transaction($1, 'APP-USER-2', remote_start_id => 7)", CS)
    assert await db.fetchval("SELECT ocpp._remote_start_command_v201($1, 7)", CS) == newer
    await call("TransactionEvent", event("Started", 0, "RemoteStart", idToken=payload["idToken"], evse={"id": 1},
                                         info={"remoteStartId": 7}))
    assert await commands.answer(newer, {"status": "Accepted"}) == "accepted"
    assert (await transaction(db))["remote_command_id"] == newer
    queued = await db.fetchval("SELECT ocpp.request_start_transaction($1, 'APP-USER-3', remote_start_id => 8)", CS)
    assert queued and await db.fetchval("SELECT ocpp._remote_start_command_v201($1, 8)", CS) is None  # never sent


async def test_get_transaction_status(db, station, commands):
    """E14, TC_E_29-34: with and without a transactionId."""
    with_id, payload = await commands.queue("SELECT ocpp.get_transaction_status($1, 'TX-1')", CS)
    assert payload == {"transactionId": "TX-1"}
    assert await commands.answer(with_id, {"ongoingIndicator": False, "messagesInQueue": True}) == "completed"
    without, payload = await commands.queue("SELECT ocpp.get_transaction_status($1)", CS)
    assert payload == {}
    assert await commands.answer(without, {"messagesInQueue": False}) == "completed"
    assert json.loads(await db.fetchval("SELECT response FROM ocpp.commands WHERE id = $1", with_id)) == {
        "ongoingIndicator": False, "messagesInQueue": True}


async def test_unlock_connector_names_the_evse(db, station, commands, fails):
    """F05: UnlockConnector {evseId, connectorId}; the 1.6 form is refused with a hint."""
    command_id, payload = await commands.queue("SELECT ocpp.unlock_connector($1, 1, evse_id => 2)", CS)
    assert payload == {"evseId": 2, "connectorId": 1}
    assert await commands.answer(command_id, {"status": "Unlocked"}) == "accepted"
    async with fails(asyncpg.InvalidParameterValueError, match="evse_id and connector_id") as caught:
        await db.execute("SELECT ocpp.unlock_connector($1, 1)", CS)
    assert "evse_id => 1" in caught.value.hint


async def test_helpers_of_the_other_version_say_which_to_use(db, station, fails):
    await db.execute("SELECT ocpp.add_charge_point('CP-16')")
    await db.execute("SELECT ocpp.connect('CP-16', $1, NULL, '1.6')", NODE)
    async with fails(asyncpg.InvalidParameterValueError, match="RequestStartTransaction is OCPP 2.0.1") as caught:
        await db.execute("SELECT ocpp.request_start_transaction('CP-16', 'TAG')")
    assert "ocpp.remote_start_transaction" in caught.value.hint
    async with fails(asyncpg.InvalidParameterValueError, match="RequestStopTransaction is OCPP 2.0.1") as caught:
        await db.execute("SELECT ocpp.request_stop_transaction('CP-16', '17')")
    assert "ocpp.remote_stop_transaction" in caught.value.hint
    async with fails(asyncpg.InvalidParameterValueError, match="evse_id is for OCPP 2.0.1"):
        await db.execute("SELECT ocpp.unlock_connector('CP-16', 1, evse_id => 1)")
    async with fails(asyncpg.InvalidParameterValueError, match="not an action a central system sends"):
        await db.execute("SELECT ocpp.remote_start_transaction($1, 'TAG')", CS)
    # 1.6 helpers keep their 1.6 payloads.
    command_id = await db.fetchval("SELECT ocpp.unlock_connector('CP-16', 2)")
    assert json.loads(await db.fetchval("SELECT payload FROM ocpp.commands WHERE id = $1", command_id)) == {
        "connectorId": 2}
