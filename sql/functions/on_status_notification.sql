CREATE OR REPLACE FUNCTION ocpp.on_status_notification(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    connector integer := (payload->>'connectorId')::integer;
    charger_at timestamptz := ocpp._ts(payload->>'timestamp');
    previous text;
BEGIN
    INSERT INTO pgcsms.status_history
        (charge_point_id, evse_id, connector_id, status, error_code, info, vendor_id, vendor_error_code, charger_at)
    VALUES (charge_point_id, connector, connector, payload->>'status', payload->>'errorCode', payload->>'info',
            payload->>'vendorId', payload->>'vendorErrorCode', charger_at);

    SELECT c.status INTO previous FROM pgcsms.connectors AS c
     WHERE c.charge_point_id = on_status_notification.charge_point_id AND c.evse_id = connector AND c.connector_id = connector;
    -- A notification older than the state we hold (replayed after an outage)
    -- goes to the history only. Times from a clock that is unset (before 2010)
    -- or was running ahead order nothing: the notification is news.
    INSERT INTO pgcsms.connectors AS c
        (charge_point_id, evse_id, connector_id, status, error_code, info, vendor_id, vendor_error_code, status_at)
    VALUES (charge_point_id, connector, connector, payload->>'status', payload->>'errorCode', payload->>'info',
            payload->>'vendorId', payload->>'vendorErrorCode', charger_at)
    ON CONFLICT ON CONSTRAINT connectors_pkey DO UPDATE
       SET status = excluded.status, error_code = excluded.error_code, info = excluded.info,
           vendor_id = excluded.vendor_id, vendor_error_code = excluded.vendor_error_code,
           status_at = excluded.status_at, updated_at = now()
     WHERE c.status_at IS NULL OR excluded.status_at IS NULL OR excluded.status_at >= c.status_at
        OR excluded.status_at < '2010-01-01'
        OR c.status_at > now() + make_interval(secs => ocpp._setting('clock_skew_tolerance')::double precision);

    IF FOUND AND previous IS DISTINCT FROM payload->>'status' THEN
        PERFORM pg_notify('ocpp_event', jsonb_build_object(
            'event', 'status', 'charge_point_id', charge_point_id, 'connector_id', connector,
            'status', payload->>'status', 'error_code', payload->>'errorCode')::text);
    END IF;
    PERFORM ocpp._check_clock(charge_point_id, unique_id, charger_at);
    RETURN '{}'::jsonb;
END
$$;
COMMENT ON FUNCTION ocpp.on_status_notification(text, text, jsonb) IS
    'StatusNotification: a history row always; the connector''s current state unless the notification is older than it.';
