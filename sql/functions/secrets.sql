-- Secrets that cross the wire in commands: a charger's new Basic auth
-- password (1.6 ChangeConfiguration of AuthorizationKey, 2.0.1 SetVariables
-- of SecurityCtrlr.BasicAuthPassword), its value should a charger report it
-- (1.6 GetConfiguration, 2.0.1 GetVariables), and the APN and VPN passwords of
-- a 2.0.1 SetNetworkProfile. They never reach the journal, ocpp.commands or a
-- view in clear: the command keeps them in its private secret_payload until
-- it is settled.

-- The 2.0.1 variable that holds a password (SecurityCtrlr.BasicAuthPassword,
-- WriteOnly); names are case-insensitive.
CREATE OR REPLACE FUNCTION ocpp._is_secret_variable(variable text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(upper(variable) = 'BASICAUTHPASSWORD', false)
$$;
COMMENT ON FUNCTION ocpp._is_secret_variable(text) IS
    'Whether an OCPP 2.0.1 variable holds a secret (BasicAuthPassword): its value is never stored nor shown.';
REVOKE ALL ON FUNCTION ocpp._is_secret_variable(text) FROM PUBLIC;

-- The new Basic auth password a command gives the charger, whatever its
-- version: the one rule ocpp.send checks (before the charger takes it) and the
-- answered command applies (ocpp._take_new_password).
CREATE OR REPLACE FUNCTION ocpp._new_password(action text, payload jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE action
        WHEN 'ChangeConfiguration' THEN
            CASE WHEN upper(payload->>'key') = 'AUTHORIZATIONKEY' THEN payload->>'value' END
        WHEN 'SetVariables' THEN
            (SELECT e->>'attributeValue'
               FROM jsonb_array_elements(CASE WHEN jsonb_typeof(payload->'setVariableData') = 'array'
                                              THEN payload->'setVariableData' ELSE '[]' END) WITH ORDINALITY AS x(e, n)
              WHERE ocpp._is_secret_variable(e->'variable'->>'name') AND coalesce(e->>'attributeType', 'Actual') = 'Actual'
              ORDER BY n DESC LIMIT 1)
    END
$$;
COMMENT ON FUNCTION ocpp._new_password(text, jsonb) IS
    'The new Basic auth password in a command payload, NULL if none: 1.6 ChangeConfiguration of AuthorizationKey, 2.0.1 SetVariables of BasicAuthPassword (its Actual attribute).';
REVOKE ALL ON FUNCTION ocpp._new_password(text, jsonb) FROM PUBLIC;

CREATE OR REPLACE FUNCTION ocpp._redact_secrets(message text, payload jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN payload IS NULL THEN NULL
        WHEN message = 'ChangeConfiguration' AND upper(payload->>'key') = 'AUTHORIZATIONKEY' AND payload ? 'value'
            THEN jsonb_set(payload, '{value}', '"********"')
        -- NULL: an answer we cannot tie to its command (late, unknown): redact as if it were one.
        WHEN (message = 'GetConfigurationResponse' OR message IS NULL)
             AND jsonb_typeof(payload->'configurationKey') = 'array'
             AND EXISTS (SELECT FROM jsonb_array_elements(payload->'configurationKey') AS e
                          WHERE upper(e->>'key') = 'AUTHORIZATIONKEY' AND e ? 'value')
            THEN jsonb_set(payload, '{configurationKey}', (
                SELECT jsonb_agg(CASE WHEN upper(e->>'key') = 'AUTHORIZATIONKEY' AND e ? 'value'
                                      THEN jsonb_set(e, '{value}', '"********"') ELSE e END ORDER BY n)
                  FROM jsonb_array_elements(payload->'configurationKey') WITH ORDINALITY AS a(e, n)))
        -- 2.0.1: a SetVariables that sets BasicAuthPassword, a GetVariables answer that shows it.
        WHEN message IN ('SetVariables', 'GetVariablesResponse') OR message IS NULL THEN
            coalesce((SELECT jsonb_set(payload, ARRAY[l.list], (
                        SELECT jsonb_agg(CASE WHEN ocpp._is_secret_variable(e->'variable'->>'name') AND e ? l.field
                                              THEN jsonb_set(e, ARRAY[l.field], '"********"') ELSE e END ORDER BY n)
                          FROM jsonb_array_elements(payload->l.list) WITH ORDINALITY AS a(e, n)))
                        FROM (VALUES ('setVariableData', 'attributeValue'),
                                     ('getVariableResult', 'attributeValue')) AS l(list, field)
                       WHERE jsonb_typeof(payload->l.list) = 'array'
                         AND EXISTS (SELECT FROM jsonb_array_elements(payload->l.list) AS e
                                      WHERE ocpp._is_secret_variable(e->'variable'->>'name') AND e ? l.field)
                       LIMIT 1),
                     payload)
        WHEN message = 'SetNetworkProfile' AND (payload #> '{connectionData,apn}' ? 'apnPassword'
                                                OR payload #> '{connectionData,vpn}' ? 'password'
                                                OR payload #> '{connectionData,vpn}' ? 'key') THEN
            payload || jsonb_build_object('connectionData', payload->'connectionData'
                || CASE WHEN payload #> '{connectionData,apn}' ? 'apnPassword'
                        THEN jsonb_build_object('apn', payload #> '{connectionData,apn}' || '{"apnPassword": "********"}')
                        ELSE '{}' END
                || CASE WHEN payload #> '{connectionData,vpn}' ?| ARRAY['password', 'key']
                        THEN jsonb_build_object('vpn', payload #> '{connectionData,vpn}'
                             || CASE WHEN payload #> '{connectionData,vpn}' ? 'password' THEN '{"password": "********"}'::jsonb ELSE '{}' END
                             || CASE WHEN payload #> '{connectionData,vpn}' ? 'key' THEN '{"key": "********"}'::jsonb ELSE '{}' END)
                        ELSE '{}' END)
        ELSE payload
    END
$$;
COMMENT ON FUNCTION ocpp._redact_secrets(text, jsonb) IS
    'A command payload (message = the action) or answer (message = action || ''Response'') with its secrets replaced by ********: an AuthorizationKey value (1.6 ChangeConfiguration, GetConfiguration answers), a BasicAuthPassword value (2.0.1 SetVariables, GetVariables answers), the APN and VPN passwords and VPN key of a SetNetworkProfile.';
REVOKE ALL ON FUNCTION ocpp._redact_secrets(text, jsonb) FROM PUBLIC;

-- A frame we could not parse is kept as text; a garbled GetConfiguration or
-- GetVariables answer, a ChangeConfiguration or a SetVariables may still
-- carry a password in it.
CREATE OR REPLACE FUNCTION ocpp._redact_raw(raw text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN raw ILIKE '%authorizationkey%'
            THEN regexp_replace(raw, '("key"\s*:\s*"AuthorizationKey"[^}]*?"value"\s*:\s*")[^"]*', '\1********', 'gi')
        -- Which value is the password cannot be told in a broken frame: every value goes.
        WHEN raw ILIKE '%basicauthpassword%'
            THEN regexp_replace(raw, '("(attributeValue|value)"\s*:\s*")(\\.|[^"\\])*', '\1********', 'gi')
        ELSE raw
    END
$$;
COMMENT ON FUNCTION ocpp._redact_raw(text) IS
    'An unparsed frame as journaled: the value of an AuthorizationKey entry in it replaced by ********; in one that names BasicAuthPassword, every attributeValue and value.';
REVOKE ALL ON FUNCTION ocpp._redact_raw(text) FROM PUBLIC;

-- A new password reaches the charger in the command's private copy
-- (secret_payload, cleared once settled) and becomes its password only once
-- it took it: an answered Accepted (or RebootRequired) command calls this;
-- any other answer leaves the old password in force.
CREATE OR REPLACE FUNCTION ocpp._take_new_password(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    password text := ocpp._new_password(c.action, c.secret_payload);
BEGIN
    IF password IS NOT NULL THEN
        PERFORM ocpp._rotate_password(c.charge_point_id, password);
    END IF;
END
$$;
COMMENT ON FUNCTION ocpp._take_new_password(pgcsms.commands) IS
    'The charger took the new password of this command (1.6 ChangeConfiguration AuthorizationKey, 2.0.1 SetVariables BasicAuthPassword): it becomes its password, the previous credentials staying valid until the charger uses the new one (ocpp._rotate_password). Called by the effects when the answer accepted it.';
REVOKE ALL ON FUNCTION ocpp._take_new_password(pgcsms.commands) FROM PUBLIC;
