-- The journal for frames that ocpp.parse does not see: frames the proxy could
-- not read or refused before any business rule ran, and the CALLERRORs it
-- answered them with: one exchange, one row (pgcsms.journal), one call.
CREATE OR REPLACE FUNCTION ocpp.log_rejected(
    charge_point_id text,
    unique_id text,
    action text,
    payload jsonb,
    raw text,
    error_code text,
    error_description text,
    node_id text DEFAULT NULL,
    message_type smallint DEFAULT 2)
RETURNS void
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO pgcsms.journal
        (charge_point_id, direction, message_type, unique_id, action, payload, raw, answer_type, error_code,
         error_description, node_id, answered_at)
    VALUES
        (charge_point_id, 'in', message_type, unique_id, action, payload,
         CASE WHEN payload IS NULL THEN ocpp._redact_raw(raw) END, 4, error_code, error_description, node_id,
         clock_timestamp())
$$;
COMMENT ON FUNCTION ocpp.log_rejected(text, text, text, jsonb, text, text, text, text, smallint) IS
    'Journals a frame the proxy refused (unreadable, unknown action, schema violation) and the CALLERROR it answered, as one exchange (ocpp.message_log shows the two frames). raw is kept when the frame could not be parsed; message_type NULL when even that is unknown.';
REVOKE ALL ON FUNCTION ocpp.log_rejected(text, text, text, jsonb, text, text, text, text, smallint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.log_rejected(text, text, text, jsonb, text, text, text, text, smallint) TO pgcsms_proxy;

CREATE OR REPLACE FUNCTION ocpp.log_frame(
    charge_point_id text,
    direction text,
    message_type smallint,
    unique_id text,
    action text,
    payload jsonb,
    raw text DEFAULT NULL,
    error_code text DEFAULT NULL,
    error_description text DEFAULT NULL,
    node_id text DEFAULT NULL)
RETURNS void
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO pgcsms.journal
        (charge_point_id, direction, message_type, unique_id, action, payload, raw, error_code,
         error_description, node_id)
    VALUES (charge_point_id, direction, message_type, unique_id, action, payload, ocpp._redact_raw(raw), error_code,
            error_description, node_id)
$$;
COMMENT ON FUNCTION ocpp.log_frame(text, text, smallint, text, text, jsonb, text, text, text, text) IS
    'Journals one frame (direction in | out) that no other call records, e.g. a CALLRESULT nobody waited for.';
REVOKE ALL ON FUNCTION ocpp.log_frame(text, text, smallint, text, text, jsonb, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.log_frame(text, text, smallint, text, text, jsonb, text, text, text, text) TO pgcsms_proxy;
