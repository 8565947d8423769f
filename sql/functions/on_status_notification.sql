-- The state of a connector, the rule every OCPP version shares: a history row
-- always; the connector's current state unless the notification is older
-- than it; an event when the status changed. 1.6 numbers a connector by
-- connectorId alone (evse_id = connector_id), 2.0.1 by evseId and connectorId.
CREATE OR REPLACE FUNCTION ocpp._connector_status(
    charge_point_id text,
    unique_id text,
    ocpp_version text,
    evse_id integer,
    connector_id integer,
    status text,
    charger_at timestamptz,
    error_code text DEFAULT NULL,
    info text DEFAULT NULL,
    vendor_id text DEFAULT NULL,
    vendor_error_code text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    previous text;
BEGIN
    INSERT INTO pgcsms.status_history
        (charge_point_id, evse_id, connector_id, status, error_code, info, vendor_id, vendor_error_code, charger_at)
    VALUES (_connector_status.charge_point_id, _connector_status.evse_id, _connector_status.connector_id,
            _connector_status.status, _connector_status.error_code, _connector_status.info,
            _connector_status.vendor_id, _connector_status.vendor_error_code, _connector_status.charger_at);

    SELECT c.status INTO previous FROM pgcsms.connectors AS c
     WHERE c.charge_point_id = _connector_status.charge_point_id AND c.evse_id = _connector_status.evse_id
       AND c.connector_id = _connector_status.connector_id;
    -- A notification older than the state we hold (replayed after an outage)
    -- goes to the history only. Times from a clock that is unset (before 2010)
    -- or was running ahead order nothing: the notification is news.
    INSERT INTO pgcsms.connectors AS c
        (charge_point_id, evse_id, connector_id, status, error_code, info, vendor_id, vendor_error_code, status_at)
    VALUES (_connector_status.charge_point_id, _connector_status.evse_id, _connector_status.connector_id,
            _connector_status.status, _connector_status.error_code, _connector_status.info,
            _connector_status.vendor_id, _connector_status.vendor_error_code, _connector_status.charger_at)
    ON CONFLICT ON CONSTRAINT connectors_pkey DO UPDATE
       SET status = excluded.status, error_code = excluded.error_code, info = excluded.info,
           vendor_id = excluded.vendor_id, vendor_error_code = excluded.vendor_error_code,
           status_at = excluded.status_at, updated_at = now()
     WHERE c.status_at IS NULL OR excluded.status_at IS NULL OR excluded.status_at >= c.status_at
        OR excluded.status_at < '2010-01-01'
        OR c.status_at > now() + make_interval(secs => ocpp._setting('clock_skew_tolerance')::double precision);

    IF FOUND AND previous IS DISTINCT FROM _connector_status.status THEN
        PERFORM pg_notify('ocpp_event', jsonb_build_object(
            'event', 'status', 'charge_point_id', _connector_status.charge_point_id,
            'connector_id', _connector_status.connector_id, 'status', _connector_status.status,
            'error_code', _connector_status.error_code, 'evse_id', _connector_status.evse_id,
            'ocpp_version', _connector_status.ocpp_version)::text);
    END IF;
    PERFORM ocpp._check_clock(_connector_status.charge_point_id, _connector_status.unique_id,
                              _connector_status.charger_at);
END
$$;
COMMENT ON FUNCTION ocpp._connector_status(text, text, text, integer, integer, text, timestamptz, text, text, text, text) IS
    'The status of a connector in any OCPP version (1.6 StatusNotification; 2.0.1 StatusNotification, NotifyEvent AvailabilityState): a history row always; the connector''s current state unless the notification is older than it; ocpp_event {"event":"status",...} when the status changed; the charger clock checked.';

CREATE OR REPLACE FUNCTION ocpp.on_status_notification(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    connector integer := (payload->>'connectorId')::integer;
BEGIN
    PERFORM ocpp._connector_status(
        charge_point_id, unique_id, '1.6', connector, connector, payload->>'status', ocpp._ts(payload->>'timestamp'),
        payload->>'errorCode', payload->>'info', payload->>'vendorId', payload->>'vendorErrorCode');
    RETURN '{}'::jsonb;
END
$$;
COMMENT ON FUNCTION ocpp.on_status_notification(text, text, jsonb) IS
    'StatusNotification (1.6): the connector''s status (ocpp._connector_status), the 1.6 connectorId as both evse_id and connector_id.';
