-- OCPP 2.0.1: what the answers to the commands of remote control and local
-- lists change (sql/functions/v201/command_effects.sql routes them here; the
-- reservation ones are in reservations.sql).

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
            OR (t.remote_start_id::text = c.payload->>'remoteStartId' AND t.start_received_at >= c.created_at));
END
$$;
COMMENT ON FUNCTION ocpp._v201_effect_request_start_transaction(pgcsms.commands) IS
    'RequestStartTransaction Accepted: the transaction the answer names (transactionId), or one that echoed its remoteStartId since the command was made, gets it as remote_command_id.';

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
