-- OCPP 2.0.1 commands of remote control and transactions (F01-F03, E14), for
-- the actions 1.6 does not have; the ones both versions have share their
-- helper (sql/functions/command_helpers.sql: unlock_connector, reserve_now,
-- cancel_reservation, send_local_list, get_local_list_version, clear_cache).
-- Each returns the command id, like every helper.

CREATE OR REPLACE FUNCTION ocpp.request_start_transaction(
    charge_point_id text, id_token text, id_token_type text DEFAULT NULL, evse_id integer DEFAULT NULL,
    remote_start_id integer DEFAULT NULL, group_id_token text DEFAULT NULL, group_id_token_type text DEFAULT NULL,
    charging_profile jsonb DEFAULT NULL, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_group text := coalesce(group_id_token, (SELECT t.parent_id_tag FROM pgcsms.id_tags AS t
                                               WHERE upper(t.id_tag) = upper(request_start_transaction.id_token)));
BEGIN
    -- One that never connected may speak 2.0.1 when it does: queued.
    IF EXISTS (SELECT FROM pgcsms.charge_points AS cp
                WHERE cp.id = request_start_transaction.charge_point_id AND cp.ocpp_version = '1.6') THEN
        RAISE EXCEPTION 'RequestStartTransaction is OCPP 2.0.1: % speaks 1.6', charge_point_id
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'ocpp.remote_start_transaction(charge_point_id, id_tag, connector_id) starts a transaction on a 1.6 charge point';
    END IF;
    IF id_token IS NULL OR length(id_token) > 36 THEN
        RAISE EXCEPTION 'an OCPP 2.0.1 id token is at most 36 characters, not %', quote_nullable(id_token)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN ocpp.send(charge_point_id, 'RequestStartTransaction', jsonb_strip_nulls(jsonb_build_object(
        'idToken', jsonb_build_object('idToken', id_token,
                                      'type', coalesce(id_token_type, ocpp._id_token_type_for(id_token))),
        'remoteStartId', coalesce(remote_start_id, nextval('pgcsms.remote_start_ids')),
        'evseId', evse_id,
        'groupIdToken', CASE WHEN v_group IS NOT NULL THEN jsonb_build_object(
            'idToken', v_group, 'type', coalesce(group_id_token_type, ocpp._id_token_type_for(v_group))) END,
        'chargingProfile', charging_profile)), expires_at);
END
$$;
COMMENT ON FUNCTION ocpp.request_start_transaction(text, text, text, integer, integer, text, text, jsonb, timestamptz) IS
    'Queues RequestStartTransaction for an OCPP 2.0.1 station (1.6: ocpp.remote_start_transaction): idToken (id_token_type: the tag''s own unless given, ocpp._id_token_type_for; an id no tag knows is one we give, Central unless it looks like a card UID, Accepted at that station in that type while the request is fresh and for the transaction it starts), remoteStartId (default: the next of a sequence; see ocpp.commands.payload), evseId (NULL: the station chooses), groupIdToken (default: the tag''s parent), chargingProfile (a TxProfile without transactionId). The TransactionEvent that echoes remoteStartId shows the command in ocpp.transactions.remote_command_id; an answer naming a transactionId links that one. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.request_start_transaction(text, text, text, integer, integer, text, text, jsonb, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.request_start_transaction(text, text, text, integer, integer, text, text, jsonb, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.request_stop_transaction(
    charge_point_id text, transaction_id text, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT FROM pgcsms.charge_points AS cp
                WHERE cp.id = request_stop_transaction.charge_point_id AND cp.ocpp_version = '1.6') THEN
        RAISE EXCEPTION 'RequestStopTransaction is OCPP 2.0.1: % speaks 1.6', charge_point_id
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'ocpp.remote_stop_transaction(charge_point_id, transaction_id) stops a transaction on a 1.6 charge point';
    END IF;
    IF transaction_id IS NULL OR transaction_id = '' OR length(transaction_id) > 36 THEN
        RAISE EXCEPTION 'a 2.0.1 transactionId is 1 to 36 characters, not %', quote_nullable(transaction_id)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'the station''s id: ocpp.transactions.transaction_id';
    END IF;
    RETURN ocpp.send(charge_point_id, 'RequestStopTransaction',
                     jsonb_build_object('transactionId', transaction_id), expires_at);
END
$$;
COMMENT ON FUNCTION ocpp.request_stop_transaction(text, text, timestamptz) IS
    'Queues RequestStopTransaction for an OCPP 2.0.1 station (1.6: ocpp.remote_stop_transaction): transactionId is the station''s (ocpp.transactions.transaction_id). The station ends it with a TransactionEvent Ended (RemoteStop, Remote). Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.request_stop_transaction(text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.request_stop_transaction(text, text, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.get_transaction_status(
    charge_point_id text, transaction_id text DEFAULT NULL, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'GetTransactionStatus',
                     jsonb_strip_nulls(jsonb_build_object('transactionId', transaction_id)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.get_transaction_status(text, text, timestamptz) IS
    'Queues GetTransactionStatus (OCPP 2.0.1, E14): with the station''s transactionId, whether it is still ongoing (ongoingIndicator) and whether events of it wait in the station''s queue (messagesInQueue); without, whether any do. The answer is in ocpp.commands.response. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.get_transaction_status(text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.get_transaction_status(text, text, timestamptz) TO pgcsms_operator;
