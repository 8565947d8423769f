-- BootNotification, the rule every OCPP version shares: the charger says what
-- it is, we answer its registration status (the unknown_charge_points policy
-- already registered an unknown one, see ocpp._dispatch) with the interval of
-- that status. 1.6 and 2.0.1 answer the same three fields.
CREATE OR REPLACE FUNCTION ocpp._boot(
    charge_point_id text,
    ocpp_version text,
    reason text DEFAULT NULL,
    vendor text DEFAULT NULL,
    model text DEFAULT NULL,
    serial_number text DEFAULT NULL,
    charge_box_serial_number text DEFAULT NULL,
    firmware_version text DEFAULT NULL,
    iccid text DEFAULT NULL,
    imsi text DEFAULT NULL,
    meter_type text DEFAULT NULL,
    meter_serial_number text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    status text;
BEGIN
    -- A boot tells the new truth, including what is no longer said.
    UPDATE pgcsms.charge_points AS cp
       SET vendor = _boot.vendor,
           model = _boot.model,
           serial_number = _boot.serial_number,
           charge_box_serial_number = _boot.charge_box_serial_number,
           firmware_version = _boot.firmware_version,
           iccid = _boot.iccid,
           imsi = _boot.imsi,
           meter_type = _boot.meter_type,
           meter_serial_number = _boot.meter_serial_number,
           boot_reason = _boot.reason,
           last_boot_at = now(),
           boot_status = cp.registration_status,  -- what the charger believes until it boots again
           updated_at = now()
     WHERE cp.id = _boot.charge_point_id
    RETURNING cp.registration_status INTO status;
    -- Commands may have waited for the acceptance (2.0.1 B02: only a few
    -- actions go to a Pending station): wake the proxy that holds the socket.
    IF status = 'Accepted' AND EXISTS (SELECT FROM pgcsms.commands AS c
                                        WHERE c.charge_point_id = _boot.charge_point_id AND c.status = 'queued') THEN
        PERFORM pg_notify('pgcsms_command', charge_point_id);
    END IF;
    PERFORM pg_notify('ocpp_event', jsonb_strip_nulls(jsonb_build_object(
        'event', 'boot', 'charge_point_id', charge_point_id, 'status', status, 'reason', reason,
        'ocpp_version', ocpp_version))::text);
    RETURN jsonb_build_object(
        'status', status,
        'currentTime', ocpp._iso(now()),
        'interval', CASE WHEN status = 'Accepted' THEN ocpp._setting('heartbeat_interval')
                         ELSE ocpp._setting('pending_retry_interval') END::integer);
END
$$;
COMMENT ON FUNCTION ocpp._boot(text, text, text, text, text, text, text, text, text, text, text, text) IS
    'BootNotification in any OCPP version: records what the charger says of itself (and the 2.0.1 boot reason), last_boot_at, notifies ocpp_event {"event":"boot",...} and wakes command delivery when Accepted; returns the answer {status, currentTime, interval}: heartbeat_interval when Accepted, pending_retry_interval otherwise.';

CREATE OR REPLACE FUNCTION ocpp.on_boot_notification(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT ocpp._boot(
        charge_point_id, '1.6',
        vendor => payload->>'chargePointVendor',
        model => payload->>'chargePointModel',
        serial_number => payload->>'chargePointSerialNumber',
        charge_box_serial_number => payload->>'chargeBoxSerialNumber',
        firmware_version => payload->>'firmwareVersion',
        iccid => payload->>'iccid',
        imsi => payload->>'imsi',
        meter_type => payload->>'meterType',
        meter_serial_number => payload->>'meterSerialNumber')
$$;
COMMENT ON FUNCTION ocpp.on_boot_notification(text, text, jsonb) IS
    'BootNotification (1.6): records what the charger says of itself; answers its registration status, with heartbeat_interval when Accepted, pending_retry_interval otherwise (ocpp._boot).';
