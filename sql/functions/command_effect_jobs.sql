-- Jobs: GetDiagnostics, UpdateFirmware, GetLog, SignedUpdateFirmware, and
-- OCPP 2.0.1's UpdateFirmware, GetLog, PublishFirmware and UnpublishFirmware
-- (the same fields where both versions have them), and the status
-- notifications that report on them (ocpp.on_job_status).
CREATE OR REPLACE FUNCTION ocpp._effect_job(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    job_kind text := CASE c.action WHEN 'GetDiagnostics' THEN 'diagnostics' WHEN 'UpdateFirmware' THEN 'firmware'
                                   WHEN 'GetLog' THEN 'log' WHEN 'SignedUpdateFirmware' THEN 'signed_firmware'
                                   ELSE 'publish_firmware' END;
BEGIN
    -- Unpublished: the local controller no longer serves that firmware.
    IF c.action = 'UnpublishFirmware' THEN
        IF c.response->>'status' = 'Unpublished' THEN
            UPDATE pgcsms.jobs AS j
               SET status = 'Unpublished', finished_at = coalesce(j.finished_at, now()), updated_at = now()
             WHERE j.charge_point_id = c.charge_point_id AND j.kind = 'publish_firmware'
               AND j.checksum = c.payload->>'checksum' AND j.status <> 'Unpublished';
        END IF;
        RETURN;
    END IF;
    IF c.status NOT IN ('accepted', 'completed') THEN
        RETURN;
    END IF;
    -- AcceptedCanceled: the charger cancelled the running job of the kind for
    -- this one. 1.6 diagnostics and firmware notifications carry no
    -- requestId, and a charger updates one firmware at a time: a new job
    -- replaces the open one.
    IF job_kind IN ('diagnostics', 'firmware') OR c.response->>'status' = 'AcceptedCanceled' THEN
        UPDATE pgcsms.jobs AS j
           SET status = CASE WHEN c.response->>'status' = 'AcceptedCanceled' THEN 'Canceled' ELSE 'Superseded' END,
               finished_at = now(), updated_at = now()
         WHERE j.charge_point_id = c.charge_point_id AND j.kind = job_kind AND j.finished_at IS NULL;
    END IF;
    INSERT INTO pgcsms.jobs (charge_point_id, kind, command_id, request_id, location, file_name, checksum, status)
    VALUES (c.charge_point_id, job_kind, c.id, (c.payload->>'requestId')::integer,
            coalesce(c.payload->>'location', c.payload#>>'{log,remoteLocation}', c.payload#>>'{firmware,location}'),
            coalesce(c.response->>'fileName', c.response->>'filename'), c.payload->>'checksum', 'Accepted');
END
$$;
COMMENT ON FUNCTION ocpp._effect_job(pgcsms.commands) IS
    'GetDiagnostics, UpdateFirmware, GetLog, SignedUpdateFirmware, PublishFirmware accepted: a job in ocpp.jobs (status Accepted, file name from the answer, checksum of published firmware) that the following status notifications update; AcceptedCanceled cancels the running job of the kind, a diagnostics or firmware job supersedes the open one. UnpublishFirmware answered Unpublished: the publish jobs of that checksum become Unpublished.';

-- Called by ocpp.on_job_status for each notification: the job it is about,
-- brought to the notified status. Idle reports no job.
CREATE OR REPLACE FUNCTION ocpp._link_job_status(charge_point_id text, kind text, status text, request_id integer)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    job bigint;
    final boolean := CASE
        WHEN kind = 'diagnostics' THEN status IN ('Uploaded', 'UploadFailed')
        -- 1.6's firmware statuses, and 2.0.1's, which has the signed firmware's failures
        WHEN kind IN ('firmware', 'signed_firmware') THEN status IN ('Installed', 'InstallationFailed', 'DownloadFailed',
                                                                     'InstallVerificationFailed', 'InvalidSignature')
        -- 2.0.1 reports the upload a newer GetLog cancelled as AcceptedCanceled
        WHEN kind = 'log' THEN status IN ('Uploaded', 'UploadFailure', 'BadMessage', 'NotSupportedOperation',
                                          'PermissionDenied', 'AcceptedCanceled')
        WHEN kind = 'publish_firmware' THEN status IN ('Published', 'DownloadFailed', 'InvalidChecksum', 'PublishFailed')
        ELSE false END;
BEGIN
    IF status IS NULL OR status = 'Idle' THEN
        RETURN NULL;
    END IF;
    -- 1.6 diagnostics and firmware notifications name no request.
    IF request_id IS NOT NULL THEN
        SELECT j.id INTO job FROM pgcsms.jobs AS j
         WHERE j.charge_point_id = _link_job_status.charge_point_id AND j.kind = _link_job_status.kind
           AND j.request_id = _link_job_status.request_id
         ORDER BY j.id DESC LIMIT 1;
    ELSE
        SELECT j.id INTO job FROM pgcsms.jobs AS j
         WHERE j.charge_point_id = _link_job_status.charge_point_id AND j.kind = _link_job_status.kind
           AND j.finished_at IS NULL
         ORDER BY j.id DESC LIMIT 1;
    END IF;
    IF job IS NOT NULL THEN
        UPDATE pgcsms.jobs AS j
           SET status = _link_job_status.status, updated_at = now(), finished_at = CASE WHEN final THEN now() END
         WHERE j.charge_point_id = _link_job_status.charge_point_id AND j.id = job AND j.finished_at IS NULL;
    END IF;
    RETURN job;
END
$$;
COMMENT ON FUNCTION ocpp._link_job_status(text, text, text, integer) IS
    'The job a status notification reports on (by requestId when it has one, else the newest open job of its kind), updated to its status and finished on a final one; NULL for Idle or when there is none.';
