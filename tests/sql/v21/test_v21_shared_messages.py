"""The 25 station messages OCPP 2.1 shares with 2.0.1 go through 2.0.1's handlers, as 2.1.

Each is sent as a 2.1 station sends it (2.1 payloads are 2.0.1's with fields
added, some enums opened to strings, tokens up to 255 characters) and its
answer must pass the 2.1 response schema; what the handlers record of the
version says 2.1. A resend of a committed CALL under the same messageId
(2.1 Part 4 §4.1.4 lets a retry keep it) changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pgcsms.proxy import catalog

pytestmark = pytest.mark.rollback

T = "2025-03-01T10:00:00Z"
HASH = {"hashAlgorithm": "SHA256", "issuerNameHash": "a1" * 32, "issuerKeyHash": "b2" * 32, "serialNumber": "0A"}
SCHEDULE = {"id": 1, "chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000}]}
LONG_TOKEN = {"idToken": "T" * 40, "type": "Central"}

# One 2.1 CALL of each message 2.0.1 has too, with some of what 2.1 adds.
SHARED: dict[str, dict[str, Any]] = {
    "Authorize": {"idToken": LONG_TOKEN},
    "BootNotification": {"reason": "PowerUp", "chargingStation": {"model": "V2X-1", "vendorName": "Acme"}},
    "ClearedChargingLimit": {"chargingLimitSource": "EMS", "evseId": 1},
    "DataTransfer": {"vendorId": "com.example", "messageId": "x"},
    "FirmwareStatusNotification": {"status": "Downloaded", "requestId": 1},
    "Get15118EVCertificate": {"iso15118SchemaVersion": "urn:iso:std:iso:15118:-20:CommonMessages",
                              "action": "Install", "exiRequest": "AAAA"},
    "GetCertificateStatus": {"ocspRequestData": {**HASH, "responderURL": "http://ocsp.example"}},
    "Heartbeat": {},
    "LogStatusNotification": {"status": "Uploaded", "requestId": 1},
    "MeterValues": {"evseId": 1, "meterValue": [{"timestamp": T, "sampledValue": [{"value": 1200.0}]}]},
    "NotifyChargingLimit": {"chargingLimit": {"chargingLimitSource": "SO", "isGridCritical": True}, "evseId": 1},
    "NotifyCustomerInformation": {"data": "none", "seqNo": 0, "generatedAt": T, "requestId": 7},
    "NotifyDisplayMessages": {"requestId": 8},
    "NotifyEVChargingNeeds": {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "DC_BPT"}},
    "NotifyEVChargingSchedule": {"timeBase": T, "evseId": 1, "chargingSchedule": SCHEDULE},
    "NotifyEvent": {"generatedAt": T, "seqNo": 0, "eventData": [{
        "eventId": 1, "timestamp": T, "trigger": "Delta", "actualValue": "Occupied", "severity": 5,
        "eventNotificationType": "HardWiredNotification", "component": {"name": "Connector", "evse": {
            "id": 1, "connectorId": 1}}, "variable": {"name": "AvailabilityState"}}]},
    "NotifyMonitoringReport": {"requestId": 9, "seqNo": 0, "generatedAt": T, "monitor": [{
        "component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"},
        "variableMonitoring": [{"id": 3, "transaction": False, "value": 20000, "type": "UpperThreshold",
                                "severity": 4, "eventNotificationType": "CustomMonitor"}]}]},
    "NotifyReport": {"requestId": 10, "generatedAt": T, "seqNo": 0, "reportData": [{
        "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
        "variableAttribute": [{"type": "Actual", "value": "300"}]}]},
    "PublishFirmwareStatusNotification": {"status": "Idle"},
    "ReportChargingProfiles": {"requestId": 11, "chargingLimitSource": "CSO", "evseId": 1, "chargingProfile": [{
        "id": 5, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
        "chargingSchedule": [{**SCHEDULE, "startSchedule": T}]}]},
    "ReservationStatusUpdate": {"reservationId": 1, "reservationUpdateStatus": "Expired"},
    "SecurityEventNotification": {"type": "DiscardedRenewedClientCertificate", "timestamp": T},
    "SignCertificate": {"csr": "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n", "requestId": 4},
    "StatusNotification": {"timestamp": T, "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1},
    "TransactionEvent": {"eventType": "Started", "timestamp": T, "triggerReason": "CablePluggedIn", "seqNo": 0,
                         "transactionInfo": {"transactionId": "TX-21"}, "evse": {"id": 1, "connectorId": 1}},
}


def test_every_shared_station_message_has_an_example():
    assert set(SHARED) == catalog.station_actions("2.0.1")


@pytest.mark.parametrize("action", sorted(SHARED))
async def test_a_2_1_station_is_answered_by_the_2_0_1_handler_in_2_1_words(db, station, action):
    await station.call(action, SHARED[action])  # checked against the 2.1 request and response schemas
    journal = await db.fetch("SELECT direction, message_type FROM ocpp.message_log WHERE action = $1 ORDER BY id",
                             action)
    assert [tuple(r) for r in journal] == [("in", 2), ("out", 3)]


async def test_what_the_handlers_record_says_2_1(db, station):
    for action in ("BootNotification", "StatusNotification", "SecurityEventNotification", "TransactionEvent",
                   "MeterValues"):
        await station.call(action, SHARED[action])
    assert await db.fetchval("SELECT ocpp_version FROM ocpp.transactions WHERE remote_id = 'TX-21'") == "2.1"
    # 2.1's own list of critical security events (appendix 1: new in 2.1).
    assert await db.fetchval("SELECT critical FROM ocpp.security_events "
                             "WHERE type = 'DiscardedRenewedClientCertificate'")
    # 2.x meter values: the schema's defaults filled in, linked to the transaction under way.
    value = await db.fetchrow("SELECT context, location, transaction_id IS NOT NULL AS linked FROM ocpp.meter_values")
    assert tuple(value) == ("Sample.Periodic", "Outlet", True)
    assert await db.fetchval("SELECT status FROM ocpp.connectors WHERE evse_id = 1 AND connector_id = 1") == "Occupied"
    assert await db.fetchval("SELECT vendor FROM ocpp.charge_points WHERE id = $1", station.id) == "Acme"


async def test_a_2_1_token_of_40_characters_is_read(db, station):
    answer = await station.call("Authorize", SHARED["Authorize"])
    assert answer["idTokenInfo"]["status"] in ("Unknown", "Invalid")
    # The table holds 255 characters; ocpp.add_id_tag still keeps 2.0.1's 36 for typed tokens.
    await db.execute("INSERT INTO pgcsms.id_tags (id_tag, status, id_token_type) VALUES ($1, 'Accepted', 'Central')",
                     "T" * 40)
    assert (await station.call("Authorize", SHARED["Authorize"]))["idTokenInfo"]["status"] == "Accepted"


async def test_a_2_1_station_is_pending_like_a_2_0_1_one(db, station):
    await db.execute("UPDATE pgcsms.charge_points SET registration_status = 'Pending' WHERE id = $1", station.id)
    refused = await station.reply("Heartbeat", {})
    assert refused["error_code"] == "SecurityError"
    assert (await station.call("BootNotification", SHARED["BootNotification"]))["status"] == "Pending"


async def test_a_resent_call_under_its_message_id_changes_nothing(db, station):
    event = {**SHARED["TransactionEvent"], "meterValue": [{"timestamp": T, "sampledValue": [{"value": 5.0}]}]}
    first = await station.call("TransactionEvent", event, unique_id="retry-1")
    again = await station.call("TransactionEvent", event, unique_id="retry-1")
    assert again == first
    assert await db.fetchval("SELECT count(*) FROM ocpp.meter_values") == 1
    assert await db.fetchval("SELECT count(*) FROM ocpp.transaction_events") == 1
    replayed = await db.fetchval("SELECT error_detail FROM ocpp.message_log WHERE unique_id = 'retry-1' "
                                 "AND direction = 'out' ORDER BY id DESC LIMIT 1")
    assert "resend of a CALL committed" in replayed


async def test_the_journal_keeps_2_1_payloads_as_sent(db, station):
    await station.call("NotifyMonitoringReport", SHARED["NotifyMonitoringReport"])
    payload = json.loads(await db.fetchval(
        "SELECT payload FROM ocpp.message_log WHERE action = 'NotifyMonitoringReport' AND direction = 'in'"))
    assert payload["monitor"][0]["variableMonitoring"][0]["eventNotificationType"] == "CustomMonitor"
    assert await db.fetchval("SELECT type FROM ocpp.variable_monitors WHERE monitor_id = 3") == "UpperThreshold"
