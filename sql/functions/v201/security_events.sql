-- OCPP 2.0.1 SecurityEventNotification (A04): stored as in 1.6
-- (ocpp._store_security_event, sql/functions/on_security_extension.sql), with
-- 2.0.1's event names and critical flags.
CREATE OR REPLACE FUNCTION ocpp.v201_security_event_notification(charge_point_id text, unique_id text, payload jsonb,
                                                                 ocpp_version text)
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT ocpp._store_security_event(charge_point_id, ocpp_version, payload)
$$;
COMMENT ON FUNCTION ocpp.v201_security_event_notification(text, text, jsonb, text) IS
    'SecurityEventNotification: stored in ocpp.security_events, flagged critical per the station''s version (OCPP 2.0.1 or 2.1 part 2 appendix 1); answered {}.';
