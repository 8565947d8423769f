-- Id tokens (RFID cards, key codes, contract ids...) and who may charge with
-- them. The rules are the same in every OCPP version; each version only words
-- the answer its own way (1.6 idTagInfo, 2.0.1 idTokenInfo, see
-- ocpp._id_tag_info and ocpp._v201_id_token_info).

-- How an id token of each 2.0.1 type is usually written (IdTokenEnumType,
-- Part 2): a token no tag knows that does not fit is Invalid. The tags come
-- first: a station may present a token of its own form (a lab's test token,
-- colons in a UID, an EMI3 eMAID), and a tag the operator made is answered as
-- made. NULL for a type that is not one. A type-less token (OCPP 1.6) may be
-- anything.
CREATE OR REPLACE FUNCTION ocpp._id_token_format(id_token_type text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE id_token_type
        -- The UID of an ISO 14443 card: 4, 7 or 10 bytes in hexadecimal.
        WHEN 'ISO14443' THEN '^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{14}|[0-9A-Fa-f]{20})$'
        -- The UID of an ISO 15693 card: 8 bytes in hexadecimal.
        WHEN 'ISO15693' THEN '^[0-9A-Fa-f]{16}$'
        -- ISO 15118 eMAID: country, provider, 9 characters of contract, an
        -- optional check character; dashes between them are allowed.
        WHEN 'eMAID' THEN '^[A-Za-z]{2}-?[A-Za-z0-9]{3}-?[A-Za-z0-9]{9}(-?[A-Za-z0-9])?$'
        -- The EV communication controller's MAC address: 6 bytes in hexadecimal.
        WHEN 'MacAddress' THEN '^[0-9A-Fa-f]{2}([:-]?[0-9A-Fa-f]{2}){5}$'
        WHEN 'KeyCode' THEN '.'
        WHEN 'Local' THEN '.'
        WHEN 'Central' THEN '.'
        -- Nothing presented (authorization off at the station): the empty string.
        WHEN 'NoAuthorization' THEN '^$'
    END
$$;
COMMENT ON FUNCTION ocpp._id_token_format(text) IS
    'The regular expression an id token of this OCPP 2.0.1 type usually matches (ISO14443: 8, 14 or 20 hex digits, ISO15693: 16, eMAID: ISO 15118, MacAddress: 12 hex digits, NoAuthorization: empty, others: not empty): a token no tag knows that does not is Invalid (ocpp._token_status); NULL when the type is not an IdTokenEnumType.';

-- The type to send a tag with to a 2.0.1 station: its own, or for a tag made
-- without one (for 1.6), what its form says it is.
CREATE OR REPLACE FUNCTION ocpp._id_token_type_for(id_tag text)
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(
        (SELECT t.id_token_type FROM pgcsms.id_tags AS t WHERE upper(t.id_tag) = upper(_id_token_type_for.id_tag)),
        CASE WHEN id_tag ~ ocpp._id_token_format('ISO14443') THEN 'ISO14443'
             WHEN id_tag ~ ocpp._id_token_format('ISO15693') THEN 'ISO15693'
             ELSE 'Central' END)
$$;
COMMENT ON FUNCTION ocpp._id_token_type_for(text) IS
    'The 2.0.1 idToken type of a tag: its id_token_type; for a tag without one (or no tag), ISO14443 when it has 8, 14 or 20 hex digits, ISO15693 with 16, else Central. The type every helper sends a tag with unless told otherwise.';

CREATE OR REPLACE FUNCTION ocpp.add_id_tag(
    id_tag text,
    status text DEFAULT 'Accepted',
    expires_at timestamptz DEFAULT NULL,
    parent_id_tag text DEFAULT NULL,
    description text DEFAULT NULL,
    id_token_type text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- A tag without a type serves 1.6 chargers too: a 1.6 IdToken (CiString20).
    -- A typed one is a 2.x idToken: 36 characters in 2.0.1, 255 in 2.1.
    longest integer := CASE WHEN id_token_type IS NULL THEN 20 ELSE 255 END;
BEGIN
    IF id_token_type IS NOT NULL AND (ocpp._id_token_format(id_token_type) IS NULL OR id_token_type = 'NoAuthorization') THEN
        RAISE EXCEPTION 'id_token_type is an OCPP 2.0.1 IdTokenEnumType, not %', quote_literal(id_token_type)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'ISO14443, ISO15693, eMAID, KeyCode, Local, MacAddress or Central; NULL for a tag of any type (and OCPP 1.6)';
    END IF;
    IF id_tag IS NULL OR id_tag = '' OR length(id_tag) > longest THEN
        RAISE EXCEPTION 'an id tag is 1 to % characters (OCPP % IdToken), not %', longest,
                        CASE WHEN id_token_type IS NULL THEN '1.6' ELSE '2.1' END, quote_nullable(id_tag)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Stations write their tokens in forms of their own: taken as given.
    IF id_token_type IS NOT NULL AND id_tag !~ ocpp._id_token_format(id_token_type) THEN
        RAISE NOTICE '% is not in the usual form of an id token of type %: added as given',
                     quote_literal(id_tag), id_token_type
            USING HINT = 'an ISO14443 UID is 8, 14 or 20 hex digits, an ISO15693 UID 16, a MacAddress 12';
    END IF;
    IF length(parent_id_tag) > longest THEN
        RAISE EXCEPTION 'a parent (group) tag is 1 to % characters, not %', longest, quote_literal(parent_id_tag)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF status NOT IN ('Accepted', 'Blocked', 'Expired', 'Invalid') THEN
        RAISE EXCEPTION 'status must be Accepted, Blocked, Expired or Invalid, not %', quote_nullable(status)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE pgcsms.id_tags AS t
       SET status = add_id_tag.status, expires_at = add_id_tag.expires_at,
           parent_id_tag = add_id_tag.parent_id_tag, id_token_type = add_id_tag.id_token_type,
           description = coalesce(add_id_tag.description, t.description), updated_at = now()
     WHERE upper(t.id_tag) = upper(add_id_tag.id_tag);
    IF NOT FOUND THEN
        INSERT INTO pgcsms.id_tags (id_tag, status, expires_at, parent_id_tag, description, id_token_type)
        VALUES (add_id_tag.id_tag, add_id_tag.status, add_id_tag.expires_at, add_id_tag.parent_id_tag,
                add_id_tag.description, add_id_tag.id_token_type);
    END IF;
END
$$;
COMMENT ON FUNCTION ocpp.add_id_tag(text, text, timestamptz, text, text, text) IS
    'Adds an id tag (RFID card, key code, contract id...), or updates it: status Accepted | Blocked | Expired | Invalid, optional expiry and parent (group) tag. id_token_type: the OCPP 2.0.1 type it matches (ISO14443, ISO15693, eMAID, KeyCode, Local, MacAddress, Central; a token not in the usual form of that type is added with a notice), NULL for any type and OCPP 1.6 (then at most 20 characters, else 255: 2.0.1 stations present at most 36, 2.1 stations 255). Tags match case-insensitively.';
REVOKE ALL ON FUNCTION ocpp.add_id_tag(text, text, timestamptz, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.add_id_tag(text, text, timestamptz, text, text, text) TO pgcsms_operator;

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
COMMENT ON FUNCTION ocpp.remove_id_tag(text) IS 'Deletes an id tag; from then on it is answered Invalid (1.6) or Unknown (2.0.1). True if it existed.';
REVOKE ALL ON FUNCTION ocpp.remove_id_tag(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.remove_id_tag(text) TO pgcsms_operator;

-- The status of a token by itself, in no version's words: {status,
-- expires_at, group_id_token, group_id_token_type}; status Accepted, Blocked,
-- Expired, Invalid, ConcurrentTx or Unknown (no such tag). id_token_type NULL:
-- a 1.6 tag, which matches whatever type a tag has. The tags come first; the
-- form of a type only tells a token no tag knows (Invalid) from one that may
-- be someone's (Unknown). check_concurrent: a token already in an open
-- transaction on any charger, but own_transaction, is ConcurrentTx — asked
-- when a transaction starts, not when it stops (1.6; 2.0.1 by a setting).
CREATE OR REPLACE FUNCTION ocpp._token_status(
    id_token text, id_token_type text DEFAULT NULL, check_concurrent boolean DEFAULT true,
    own_transaction bigint DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    tag pgcsms.id_tags;
    status text;
BEGIN
    -- Nothing presented, the station does not authorize: nothing to refuse;
    -- a token under that type is no token at all.
    IF id_token_type = 'NoAuthorization' THEN
        RETURN jsonb_build_object('status', CASE WHEN id_token = '' THEN 'Accepted' ELSE 'Invalid' END);
    END IF;
    SELECT * INTO tag FROM pgcsms.id_tags AS t
     WHERE upper(t.id_tag) = upper(_token_status.id_token)
       AND (t.id_token_type IS NULL OR _token_status.id_token_type IS NULL
            OR t.id_token_type = _token_status.id_token_type);
    IF NOT FOUND THEN
        -- A key code that opens nothing is a wrong code (2.0.1 C04.FR.01); a
        -- token not in the form of its type is no one's.
        RETURN jsonb_build_object('status', CASE
            WHEN id_token_type = 'KeyCode' THEN 'Invalid'
            WHEN id_token_type IS NOT NULL AND NOT coalesce(id_token ~ ocpp._id_token_format(id_token_type), false)
                THEN 'Invalid'
            ELSE 'Unknown' END);
    END IF;
    status := tag.status;
    IF status = 'Accepted' AND tag.expires_at IS NOT NULL AND tag.expires_at <= now() THEN
        status := 'Expired';
    END IF;
    IF status = 'Accepted' AND check_concurrent AND EXISTS (
        SELECT FROM pgcsms.transactions AS tx
         WHERE upper(tx.id_tag) = upper(_token_status.id_token) AND tx.stopped_at IS NULL
           AND tx.id IS DISTINCT FROM own_transaction) THEN
        status := 'ConcurrentTx';
    END IF;
    RETURN jsonb_strip_nulls(jsonb_build_object(
        'status', status,
        'expires_at', ocpp._iso(tag.expires_at),
        'group_id_token', tag.parent_id_tag,
        'group_id_token_type', CASE WHEN tag.parent_id_tag IS NOT NULL THEN ocpp._id_token_type_for(tag.parent_id_tag) END));
END
$$;
COMMENT ON FUNCTION ocpp._token_status(text, text, boolean, bigint) IS
    'Who a token is, in no protocol''s words: {status, expires_at, group_id_token, group_id_token_type}. status Accepted, Blocked, Expired (status or expiry passed), Invalid (the tag says so; no tag and the token is not in its type''s usual form, see ocpp._id_token_format, or an unknown KeyCode), Unknown (no such tag; a typed tag matches only its type, a tag without type any), ConcurrentTx (already in an open transaction other than own_transaction, when check_concurrent). A NoAuthorization token is Accepted when empty, else Invalid. A tag is answered as the operator made it, whatever the form of the token.';

-- OCPP 1.6 idTagInfo for a tag: 1.6 knows no Unknown, and its fields are
-- CiString20.
CREATE OR REPLACE FUNCTION ocpp._id_tag_info_of(token jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'status', CASE token->>'status' WHEN 'Unknown' THEN 'Invalid' ELSE token->>'status' END,
        'expiryDate', token->>'expires_at',
        'parentIdTag', CASE WHEN length(token->>'group_id_token') <= 20 THEN token->>'group_id_token' END))
$$;
COMMENT ON FUNCTION ocpp._id_tag_info_of(jsonb) IS
    'The OCPP 1.6 idTagInfo of a token status (ocpp._token_status, ocpp._authorize_token): Unknown is Invalid; a group longer than 20 characters is left out.';

CREATE OR REPLACE FUNCTION ocpp._id_tag_info(id_tag text, check_concurrent boolean DEFAULT true)
RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT ocpp._id_tag_info_of(ocpp._token_status(id_tag, NULL, check_concurrent))
$$;
COMMENT ON FUNCTION ocpp._id_tag_info(text, boolean) IS
    'OCPP 1.6 idTagInfo for a tag: Accepted, Blocked, Expired (status or expiry passed), Invalid (unknown), ConcurrentTx (already in an open transaction, when check_concurrent). See ocpp._token_status.';
