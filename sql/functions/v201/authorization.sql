-- OCPP 2.0.1 Authorize (C01): the rule is 1.6's (ocpp._authorize_token,
-- ocpp._reserved_for_other); only the words of the answer are 2.0.1's, and it
-- is never ConcurrentTx: a 2.0.1 station also asks for the token that is to
-- stop (C01, E06), and one token may charge on several EVSEs (TC_C_48).

-- idTokenInfo of a token status (ocpp._token_status, ocpp._authorize_token):
-- the group as an IdToken of its own type; cacheExpiryDateTime, the token's
-- expiry, bounds how long the station may cache it.
CREATE OR REPLACE FUNCTION ocpp._v201_id_token_info(token jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'status', token->>'status',
        'cacheExpiryDateTime', token->>'expires_at',
        'groupIdToken', CASE WHEN length(token->>'group_id_token') <= 36 THEN
            jsonb_build_object('idToken', token->>'group_id_token', 'type', token->>'group_id_token_type') END))
$$;
COMMENT ON FUNCTION ocpp._v201_id_token_info(jsonb) IS
    'The OCPP 2.0.1 idTokenInfo of a token status: status, cacheExpiryDateTime (the tag''s expiry), groupIdToken (its parent tag, with that tag''s type; left out past 36 characters).';

CREATE OR REPLACE FUNCTION ocpp.v201_authorize(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    token text := payload->'idToken'->>'idToken';
    token_type text := payload->'idToken'->>'type';
    info jsonb := ocpp._authorize_token(charge_point_id, token, token_type, check_concurrent => false);
BEGIN
    -- Every EVSE reserved for other tokens (ocpp._reserved_for_other).
    IF info->>'status' = 'Accepted' AND ocpp._reserved_for_other(charge_point_id, NULL, token) THEN
        info := jsonb_build_object('status', 'Invalid');
    END IF;
    -- Plug & Charge: the contract certificate, or its OCSP data, for whoever
    -- validates it; no certificateStatus is answered.
    IF payload ? 'certificate' OR payload ? 'iso15118CertificateHashData' THEN
        INSERT INTO pgcsms.contract_certificates
            (charge_point_id, unique_id, id_token, id_token_type, certificate, ocsp_request_data)
        VALUES (charge_point_id, unique_id, token, token_type, payload->>'certificate',
                payload->'iso15118CertificateHashData');
    END IF;
    RETURN jsonb_build_object('idTokenInfo', ocpp._v201_id_token_info(info));
END
$$;
COMMENT ON FUNCTION ocpp.v201_authorize(text, text, jsonb) IS
    'OCPP 2.0.1 Authorize: idTokenInfo for the idToken by the same rule as 1.6 (ocpp._authorize_token: Unknown for a token no tag knows, Invalid for one not in its type''s form that no tag knows, groupIdToken from the tag''s parent) but never ConcurrentTx, Invalid when every EVSE is reserved for other tokens. A contract certificate or its hash data is kept in ocpp.contract_certificates.';
