"""The twelve station messages OCPP 2.1 adds, each stored and answered per the spec, its effect in SQL.

Battery swap (S), DER control (R), priority charging and dynamic schedules
(K), ad hoc payment (C), periodic event streams (N, NotifyPeriodicEventStream
being a SEND) and certificate chain status (M). Payloads pass the 2.1 request
schemas, answers the 2.1 response schemas (``station`` in conftest.py).
"""

from __future__ import annotations

import json

import asyncpg
import pytest

pytestmark = pytest.mark.rollback

T = "2025-03-01T10:00:00Z"
TOKEN = {"idToken": "SWAP-USER-1", "type": "Central"}
HASH = {"hashAlgorithm": "SHA256", "issuerNameHash": "a1" * 32, "issuerKeyHash": "b2" * 32, "serialNumber": "0A"}
CURVE = {"priority": 1, "yUnit": "PctMaxW", "curveData": [{"x": 49.8, "y": 100}, {"x": 50.2, "y": 0}]}


async def started(station, tx: str = "TX-P") -> None:
    await station.call("TransactionEvent", {
        "eventType": "Started", "timestamp": T, "triggerReason": "CablePluggedIn", "seqNo": 0,
        "transactionInfo": {"transactionId": tx}, "evse": {"id": 1, "connectorId": 1}})


# -- S: battery swap ------------------------------------------------------------------------------


async def test_a_battery_swap_is_kept_battery_by_battery_and_linked_to_its_request(db, station, rows):
    command = await station.run("SELECT ocpp.request_battery_swap('CS-21', 'SWAP-USER-1', request_id => 42)",
                                response={"status": "Accepted"})
    assert command["status"] == "accepted"
    batteries = [{"evseId": 1, "serialNumber": "BAT-OUT-1", "soC": 12.5, "soH": 91.0},
                 {"evseId": 2, "serialNumber": "BAT-OUT-2", "soC": 10.0, "soH": 88.0, "productionDate": T}]
    assert await station.call("BatterySwap", {"batteryData": batteries, "eventType": "BatteryIn",
                                              "idToken": TOKEN, "requestId": 42}) == {}
    swapped = await rows("SELECT event_type, evse_id, serial_number, soc, soh, production_date IS NOT NULL AS dated, "
                         "command_id, id_token FROM ocpp.battery_swaps ORDER BY evse_id")
    assert [(s["event_type"], s["evse_id"], s["serial_number"], float(s["soc"]), s["dated"]) for s in swapped] == [
        ("BatteryIn", 1, "BAT-OUT-1", 12.5, False), ("BatteryIn", 2, "BAT-OUT-2", 10.0, True)]
    assert {s["command_id"] for s in swapped} == {command["id"]}
    # A swap the station authorized itself (S01) belongs to no command.
    await station.call("BatterySwap", {"batteryData": [{"evseId": 3, "serialNumber": "B3", "soC": 95, "soH": 99}],
                                       "eventType": "BatteryOut", "idToken": TOKEN, "requestId": 7})
    assert await db.fetchval("SELECT command_id FROM ocpp.battery_swaps WHERE serial_number = 'B3'") is None


# -- R: DER control -------------------------------------------------------------------------------


async def test_a_der_alarm_is_stored(db, station, rows):
    await station.call("NotifyDERAlarm", {"controlType": "HVMustTrip", "gridEventFault": "OverVoltage",
                                          "timestamp": T, "extraInfo": "L1 253 V"})
    await station.call("NotifyDERAlarm", {"controlType": "HVMustTrip", "gridEventFault": "OverVoltage",
                                          "alarmEnded": True, "timestamp": T})
    alarms = await rows("SELECT control_type, grid_event_fault, alarm_ended, charger_at, extra_info "
                        "FROM ocpp.der_alarms ORDER BY id")
    assert [(a["control_type"], a["grid_event_fault"], a["alarm_ended"]) for a in alarms] == [
        ("HVMustTrip", "OverVoltage", False), ("HVMustTrip", "OverVoltage", True)]
    assert alarms[0]["extra_info"] == "L1 253 V" and alarms[0]["charger_at"].isoformat() == "2025-03-01T10:00:00+00:00"


async def test_der_controls_set_started_superseded_and_cleared(db, station, rows):
    first = await station.run("SELECT ocpp.set_der_control('CS-21', 'FW-1', 'FreqWatt', $1::jsonb)",
                              json.dumps(CURVE), response={"status": "Accepted"})
    assert first["payload"]["curve"] == CURVE and first["payload"]["isDefault"] is False
    pf = {"priority": 2, "displacement": 0.95, "excitation": True}
    await station.run("SELECT ocpp.set_der_control('CS-21', 'PF-1', 'FixedPFInject', $1::jsonb, is_default => true)",
                      json.dumps(pf), response={"status": "Accepted", "supersededIds": ["FW-1"]})
    controls = await rows("SELECT control_id, control_type, is_default, is_superseded, control, source "
                          "FROM ocpp.der_controls ORDER BY control_id")
    assert [(c["control_id"], c["control_type"], c["is_default"], c["is_superseded"], c["source"])
            for c in controls] == [("FW-1", "FreqWatt", False, True, "set"),
                                   ("PF-1", "FixedPFInject", True, False, "set")]
    assert json.loads(controls[1]["control"]) == pf
    await station.call("NotifyDERStartStop", {"controlId": "PF-1", "started": True, "timestamp": T})
    assert await db.fetchval("SELECT active FROM ocpp.der_controls WHERE control_id = 'PF-1'") is True
    assert await db.fetchval("SELECT count(*) FROM ocpp.der_start_stops") == 1
    # Rejected changes nothing; Accepted removes the defaults of the type.
    await station.run("SELECT ocpp.clear_der_control('CS-21', true, 'FixedPFInject')", response={"status": "Rejected"})
    assert await db.fetchval("SELECT count(*) FROM ocpp.der_controls") == 2
    await station.run("SELECT ocpp.clear_der_control('CS-21', true, 'FixedPFInject')", response={"status": "Accepted"})
    assert [r["control_id"] for r in await rows("SELECT control_id FROM ocpp.der_controls")] == ["FW-1"]
    await station.run("SELECT ocpp.clear_der_control('CS-21', false, control_id => 'FW-1')",
                      response={"status": "Accepted"})
    assert await db.fetchval("SELECT count(*) FROM ocpp.der_controls") == 0


async def test_a_der_control_report_comes_in_pages_and_replaces_what_we_knew(db, station, rows):
    await station.run("SELECT ocpp.set_der_control('CS-21', 'OLD', 'VoltVar', $1::jsonb)", json.dumps(CURVE),
                      response={"status": "Accepted"})
    command = await station.run("SELECT ocpp.get_der_control('CS-21', request_id => 77)",
                                response={"status": "Accepted"})
    assert command["payload"] == {"requestId": 77}
    page_1 = {"requestId": 77, "tbc": True, "curve": [
        {"id": "VV-1", "curveType": "VoltVar", "isDefault": True, "isSuperseded": False, "curve": CURVE}]}
    page_2 = {"requestId": 77, "fixedPFAbsorb": [
        {"id": "PF-A", "isDefault": False, "isSuperseded": False,
         "fixedPF": {"priority": 1, "displacement": 0.9, "excitation": False}}],
        "gradient": [{"id": "GR-1", "gradient": {"priority": 1, "gradient": 10, "softGradient": 5}}]}
    assert await station.call("ReportDERControl", page_1) == {}
    assert await db.fetchval("SELECT count(*) FROM ocpp.der_controls") == 2  # OLD stays until the last page
    assert await station.call("ReportDERControl", page_2) == {}
    controls = await rows("SELECT control_id, control_type, source, request_id, command_id FROM ocpp.der_controls "
                          "ORDER BY control_id")
    assert [(c["control_id"], c["control_type"], c["source"]) for c in controls] == [
        ("GR-1", "Gradients", "report"), ("PF-A", "FixedPFAbsorb", "report"), ("VV-1", "VoltVar", "report")]
    assert {(c["request_id"], c["command_id"]) for c in controls} == {(77, command["id"])}
    report = await db.fetchrow("SELECT pages, items, complete, command_id FROM ocpp.der_control_reports "
                               "WHERE request_id = 77")
    assert tuple(report) == (2, 3, True, command["id"])


async def test_a_filtered_der_control_report_removes_nothing(db, station):
    await station.run("SELECT ocpp.set_der_control('CS-21', 'KEEP', 'VoltVar', $1::jsonb)", json.dumps(CURVE),
                      response={"status": "Accepted"})
    await station.run("SELECT ocpp.get_der_control('CS-21', request_id => 78, control_type => 'FreqWatt')",
                      response={"status": "Accepted"})
    await station.call("ReportDERControl", {"requestId": 78, "curve": [
        {"id": "FW-9", "curveType": "FreqWatt", "isDefault": False, "isSuperseded": False, "curve": CURVE}]})
    assert await db.fetchval("SELECT count(*) FROM ocpp.der_controls") == 2


# -- K: priority charging and dynamic schedules -------------------------------------------------


async def test_priority_charging_asked_and_reported(db, station, rows):
    await started(station)
    command = await station.run("SELECT ocpp.use_priority_charging('CS-21', 'TX-P')", response={"status": "NoProfile"})
    assert command["status"] == "rejected"
    assert await station.call("NotifyPriorityCharging", {"transactionId": "TX-P", "activated": True}) == {}
    asked = await rows("SELECT source, activated, status, transaction_id IS NOT NULL AS known "
                       "FROM ocpp.priority_charging ORDER BY id")
    assert [tuple(a.values()) for a in asked] == [("command", True, "NoProfile", True), ("station", True, None, True)]
    assert await db.fetchval("SELECT priority_charging FROM ocpp.transaction_details WHERE remote_id = 'TX-P'")


async def test_a_dynamic_schedule_is_pulled_from_what_is_kept(db, station, fails):
    assert (await station.call("PullDynamicScheduleUpdate", {"chargingProfileId": 12}))["status"] == "Rejected"
    await db.execute("SELECT ocpp.set_dynamic_schedule('CS-21', 12, '{\"limit\": 7400, \"setpoint\": -2000}')")
    answer = await station.call("PullDynamicScheduleUpdate", {"chargingProfileId": 12})
    assert answer == {"status": "Accepted", "scheduleUpdate": {"limit": 7400, "setpoint": -2000}}
    assert await db.fetchval("SELECT pulled_at IS NOT NULL FROM ocpp.dynamic_schedules") is True
    async with fails(asyncpg.InvalidParameterValueError, match="limit_L4"):
        await db.execute("SELECT ocpp.set_dynamic_schedule('CS-21', 12, '{\"limit_L4\": 1}')")


async def test_an_update_pushed_is_the_one_pulled(db, station):
    command = await station.run("SELECT ocpp.update_dynamic_schedule('CS-21', 13, '{\"limit\": 11000}')",
                                response={"status": "Accepted"})
    row = await db.fetchrow("SELECT schedule_update, command_id, delivered_at FROM ocpp.dynamic_schedules")
    assert json.loads(row["schedule_update"]) == {"limit": 11000}
    assert row["command_id"] == command["id"] and row["delivered_at"] is not None
    answer = await station.call("PullDynamicScheduleUpdate", {"chargingProfileId": 13})
    assert answer["scheduleUpdate"] == {"limit": 11000}


# -- C: ad hoc payment ----------------------------------------------------------------------------


async def test_a_settlement_is_stored_against_its_transaction(db, station, rows):
    await started(station, "TX-PAY")
    company = {"name": "Acme BV", "address1": "Main 1", "city": "Arnhem", "country": "NL"}
    assert await station.call("NotifySettlement", {
        "transactionId": "TX-PAY", "pspRef": "PSP-123", "status": "Settled", "settlementAmount": 12.34,
        "settlementTime": T, "receiptId": "R-1", "vatNumber": "NL123456789B01", "vatCompany": company}) == {}
    settled = (await rows("SELECT s.status, s.settlement_amount, s.transaction_id = t.id AS linked, s.vat_company "
                          "FROM ocpp.settlements AS s, ocpp.transactions AS t WHERE t.remote_id = 'TX-PAY'"))[0]
    assert (settled["status"], float(settled["settlement_amount"]), settled["linked"]) == ("Settled", 12.34, True)
    assert json.loads(settled["vat_company"]) == company
    details = await db.fetchrow("SELECT settlement_status, settlement_amount FROM ocpp.transaction_details "
                                "WHERE remote_id = 'TX-PAY'")
    assert (details["settlement_status"], float(details["settlement_amount"])) == ("Settled", 12.34)
    # No transaction named: kept all the same.
    await station.call("NotifySettlement", {"pspRef": "PSP-124", "status": "Failed", "settlementAmount": 0,
                                            "settlementTime": T, "statusInfo": "card declined"})
    assert await db.fetchval("SELECT transaction_id FROM ocpp.settlements WHERE psp_ref = 'PSP-124'") is None


async def test_vat_numbers_are_answered_from_the_table_unknown_is_rejected(db, station, fails, rows):
    unknown = await station.call("VatNumberValidation", {"vatNumber": "DE999", "evseId": 1})
    assert unknown == {"vatNumber": "DE999", "evseId": 1, "status": "Rejected",
                       "statusInfo": {"reasonCode": "NotFound", "additionalInfo": "VAT number not known to this CSMS"}}
    company = {"name": "Acme BV", "address1": "Main 1", "city": "Arnhem", "country": "NL", "postalCode": "6811"}
    await db.execute("SELECT ocpp.set_vat_number('NL123456789B01', company => $1::jsonb)", json.dumps(company))
    await db.execute("SELECT ocpp.set_vat_number('DE999', 'Rejected')")
    valid = await station.call("VatNumberValidation", {"vatNumber": "nl123456789b01"})
    assert valid == {"vatNumber": "nl123456789b01", "status": "Accepted", "company": company}
    assert (await station.call("VatNumberValidation", {"vatNumber": "DE999"})) == {"vatNumber": "DE999",
                                                                                   "status": "Rejected"}
    asked = await rows("SELECT vat_number, status, known FROM ocpp.vat_number_validations ORDER BY id")
    assert [tuple(a.values()) for a in asked] == [("DE999", "Rejected", False), ("nl123456789b01", "Accepted", True),
                                                  ("DE999", "Rejected", True)]
    async with fails(asyncpg.InvalidParameterValueError, match="AddressType"):
        await db.execute("SELECT ocpp.set_vat_number('X1', company => '{\"name\": \"no address\"}')")
    assert await db.fetchval("SELECT ocpp.remove_vat_number('de999')") is True


# -- N: periodic event streams --------------------------------------------------------------------


async def test_a_periodic_event_stream_lands_in_a_chartable_table(db, station, rows):
    # The monitor the stream is for, as a monitoring report made it known.
    await station.call("NotifyMonitoringReport", {"requestId": 1, "seqNo": 0, "generatedAt": T, "monitor": [{
        "component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"},
        "variableMonitoring": [{"id": 21, "transaction": False, "value": 1, "type": "Periodic",
                                "severity": 8, "eventNotificationType": "CustomMonitor"}]}]})
    opened = await station.call("OpenPeriodicEventStream", {"constantStreamData": {
        "id": 5, "params": {"interval": 2, "values": 10}, "variableMonitoringId": 21}})
    assert opened == {"status": "Accepted"}
    sent = await station.send("NotifyPeriodicEventStream", {"id": 5, "pending": 0, "basetime": T, "data": [
        {"t": 0, "v": "7200.5"}, {"t": 2.5, "v": "7190"}, {"t": 5, "v": "n/a"}]})
    assert (sent["error_code"], sent["error_description"]) == (None, None)
    values = await rows("SELECT stream_id, component, evse_id, variable, at, value, numeric_value "
                        "FROM ocpp.periodic_event_values ORDER BY at")
    assert [(v["stream_id"], v["component"], v["evse_id"], v["variable"]) for v in values] == [
        (5, "EVSE", 1, "Power")] * 3
    assert [v["at"].isoformat() for v in values] == ["2025-03-01T10:00:00+00:00", "2025-03-01T10:00:02.500000+00:00",
                                                   "2025-03-01T10:00:05+00:00"]
    assert [v["numeric_value"] for v in values] == [7200.5, 7190.0, None]
    # A SEND is journaled alone: no answer.
    journal = await rows("SELECT direction, message_type, error_code FROM ocpp.message_log "
                         "WHERE action = 'NotifyPeriodicEventStream'")
    assert journal == [{"direction": "in", "message_type": 6, "error_code": None}]
    assert await station.call("ClosePeriodicEventStream", {"id": 5}) == {}
    stream = await db.fetchrow("SELECT open, interval_s, value_count, last_value_at FROM ocpp.periodic_event_streams")
    assert (stream["open"], stream["interval_s"], stream["value_count"]) == (False, 2, 10)
    assert stream["last_value_at"].isoformat() == "2025-03-01T10:00:05+00:00"


async def test_values_of_a_stream_never_opened_here_are_kept(db, station):
    await station.send("NotifyPeriodicEventStream",
                       {"id": 9, "pending": 3, "basetime": T, "data": [{"t": 1, "v": "1"}]})
    stream = await db.fetchrow("SELECT source, pending, variable FROM ocpp.periodic_event_streams WHERE stream_id = 9")
    assert tuple(stream) == ("data", 3, None)
    assert await db.fetchval("SELECT count(*) FROM ocpp.periodic_event_values WHERE stream_id = 9") == 1


async def test_streams_are_adjusted_and_listed_by_command(db, station):
    await station.call("OpenPeriodicEventStream", {"constantStreamData": {
        "id": 1, "params": {"interval": 60}, "variableMonitoringId": 99}})
    await station.call("OpenPeriodicEventStream", {"constantStreamData": {
        "id": 2, "params": {}, "variableMonitoringId": 98}})
    adjusted = await station.run("SELECT ocpp.adjust_periodic_event_stream('CS-21', 1, interval_s => 5)",
                                 response={"status": "Accepted"})
    assert adjusted["payload"] == {"id": 1, "params": {"interval": 5}}
    assert await db.fetchval("SELECT interval_s FROM ocpp.periodic_event_streams WHERE stream_id = 1") == 5
    listed = await station.run("SELECT ocpp.get_periodic_event_stream('CS-21')", response={"constantStreamData": [
        {"id": 1, "params": {"interval": 5}, "variableMonitoringId": 99},
        {"id": 3, "params": {"values": 4}, "variableMonitoringId": 97}]})
    assert listed["status"] == "completed"
    streams = {r["stream_id"]: (r["open"], r["source"]) for r in await db.fetch(
        "SELECT stream_id, open, source FROM ocpp.periodic_event_streams")}
    assert streams == {1: (True, "station"), 2: (False, "station"), 3: (True, "report")}


# -- M: certificate chain status ------------------------------------------------------------------


async def test_a_certificate_chain_is_answered_certificate_by_certificate(db, station, rows):
    good = {**HASH, "serialNumber": "01"}
    await db.execute("SELECT ocpp.set_certificate_status($1, $2, $3, $4, 'Good', 'MIIB', now() + interval '1 day')",
                     good["hashAlgorithm"], good["issuerNameHash"], good["issuerKeyHash"], good["serialNumber"])
    revoked = {**HASH, "serialNumber": "02"}
    await db.execute("SELECT ocpp.set_certificate_status($1, $2, $3, $4, 'Revoked')", revoked["hashAlgorithm"],
                     revoked["issuerNameHash"].upper(), revoked["issuerKeyHash"], revoked["serialNumber"])
    answer = await station.call("GetCertificateChainStatus", {"certificateStatusRequests": [
        {"certificateHashData": good, "source": "OCSP", "urls": ["http://ocsp.example"]},
        {"certificateHashData": revoked, "source": "CRL", "urls": ["http://crl.example/a.crl"]},
        {"certificateHashData": {**HASH, "serialNumber": "03"}, "source": "OCSP", "urls": ["http://ocsp.example"]}]})
    statuses = [(s["certificateHashData"]["serialNumber"], s["source"], s["status"])
                for s in answer["certificateStatus"]]
    assert statuses == [("01", "OCSP", "Good"), ("02", "CRL", "Revoked"), ("03", "OCSP", "Failed")]
    kept = await rows("SELECT serial_number, source, status, responder_url FROM ocpp.certificate_status_requests "
                      "ORDER BY serial_number")
    assert [tuple(k.values()) for k in kept] == [("01", "OCSP", "Good", "http://ocsp.example"),
                                                 ("02", "CRL", "Revoked", "http://crl.example/a.crl"),
                                                 ("03", "OCSP", "Failed", "http://ocsp.example")]
