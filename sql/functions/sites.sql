-- Sites: where charge points stand. Reports group by them (reports.*.site).

CREATE OR REPLACE FUNCTION ocpp.add_site(
    id text,
    name text DEFAULT NULL,
    description text DEFAULT NULL,
    address text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF id IS NULL OR id = '' OR length(id) > 64 OR id ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'a site id is 1 to 64 characters without control characters, not %', quote_nullable(id)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF name = '' THEN
        RAISE EXCEPTION 'a site name is not empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO pgcsms.sites AS s (id, name, description, address)
    VALUES (add_site.id, coalesce(add_site.name, add_site.id), add_site.description, add_site.address)
    ON CONFLICT ON CONSTRAINT sites_pkey DO UPDATE
       SET name = coalesce(add_site.name, s.name),
           description = coalesce(excluded.description, s.description),
           address = coalesce(excluded.address, s.address),
           updated_at = now();
END
$$;
COMMENT ON FUNCTION ocpp.add_site(text, text, text, text) IS
    'Adds a site (name defaults to its id), or updates one: arguments left NULL keep what the site had. Assign chargers with ocpp.set_site.';
REVOKE ALL ON FUNCTION ocpp.add_site(text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.add_site(text, text, text, text) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.set_site(charge_point_id text, site_id text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF site_id IS NOT NULL AND NOT EXISTS (SELECT FROM pgcsms.sites AS s WHERE s.id = set_site.site_id) THEN
        RAISE EXCEPTION 'no site %', quote_literal(site_id)
            USING ERRCODE = 'no_data_found', HINT = 'add it first: SELECT ocpp.add_site(id, name)';
    END IF;
    UPDATE pgcsms.charge_points AS cp SET site_id = set_site.site_id, updated_at = now()
     WHERE cp.id = set_site.charge_point_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no charge point %', quote_nullable(charge_point_id)
            USING ERRCODE = 'no_data_found', HINT = 'register it first: SELECT ocpp.add_charge_point(id)';
    END IF;
END
$$;
COMMENT ON FUNCTION ocpp.set_site(text, text) IS
    'Puts a charge point at a site (NULL: at none). Reports show each charger''s current site, including for its past days.';
REVOKE ALL ON FUNCTION ocpp.set_site(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.set_site(text, text) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.remove_site(id text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM pgcsms.sites AS s WHERE s.id = remove_site.id;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION ocpp.remove_site(text) IS
    'Deletes a site; its charge points stay, at no site. True if it existed.';
REVOKE ALL ON FUNCTION ocpp.remove_site(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.remove_site(text) TO pgcsms_operator;
