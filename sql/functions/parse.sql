-- The one call the proxy makes for each CALL a charger sends. The handler runs
-- in a subtransaction, so a refusal or a fault of ours undoes its half-done
-- work but never the journal: the CALL and our answer (CALLRESULT or
-- CALLERROR) are recorded in the same transaction either way. An OCPP 2.1
-- SEND (message_type 6) runs the same way, but is never answered: its row in
-- the journal alone, with the error when it was refused or failed.
CREATE OR REPLACE FUNCTION ocpp.parse(
    charge_point_id text,
    unique_id text,
    action text,
    payload jsonb,
    ocpp_version text DEFAULT '1.6',
    node_id text DEFAULT NULL,
    message_type smallint DEFAULT 2,
    OUT result jsonb,
    OUT error_code text,
    OUT error_description text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- Every statement of every handler planned once per connection: PostgreSQL
-- would plan those with array or jsonb parameters again on every call,
-- judging each custom plan cheaper than the generic one (bench/README.md).
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    failed_state text;
    failed_message text;
    failed_detail text;
    replayed record;
    sent_at timestamptz;
    received_at timestamptz := clock_timestamp();
BEGIN
    IF message_type = 6 THEN
        -- A resend of a SEND we applied (2.1 lets a retry keep its messageId)
        -- is journaled and not applied again.
        sent_at := ocpp._replayed_send(parse.charge_point_id, parse.unique_id, parse.action, parse.payload);
        IF sent_at IS NOT NULL THEN
            INSERT INTO pgcsms.journal
                (charge_point_id, direction, message_type, unique_id, action, payload, error_detail, node_id)
            VALUES (parse.charge_point_id, 'in', 6, parse.unique_id, parse.action, parse.payload,
                    'resend of a SEND applied at ' || sent_at || ': not applied again', parse.node_id);
            RETURN;
        END IF;
    ELSIF message_type IS DISTINCT FROM 2 THEN
        RAISE EXCEPTION 'ocpp.parse takes a CALL (2) or a SEND (6), not message type %', message_type
            USING ERRCODE = 'invalid_parameter_value';
    ELSE
        -- A resend of a CALL we committed (its answer was lost) gets the recorded
        -- answer and changes nothing (ocpp._replayed_answer).
        replayed := ocpp._replayed_answer(parse.charge_point_id, parse.unique_id, parse.action, parse.payload);
        IF replayed.committed THEN
            result := replayed.result;
            INSERT INTO pgcsms.journal
                (charge_point_id, direction, message_type, unique_id, action, payload, answer_type, answer,
                 error_detail, node_id, at, answered_at)
            VALUES
                (parse.charge_point_id, 'in', 2, parse.unique_id, parse.action, parse.payload, 3, result,
                 'resend of a CALL committed at ' || replayed.answered_at || ': answered from the journal, not applied again',
                 parse.node_id, received_at, clock_timestamp());
            RETURN;
        END IF;
    END IF;
    BEGIN
        result := ocpp._dispatch(charge_point_id, unique_id, action, payload, ocpp_version);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS failed_state = RETURNED_SQLSTATE, failed_message = MESSAGE_TEXT;
        SELECT e.error_code, e.error_description, e.error_detail INTO error_code, error_description, failed_detail
          FROM ocpp._error_reply(failed_state, failed_message, ocpp_version) AS e;
        result := NULL;
    END;
    IF message_type = 6 THEN
        result := NULL;  -- nothing is sent back
        INSERT INTO pgcsms.journal
            (charge_point_id, direction, message_type, unique_id, action, payload, error_code, error_description,
             error_detail, node_id)
        VALUES (parse.charge_point_id, 'in', 6, parse.unique_id, parse.action, parse.payload, error_code,
                error_description, failed_detail, parse.node_id);
        RETURN;
    END IF;
    INSERT INTO pgcsms.journal
        (charge_point_id, direction, message_type, unique_id, action, payload, answer_type, answer, error_code,
         error_description, error_detail, node_id, at, answered_at)
    VALUES
        (parse.charge_point_id, 'in', 2, parse.unique_id, parse.action, parse.payload,
         CASE WHEN error_code IS NULL THEN 3 ELSE 4 END, result, error_code, error_description, failed_detail,
         parse.node_id, received_at, clock_timestamp());
END
$$;
COMMENT ON FUNCTION ocpp.parse(text, text, text, jsonb, text, text, smallint) IS
    'Handles one CALL from a charge point (payload already schema-checked by the proxy): applies its business rules, journals the CALL and the answer, and returns either result (the CALLRESULT payload) or error_code/error_description (the CALLERROR). Commit before sending the answer. message_type 6: an OCPP 2.1 SEND, handled alike but never answered: only the SEND is journaled, with error_code/error_description when it failed (returned too, for the proxy''s counters; result is NULL); a resend of one already applied (same unique_id, action and payload within resend_window) is journaled and not applied again.';
REVOKE ALL ON FUNCTION ocpp.parse(text, text, text, jsonb, text, text, smallint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.parse(text, text, text, jsonb, text, text, smallint) TO pgcsms_proxy;

-- What a handler's failure becomes on the wire: a refusal of ours (SQLSTATE
-- class OC) keeps its words; a value no column holds is the charger's fault;
-- anything else is an InternalError whose cause stays in the journal.
CREATE OR REPLACE FUNCTION ocpp._error_reply(
    failed_state text, failed_message text, ocpp_version text,
    OUT error_code text, OUT error_description text, OUT error_detail text)
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    error_code := ocpp.call_error_code(failed_state, ocpp_version);
    IF failed_state LIKE 'OC%' THEN
        error_description := failed_message;
    ELSIF failed_state IN ('22003', '22008', '22009', '23514') THEN
        -- A value the schema allows but no column holds (an integer past
        -- 32 or 64 bits, a time offset past 15:59, a negative connector):
        -- the charger's value, not our fault. Cause kept in the journal.
        error_code := 'PropertyConstraintViolation';
        error_description := 'a value is out of the range this central system accepts';
        error_detail := failed_state || ': ' || failed_message;
    ELSE
        error_description := 'Internal error';
        error_detail := failed_state || ': ' || failed_message;
    END IF;
END
$$;
COMMENT ON FUNCTION ocpp._error_reply(text, text, text) IS
    'The CALLERROR (code and description, spelled for the OCPP version) for a handler that failed with this SQLSTATE and message, and the internal detail to journal: OC* keep their message, out-of-range values are PropertyConstraintViolation, anything else InternalError.';

CREATE OR REPLACE FUNCTION ocpp._dispatch(
    charge_point_id text, unique_id text, action text, payload jsonb, ocpp_version text)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    registration text;
BEGIN
    -- One lookup: a 2.x station acts on what its last BootNotification answer
    -- told it (ocpp._registration_for); an unknown one is registered per policy.
    SELECT ocpp._registration_for(_dispatch.ocpp_version, cp.registration_status, cp.boot_status, sending => false)
      INTO registration FROM pgcsms.charge_points AS cp WHERE cp.id = _dispatch.charge_point_id;
    IF NOT FOUND THEN
        registration := ocpp._registration(charge_point_id);
    END IF;
    IF registration IS NULL THEN
        RAISE EXCEPTION 'unknown charge point' USING ERRCODE = 'OC005';
    END IF;
    -- A Rejected charger may only boot again (OCPP 1.6 §4.2.1).
    IF registration = 'Rejected' AND action <> 'BootNotification' THEN
        RAISE EXCEPTION 'charge point is not accepted: send BootNotification' USING ERRCODE = 'OC005';
    END IF;
    -- 2.0.1 B02.FR.09: a Pending station may send BootNotification, the
    -- NotifyReport of a report we asked for, and what we triggered; anything
    -- else is a SecurityError (1.6 lets a Pending charger send everything).
    IF registration = 'Pending' AND ocpp_version <> '1.6' AND action NOT IN ('BootNotification', 'NotifyReport')
       AND NOT ocpp._triggered(charge_point_id, action) THEN
        RAISE EXCEPTION 'charging station is Pending: only BootNotification, NotifyReport and triggered messages'
            USING ERRCODE = 'OC005';
    END IF;
    PERFORM ocpp._seen(ARRAY[charge_point_id]);

    IF ocpp_version = '2.0.1' THEN
        RETURN ocpp._dispatch_v201(charge_point_id, unique_id, action, payload, ocpp_version);
    ELSIF ocpp_version = '2.1' THEN
        RETURN ocpp._dispatch_v21(charge_point_id, unique_id, action, payload);
    ELSIF ocpp_version <> '1.6' THEN
        RAISE EXCEPTION 'OCPP % is not served', ocpp_version USING ERRCODE = 'OC002';
    END IF;
    RETURN CASE action
        WHEN 'BootNotification' THEN ocpp.on_boot_notification(charge_point_id, unique_id, payload)
        WHEN 'Heartbeat' THEN ocpp.on_heartbeat(charge_point_id, unique_id, payload)
        WHEN 'StatusNotification' THEN ocpp.on_status_notification(charge_point_id, unique_id, payload)
        WHEN 'Authorize' THEN ocpp.on_authorize(charge_point_id, unique_id, payload)
        WHEN 'StartTransaction' THEN ocpp.on_start_transaction(charge_point_id, unique_id, payload)
        WHEN 'StopTransaction' THEN ocpp.on_stop_transaction(charge_point_id, unique_id, payload)
        WHEN 'MeterValues' THEN ocpp.on_meter_values(charge_point_id, unique_id, payload)
        WHEN 'DataTransfer' THEN ocpp.on_data_transfer(charge_point_id, unique_id, payload)
        WHEN 'DiagnosticsStatusNotification' THEN ocpp.on_job_status(charge_point_id, 'diagnostics', payload)
        WHEN 'FirmwareStatusNotification' THEN ocpp.on_job_status(charge_point_id, 'firmware', payload)
        WHEN 'LogStatusNotification' THEN ocpp.on_job_status(charge_point_id, 'log', payload)
        WHEN 'SignedFirmwareStatusNotification' THEN ocpp.on_job_status(charge_point_id, 'signed_firmware', payload)
        WHEN 'SecurityEventNotification' THEN ocpp.on_security_event_notification(charge_point_id, unique_id, payload)
        WHEN 'SignCertificate' THEN ocpp.on_sign_certificate(charge_point_id, unique_id, payload)
        ELSE ocpp._not_implemented(action)
    END;
END
$$;
COMMENT ON FUNCTION ocpp._dispatch(text, text, text, jsonb, text) IS
    'Routes a CALL (or a 2.1 SEND) to its handler after the registration check: OCPP 1.6 to sql/functions/on_*.sql, 2.0.1 to ocpp._dispatch_v201 (sql/functions/v201/), 2.1 to ocpp._dispatch_v21 (sql/functions/v21/, and 2.0.1''s handlers for the messages both have).';

CREATE OR REPLACE FUNCTION ocpp._not_implemented(action text)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION 'action % is not implemented', quote_literal(action) USING ERRCODE = 'OC001';
END
$$;
COMMENT ON FUNCTION ocpp._not_implemented(text) IS 'Raises NotImplemented for an action the dispatcher does not know.';

CREATE OR REPLACE FUNCTION ocpp._triggered(charge_point_id text, action text)
RETURNS boolean
LANGUAGE sql STABLE
AS $$
    -- An accepted TriggerMessage of the last few minutes asked for this
    -- action (2.0.1 names the three certificate kinds of SignCertificate apart).
    SELECT EXISTS (
        SELECT FROM pgcsms.commands AS c
         WHERE c.charge_point_id = _triggered.charge_point_id AND c.action = 'TriggerMessage'
           AND c.status = 'accepted' AND c.completed_at > now() - interval '5 minutes'
           AND CASE WHEN c.payload->>'requestedMessage' LIKE 'Sign%Certificate' THEN 'SignCertificate'
                    ELSE c.payload->>'requestedMessage' END = _triggered.action)
$$;
COMMENT ON FUNCTION ocpp._triggered(text, text) IS
    'Whether the charger accepted a TriggerMessage for this action in the last 5 minutes (a Pending 2.0.1 station may send what was triggered).';

-- Answers that must be fresh, and whose effect repeats harmlessly, are never
-- replayed: a charger that reboots and counts its uniqueIds from 1 again must
-- get today's currentTime and authorization, not a stale one.
CREATE OR REPLACE FUNCTION ocpp._answered_afresh(action text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT action IN ('BootNotification', 'Heartbeat', 'Authorize')
$$;
COMMENT ON FUNCTION ocpp._answered_afresh(text) IS
    'Whether a CALL of this action is always handled afresh, never answered from the journal as a resend (BootNotification, Heartbeat, Authorize).';

-- Chargers heard from: last_seen_at at most every 5 s, so a charger's every
-- message does not rewrite its row.
CREATE OR REPLACE FUNCTION ocpp._seen(charge_point_ids text[])
RETURNS void
LANGUAGE plpgsql  -- its plan cached, as a SQL function's is not
-- Chargers found by key: PostgreSQL cannot know how many the array holds and,
-- planning for ten, would read every charger of a fleet of a few thousand.
SET enable_seqscan = off
AS $$
BEGIN
    UPDATE pgcsms.charge_points AS cp SET last_seen_at = now()
     WHERE cp.id = ANY (charge_point_ids)
       AND (cp.last_seen_at IS NULL OR cp.last_seen_at < now() - interval '5 seconds');
END
$$;
COMMENT ON FUNCTION ocpp._seen(text[]) IS
    'Marks chargers as heard from now (charge_points.last_seen_at), rewriting a row at most every 5 seconds.';

CREATE OR REPLACE FUNCTION ocpp._replayed_answer(
    charge_point_id text, unique_id text, action text, payload jsonb,
    OUT committed boolean, OUT result jsonb, OUT answered_at timestamptz)
LANGUAGE plpgsql
AS $$
DECLARE
    window_seconds integer := coalesce(ocpp._setting('resend_window')::integer, 0);
BEGIN
    committed := false;
    IF window_seconds = 0 OR ocpp._answered_afresh(action) THEN
        RETURN;
    END IF;
    -- Two copies of one CALL racing (a reconnect while the first is still
    -- being handled) meet here: the second waits for the first to commit.
    PERFORM pg_advisory_xact_lock(hashtextextended(_replayed_answer.charge_point_id || '/' || _replayed_answer.unique_id, 0));
    -- A resend is the same CALL: same uniqueId, action and payload. Only a
    -- committed CALLRESULT is replayed; a CALLERROR (nothing applied) lets the
    -- resend be handled afresh. The exchanges of this uniqueId first, by
    -- their index: asked for the newest, PostgreSQL would rather walk the
    -- charger's whole journal backwards by id.
    WITH same_id AS MATERIALIZED (
        SELECT m.id, m.direction, m.message_type, m.action, m.payload, m.at, m.answer_type, m.answer,
               m.answered_at
          FROM pgcsms.journal AS m
         WHERE m.charge_point_id = _replayed_answer.charge_point_id AND m.unique_id = _replayed_answer.unique_id),
    earlier AS (
        SELECT * FROM same_id AS c
         WHERE c.direction = 'in' AND c.message_type = 2 AND c.action = _replayed_answer.action
           AND c.payload = _replayed_answer.payload AND c.at > now() - make_interval(secs => window_seconds)
         ORDER BY c.id DESC LIMIT 1)
    SELECT a.payload, a.at INTO result, answered_at
      FROM earlier AS c
     CROSS JOIN LATERAL (
            SELECT c.answer_type AS message_type, c.answer AS payload, c.answered_at AS at
             WHERE c.answer_type IS NOT NULL
            UNION ALL
            -- Journaled before the journal kept an answer beside its CALL
            -- (0020_lean_journal): the answer is the next row out.
            (SELECT o.message_type, o.payload, o.at FROM same_id AS o
              WHERE c.answer_type IS NULL AND o.direction = 'out' AND o.action = c.action AND o.id > c.id
              ORDER BY o.id LIMIT 1)) AS a
     WHERE a.message_type = 3;
    committed := answered_at IS NOT NULL;
END
$$;
COMMENT ON FUNCTION ocpp._replayed_answer(text, text, text, jsonb) IS
    'The recorded CALLRESULT of a CALL this charger already sent and we committed (same uniqueId, action and payload, within the resend_window setting): its resend is answered with it and not applied again. BootNotification, Heartbeat and Authorize are always handled afresh.';

CREATE OR REPLACE FUNCTION ocpp._replayed_send(charge_point_id text, unique_id text, action text, payload jsonb)
RETURNS timestamptz
LANGUAGE plpgsql
AS $$
DECLARE
    window_seconds integer := coalesce(ocpp._setting('resend_window')::integer, 0);
    applied_at timestamptz;
BEGIN
    IF window_seconds = 0 THEN
        RETURN NULL;
    END IF;
    -- As for a CALL: two copies racing meet here, the second waits for the first.
    PERFORM pg_advisory_xact_lock(hashtextextended(_replayed_send.charge_point_id || '/' || _replayed_send.unique_id, 0));
    -- By the (charge_point_id, unique_id) index, as for a CALL.
    WITH same_id AS MATERIALIZED (
        SELECT m.id, m.direction, m.message_type, m.action, m.payload, m.error_code, m.error_detail, m.at
          FROM pgcsms.journal AS m
         WHERE m.charge_point_id = _replayed_send.charge_point_id AND m.unique_id = _replayed_send.unique_id)
    SELECT c.at INTO applied_at FROM same_id AS c
     WHERE c.direction = 'in' AND c.message_type = 6 AND c.action = _replayed_send.action
       AND c.payload = _replayed_send.payload AND c.error_code IS NULL AND c.error_detail IS NULL
       AND c.at > now() - make_interval(secs => window_seconds)
     ORDER BY c.id DESC LIMIT 1;
    RETURN applied_at;
END
$$;
COMMENT ON FUNCTION ocpp._replayed_send(text, text, text, jsonb) IS
    'When an OCPP 2.1 SEND with this unique_id, action and payload was applied within the resend_window setting, when: its resend is journaled and not applied again. NULL otherwise (and for a SEND that failed, which is handled afresh).';
