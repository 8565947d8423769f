CREATE OR REPLACE FUNCTION ocpp.on_authorize(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    info jsonb := ocpp._authorization(charge_point_id, payload->>'idTag');
BEGIN
    -- Every connector reserved for other tags (ocpp._reserved_for_other).
    IF info->>'status' = 'Accepted' AND ocpp._reserved_for_other(charge_point_id, NULL, payload->>'idTag') THEN
        info := jsonb_build_object('status', 'Invalid');
    END IF;
    RETURN jsonb_build_object('idTagInfo', info);
END
$$;
COMMENT ON FUNCTION ocpp.on_authorize(text, text, jsonb) IS
    'Authorize: idTagInfo for the tag (see ocpp._authorization); Invalid when every connector of the charger is reserved for other tags.';

-- Who may charge here: the tag's own idTagInfo, and only on a charger that
-- is Accepted (a Pending one is still waiting for an operator).
CREATE OR REPLACE FUNCTION ocpp._authorization(charge_point_id text, id_tag text)
RETURNS jsonb
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    info jsonb := ocpp._id_tag_info(id_tag);
BEGIN
    IF info->>'status' = 'Accepted' AND NOT EXISTS (
        SELECT FROM pgcsms.charge_points AS cp
         WHERE cp.id = _authorization.charge_point_id AND cp.registration_status = 'Accepted') THEN
        info := jsonb_build_object('status', 'Blocked');
    END IF;
    RETURN info;
END
$$;
COMMENT ON FUNCTION ocpp._authorization(text, text) IS
    'idTagInfo for a tag at a charger: the tag''s own status (Accepted, Blocked, Expired, Invalid, ConcurrentTx), and Blocked at a charger that is not Accepted.';
