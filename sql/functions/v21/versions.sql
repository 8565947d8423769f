-- OCPP 2.1 is 2.0.1 extended: wherever a rule or a payload is 2.0.1's, it is
-- 2.1's too. One test says which versions those are.
CREATE OR REPLACE FUNCTION ocpp._is_v2(ocpp_version text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT ocpp_version IN ('2.0.1', '2.1')
$$;
COMMENT ON FUNCTION ocpp._is_v2(text) IS
    'Whether an OCPP version is 2.0.1 or one built on it (2.1): the versions whose shared messages, payloads and rules are 2.0.1''s.';
