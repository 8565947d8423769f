-- Called by the proxy at the WebSocket handshake, before the socket opens, and
-- when the socket closes. connect authenticates (ocpp.authenticate: the
-- unknown_charge_points policy, then the charger's security profile) and
-- records the connection, in one round trip. connection_epoch is a fencing
-- counter: each connection of a charger gets a higher one, so a late close of
-- a replaced socket (on this node or another) cannot mark the new connection
-- as gone, and only the newest connection may claim its commands.
CREATE OR REPLACE FUNCTION ocpp.connect(
    charge_point_id text,
    node_id text,
    remote_address text DEFAULT NULL,
    ocpp_version text DEFAULT '1.6',
    password text DEFAULT NULL,
    transport text DEFAULT 'ws',
    client_cn text DEFAULT NULL,
    OUT accepted boolean,
    OUT http_status integer,
    OUT reason text,
    OUT ping_interval integer,
    OUT epoch bigint,
    OUT has_commands boolean)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    SELECT a.allowed, a.http_status, a.reason INTO accepted, http_status, reason
      FROM ocpp.authenticate(charge_point_id, password, transport, client_cn, remote_address) AS a;
    IF NOT accepted THEN
        RETURN;
    END IF;
    UPDATE pgcsms.charge_points AS cp
       SET connected = true, node_id = connect.node_id, connection_epoch = cp.connection_epoch + 1,
           remote_address = connect.remote_address, ocpp_version = connect.ocpp_version,
           connected_at = now(), last_seen_at = now()
     WHERE cp.id = connect.charge_point_id
    RETURNING cp.connection_epoch, coalesce(cp.ping_interval, ocpp._setting('ping_interval')::integer)
      INTO epoch, ping_interval;
    -- Connection intervals for reports.charger_availability: the charger's open
    -- one (a socket we had not seen go) ends, replaced, and this one begins.
    UPDATE pgcsms.connection_log AS l SET disconnected_at = now(), end_reason = 'replaced'
     WHERE l.charge_point_id = connect.charge_point_id AND l.disconnected_at IS NULL;
    INSERT INTO pgcsms.connection_log (charge_point_id, epoch, node_id)
    SELECT connect.charge_point_id, epoch, connect.node_id WHERE epoch IS NOT NULL;
    -- A CALL sent on an earlier connection can never be answered now.
    PERFORM ocpp._reclaim_commands(charge_point_id, NULL, epoch);
    has_commands := EXISTS (SELECT FROM pgcsms.commands AS c
                             WHERE c.charge_point_id = connect.charge_point_id AND c.status = 'queued');
    PERFORM pg_notify('ocpp_event', jsonb_build_object(
        'event', 'connected', 'charge_point_id', charge_point_id, 'node_id', node_id, 'epoch', epoch)::text);
END
$$;
COMMENT ON FUNCTION ocpp.connect(text, text, text, text, text, text, text) IS
    'Called by the proxy when a charger opens its WebSocket, before it opens: authenticates it (ocpp.authenticate: password from HTTP Basic auth, transport ws | wss, client certificate CN) and, if accepted, records the connection and its node. Returns accepted, else the HTTP status to refuse with (reason is for logs only); the ping interval (0: none), the connection epoch, and whether commands wait for it.';
REVOKE ALL ON FUNCTION ocpp.connect(text, text, text, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.connect(text, text, text, text, text, text, text) TO pgcsms_proxy;

CREATE OR REPLACE FUNCTION ocpp.disconnect(charge_point_id text, epoch bigint)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE pgcsms.charge_points AS cp
       SET connected = false, disconnected_at = now()
     WHERE cp.id = disconnect.charge_point_id AND cp.connection_epoch = disconnect.epoch AND cp.connected;
    IF FOUND THEN
        UPDATE pgcsms.connection_log AS l SET disconnected_at = now(), end_reason = 'closed'
         WHERE l.charge_point_id = disconnect.charge_point_id AND l.epoch = disconnect.epoch
           AND l.disconnected_at IS NULL;
        PERFORM ocpp._reclaim_commands(charge_point_id, NULL, epoch + 1);
        PERFORM pg_notify('ocpp_event', jsonb_build_object(
            'event', 'disconnected', 'charge_point_id', charge_point_id)::text);
    END IF;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION ocpp.disconnect(text, bigint) IS
    'Called by the proxy when a charger''s socket closes; ignored when a newer connection (higher epoch) has taken over. True if it marked the charger disconnected.';
REVOKE ALL ON FUNCTION ocpp.disconnect(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.disconnect(text, bigint) TO pgcsms_proxy;

CREATE OR REPLACE FUNCTION ocpp.node_started(node_id text)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    released integer;
BEGIN
    UPDATE pgcsms.charge_points AS cp SET connected = false, disconnected_at = now()
     WHERE cp.node_id = node_started.node_id AND cp.connected;
    GET DIAGNOSTICS released = ROW_COUNT;
    UPDATE pgcsms.connection_log AS l SET disconnected_at = now(), end_reason = 'node_restarted'
     WHERE l.node_id = node_started.node_id AND l.disconnected_at IS NULL;
    PERFORM ocpp._reclaim_commands(NULL, node_id, NULL);
    RETURN released;
END
$$;
COMMENT ON FUNCTION ocpp.node_started(text) IS
    'Called by a proxy node when it starts: chargers it held before a crash or restart are marked disconnected. Returns how many.';
REVOKE ALL ON FUNCTION ocpp.node_started(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.node_started(text) TO pgcsms_proxy;
