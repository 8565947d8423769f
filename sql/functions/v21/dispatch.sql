-- OCPP 2.1: the handler of each action a charging station sends. 2.1 is
-- 2.0.1 extended (Part 0 §1.1: its schemas are 2.0.1's with optional fields
-- added), so the messages both have go to 2.0.1's handlers, told the version
-- (ocpp._dispatch_v201(..., '2.1')); this CASE routes only what 2.1 adds or
-- stores beyond 2.0.1 (tests/sql/v21/test_v21_catalog.py proves both cover
-- exactly the catalog's station actions). Handlers are
-- ocpp.v21_<action in snake case>(charge_point_id, unique_id, payload)
-- RETURNS jsonb, one concern a file in this folder. NotifyPeriodicEventStream
-- comes as a SEND (ocpp.parse with message_type 6): its answer is dropped.
CREATE OR REPLACE FUNCTION ocpp._dispatch_v21(charge_point_id text, unique_id text, action text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
BEGIN
    RETURN CASE action
        WHEN 'TransactionEvent' THEN ocpp.v21_transaction_event(charge_point_id, unique_id, payload)
        WHEN 'BatterySwap' THEN ocpp.v21_battery_swap(charge_point_id, unique_id, payload)
        WHEN 'NotifyDERAlarm' THEN ocpp.v21_notify_der_alarm(charge_point_id, unique_id, payload)
        WHEN 'NotifyDERStartStop' THEN ocpp.v21_notify_der_start_stop(charge_point_id, unique_id, payload)
        WHEN 'ReportDERControl' THEN ocpp.v21_report_der_control(charge_point_id, unique_id, payload)
        WHEN 'NotifyPriorityCharging' THEN ocpp.v21_notify_priority_charging(charge_point_id, unique_id, payload)
        WHEN 'PullDynamicScheduleUpdate' THEN ocpp.v21_pull_dynamic_schedule_update(charge_point_id, unique_id, payload)
        WHEN 'NotifySettlement' THEN ocpp.v21_notify_settlement(charge_point_id, unique_id, payload)
        WHEN 'VatNumberValidation' THEN ocpp.v21_vat_number_validation(charge_point_id, unique_id, payload)
        WHEN 'OpenPeriodicEventStream' THEN ocpp.v21_open_periodic_event_stream(charge_point_id, unique_id, payload)
        WHEN 'ClosePeriodicEventStream' THEN ocpp.v21_close_periodic_event_stream(charge_point_id, unique_id, payload)
        WHEN 'NotifyPeriodicEventStream' THEN ocpp.v21_notify_periodic_event_stream(charge_point_id, unique_id, payload)
        WHEN 'GetCertificateChainStatus' THEN ocpp.v21_get_certificate_chain_status(charge_point_id, unique_id, payload)
        ELSE ocpp._dispatch_v201(charge_point_id, unique_id, action, payload, '2.1')
    END;
END
$$;
COMMENT ON FUNCTION ocpp._dispatch_v21(text, text, text, jsonb) IS
    'Routes an OCPP 2.1 CALL (or SEND) from a charging station to its handler, after ocpp._dispatch checked the registration: the new 2.1 messages and TransactionEvent to sql/functions/v21/, every other message 2.0.1 has to ocpp._dispatch_v201 with ocpp_version 2.1.';
