-- SendLocalList and GetLocalListVersion, in both versions:
-- ocpp.local_lists, ocpp.local_list_entries. Each version's effect reads its
-- own payload into the same entries: {id_tag, id_token_type, info}, without
-- info for a removal.
CREATE OR REPLACE FUNCTION ocpp._apply_local_list(
    station text, command bigint, version integer, update_type text, entries jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO pgcsms.local_lists AS ll (charge_point_id, list_version, command_id)
    VALUES (station, version, command)
    ON CONFLICT (charge_point_id) DO UPDATE
       SET list_version = excluded.list_version, command_id = excluded.command_id, updated_at = now();
    IF update_type = 'Full' THEN
        DELETE FROM pgcsms.local_list_entries AS e WHERE e.charge_point_id = station;
    ELSE
        -- Differential: an entry without its info removes the tag.
        DELETE FROM pgcsms.local_list_entries AS e
         WHERE e.charge_point_id = station
           AND upper(e.id_tag) IN (SELECT upper(x->>'id_tag') FROM jsonb_array_elements(entries) AS x
                                    WHERE NOT x ? 'info');
    END IF;
    INSERT INTO pgcsms.local_list_entries AS e (charge_point_id, id_tag, id_token_type, id_tag_info, command_id)
    SELECT DISTINCT ON (upper(x->>'id_tag')) station, x->>'id_tag', x->>'id_token_type',
           x->'info', command
      FROM jsonb_array_elements(entries) AS x
     WHERE x ? 'info' AND x->>'id_tag' IS NOT NULL
    ON CONFLICT (charge_point_id, upper(id_tag)) DO UPDATE
       SET id_tag = excluded.id_tag, id_token_type = excluded.id_token_type, id_tag_info = excluded.id_tag_info,
           command_id = excluded.command_id, updated_at = now();
END
$$;
COMMENT ON FUNCTION ocpp._apply_local_list(text, bigint, integer, text, jsonb) IS
    'A SendLocalList accepted (either version): the charger''s list version, and its entries [{id_tag, id_token_type, info}] (Full replaces them all; Differential adds, updates, and removes the tags sent without info).';

CREATE OR REPLACE FUNCTION ocpp._effect_send_local_list(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF c.status <> 'accepted' THEN
        RETURN;
    END IF;
    PERFORM ocpp._apply_local_list(
        c.charge_point_id, c.id, (c.payload->>'listVersion')::integer, c.payload->>'updateType',
        (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('id_tag', x->>'idTag', 'info', x->'idTagInfo'))),
                         '[]')
           FROM jsonb_array_elements(ocpp._array(c.payload->'localAuthorizationList')) AS x));
END
$$;
COMMENT ON FUNCTION ocpp._effect_send_local_list(pgcsms.commands) IS
    'SendLocalList (1.6: listVersion, idTag, idTagInfo) Accepted: see ocpp._apply_local_list.';

-- What a charger says its list version is. 0: the list is empty (1.6) or
-- there is none (2.0.1); -1: the 1.6 charger has none.
CREATE OR REPLACE FUNCTION ocpp._record_local_list_version(station text, command bigint, version integer)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF version IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO pgcsms.local_lists AS ll (charge_point_id, list_version, command_id)
    VALUES (station, version, command)
    ON CONFLICT (charge_point_id) DO UPDATE
       SET list_version = excluded.list_version, command_id = excluded.command_id, updated_at = now();
    IF version <= 0 THEN
        DELETE FROM pgcsms.local_list_entries AS e WHERE e.charge_point_id = station;
    END IF;
END
$$;
COMMENT ON FUNCTION ocpp._record_local_list_version(text, bigint, integer) IS
    'A GetLocalListVersion answered (either version): the charger''s list version; 0 (empty, or none) or -1 (no local list) also empties ocpp.local_list_entries.';

CREATE OR REPLACE FUNCTION ocpp._effect_get_local_list_version(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF c.status = 'completed' THEN
        PERFORM ocpp._record_local_list_version(c.charge_point_id, c.id, (c.response->>'listVersion')::integer);
    END IF;
END
$$;
COMMENT ON FUNCTION ocpp._effect_get_local_list_version(pgcsms.commands) IS
    'GetLocalListVersion (1.6: listVersion) answered: see ocpp._record_local_list_version.';

-- The listVersion (1.6) or versionNumber (2.0.1) of the next SendLocalList:
-- one more than the version the charger has, or will have once the lists
-- still queued or in flight arrive.
CREATE OR REPLACE FUNCTION ocpp._next_local_list_version(charge_point_id text)
RETURNS integer
LANGUAGE sql STABLE
AS $$
    SELECT greatest(
               (SELECT ll.list_version FROM pgcsms.local_lists AS ll
                 WHERE ll.charge_point_id = _next_local_list_version.charge_point_id),
               (SELECT max(coalesce(c.payload->>'listVersion', c.payload->>'versionNumber')::integer)
                  FROM pgcsms.commands AS c
                 WHERE c.charge_point_id = _next_local_list_version.charge_point_id AND c.action = 'SendLocalList'
                   AND c.status IN ('queued', 'sent')),
               0) + 1
$$;
COMMENT ON FUNCTION ocpp._next_local_list_version(text) IS
    'The version number of the next SendLocalList to a charger: one more than the one it has (ocpp.local_lists) or will have once the lists queued or in flight arrive.';
