-- GetConfiguration and ChangeConfiguration: ocpp.charger_configuration.
CREATE OR REPLACE FUNCTION ocpp._effect_get_configuration(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    reported jsonb := ocpp._array(c.response->'configurationKey');
BEGIN
    IF c.status <> 'completed' THEN
        RETURN;
    END IF;
    -- Asked for every key: a known key missing from the answer is gone.
    IF jsonb_array_length(ocpp._array(c.payload->'key')) = 0 THEN
        DELETE FROM pgcsms.charger_configuration AS cc
         WHERE cc.charge_point_id = c.charge_point_id AND NOT cc.unknown
           AND upper(cc.key) NOT IN (SELECT upper(e->>'key') FROM jsonb_array_elements(reported) AS e
                                      WHERE e->>'key' IS NOT NULL);
    END IF;
    INSERT INTO pgcsms.charger_configuration AS cc (charge_point_id, key, value, readonly, unknown, command_id)
    SELECT DISTINCT ON (upper(e->>'key')) c.charge_point_id, e->>'key', e->>'value', (e->>'readonly')::boolean, false, c.id
      FROM jsonb_array_elements(reported) AS e
     WHERE e->>'key' IS NOT NULL
    ON CONFLICT (charge_point_id, upper(key)) DO UPDATE
       SET key = excluded.key, value = excluded.value, readonly = excluded.readonly, unknown = false,
           command_id = excluded.command_id, updated_at = now();
    INSERT INTO pgcsms.charger_configuration AS cc (charge_point_id, key, unknown, command_id)
    SELECT DISTINCT ON (upper(k)) c.charge_point_id, k, true, c.id
      FROM jsonb_array_elements_text(ocpp._array(c.response->'unknownKey')) AS k
    ON CONFLICT (charge_point_id, upper(key)) DO UPDATE
       SET value = NULL, readonly = NULL, unknown = true, reboot_required_since = NULL,
           command_id = excluded.command_id, updated_at = now();
END
$$;
COMMENT ON FUNCTION ocpp._effect_get_configuration(pgcsms.commands) IS
    'GetConfiguration answered: each configurationKey stored with value and readonly, each unknownKey marked unknown; when every key was asked for, known keys missing from the answer are removed.';

CREATE OR REPLACE FUNCTION ocpp._effect_change_configuration(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF c.status <> 'accepted' THEN
        RETURN;
    END IF;
    -- The charger took a new AuthorizationKey: from now on it authenticates with it.
    PERFORM ocpp._take_new_password(c);
    INSERT INTO pgcsms.charger_configuration AS cc
        (charge_point_id, key, value, readonly, unknown, reboot_required_since, command_id)
    VALUES (c.charge_point_id, c.payload->>'key', c.payload->>'value', false, false,
            CASE WHEN c.response->>'status' = 'RebootRequired' THEN now() END, c.id)
    ON CONFLICT (charge_point_id, upper(key)) DO UPDATE
       SET value = excluded.value, readonly = coalesce(cc.readonly, false), unknown = false,
           reboot_required_since = coalesce(excluded.reboot_required_since, cc.reboot_required_since),
           command_id = excluded.command_id, updated_at = now();
END
$$;
COMMENT ON FUNCTION ocpp._effect_change_configuration(pgcsms.commands) IS
    'ChangeConfiguration Accepted or RebootRequired: the key''s stored value changes; RebootRequired is remembered until the charger boots again.';
