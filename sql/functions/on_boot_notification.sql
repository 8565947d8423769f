CREATE OR REPLACE FUNCTION ocpp.on_boot_notification(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    status text;
BEGIN
    UPDATE pgcsms.charge_points AS cp
       SET vendor = payload->>'chargePointVendor',
           model = payload->>'chargePointModel',
           serial_number = payload->>'chargePointSerialNumber',
           charge_box_serial_number = payload->>'chargeBoxSerialNumber',
           firmware_version = payload->>'firmwareVersion',
           iccid = payload->>'iccid',
           imsi = payload->>'imsi',
           meter_type = payload->>'meterType',
           meter_serial_number = payload->>'meterSerialNumber',
           last_boot_at = now(),
           updated_at = now()
     WHERE cp.id = on_boot_notification.charge_point_id
    RETURNING cp.registration_status INTO status;
    PERFORM pg_notify('ocpp_event', jsonb_build_object(
        'event', 'boot', 'charge_point_id', charge_point_id, 'status', status)::text);
    RETURN jsonb_build_object(
        'status', status,
        'currentTime', ocpp._iso(now()),
        'interval', CASE WHEN status = 'Accepted' THEN ocpp._setting('heartbeat_interval')
                         ELSE ocpp._setting('pending_retry_interval') END::integer);
END
$$;
COMMENT ON FUNCTION ocpp.on_boot_notification(text, text, jsonb) IS
    'BootNotification: records what the charger says of itself; answers its registration status, with heartbeat_interval when Accepted, pending_retry_interval otherwise.';
