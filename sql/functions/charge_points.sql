CREATE OR REPLACE FUNCTION ocpp.add_charge_point(
    id text,
    registration_status text DEFAULT 'Accepted',
    description text DEFAULT NULL,
    ping_interval integer DEFAULT NULL,
    site text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF id IS NULL OR id = '' OR length(id) > 48 OR id ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'a charge point id is 1 to 48 characters without control characters, not %', quote_nullable(id)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF registration_status NOT IN ('Accepted', 'Pending', 'Rejected') THEN
        RAISE EXCEPTION 'registration_status must be Accepted, Pending or Rejected, not %', quote_nullable(registration_status)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO pgcsms.charge_points AS cp (id, registration_status, description, ping_interval)
    VALUES (add_charge_point.id, add_charge_point.registration_status, add_charge_point.description,
            add_charge_point.ping_interval)
    ON CONFLICT ON CONSTRAINT charge_points_pkey DO UPDATE
       SET registration_status = excluded.registration_status,
           description = coalesce(excluded.description, cp.description),
           ping_interval = coalesce(excluded.ping_interval, cp.ping_interval),
           updated_at = now();
    IF site IS NOT NULL THEN
        PERFORM ocpp.set_site(add_charge_point.id, site);
    END IF;
    -- A 2.0.1 station we answered Pending believes it is Pending until it
    -- boots again (B02): ask it to boot now rather than at its retry interval,
    -- so the commands that wait for its acceptance go out.
    IF add_charge_point.registration_status = 'Accepted' AND EXISTS (
            SELECT FROM pgcsms.charge_points AS cp
             WHERE cp.id = add_charge_point.id AND cp.ocpp_version <> '1.6' AND cp.boot_status = 'Pending')
       AND NOT EXISTS (
            SELECT FROM pgcsms.commands AS c
             WHERE c.charge_point_id = add_charge_point.id AND c.action = 'TriggerMessage'
               AND c.status IN ('queued', 'sent') AND c.payload->>'requestedMessage' = 'BootNotification') THEN
        PERFORM ocpp.send(add_charge_point.id, 'TriggerMessage', '{"requestedMessage": "BootNotification"}');
    END IF;
END
$$;
COMMENT ON FUNCTION ocpp.add_charge_point(text, text, text, integer, text) IS
    'Registers a charge point (Accepted unless registration_status says Pending or Rejected), or updates one. Accepting a 2.0.1 station that was answered Pending queues TriggerMessage(BootNotification), so it learns at once. ping_interval: seconds between WebSocket pings for this charger, 0 for none (NULL: the ping_interval setting). site: the site it stands at (ocpp.add_site first; NULL leaves it as it is, ocpp.set_site(id, NULL) takes it off).';
REVOKE ALL ON FUNCTION ocpp.add_charge_point(text, text, text, integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.add_charge_point(text, text, text, integer, text) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.remove_charge_point(id text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM pgcsms.charge_points AS cp WHERE cp.id = remove_charge_point.id;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION ocpp.remove_charge_point(text) IS
    'Deletes a charge point with its connectors, transactions and reservations; its journal, meter values and history stay. True if it existed.';
REVOKE ALL ON FUNCTION ocpp.remove_charge_point(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.remove_charge_point(text) TO pgcsms_operator;

-- The registration status of a charge point; an unknown one is registered
-- per the unknown_charge_points policy, or NULL under 'reject'.
CREATE OR REPLACE FUNCTION ocpp._registration(charge_point_id text)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    status text;
    policy text;
BEGIN
    SELECT cp.registration_status INTO status FROM pgcsms.charge_points AS cp WHERE cp.id = charge_point_id;
    IF FOUND THEN
        RETURN status;
    END IF;
    policy := coalesce(ocpp._setting('unknown_charge_points'), 'pending');
    IF policy = 'reject' THEN
        RETURN NULL;
    END IF;
    status := CASE policy WHEN 'accept' THEN 'Accepted' ELSE 'Pending' END;
    INSERT INTO pgcsms.charge_points (id, registration_status) VALUES (charge_point_id, status)
    ON CONFLICT DO NOTHING;
    SELECT cp.registration_status INTO status FROM pgcsms.charge_points AS cp WHERE cp.id = charge_point_id;
    RETURN status;
END
$$;
COMMENT ON FUNCTION ocpp._registration(text) IS
    'Registration status of a charge point, registering an unknown one per the unknown_charge_points setting; NULL when that setting is reject.';

-- The registration that governs a charger's traffic. 1.6: ours, as it
-- stands. 2.x: a station learns its registration only from a BootNotification
-- answer (B01–B03) and keeps acting on it until it boots again, so its own
-- messages are judged by what it was told (boot_status: an operator's change
-- must not make its TransactionEvents SecurityErrors it would retry and then
-- drop); what we send goes out only when both agree it may (B03.FR.03: nothing
-- to a station told Rejected; to one told Pending, only what B02 allows).
CREATE OR REPLACE FUNCTION ocpp._registration_for(
    ocpp_version text, registration_status text, boot_status text, sending boolean)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN ocpp_version IS NULL OR ocpp_version = '1.6' OR boot_status IS NULL THEN registration_status
        WHEN NOT sending THEN boot_status
        WHEN 'Rejected' IN (registration_status, boot_status) THEN 'Rejected'
        WHEN 'Pending' IN (registration_status, boot_status) THEN 'Pending'
        ELSE 'Accepted'
    END
$$;
COMMENT ON FUNCTION ocpp._registration_for(text, text, text, boolean) IS
    'The registration that governs a charger''s traffic: for 1.6 (or a station that never booted) registration_status; for 2.x its messages (sending false) are judged by boot_status, what its last BootNotification answer told it, and commands (sending true) go by the stricter of the two.';
