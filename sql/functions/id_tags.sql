CREATE OR REPLACE FUNCTION ocpp.add_id_tag(
    id_tag text,
    status text DEFAULT 'Accepted',
    expires_at timestamptz DEFAULT NULL,
    parent_id_tag text DEFAULT NULL,
    description text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF id_tag IS NULL OR id_tag = '' OR length(id_tag) > 20 THEN
        RAISE EXCEPTION 'an id tag is 1 to 20 characters (OCPP 1.6 IdToken), not %', quote_nullable(id_tag)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF status NOT IN ('Accepted', 'Blocked', 'Expired', 'Invalid') THEN
        RAISE EXCEPTION 'status must be Accepted, Blocked, Expired or Invalid, not %', quote_nullable(status)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE pgcsms.id_tags AS t
       SET status = add_id_tag.status, expires_at = add_id_tag.expires_at,
           parent_id_tag = add_id_tag.parent_id_tag,
           description = coalesce(add_id_tag.description, t.description), updated_at = now()
     WHERE upper(t.id_tag) = upper(add_id_tag.id_tag);
    IF NOT FOUND THEN
        INSERT INTO pgcsms.id_tags (id_tag, status, expires_at, parent_id_tag, description)
        VALUES (add_id_tag.id_tag, add_id_tag.status, add_id_tag.expires_at, add_id_tag.parent_id_tag,
                add_id_tag.description);
    END IF;
END
$$;
COMMENT ON FUNCTION ocpp.add_id_tag(text, text, timestamptz, text, text) IS
    'Adds an id tag (RFID card), or updates it: status Accepted | Blocked | Expired | Invalid, optional expiry and parent (group) tag. Tags match case-insensitively, as OCPP 1.6 requires.';
REVOKE ALL ON FUNCTION ocpp.add_id_tag(text, text, timestamptz, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.add_id_tag(text, text, timestamptz, text, text) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.remove_id_tag(id_tag text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM pgcsms.id_tags AS t WHERE upper(t.id_tag) = upper(remove_id_tag.id_tag);
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION ocpp.remove_id_tag(text) IS 'Deletes an id tag; from then on it is answered Invalid. True if it existed.';
REVOKE ALL ON FUNCTION ocpp.remove_id_tag(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.remove_id_tag(text) TO pgcsms_operator;

-- idTagInfo for a tag. check_concurrent: a tag already in an open transaction
-- (on any charger) is ConcurrentTx — asked by Authorize and StartTransaction,
-- not by StopTransaction.
CREATE OR REPLACE FUNCTION ocpp._id_tag_info(id_tag text, check_concurrent boolean DEFAULT true)
RETURNS jsonb
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    tag pgcsms.id_tags;
    status text;
BEGIN
    SELECT * INTO tag FROM pgcsms.id_tags AS t WHERE upper(t.id_tag) = upper(_id_tag_info.id_tag);
    IF NOT FOUND THEN
        RETURN jsonb_build_object('status', 'Invalid');
    END IF;
    status := tag.status;
    IF status = 'Accepted' AND tag.expires_at IS NOT NULL AND tag.expires_at <= now() THEN
        status := 'Expired';
    END IF;
    IF status = 'Accepted' AND check_concurrent AND EXISTS (
        SELECT FROM pgcsms.transactions AS tx
         WHERE upper(tx.id_tag) = upper(_id_tag_info.id_tag) AND tx.stopped_at IS NULL) THEN
        status := 'ConcurrentTx';
    END IF;
    RETURN jsonb_strip_nulls(jsonb_build_object(
        'status', status,
        'expiryDate', ocpp._iso(tag.expires_at),
        'parentIdTag', tag.parent_id_tag));
END
$$;
COMMENT ON FUNCTION ocpp._id_tag_info(text, boolean) IS
    'OCPP 1.6 idTagInfo for a tag: Accepted, Blocked, Expired (status or expiry passed), Invalid (unknown), ConcurrentTx (already in an open transaction, when check_concurrent).';
