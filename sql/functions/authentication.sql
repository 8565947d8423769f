-- Charger authentication at the WebSocket handshake, per the security profile
-- of each charge point (OCPP 1.6 Security Whitepaper, edition 2):
--   0  no authentication (plain OCPP-J 1.6)
--   1  HTTP Basic auth: username = charge point identity, password = its AuthorizationKey
--   2  TLS + HTTP Basic auth; a plain ws connection is refused (no downgrade)
--   3  TLS with a client certificate whose subject CN is the identity
-- Passwords are stored as bcrypt hashes (pgcrypto) and never logged. The work
-- factor is bcrypt's least, 4 (about 1 ms here; cost 10 took 54 ms): a
-- charger key is at least 16 characters and should be random (openssl rand
-- -hex 20: 160 bits), which no work factor makes guessable or safer, while a
-- fleet reconnecting at once pays the factor once per charger (10,000
-- chargers: 10 s of database CPU instead of 9 minutes). Hashes made with
-- another factor keep theirs (crypt reads it from the hash).
--
-- AuthorizationKey (1.6 whitepaper): "Minimal 16-bytes long", "Hexadecimal
-- represented (20 bytes maximum, represented as a string of up to 40
-- hexadecimal digits)"; OCPP 2.0.1 BasicAuthPassword: 16 to 40..64
-- characters. We accept 16 characters up to 72 bytes (bcrypt reads no
-- further). A password of hexadecimal digits only is a key written in hex and
-- compares case-insensitively. A charger that sends the key's raw octets
-- (not printable UTF-8) reaches us with the proxy passing those octets in hex.
--
-- Answers: 404 unknown identity (OCPP-J 1.6 §3.1.1), 401 wrong or missing
-- password, 403 for the wrong transport or certificate (credentials would not
-- help, so no Basic challenge). The charger gets the status alone; reason is
-- for the operator's log. A missing and a wrong password look the same. An
-- unknown identity is answered without a dummy bcrypt round: its 404 already
-- says it is unknown, and a dummy hash would let anyone burn database CPU.

-- The form a password is hashed and compared in: hex keys in upper case.
CREATE OR REPLACE FUNCTION ocpp._password_form(password text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN password ~ '^[0-9A-Fa-f]+$' THEN upper(password) ELSE password END
$$;
COMMENT ON FUNCTION ocpp._password_form(text) IS
    'A password as it is hashed and compared: one of hexadecimal digits only (an OCPP 1.6 AuthorizationKey in hex) in upper case, any other as given.';
REVOKE ALL ON FUNCTION ocpp._password_form(text) FROM PUBLIC;

-- What a charge point password must be; shared by set_password and by the
-- AuthorizationKey a ChangeConfiguration would send (a key the charger takes
-- and we could not store would lock it out). Never quote the password in a
-- message: messages end up in logs.
CREATE OR REPLACE FUNCTION ocpp._check_password(password text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF password IS NOT NULL THEN
        IF length(password) < 16 THEN
            RAISE EXCEPTION 'a charge point password is at least 16 characters, this one has %', length(password)
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'OCPP 1.6 Security Whitepaper: an AuthorizationKey is at least 16 bytes; openssl rand -hex 20 makes a good one';
        END IF;
        IF octet_length(password) > 72 THEN
            RAISE EXCEPTION 'a charge point password is at most 72 bytes (bcrypt reads no further), this one has %',
                octet_length(password) USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF password ~ '[[:cntrl:]]' THEN
            RAISE EXCEPTION 'a charge point password has no control characters'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION ocpp._check_password(text) IS
    'Raises invalid_parameter_value unless a charge point password is 16 characters to 72 bytes without control characters (NULL passes).';
REVOKE ALL ON FUNCTION ocpp._check_password(text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION ocpp._password_hash(password text)
RETURNS text
LANGUAGE sql VOLATILE
AS $$
    SELECT pgcsms.crypt(ocpp._password_form(password), pgcsms.gen_salt('bf', 4))
$$;
COMMENT ON FUNCTION ocpp._password_hash(text) IS
    'A new bcrypt hash (work factor 4: see sql/functions/authentication.sql) of a charge point password in its compared form.';
REVOKE ALL ON FUNCTION ocpp._password_hash(text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION ocpp.set_password(charge_point_id text, password text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    profile smallint;
BEGIN
    PERFORM ocpp._check_password(password);
    SELECT cp.security_profile INTO profile FROM pgcsms.charge_points AS cp
     WHERE cp.id = set_password.charge_point_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no charge point %', quote_nullable(charge_point_id)
            USING ERRCODE = 'no_data_found', HINT = 'register it first: SELECT ocpp.add_charge_point(id)';
    END IF;
    IF password IS NULL AND profile IN (1, 2) THEN
        RAISE EXCEPTION 'charge point % uses security profile %, which needs its password', quote_literal(charge_point_id), profile
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'to switch authentication off: SELECT ocpp.set_security_profile(id, 0), which also clears the password';
    END IF;
    UPDATE pgcsms.charge_points AS cp
       SET password_hash = CASE WHEN password IS NOT NULL
                                THEN ocpp._password_hash(password) END,
           security_profile = CASE WHEN password IS NOT NULL THEN greatest(cp.security_profile, 1)
                                   ELSE cp.security_profile END,
           previous_security_profile = NULL, previous_password_hash = NULL,
           updated_at = now()
     WHERE cp.id = set_password.charge_point_id;
END
$$;
COMMENT ON FUNCTION ocpp.set_password(text, text) IS
    'Sets the HTTP Basic auth password (OCPP AuthorizationKey) of a charge point: 16 characters to 72 bytes, stored as a bcrypt hash; hexadecimal keys compare case-insensitively. Raises the security profile to 1 (Basic auth) if it was 0, so from then on the charger must authenticate. NULL clears the password, allowed at profile 0 or 3 only (ocpp.set_security_profile(id, 0) switches authentication off). The charger is taken to know this password already: earlier credentials stop working at once (a password sent by command keeps the old one until the charger uses the new: ocpp._rotate_password).';

-- A station that accepted a network profile of a higher security profile
-- (2.0.1 A05: SetNetworkProfile, then it reconnects with it): the higher
-- profile is its profile, the current one stays valid until it has connected
-- with the new one, then it is refused (no downgrade).
CREATE OR REPLACE FUNCTION ocpp._upgrade_security_profile(charge_point_id text, profile integer)
RETURNS void
LANGUAGE sql
AS $$
    UPDATE pgcsms.charge_points AS cp
       SET previous_security_profile = coalesce(cp.previous_security_profile, cp.security_profile),
           previous_password_hash = coalesce(cp.previous_password_hash, cp.password_hash),
           security_profile = _upgrade_security_profile.profile,
           updated_at = now()
     WHERE cp.id = _upgrade_security_profile.charge_point_id
       AND _upgrade_security_profile.profile > cp.security_profile
       AND (_upgrade_security_profile.profile = 3 OR cp.password_hash IS NOT NULL)
$$;
COMMENT ON FUNCTION ocpp._upgrade_security_profile(text, integer) IS
    'Raises a charger''s security profile as an upgrade it makes at its next connection (2.0.1 A05): its current credentials stay valid until it has authenticated under the new profile. Profiles 1 and 2 need its password; a lower or equal profile changes nothing.';
REVOKE ALL ON FUNCTION ocpp._upgrade_security_profile(text, integer) FROM PUBLIC;

-- A password the charger accepted by command (1.6 ChangeConfiguration
-- AuthorizationKey, 2.0.1 SetVariables BasicAuthPassword): it may only use it
-- after its next reboot, so the credentials it had stay valid until it
-- authenticates with the new one (ocpp.authenticate then retires them).
CREATE OR REPLACE FUNCTION ocpp._rotate_password(charge_point_id text, password text)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM ocpp._check_password(password);
    UPDATE pgcsms.charge_points AS cp
       SET previous_security_profile = coalesce(cp.previous_security_profile, cp.security_profile),
           previous_password_hash = coalesce(cp.previous_password_hash, cp.password_hash),
           password_hash = ocpp._password_hash(password),
           security_profile = greatest(cp.security_profile, 1),
           updated_at = now()
     WHERE cp.id = _rotate_password.charge_point_id;
END
$$;
COMMENT ON FUNCTION ocpp._rotate_password(text, text) IS
    'Makes a password the charger accepted by command its password, keeping its previous credentials (profile and password) valid until it has authenticated with the new one.';
REVOKE ALL ON FUNCTION ocpp._rotate_password(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION ocpp.set_password(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.set_password(text, text) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.set_security_profile(charge_point_id text, profile integer)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    has_password boolean;
BEGIN
    IF profile IS NULL OR profile NOT BETWEEN 0 AND 3 THEN
        RAISE EXCEPTION 'a security profile is 0 (none), 1 (Basic auth), 2 (TLS + Basic auth) or 3 (TLS client certificate), not %',
            quote_nullable(profile) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT cp.password_hash IS NOT NULL INTO has_password FROM pgcsms.charge_points AS cp
     WHERE cp.id = set_security_profile.charge_point_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no charge point %', quote_nullable(charge_point_id)
            USING ERRCODE = 'no_data_found', HINT = 'register it first: SELECT ocpp.add_charge_point(id)';
    END IF;
    IF profile IN (1, 2) AND NOT has_password THEN
        RAISE EXCEPTION 'security profile % needs a password and charge point % has none', profile, quote_literal(charge_point_id)
            USING ERRCODE = 'invalid_parameter_value', HINT = 'SELECT ocpp.set_password(id, password) first';
    END IF;
    -- The operator's word applies at once (an upgrade the station makes by
    -- itself after SetNetworkProfile: ocpp._upgrade_security_profile).
    UPDATE pgcsms.charge_points AS cp
       SET security_profile = set_security_profile.profile,
           password_hash = CASE WHEN set_security_profile.profile = 0 THEN NULL ELSE cp.password_hash END,
           previous_security_profile = NULL, previous_password_hash = NULL,
           updated_at = now()
     WHERE cp.id = set_security_profile.charge_point_id;
END
$$;
COMMENT ON FUNCTION ocpp.set_security_profile(text, integer) IS
    'Sets how a charge point must authenticate: 0 not at all (clears its password), 1 HTTP Basic auth, 2 TLS + Basic auth (plain ws refused), 3 TLS with a client certificate whose CN is the identity. Profiles 1 and 2 need a password set first (ocpp.set_password). It applies at once, to the next handshake.';
REVOKE ALL ON FUNCTION ocpp.set_security_profile(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.set_security_profile(text, integer) TO pgcsms_operator;

-- A handshake the proxy refused on its own (malformed Authorization header,
-- Basic username other than the identity): recorded like authenticate's.
CREATE OR REPLACE FUNCTION ocpp.log_auth_failure(
    charge_point_id text, transport text, remote_address text, client_cn text, http_status integer, reason text)
RETURNS void
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO pgcsms.auth_failures (charge_point_id, transport, remote_address, client_cn, http_status, reason)
    VALUES (left(coalesce($1, ''), 100), left($2, 8), left($3, 255), left($4, 255), coalesce($5, 400),
            left(coalesce($6, 'refused'), 500))
$$;
COMMENT ON FUNCTION ocpp.log_auth_failure(text, text, text, text, integer, text) IS
    'Called by the proxy for a handshake it refused before asking ocpp.authenticate (e.g. a malformed Authorization header, or a Basic username that is not the identity): recorded in ocpp.auth_failures. Never pass a password or an Authorization header in reason.';
REVOKE ALL ON FUNCTION ocpp.log_auth_failure(text, text, text, text, integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.log_auth_failure(text, text, text, text, integer, text) TO pgcsms_proxy;

-- One refused handshake: recorded, and the row authenticate returns.
CREATE OR REPLACE FUNCTION ocpp._auth_failure(
    charge_point_id text, transport text, remote_address text, client_cn text, status integer, why text)
RETURNS TABLE (allowed boolean, http_status integer, reason text)
LANGUAGE sql
AS $$
    SELECT ocpp.log_auth_failure($1, $2, $3, $4, $5, $6);
    SELECT false, $5, $6;
$$;
COMMENT ON FUNCTION ocpp._auth_failure(text, text, text, text, integer, text) IS
    'Records a refused handshake (ocpp.log_auth_failure) and returns the refusal for ocpp.authenticate.';
REVOKE ALL ON FUNCTION ocpp._auth_failure(text, text, text, text, integer, text) FROM PUBLIC;

-- The rule of one security profile: may this handshake authenticate with
-- these credentials? Shared by a charger's current and previous credentials.
CREATE OR REPLACE FUNCTION ocpp._check_credentials(
    profile smallint, stored_hash text, charge_point_id text, password text, transport text, client_cn text,
    OUT allowed boolean, OUT http_status integer, OUT reason text)
LANGUAGE plpgsql
AS $$
BEGIN
    allowed := false;
    IF profile = 0 THEN
        allowed := true;
        reason := 'security profile 0: no authentication';
    -- Profiles 2 and 3 never fall back to plain ws; a password sent over it
    -- is not even checked (ws must not become a way to guess it).
    ELSIF profile >= 2 AND transport <> 'wss' THEN
        http_status := 403;
        reason := format('security profile %s needs TLS: plain ws refused%s', profile,
                         CASE WHEN password IS NOT NULL THEN ' (its password was sent in clear: consider changing it)'
                              ELSE '' END);
    ELSIF profile = 3 THEN
        IF client_cn IS NULL THEN
            http_status := 403;
            reason := 'security profile 3: no client certificate';
        ELSIF client_cn IS DISTINCT FROM charge_point_id THEN
            http_status := 403;
            reason := 'security profile 3: client certificate CN is another identity';
        ELSE
            allowed := true;
            reason := 'security profile 3: client certificate accepted';
        END IF;
    -- Profiles 1 and 2: HTTP Basic auth.
    ELSIF password IS NULL THEN
        http_status := 401;
        reason := format('security profile %s: no password given', profile);
    ELSIF stored_hash IS NULL OR octet_length(password) > 72
          OR pgcsms.crypt(ocpp._password_form(password), stored_hash) IS DISTINCT FROM stored_hash THEN
        http_status := 401;
        reason := format('security profile %s: wrong password', profile);
    ELSE
        allowed := true;
        reason := format('security profile %s: password accepted', profile);
    END IF;
END
$$;
COMMENT ON FUNCTION ocpp._check_credentials(smallint, text, text, text, text, text) IS
    'Whether a handshake meets one security profile with these stored credentials; when not, the HTTP status (401 password, 403 transport or certificate) and the reason for the log.';
REVOKE ALL ON FUNCTION ocpp._check_credentials(smallint, text, text, text, text, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION ocpp.authenticate(
    charge_point_id text,
    password text,
    transport text,
    client_cn text,
    remote_address text DEFAULT NULL)
RETURNS TABLE (allowed boolean, http_status integer, reason text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    identity text := left(charge_point_id, 100);
    profile smallint;
    stored_hash text;
    previous_profile smallint;
    previous_hash text;
    verdict record;
    previous record;
BEGIN
    IF transport IS NULL OR transport NOT IN ('ws', 'wss') THEN
        RAISE EXCEPTION 'transport is ws or wss, not %', quote_nullable(transport)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- No charge point can have such an identity (the proxy refuses these first).
    IF charge_point_id IS NULL OR charge_point_id = '' OR length(charge_point_id) > 48
       OR charge_point_id ~ '[[:cntrl:]]' THEN
        RETURN QUERY SELECT * FROM ocpp._auth_failure(coalesce(identity, ''), transport, remote_address, client_cn,
                                                      404, 'not a charge point identity');
        RETURN;
    END IF;

    SELECT cp.security_profile, cp.password_hash, cp.previous_security_profile, cp.previous_password_hash
      INTO profile, stored_hash, previous_profile, previous_hash
      FROM pgcsms.charge_points AS cp WHERE cp.id = authenticate.charge_point_id;
    IF NOT FOUND THEN
        -- The unknown_charge_points policy: a charger it registers starts at profile 0.
        IF ocpp._registration(charge_point_id) IS NULL THEN
            RETURN QUERY SELECT * FROM ocpp._auth_failure(identity, transport, remote_address, client_cn,
                                                          404, 'unknown charge point (unknown_charge_points = reject)');
            RETURN;
        END IF;
        SELECT cp.security_profile, cp.password_hash INTO profile, stored_hash
          FROM pgcsms.charge_points AS cp WHERE cp.id = authenticate.charge_point_id;
    END IF;

    SELECT * INTO verdict FROM ocpp._check_credentials(profile, stored_hash, charge_point_id, password, transport, client_cn);
    IF previous_profile IS NOT NULL THEN
        IF verdict.allowed THEN
            -- The charger uses its new credentials: the previous ones are retired.
            UPDATE pgcsms.charge_points AS cp
               SET previous_security_profile = NULL, previous_password_hash = NULL, updated_at = now()
             WHERE cp.id = authenticate.charge_point_id;
        ELSE
            SELECT * INTO previous FROM ocpp._check_credentials(previous_profile, previous_hash, charge_point_id,
                                                                password, transport, client_cn);
            IF previous.allowed THEN
                RETURN QUERY SELECT true, NULL::integer,
                    previous.reason || ' (previous credentials, valid until the charger uses its new ones)';
                RETURN;
            END IF;
        END IF;
    END IF;
    IF verdict.allowed THEN
        RETURN QUERY SELECT true, NULL::integer, verdict.reason;
    ELSE
        RETURN QUERY SELECT * FROM ocpp._auth_failure(identity, transport, remote_address, client_cn,
                                                      verdict.http_status, verdict.reason);
    END IF;
END
$$;
COMMENT ON FUNCTION ocpp.authenticate(text, text, text, text, text) IS
    'Called by the proxy at each WebSocket handshake, before it opens: may this connection be this charge point? charge_point_id from the URL, password from HTTP Basic auth (NULL if none; raw octets that are not printable UTF-8 passed in hex), transport ws | wss, client_cn the subject CN of the verified client certificate (NULL if none). Applies the unknown_charge_points policy, then the charger''s security profile. Returns allowed, and when refused the HTTP status to answer: 404 unknown charge point, 401 wrong or missing password (profiles 1, 2), 403 plain ws for profile 2 or 3, or missing/other client certificate (profile 3). reason is for logs only: send the charger the status alone. Refusals are recorded in ocpp.auth_failures, never the password. While a charger has previous credentials (a password sent by command, a raised security profile), they are accepted too, until it authenticates with its current ones.';
REVOKE ALL ON FUNCTION ocpp.authenticate(text, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.authenticate(text, text, text, text, text) TO pgcsms_proxy;
