-- DiagnosticsStatusNotification, FirmwareStatusNotification and the security
-- extension's LogStatusNotification and SignedFirmwareStatusNotification.
CREATE OR REPLACE FUNCTION ocpp.on_job_status(charge_point_id text, kind text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO pgcsms.job_status_history (charge_point_id, kind, status, request_id, job_id)
    VALUES (charge_point_id, kind, payload->>'status', (payload->>'requestId')::integer,
            ocpp._link_job_status(charge_point_id, kind, payload->>'status', (payload->>'requestId')::integer));
    IF kind IN ('firmware', 'signed_firmware') THEN
        UPDATE pgcsms.charge_points AS cp SET firmware_status = payload->>'status', firmware_status_at = now()
         WHERE cp.id = on_job_status.charge_point_id;
    ELSIF kind = 'diagnostics' THEN
        UPDATE pgcsms.charge_points AS cp SET diagnostics_status = payload->>'status', diagnostics_status_at = now()
         WHERE cp.id = on_job_status.charge_point_id;
    END IF;
    RETURN '{}'::jsonb;
END
$$;
COMMENT ON FUNCTION ocpp.on_job_status(text, text, jsonb) IS
    'Diagnostics, firmware, log and signed-firmware status notifications: a history row linked to the job it reports on (ocpp.jobs, see ocpp._link_job_status), and the charger''s current firmware or diagnostics status.';
