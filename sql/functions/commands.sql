-- Commands to charge points. A command is a row of pgcsms.commands:
--   ocpp.send queues it and nudges the proxies (NOTIFY pgcsms_command);
--   the proxy that holds the charger's socket claims it (ocpp.next_command),
--   sends the CALL, and hands the answer back (ocpp.complete_command) or its
--   own verdict (ocpp.fail_command: invalid payload, timeout);
--   the answer's business effect is applied in the same transaction
--   (sql/functions/command_effect*.sql) and NOTIFY ocpp_event tells anyone
--   listening that the command completed.
-- At most one command per charger is in flight (OCPP-J), oldest first.

CREATE OR REPLACE FUNCTION ocpp.send(
    charge_point_id text,
    action text,
    payload jsonb DEFAULT '{}',
    expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id bigint;
    version text;
BEGIN
    IF NOT EXISTS (SELECT FROM pgcsms.charge_points AS cp WHERE cp.id = send.charge_point_id) THEN
        RAISE EXCEPTION 'unknown charge point %', quote_nullable(charge_point_id)
            USING ERRCODE = 'no_data_found',
                  HINT = 'SELECT id FROM ocpp.charge_points lists them; ocpp.add_charge_point registers one';
    END IF;
    -- The charger's version is the one it last connected with; never connected: any served version.
    SELECT cp.ocpp_version INTO version FROM pgcsms.charge_points AS cp WHERE cp.id = send.charge_point_id;
    IF NOT EXISTS (SELECT FROM pgcsms.protocol_actions AS a
                    WHERE a.action = send.action AND a.sent_by = 'CSMS'
                      AND (version IS NULL OR a.ocpp_version = version)) THEN
        RAISE EXCEPTION '% is not an action a central system sends to an OCPP % charge point',
                        quote_nullable(action),
                        coalesce(version, (SELECT string_agg(DISTINCT a.ocpp_version, ' or ' ORDER BY a.ocpp_version)
                                             FROM pgcsms.protocol_actions AS a))
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = coalesce(
                      -- The same command under its name in the charger's version, e.g. RequestStartTransaction.
                      (SELECT format('for OCPP %s: %s', a.ocpp_version, string_agg(a.helper, ', ' ORDER BY a.helper))
                         FROM ocpp.command_actions AS a
                        WHERE a.ocpp_version = version AND a.helper IS NOT NULL
                          AND a.action IN (SELECT ocpp._same_command(send.action))
                        GROUP BY a.ocpp_version),
                      'one of: ' || (SELECT string_agg(DISTINCT a.action, ', ' ORDER BY a.action)
                                       FROM pgcsms.protocol_actions AS a
                                      WHERE a.sent_by = 'CSMS' AND (version IS NULL OR a.ocpp_version = version)));
    END IF;
    IF payload IS NULL THEN
        payload := '{}';
    END IF;
    IF jsonb_typeof(payload) <> 'object' THEN
        RAISE EXCEPTION 'the payload of % is a JSON object, not %', action, payload
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF expires_at <= now() THEN
        RAISE EXCEPTION 'expires_at % has already passed', expires_at USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- A new charger password (AuthorizationKey, BasicAuthPassword): refuse one we could not store before the charger takes it.
    PERFORM ocpp._check_password(ocpp._new_password(action, payload));
    INSERT INTO pgcsms.commands (charge_point_id, action, payload, secret_payload, expires_at)
    VALUES (send.charge_point_id, send.action, ocpp._redact_secrets(action, payload),
            CASE WHEN ocpp._redact_secrets(action, payload) IS DISTINCT FROM payload THEN payload END,
            send.expires_at)
    RETURNING id INTO new_id;
    PERFORM pg_notify('pgcsms_command', charge_point_id);
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION ocpp.send(text, text, jsonb, timestamptz) IS
    'Queues a command (a CALL from the central system in the charger''s OCPP version, see ocpp.command_actions) for a charge point and returns its id; follow it in ocpp.commands. It is sent when the charger is connected and has no other command in flight, in queue order; not after expires_at (then expired). The payload is checked against the OCPP schema before sending (failed if it does not pass). Helpers with named arguments build the payload: ocpp.reset, ocpp.get_configuration, ...';
REVOKE ALL ON FUNCTION ocpp.send(text, text, jsonb, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.send(text, text, jsonb, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.cancel(command_id bigint)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c pgcsms.commands;
BEGIN
    UPDATE pgcsms.commands AS x
       SET status = CASE WHEN x.expires_at <= now() THEN 'expired' ELSE 'cancelled' END, completed_at = now()
     WHERE x.id = cancel.command_id AND x.status = 'queued'
    RETURNING x.* INTO c;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM ocpp._settle_command(c);
    RETURN true;
END
$$;
COMMENT ON FUNCTION ocpp.cancel(bigint) IS
    'Cancels a queued command: true if it was still queued and will not be sent (status cancelled), false if it was already sent or finished.';
REVOKE ALL ON FUNCTION ocpp.cancel(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.cancel(bigint) TO pgcsms_operator;

-- A procedure, not a function: it commits the queued command so the proxy
-- sees it, then commits between polls so the proxy's answer becomes
-- visible. Transaction control rules out SECURITY DEFINER and SET, so it
-- runs with the caller's rights (ocpp.send, ocpp.cancel, ocpp.commands,
-- ocpp.charge_points) and qualifies every name.
CREATE OR REPLACE PROCEDURE ocpp.call(
    charge_point_id text,
    action text,
    payload jsonb DEFAULT '{}',
    timeout_s integer DEFAULT 30,
    INOUT response jsonb DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
    command_id bigint;
    online boolean;
    gone_at timestamptz;
    deadline timestamptz;
    pause double precision := 0.002;
    c record;
BEGIN
    response := NULL;
    IF timeout_s IS NULL OR timeout_s < 1 OR timeout_s > 3600 THEN
        RAISE EXCEPTION 'timeout_s is 1 to 3600 seconds, not %', coalesce(timeout_s::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT cp.connected, cp.disconnected_at INTO online, gone_at
      FROM ocpp.charge_points AS cp WHERE cp.id = charge_point_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown charge point %', pg_catalog.quote_nullable(charge_point_id)
            USING ERRCODE = 'no_data_found';
    END IF;
    -- Offline: fail at once rather than wait for a connection that may not
    -- come. ocpp.send queues for the next connection instead.
    IF NOT online THEN
        RAISE EXCEPTION 'charge point % is offline (not connected%): % was not sent', charge_point_id,
                coalesce(' since ' || gone_at::text, ''), action
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'ocpp.send queues a command for its next connection';
    END IF;

    -- Expiry a little after our deadline, so an interrupted wait (a cancelled
    -- statement, a dropped client) leaves no command to surprise anyone later.
    command_id := ocpp.send(charge_point_id, action, payload,
                            pg_catalog.clock_timestamp() + pg_catalog.make_interval(secs => timeout_s + 1));
    COMMIT;
    deadline := pg_catalog.clock_timestamp() + pg_catalog.make_interval(secs => timeout_s);
    LOOP
        SELECT cmd.status, cmd.response, cmd.error_code, cmd.error_description INTO c
          FROM ocpp.commands AS cmd WHERE cmd.id = command_id;
        EXIT WHEN c.status NOT IN ('queued', 'sent', 'expired') OR pg_catalog.clock_timestamp() >= deadline;
        PERFORM pg_catalog.pg_sleep(pause);
        pause := least(pause * 2, 0.05);
        COMMIT;  -- a fresh snapshot, and no transaction held open while waiting
    END LOOP;

    CASE c.status
    WHEN 'accepted', 'rejected', 'completed' THEN
        response := c.response;
    WHEN 'queued', 'expired' THEN
        IF ocpp.cancel(command_id) THEN
            COMMIT;
            RAISE EXCEPTION 'timed out: % did not take % within % s, so it was not sent (command % cancelled)',
                    charge_point_id, action, timeout_s, command_id
                USING HINT = 'it went offline, or another command was in flight: see ocpp.commands';
        END IF;
        RAISE EXCEPTION 'timed out: no answer from % to % within % s (command % was sent at the last moment: ocpp.commands will show how it ends)',
                charge_point_id, action, timeout_s, command_id;
    WHEN 'sent' THEN
        RAISE EXCEPTION 'timed out: no answer from % to % within % s (command % is still in flight: ocpp.commands will show how it ends)',
                charge_point_id, action, timeout_s, command_id;
    WHEN 'timeout' THEN
        RAISE EXCEPTION 'timed out: no answer from % to % (command %): %', charge_point_id, action, command_id,
                coalesce(c.error_description, 'no answer within call_timeout');
    WHEN 'interrupted' THEN
        RAISE EXCEPTION 'interrupted: % was in flight to % when %; the charger may have applied it (command %)',
                action, charge_point_id, coalesce(c.error_description, 'the connection was lost'), command_id
            USING HINT = 'check the charger''s state before sending it again (README: which commands are safe to resend)';
    WHEN 'failed' THEN
        IF c.response IS NULL THEN
            RAISE EXCEPTION 'invalid payload: % was not sent to % (command %): %: %', action, charge_point_id,
                    command_id, c.error_code, c.error_description
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        RAISE EXCEPTION '% answered % with CALLERROR %: % (command %)', charge_point_id, action, c.error_code,
                coalesce(nullif(c.error_description, ''), 'no description'), command_id
            USING DETAIL = 'errorDetails: ' || c.response::text,
                  ERRCODE = CASE c.error_code
                      WHEN 'NotImplemented' THEN 'OC001' WHEN 'NotSupported' THEN 'OC002'
                      WHEN 'InternalError' THEN 'OC003' WHEN 'ProtocolError' THEN 'OC004'
                      WHEN 'SecurityError' THEN 'OC005' WHEN 'FormationViolation' THEN 'OC006'
                      WHEN 'FormatViolation' THEN 'OC006' WHEN 'PropertyConstraintViolation' THEN 'OC007'
                      WHEN 'OccurenceConstraintViolation' THEN 'OC008'
                      WHEN 'OccurrenceConstraintViolation' THEN 'OC008'
                      WHEN 'TypeConstraintViolation' THEN 'OC009' ELSE 'OC010' END;
    ELSE
        RAISE EXCEPTION '% to % was not sent: command % is %', action, charge_point_id, command_id, c.status;
    END CASE;
END
$$;
COMMENT ON PROCEDURE ocpp.call(text, text, jsonb, integer, jsonb) IS
    'For a psql prompt: CALL ocpp.call(''CP-1'', ''GetConfiguration'', ''{}'') sends a command, waits for the answer (timeout_s => 30 by default) and returns it in the column response. Must be CALLed outside a transaction block (it commits: the command is queued for good). Raises an error in words when the charger is offline (at once, nothing sent; ocpp.send queues instead), when it times out (a command never sent is cancelled), on a CALLERROR (SQLSTATE OC001..OC010 as in ocpp.call_error_code, errorDetails in DETAIL) and on a payload that fails the OCPP schema (22023). A Rejected answer is an answer, not an error.';
REVOKE ALL ON PROCEDURE ocpp.call(text, text, jsonb, integer, jsonb) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE ocpp.call(text, text, jsonb, integer, jsonb) TO pgcsms_operator;

-- Delivery: the proxy's side.

CREATE OR REPLACE FUNCTION ocpp.next_command(charge_point_id text, node_id text, epoch bigint)
RETURNS TABLE (command_id bigint, unique_id text, action text, payload text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c pgcsms.commands;
    version text;
    registration text;
BEGIN
    -- Fencing: only the connection that holds the charger now. The row lock
    -- serialises claims for one charger (and waits out a concurrent connect).
    -- A 2.x station gets commands by the stricter of our registration and what
    -- its last BootNotification answer told it (ocpp._registration_for).
    SELECT cp.ocpp_version, ocpp._registration_for(cp.ocpp_version, cp.registration_status, cp.boot_status, sending => true)
      INTO version, registration
      FROM pgcsms.charge_points AS cp
     WHERE cp.id = next_command.charge_point_id AND cp.node_id = next_command.node_id
       AND cp.connection_epoch = next_command.epoch AND cp.connected
       FOR NO KEY UPDATE;
    IF NOT FOUND OR registration = 'Rejected' THEN
        RETURN;
    END IF;
    PERFORM ocpp._expire_commands(next_command.charge_point_id);
    IF EXISTS (SELECT FROM pgcsms.commands AS x
                WHERE x.charge_point_id = next_command.charge_point_id AND x.status = 'sent') THEN
        RETURN;
    END IF;
    UPDATE pgcsms.commands AS x
       SET status = 'sent', sent_at = now(), unique_id = x.id::text, node_id = next_command.node_id,
           epoch = next_command.epoch, ocpp_version = version
     WHERE (x.charge_point_id, x.id) = (
            SELECT q.charge_point_id, q.id FROM pgcsms.commands AS q
             WHERE q.charge_point_id = next_command.charge_point_id AND q.status = 'queued'
               AND (registration = 'Accepted' OR ocpp._allowed_while_pending(version, q.action))
             ORDER BY q.id LIMIT 1
               FOR UPDATE SKIP LOCKED)
    RETURNING x.* INTO c;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    INSERT INTO pgcsms.journal (charge_point_id, direction, message_type, unique_id, action, payload, node_id)
    VALUES (c.charge_point_id, 'out', 2, c.unique_id, c.action, c.payload, c.node_id);
    command_id := c.id;
    unique_id := c.unique_id;
    action := c.action;
    payload := coalesce(c.secret_payload, c.payload)::text;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION ocpp.next_command(text, text, bigint) IS
    'For the proxy: claims the oldest queued command of a charger and journals the CALL; returns at most one row (command_id, unique_id for the OCPP-J frame, action, payload as JSON text). Nothing when a command is already in flight, or when the charger is not connected to this node at this epoch (fencing). Commit, then check the payload and send it.';
REVOKE ALL ON FUNCTION ocpp.next_command(text, text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.next_command(text, text, bigint) TO pgcsms_proxy;

CREATE OR REPLACE FUNCTION ocpp.complete_command(
    charge_point_id text,
    unique_id text,
    response jsonb,
    error_code text DEFAULT NULL,
    error_description text DEFAULT NULL,
    node_id text DEFAULT NULL,
    message_type smallint DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c pgcsms.commands;
    answer_message_type smallint :=
        coalesce(complete_command.message_type, CASE WHEN complete_command.error_code IS NULL THEN 3 ELSE 4 END);
BEGIN
    SELECT * INTO c FROM pgcsms.commands AS x
     WHERE x.charge_point_id = complete_command.charge_point_id AND x.status = 'sent'
       AND x.unique_id = complete_command.unique_id
       FOR UPDATE;
    -- Journal first, matched or not: beside the CALL it answers when that
    -- is still unanswered (a late answer to a command that timed out too),
    -- else as a frame of its own.
    UPDATE pgcsms.journal AS m
       SET answer_type = answer_message_type,
           answer = ocpp._redact_secrets(m.action || 'Response', complete_command.response),
           error_code = complete_command.error_code, error_description = complete_command.error_description,
           answered_at = clock_timestamp()
     WHERE m.charge_point_id = complete_command.charge_point_id
       AND m.id = (SELECT max(o.id) FROM pgcsms.journal AS o  -- our latest CALL with this unique_id
                    WHERE o.charge_point_id = complete_command.charge_point_id
                      AND o.unique_id = complete_command.unique_id AND o.direction = 'out' AND o.message_type = 2)
       AND m.answer_type IS NULL AND m.error_code IS NULL;  -- not answered yet, and sent (fail_command)
    IF NOT FOUND THEN
        INSERT INTO pgcsms.journal
            (charge_point_id, direction, message_type, unique_id, action, payload, error_code, error_description,
             node_id)
        VALUES (complete_command.charge_point_id, 'in', answer_message_type, complete_command.unique_id, c.action,
                ocpp._redact_secrets(c.action || 'Response', complete_command.response), complete_command.error_code,
                complete_command.error_description, complete_command.node_id);
    END IF;
    IF c.id IS NULL THEN
        RETURN false;
    END IF;
    UPDATE pgcsms.commands AS x
       SET status = CASE WHEN complete_command.error_code IS NOT NULL THEN 'failed'
                         ELSE ocpp._command_status(x.action, complete_command.response, x.ocpp_version) END,
           response = coalesce(ocpp._redact_secrets(x.action || 'Response', complete_command.response), '{}'),
           error_code = complete_command.error_code,
           error_description = complete_command.error_description,
           completed_at = now()
     WHERE x.charge_point_id = c.charge_point_id AND x.id = c.id
    RETURNING x.* INTO c;
    PERFORM ocpp._settle_command(c);
    RETURN true;
END
$$;
COMMENT ON FUNCTION ocpp.complete_command(text, text, jsonb, text, text, text, smallint) IS
    'For the proxy: a charger''s CALLRESULT (response) or CALLERROR (error_code, error_description, response = errorDetails) to the command in flight with this unique_id; a CALLRESULT that breaks its schema comes with message_type 3 and an error_code, and fails the command. Journals the answer beside its CALL (a frame of its own when no unanswered CALL has this unique_id), sets the command''s status, applies the answer''s business effect and notifies ocpp_event, in one transaction. False (journaled all the same) when no command in flight matches.';
REVOKE ALL ON FUNCTION ocpp.complete_command(text, text, jsonb, text, text, text, smallint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.complete_command(text, text, jsonb, text, text, text, smallint) TO pgcsms_proxy;

CREATE OR REPLACE FUNCTION ocpp.fail_command(
    command_id bigint,
    status text,
    error_code text DEFAULT NULL,
    error_description text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c pgcsms.commands;
BEGIN
    IF status IS NULL OR status NOT IN ('failed', 'timeout', 'interrupted') THEN
        RAISE EXCEPTION 'a command fails with status failed, timeout or interrupted, not %', quote_nullable(status)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE pgcsms.commands AS x
       SET status = fail_command.status, error_code = fail_command.error_code,
           error_description = coalesce(fail_command.error_description,
                                        CASE fail_command.status WHEN 'timeout' THEN 'no answer within call_timeout' END),
           completed_at = now()
     WHERE x.id = fail_command.command_id AND x.status IN ('queued', 'sent')
    RETURNING x.* INTO c;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF fail_command.status = 'failed' AND c.unique_id IS NOT NULL THEN
        -- next_command journaled the CALL when it was claimed; say it never left.
        UPDATE pgcsms.journal AS m
           SET error_code = fail_command.error_code,
               error_description = 'not sent: ' || coalesce(fail_command.error_description, 'payload refused')
         WHERE m.charge_point_id = c.charge_point_id AND m.unique_id = c.unique_id
           AND m.direction = 'out' AND m.message_type = 2;
    END IF;
    PERFORM ocpp._settle_command(c);
    RETURN true;
END
$$;
COMMENT ON FUNCTION ocpp.fail_command(bigint, text, text, text) IS
    'For the proxy: its verdict on a queued or sent command. status failed: the payload failed the OCPP schema and was not sent (error_code e.g. PropertyConstraintViolation); timeout: no answer within call_timeout; interrupted: the connection closed while it was in flight. False if the command had already finished.';
REVOKE ALL ON FUNCTION ocpp.fail_command(bigint, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.fail_command(bigint, text, text, text) TO pgcsms_proxy;

CREATE OR REPLACE FUNCTION ocpp.command_backlog(node_id text)
RETURNS TABLE (charge_point_id text, epoch bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM ocpp._expire_commands(NULL);
    PERFORM ocpp._timeout_stale_commands();
    RETURN QUERY
        SELECT cp.id, cp.connection_epoch FROM pgcsms.charge_points AS cp
         WHERE cp.node_id = command_backlog.node_id AND cp.connected AND cp.registration_status <> 'Rejected'
           AND EXISTS (SELECT FROM pgcsms.commands AS q WHERE q.charge_point_id = cp.id AND q.status = 'queued')
           AND NOT EXISTS (SELECT FROM pgcsms.commands AS s WHERE s.charge_point_id = cp.id AND s.status = 'sent')
         ORDER BY cp.id;
END
$$;
COMMENT ON FUNCTION ocpp.command_backlog(text) IS
    'For the proxy''s timer (a NOTIFY can be lost): the chargers connected to this node that have queued commands and none in flight, with their connection epoch for ocpp.next_command. Also sweeps: queued commands past expires_at become expired, and commands sent more than twice call_timeout ago with no verdict (their proxy died) become timeout.';
REVOKE ALL ON FUNCTION ocpp.command_backlog(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.command_backlog(text) TO pgcsms_proxy;

-- Internals.

CREATE OR REPLACE FUNCTION ocpp._same_command(action text)
RETURNS SETOF text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    -- The commands 2.0.1 renamed: the same request under another name.
    SELECT unnest(CASE action
        WHEN 'RemoteStartTransaction' THEN ARRAY['RequestStartTransaction']
        WHEN 'RemoteStopTransaction' THEN ARRAY['RequestStopTransaction']
        WHEN 'RequestStartTransaction' THEN ARRAY['RemoteStartTransaction']
        WHEN 'RequestStopTransaction' THEN ARRAY['RemoteStopTransaction']
        WHEN 'GetConfiguration' THEN ARRAY['GetVariables', 'GetBaseReport']
        WHEN 'ChangeConfiguration' THEN ARRAY['SetVariables']
        WHEN 'GetVariables' THEN ARRAY['GetConfiguration']
        WHEN 'SetVariables' THEN ARRAY['ChangeConfiguration']
        WHEN 'GetDiagnostics' THEN ARRAY['GetLog']
        WHEN 'ExtendedTriggerMessage' THEN ARRAY['TriggerMessage']
        WHEN 'SignedUpdateFirmware' THEN ARRAY['UpdateFirmware']
        ELSE ARRAY[]::text[] END)
$$;
COMMENT ON FUNCTION ocpp._same_command(text) IS
    'The actions of the other OCPP version that do what this one does (RemoteStartTransaction in 1.6 is RequestStartTransaction in 2.0.1, ...), for ocpp.send''s hint.';

CREATE OR REPLACE FUNCTION ocpp._allowed_while_pending(ocpp_version text, action text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    -- 1.6 (§4.2.1) lets the central system configure a Pending charger with
    -- any command. 2.0.1 B02: while Pending the CSMS may only read and set the
    -- device model or trigger a message; the rest waits, queued, until the
    -- station is Accepted.
    SELECT ocpp_version IS NULL OR ocpp_version = '1.6'
        OR action IN ('GetVariables', 'SetVariables', 'GetBaseReport', 'GetReport', 'TriggerMessage')
$$;
COMMENT ON FUNCTION ocpp._allowed_while_pending(text, text) IS
    'Whether a command may be sent to a charger whose registration is Pending: any in OCPP 1.6; in 2.0.1 only GetVariables, SetVariables, GetBaseReport, GetReport and TriggerMessage (B02); others stay queued until Accepted.';

CREATE OR REPLACE FUNCTION ocpp._command_status(action text, response jsonb, ocpp_version text DEFAULT '1.6')
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT CASE
        WHEN NOT coalesce((SELECT a.answer_has_status FROM pgcsms.protocol_actions AS a
                            WHERE a.ocpp_version = coalesce(_command_status.ocpp_version, '1.6')
                              AND a.action = _command_status.action AND a.sent_by = 'CSMS'), false)
            THEN 'completed'
        WHEN response->>'status' IN ('Accepted', 'RebootRequired', 'Scheduled', 'Unlocked', 'AcceptedCanceled',
                                     'Unpublished')
            THEN 'accepted'
        ELSE 'rejected'
    END
$$;
COMMENT ON FUNCTION ocpp._command_status(text, jsonb, text) IS
    'The status of an answered command: completed when the action''s answer has no status field; accepted for Accepted, RebootRequired (ChangeConfiguration), Scheduled (ChangeAvailability), Unlocked (UnlockConnector), AcceptedCanceled (GetLog, SignedUpdateFirmware, UpdateFirmware), Unpublished (UnpublishFirmware); rejected for any other status.';

-- Every command that reaches a final status passes here once: its business
-- effect (in a subtransaction, so a fault there cannot lose the answer; it
-- is kept in ocpp.anomalies) and the event.
CREATE OR REPLACE FUNCTION ocpp._settle_command(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    failed_state text;
    failed_message text;
BEGIN
    BEGIN
        PERFORM ocpp._command_effect(c);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS failed_state = RETURNED_SQLSTATE, failed_message = MESSAGE_TEXT;
        INSERT INTO pgcsms.anomalies (charge_point_id, kind, unique_id, detail)
        VALUES (c.charge_point_id, 'command_effect_failed', c.unique_id,
                jsonb_build_object('command_id', c.id, 'action', c.action, 'status', c.status,
                                   'error', failed_state || ': ' || failed_message));
    END;
    -- A secret is needed only until the command is settled.
    UPDATE pgcsms.commands AS x SET secret_payload = NULL
     WHERE x.charge_point_id = c.charge_point_id AND x.id = c.id AND x.secret_payload IS NOT NULL;
    PERFORM pg_notify('ocpp_event', jsonb_build_object(
        'event', 'command_completed', 'command_id', c.id, 'charge_point_id', c.charge_point_id,
        'action', c.action, 'status', c.status)::text);
END
$$;
COMMENT ON FUNCTION ocpp._settle_command(pgcsms.commands) IS
    'Applies the business effect of a finished command (ocpp._command_effect) and notifies ocpp_event {"event":"command_completed",...}.';

CREATE OR REPLACE FUNCTION ocpp._expire_commands(charge_point_id text)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    c pgcsms.commands;
    n integer := 0;
BEGIN
    FOR c IN
        UPDATE pgcsms.commands AS x
           SET status = 'expired', completed_at = now(), error_description = 'not delivered before expires_at'
         WHERE (x.charge_point_id, x.id) IN (
                SELECT q.charge_point_id, q.id FROM pgcsms.commands AS q
                 WHERE q.status = 'queued' AND q.expires_at <= now()
                   AND (_expire_commands.charge_point_id IS NULL OR q.charge_point_id = _expire_commands.charge_point_id)
                   FOR UPDATE SKIP LOCKED)
        RETURNING x.*
    LOOP
        PERFORM ocpp._settle_command(c);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION ocpp._expire_commands(text) IS
    'Marks expired the queued commands (of one charger, or all when NULL) whose expires_at has passed.';

CREATE OR REPLACE FUNCTION ocpp._timeout_stale_commands()
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    c pgcsms.commands;
    n integer := 0;
    grace interval := make_interval(secs => 2 * greatest(coalesce(ocpp._setting('call_timeout')::integer, 30), 5));
BEGIN
    FOR c IN
        UPDATE pgcsms.commands AS x
           SET status = 'interrupted', completed_at = now(),
               error_description = 'no verdict from proxy node ' || coalesce(x.node_id, '?') || ', which is gone' 
         WHERE (x.charge_point_id, x.id) IN (
                SELECT s.charge_point_id, s.id FROM pgcsms.commands AS s
                 WHERE s.status = 'sent' AND s.sent_at < now() - grace
                   FOR UPDATE SKIP LOCKED)
        RETURNING x.*
    LOOP
        PERFORM ocpp._settle_command(c);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION ocpp._timeout_stale_commands() IS
    'Marks interrupted the commands in flight for more than twice call_timeout: the proxy that sent them should have decided long ago, so it is gone (the charger may have applied them).';

-- A connection that ended takes its unanswered CALL with it.
CREATE OR REPLACE FUNCTION ocpp._reclaim_commands(charge_point_id text, node_id text, below_epoch bigint)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    c pgcsms.commands;
    n integer := 0;
BEGIN
    FOR c IN
        UPDATE pgcsms.commands AS x
           SET status = 'interrupted', completed_at = now(), error_description = 'connection closed before the answer'
         WHERE x.status = 'sent'
           AND (_reclaim_commands.charge_point_id IS NULL OR x.charge_point_id = _reclaim_commands.charge_point_id)
           AND (_reclaim_commands.node_id IS NULL OR x.node_id = _reclaim_commands.node_id)
           AND (_reclaim_commands.below_epoch IS NULL OR x.epoch < _reclaim_commands.below_epoch)
        RETURNING x.*
    LOOP
        PERFORM ocpp._settle_command(c);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION ocpp._reclaim_commands(text, text, bigint) IS
    'Marks interrupted (connection closed before the answer: the charger may have applied them) the commands in flight that can no longer be answered: of a charger on a connection older than below_epoch (ocpp.connect, ocpp.disconnect), or sent by a node that restarted (ocpp.node_started).';
