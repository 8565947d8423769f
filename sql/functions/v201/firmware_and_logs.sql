-- OCPP 2.0.1 firmware (L) and log (N01) notifications: the jobs of 1.6
-- (ocpp.on_job_status, sql/functions/on_job_status.sql), followed by the
-- requestId of our UpdateFirmware, GetLog or PublishFirmware. The commands'
-- effect is ocpp._effect_job (sql/functions/command_effect_jobs.sql), as in 1.6.

CREATE OR REPLACE FUNCTION ocpp.v201_firmware_status_notification(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT ocpp.on_job_status(charge_point_id, 'firmware', payload)
$$;
COMMENT ON FUNCTION ocpp.v201_firmware_status_notification(text, text, jsonb) IS
    'FirmwareStatusNotification: a firmware job status (ocpp.job_status_history, the UpdateFirmware job of its requestId in ocpp.jobs) and the station''s firmware status.';

CREATE OR REPLACE FUNCTION ocpp.v201_log_status_notification(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT ocpp.on_job_status(charge_point_id, 'log', payload)
$$;
COMMENT ON FUNCTION ocpp.v201_log_status_notification(text, text, jsonb) IS
    'LogStatusNotification: a log upload status (ocpp.job_status_history, the GetLog job of its requestId in ocpp.jobs).';

CREATE OR REPLACE FUNCTION ocpp.v201_publish_firmware_status_notification(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT ocpp.on_job_status(charge_point_id, 'publish_firmware', payload)
$$;
COMMENT ON FUNCTION ocpp.v201_publish_firmware_status_notification(text, text, jsonb) IS
    'PublishFirmwareStatusNotification: a publish status of a local controller (ocpp.job_status_history, the PublishFirmware job of its requestId in ocpp.jobs), with the URIs it publishes the firmware at once Published.';
