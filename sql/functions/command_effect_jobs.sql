-- Jobs: GetDiagnostics, UpdateFirmware, GetLog, SignedUpdateFirmware, and the
-- status notifications that report on them (ocpp.on_job_status).
CREATE OR REPLACE FUNCTION ocpp._effect_job(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    job_kind text := CASE c.action WHEN 'GetDiagnostics' THEN 'diagnostics' WHEN 'UpdateFirmware' THEN 'firmware'
                                   WHEN 'GetLog' THEN 'log' ELSE 'signed_firmware' END;
BEGIN
    IF c.status NOT IN ('accepted', 'completed') THEN
        RETURN;
    END IF;
    -- Diagnostics and firmware notifications carry no requestId: a new job
    -- replaces the open one. GetLog and SignedUpdateFirmware say so:
    -- AcceptedCanceled means the running one was cancelled.
    IF job_kind IN ('diagnostics', 'firmware') OR c.response->>'status' = 'AcceptedCanceled' THEN
        UPDATE pgcsms.jobs AS j
           SET status = CASE WHEN job_kind IN ('diagnostics', 'firmware') THEN 'Superseded' ELSE 'Canceled' END,
               finished_at = now(), updated_at = now()
         WHERE j.charge_point_id = c.charge_point_id AND j.kind = job_kind AND j.finished_at IS NULL;
    END IF;
    INSERT INTO pgcsms.jobs (charge_point_id, kind, command_id, request_id, location, file_name, status)
    VALUES (c.charge_point_id, job_kind, c.id, (c.payload->>'requestId')::integer,
            coalesce(c.payload->>'location', c.payload#>>'{log,remoteLocation}', c.payload#>>'{firmware,location}'),
            coalesce(c.response->>'fileName', c.response->>'filename'), 'Accepted');
END
$$;
COMMENT ON FUNCTION ocpp._effect_job(pgcsms.commands) IS
    'GetDiagnostics, UpdateFirmware, GetLog, SignedUpdateFirmware accepted: a job in ocpp.jobs (status Accepted, file name from the answer) that the following status notifications update.';

-- Called by ocpp.on_job_status for each notification: the job it is about,
-- brought to the notified status. Idle reports no job.
CREATE OR REPLACE FUNCTION ocpp._link_job_status(charge_point_id text, kind text, status text, request_id integer)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    job bigint;
    final boolean := CASE kind
        WHEN 'diagnostics' THEN status IN ('Uploaded', 'UploadFailed')
        WHEN 'firmware' THEN status IN ('Installed', 'InstallationFailed', 'DownloadFailed')
        WHEN 'log' THEN status IN ('Uploaded', 'UploadFailure', 'BadMessage', 'NotSupportedOperation', 'PermissionDenied')
        WHEN 'signed_firmware' THEN status IN ('Installed', 'InstallationFailed', 'DownloadFailed',
                                               'InstallVerificationFailed', 'InvalidSignature')
        ELSE false END;
BEGIN
    IF status IS NULL OR status = 'Idle' THEN
        RETURN NULL;
    END IF;
    IF request_id IS NOT NULL AND kind IN ('log', 'signed_firmware') THEN
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
    'The job a status notification reports on (log and signed_firmware by requestId, else the newest open job of its kind), updated to its status and finished on a final one; NULL for Idle or when there is none.';
