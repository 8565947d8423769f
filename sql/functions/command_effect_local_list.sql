-- SendLocalList and GetLocalListVersion: ocpp.local_lists, ocpp.local_list_entries.
CREATE OR REPLACE FUNCTION ocpp._effect_send_local_list(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    entries jsonb := ocpp._array(c.payload->'localAuthorizationList');
BEGIN
    IF c.status <> 'accepted' THEN
        RETURN;
    END IF;
    INSERT INTO pgcsms.local_lists AS ll (charge_point_id, list_version, command_id)
    VALUES (c.charge_point_id, (c.payload->>'listVersion')::integer, c.id)
    ON CONFLICT (charge_point_id) DO UPDATE
       SET list_version = excluded.list_version, command_id = excluded.command_id, updated_at = now();
    IF c.payload->>'updateType' = 'Full' THEN
        DELETE FROM pgcsms.local_list_entries AS e WHERE e.charge_point_id = c.charge_point_id;
    ELSE
        -- Differential: an entry without idTagInfo removes the tag.
        DELETE FROM pgcsms.local_list_entries AS e
         WHERE e.charge_point_id = c.charge_point_id
           AND upper(e.id_tag) IN (SELECT upper(x->>'idTag') FROM jsonb_array_elements(entries) AS x
                                    WHERE NOT x ? 'idTagInfo');
    END IF;
    INSERT INTO pgcsms.local_list_entries AS e (charge_point_id, id_tag, id_tag_info, command_id)
    SELECT DISTINCT ON (upper(x->>'idTag')) c.charge_point_id, x->>'idTag', x->'idTagInfo', c.id
      FROM jsonb_array_elements(entries) AS x
     WHERE x ? 'idTagInfo' AND x->>'idTag' IS NOT NULL
    ON CONFLICT (charge_point_id, upper(id_tag)) DO UPDATE
       SET id_tag = excluded.id_tag, id_tag_info = excluded.id_tag_info, command_id = excluded.command_id,
           updated_at = now();
END
$$;
COMMENT ON FUNCTION ocpp._effect_send_local_list(pgcsms.commands) IS
    'SendLocalList Accepted: the charger''s list version, and its entries (Full replaces them all; Differential adds, updates, and removes the tags sent without idTagInfo).';

CREATE OR REPLACE FUNCTION ocpp._effect_get_local_list_version(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    version integer := (c.response->>'listVersion')::integer;
BEGIN
    IF c.status <> 'completed' OR version IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO pgcsms.local_lists AS ll (charge_point_id, list_version, command_id)
    VALUES (c.charge_point_id, version, c.id)
    ON CONFLICT (charge_point_id) DO UPDATE
       SET list_version = excluded.list_version, command_id = excluded.command_id, updated_at = now();
    -- 0: the list is empty; -1: the charger has none.
    IF version <= 0 THEN
        DELETE FROM pgcsms.local_list_entries AS e WHERE e.charge_point_id = c.charge_point_id;
    END IF;
END
$$;
COMMENT ON FUNCTION ocpp._effect_get_local_list_version(pgcsms.commands) IS
    'GetLocalListVersion answered: the charger''s list version; 0 (empty) or -1 (no local list) also empties ocpp.local_list_entries.';
