"""OCPP 2.0.1 provisioning, availability and security at the SQL layer.

BootNotification and Heartbeat by 1.6's registration rules, StatusNotification
and NotifyEvent into the connectors 1.6 uses, ChangeAvailability, Reset and
TriggerMessage from one helper per action for both versions, SetNetworkProfile,
and the BasicAuthPassword rotation (A01). Every CALL payload is checked against
the 2.0.1 request schema before it goes in, every answer against the response
schema; every command a helper queues is checked as the proxy would.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from pgcsms.proxy.ocppj import Validator

pytestmark = pytest.mark.rollback

V201 = Validator("2.0.1")
V16 = Validator("1.6")
NODE = "node-a"
STATION = "CS-1"
BOOT = {"reason": "PowerUp", "chargingStation": {"model": "M-20", "vendorName": "Vendor"}}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Reply:
    result: dict[str, Any] | None
    error_code: str | None


async def call(db: asyncpg.Connection, action: str, payload: dict[str, Any], station: str = STATION,
               unique_id: str | None = None) -> Reply:
    """A 2.0.1 CALL through ocpp.parse, its payload and its answer checked against the schemas."""
    V201.check_request(action, payload)
    row = await db.fetchrow(
        "SELECT result::text, error_code FROM ocpp.parse($1, $2, $3, $4::jsonb, '2.0.1', $5)",
        station, unique_id or uuid.uuid4().hex, action, json.dumps(payload), NODE)
    result = None if row["result"] is None else json.loads(row["result"])
    if result is not None:
        V201.check_response(action, result)
    return Reply(result, row["error_code"])


class Station:
    """Plays a 2.0.1 station and its proxy: claims each command, checks it, answers it."""

    def __init__(self, db: asyncpg.Connection, identity: str, epoch: int) -> None:
        self.db = db
        self.identity = identity
        self.epoch = epoch

    async def claim(self) -> asyncpg.Record | None:
        row = await self.db.fetchrow("SELECT * FROM ocpp.next_command($1, $2, $3)", self.identity, NODE, self.epoch)
        if row is not None:
            V201.check_request(row["action"], json.loads(row["payload"]))
        return row

    async def answer(self, command_id: int, response: dict[str, Any]) -> asyncpg.Record:
        action = await self.db.fetchval("SELECT action FROM ocpp.commands WHERE id = $1", command_id)
        V201.check_response(action, response)
        assert await self.db.fetchval("SELECT ocpp.complete_command($1, $2, $3::jsonb, NULL, NULL, $4)",
                                      self.identity, str(command_id), json.dumps(response), NODE)
        return await self.db.fetchrow("SELECT * FROM ocpp.commands WHERE id = $1", command_id)

    async def run(self, sql: str, *args: Any, response: dict[str, Any]) -> asyncpg.Record:
        """Queue with a helper, receive it, answer it: the command row afterwards."""
        command_id = await self.db.fetchval(sql, *args)
        row = await self.claim()
        assert row is not None and row["command_id"] == command_id
        return await self.answer(command_id, response)


async def online(db: asyncpg.Connection, identity: str = STATION, status: str = "Accepted") -> Station:
    await db.execute("SELECT ocpp.add_charge_point($1, $2)", identity, status)
    epoch = await db.fetchval("SELECT epoch FROM ocpp.connect($1, $2, NULL, '2.0.1')", identity, NODE)
    return Station(db, identity, epoch)


@pytest.fixture
async def station(db: asyncpg.Connection) -> Station:
    """CS-1, Accepted, connected with OCPP 2.0.1."""
    return await online(db)


@pytest.fixture(autouse=True)
async def effects_never_fail(db: asyncpg.Connection):
    """An effect that raised is kept as an anomaly: here that is a bug."""
    yield
    assert await db.fetch("SELECT detail FROM ocpp.anomalies WHERE kind = 'command_effect_failed'") == []


class Heard:
    """A second connection LISTENing to ocpp_event and pgcsms_command: (channel, payload) in order."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection
        self.queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    async def start(self) -> Heard:
        for channel in ("ocpp_event", "pgcsms_command"):
            await self.connection.add_listener(channel, lambda _c, _p, ch, data: self.queue.put_nowait((ch, data)))
        return self

    async def until(self, marker: str) -> list[tuple[str, Any]]:
        """Everything heard before ``pg_notify('ocpp_event', marker)`` (sent now): events decoded."""
        await self.connection.execute("SELECT pg_notify('ocpp_event', $1)", marker)
        heard = []
        while (item := await asyncio.wait_for(self.queue.get(), 5)) != ("ocpp_event", marker):
            heard.append((item[0], json.loads(item[1]) if item[0] == "ocpp_event" else item[1]))
        return heard


@pytest.fixture
async def heard(dsn: str):
    connection = await asyncpg.connect(dsn)
    try:
        yield await Heard(connection).start()
    finally:
        await connection.close()


# -- BootNotification and Heartbeat ------------------------------------------------

@pytest.mark.parametrize(("status", "interval"), [("Accepted", 300), ("Pending", 60), ("Rejected", 60)])
async def test_boot_answers_the_registration_status(db, status, interval):
    await online(db, status=status)
    reply = await call(db, "BootNotification", BOOT)
    assert (reply.result["status"], reply.result["interval"]) == (status, interval)
    assert abs(datetime.fromisoformat(reply.result["currentTime"]) - datetime.now(UTC)) < timedelta(seconds=5)


async def test_boot_stores_the_station_and_its_reason(db, station):
    full = {"reason": "FirmwareUpdate", "chargingStation": {
        "model": "M-20", "vendorName": "Vendor", "serialNumber": "SN-7", "firmwareVersion": "2.1",
        "modem": {"iccid": "8931", "imsi": "2620"}}}
    await call(db, "BootNotification", full)
    row = await db.fetchrow("SELECT * FROM ocpp.charge_points WHERE id = $1", STATION)
    assert (row["vendor"], row["model"], row["serial_number"], row["firmware_version"], row["iccid"], row["imsi"],
            row["boot_reason"], row["ocpp_version"]) == ("Vendor", "M-20", "SN-7", "2.1", "8931", "2620",
                                                         "FirmwareUpdate", "2.0.1")
    assert row["last_boot_at"] is not None
    await call(db, "BootNotification", BOOT)  # a boot says the whole truth again
    row = await db.fetchrow("SELECT serial_number, iccid, boot_reason FROM ocpp.charge_points WHERE id = $1", STATION)
    assert tuple(row) == (None, None, "PowerUp")


@pytest.mark.parametrize(("policy", "status"), [("accept", "Accepted"), ("pending", "Pending")])
async def test_an_unknown_station_follows_the_policy_of_1_6(db, policy, status):
    await db.execute("SELECT ocpp.set_setting('unknown_charge_points', $1)", policy)
    assert (await call(db, "BootNotification", BOOT, station="NEW-1")).result["status"] == status
    assert await db.fetchval("SELECT registration_status FROM ocpp.charge_points WHERE id = 'NEW-1'") == status


async def test_an_unknown_station_under_reject_is_refused(db):
    await db.execute("SELECT ocpp.set_setting('unknown_charge_points', 'reject')")
    assert (await call(db, "BootNotification", BOOT, station="NEW-1")).error_code == "SecurityError"
    assert await db.fetchval("SELECT count(*) FROM ocpp.charge_points") == 0


async def test_1_6_and_2_0_1_boot_by_the_same_rule(db, station):
    await db.execute("SELECT ocpp.set_setting('heartbeat_interval', '77')")
    await db.execute("SELECT ocpp.add_charge_point('CP-16')")
    v201 = (await call(db, "BootNotification", BOOT)).result
    row = await db.fetchrow("SELECT result::text FROM ocpp.parse('CP-16', 'u', 'BootNotification', $1::jsonb)",
                            json.dumps({"chargePointVendor": "V", "chargePointModel": "M"}))
    v16 = json.loads(row["result"])
    V16.check_response("BootNotification", v16)
    assert (v201["status"], v201["interval"]) == (v16["status"], v16["interval"]) == ("Accepted", 77)
    assert set(v201) == set(v16) == {"status", "currentTime", "interval"}


async def test_heartbeat(db, station):
    reply = await call(db, "Heartbeat", {})
    assert abs(datetime.fromisoformat(reply.result["currentTime"]) - datetime.now(UTC)) < timedelta(seconds=5)


async def test_boot_events_and_the_wake_up_of_waiting_commands(fresh_db, heard):
    """Accepted at last: the commands that waited while Pending are nudged out (pgcsms_command)."""
    db = fresh_db
    await online(db, status="Pending")
    await call(db, "BootNotification", BOOT)
    await db.execute("SELECT ocpp.reset($1)", STATION)
    assert (await heard.until("1"))[1:] == [
        ("ocpp_event", {"event": "boot", "charge_point_id": STATION, "status": "Pending", "reason": "PowerUp",
                        "ocpp_version": "2.0.1"}),
        ("pgcsms_command", STATION)]  # by ocpp.send; the proxy claims nothing while Pending
    await db.execute("SELECT ocpp.add_charge_point($1, 'Accepted')", STATION)
    # The station still believes it is Pending: it is asked to boot again now (B02).
    assert await db.fetchval("SELECT payload FROM ocpp.commands WHERE action = 'TriggerMessage'") == json.dumps(
        {"requestedMessage": "BootNotification"})
    await call(db, "BootNotification", BOOT)
    assert await heard.until("2") == [
        ("pgcsms_command", STATION),  # the TriggerMessage queued
        ("pgcsms_command", STATION),  # accepted: what waited may go
        ("ocpp_event", {"event": "boot", "charge_point_id": STATION, "status": "Accepted", "reason": "PowerUp",
                        "ocpp_version": "2.0.1"})]
    # Nothing queued: an accepted boot wakes nobody.
    await db.execute("SELECT ocpp.cancel(id) FROM ocpp.commands")
    await heard.until("3")
    await call(db, "BootNotification", BOOT)
    assert [channel for channel, _ in await heard.until("4")] == ["ocpp_event"]


async def test_commands_wait_while_pending_except_the_allowed_ones(db):
    station = await online(db, status="Pending")
    assert (await call(db, "BootNotification", BOOT)).result["status"] == "Pending"
    reset = await db.fetchval("SELECT ocpp.reset($1)", STATION)
    get = await db.fetchval("SELECT ocpp.get_variables($1, ARRAY['OCPPCommCtrlr/OfflineThreshold'])", STATION)
    row = await station.claim()
    assert (row["command_id"], row["action"]) == (get, "GetVariables")
    await station.answer(get, {"getVariableResult": [{
        "attributeStatus": "Accepted", "attributeValue": "60", "component": {"name": "OCPPCommCtrlr"},
        "variable": {"name": "OfflineThreshold"}}]})
    assert await station.claim() is None  # the Reset waits
    await db.execute("SELECT ocpp.add_charge_point($1, 'Accepted')", STATION)
    assert (await call(db, "BootNotification", BOOT)).result["status"] == "Accepted"
    row = await station.claim()
    assert (row["command_id"], json.loads(row["payload"])) == (reset, {"type": "OnIdle"})


# -- StatusNotification ----------------------------------------------------------

async def status(db, evse: int, connector: int, state: str, at: datetime | None = None) -> Reply:
    return await call(db, "StatusNotification", {"timestamp": iso(at or datetime.now(UTC)), "connectorStatus": state,
                                                 "evseId": evse, "connectorId": connector})


async def test_status_notification_fills_the_connectors_of_each_evse(db, station):
    now = await db.fetchval("SELECT now()")
    assert (await status(db, 1, 1, "Available", now - timedelta(minutes=2))).result == {}
    await status(db, 2, 1, "Occupied", now - timedelta(minutes=1))
    await status(db, 1, 1, "Faulted", now - timedelta(minutes=1))
    rows = await db.fetch("SELECT evse_id, connector_id, status, status_at FROM ocpp.connectors "
                          "WHERE charge_point_id = $1 ORDER BY evse_id, connector_id", STATION)
    assert [tuple(r) for r in rows] == [(1, 1, "Faulted", now - timedelta(minutes=1)),
                                        (2, 1, "Occupied", now - timedelta(minutes=1))]
    history = await db.fetch("SELECT evse_id, connector_id, status FROM ocpp.status_history ORDER BY id")
    assert [tuple(r) for r in history] == [(1, 1, "Available"), (2, 1, "Occupied"), (1, 1, "Faulted")]


async def test_a_replayed_status_goes_to_history_only(db, station):
    now = await db.fetchval("SELECT now()")
    await status(db, 1, 1, "Occupied", now - timedelta(minutes=1))
    await status(db, 1, 1, "Available", now - timedelta(hours=1))
    assert await db.fetchval("SELECT status FROM ocpp.connectors WHERE evse_id = 1 AND connector_id = 1") == "Occupied"
    assert await db.fetchval("SELECT count(*) FROM ocpp.status_history") == 2


async def test_a_clock_far_ahead_is_flagged_as_in_1_6(db, station):
    await status(db, 1, 1, "Available", datetime.now(UTC) + timedelta(hours=1))
    assert await db.fetchval("SELECT clock_skew FROM ocpp.charge_points WHERE id = $1", STATION) is not None


@pytest.mark.parametrize("registration", ["Pending", "Rejected"])
async def test_status_and_events_before_acceptance_are_security_errors(db, registration):
    await online(db, status=registration)
    await call(db, "BootNotification", BOOT)
    assert (await status(db, 1, 1, "Available")).error_code == "SecurityError"
    event = {"generatedAt": iso(datetime.now(UTC)), "seqNo": 0, "eventData": [{
        "eventId": 1, "timestamp": iso(datetime.now(UTC)), "trigger": "Delta", "actualValue": "Available",
        "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
        "variable": {"name": "AvailabilityState"}, "eventNotificationType": "HardWiredNotification"}]}
    assert (await call(db, "NotifyEvent", event)).error_code == "SecurityError"
    assert await db.fetchval("SELECT count(*) FROM ocpp.connectors") == 0
    assert await db.fetchval("SELECT count(*) FROM ocpp.station_events") == 0


async def test_status_events_say_which_evse(fresh_db, heard):
    await online(fresh_db)
    await status(fresh_db, 2, 1, "Occupied")
    await status(fresh_db, 2, 1, "Occupied")  # no change, no event
    assert [event for channel, event in await heard.until("1") if event["event"] == "status"] == [{
        "event": "status", "charge_point_id": STATION, "evse_id": 2, "connector_id": 1, "status": "Occupied",
        "error_code": None, "ocpp_version": "2.0.1"}]


# -- NotifyEvent ---------------------------------------------------------------------

def event(event_id: int, component: dict[str, Any], variable: str, value: str, at: datetime,
          **extra: Any) -> dict[str, Any]:
    return {"eventId": event_id, "timestamp": iso(at), "trigger": "Delta", "actualValue": value,
            "component": component, "variable": {"name": variable},
            "eventNotificationType": "HardWiredNotification", **extra}


async def test_notify_event_keeps_every_event(db, station):
    now = await db.fetchval("SELECT now()")
    payload = {"generatedAt": iso(now), "seqNo": 3, "tbc": True, "eventData": [
        event(10, {"name": "ConnectorPlugRetentionLock", "evse": {"id": 1, "connectorId": 1}}, "Problem", "true",
              now - timedelta(seconds=5), cause=9, techCode="E12", techInfo="lock stuck", cleared=False,
              transactionId="tx-1", variableMonitoringId=4),
        event(11, {"name": "Controller", "instance": "main"}, "Temperature", "81.5", now, trigger="Alerting",
              eventNotificationType="CustomMonitor")]}
    assert (await call(db, "NotifyEvent", payload)).result == {}
    rows = await db.fetch("SELECT * FROM ocpp.station_events ORDER BY event_id")
    first, second = (dict(r) for r in rows)
    assert {k: first[k] for k in ("event_id", "charger_at", "trigger", "cause", "actual_value", "tech_code",
                                  "tech_info", "cleared", "transaction_id", "component", "evse_id", "connector_id",
                                  "variable", "variable_monitoring_id", "event_notification_type", "seq_no", "tbc",
                                  "generated_at")} == {
        "event_id": 10, "charger_at": now - timedelta(seconds=5), "trigger": "Delta", "cause": 9,
        "actual_value": "true", "tech_code": "E12", "tech_info": "lock stuck", "cleared": False,
        "transaction_id": "tx-1", "component": "ConnectorPlugRetentionLock", "evse_id": 1, "connector_id": 1,
        "variable": "Problem", "variable_monitoring_id": 4, "event_notification_type": "HardWiredNotification",
        "seq_no": 3, "tbc": True, "generated_at": now}
    assert (second["component_instance"], second["trigger"], second["event_notification_type"], second["evse_id"],
            second["tbc"]) == ("main", "Alerting", "CustomMonitor", None, True)
    # The same message again (its answer was lost): kept once.
    await call(db, "NotifyEvent", payload)
    assert await db.fetchval("SELECT count(*) FROM ocpp.station_events") == 2
    assert await db.fetchval("SELECT count(*) FROM ocpp.connectors") == 0  # no AvailabilityState among them


async def test_availability_state_events_set_the_connector_status(db, station):
    now = await db.fetchval("SELECT now()")
    payload = {"generatedAt": iso(now), "seqNo": 0, "eventData": [
        event(2, {"name": "Connector", "evse": {"id": 1, "connectorId": 1}}, "AvailabilityState", "Occupied", now),
        event(1, {"name": "Connector", "evse": {"id": 1, "connectorId": 1}}, "AvailabilityState", "Available",
              now - timedelta(seconds=1)),
        event(3, {"name": "EVSE", "evse": {"id": 2}}, "AvailabilityState", "Unavailable", now),
        event(4, {"name": "ChargingStation"}, "AvailabilityState", "Available", now),
        event(5, {"name": "Connector", "evse": {"id": 3}}, "AvailabilityState", "Faulted", now),  # which connector?
    ]}
    assert (await call(db, "NotifyEvent", payload)).result == {}
    rows = await db.fetch("SELECT evse_id, connector_id, status, status_at FROM ocpp.connectors "
                          "ORDER BY evse_id, connector_id")
    assert [tuple(r) for r in rows] == [(0, 0, "Available", now), (1, 1, "Occupied", now),
                                        (2, 0, "Unavailable", now)]
    assert await db.fetchval("SELECT count(*) FROM ocpp.station_events") == 5
    assert await db.fetchval("SELECT count(*) FROM ocpp.status_history") == 4
    # An event older than the state held changes the history only (names are case-insensitive).
    await call(db, "NotifyEvent", {"generatedAt": iso(now), "seqNo": 1, "eventData": [
        event(6, {"name": "connector", "evse": {"id": 1, "connectorId": 1}}, "availabilitystate", "Reserved",
              now - timedelta(minutes=5))]})
    assert await db.fetchval("SELECT status FROM ocpp.connectors WHERE evse_id = 1 AND connector_id = 1") == "Occupied"
    assert await db.fetchval("SELECT count(*) FROM ocpp.status_history") == 5


# -- ChangeAvailability, Reset, TriggerMessage: one helper, two versions -----------

async def test_change_availability_of_station_evse_and_connector(db, station):
    await status(db, 1, 2, "Available")
    whole = await station.run("SELECT ocpp.change_availability($1, NULL, 'Inoperative')", STATION,
                              response={"status": "Accepted"})
    evse = await station.run("SELECT ocpp.change_availability($1, 0, 'Inoperative', evse_id => 1)", STATION,
                             response={"status": "Scheduled"})
    connector = await station.run("SELECT ocpp.change_availability($1, 2, 'Operative', evse_id => 1)", STATION,
                                  response={"status": "Accepted"})
    refused = await station.run("SELECT ocpp.change_availability($1, 1, 'Inoperative', evse_id => 2)", STATION,
                                response={"status": "Rejected"})
    assert [json.loads(c["payload"]) for c in (whole, evse, connector)] == [
        {"operationalStatus": "Inoperative"},
        {"operationalStatus": "Inoperative", "evse": {"id": 1}},
        {"operationalStatus": "Operative", "evse": {"id": 1, "connectorId": 2}}]
    assert (whole["status"], evse["status"], refused["status"]) == ("accepted", "accepted", "rejected")
    rows = await db.fetch("SELECT evse_id, connector_id, availability, scheduled, connector_status, command_id "
                          "FROM ocpp.connector_availability ORDER BY evse_id, connector_id")
    assert [tuple(r) for r in rows] == [(0, 0, "Inoperative", False, None, whole["id"]),
                                        (1, 0, "Inoperative", True, None, evse["id"]),
                                        (1, 2, "Operative", False, "Available", connector["id"])]


async def test_change_availability_of_1_6_is_unchanged(db):
    await db.execute("SELECT ocpp.add_charge_point('CP-16')")
    epoch = await db.fetchval("SELECT epoch FROM ocpp.connect('CP-16', $1)", NODE)
    command_id = await db.fetchval("SELECT ocpp.change_availability('CP-16', 2, 'Inoperative')")
    row = await db.fetchrow("SELECT * FROM ocpp.next_command('CP-16', $1, $2)", NODE, epoch)
    assert json.loads(row["payload"]) == {"connectorId": 2, "type": "Inoperative"}
    await db.execute("SELECT ocpp.complete_command('CP-16', $1, '{\"status\": \"Accepted\"}')", str(command_id))
    row = await db.fetchrow("SELECT evse_id, connector_id, availability FROM ocpp.connector_availability")
    assert tuple(row) == (2, 2, "Inoperative")


@pytest.mark.parametrize(("sql", "payload"), [
    ("ocpp.reset($1)", {"type": "OnIdle"}),
    ("ocpp.reset($1, 'Immediate')", {"type": "Immediate"}),
    ("ocpp.reset($1, type => 'OnIdle', evse_id => 2)", {"type": "OnIdle", "evseId": 2}),
    ("ocpp.trigger_message($1, 'BootNotification')", {"requestedMessage": "BootNotification"}),
    ("ocpp.trigger_message($1, 'StatusNotification', 1, evse_id => 2)",
     {"requestedMessage": "StatusNotification", "evse": {"id": 2, "connectorId": 1}}),
    ("ocpp.trigger_message($1, 'MeterValues', evse_id => 1)", {"requestedMessage": "MeterValues", "evse": {"id": 1}}),
])
async def test_shared_helpers_build_the_2_0_1_payload(db, station, sql, payload):
    await db.fetchval(f"SELECT {sql}", STATION)
    assert json.loads((await station.claim())["payload"]) == payload


@pytest.mark.parametrize(("sql", "hint"), [
    ("ocpp.reset($1, 'Soft')", "OCPP 1.6"),
    ("ocpp.reset($1, 'Hard')", "OCPP 1.6"),
    ("ocpp.change_availability($1, 1, 'Inoperative')", "evse_id"),
    ("ocpp.change_availability($1, NULL, 'Unavailable')", None),
    ("ocpp.trigger_message($1, 'DiagnosticsStatusNotification')", "LogStatusNotification"),
    ("ocpp.trigger_message($1, 'StatusNotification', 1)", "evse_id"),
    # F8, F06.FR.13 (errata 2.6.2), TC_F_23/24: StatusNotification is triggered for one connector of one EVSE.
    ("ocpp.trigger_message($1, 'StatusNotification')", "evse_id => 1, connector_id => 1"),
    ("ocpp.trigger_message($1, 'StatusNotification', evse_id => 1)", "evse_id => 1, connector_id => 1"),
])
async def test_a_1_6_value_for_a_2_0_1_station_is_refused_with_a_hint(db, station, fails, sql, hint):
    async with fails(asyncpg.InvalidParameterValueError) as caught:
        await db.fetchval(f"SELECT {sql}", STATION)
    if hint is not None:
        assert hint in caught.value.hint
    assert await db.fetchval("SELECT count(*) FROM ocpp.commands") == 0


@pytest.mark.parametrize(("sql", "hint"), [
    ("ocpp.reset('CP-16', 'OnIdle')", "2.0.1"),
    ("ocpp.reset('CP-16', 'Immediate')", "2.0.1"),
    ("ocpp.reset('CP-16', evse_id => 1)", "evse_id"),
    ("ocpp.change_availability('CP-16', 1, 'Inoperative', evse_id => 1)", "connector_id"),
    ("ocpp.trigger_message('CP-16', 'StatusNotification', evse_id => 1)", "connector_id"),
    ("ocpp.trigger_message('CP-16', 'SignChargingStationCertificate')", "extended_trigger_message"),
])
async def test_a_2_0_1_value_for_a_1_6_charger_is_refused_with_a_hint(db, fails, sql, hint):
    await db.execute("SELECT ocpp.add_charge_point('CP-16')")
    async with fails(asyncpg.InvalidParameterValueError) as caught:
        await db.fetchval(f"SELECT {sql}")
    assert hint in caught.value.hint


async def test_1_6_calls_of_the_shared_helpers_keep_working(db):
    """Positional and named, as before the helpers learnt 2.0.1 (a charger that never connected is 1.6)."""
    await db.execute("SELECT ocpp.add_charge_point('CP-16')")
    for sql, payload in [("ocpp.reset('CP-16')", {"type": "Soft"}),
                         ("ocpp.reset('CP-16', 'Hard')", {"type": "Hard"}),
                         ("ocpp.reset('CP-16', type => 'Hard', expires_at => now() + interval '1 h')",
                          {"type": "Hard"}),
                         ("ocpp.change_availability('CP-16', 0, 'Inoperative')",
                          {"connectorId": 0, "type": "Inoperative"}),
                         ("ocpp.trigger_message('CP-16', 'StatusNotification', 1)",
                          {"requestedMessage": "StatusNotification", "connectorId": 1}),
                         ("ocpp.trigger_message('CP-16', requested_message => 'Heartbeat')",
                          {"requestedMessage": "Heartbeat"})]:
        command_id = await db.fetchval(f"SELECT {sql}")
        row = await db.fetchrow("SELECT action, payload FROM ocpp.commands WHERE id = $1", command_id)
        V16.check_request(row["action"], json.loads(row["payload"]))
        assert json.loads(row["payload"]) == payload


async def test_one_signature_each(db):
    overloads = await db.fetch("SELECT proname, count(*) FROM pg_proc WHERE pronamespace = 'ocpp'::regnamespace "
                               "AND proname IN ('reset', 'change_availability', 'trigger_message') GROUP BY proname")
    assert {r["proname"]: r["count"] for r in overloads} == {"reset": 1, "change_availability": 1,
                                                             "trigger_message": 1}


# -- SetNetworkProfile --------------------------------------------------------------

async def test_set_network_profile_is_stored_without_its_passwords(db, station):
    accepted = await station.run(
        "SELECT ocpp.set_network_profile($1, 1, 'wss://csms.example.com/ocpp', 2, vpn => $2::jsonb, apn => $3::jsonb)",
        STATION, json.dumps({"server": "vpn.example.com", "user": "cs1", "password": "vpn-secret", "key": "psk-secret",
                             "type": "IPSec"}),
        json.dumps({"apn": "iot.example", "apnPassword": "apn-secret", "apnAuthentication": "AUTO"}),
        response={"status": "Accepted"})
    failed = await station.run("SELECT ocpp.set_network_profile($1, 2, 'wss://other.example.com/ocpp', 3)", STATION,
                               response={"status": "Failed"})
    assert failed["status"] == "rejected"
    rows = await db.fetch("SELECT * FROM ocpp.network_profiles")
    assert len(rows) == 1
    row = dict(rows[0])
    assert (row["configuration_slot"], row["ocpp_csms_url"], row["security_profile"], row["ocpp_version"],
            row["ocpp_transport"], row["ocpp_interface"], row["message_timeout"], row["command_id"]) == (
        1, "wss://csms.example.com/ocpp", 2, "OCPP20", "JSON", "Wired0", 30, accepted["id"])
    assert json.loads(row["vpn"])["password"] == json.loads(row["vpn"])["key"] == "********"
    assert json.loads(row["apn"])["apnPassword"] == "********"
    everything = await db.fetchval("SELECT string_agg(payload::text, ' ') FROM ocpp.message_log")
    everything += await db.fetchval("SELECT string_agg(payload::text, ' ') FROM ocpp.commands")
    assert "secret" not in everything


# -- A01: BasicAuthPassword, as 1.6's AuthorizationKey -----------------------------

NEW_PASSWORD = "a-new-password-of-28-chars!!"
OLD_PASSWORD = "the-old-password-of-28-chars"


async def authenticates(db, password: str) -> bool:
    return await db.fetchval("SELECT allowed FROM ocpp.authenticate($1, $2, 'ws', NULL)", STATION, password)


@pytest.mark.parametrize(("answer", "takes"), [("Accepted", True), ("RebootRequired", True), ("Rejected", False)])
async def test_basic_auth_password_rotation(db, station, answer, takes):
    await db.execute("SELECT ocpp.set_password($1, $2)", STATION, OLD_PASSWORD)
    command_id = await db.fetchval(
        "SELECT ocpp.set_variables($1, jsonb_build_object('SecurityCtrlr/BasicAuthPassword', $2::text))",
        STATION, NEW_PASSWORD)
    row = await station.claim()
    assert json.loads(row["payload"])["setVariableData"][0]["attributeValue"] == NEW_PASSWORD  # the station gets it
    command = await station.answer(command_id, {"setVariableResult": [{
        "attributeStatus": answer, "component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}}]})
    assert command["status"] == "completed"
    assert await authenticates(db, NEW_PASSWORD) is takes
    assert await authenticates(db, OLD_PASSWORD) is not takes
    # Never in clear: not in the command, the journal, the device model nor any view.
    assert await db.fetchval("SELECT secret_payload FROM pgcsms.commands WHERE id = $1", command_id) is None
    views = await db.fetch("SELECT c.oid::regclass::text AS name FROM pg_class AS c "
                           "WHERE c.relnamespace = 'ocpp'::regnamespace AND c.relkind = 'v'")
    for view in views:
        text = await db.fetchval(f"SELECT coalesce(string_agg(to_jsonb(v)::text, ' '), '') FROM {view['name']} AS v")
        assert NEW_PASSWORD not in text, view["name"]
    if takes:
        row = await db.fetchrow("SELECT value, source FROM ocpp.device_variables WHERE variable = 'BasicAuthPassword'")
        assert tuple(row) == (None, "set")


async def test_a_password_the_station_could_take_but_we_could_not_store_is_refused(db, station, fails):
    async with fails(asyncpg.InvalidParameterValueError, match="at least 16"):
        await db.fetchval("SELECT ocpp.set_variables($1, '{\"SecurityCtrlr/BasicAuthPassword\": \"short\"}')", STATION)
    async with fails(asyncpg.InvalidParameterValueError, match="at least 16"):
        await db.fetchval("SELECT ocpp.send($1, 'SetVariables', $2::jsonb)", STATION, json.dumps({"setVariableData": [{
            "component": {"name": "SecurityCtrlr"}, "variable": {"name": "basicauthpassword"},
            "attributeValue": "short"}]}))
    assert await db.fetchval("SELECT count(*) FROM ocpp.commands") == 0


async def test_the_1_6_authorization_key_rotation_is_the_same_rule(db, fails):
    await db.execute("SELECT ocpp.add_charge_point('CP-16')")
    epoch = await db.fetchval("SELECT epoch FROM ocpp.connect('CP-16', $1)", NODE)
    async with fails(asyncpg.InvalidParameterValueError, match="at least 16"):
        await db.fetchval("SELECT ocpp.change_configuration('CP-16', 'AuthorizationKey', 'short')")
    command_id = await db.fetchval("SELECT ocpp.change_configuration('CP-16', 'AuthorizationKey', $1)", NEW_PASSWORD)
    row = await db.fetchrow("SELECT * FROM ocpp.next_command('CP-16', $1, $2)", NODE, epoch)
    assert json.loads(row["payload"])["value"] == NEW_PASSWORD
    await db.execute("SELECT ocpp.complete_command('CP-16', $1, '{\"status\": \"Accepted\"}')", str(command_id))
    assert await db.fetchval("SELECT allowed FROM ocpp.authenticate('CP-16', $1, 'ws', NULL)", NEW_PASSWORD)


async def test_a_garbled_frame_naming_the_password_is_journaled_without_values(db, station):
    garbled = ('[2, "x", "SetVariables", {"setVariableData": [{"attributeValue": "Sekrit0123456789", '
               '"variable": {"name": "BasicAuthPassword"}')
    await db.execute("SELECT ocpp.log_frame($1, 'out', NULL, 'x', NULL, NULL, $2)", STATION, garbled)
    raw = await db.fetchval("SELECT raw FROM ocpp.message_log WHERE unique_id = 'x'")
    assert "Sekrit0123456789" not in raw and '"attributeValue": "********"' in raw
