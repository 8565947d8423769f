-- Secrets that cross the wire in commands: the AuthorizationKey (Basic auth
-- password) set by ChangeConfiguration, and its value should a charger report
-- it in GetConfiguration. They never reach the journal, ocpp.commands or
-- ocpp.charger_configuration in clear.
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
        ELSE payload
    END
$$;
COMMENT ON FUNCTION ocpp._redact_secrets(text, jsonb) IS
    'A command payload (message = the action) or answer (message = action || ''Response'') with any AuthorizationKey value replaced by ********.';
REVOKE ALL ON FUNCTION ocpp._redact_secrets(text, jsonb) FROM PUBLIC;

-- A frame we could not parse is kept as text; a garbled GetConfiguration
-- answer or a ChangeConfiguration may still carry an AuthorizationKey in it.
CREATE OR REPLACE FUNCTION ocpp._redact_raw(raw text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN raw ILIKE '%authorizationkey%'
                THEN regexp_replace(raw, '("key"\s*:\s*"AuthorizationKey"[^}]*?"value"\s*:\s*")[^"]*', '\1********', 'gi')
                ELSE raw END
$$;
COMMENT ON FUNCTION ocpp._redact_raw(text) IS
    'An unparsed frame as journaled: the value of an AuthorizationKey entry in it replaced by ********.';
REVOKE ALL ON FUNCTION ocpp._redact_raw(text) FROM PUBLIC;
