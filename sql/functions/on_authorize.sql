CREATE OR REPLACE FUNCTION ocpp.on_authorize(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    info jsonb := ocpp._authorize_token(charge_point_id, payload->>'idTag');
BEGIN
    -- Every connector reserved for other tags (ocpp._reserved_for_other).
    IF info->>'status' = 'Accepted' AND ocpp._reserved_for_other(charge_point_id, NULL, payload->>'idTag') THEN
        info := jsonb_build_object('status', 'Invalid');
    END IF;
    RETURN jsonb_build_object('idTagInfo', ocpp._id_tag_info_of(info));
END
$$;
COMMENT ON FUNCTION ocpp.on_authorize(text, text, jsonb) IS
    'Authorize: idTagInfo for the tag (see ocpp._authorize_token); Invalid when every connector of the charger is reserved for other tags.';

-- Who may charge here, in every version: the token's own status
-- (ocpp._token_status), and only on a charger that is Accepted (a Pending one
-- is still waiting for an operator). A token that no tag knows, sent in a
-- RequestStartTransaction (an id we made up, Central unless it looks like a
-- card), is Accepted at the station we asked to start with it, in the type
-- we sent: while that request is fresh (5 minutes from when it was sent or
-- answered: it may have waited in the queue for a station offline), and for
-- the transaction it started (linked by remoteStartId before its token is
-- judged, ocpp.v201_transaction_event, however late the EV was plugged in).
CREATE OR REPLACE FUNCTION ocpp._authorize_token(
    charge_point_id text, id_token text, id_token_type text DEFAULT NULL, check_concurrent boolean DEFAULT true,
    own_transaction bigint DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    info jsonb := ocpp._token_status(id_token, id_token_type, check_concurrent, own_transaction);
BEGIN
    IF info->>'status' = 'Unknown' AND id_token_type IS NOT NULL AND EXISTS (
        SELECT FROM pgcsms.commands AS c
         WHERE c.charge_point_id = _authorize_token.charge_point_id AND c.action = 'RequestStartTransaction'
           AND upper(c.payload->'idToken'->>'idToken') = upper(_authorize_token.id_token)
           AND c.payload->'idToken'->>'type' = _authorize_token.id_token_type
           AND ((c.status IN ('sent', 'accepted') AND coalesce(c.completed_at, c.sent_at) > now() - interval '5 minutes')
                OR c.id = (SELECT t.remote_command_id FROM pgcsms.transactions AS t WHERE t.id = own_transaction))) THEN
        info := jsonb_build_object('status', 'Accepted');
    END IF;
    IF info->>'status' = 'Accepted' AND NOT EXISTS (
        SELECT FROM pgcsms.charge_points AS cp
         WHERE cp.id = _authorize_token.charge_point_id AND cp.registration_status = 'Accepted') THEN
        info := jsonb_build_object('status', 'Blocked');
    END IF;
    RETURN info;
END
$$;
COMMENT ON FUNCTION ocpp._authorize_token(text, text, text, boolean, bigint) IS
    'Whether a token may charge at a charger, in no protocol''s words (see ocpp._token_status): the token''s own status; Accepted for a token no tag knows that a RequestStartTransaction to this charger named with that type (sent or answered in the last 5 minutes, or the one that started own_transaction); Blocked at a charger that is not Accepted.';

CREATE OR REPLACE FUNCTION ocpp._authorization(charge_point_id text, id_tag text)
RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT ocpp._id_tag_info_of(ocpp._authorize_token(charge_point_id, id_tag))
$$;
COMMENT ON FUNCTION ocpp._authorization(text, text) IS
    'OCPP 1.6 idTagInfo for a tag at a charger (ocpp._authorize_token): the tag''s own status (Accepted, Blocked, Expired, Invalid, ConcurrentTx), and Blocked at a charger that is not Accepted.';
