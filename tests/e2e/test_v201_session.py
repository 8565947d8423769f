"""OCPP 2.0.1 sessions end to end, told by a strict station this project did not write.

The station is the ``ocpp`` package's ``ocpp.v201.ChargePoint``: it checks every
message both ways against the official 2.0.1 schemas. It boots, authorizes a
card, charges on EVSE 1, replays a session it kept while offline (late, out of
order), and is started and stopped remotely on EVSE 2 from SQL.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result

CARD = {"id_token": "04A2B3C4", "type": "ISO14443"}
FAMILY = {"id_token": "FAMILY", "type": "Central"}


class Station(ChargePoint):
    """Answers RequestStart/StopTransaction Accepted; what to do next is the test's, as a firmware's would be."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.starts: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.stops: asyncio.Queue[str] = asyncio.Queue()

    @on("RequestStartTransaction")
    def on_request_start_transaction(self, **request: Any) -> call_result.RequestStartTransaction:
        return call_result.RequestStartTransaction(status="Accepted")

    @after("RequestStartTransaction")
    def after_request_start_transaction(self, **request: Any) -> None:
        self.starts.put_nowait(request)

    @on("RequestStopTransaction")
    def on_request_stop_transaction(self, transaction_id: str, **_: Any) -> call_result.RequestStopTransaction:
        return call_result.RequestStopTransaction(status="Accepted")

    @after("RequestStopTransaction")
    def after_request_stop_transaction(self, transaction_id: str, **_: Any) -> None:
        self.stops.put_nowait(transaction_id)


NOW = datetime.now(UTC).replace(microsecond=0)


def ago(minutes: float) -> str:
    return (NOW - timedelta(minutes=minutes)).isoformat()


def reading(wh: float, minutes_ago: float, context: str | None = None) -> dict[str, Any]:
    value: dict[str, Any] = {"value": wh}
    if context:
        value["context"] = context
    return {"timestamp": ago(minutes_ago), "sampled_value": [value]}


def event(kind: str, seq: int, trigger: str, tx: str, minutes_ago: float, **extra: Any) -> call.TransactionEvent:
    return call.TransactionEvent(event_type=kind, timestamp=ago(minutes_ago), trigger_reason=trigger, seq_no=seq,
                                 transaction_info={"transaction_id": tx, **extra.pop("info", {})}, **extra)


async def test_a_v201_station_charges_locally_offline_and_remotely(db, charger, events):
    await db.execute("SELECT ocpp.add_charge_point('CP-201')")
    await db.execute("SELECT ocpp.add_id_tag('04A2B3C4', parent_id_tag => 'FAMILY', id_token_type => 'ISO14443')")
    async with charger("CP-201", subprotocols=["ocpp2.0.1"], charge_point_class=Station) as cs:
        if await db.fetchval("SELECT to_regprocedure('ocpp.v201_boot_notification(text, text, jsonb)') IS NOT NULL"):
            boot = await cs.call(call.BootNotification(
                charging_station={"model": "Volt-2", "vendor_name": "Acme"}, reason="PowerUp"), suppress=False)
            assert boot.status == "Accepted"

        authorized = await cs.call(call.Authorize(id_token=CARD), suppress=False)
        assert authorized.id_token_info == {"status": "Accepted", "group_id_token": FAMILY}

        # A local session on EVSE 1.
        started = await cs.call(event("Started", 0, "Authorized", "LOCAL-1", 60, id_token=CARD,
                                      evse={"id": 1, "connector_id": 1}, info={"charging_state": "Charging"},
                                      meter_value=[reading(1_000_000, 60, "Transaction.Begin")]), suppress=False)
        assert started.id_token_info == {"status": "Accepted", "group_id_token": FAMILY}
        begun = await events.wait(event="transaction_started", remote_id="LOCAL-1")
        assert (begun["evse_id"], begun["id_tag"], begun["authorization_status"], begun["ocpp_version"]) == (
            1, "04A2B3C4", "Accepted", "2.0.1")
        updated = await cs.call(event("Updated", 1, "MeterValuePeriodic", "LOCAL-1", 30,
                                      meter_value=[reading(1_004_000, 30)]), suppress=False)
        assert updated.id_token_info is None
        ended = await cs.call(event("Ended", 2, "StopAuthorized", "LOCAL-1", 20, id_token=CARD,
                                    info={"charging_state": "EVConnected"},
                                    meter_value=[reading(1_006_500, 20, "Transaction.End")]), suppress=False)
        assert ended.id_token_info["status"] == "Accepted"
        stopped = await events.wait(event="transaction_stopped", remote_id="LOCAL-1")
        assert (stopped["energy_wh"], stopped["reason"]) == (6_500, "Local")

        # A session the station kept while offline, replayed late and out of order (TC_E_31).
        replay = [
            event("Ended", 3, "EVCommunicationLost", "OFFLINE-1", 200, offline=True,
                  info={"stopped_reason": "EVDisconnected", "charging_state": "Idle"},
                  meter_value=[reading(5_000_030, 200, "Transaction.End")]),
            event("Updated", 2, "MeterValuePeriodic", "OFFLINE-1", 210, offline=True,
                  meter_value=[reading(5_000_020, 210)]),
            # Back from a power cut, the meter was not read yet: 0, then the lifetime register.
            event("Started", 0, "Authorized", "OFFLINE-1", 240, offline=True, id_token=CARD, evse={"id": 1},
                  meter_value=[reading(0, 240, "Transaction.Begin")]),
            event("Updated", 1, "MeterValuePeriodic", "OFFLINE-1", 230, offline=True,
                  meter_value=[reading(5_000_000, 230)]),
        ]
        for message in replay:
            await cs.call(message, suppress=False)

        # Started and stopped from SQL on EVSE 2.
        command_id = await db.fetchval(
            "SELECT ocpp.request_start_transaction('CP-201', 'APP-USER-7', evse_id => 2)")
        request = await asyncio.wait_for(cs.starts.get(), 10)
        assert (request["id_token"], request["evse_id"]) == ({"id_token": "APP-USER-7", "type": "Central"}, 2)
        assert (await events.command(command_id))["status"] == "accepted"
        remote = await cs.call(event("Started", 0, "RemoteStart", "REMOTE-1", 10, id_token=request["id_token"],
                                     evse={"id": 2, "connector_id": 1},
                                     info={"remote_start_id": request["remote_start_id"]},
                                     meter_value=[reading(500, 10, "Transaction.Begin")]), suppress=False)
        assert remote.id_token_info == {"status": "Accepted"}
        stop_id = await db.fetchval("SELECT ocpp.request_stop_transaction('CP-201', 'REMOTE-1')")
        assert await asyncio.wait_for(cs.stops.get(), 10) == "REMOTE-1"
        assert (await events.command(stop_id))["status"] == "accepted"
        await cs.call(event("Ended", 1, "RemoteStop", "REMOTE-1", 0, info={"stopped_reason": "Remote"},
                            meter_value=[reading(2_700, 0, "Transaction.End")]), suppress=False)
        await events.wait(event="transaction_stopped", remote_id="REMOTE-1")

    rows = {r["transaction_id"]: dict(r) for r in await db.fetch(
        "SELECT * FROM ocpp.transactions WHERE charge_point_id = 'CP-201'")}
    assert set(rows) == {"LOCAL-1", "OFFLINE-1", "REMOTE-1"}
    assert {tx: (r["ocpp_version"], r["energy_wh"], r["stop_reason"], r["evse_id"]) for tx, r in rows.items()} == {
        "LOCAL-1": ("2.0.1", 6_500, "Local", 1),
        "OFFLINE-1": ("2.0.1", 30, "EVDisconnected", 1),  # the 0 at Begin is no baseline for the register
        "REMOTE-1": ("2.0.1", 2_200, "Remote", 2)}
    offline = rows["OFFLINE-1"]
    assert (offline["offline"], offline["last_seq_no"], offline["start_trigger_reason"], offline["id_tag"],
            offline["charging_state"]) == (True, 3, "Authorized", "04A2B3C4", "Idle")
    assert offline["stopped_at"] - offline["started_at"] == timedelta(minutes=40)
    remote_row = rows["REMOTE-1"]
    assert (remote_row["remote_command_id"], remote_row["stop_trigger_reason"], remote_row["id_tag"]) == (
        command_id, "RemoteStop", "APP-USER-7")
    assert rows["LOCAL-1"]["remote_command_id"] is None
    assert await db.fetchval("SELECT count(*) FROM ocpp.transaction_events WHERE charge_point_id = 'CP-201'") == 9
    # Its Ended came first: a transaction never heard of, recorded from it and flagged.
    flagged = await db.fetch("SELECT kind, transaction_id FROM ocpp.anomalies WHERE charge_point_id = 'CP-201'")
    assert [tuple(r) for r in flagged] == [("unknown_transaction_stop", offline["id"])]
