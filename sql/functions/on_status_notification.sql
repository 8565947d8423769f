-- The state of a connector, the rule every OCPP version shares: a history row
-- always; the connector's current state unless the notification is older
-- than it; an event when the status changed. 1.6 numbers a connector by
-- connectorId alone (evse_id = connector_id), 2.0.1 by evseId and connectorId.
-- Written for any number of notifications at once (element i of each array is
-- one, each connector at most once): the group commit applies a whole batch
-- with these statements, and ocpp._connector_status is a batch of one.
CREATE OR REPLACE FUNCTION ocpp._connector_statuses(
    charge_point_ids text[],
    unique_ids text[],
    ocpp_versions text[],
    evse_ids integer[],
    connector_ids integer[],
    statuses text[],
    charger_ats timestamptz[],
    error_codes text[],
    infos text[],
    vendor_ids text[],
    vendor_error_codes text[])
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    notified integer;
BEGIN
    INSERT INTO pgcsms.status_history
        (charge_point_id, evse_id, connector_id, status, error_code, info, vendor_id, vendor_error_code, charger_at)
    SELECT s.charge_point_id, s.evse_id, s.connector_id, s.status, s.error_code, s.info, s.vendor_id,
           s.vendor_error_code, s.charger_at
      FROM unnest(charge_point_ids, evse_ids, connector_ids, statuses, error_codes, infos, vendor_ids,
                  vendor_error_codes, charger_ats) WITH ORDINALITY
           AS s(charge_point_id, evse_id, connector_id, status, error_code, info, vendor_id, vendor_error_code,
                charger_at, n)
     ORDER BY s.n;

    -- A notification older than the state we hold (replayed after an outage)
    -- goes to the history only. Times from a clock that is unset (before 2010)
    -- or was running ahead order nothing: the notification is news. Every
    -- part of this statement sees the connectors as they were before it, so
    -- "before" is the status each one had.
    WITH s AS (
        SELECT * FROM unnest(charge_point_ids, ocpp_versions, evse_ids, connector_ids, statuses, error_codes, infos,
                             vendor_ids, vendor_error_codes, charger_ats) WITH ORDINALITY
               AS s(charge_point_id, ocpp_version, evse_id, connector_id, status, error_code, info, vendor_id,
                    vendor_error_code, charger_at, n)
    ), before AS (
        SELECT s.n, c.status FROM s
          JOIN pgcsms.connectors AS c
            ON c.charge_point_id = s.charge_point_id AND c.evse_id = s.evse_id AND c.connector_id = s.connector_id
    ), stored AS (
        INSERT INTO pgcsms.connectors AS c
            (charge_point_id, evse_id, connector_id, status, error_code, info, vendor_id, vendor_error_code, status_at)
        SELECT s.charge_point_id, s.evse_id, s.connector_id, s.status, s.error_code, s.info, s.vendor_id,
               s.vendor_error_code, s.charger_at
          FROM s ORDER BY s.n
        ON CONFLICT ON CONSTRAINT connectors_pkey DO UPDATE
           SET status = excluded.status, error_code = excluded.error_code, info = excluded.info,
               vendor_id = excluded.vendor_id, vendor_error_code = excluded.vendor_error_code,
               status_at = excluded.status_at, updated_at = now()
         WHERE c.status_at IS NULL OR excluded.status_at IS NULL OR excluded.status_at >= c.status_at
            OR excluded.status_at < '2010-01-01'
            OR c.status_at > now() + make_interval(secs => ocpp._setting('clock_skew_tolerance')::double precision)
        RETURNING c.charge_point_id, c.evse_id, c.connector_id
    )
    SELECT count(*) INTO notified FROM (
        -- Evaluated after the sort: events in the order of the notifications.
        SELECT pg_notify('ocpp_event', jsonb_build_object(
                   'event', 'status', 'charge_point_id', s.charge_point_id, 'connector_id', s.connector_id,
                   'status', s.status, 'error_code', s.error_code, 'evse_id', s.evse_id,
                   'ocpp_version', s.ocpp_version)::text)
          FROM s
          JOIN stored ON stored.charge_point_id = s.charge_point_id AND stored.evse_id = s.evse_id
                     AND stored.connector_id = s.connector_id
          LEFT JOIN before ON before.n = s.n
         WHERE before.status IS DISTINCT FROM s.status
         ORDER BY s.n) AS events;

    PERFORM ocpp._check_clocks(charge_point_ids, unique_ids, charger_ats);
END
$$;
COMMENT ON FUNCTION ocpp._connector_statuses(text[], text[], text[], integer[], integer[], text[], timestamptz[], text[], text[], text[], text[]) IS
    'The status of connectors in any OCPP version (element i of each array is one notification; each connector at most once): a history row always; the connector''s current state unless the notification is older than it; ocpp_event {"event":"status",...} when the status changed; the charger clock checked (ocpp._check_clocks). The group commit applies a batch with it; ocpp._connector_status is one.';

CREATE OR REPLACE FUNCTION ocpp._connector_status(
    charge_point_id text,
    unique_id text,
    ocpp_version text,
    evse_id integer,
    connector_id integer,
    status text,
    charger_at timestamptz,
    error_code text DEFAULT NULL,
    info text DEFAULT NULL,
    vendor_id text DEFAULT NULL,
    vendor_error_code text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM ocpp._connector_statuses(ARRAY[charge_point_id], ARRAY[unique_id], ARRAY[ocpp_version], ARRAY[evse_id],
                                     ARRAY[connector_id], ARRAY[status], ARRAY[charger_at], ARRAY[error_code],
                                     ARRAY[info], ARRAY[vendor_id], ARRAY[vendor_error_code]);
END
$$;
COMMENT ON FUNCTION ocpp._connector_status(text, text, text, integer, integer, text, timestamptz, text, text, text, text) IS
    'The status of one connector in any OCPP version (1.6 StatusNotification; 2.0.1 StatusNotification, NotifyEvent AvailabilityState): ocpp._connector_statuses for one.';

-- StatusNotification of any version, for any number of messages (the group
-- commit's batch, or one): 1.6 names a connector by connectorId alone
-- (evse_id = connector_id) and says errorCode, info and vendor codes; 2.x
-- names it by evseId and connectorId and says connectorStatus.
CREATE OR REPLACE FUNCTION ocpp._status_notifications(
    charge_point_ids text[], unique_ids text[], payloads jsonb[], ocpp_versions text[])
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM ocpp._connector_statuses(
        array_agg(m.charge_point_id ORDER BY m.n), array_agg(m.unique_id ORDER BY m.n),
        array_agg(m.ocpp_version ORDER BY m.n),
        array_agg(CASE WHEN m.v2 THEN (m.payload->>'evseId')::integer ELSE (m.payload->>'connectorId')::integer END
                  ORDER BY m.n),
        array_agg((m.payload->>'connectorId')::integer ORDER BY m.n),
        array_agg(m.payload->>CASE WHEN m.v2 THEN 'connectorStatus' ELSE 'status' END ORDER BY m.n),
        array_agg(ocpp._ts(m.payload->>'timestamp') ORDER BY m.n),
        array_agg(m.payload->>'errorCode' ORDER BY m.n), array_agg(m.payload->>'info' ORDER BY m.n),
        array_agg(m.payload->>'vendorId' ORDER BY m.n), array_agg(m.payload->>'vendorErrorCode' ORDER BY m.n))
      FROM (SELECT u.*, ocpp._is_v2(u.ocpp_version) AS v2
              FROM unnest(charge_point_ids, unique_ids, payloads, ocpp_versions) WITH ORDINALITY
                   AS u(charge_point_id, unique_id, payload, ocpp_version, n)) AS m;
END
$$;
COMMENT ON FUNCTION ocpp._status_notifications(text[], text[], jsonb[], text[]) IS
    'StatusNotification payloads of any version (element i of each array is one message) applied by ocpp._connector_statuses: 1.6 connectorId as both evse_id and connector_id with errorCode/info/vendor codes; 2.x evseId, connectorId and connectorStatus. The group commit applies a batch; the per-message handlers are one.';

CREATE OR REPLACE FUNCTION ocpp.on_status_notification(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM ocpp._status_notifications(ARRAY[charge_point_id], ARRAY[unique_id], ARRAY[payload], ARRAY['1.6']);
    RETURN '{}'::jsonb;
END
$$;
COMMENT ON FUNCTION ocpp.on_status_notification(text, text, jsonb) IS
    'StatusNotification (1.6): the connector''s status (ocpp._status_notifications for one), the 1.6 connectorId as both evse_id and connector_id.';
