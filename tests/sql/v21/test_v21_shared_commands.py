"""The 40 commands OCPP 2.1 shares with 2.0.1: their helpers build 2.1 payloads for a 2.1 station.

A 2.1 station gets 2.0.1's payloads (2.1's schemas are 2.0.1's extended), so
each helper that builds a payload by version treats 2.1 as 2.0.1
(``ocpp._is_v2``); every payload must pass the 2.1 request schema, and each
answer's effect is 2.0.1's (``ocpp._command_effect_v21`` passes them on).
"""

from __future__ import annotations

import pytest
from pgcsms.proxy import catalog

pytestmark = pytest.mark.rollback

PROFILE = ('{"id": 7, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": '
           '"Absolute", "chargingSchedule": [{"id": 1, "chargingRateUnit": "W", "startSchedule": '
           '"2025-03-01T10:00:00Z", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000}]}]}')
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

# The helper call of each command 2.0.1 and 2.1 share, for CS-21.
HELPERS: dict[str, str] = {
    "CancelReservation": "SELECT ocpp.cancel_reservation('CS-21', 4)",
    "CertificateSigned": f"SELECT ocpp.certificate_signed('CS-21', '{PEM}', certificate_type => 'V2GCertificate')",
    "ChangeAvailability": "SELECT ocpp.change_availability('CS-21', 0, 'Inoperative', evse_id => 1)",
    "ClearCache": "SELECT ocpp.clear_cache('CS-21')",
    "ClearChargingProfile": "SELECT ocpp.clear_charging_profile('CS-21', id => 7)",
    "ClearDisplayMessage": "SELECT ocpp.clear_display_message('CS-21', 3)",
    "ClearVariableMonitoring": "SELECT ocpp.clear_variable_monitoring('CS-21', ARRAY[3])",
    "CostUpdated": "SELECT ocpp.cost_updated('CS-21', 'TX-1', 1.20)",
    "CustomerInformation": "SELECT ocpp.customer_information('CS-21', report => true, clear => false, "
                           "customer_identifier => 'C-1')",
    "DataTransfer": "SELECT ocpp.data_transfer('CS-21', 'com.example', json_data => '{\"a\": 1}')",
    "DeleteCertificate": "SELECT ocpp.delete_certificate('CS-21', 'SHA256', repeat('a', 64), repeat('b', 64), '0A')",
    "GetBaseReport": "SELECT ocpp.get_base_report('CS-21', 'FullInventory')",
    "GetChargingProfiles": "SELECT ocpp.get_charging_profiles('CS-21', charging_profile_ids => ARRAY[7])",
    "GetCompositeSchedule": "SELECT ocpp.get_composite_schedule('CS-21', duration => 3600, evse_id => 1)",
    "GetDisplayMessages": "SELECT ocpp.get_display_messages('CS-21')",
    "GetInstalledCertificateIds": "SELECT ocpp.get_installed_certificate_ids('CS-21', 'V2GRootCertificate')",
    "GetLocalListVersion": "SELECT ocpp.get_local_list_version('CS-21')",
    "GetLog": "SELECT ocpp.get_log('CS-21', 'DiagnosticsLog', 5, 'https://logs.example/up')",
    "GetMonitoringReport": "SELECT ocpp.get_monitoring_report('CS-21')",
    "GetReport": "SELECT ocpp.get_report('CS-21', component_criteria => ARRAY['Active'])",
    "GetTransactionStatus": "SELECT ocpp.get_transaction_status('CS-21', 'TX-1')",
    "GetVariables": "SELECT ocpp.get_variables('CS-21', ARRAY['OCPPCommCtrlr/HeartbeatInterval'])",
    "InstallCertificate": f"SELECT ocpp.install_certificate('CS-21', 'CSMSRootCertificate', '{PEM}')",
    "PublishFirmware": "SELECT ocpp.publish_firmware('CS-21', 'https://fw.example/1.bin', repeat('c', 32))",
    "RequestStartTransaction": "SELECT ocpp.request_start_transaction('CS-21', 'REMOTE-1', evse_id => 1)",
    "RequestStopTransaction": "SELECT ocpp.request_stop_transaction('CS-21', 'TX-1')",
    "ReserveNow": "SELECT ocpp.reserve_now('CS-21', NULL, 'RES-TAG', now() + interval '1 hour', evse_id => 1)",
    "Reset": "SELECT ocpp.reset('CS-21')",
    "SendLocalList": "SELECT ocpp.send_local_list('CS-21', 'Full')",
    "SetChargingProfile": f"SELECT ocpp.set_charging_profile('CS-21', evse_id => 1, charging_profile => '{PROFILE}')",
    "SetDisplayMessage": "SELECT ocpp.set_display_message('CS-21', 'Bidirectional charging today', 'InFront')",
    "SetMonitoringBase": "SELECT ocpp.set_monitoring_base('CS-21', 'All')",
    "SetMonitoringLevel": "SELECT ocpp.set_monitoring_level('CS-21', 5)",
    "SetNetworkProfile": "SELECT ocpp.set_network_profile('CS-21', 1, 'wss://csms.example/ocpp', 2)",
    "SetVariableMonitoring": "SELECT ocpp.set_variable_monitoring('CS-21', 'EVSE/Power', 'UpperThreshold', 20000, "
                             "4, evse_id => 1)",
    "SetVariables": "SELECT ocpp.set_variables('CS-21', '{\"OCPPCommCtrlr/HeartbeatInterval\": \"300\"}')",
    "TriggerMessage": "SELECT ocpp.trigger_message('CS-21', 'StatusNotification', 1, evse_id => 1)",
    "UnlockConnector": "SELECT ocpp.unlock_connector('CS-21', 1, evse_id => 1)",
    "UnpublishFirmware": "SELECT ocpp.unpublish_firmware('CS-21', repeat('c', 32))",
    "UpdateFirmware": "SELECT ocpp.update_firmware('CS-21', 'https://fw.example/2.bin')",
}


def test_every_shared_command_has_an_example():
    assert set(HELPERS) == catalog.central_system_actions("2.0.1")


@pytest.mark.parametrize("action", sorted(HELPERS))
async def test_a_shared_helper_builds_a_2_1_payload(db, station, action):
    command_id = await db.fetchval(HELPERS[action])
    sent = await station.deliver(command_id)  # checked against the 2.1 request schema
    assert sent["action"] == action
    assert await db.fetchval("SELECT ocpp_version FROM pgcsms.commands WHERE id = $1", command_id) == "2.1"


async def test_a_shared_command_has_its_2_0_1_effect(db, station):
    row = await station.run(HELPERS["SetChargingProfile"], response={"status": "Accepted"})
    assert row["status"] == "accepted"
    assert await db.fetchval("SELECT evse_id FROM ocpp.charging_profiles WHERE charge_point_id = 'CS-21'") == 1
    row = await station.run(HELPERS["SetVariables"], response={"setVariableResult": [{
        "attributeStatus": "Accepted", "component": {"name": "OCPPCommCtrlr"},
        "variable": {"name": "HeartbeatInterval"}}]})
    assert row["status"] == "completed"
    assert await db.fetchval("SELECT value FROM ocpp.device_variables WHERE charge_point_id = 'CS-21' "
                             "AND variable = 'HeartbeatInterval'") == "300"


async def test_while_pending_a_2_1_station_gets_what_a_2_0_1_one_gets(db, station):
    await db.execute("UPDATE pgcsms.charge_points SET registration_status = 'Pending' WHERE id = 'CS-21'")
    waiting = await db.fetchval(HELPERS["Reset"])
    allowed = await db.fetchval(HELPERS["GetVariables"])
    sent = await station.deliver(allowed)
    assert sent["action"] == "GetVariables"
    assert await db.fetchval("SELECT status FROM ocpp.commands WHERE id = $1", waiting) == "queued"


async def test_a_2_1_command_is_refused_to_a_2_0_1_station(db, fails):
    import asyncpg

    await db.execute("SELECT ocpp.add_charge_point('CS-201')")
    await db.execute("SELECT ocpp.connect('CS-201', 'n', NULL, '2.0.1')")
    async with fails(asyncpg.InvalidParameterValueError, match=r"OCPP 2\.0\.1 charge point"):
        await db.execute("SELECT ocpp.afrr_signal('CS-201', 1)")
