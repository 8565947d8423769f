-- OCPP 2.0.1 SecurityEventNotification (A04): stored as in 1.6
-- (ocpp._store_security_event, sql/functions/on_security_extension.sql), with
-- 2.0.1's event names and critical flags.
CREATE OR REPLACE FUNCTION ocpp.v201_security_event_notification(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT ocpp._store_security_event(charge_point_id, '2.0.1', payload)
$$;
COMMENT ON FUNCTION ocpp.v201_security_event_notification(text, text, jsonb) IS
    'SecurityEventNotification: stored in ocpp.security_events, flagged critical per OCPP 2.0.1 part 2 appendix 1; answered {}.';
