-- OCPP 2.0.1: the handler of each action a charging station sends (the
-- actions themselves come from the schema catalog, pgcsms.protocol_actions;
-- tests/sql/v201/test_catalog.py proves this CASE covers exactly them).
-- Handlers are ocpp.v201_<action in snake case>(charge_point_id, unique_id,
-- payload) RETURNS jsonb, one concern a file in this folder (those that record
-- the station's version take it as a fourth argument: 2.1 stations use them
-- too, through ocpp._dispatch_v21); the rules they
-- share with 1.6 (authorize a token, open/close a transaction, store meter
-- values, connector status) are version-neutral functions in sql/functions/.
CREATE OR REPLACE FUNCTION ocpp._dispatch_v201(
    charge_point_id text, unique_id text, action text, payload jsonb, ocpp_version text DEFAULT '2.0.1')
RETURNS jsonb
LANGUAGE plpgsql
AS $$
BEGIN
    RETURN CASE action
        WHEN 'BootNotification' THEN ocpp.v201_boot_notification(charge_point_id, unique_id, payload, ocpp_version)
        WHEN 'Heartbeat' THEN ocpp.v201_heartbeat(charge_point_id, unique_id, payload)
        WHEN 'StatusNotification' THEN ocpp.v201_status_notification(charge_point_id, unique_id, payload, ocpp_version)
        WHEN 'NotifyReport' THEN ocpp.v201_notify_report(charge_point_id, unique_id, payload)
        WHEN 'Authorize' THEN ocpp.v201_authorize(charge_point_id, unique_id, payload)
        WHEN 'TransactionEvent' THEN ocpp.v201_transaction_event(charge_point_id, unique_id, payload, ocpp_version)
        WHEN 'MeterValues' THEN ocpp.v201_meter_values(charge_point_id, unique_id, payload, ocpp_version)
        WHEN 'DataTransfer' THEN ocpp.v201_data_transfer(charge_point_id, unique_id, payload)
        WHEN 'NotifyEvent' THEN ocpp.v201_notify_event(charge_point_id, unique_id, payload, ocpp_version)
        WHEN 'NotifyMonitoringReport' THEN ocpp.v201_notify_monitoring_report(charge_point_id, unique_id, payload)
        WHEN 'NotifyCustomerInformation' THEN ocpp.v201_notify_customer_information(charge_point_id, unique_id, payload)
        WHEN 'LogStatusNotification' THEN ocpp.v201_log_status_notification(charge_point_id, unique_id, payload)
        WHEN 'FirmwareStatusNotification' THEN ocpp.v201_firmware_status_notification(charge_point_id, unique_id, payload)
        WHEN 'PublishFirmwareStatusNotification' THEN
            ocpp.v201_publish_firmware_status_notification(charge_point_id, unique_id, payload)
        WHEN 'SecurityEventNotification' THEN ocpp.v201_security_event_notification(charge_point_id, unique_id, payload, ocpp_version)
        WHEN 'SignCertificate' THEN ocpp.v201_sign_certificate(charge_point_id, unique_id, payload)
        WHEN 'Get15118EVCertificate' THEN ocpp.v201_get15118_ev_certificate(charge_point_id, unique_id, payload)
        WHEN 'GetCertificateStatus' THEN ocpp.v201_get_certificate_status(charge_point_id, unique_id, payload)
        WHEN 'NotifyChargingLimit' THEN ocpp.v201_notify_charging_limit(charge_point_id, unique_id, payload)
        WHEN 'ClearedChargingLimit' THEN ocpp.v201_cleared_charging_limit(charge_point_id, unique_id, payload)
        WHEN 'NotifyEVChargingNeeds' THEN ocpp.v201_notify_ev_charging_needs(charge_point_id, unique_id, payload)
        WHEN 'NotifyEVChargingSchedule' THEN ocpp.v201_notify_ev_charging_schedule(charge_point_id, unique_id, payload)
        WHEN 'ReportChargingProfiles' THEN ocpp.v201_report_charging_profiles(charge_point_id, unique_id, payload)
        WHEN 'ReservationStatusUpdate' THEN ocpp.v201_reservation_status_update(charge_point_id, unique_id, payload)
        WHEN 'NotifyDisplayMessages' THEN ocpp.v201_notify_display_messages(charge_point_id, unique_id, payload)
        ELSE ocpp._not_implemented(action)
    END;
END
$$;
COMMENT ON FUNCTION ocpp._dispatch_v201(text, text, text, jsonb, text) IS
    'Routes an OCPP 2.0.1 CALL from a charging station to its handler (sql/functions/v201/), after ocpp._dispatch checked the registration; ocpp_version 2.1 for a 2.1 station''s message that 2.0.1 has too (ocpp._dispatch_v21), recorded as such.';
