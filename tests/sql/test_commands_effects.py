"""Every command round trip at the SQL layer, with the effect of its answer checked.

A helper builds the command; the test, as the proxy would, claims it, checks
its payload against the official request schema, and answers with a
realistic CALLRESULT (checked against the response schema).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from pgcsms.proxy.ocppj import Validator

pytestmark = pytest.mark.rollback

VALIDATOR = Validator("1.6")
NODE = "node-a"
NOW = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Done:
    """A command after its answer."""

    id: int
    status: str
    payload: dict[str, Any]
    response: Any


class Charger:
    """Plays CP-1 and its proxy: every command queued is claimed, checked and answered at once."""

    def __init__(self, db: asyncpg.Connection, epoch: int) -> None:
        self.db = db
        self.epoch = epoch

    async def queue(self, sql: str, *args: Any) -> tuple[int, dict[str, Any]]:
        """Run a helper; claim its command; check the payload. Returns (command id, payload)."""
        command_id = await self.db.fetchval(sql, *args)
        row = await self.db.fetchrow("SELECT * FROM ocpp.next_command('CP-1', $1, $2)", NODE, self.epoch)
        assert row is not None and row["command_id"] == command_id
        payload = json.loads(row["payload"])
        VALIDATOR.check_request(row["action"], payload)
        return command_id, payload

    async def answer(self, command_id: int, response: dict[str, Any]) -> Done:
        action = await self.db.fetchval("SELECT action FROM ocpp.commands WHERE id = $1", command_id)
        VALIDATOR.check_response(action, response)
        assert await self.db.fetchval("SELECT ocpp.complete_command('CP-1', $1, $2::jsonb, NULL, NULL, $3)",
                                      str(command_id), json.dumps(response), NODE)
        row = await self.db.fetchrow("SELECT * FROM ocpp.commands WHERE id = $1", command_id)
        return Done(command_id, row["status"], json.loads(row["payload"]), json.loads(row["response"]))

    async def run(self, sql: str, *args: Any, response: dict[str, Any]) -> Done:
        command_id, _ = await self.queue(sql, *args)
        return await self.answer(command_id, response)


@pytest.fixture(autouse=True)
async def effects_never_fail(db: asyncpg.Connection) -> AsyncIterator[None]:
    """An effect that raised is caught and kept as an anomaly: here that is a bug."""
    yield
    assert await db.fetch("SELECT detail FROM ocpp.anomalies WHERE kind = 'command_effect_failed'") == []


@pytest.fixture
async def charger(db: asyncpg.Connection, cp: str) -> Charger:
    epoch = await db.fetchval("SELECT epoch FROM ocpp.connect('CP-1', $1)", NODE)
    return Charger(db, epoch)


async def rows(db: asyncpg.Connection, sql: str, *args: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in await db.fetch(sql, *args)]


_starts = itertools.count()


def start(connector: int, id_tag: str, **extra: Any) -> dict[str, Any]:
    """A StartTransaction payload, each at a time of its own (same time, tag, connector: a resend)."""
    at = (datetime.now(UTC) + timedelta(seconds=next(_starts))).isoformat(timespec="seconds")
    return {"connectorId": connector, "idTag": id_tag, "meterStart": 0, "timestamp": at, **extra}


async def status_notification(parse: Any, connector: int, status: str = "Available") -> None:
    reply = await parse("CP-1", "StatusNotification",
                        {"connectorId": connector, "errorCode": "NoError", "status": status, "timestamp": NOW})
    assert reply.error_code is None


# -- every helper ---------------------------------------------------------------

HELPERS = [
    "ocpp.remote_start_transaction('CP-1', 'TAG', connector_id => 1)",
    "ocpp.remote_stop_transaction('CP-1', 42)",
    "ocpp.reset('CP-1', type => 'Hard')",
    "ocpp.unlock_connector('CP-1', 1)",
    "ocpp.change_availability('CP-1', 0, 'Inoperative')",
    "ocpp.get_configuration('CP-1', keys => ARRAY['HeartbeatInterval'])",
    "ocpp.change_configuration('CP-1', 'HeartbeatInterval', '60')",
    "ocpp.clear_cache('CP-1')",
    "ocpp.trigger_message('CP-1', 'StatusNotification', connector_id => 1)",
    "ocpp.reserve_now('CP-1', 1, 'TAG', now() + interval '1 hour')",
    "ocpp.cancel_reservation('CP-1', 1)",
    "ocpp.send_local_list('CP-1')",
    "ocpp.get_local_list_version('CP-1')",
    """ocpp.set_charging_profile('CP-1', 1, '{"chargingProfileId": 1, "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Relative",
        "chargingSchedule": {"chargingRateUnit": "W",
                             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400}]}}')""",
    "ocpp.clear_charging_profile('CP-1', charging_profile_purpose => 'TxDefaultProfile')",
    "ocpp.get_composite_schedule('CP-1', 0, 86400, charging_rate_unit => 'W')",
    "ocpp.get_diagnostics('CP-1', 'ftp://example.com/up', retries => 2, start_time => now() - interval '1 day')",
    "ocpp.update_firmware('CP-1', 'https://example.com/fw.bin', retry_interval => 60)",
    "ocpp.data_transfer('CP-1', 'com.example', message_id => 'ping', data => 'hello')",
    "ocpp.certificate_signed('CP-1', '-----BEGIN CERTIFICATE-----')",
    "ocpp.install_certificate('CP-1', 'CentralSystemRootCertificate', '-----BEGIN CERTIFICATE-----')",
    "ocpp.get_installed_certificate_ids('CP-1', 'ManufacturerRootCertificate')",
    "ocpp.delete_certificate('CP-1', 'SHA256', 'aa', 'bb', '01')",
    "ocpp.get_log('CP-1', 'SecurityLog', 7, 'https://example.com/logs', oldest_timestamp => now() - interval '1 h')",
    "ocpp.signed_update_firmware('CP-1', 9, 'https://example.com/fw', now(), '-----BEGIN CERTIFICATE-----', 'c2ln')",
    "ocpp.extended_trigger_message('CP-1', 'SignChargePointCertificate')",
]


async def test_every_helper_builds_a_valid_payload(db, charger):
    actions = set()
    for call in HELPERS:
        command_id, _ = await charger.queue(f"SELECT {call}")
        actions.add(await db.fetchval("SELECT action FROM ocpp.commands WHERE id = $1", command_id))
        await db.execute("SELECT ocpp.fail_command($1, 'timeout')", command_id)
    assert actions == {r["action"] for r in await db.fetch(
        "SELECT action FROM ocpp.command_actions WHERE ocpp_version = '1.6'")}


async def test_helpers_leave_out_what_is_not_given(db, charger):
    _, payload = await charger.queue("SELECT ocpp.remote_start_transaction('CP-1', 'TAG')")
    assert payload == {"idTag": "TAG"}
    await db.execute("SELECT ocpp.fail_command(id, 'timeout') FROM ocpp.commands")
    _, payload = await charger.queue("SELECT ocpp.get_configuration('CP-1')")
    assert payload == {}


# -- remote start and stop, reset, unlock, cache, trigger --------------------------

async def test_remote_start_is_linked_to_the_transaction_that_follows(db, charger, parse):
    await db.execute("SELECT ocpp.add_id_tag('TAG1')")
    remote = await charger.run("SELECT ocpp.remote_start_transaction('CP-1', 'TAG1', connector_id => 1)",
                               response={"status": "Accepted"})
    assert remote.status == "accepted" and remote.payload == {"idTag": "TAG1", "connectorId": 1}
    started = await parse("CP-1", "StartTransaction", start(1, "tag1"))  # tags match case-insensitively
    transaction_id = started.result["transactionId"]
    assert await db.fetchval("SELECT remote_command_id FROM ocpp.transactions WHERE id = $1",
                             transaction_id) == remote.id
    await parse("CP-1", "StopTransaction", {"transactionId": transaction_id, "meterStop": 5, "timestamp": NOW})
    # A command starts one transaction only; a refused one starts none.
    again = await parse("CP-1", "StartTransaction", start(1, "TAG1", meterStart=5))
    assert await db.fetchval("SELECT remote_command_id FROM ocpp.transactions WHERE id = $1",
                             again.result["transactionId"]) is None

    stop = await charger.run("SELECT ocpp.remote_stop_transaction('CP-1', $1)", again.result["transactionId"],
                             response={"status": "Accepted"})
    assert stop.status == "accepted" and stop.payload == {"transactionId": again.result["transactionId"]}
    refused = await charger.run("SELECT ocpp.remote_start_transaction('CP-1', 'TAG1')",
                                response={"status": "Rejected"})
    assert refused.status == "rejected"
    await parse("CP-1", "StopTransaction", {"transactionId": again.result["transactionId"], "meterStop": 9,
                                            "timestamp": NOW})
    third = await parse("CP-1", "StartTransaction", start(1, "TAG1", meterStart=9))
    assert await db.fetchval("SELECT remote_command_id FROM ocpp.transactions WHERE id = $1",
                             third.result["transactionId"]) is None


async def test_answers_recorded_in_the_command(charger):
    reset = await charger.run("SELECT ocpp.reset('CP-1')", response={"status": "Accepted"})
    assert (reset.status, reset.payload, reset.response) == ("accepted", {"type": "Soft"}, {"status": "Accepted"})
    unlock = await charger.run("SELECT ocpp.unlock_connector('CP-1', 2)", response={"status": "UnlockFailed"})
    assert (unlock.status, unlock.payload) == ("rejected", {"connectorId": 2})
    assert (await charger.run("SELECT ocpp.clear_cache('CP-1')", response={"status": "Accepted"})).status == "accepted"
    trigger = await charger.run("SELECT ocpp.trigger_message('CP-1', 'MeterValues', connector_id => 1)",
                                response={"status": "NotImplemented"})
    assert (trigger.status, trigger.payload) == ("rejected", {"requestedMessage": "MeterValues", "connectorId": 1})
    extended = await charger.run("SELECT ocpp.extended_trigger_message('CP-1', 'LogStatusNotification')",
                                 response={"status": "Accepted"})
    assert (extended.status, extended.payload) == ("accepted", {"requestedMessage": "LogStatusNotification"})


async def test_change_availability(db, charger, parse):
    await status_notification(parse, 1)
    now = await charger.run("SELECT ocpp.change_availability('CP-1', 1, 'Inoperative')",
                            response={"status": "Accepted"})
    assert now.status == "accepted"
    later = await charger.run("SELECT ocpp.change_availability('CP-1', 2, 'Inoperative')",
                              response={"status": "Scheduled"})
    assert later.status == "accepted"
    refused = await charger.run("SELECT ocpp.change_availability('CP-1', 0, 'Inoperative')",
                                response={"status": "Rejected"})
    assert refused.status == "rejected"
    assert await rows(db, "SELECT connector_id, availability, scheduled, connector_status, command_id "
                          "FROM ocpp.connector_availability ORDER BY connector_id") == [
        {"connector_id": 1, "availability": "Inoperative", "scheduled": False, "connector_status": "Available",
         "command_id": now.id},
        {"connector_id": 2, "availability": "Inoperative", "scheduled": True, "connector_status": None,
         "command_id": later.id},
    ]


# -- configuration ------------------------------------------------------------------

async def test_get_and_change_configuration(db, charger, parse):
    everything = await charger.run("SELECT ocpp.get_configuration('CP-1')", response={"configurationKey": [
        {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
        {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
        {"key": "AuthorizationKey", "readonly": False},
    ]})
    assert everything.status == "completed"
    config = "SELECT key, value, readonly, unknown, reboot_required FROM ocpp.charger_configuration ORDER BY key"
    assert await rows(db, config) == [
        {"key": "AuthorizationKey", "value": None, "readonly": False, "unknown": False, "reboot_required": False},
        {"key": "HeartbeatInterval", "value": "300", "readonly": False, "unknown": False, "reboot_required": False},
        {"key": "NumberOfConnectors", "value": "2", "readonly": True, "unknown": False, "reboot_required": False},
    ]

    some = await charger.run("SELECT ocpp.get_configuration('CP-1', keys => ARRAY['HeartbeatInterval', 'Nope'])",
                             response={"configurationKey": [{"key": "HeartbeatInterval", "readonly": False,
                                                             "value": "60"}], "unknownKey": ["Nope"]})
    assert some.payload == {"key": ["HeartbeatInterval", "Nope"]}
    assert await rows(db, "SELECT key, value, unknown FROM ocpp.charger_configuration WHERE key IN "
                          "('HeartbeatInterval', 'Nope') ORDER BY key") == [
        {"key": "HeartbeatInterval", "value": "60", "unknown": False},
        {"key": "Nope", "value": None, "unknown": True},
    ]

    # Keys are case-insensitive (CiString50): the charger's spelling stays.
    changed = await charger.run("SELECT ocpp.change_configuration('CP-1', 'heartbeatinterval', '90')",
                                response={"status": "Accepted"})
    assert changed.payload == {"key": "heartbeatinterval", "value": "90"}
    assert await db.fetchval("SELECT value FROM ocpp.charger_configuration WHERE key = 'HeartbeatInterval'") == "90"

    reboot = await charger.run("SELECT ocpp.change_configuration('CP-1', 'MeterValueSampleInterval', '30')",
                               response={"status": "RebootRequired"})
    assert reboot.status == "accepted"
    row = await db.fetchrow("SELECT * FROM ocpp.charger_configuration WHERE key = 'MeterValueSampleInterval'")
    assert (row["value"], row["reboot_required"], row["command_id"]) == ("30", True, reboot.id)
    await parse("CP-1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
    assert not await db.fetchval(
        "SELECT reboot_required FROM ocpp.charger_configuration WHERE key = 'MeterValueSampleInterval'")

    refused = await charger.run("SELECT ocpp.change_configuration('CP-1', 'NumberOfConnectors', '3')",
                                response={"status": "Rejected"})
    assert refused.status == "rejected"
    assert await db.fetchval("SELECT value FROM ocpp.charger_configuration WHERE key = 'NumberOfConnectors'") == "2"

    # A full answer again: known keys it no longer lists are gone.
    await charger.run("SELECT ocpp.get_configuration('CP-1')", response={"configurationKey": [
        {"key": "HeartbeatInterval", "readonly": False, "value": "90"}]})
    assert [r["key"] for r in await db.fetch(config)] == ["HeartbeatInterval", "Nope"]


# -- local authorization list ----------------------------------------------------------

async def test_send_local_list_and_get_local_list_version(db, charger, fails):
    await db.execute("SELECT ocpp.add_id_tag('A')")
    await db.execute("SELECT ocpp.add_id_tag('B', 'Blocked', parent_id_tag => 'P')")
    await db.execute("SELECT ocpp.add_id_tag('C', expires_at => '2999-01-01T00:00:00Z')")

    full = await charger.run("SELECT ocpp.send_local_list('CP-1')", response={"status": "Accepted"})
    assert full.payload == {"listVersion": 1, "updateType": "Full", "localAuthorizationList": [
        {"idTag": "A", "idTagInfo": {"status": "Accepted"}},
        {"idTag": "B", "idTagInfo": {"status": "Blocked", "parentIdTag": "P"}},
        {"idTag": "C", "idTagInfo": {"status": "Accepted", "expiryDate": "2999-01-01T00:00:00.000Z"}},
    ]}
    assert await rows(db, "SELECT list_version, entries FROM ocpp.local_lists") == [
        {"list_version": 1, "entries": 3}]

    await db.execute("SELECT ocpp.remove_id_tag('C')")
    await db.execute("SELECT ocpp.add_id_tag('A', 'Blocked')")
    diff = await charger.run("SELECT ocpp.send_local_list('CP-1', 'Differential', ARRAY['a', 'C', 'A'])",
                             response={"status": "Accepted"})
    assert diff.payload == {"listVersion": 2, "updateType": "Differential", "localAuthorizationList": [
        {"idTag": "A", "idTagInfo": {"status": "Blocked"}},
        {"idTag": "C"},  # no longer known: removed from the charger's list
    ]}
    entries = "SELECT id_tag, id_tag_info->>'status' AS status FROM ocpp.local_list_entries ORDER BY id_tag"
    assert await rows(db, entries) == [{"id_tag": "A", "status": "Blocked"}, {"id_tag": "B", "status": "Blocked"}]

    mismatch = await charger.run("SELECT ocpp.send_local_list('CP-1', 'Full', ARRAY['A', 'nobody'])",
                                 response={"status": "VersionMismatch"})
    assert mismatch.status == "rejected" and mismatch.payload["localAuthorizationList"] == [
        {"idTag": "A", "idTagInfo": {"status": "Blocked"}}]
    assert await db.fetchval("SELECT list_version FROM ocpp.local_lists") == 2

    # Lists still queued count: versions keep going up.
    queued = [await db.fetchval("SELECT ocpp.send_local_list('CP-1')") for _ in range(2)]
    versions = [json.loads(await db.fetchval("SELECT payload FROM ocpp.commands WHERE id = $1", i))["listVersion"]
                for i in queued]
    assert versions == [3, 4]
    await db.execute("SELECT ocpp.cancel(id) FROM ocpp.commands WHERE status = 'queued'")

    version = await charger.run("SELECT ocpp.get_local_list_version('CP-1')", response={"listVersion": 7})
    assert version.status == "completed" and version.payload == {}
    assert await db.fetchval("SELECT list_version FROM ocpp.local_lists") == 7
    await charger.run("SELECT ocpp.get_local_list_version('CP-1')", response={"listVersion": 0})
    assert await db.fetchval("SELECT entries FROM ocpp.local_lists") == 0

    async with fails(asyncpg.InvalidParameterValueError, match="Differential update names"):
        await db.execute("SELECT ocpp.send_local_list('CP-1', 'Differential')")


# -- reservations ------------------------------------------------------------------------

async def test_reservations(db, charger, parse, fails):
    await status_notification(parse, 1)
    for tag, parent in (("OWNER", "GROUP"), ("FRIEND", "GROUP"), ("STRANGER", None), ("PASSERBY", None),
                        ("LATECOMER", None)):
        await db.execute("SELECT ocpp.add_id_tag($1, parent_id_tag => $2)", tag, parent)

    command_id, payload = await charger.queue(
        "SELECT ocpp.reserve_now('CP-1', 1, 'OWNER', '2999-01-01T00:00:00Z')")
    reservation = await db.fetchrow("SELECT * FROM ocpp.reservations")
    assert (reservation["status"], reservation["command_id"]) == ("Requested", command_id)
    assert payload == {"connectorId": 1, "expiryDate": "2999-01-01T00:00:00.000Z", "idTag": "OWNER",
                       "parentIdTag": "GROUP", "reservationId": reservation["id"]}
    await parse("CP-1", "Authorize", {"idTag": "STRANGER"})  # not yet accepted by the charger: no effect
    accepted = await charger.answer(command_id, {"status": "Accepted"})
    assert accepted.status == "accepted"
    assert await db.fetchval("SELECT status FROM ocpp.reservations") == "Accepted"

    async def authorize(tag: str) -> str:
        return (await parse("CP-1", "Authorize", {"idTag": tag})).result["idTagInfo"]["status"]

    # The only connector is reserved: only the owner, or a tag of its group.
    assert [await authorize(t) for t in ("STRANGER", "FRIEND", "owner")] == ["Invalid", "Accepted", "Accepted"]
    await status_notification(parse, 2)  # a second connector is free
    assert await authorize("STRANGER") == "Accepted"
    taken = await parse("CP-1", "StartTransaction", start(1, "STRANGER"))
    assert taken.result["idTagInfo"]["status"] == "Invalid"
    elsewhere = await parse("CP-1", "StartTransaction", start(2, "PASSERBY"))
    assert elsewhere.result["idTagInfo"]["status"] == "Accepted"
    used = await parse("CP-1", "StartTransaction", start(1, "OWNER", reservationId=reservation["id"]))
    assert used.result["idTagInfo"]["status"] == "Accepted"
    assert await db.fetchval("SELECT status FROM ocpp.reservations") == "Used"

    occupied = await charger.run("SELECT ocpp.reserve_now('CP-1', 2, 'OWNER', now() + interval '1 hour')",
                                 response={"status": "Occupied"})
    assert occupied.status == "rejected"
    assert await db.fetchval("SELECT status FROM ocpp.reservations WHERE command_id = $1", occupied.id) == "Occupied"

    kept = await charger.run("SELECT ocpp.reserve_now('CP-1', 0, 'FRIEND', now() + interval '1 hour')",
                             response={"status": "Accepted"})
    kept_id = await db.fetchval("SELECT id FROM ocpp.reservations WHERE command_id = $1", kept.id)
    cancel = await charger.run("SELECT ocpp.cancel_reservation('CP-1', $1)", kept_id,
                               response={"status": "Accepted"})
    assert cancel.payload == {"reservationId": kept_id}
    assert await db.fetchval("SELECT status FROM ocpp.reservations WHERE id = $1", kept_id) == "Cancelled"

    # Never delivered: the reservation is off.
    queued = await db.fetchval("SELECT ocpp.reserve_now('CP-1', 2, 'OWNER', now() + interval '1 hour')")
    assert await db.fetchval("SELECT ocpp.cancel($1)", queued)
    assert await db.fetchval("SELECT status FROM ocpp.reservations WHERE command_id = $1", queued) == "Cancelled"

    # A reservation past its expiry reads Expired and holds nothing.
    for connector in (1, 2):
        late = await charger.run("SELECT ocpp.reserve_now('CP-1', $1, 'OWNER', now() + interval '1 hour')",
                                 connector, response={"status": "Accepted"})
    assert await authorize("LATECOMER") == "Invalid"
    await db.execute("UPDATE pgcsms.reservations SET expires_at = now() - interval '1 s' WHERE command_id = $1",
                     late.id)
    assert await db.fetchval("SELECT status FROM ocpp.reservations WHERE command_id = $1", late.id) == "Expired"
    assert await authorize("LATECOMER") == "Accepted"

    async with fails(asyncpg.InvalidParameterValueError, match="expires in the future"):
        await db.execute("SELECT ocpp.reserve_now('CP-1', 1, 'OWNER', now() - interval '1 s')")
    async with fails(asyncpg.NoDataFoundError, match="unknown charge point"):
        await db.execute("SELECT ocpp.reserve_now('CP-9', 1, 'OWNER', now() + interval '1 h')")


# -- smart charging ------------------------------------------------------------------------

def profile(profile_id: int, purpose: str = "TxDefaultProfile", stack_level: int = 0) -> dict[str, Any]:
    return {"chargingProfileId": profile_id, "stackLevel": stack_level, "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Absolute", "validFrom": NOW,
            "chargingSchedule": {"chargingRateUnit": "A", "startSchedule": NOW,
                                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}}


async def test_charging_profiles_and_composite_schedule(db, charger):
    set_profile = "SELECT ocpp.set_charging_profile('CP-1', $1, $2::jsonb)"
    first = await charger.run(set_profile, 1, json.dumps(profile(10)), response={"status": "Accepted"})
    assert first.payload == {"connectorId": 1, "csChargingProfiles": profile(10)}
    stored = "SELECT connector_id, charging_profile_id, purpose, stack_level FROM ocpp.charging_profiles ORDER BY 2"
    assert await rows(db, stored) == [
        {"connector_id": 1, "charging_profile_id": 10, "purpose": "TxDefaultProfile", "stack_level": 0}]
    # Same stack level and purpose on the connector: replaces.
    await charger.run(set_profile, 1, json.dumps(profile(11)), response={"status": "Accepted"})
    await charger.run(set_profile, 0, json.dumps(profile(12, "ChargePointMaxProfile")),
                      response={"status": "Accepted"})
    await charger.run(set_profile, 2, json.dumps(profile(13, stack_level=1)), response={"status": "Accepted"})
    refused = await charger.run(set_profile, 1, json.dumps(profile(14)), response={"status": "NotSupported"})
    assert refused.status == "rejected"
    assert [r["charging_profile_id"] for r in await db.fetch(stored)] == [11, 12, 13]
    assert await db.fetchval("SELECT valid_from FROM ocpp.charging_profiles WHERE charging_profile_id = 11") \
        == datetime.fromisoformat(NOW)

    by_id = await charger.run("SELECT ocpp.clear_charging_profile('CP-1', id => 11)",
                              response={"status": "Accepted"})
    assert by_id.payload == {"id": 11}
    unknown = await charger.run("SELECT ocpp.clear_charging_profile('CP-1', id => 13)",
                                response={"status": "Unknown"})
    assert unknown.status == "rejected"
    await charger.run("SELECT ocpp.clear_charging_profile('CP-1', charging_profile_purpose => 'ChargePointMaxProfile')",
                      response={"status": "Accepted"})
    assert [r["charging_profile_id"] for r in await db.fetch(stored)] == [13]
    await charger.run("SELECT ocpp.clear_charging_profile('CP-1')", response={"status": "Accepted"})
    assert await db.fetch(stored) == []

    schedule = {"duration": 3600, "startSchedule": NOW, "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}, {"startPeriod": 1800, "limit": 8.0}]}
    composite = await charger.run(
        "SELECT ocpp.get_composite_schedule('CP-1', 1, 3600, charging_rate_unit => 'A')",
        response={"status": "Accepted", "connectorId": 1, "scheduleStart": NOW, "chargingSchedule": schedule})
    assert composite.payload == {"connectorId": 1, "duration": 3600, "chargingRateUnit": "A"}
    row = await db.fetchrow("SELECT * FROM ocpp.composite_schedules")
    assert (row["command_id"], row["connector_id"], row["duration"], row["charging_rate_unit"]) == (
        composite.id, 1, 3600, "A")
    assert json.loads(row["charging_schedule"]) == schedule
    await charger.run("SELECT ocpp.get_composite_schedule('CP-1', 2, 60)", response={"status": "Rejected"})
    assert await db.fetchval("SELECT count(*) FROM ocpp.composite_schedules") == 1


# -- jobs ----------------------------------------------------------------------------------

async def job(db: asyncpg.Connection, command_id: int) -> dict[str, Any]:
    return dict(await db.fetchrow("SELECT * FROM ocpp.jobs WHERE command_id = $1", command_id))


async def test_diagnostics_and_firmware_jobs(db, charger, parse):
    diagnostics = await charger.run("SELECT ocpp.get_diagnostics('CP-1', 'ftp://example.com/up', retries => 3)",
                                    response={"fileName": "diag-cp1.zip"})
    assert diagnostics.status == "completed"
    assert diagnostics.payload == {"location": "ftp://example.com/up", "retries": 3}
    row = await job(db, diagnostics.id)
    assert (row["kind"], row["status"], row["file_name"], row["location"], row["finished_at"]) == (
        "diagnostics", "Accepted", "diag-cp1.zip", "ftp://example.com/up", None)
    await parse("CP-1", "DiagnosticsStatusNotification", {"status": "Uploading"})
    assert (await job(db, diagnostics.id))["status"] == "Uploading"
    await parse("CP-1", "DiagnosticsStatusNotification", {"status": "Uploaded"})
    row = await job(db, diagnostics.id)
    assert row["status"] == "Uploaded" and row["finished_at"] is not None
    await parse("CP-1", "DiagnosticsStatusNotification", {"status": "Idle"})
    assert await rows(db, "SELECT status, job_id FROM ocpp.job_status_history ORDER BY id") == [
        {"status": "Uploading", "job_id": row["id"]}, {"status": "Uploaded", "job_id": row["id"]},
        {"status": "Idle", "job_id": None}]

    first = await charger.run("SELECT ocpp.update_firmware('CP-1', 'https://example.com/fw-1.bin')", response={})
    assert first.status == "completed" and set(first.payload) == {"location", "retrieveDate"}
    await parse("CP-1", "FirmwareStatusNotification", {"status": "Downloading"})
    assert (await job(db, first.id))["status"] == "Downloading"
    second = await charger.run("SELECT ocpp.update_firmware('CP-1', 'https://example.com/fw-2.bin', now())",
                               response={})
    assert (await job(db, first.id))["status"] == "Superseded"
    for status in ("Downloaded", "Installing", "Installed"):
        await parse("CP-1", "FirmwareStatusNotification", {"status": status})
    row = await job(db, second.id)
    assert row["status"] == "Installed" and row["finished_at"] is not None
    assert await db.fetchval("SELECT firmware_status FROM ocpp.charge_points") == "Installed"


async def test_log_and_signed_firmware_jobs_follow_their_request_id(db, charger, parse):
    log = await charger.run("SELECT ocpp.get_log('CP-1', 'SecurityLog', 7, 'https://example.com/logs')",
                            response={"status": "Accepted", "filename": "security.log"})
    assert log.payload == {"logType": "SecurityLog", "requestId": 7, "log": {"remoteLocation": "https://example.com/logs"}}
    row = await job(db, log.id)
    assert (row["kind"], row["request_id"], row["file_name"], row["location"]) == (
        "log", 7, "security.log", "https://example.com/logs")
    await parse("CP-1", "LogStatusNotification", {"status": "Uploading", "requestId": 7})
    assert (await job(db, log.id))["status"] == "Uploading"
    newer = await charger.run("SELECT ocpp.get_log('CP-1', 'DiagnosticsLog', 8, 'https://example.com/logs')",
                              response={"status": "AcceptedCanceled"})
    assert newer.status == "accepted"
    assert (await job(db, log.id))["status"] == "Canceled"
    await parse("CP-1", "LogStatusNotification", {"status": "Uploaded", "requestId": 8})
    assert (await job(db, newer.id))["status"] == "Uploaded"
    refused = await charger.run("SELECT ocpp.get_log('CP-1', 'SecurityLog', 9, 'https://example.com/logs')",
                                response={"status": "Rejected"})
    assert refused.status == "rejected"
    assert await db.fetchval("SELECT count(*) FROM ocpp.jobs WHERE command_id = $1", refused.id) == 0

    signed = await charger.run(
        "SELECT ocpp.signed_update_firmware('CP-1', 11, 'https://example.com/fw', $1::text::timestamptz, "
        "'-----BEGIN CERTIFICATE-----', 'c2lnbmF0dXJl', retries => 2)", NOW, response={"status": "Accepted"})
    assert signed.payload == {"requestId": 11, "retries": 2, "firmware": {
        "location": "https://example.com/fw", "retrieveDateTime": NOW.replace("Z", ".000Z"),
        "signingCertificate": "-----BEGIN CERTIFICATE-----", "signature": "c2lnbmF0dXJl"}}
    await parse("CP-1", "SignedFirmwareStatusNotification", {"status": "Downloading", "requestId": 11})
    await parse("CP-1", "SignedFirmwareStatusNotification", {"status": "InvalidSignature", "requestId": 11})
    row = await job(db, signed.id)
    assert (row["kind"], row["status"]) == ("signed_firmware", "InvalidSignature") and row["finished_at"] is not None


# -- data transfer -----------------------------------------------------------------------------

async def test_data_transfer(db, charger):
    done = await charger.run("SELECT ocpp.data_transfer('CP-1', 'com.example', 'ping', 'hello')",
                             response={"status": "Accepted", "data": "pong"})
    assert done.payload == {"vendorId": "com.example", "messageId": "ping", "data": "hello"}
    await charger.run("SELECT ocpp.data_transfer('CP-1', 'com.other')", response={"status": "UnknownVendorId"})
    assert await rows(db, "SELECT direction, vendor_id, message_id, data, status, response_data, command_id "
                          "FROM ocpp.data_transfers ORDER BY id") == [
        {"direction": "out", "vendor_id": "com.example", "message_id": "ping", "data": "hello",
         "status": "Accepted", "response_data": "pong", "command_id": done.id},
        {"direction": "out", "vendor_id": "com.other", "message_id": None, "data": None,
         "status": "UnknownVendorId", "response_data": None, "command_id": done.id + 1},
    ]


# -- certificates ------------------------------------------------------------------------------

def certificate_hash(serial: str) -> dict[str, str]:
    return {"hashAlgorithm": "SHA256", "issuerNameHash": "a1" * 32, "issuerKeyHash": "b2" * 32,
            "serialNumber": serial}


async def test_certificates(db, charger, parse):
    await parse("CP-1", "SignCertificate", {"csr": "-----BEGIN CERTIFICATE REQUEST-----"})
    signed = await charger.run("SELECT ocpp.certificate_signed('CP-1', '-----BEGIN CERTIFICATE----- cp')",
                               response={"status": "Accepted"})
    assert signed.payload == {"certificateChain": "-----BEGIN CERTIFICATE----- cp"}
    assert await db.fetchval("SELECT status FROM ocpp.certificate_signing_requests") == "Signed"

    await charger.run("SELECT ocpp.install_certificate('CP-1', 'CentralSystemRootCertificate', 'PEM root')",
                      response={"status": "Accepted"})
    await charger.run("SELECT ocpp.install_certificate('CP-1', 'CentralSystemRootCertificate', 'PEM bad')",
                      response={"status": "Rejected"})
    listed = await charger.run("SELECT ocpp.get_installed_certificate_ids('CP-1', 'CentralSystemRootCertificate')",
                               response={"status": "Accepted",
                                         "certificateHashData": [certificate_hash("01"), certificate_hash("02")]})
    assert listed.status == "accepted"
    installed = ("SELECT certificate_type, source, serial_number, certificate FROM ocpp.installed_certificates "
                 "ORDER BY source, serial_number")
    assert await rows(db, installed) == [
        {"certificate_type": "CentralSystemRootCertificate", "source": "installed", "serial_number": None,
         "certificate": "PEM root"},
        {"certificate_type": "CentralSystemRootCertificate", "source": "reported", "serial_number": "01",
         "certificate": None},
        {"certificate_type": "CentralSystemRootCertificate", "source": "reported", "serial_number": "02",
         "certificate": None},
        {"certificate_type": "ChargePointCertificate", "source": "signed", "serial_number": None,
         "certificate": "-----BEGIN CERTIFICATE----- cp"},
    ]

    h = certificate_hash("01")
    deleted = await charger.run("SELECT ocpp.delete_certificate('CP-1', $1, $2, $3, $4)", h["hashAlgorithm"],
                                h["issuerNameHash"].upper(), h["issuerKeyHash"], h["serialNumber"],
                                response={"status": "Accepted"})
    assert deleted.payload == {"certificateHashData": {**h, "issuerNameHash": h["issuerNameHash"].upper()}}
    assert [r["serial_number"] for r in await db.fetch(installed)] == [None, "02", None]

    none = await charger.run("SELECT ocpp.get_installed_certificate_ids('CP-1', 'CentralSystemRootCertificate')",
                             response={"status": "NotFound"})
    assert none.status == "rejected"
    assert [r["source"] for r in await db.fetch(installed)] == ["signed"]


# -- an unmatched id stays harmless -------------------------------------------------------------

async def test_effects_ignore_commands_sent_without_a_helper(db, charger):
    # A raw ReserveNow for a reservation we do not know changes nothing.
    done = await charger.run(
        "SELECT ocpp.send('CP-1', 'ReserveNow', $1::jsonb)",
        json.dumps({"connectorId": 1, "expiryDate": "2999-01-01T00:00:00Z", "idTag": "X", "reservationId": 999}),
        response={"status": "Accepted"})
    assert done.status == "accepted"
    assert await db.fetchval("SELECT count(*) FROM ocpp.reservations") == 0
    assert await db.fetchval("SELECT count(*) FROM ocpp.anomalies") == 0


async def test_a_tx_profile_ends_with_its_transaction(db, charger, parse):
    await db.execute("SELECT ocpp.add_id_tag('TAG-TX')")
    started = await parse("CP-1", "StartTransaction", start(2, "TAG-TX"))
    transaction_id = started.result["transactionId"]
    tx_profile = {**profile(20, "TxProfile"), "transactionId": transaction_id}
    await charger.run("SELECT ocpp.set_charging_profile('CP-1', 2, $1::jsonb)", json.dumps(tx_profile),
                      response={"status": "Accepted"})
    await charger.run("SELECT ocpp.set_charging_profile('CP-1', 1, $1::jsonb)", json.dumps(profile(21)),
                      response={"status": "Accepted"})
    stopped = await parse("CP-1", "StopTransaction", {"transactionId": transaction_id, "meterStop": 10,
                                                      "timestamp": NOW})
    assert stopped.error_code is None
    left = [r["charging_profile_id"] for r in await db.fetch("SELECT charging_profile_id FROM ocpp.charging_profiles")]
    assert left == [21]
