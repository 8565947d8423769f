"""OCPP 2.0.1 data transfer (P), security events (A04) and cost (I) at the SQL layer, with the 1.6 rules
they share; and every 2.0.1 helper of these blocks building a payload the schema accepts.

As the proxy would, the test claims each command, checks its payload against the 2.0.1 request
schema and answers with a CALLRESULT that passes the response schema; each station CALL is valid
against its request schema before ``ocpp.parse`` sees it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import asyncpg
import pytest
from station201 import NODE, V201

pytestmark = pytest.mark.rollback




# -- DataTransfer (P02) --------------------------------------------------------------------------

async def test_data_transfer_from_a_station_is_answered_from_the_vendor_registry(db, station, parse):
    # P02.FR.06/07, TC_P_02: a status, never a CALLERROR.
    assert await station.send(parse, "DataTransfer", {"vendorId": "com.nobody", "messageId": "m", "data": "x"}) == {
        "status": "UnknownVendorId"}
    await db.execute("SELECT ocpp.add_data_transfer_vendor('com.example', 'Accepted', ARRAY['ping'])")
    assert await station.send(parse, "DataTransfer", {"vendorId": "com.example", "messageId": "other"}) == {
        "status": "UnknownMessageId"}
    assert await station.send(parse, "DataTransfer", {
        "vendorId": "com.example", "messageId": "ping", "data": {"seq": 1, "ok": True}}) == {"status": "Accepted"}
    await db.execute("SELECT ocpp.add_data_transfer_vendor('com.example', 'Rejected')")
    assert await station.send(parse, "DataTransfer", {"vendorId": "com.example", "data": [1, 2]}) == {
        "status": "Rejected"}
    # Data that is not a string is kept as its JSON text.
    assert [tuple(r) for r in await db.fetch(
        "SELECT direction, vendor_id, message_id, data, status FROM ocpp.data_transfers ORDER BY id")] == [
        ("in", "com.nobody", "m", "x", "UnknownVendorId"), ("in", "com.example", "other", None, "UnknownMessageId"),
        ("in", "com.example", "ping", '{"ok": true, "seq": 1}', "Accepted"),
        ("in", "com.example", None, "[1, 2]", "Rejected")]


async def test_data_transfer_to_a_station_carries_any_json(db, station, fails):
    done = await station.run(
        "SELECT ocpp.data_transfer('CP-201', 'com.example', 'config', json_data => '{\"power\": 11}')",
        response={"status": "Accepted", "data": {"applied": True}})
    assert done["payload"] == {"vendorId": "com.example", "messageId": "config", "data": {"power": 11}}
    text = await station.run("SELECT ocpp.data_transfer('CP-201', 'com.example', data => 'hello')",
                             response={"status": "UnknownMessageId"})
    assert text["status"] == "rejected" and text["payload"]["data"] == "hello"
    assert [tuple(r) for r in await db.fetch(
        "SELECT direction, data, status, response_data, command_id FROM ocpp.data_transfers ORDER BY id")] == [
        ("out", '{"power": 11}', "Accepted", '{"applied": true}', done["id"]),
        ("out", "hello", "UnknownMessageId", None, text["id"])]

    async with fails(asyncpg.InvalidParameterValueError, match="not both"):
        await db.execute("SELECT ocpp.data_transfer('CP-201', 'com.example', data => 'x', json_data => '1')")
    await db.execute("SELECT ocpp.add_charge_point('CP-16')")
    async with fails(asyncpg.InvalidParameterValueError, match="json_data given") as caught:
        await db.execute("SELECT ocpp.data_transfer('CP-16', 'com.example', json_data => '{}')")
    assert "a string" in caught.value.hint


# -- SecurityEventNotification (A04) -------------------------------------------------------------

async def test_security_events_are_flagged_critical_per_version(db, station, parse):
    await db.execute("SELECT ocpp.add_charge_point('CP-16')")
    for event_type in ("InvalidTLSVersion", "FailedToAuthenticateAtCsms", "MaintenanceLoginFailed",
                       "com.example.DoorOpened"):
        assert await station.send(parse, "SecurityEventNotification", {
            "type": event_type, "timestamp": "2026-01-02T03:04:05", "techInfo": "tls 1.0"}) == {}
    # The same name in OCPP 1.6 is not critical there.
    reply = await parse("CP-16", "SecurityEventNotification", {"type": "InvalidTLSVersion",
                                                               "timestamp": "2026-01-02T03:04:05Z"})
    assert reply.result == {}
    assert [tuple(r) for r in await db.fetch(
        "SELECT charge_point_id, type, critical, tech_info FROM ocpp.security_events ORDER BY id")] == [
        ("CP-201", "InvalidTLSVersion", True, "tls 1.0"), ("CP-201", "FailedToAuthenticateAtCsms", False, "tls 1.0"),
        ("CP-201", "MaintenanceLoginFailed", True, "tls 1.0"), ("CP-201", "com.example.DoorOpened", False, "tls 1.0"),
        ("CP-16", "InvalidTLSVersion", False, None)]
    # A timestamp without an offset is UTC.
    assert await db.fetchval("SELECT charger_at FROM ocpp.security_events ORDER BY id LIMIT 1") == datetime(
        2026, 1, 2, 3, 4, 5, tzinfo=UTC)


# -- CostUpdated (I02) ---------------------------------------------------------------------------

async def test_cost_updated(station):
    done = await station.run("SELECT ocpp.cost_updated('CP-201', 'tx-7', 12.35)", response={})
    assert done["status"] == "completed"
    assert done["payload"] == {"transactionId": "tx-7", "totalCost": 12.35}


# -- every helper ----------------------------------------------------------------------------------

HELPERS = [  # (what it queues, the call)
    ("SetChargingProfile", """ocpp.set_charging_profile('CP-201', evse_id => 1, charging_profile => '{"id": 1,
        "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Relative",
        "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
                              "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}]}]}')"""),
    ("ClearChargingProfile", "ocpp.clear_charging_profile('CP-201', id => 1)"),
    ("GetCompositeSchedule", "ocpp.get_composite_schedule('CP-201', duration => 3600, evse_id => 0)"),
    ("GetChargingProfiles", "ocpp.get_charging_profiles('CP-201', charging_profile_purpose => 'TxProfile')"),
    ("UpdateFirmware", "ocpp.update_firmware('CP-201', 'https://fw.example/a.bin', retries => 1, "
                       "install_date_time => now())"),
    ("PublishFirmware", "ocpp.publish_firmware('CP-201', 'https://fw.example/a.bin', repeat('0a', 16))"),
    ("UnpublishFirmware", "ocpp.unpublish_firmware('CP-201', '0123456789abcdef0123456789abcdef')"),
    ("GetLog", "ocpp.get_log('CP-201', 'SecurityLog', 5, 'https://logs.example', latest_timestamp => now())"),
    ("InstallCertificate", "ocpp.install_certificate('CP-201', 'MORootCertificate', 'PEM')"),
    ("CertificateSigned", "ocpp.certificate_signed('CP-201', 'PEM', certificate_type => 'ChargingStationCertificate')"),
    ("DeleteCertificate", "ocpp.delete_certificate('CP-201', 'SHA256', 'aa', 'bb', '01')"),
    ("GetInstalledCertificateIds", "ocpp.get_installed_certificate_ids('CP-201', 'V2GCertificateChain')"),
    ("SetDisplayMessage", "ocpp.set_display_message('CP-201', 'Hello', state => 'Idle', "
                          "end_date_time => now() + interval '1 day')"),
    ("GetDisplayMessages", "ocpp.get_display_messages('CP-201', ids => ARRAY[1, 2])"),
    ("ClearDisplayMessage", "ocpp.clear_display_message('CP-201', 1)"),
    ("CustomerInformation", "ocpp.customer_information('CP-201', customer_certificate => '{\"hashAlgorithm\": "
                            "\"SHA256\", \"issuerNameHash\": \"aa\", \"issuerKeyHash\": \"bb\", "
                            "\"serialNumber\": \"01\"}')"),
    ("CostUpdated", "ocpp.cost_updated('CP-201', 'tx-1', 0)"),
    ("DataTransfer", "ocpp.data_transfer('CP-201', 'com.example')"),
]


async def test_every_helper_builds_a_valid_payload(db, station):
    for action, call in HELPERS:
        command_id = await db.fetchval(f"SELECT {call}")
        sent = await db.fetchrow("SELECT * FROM ocpp.next_command('CP-201', $1, $2)", NODE, station.epoch)
        assert (sent["command_id"], sent["action"]) == (command_id, action)
        V201.check_request(action, json.loads(sent["payload"]))
        await db.execute("SELECT ocpp.fail_command($1, 'timeout')", command_id)
    # Each is the helper ocpp.command_actions names for its action.
    named = {(r["action"], r["helper"]) for r in await db.fetch(
        "SELECT action, helper FROM ocpp.command_actions WHERE ocpp_version = '2.0.1' AND action = ANY ($1)",
        [action for action, _ in HELPERS])}
    assert named == {(action, call.split("(")[0]) for action, call in HELPERS}
