-- Reports: refreshing the daily ones, and the live fleet status the proxy's
-- status page shows. The reports themselves are views (sql/migrations/0013).

-- The daily reports of days since `since` (a date in the report time zone),
-- recomputed from the base tables: the rows of those days are replaced, the
-- days before are left as they are. Past days only change when a charger
-- sends old news (a replayed status, a transaction that stops, readings of a
-- session that started earlier), which reports.refresh() looks for.
CREATE OR REPLACE FUNCTION reports._recompute_days(since date, zone text)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    from_start timestamptz := since::timestamp AT TIME ZONE zone;
BEGIN
    DELETE FROM pgcsms.report_energy_days AS e WHERE e.day_start >= from_start;
    DELETE FROM pgcsms.report_connector_days AS u WHERE u.day_start >= from_start;
    DELETE FROM pgcsms.report_charger_days AS a WHERE a.day_start >= from_start;

    -- Sessions by the day they started, with all their energy.
    INSERT INTO pgcsms.report_energy_days (charge_point_id, day, day_start, sessions, energy_kwh)
    SELECT s.charge_point_id, (s.started_at AT TIME ZONE zone)::date,
           (s.started_at AT TIME ZONE zone)::date::timestamp AT TIME ZONE zone, count(*), sum(s.energy_kwh)
      FROM reports.sessions AS s
     WHERE s.started_at >= from_start
     GROUP BY 1, 2, 3;

    -- Status intervals: each status lasts until the next of its connector, the
    -- last until now; the one in force at from_start is carried in from before.
    -- Cut at midnights, summed per connector, day and status.
    INSERT INTO pgcsms.report_connector_days
    WITH history AS (
        SELECT c.charge_point_id, c.evse_id, c.connector_id, h.status, h.at, h.id
          FROM pgcsms.connectors AS c
         CROSS JOIN LATERAL (
               (SELECT x.status, from_start AS at, x.id
                  FROM pgcsms.status_history AS x
                 WHERE x.charge_point_id = c.charge_point_id AND x.evse_id = c.evse_id
                   AND x.connector_id = c.connector_id
                   AND reports.event_time(x.charger_at, x.received_at) < from_start
                 ORDER BY reports.event_time(x.charger_at, x.received_at) DESC, x.id DESC
                 LIMIT 1)
               UNION ALL
               SELECT x.status, reports.event_time(x.charger_at, x.received_at), x.id
                 FROM pgcsms.status_history AS x
                WHERE x.charge_point_id = c.charge_point_id AND x.evse_id = c.evse_id
                  AND x.connector_id = c.connector_id
                  AND reports.event_time(x.charger_at, x.received_at) >= from_start) AS h
         WHERE c.evse_id > 0 AND c.connector_id > 0),
    intervals AS (
        SELECT charge_point_id, evse_id, connector_id, status, at AS since,
               coalesce(lead(at) OVER (PARTITION BY charge_point_id, evse_id, connector_id ORDER BY at, id), now())
                   AS until
          FROM history),
    pieces AS (
        SELECT i.charge_point_id, i.evse_id, i.connector_id, i.status, d.day, d.day_start,
               extract(epoch FROM least(i.until, d.day_end) - greatest(i.since, d.day_start))::double precision
                   AS seconds
          FROM intervals AS i
         CROSS JOIN LATERAL (
               SELECT local_day::date AS day, local_day AT TIME ZONE zone AS day_start,
                      (local_day + interval '1 day') AT TIME ZONE zone AS day_end
                 FROM generate_series((i.since AT TIME ZONE zone)::date::timestamp,
                                      (i.until AT TIME ZONE zone)::date::timestamp, interval '1 day') AS local_day) AS d
         WHERE i.until > i.since AND least(i.until, d.day_end) > greatest(i.since, d.day_start))
    SELECT charge_point_id, evse_id, connector_id, day, day_start, sum(seconds),
           coalesce(sum(seconds) FILTER (WHERE status = 'Available'), 0),
           coalesce(sum(seconds) FILTER (WHERE status = 'Preparing'), 0),
           coalesce(sum(seconds) FILTER (WHERE status = 'Charging'), 0),
           coalesce(sum(seconds) FILTER (WHERE status = 'SuspendedEV'), 0),
           coalesce(sum(seconds) FILTER (WHERE status = 'SuspendedEVSE'), 0),
           coalesce(sum(seconds) FILTER (WHERE status = 'Finishing'), 0),
           coalesce(sum(seconds) FILTER (WHERE status = 'Reserved'), 0),
           coalesce(sum(seconds) FILTER (WHERE status = 'Unavailable'), 0),
           coalesce(sum(seconds) FILTER (WHERE status = 'Faulted'), 0),
           coalesce(sum(seconds) FILTER (WHERE status = 'Occupied'), 0),
           coalesce(sum(seconds) FILTER (WHERE status NOT IN (
               'Available', 'Preparing', 'Charging', 'SuspendedEV', 'SuspendedEVSE', 'Finishing', 'Reserved',
               'Unavailable', 'Faulted', 'Occupied')), 0)
      FROM pieces
     GROUP BY charge_point_id, evse_id, connector_id, day, day_start;

    -- Connection intervals cut at midnights, every day from a charger's first
    -- connection to now (a day without one is 0 % connected); disconnects on
    -- the day they happened.
    INSERT INTO pgcsms.report_charger_days
    WITH connections AS (
        SELECT l.charge_point_id, greatest(l.connected_at, from_start) AS since,
               coalesce(l.disconnected_at, now()) AS until
          FROM pgcsms.connection_log AS l
         WHERE (l.disconnected_at >= from_start OR l.disconnected_at IS NULL)
           AND EXISTS (SELECT FROM pgcsms.charge_points AS cp WHERE cp.id = l.charge_point_id)),
    days AS (
        SELECT cp.id AS charge_point_id, d.local_day::date AS day, d.local_day AT TIME ZONE zone AS day_start,
               greatest(d.local_day AT TIME ZONE zone, f.connected_at) AS observed_from,
               least((d.local_day + interval '1 day') AT TIME ZONE zone, now()) AS observed_until
          FROM pgcsms.charge_points AS cp
         CROSS JOIN LATERAL (SELECT l.connected_at FROM pgcsms.connection_log AS l
                              WHERE l.charge_point_id = cp.id ORDER BY l.id LIMIT 1) AS f
         CROSS JOIN LATERAL generate_series(greatest((f.connected_at AT TIME ZONE zone)::date, since)::timestamp,
                                            (now() AT TIME ZONE zone)::date::timestamp,
                                            interval '1 day') AS d (local_day)),
    connected AS (
        SELECT c.charge_point_id, d.day,
               sum(extract(epoch FROM least(c.until, d.day_end) - greatest(c.since, d.day_start)))::double precision
                   AS seconds
          FROM connections AS c
         CROSS JOIN LATERAL (
               SELECT local_day::date AS day, local_day AT TIME ZONE zone AS day_start,
                      (local_day + interval '1 day') AT TIME ZONE zone AS day_end
                 FROM generate_series((c.since AT TIME ZONE zone)::date::timestamp,
                                      (c.until AT TIME ZONE zone)::date::timestamp, interval '1 day') AS local_day) AS d
         WHERE least(c.until, d.day_end) > greatest(c.since, d.day_start)
         GROUP BY c.charge_point_id, d.day),
    disconnects AS (
        SELECT l.charge_point_id, (l.disconnected_at AT TIME ZONE zone)::date AS day, count(*) AS disconnects
          FROM pgcsms.connection_log AS l
         WHERE l.disconnected_at >= from_start
         GROUP BY 1, 2)
    SELECT d.charge_point_id, d.day, d.day_start,
           greatest(extract(epoch FROM d.observed_until - d.observed_from), 0)::double precision,
           coalesce(c.seconds, 0::double precision), coalesce(x.disconnects, 0)
      FROM days AS d
      LEFT JOIN connected AS c ON (c.charge_point_id, c.day) = (d.charge_point_id, d.day)
      LEFT JOIN disconnects AS x ON (x.charge_point_id, x.day) = (d.charge_point_id, d.day);
END
$$;
COMMENT ON FUNCTION reports._recompute_days(date, text) IS
    'Replaces the rows of the daily report tables (pgcsms.report_*) from day since on (days in time zone zone), computed from the base tables.';

CREATE OR REPLACE FUNCTION reports.refresh(since date DEFAULT NULL)
RETURNS interval
LANGUAGE plpgsql SECURITY DEFINER
-- A full recomputation aggregates a year of status intervals in one go.
SET search_path = pg_catalog, pg_temp
SET work_mem = '256MB'
AS $$
DECLARE
    started timestamptz := clock_timestamp();
    zone text := coalesce((SELECT s.value FROM pgcsms.settings AS s WHERE s.key = 'report_time_zone'), 'UTC');
    last pgcsms.report_refresh;
    mark timestamptz;
BEGIN
    -- One refresh at a time; readers see the previous figures until the commit.
    PERFORM pg_advisory_xact_lock(hashtext('reports.refresh'));
    SELECT * INTO last FROM pgcsms.report_refresh;
    IF since IS NULL THEN
        IF last.refreshed_at IS NULL OR last.time_zone IS DISTINCT FROM zone THEN
            since := '-infinity';
        ELSE
            -- The day being lived at the previous refresh, and every day that
            -- news received since then belongs to. The margin covers rows of
            -- transactions that had not committed when it looked.
            mark := last.refreshed_at - interval '10 minutes';
            since := ((SELECT min(d) FROM (
                SELECT mark AS d
                UNION ALL
                SELECT min(reports.event_time(h.charger_at, h.received_at))
                  FROM pgcsms.status_history AS h WHERE h.received_at >= mark
                UNION ALL
                SELECT min(t.started_at) FROM pgcsms.transactions AS t
                 WHERE t.start_received_at >= mark OR t.stop_received_at >= mark
                UNION ALL
                SELECT min(t.started_at)
                  FROM pgcsms.meter_values AS m
                  JOIN pgcsms.transactions AS t ON t.id = m.transaction_id AND t.charge_point_id = m.charge_point_id
                 WHERE m.received_at >= mark AND m.transaction_known) AS news
            ) AT TIME ZONE zone)::date;
        END IF;
    END IF;
    PERFORM reports._recompute_days(since, zone);
    UPDATE pgcsms.report_refresh
       SET refreshed_at = now(), took = clock_timestamp() - started, since = refresh.since, time_zone = zone;
    RETURN clock_timestamp() - started;
END
$$;
COMMENT ON FUNCTION reports.refresh(date) IS
    'Brings the daily reports (reports.energy_by_day, reports.connector_utilization, reports.charger_availability) up to now, in the report_time_zone setting: recomputes the days since the previous refresh and the earlier days that news received since then belongs to (a replayed status, a stopped transaction, readings of an older session); since: recompute from that day on instead (''-infinity'': everything, as after a change of report_time_zone, which does it by itself). Readers keep reading the previous figures meanwhile. Returns how long it took (also in reports.refreshed). Schedule it (pg_cron, a systemd timer): README "Reports and dashboards".';
REVOKE ALL ON FUNCTION reports.refresh(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reports.refresh(date) TO pgcsms_operator;

-- What a status page shows of the fleet, and nothing else: no id tags, no
-- addresses, no secrets. The proxy may call it (it reads no view itself).
CREATE OR REPLACE FUNCTION reports.live_status(charge_point_ids text[] DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_build_object(
        'at', now(),
        'complete', charge_point_ids IS NULL,
        'chargers', coalesce(jsonb_agg(jsonb_build_object(
            'id', c.charge_point_id, 'site', c.site, 'site_name', c.site_name, 'connected', c.connected,
            'registration_status', c.registration_status, 'ocpp_version', c.ocpp_version,
            'last_seen_at', c.last_seen_at,
            'connectors', (
                SELECT coalesce(jsonb_agg(jsonb_build_object(
                           'evse_id', k.evse_id, 'connector_id', k.connector_id, 'status', k.status,
                           'error_code', k.error_code, 'since', coalesce(k.status_at, k.updated_at))
                           ORDER BY k.evse_id, k.connector_id), '[]'::jsonb)
                  FROM ocpp.connectors AS k WHERE k.charge_point_id = c.charge_point_id),
            'sessions', (
                SELECT coalesce(jsonb_agg(jsonb_build_object(
                           'transaction_id', s.transaction_id, 'evse_id', s.evse_id, 'connector_id', s.connector_id,
                           'started_at', s.started_at, 'energy_kwh', s.energy_kwh)
                           ORDER BY s.started_at), '[]'::jsonb)
                  FROM reports.sessions AS s
                 WHERE s.charge_point_id = c.charge_point_id AND s.stopped_at IS NULL))
            ORDER BY c.charge_point_id), '[]'::jsonb))
      FROM reports.chargers AS c
     WHERE live_status.charge_point_ids IS NULL OR c.charge_point_id = ANY (live_status.charge_point_ids)
$$;
COMMENT ON FUNCTION reports.live_status(text[]) IS
    'The fleet as a status page shows it, as one JSON document: {at, complete, chargers: [{id, site, site_name, connected, registration_status, ocpp_version, last_seen_at, connectors: [{evse_id, connector_id, status, error_code, since}], sessions: [{transaction_id, evse_id, connector_id, started_at, energy_kwh}] (running, energy so far)}]}, for every charger or only those named (complete false). No id tags, addresses or secrets.';
REVOKE ALL ON FUNCTION reports.live_status(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reports.live_status(text[]) TO pgcsms_proxy, pgcsms_reader;
