-- One helper per command, with named arguments mirroring the OCPP 1.6 fields
-- in snake_case: each builds the payload (optional fields left out when NULL)
-- and queues it with ocpp.send, returning the command id. Checking the
-- payload against the official schema is the proxy's job, before sending; a
-- payload that fails it ends the command as failed. expires_at, last: the
-- command is not delivered after it.
--   SELECT ocpp.reset('CP-1', type => 'Hard');
--   SELECT ocpp.get_configuration('CP-1', keys => ARRAY['HeartbeatInterval']);

CREATE OR REPLACE FUNCTION ocpp.remote_start_transaction(
    charge_point_id text, id_tag text, connector_id integer DEFAULT NULL, charging_profile jsonb DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'RemoteStartTransaction', jsonb_strip_nulls(jsonb_build_object(
        'idTag', id_tag, 'connectorId', connector_id, 'chargingProfile', charging_profile)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.remote_start_transaction(text, text, integer, jsonb, timestamptz) IS
    'Queues RemoteStartTransaction (idTag, connectorId, chargingProfile); the transaction that follows shows the command in ocpp.transactions.remote_command_id. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.remote_start_transaction(text, text, integer, jsonb, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.remote_start_transaction(text, text, integer, jsonb, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.remote_stop_transaction(
    charge_point_id text, transaction_id bigint, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'RemoteStopTransaction',
                     jsonb_strip_nulls(jsonb_build_object('transactionId', transaction_id)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.remote_stop_transaction(text, bigint, timestamptz) IS
    'Queues RemoteStopTransaction (transactionId: ocpp.transactions.id). Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.remote_stop_transaction(text, bigint, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.remote_stop_transaction(text, bigint, timestamptz) TO pgcsms_operator;

-- Reset, ChangeAvailability and TriggerMessage exist in 1.6 and 2.0.1: one
-- helper each builds the payload of the charger's version (ocpp._charge_point_version),
-- and refuses a value only the other version knows, with a hint.
CREATE OR REPLACE FUNCTION ocpp.reset(
    charge_point_id text, type text DEFAULT NULL, expires_at timestamptz DEFAULT NULL, evse_id integer DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    version text := ocpp._charge_point_version(charge_point_id);
BEGIN
    IF version = '1.6' THEN
        IF type IN ('Immediate', 'OnIdle') THEN
            RAISE EXCEPTION 'charge point % speaks OCPP 1.6: a Reset is Soft or Hard, not %', charge_point_id, type
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Immediate and OnIdle are OCPP 2.0.1 reset types';
        END IF;
        IF evse_id IS NOT NULL THEN
            RAISE EXCEPTION 'charge point % speaks OCPP 1.6: it resets as a whole, not per EVSE', charge_point_id
                USING ERRCODE = 'invalid_parameter_value', HINT = 'leave evse_id out';
        END IF;
        RETURN ocpp.send(charge_point_id, 'Reset', jsonb_build_object('type', coalesce(type, 'Soft')), expires_at);
    END IF;
    IF type IN ('Soft', 'Hard') THEN
        RAISE EXCEPTION 'charge point % speaks OCPP %: a Reset is Immediate or OnIdle, not %', charge_point_id, version, type
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Soft and Hard are OCPP 1.6 reset types; OnIdle waits for running transactions to end';
    END IF;
    RETURN ocpp.send(charge_point_id, 'Reset', jsonb_strip_nulls(jsonb_build_object(
        'type', coalesce(type, 'OnIdle'), 'evseId', evse_id)), expires_at);
END
$$;
COMMENT ON FUNCTION ocpp.reset(text, text, timestamptz, integer) IS
    'Queues Reset. OCPP 1.6: type Soft (default) | Hard. OCPP 2.0.1: type OnIdle (default: after running transactions end) | Immediate, evse_id to reset one EVSE only. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.reset(text, text, timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.reset(text, text, timestamptz, integer) TO pgcsms_operator;

-- The OCPP version a charger speaks, for the helpers that serve both: the
-- one it last connected with; one that never connected is taken for 1.6.
CREATE OR REPLACE FUNCTION ocpp._charge_point_version(charge_point_id text)
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT coalesce((SELECT cp.ocpp_version FROM pgcsms.charge_points AS cp
                      WHERE cp.id = _charge_point_version.charge_point_id), '1.6')
$$;
COMMENT ON FUNCTION ocpp._charge_point_version(text) IS
    'The OCPP version of a charger for the command helpers that serve every version: charge_points.ocpp_version, 1.6 when it never connected.';

CREATE OR REPLACE FUNCTION ocpp.unlock_connector(
    charge_point_id text, connector_id integer, expires_at timestamptz DEFAULT NULL, evse_id integer DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF ocpp._charge_point_version(charge_point_id) = '1.6' THEN
        IF evse_id IS NOT NULL THEN
            RAISE EXCEPTION 'evse_id is for OCPP 2.0.1 stations: % speaks 1.6', charge_point_id
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'connector_id alone names the connector of a 1.6 charge point';
        END IF;
        RETURN ocpp.send(charge_point_id, 'UnlockConnector',
                         jsonb_strip_nulls(jsonb_build_object('connectorId', connector_id)), expires_at);
    END IF;
    IF evse_id IS NULL THEN
        RAISE EXCEPTION 'an OCPP 2.0.1 connector is named by evse_id and connector_id: % speaks 2.0.1', charge_point_id
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'e.g. ocpp.unlock_connector(' || quote_literal(charge_point_id) || ', connector_id => 1, evse_id => 1)';
    END IF;
    RETURN ocpp.send(charge_point_id, 'UnlockConnector',
                     jsonb_strip_nulls(jsonb_build_object('evseId', evse_id, 'connectorId', connector_id)), expires_at);
END
$$;
COMMENT ON FUNCTION ocpp.unlock_connector(text, integer, timestamptz, integer) IS
    'Queues UnlockConnector: OCPP 1.6 connectorId (> 0); 2.0.1 evseId (evse_id, required) and connectorId on that EVSE. Answered Unlocked, UnlockFailed, NotSupported (1.6), OngoingAuthorizedTransaction or UnknownConnector (2.0.1). Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.unlock_connector(text, integer, timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.unlock_connector(text, integer, timestamptz, integer) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.change_availability(
    charge_point_id text, connector_id integer, type text, expires_at timestamptz DEFAULT NULL,
    evse_id integer DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    version text := ocpp._charge_point_version(charge_point_id);
BEGIN
    IF type IS NULL OR type NOT IN ('Operative', 'Inoperative') THEN
        RAISE EXCEPTION 'availability is Operative or Inoperative, not %', quote_nullable(type)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF version = '1.6' THEN
        IF evse_id IS NOT NULL THEN
            RAISE EXCEPTION 'charge point % speaks OCPP 1.6: it has connectors, not EVSEs', charge_point_id
                USING ERRCODE = 'invalid_parameter_value', HINT = 'name the connector with connector_id (0: all)';
        END IF;
        RETURN ocpp.send(charge_point_id, 'ChangeAvailability',
                         jsonb_strip_nulls(jsonb_build_object('connectorId', connector_id, 'type', type)), expires_at);
    END IF;
    IF evse_id IS NULL AND connector_id <> 0 THEN
        RAISE EXCEPTION 'charge point % speaks OCPP %: connector % of which EVSE?', charge_point_id, version, connector_id
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'give evse_id (connector ids count per EVSE); connector_id NULL or 0 with no evse_id: the whole station';
    END IF;
    RETURN ocpp.send(charge_point_id, 'ChangeAvailability', jsonb_build_object('operationalStatus', type)
        || CASE WHEN evse_id IS NOT NULL
                THEN jsonb_build_object('evse', jsonb_strip_nulls(jsonb_build_object(
                         'id', evse_id, 'connectorId', nullif(connector_id, 0))))
                ELSE '{}' END, expires_at);
END
$$;
COMMENT ON FUNCTION ocpp.change_availability(text, integer, text, timestamptz, integer) IS
    'Queues ChangeAvailability, type Operative | Inoperative (2.0.1 operationalStatus). OCPP 1.6: connector_id, 0 for the whole charge point. OCPP 2.0.1: evse_id and connector_id (NULL or 0: the whole EVSE); neither: the whole station. The result shows in ocpp.connector_availability. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.change_availability(text, integer, text, timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.change_availability(text, integer, text, timestamptz, integer) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.get_configuration(
    charge_point_id text, keys text[] DEFAULT NULL, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'GetConfiguration', jsonb_strip_nulls(jsonb_build_object('key', to_jsonb(keys))),
                     expires_at)
$$;
COMMENT ON FUNCTION ocpp.get_configuration(text, text[], timestamptz) IS
    'Queues GetConfiguration for the given keys (NULL: all); the answer fills ocpp.charger_configuration. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.get_configuration(text, text[], timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.get_configuration(text, text[], timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.change_configuration(
    charge_point_id text, key text, value text, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'ChangeConfiguration',
                     jsonb_strip_nulls(jsonb_build_object('key', key, 'value', value)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.change_configuration(text, text, text, timestamptz) IS
    'Queues ChangeConfiguration (key, value); Accepted or RebootRequired updates ocpp.charger_configuration. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.change_configuration(text, text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.change_configuration(text, text, text, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.clear_cache(charge_point_id text, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'ClearCache', '{}'::jsonb, expires_at)
$$;
COMMENT ON FUNCTION ocpp.clear_cache(text, timestamptz) IS
    'Queues ClearCache (the charger''s authorization cache). Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.clear_cache(text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.clear_cache(text, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.trigger_message(
    charge_point_id text, requested_message text, connector_id integer DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL, evse_id integer DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    version text := ocpp._charge_point_version(charge_point_id);
BEGIN
    IF version = '1.6' THEN
        IF evse_id IS NOT NULL THEN
            RAISE EXCEPTION 'charge point % speaks OCPP 1.6: it has connectors, not EVSEs', charge_point_id
                USING ERRCODE = 'invalid_parameter_value', HINT = 'name the connector with connector_id';
        END IF;
        IF requested_message IN ('LogStatusNotification', 'SignChargingStationCertificate', 'SignV2GCertificate',
                                 'SignCombinedCertificate', 'TransactionEvent', 'PublishFirmwareStatusNotification') THEN
            RAISE EXCEPTION 'charge point % speaks OCPP 1.6: % is an OCPP 2.0.1 message', charge_point_id, requested_message
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'the 1.6 Security Whitepaper''s ocpp.extended_trigger_message triggers LogStatusNotification and SignChargePointCertificate';
        END IF;
        RETURN ocpp.send(charge_point_id, 'TriggerMessage', jsonb_strip_nulls(jsonb_build_object(
            'requestedMessage', requested_message, 'connectorId', connector_id)), expires_at);
    END IF;
    IF requested_message = 'DiagnosticsStatusNotification' THEN
        RAISE EXCEPTION 'charge point % speaks OCPP %: DiagnosticsStatusNotification is an OCPP 1.6 message',
                        charge_point_id, version
            USING ERRCODE = 'invalid_parameter_value', HINT = 'OCPP 2.0.1 reports log uploads with LogStatusNotification';
    END IF;
    IF evse_id IS NULL AND connector_id IS NOT NULL THEN
        RAISE EXCEPTION 'charge point % speaks OCPP %: connector % of which EVSE?', charge_point_id, version, connector_id
            USING ERRCODE = 'invalid_parameter_value', HINT = 'give evse_id too (connector ids count per EVSE)';
    END IF;
    -- F06.FR.13 (errata 2.6.2): a StatusNotification is of one connector.
    IF requested_message = 'StatusNotification' AND (evse_id IS NULL OR connector_id IS NULL) THEN
        RAISE EXCEPTION 'charge point % speaks OCPP %: StatusNotification is triggered for one connector of one EVSE',
                        charge_point_id, version
            USING ERRCODE = 'invalid_parameter_value', HINT = 'evse_id => 1, connector_id => 1';
    END IF;
    RETURN ocpp.send(charge_point_id, 'TriggerMessage', jsonb_build_object('requestedMessage', requested_message)
        || CASE WHEN evse_id IS NOT NULL
                THEN jsonb_build_object('evse', jsonb_strip_nulls(jsonb_build_object(
                         'id', evse_id, 'connectorId', connector_id)))
                ELSE '{}' END, expires_at);
END
$$;
COMMENT ON FUNCTION ocpp.trigger_message(text, text, integer, timestamptz, integer) IS
    'Queues TriggerMessage. OCPP 1.6: requestedMessage BootNotification | DiagnosticsStatusNotification | FirmwareStatusNotification | Heartbeat | MeterValues | StatusNotification, connectorId. OCPP 2.0.1: requestedMessage BootNotification | LogStatusNotification | FirmwareStatusNotification | Heartbeat | MeterValues | SignChargingStationCertificate | SignV2GCertificate | SignCombinedCertificate | StatusNotification | TransactionEvent | PublishFirmwareStatusNotification, evse_id and connector_id (StatusNotification needs both, F06.FR.13: refused without). Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.trigger_message(text, text, integer, timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.trigger_message(text, text, integer, timestamptz, integer) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.reserve_now(
    charge_point_id text, connector_id integer DEFAULT NULL, id_tag text DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL, parent_id_tag text DEFAULT NULL, evse_id integer DEFAULT NULL,
    id_token_type text DEFAULT NULL, connector_type text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reservation integer;
    command bigint;
    parent text := parent_id_tag;
    version text := ocpp._charge_point_version(charge_point_id);
    -- A 1.6 reservation is for a connector, a 2.0.1 one for an EVSE: the
    -- same column (a 1.6 connector is its own EVSE), 0 for any.
    reserved integer := CASE WHEN version = '1.6' THEN connector_id ELSE coalesce(evse_id, 0) END;
    longest integer := CASE WHEN version = '1.6' THEN 20 ELSE 36 END;  -- an IdToken
BEGIN
    IF NOT EXISTS (SELECT FROM pgcsms.charge_points AS cp WHERE cp.id = reserve_now.charge_point_id) THEN
        RAISE EXCEPTION 'unknown charge point %', quote_nullable(charge_point_id) USING ERRCODE = 'no_data_found';
    END IF;
    IF version = '1.6' AND num_nonnulls(evse_id, id_token_type, connector_type) > 0 THEN
        RAISE EXCEPTION 'evse_id, id_token_type and connector_type are for OCPP 2.0.1 stations: % speaks 1.6',
                        charge_point_id
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'connector_id names the connector of a 1.6 charge point (0: any)';
    END IF;
    IF version <> '1.6' AND connector_id IS NOT NULL THEN
        RAISE EXCEPTION 'an OCPP 2.0.1 reservation is for an EVSE, not a connector: % speaks 2.0.1', charge_point_id
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'evse_id names the EVSE (NULL: any), connector_type the kind of connector (e.g. cType2)';
    END IF;
    IF reserved IS NULL OR reserved < 0 THEN
        RAISE EXCEPTION 'connector_id is 0 (any connector) or a connector number, not %', coalesce(reserved::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF id_tag IS NULL OR id_tag = '' OR length(id_tag) > longest THEN
        RAISE EXCEPTION 'an id tag is 1 to % characters, not %', longest, quote_nullable(id_tag)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF expires_at IS NULL OR expires_at <= now() THEN
        RAISE EXCEPTION 'a reservation expires in the future, not at %', coalesce(expires_at::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF parent IS NULL THEN
        SELECT t.parent_id_tag INTO parent FROM pgcsms.id_tags AS t WHERE upper(t.id_tag) = upper(reserve_now.id_tag);
    END IF;
    INSERT INTO pgcsms.reservations (charge_point_id, connector_id, id_tag, parent_id_tag, expires_at, id_token_type,
                                     connector_type)
    VALUES (reserve_now.charge_point_id, reserved, reserve_now.id_tag, parent, reserve_now.expires_at,
            CASE WHEN version <> '1.6' THEN coalesce(reserve_now.id_token_type, ocpp._id_token_type_for(reserve_now.id_tag)) END,
            reserve_now.connector_type)
    RETURNING id INTO reservation;
    -- Not worth delivering once the reservation has expired.
    IF version = '1.6' THEN
        command := ocpp.send(charge_point_id, 'ReserveNow', jsonb_strip_nulls(jsonb_build_object(
            'connectorId', reserved, 'expiryDate', ocpp._iso(expires_at), 'idTag', id_tag,
            'parentIdTag', parent, 'reservationId', reservation)), expires_at);
    ELSE
        command := ocpp.send(charge_point_id, 'ReserveNow', jsonb_strip_nulls(jsonb_build_object(
            'id', reservation, 'expiryDateTime', ocpp._iso(expires_at),
            'idToken', jsonb_build_object('idToken', id_tag,
                                          'type', coalesce(id_token_type, ocpp._id_token_type_for(id_tag))),
            'evseId', nullif(reserved, 0), 'connectorType', connector_type,
            'groupIdToken', CASE WHEN parent IS NOT NULL THEN
                jsonb_build_object('idToken', parent, 'type', ocpp._id_token_type_for(parent)) END)), expires_at);
    END IF;
    UPDATE pgcsms.reservations AS r SET command_id = command WHERE r.id = reservation;
    RETURN command;
END
$$;
COMMENT ON FUNCTION ocpp.reserve_now(text, integer, text, timestamptz, text, integer, text, text) IS
    'Makes a reservation (ocpp.reservations, status Requested; parent_id_tag, the group, defaults to the tag''s parent) and queues ReserveNow with its id as reservationId (1.6) or id (2.0.1); the answer sets the reservation''s status. OCPP 1.6: connector_id, 0 for any connector. 2.0.1: evse_id (NULL: any EVSE), connector_type (ConnectorEnumType), id_token_type (default: the tag''s type, see ocpp._id_token_type_for). Returns the command id (ocpp.reservations.command_id).';
REVOKE ALL ON FUNCTION ocpp.reserve_now(text, integer, text, timestamptz, text, integer, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.reserve_now(text, integer, text, timestamptz, text, integer, text, text) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.cancel_reservation(
    charge_point_id text, reservation_id integer, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'CancelReservation',
                     jsonb_strip_nulls(jsonb_build_object('reservationId', reservation_id)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.cancel_reservation(text, integer, timestamptz) IS
    'Queues CancelReservation; Accepted marks the reservation Cancelled. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.cancel_reservation(text, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.cancel_reservation(text, integer, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.send_local_list(
    charge_point_id text, update_type text DEFAULT 'Full', id_tags text[] DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v16 boolean := ocpp._charge_point_version(charge_point_id) = '1.6';
    list jsonb;
BEGIN
    IF update_type IS NULL OR update_type NOT IN ('Full', 'Differential') THEN
        RAISE EXCEPTION 'update_type is Full or Differential, not %', quote_nullable(update_type)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF update_type = 'Differential' AND id_tags IS NULL THEN
        RAISE EXCEPTION 'a Differential update names the id_tags to add, update or remove'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Every tag, or the given ones; in a Differential update a tag no longer
    -- in pgcsms.id_tags is sent without its info, which removes it from the
    -- charger's list. Each with its status in the charger's version's words.
    SELECT jsonb_agg(CASE
               WHEN v16 THEN jsonb_strip_nulls(jsonb_build_object(
                   'idTag', coalesce(t.id_tag, g.tag),
                   'idTagInfo', CASE WHEN t.id_tag IS NOT NULL THEN ocpp._id_tag_info(t.id_tag, false) END))
               ELSE jsonb_strip_nulls(jsonb_build_object(
                   'idToken', jsonb_build_object(
                       'idToken', coalesce(t.id_tag, g.tag),
                       'type', coalesce(t.id_token_type, e.id_token_type, ocpp._id_token_type_for(coalesce(t.id_tag, g.tag)))),
                   'idTokenInfo', CASE WHEN t.id_tag IS NOT NULL THEN ocpp._v201_id_token_info(
                       ocpp._token_status(t.id_tag, ocpp._id_token_type_for(t.id_tag), false)) END))
           END ORDER BY g.ord, t.id_tag)
      INTO list
      FROM (SELECT DISTINCT ON (upper(u.tag)) u.tag, u.ord FROM unnest(id_tags) WITH ORDINALITY AS u(tag, ord)
             WHERE u.tag IS NOT NULL ORDER BY upper(u.tag), u.ord) AS g
      FULL JOIN pgcsms.id_tags AS t ON upper(t.id_tag) = upper(g.tag)
      LEFT JOIN pgcsms.local_list_entries AS e
        ON e.charge_point_id = send_local_list.charge_point_id AND upper(e.id_tag) = upper(coalesce(t.id_tag, g.tag))
     WHERE CASE WHEN id_tags IS NULL THEN t.id_tag IS NOT NULL
                ELSE g.tag IS NOT NULL AND (update_type = 'Differential' OR t.id_tag IS NOT NULL) END;
    IF v16 THEN
        RETURN ocpp.send(charge_point_id, 'SendLocalList', jsonb_build_object(
            'listVersion', ocpp._next_local_list_version(charge_point_id), 'updateType', update_type,
            'localAuthorizationList', coalesce(list, '[]'::jsonb)), expires_at);
    END IF;
    -- 2.0.1 leaves an empty list out (minItems 1): a Full update without tags clears it.
    RETURN ocpp.send(charge_point_id, 'SendLocalList', jsonb_strip_nulls(jsonb_build_object(
        'versionNumber', ocpp._next_local_list_version(charge_point_id), 'updateType', update_type,
        'localAuthorizationList', list)), expires_at);
END
$$;
COMMENT ON FUNCTION ocpp.send_local_list(text, text, text[], timestamptz) IS
    'Queues SendLocalList built from ocpp.id_tags with each tag''s status (1.6 idTagInfo, 2.0.1 idTokenInfo and idToken type, see ocpp._id_token_type_for): Full with every tag (id_tags NULL) or the given ones; Differential with the given ones (a tag no longer in ocpp.id_tags is removed from the charger''s list). The version (1.6 listVersion, 2.0.1 versionNumber) is one more than the one known for the charger (ocpp.local_lists). Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.send_local_list(text, text, text[], timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.send_local_list(text, text, text[], timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.get_local_list_version(charge_point_id text, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'GetLocalListVersion', '{}'::jsonb, expires_at)
$$;
COMMENT ON FUNCTION ocpp.get_local_list_version(text, timestamptz) IS
    'Queues GetLocalListVersion; the answer updates ocpp.local_lists. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.get_local_list_version(text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.get_local_list_version(text, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.set_charging_profile(
    charge_point_id text, connector_id integer DEFAULT NULL, cs_charging_profiles jsonb DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL, evse_id integer DEFAULT NULL, charging_profile jsonb DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF ocpp._is_v2(ocpp._charge_point_version(charge_point_id)) THEN
        PERFORM ocpp._refuse_arguments(charge_point_id, jsonb_build_object(
            'connector_id', connector_id, 'cs_charging_profiles', cs_charging_profiles),
            'OCPP 2.0.1 names the EVSE and the profile: evse_id => 1, charging_profile => ''{"id": ..., "stackLevel": ..., "chargingProfilePurpose": ..., "chargingProfileKind": ..., "chargingSchedule": [...]}''');
        -- K01.FR.03
        IF charging_profile->>'chargingProfilePurpose' = 'TxProfile' AND NOT charging_profile ? 'transactionId' THEN
            RAISE EXCEPTION 'a TxProfile names the transaction it is for' USING ERRCODE = 'invalid_parameter_value',
                HINT = 'transactionId: the station''s transactionId (ocpp.transactions.remote_id)';
        END IF;
        RETURN ocpp.send(charge_point_id, 'SetChargingProfile', jsonb_strip_nulls(jsonb_build_object(
            'evseId', evse_id, 'chargingProfile', charging_profile)), expires_at);
    END IF;
    PERFORM ocpp._refuse_arguments(charge_point_id, jsonb_build_object(
        'evse_id', evse_id, 'charging_profile', charging_profile),
        'OCPP 1.6 names the connector and the profile: connector_id => 1, cs_charging_profiles => ''{"chargingProfileId": ..., ...}''');
    RETURN ocpp.send(charge_point_id, 'SetChargingProfile', jsonb_strip_nulls(jsonb_build_object(
        'connectorId', connector_id, 'csChargingProfiles', cs_charging_profiles)), expires_at);
END
$$;
COMMENT ON FUNCTION ocpp.set_charging_profile(text, integer, jsonb, timestamptz, integer, jsonb) IS
    'Queues SetChargingProfile: OCPP 1.6 connector_id and cs_charging_profiles (OCPP JSON), 2.0.1 evse_id and charging_profile (ChargingProfileType; a TxProfile names its transactionId); Accepted stores it in ocpp.charging_profiles. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.set_charging_profile(text, integer, jsonb, timestamptz, integer, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.set_charging_profile(text, integer, jsonb, timestamptz, integer, jsonb) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.clear_charging_profile(
    charge_point_id text, id integer DEFAULT NULL, connector_id integer DEFAULT NULL,
    charging_profile_purpose text DEFAULT NULL, stack_level integer DEFAULT NULL, expires_at timestamptz DEFAULT NULL,
    evse_id integer DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    version text := ocpp._charge_point_version(charge_point_id);
    purpose text := ocpp._check_value(charge_point_id, 'charging_profile_purpose', charging_profile_purpose);
BEGIN
    IF ocpp._is_v2(version) THEN
        PERFORM ocpp._refuse_arguments(charge_point_id, jsonb_build_object('connector_id', connector_id),
                                       'OCPP 2.0.1 clears by EVSE: evse_id => 1 (0: the whole station)');
        -- K10.FR.02: an id or a filter, never "everything" by omission.
        IF num_nonnulls(id, evse_id, purpose, stack_level) = 0 THEN
            RAISE EXCEPTION 'ClearChargingProfile to an OCPP 2.0.1 station names a profile id or a filter'
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'id => ..., or one or more of evse_id, charging_profile_purpose, stack_level';
        END IF;
        RETURN ocpp.send(charge_point_id, 'ClearChargingProfile', jsonb_strip_nulls(jsonb_build_object(
            'chargingProfileId', id,
            'chargingProfileCriteria', nullif(jsonb_strip_nulls(jsonb_build_object(
                'evseId', evse_id, 'chargingProfilePurpose', purpose, 'stackLevel', stack_level)), '{}'))),
            expires_at);
    END IF;
    PERFORM ocpp._refuse_arguments(charge_point_id, jsonb_build_object('evse_id', evse_id),
                                   'OCPP 1.6 clears by connector: connector_id => 1 (0: the whole charge point)');
    RETURN ocpp.send(charge_point_id, 'ClearChargingProfile', jsonb_strip_nulls(jsonb_build_object(
        'id', id, 'connectorId', connector_id, 'chargingProfilePurpose', purpose,
        'stackLevel', stack_level)), expires_at);
END
$$;
COMMENT ON FUNCTION ocpp.clear_charging_profile(text, integer, integer, text, integer, timestamptz, integer) IS
    'Queues ClearChargingProfile: one profile by id, or those matching the connector (OCPP 1.6 connector_id) or EVSE (2.0.1 evse_id), charging_profile_purpose and stack_level (OCPP 1.6: all, with none given; 2.0.1 needs one); Accepted removes them from ocpp.charging_profiles. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.clear_charging_profile(text, integer, integer, text, integer, timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.clear_charging_profile(text, integer, integer, text, integer, timestamptz, integer) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.get_composite_schedule(
    charge_point_id text, connector_id integer DEFAULT NULL, duration integer DEFAULT NULL,
    charging_rate_unit text DEFAULT NULL, expires_at timestamptz DEFAULT NULL, evse_id integer DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF duration IS NULL THEN
        RAISE EXCEPTION 'a composite schedule is asked for a duration' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'duration => 3600 (seconds)';
    END IF;
    IF ocpp._is_v2(ocpp._charge_point_version(charge_point_id)) THEN
        PERFORM ocpp._refuse_arguments(charge_point_id, jsonb_build_object('connector_id', connector_id),
                                       'OCPP 2.0.1 asks per EVSE: evse_id => 1 (0: the whole station)');
        RETURN ocpp.send(charge_point_id, 'GetCompositeSchedule', jsonb_strip_nulls(jsonb_build_object(
            'evseId', evse_id, 'duration', duration, 'chargingRateUnit', charging_rate_unit)), expires_at);
    END IF;
    PERFORM ocpp._refuse_arguments(charge_point_id, jsonb_build_object('evse_id', evse_id),
                                   'OCPP 1.6 asks per connector: connector_id => 1 (0: the whole charge point)');
    RETURN ocpp.send(charge_point_id, 'GetCompositeSchedule', jsonb_strip_nulls(jsonb_build_object(
        'connectorId', connector_id, 'duration', duration, 'chargingRateUnit', charging_rate_unit)), expires_at);
END
$$;
COMMENT ON FUNCTION ocpp.get_composite_schedule(text, integer, integer, text, timestamptz, integer) IS
    'Queues GetCompositeSchedule for a connector (OCPP 1.6 connector_id) or EVSE (2.0.1 evse_id), duration in seconds, chargingRateUnit A | W; Accepted keeps it in ocpp.composite_schedules. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.get_composite_schedule(text, integer, integer, text, timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.get_composite_schedule(text, integer, integer, text, timestamptz, integer) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.get_diagnostics(
    charge_point_id text, location text, retries integer DEFAULT NULL, retry_interval integer DEFAULT NULL,
    start_time timestamptz DEFAULT NULL, stop_time timestamptz DEFAULT NULL, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'GetDiagnostics', jsonb_strip_nulls(jsonb_build_object(
        'location', location, 'retries', retries, 'retryInterval', retry_interval,
        'startTime', ocpp._iso(start_time), 'stopTime', ocpp._iso(stop_time))), expires_at)
$$;
COMMENT ON FUNCTION ocpp.get_diagnostics(text, text, integer, integer, timestamptz, timestamptz, timestamptz) IS
    'Queues GetDiagnostics (location: the upload URI); the answer opens a diagnostics job in ocpp.jobs. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.get_diagnostics(text, text, integer, integer, timestamptz, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.get_diagnostics(text, text, integer, integer, timestamptz, timestamptz, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.update_firmware(
    charge_point_id text, location text, retrieve_date timestamptz DEFAULT now(), retries integer DEFAULT NULL,
    retry_interval integer DEFAULT NULL, expires_at timestamptz DEFAULT NULL, request_id integer DEFAULT NULL,
    install_date_time timestamptz DEFAULT NULL, signing_certificate text DEFAULT NULL, signature text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF ocpp._is_v2(ocpp._charge_point_version(charge_point_id)) THEN
        -- L01.FR.11: a secure update carries the signing certificate and signature.
        RETURN ocpp.send(charge_point_id, 'UpdateFirmware', jsonb_strip_nulls(jsonb_build_object(
            'requestId', coalesce(request_id, ocpp._new_request_id()), 'retries', retries,
            'retryInterval', retry_interval,
            'firmware', jsonb_build_object(
                'location', location, 'retrieveDateTime', ocpp._iso(coalesce(retrieve_date, now())),
                'installDateTime', ocpp._iso(install_date_time), 'signingCertificate', signing_certificate,
                'signature', signature))), expires_at);
    END IF;
    PERFORM ocpp._refuse_arguments(charge_point_id, jsonb_build_object(
        'request_id', request_id, 'install_date_time', install_date_time, 'signing_certificate', signing_certificate,
        'signature', signature),
        'OCPP 1.6 updates signed firmware with ocpp.signed_update_firmware (Security Whitepaper)');
    RETURN ocpp.send(charge_point_id, 'UpdateFirmware', jsonb_strip_nulls(jsonb_build_object(
        'location', location, 'retrieveDate', ocpp._iso(coalesce(retrieve_date, now())), 'retries', retries,
        'retryInterval', retry_interval)), expires_at);
END
$$;
COMMENT ON FUNCTION ocpp.update_firmware(text, text, timestamptz, integer, integer, timestamptz, integer, timestamptz, text, text) IS
    'Queues UpdateFirmware (location: the firmware URI; retrieve_date: now unless given). OCPP 2.0.1 also: request_id (a new one unless given), install_date_time, signing_certificate and signature (L01: give both for a secure update). The answer opens a firmware job in ocpp.jobs that FirmwareStatusNotification follows. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.update_firmware(text, text, timestamptz, integer, integer, timestamptz, integer, timestamptz, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.update_firmware(text, text, timestamptz, integer, integer, timestamptz, integer, timestamptz, text, text) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.data_transfer(
    charge_point_id text, vendor_id text, message_id text DEFAULT NULL, data text DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL, json_data jsonb DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF ocpp._charge_point_version(charge_point_id) = '1.6' THEN
        PERFORM ocpp._refuse_arguments(charge_point_id, jsonb_build_object('json_data', json_data),
                                       'OCPP 1.6 data is a string: data => ''...''');
    ELSIF data IS NOT NULL AND json_data IS NOT NULL THEN
        RAISE EXCEPTION 'data or json_data, not both' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'data => ''text'' sends a JSON string, json_data => ''{...}'' any JSON';
    END IF;
    RETURN ocpp.send(charge_point_id, 'DataTransfer', jsonb_strip_nulls(jsonb_build_object(
        'vendorId', vendor_id, 'messageId', message_id, 'data', coalesce(to_jsonb(data), json_data))), expires_at);
END
$$;
COMMENT ON FUNCTION ocpp.data_transfer(text, text, text, text, timestamptz, jsonb) IS
    'Queues DataTransfer (vendorId, messageId, data: a string; OCPP 2.0.1 also json_data, any JSON); the answer is kept in ocpp.data_transfers (direction out). Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.data_transfer(text, text, text, text, timestamptz, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.data_transfer(text, text, text, text, timestamptz, jsonb) TO pgcsms_operator;

-- Security extension (OCPP 1.6 Security Whitepaper).

CREATE OR REPLACE FUNCTION ocpp.certificate_signed(
    charge_point_id text, certificate_chain text, expires_at timestamptz DEFAULT NULL,
    certificate_type text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    wanted_type text := ocpp._check_value(charge_point_id, 'certificate_type', certificate_type);
BEGIN
    IF ocpp._is_v2(ocpp._charge_point_version(charge_point_id)) THEN
        -- A02.FR.14: the type the station asked for in its newest CSR.
        IF wanted_type IS NULL THEN
            SELECT r.certificate_type INTO wanted_type FROM pgcsms.certificate_signing_requests AS r
             WHERE r.charge_point_id = certificate_signed.charge_point_id AND r.status = 'Received'
             ORDER BY r.id DESC LIMIT 1;
        END IF;
        RETURN ocpp.send(charge_point_id, 'CertificateSigned', jsonb_strip_nulls(jsonb_build_object(
            'certificateChain', certificate_chain, 'certificateType', wanted_type)), expires_at);
    END IF;
    PERFORM ocpp._refuse_arguments(charge_point_id, jsonb_build_object('certificate_type', wanted_type),
                                   'OCPP 1.6 signs the charge point certificate only: leave certificate_type out');
    RETURN ocpp.send(charge_point_id, 'CertificateSigned',
                     jsonb_strip_nulls(jsonb_build_object('certificateChain', certificate_chain)), expires_at);
END
$$;
COMMENT ON FUNCTION ocpp.certificate_signed(text, text, timestamptz, text) IS
    'Queues CertificateSigned (the PEM chain signed from the charger''s CSR, leaf first; OCPP 2.0.1 certificate_type ChargingStationCertificate | V2GCertificate, by default the type of the newest received CSR); Accepted records it in ocpp.installed_certificates and marks the CSR Signed. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.certificate_signed(text, text, timestamptz, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.certificate_signed(text, text, timestamptz, text) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.install_certificate(
    charge_point_id text, certificate_type text, certificate text, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'InstallCertificate', jsonb_strip_nulls(jsonb_build_object(
        'certificateType', ocpp._check_value(charge_point_id, 'certificate_type', certificate_type),
        'certificate', certificate)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.install_certificate(text, text, text, timestamptz) IS
    'Queues InstallCertificate (certificateType, OCPP 1.6: CentralSystemRootCertificate | ManufacturerRootCertificate; 2.0.1: CSMSRootCertificate | ManufacturerRootCertificate | V2GRootCertificate | MORootCertificate; PEM certificate); Accepted records it in ocpp.installed_certificates. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.install_certificate(text, text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.install_certificate(text, text, text, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.get_installed_certificate_ids(
    charge_point_id text, certificate_type text DEFAULT NULL, expires_at timestamptz DEFAULT NULL,
    certificate_types text[] DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    wanted_type text := ocpp._check_value(charge_point_id, 'certificate_type', certificate_type);
BEGIN
    IF ocpp._is_v2(ocpp._charge_point_version(charge_point_id)) THEN
        -- One type, several, or none: every type.
        IF wanted_type IS NOT NULL AND certificate_types IS NOT NULL THEN
            RAISE EXCEPTION 'certificate_type or certificate_types, not both' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        RETURN ocpp.send(charge_point_id, 'GetInstalledCertificateIds', jsonb_strip_nulls(jsonb_build_object(
            'certificateType', CASE WHEN wanted_type IS NOT NULL THEN jsonb_build_array(wanted_type)
                                    ELSE (SELECT jsonb_agg(ocpp._check_value(charge_point_id, 'certificate_types', t))
                                            FROM unnest(certificate_types) AS t) END)), expires_at);
    END IF;
    PERFORM ocpp._refuse_arguments(charge_point_id, jsonb_build_object('certificate_types', certificate_types),
                                   'OCPP 1.6 asks for one type: certificate_type => ''CentralSystemRootCertificate''');
    IF wanted_type IS NULL THEN
        RAISE EXCEPTION 'OCPP 1.6 asks for the certificates of one type' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'certificate_type => ''CentralSystemRootCertificate'' or ''ManufacturerRootCertificate''';
    END IF;
    RETURN ocpp.send(charge_point_id, 'GetInstalledCertificateIds',
                     jsonb_build_object('certificateType', wanted_type), expires_at);
END
$$;
COMMENT ON FUNCTION ocpp.get_installed_certificate_ids(text, text, timestamptz, text[]) IS
    'Queues GetInstalledCertificateIds: OCPP 1.6 for one certificate_type; 2.0.1 for certificate_type, certificate_types, or (neither) every type. The answer replaces the reported certificates of those types in ocpp.installed_certificates. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.get_installed_certificate_ids(text, text, timestamptz, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.get_installed_certificate_ids(text, text, timestamptz, text[]) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.delete_certificate(
    charge_point_id text, hash_algorithm text, issuer_name_hash text, issuer_key_hash text, serial_number text,
    expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'DeleteCertificate', jsonb_build_object('certificateHashData',
        jsonb_strip_nulls(jsonb_build_object('hashAlgorithm', hash_algorithm, 'issuerNameHash', issuer_name_hash,
                                             'issuerKeyHash', issuer_key_hash, 'serialNumber', serial_number))),
        expires_at)
$$;
COMMENT ON FUNCTION ocpp.delete_certificate(text, text, text, text, text, timestamptz) IS
    'Queues DeleteCertificate (certificateHashData: hash_algorithm SHA256 | SHA384 | SHA512, issuer name and key hashes, serial number). Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.delete_certificate(text, text, text, text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.delete_certificate(text, text, text, text, text, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.get_log(
    charge_point_id text, log_type text, request_id integer, remote_location text,
    oldest_timestamp timestamptz DEFAULT NULL, latest_timestamp timestamptz DEFAULT NULL,
    retries integer DEFAULT NULL, retry_interval integer DEFAULT NULL, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'GetLog', jsonb_strip_nulls(jsonb_build_object(
        'logType', log_type, 'requestId', request_id,
        'log', jsonb_build_object('remoteLocation', remote_location, 'oldestTimestamp', ocpp._iso(oldest_timestamp),
                                  'latestTimestamp', ocpp._iso(latest_timestamp)),
        'retries', retries, 'retryInterval', retry_interval)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.get_log(text, text, integer, text, timestamptz, timestamptz, integer, integer, timestamptz) IS
    'Queues GetLog (logType DiagnosticsLog | SecurityLog, requestId, log.remoteLocation and time window); the answer opens a log job in ocpp.jobs that LogStatusNotification with the same requestId follows. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.get_log(text, text, integer, text, timestamptz, timestamptz, integer, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.get_log(text, text, integer, text, timestamptz, timestamptz, integer, integer, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.signed_update_firmware(
    charge_point_id text, request_id integer, location text, retrieve_date_time timestamptz,
    signing_certificate text, signature text, install_date_time timestamptz DEFAULT NULL,
    retries integer DEFAULT NULL, retry_interval integer DEFAULT NULL, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'SignedUpdateFirmware', jsonb_strip_nulls(jsonb_build_object(
        'requestId', request_id,
        'firmware', jsonb_build_object('location', location, 'retrieveDateTime', ocpp._iso(retrieve_date_time),
                                       'installDateTime', ocpp._iso(install_date_time),
                                       'signingCertificate', signing_certificate, 'signature', signature),
        'retries', retries, 'retryInterval', retry_interval)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.signed_update_firmware(text, integer, text, timestamptz, text, text, timestamptz, integer, integer, timestamptz) IS
    'Queues SignedUpdateFirmware (requestId, firmware location, retrieve and install times, signing certificate, signature); the answer opens a signed_firmware job in ocpp.jobs that SignedFirmwareStatusNotification with the same requestId follows. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.signed_update_firmware(text, integer, text, timestamptz, text, text, timestamptz, integer, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.signed_update_firmware(text, integer, text, timestamptz, text, text, timestamptz, integer, integer, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.extended_trigger_message(
    charge_point_id text, requested_message text, connector_id integer DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'ExtendedTriggerMessage', jsonb_strip_nulls(jsonb_build_object(
        'requestedMessage', requested_message, 'connectorId', connector_id)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.extended_trigger_message(text, text, integer, timestamptz) IS
    'Queues ExtendedTriggerMessage (requestedMessage BootNotification | LogStatusNotification | FirmwareStatusNotification | Heartbeat | MeterValues | SignChargePointCertificate | StatusNotification; connectorId). Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.extended_trigger_message(text, text, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.extended_trigger_message(text, text, integer, timestamptz) TO pgcsms_operator;
