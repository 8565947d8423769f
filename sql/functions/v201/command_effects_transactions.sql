-- OCPP 2.0.1: what the answers to the commands of remote control and local
-- lists change (sql/functions/v201/command_effects.sql routes them here; the
-- reservation ones are in reservations.sql).

-- The command a remoteStartId echoes: the newest RequestStartTransaction to
-- the station with that remoteStartId that it had been sent when the echo
-- came (echoed_at), whatever its answer since (none yet, or lost). The one
-- rule of both links: the TransactionEvent that echoes it
-- (ocpp.v201_transaction_event) and the answer to the command (below).
CREATE OR REPLACE FUNCTION ocpp._remote_start_command_v201(
    charge_point_id text, remote_start_id bigint, echoed_at timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE sql STABLE
AS $$
    SELECT c.id FROM pgcsms.commands AS c
     WHERE c.charge_point_id = _remote_start_command_v201.charge_point_id AND c.action = 'RequestStartTransaction'
       AND c.payload->>'remoteStartId' = _remote_start_command_v201.remote_start_id::text
       AND c.status IN ('sent', 'accepted', 'timeout', 'interrupted') AND c.sent_at <= echoed_at
     ORDER BY c.id DESC LIMIT 1
$$;
COMMENT ON FUNCTION ocpp._remote_start_command_v201(text, bigint, timestamptz) IS
    'The RequestStartTransaction (command id) a 2.0.1 station''s remoteStartId refers to: the newest one to that station with that remoteStartId, sent by echoed_at (default now) and not refused; NULL if none.';

-- The TransactionEvent that echoes remoteStartId links itself to the command
-- (ocpp.v201_transaction_event), even before this answer. This links what the
-- answer names: a transaction already under way (cable first, TC_F_01), or
-- one that echoed remoteStartId and was not linked yet.
CREATE OR REPLACE FUNCTION ocpp._v201_effect_request_start_transaction(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF c.status <> 'accepted' THEN
        RETURN;
    END IF;
    UPDATE pgcsms.transactions AS t SET remote_command_id = c.id
     WHERE t.charge_point_id = c.charge_point_id AND t.remote_command_id IS NULL
       AND (t.remote_id = c.response->>'transactionId'
            OR (t.remote_start_id::text = c.payload->>'remoteStartId'
                AND ocpp._remote_start_command_v201(t.charge_point_id, t.remote_start_id, (
                        SELECT min(e.received_at) FROM pgcsms.transaction_events AS e
                         WHERE e.charge_point_id = t.charge_point_id AND e.remote_id = t.remote_id
                           AND e.remote_start_id = t.remote_start_id)) = c.id));
END
$$;
COMMENT ON FUNCTION ocpp._v201_effect_request_start_transaction(pgcsms.commands) IS
    'RequestStartTransaction Accepted: the transaction the answer names (transactionId), or one whose echo of its remoteStartId refers to it (ocpp._remote_start_command_v201), gets it as remote_command_id.';

CREATE OR REPLACE FUNCTION ocpp._v201_effect_send_local_list(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF c.status <> 'accepted' THEN
        RETURN;
    END IF;
    PERFORM ocpp._apply_local_list(
        c.charge_point_id, c.id, (c.payload->>'versionNumber')::integer, c.payload->>'updateType',
        (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                    'id_tag', x->'idToken'->>'idToken', 'id_token_type', x->'idToken'->>'type',
                    'info', x->'idTokenInfo'))), '[]')
           FROM jsonb_array_elements(ocpp._array(c.payload->'localAuthorizationList')) AS x));
END
$$;
COMMENT ON FUNCTION ocpp._v201_effect_send_local_list(pgcsms.commands) IS
    'SendLocalList (2.0.1: versionNumber, idToken, idTokenInfo) Accepted: see ocpp._apply_local_list. Failed and VersionMismatch change nothing.';

CREATE OR REPLACE FUNCTION ocpp._v201_effect_get_local_list_version(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF c.status = 'completed' THEN
        PERFORM ocpp._record_local_list_version(c.charge_point_id, c.id, (c.response->>'versionNumber')::integer);
    END IF;
END
$$;
COMMENT ON FUNCTION ocpp._v201_effect_get_local_list_version(pgcsms.commands) IS
    'GetLocalListVersion (2.0.1: versionNumber, 0 for no list) answered: see ocpp._record_local_list_version.';
