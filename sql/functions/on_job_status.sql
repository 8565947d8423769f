-- DiagnosticsStatusNotification, FirmwareStatusNotification and the security
-- extension's LogStatusNotification and SignedFirmwareStatusNotification; for
-- OCPP 2.0.1 also FirmwareStatusNotification, LogStatusNotification and
-- PublishFirmwareStatusNotification (sql/functions/v201/firmware_and_logs.sql):
-- the same status and requestId fields, and where published firmware is.
CREATE OR REPLACE FUNCTION ocpp.on_job_status(charge_point_id text, kind text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    job bigint := ocpp._link_job_status(charge_point_id, kind, payload->>'status', (payload->>'requestId')::integer);
    locations text[] := CASE WHEN jsonb_typeof(payload->'location') = 'array'
                             THEN ARRAY(SELECT jsonb_array_elements_text(payload->'location')) END;
BEGIN
    INSERT INTO pgcsms.job_status_history (charge_point_id, kind, status, request_id, job_id, locations)
    VALUES (charge_point_id, kind, payload->>'status', (payload->>'requestId')::integer, job, locations);
    IF locations IS NOT NULL AND job IS NOT NULL THEN
        UPDATE pgcsms.jobs AS j SET published_locations = locations, updated_at = now()
         WHERE j.charge_point_id = on_job_status.charge_point_id AND j.id = job;
    END IF;
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
    'Diagnostics, firmware, log, signed-firmware and (2.0.1) publish-firmware status notifications: a history row linked to the job it reports on (ocpp.jobs, see ocpp._link_job_status), the locations published firmware is served from, and the charger''s current firmware or diagnostics status.';
