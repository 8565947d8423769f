-- "See the fleet": sites, a log of connections, and the reports schema that
-- BI tools (Grafana, psql) read. Every report is version-neutral: it reads the
-- base tables that OCPP 1.6 and 2.0.1 handlers share.
--
-- Row-level reports (reports.sessions, reports.faults, reports.chargers) are
-- plain views: a filter on their time or charge point reaches the indexes
-- below. The three daily reports aggregate whole histories (status intervals
-- need the next status of each connector), which a filter on the day cannot
-- narrow: as plain views they took seconds (24 s for a month of utilization
-- on a 1,000-charger year). They are kept in tables (pgcsms.report_*) that
-- reports.refresh() brings up to date, and read through views that add the
-- charger's current site. Figures: README "Reports and dashboards".

CREATE SCHEMA IF NOT EXISTS reports;
COMMENT ON SCHEMA reports IS
    'pgcsms reports for BI tools: read-only views, one row per session, per day, per fault. See README "Reports and dashboards".';
REVOKE ALL ON SCHEMA reports FROM PUBLIC;
-- The proxy reaches reports.live_status() (its status page) and nothing else here.
GRANT USAGE ON SCHEMA reports TO pgcsms_reader, pgcsms_operator, pgcsms_proxy;

INSERT INTO pgcsms.settings (key, value, description) VALUES
    ('report_time_zone', 'UTC',
     'Time zone in which the daily reports (reports.energy_by_day, connector_utilization, charger_availability) cut days, e.g. Europe/Berlin; takes effect at the next reports.refresh()')
ON CONFLICT (key) DO NOTHING;

-- Sites: where chargers stand. One reporting time zone for all of them, so
-- that fleet totals per day add up across sites.
CREATE TABLE pgcsms.sites (
    id           text PRIMARY KEY CHECK (id <> '' AND length(id) <= 64),
    name         text NOT NULL CHECK (name <> ''),
    description  text,
    address      text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE pgcsms.charge_points
    ADD COLUMN site_id text REFERENCES pgcsms.sites ON UPDATE CASCADE ON DELETE SET NULL;
CREATE INDEX charge_points_site ON pgcsms.charge_points (site_id) WHERE site_id IS NOT NULL;

CREATE VIEW ocpp.sites AS
    SELECT s.id, s.name, s.description, s.address,
           (SELECT count(*) FROM pgcsms.charge_points AS cp WHERE cp.site_id = s.id) AS charge_points,
           s.created_at, s.updated_at
      FROM pgcsms.sites AS s;
COMMENT ON VIEW ocpp.sites IS
    'Sites where charge points stand (ocpp.add_site, ocpp.set_site); charge_points counts those assigned to it. Every reports.* view can group by site.';
GRANT SELECT ON ocpp.sites TO pgcsms_reader;

-- Connections, one row each, so availability is measured from intervals.
-- Written by ocpp.connect (a row opens; the charger's open row, if any, ends
-- 'replaced'), ocpp.disconnect ('closed') and ocpp.node_started
-- ('node_restarted'). At most one open row per charger.
CREATE TABLE pgcsms.connection_log (
    charge_point_id  text NOT NULL,
    id               bigint GENERATED ALWAYS AS IDENTITY,
    epoch            bigint NOT NULL,
    node_id          text,
    connected_at     timestamptz NOT NULL DEFAULT now(),
    disconnected_at  timestamptz,
    end_reason       text CHECK (end_reason IN ('closed', 'replaced', 'node_restarted')),
    PRIMARY KEY (charge_point_id, id),
    CHECK ((disconnected_at IS NULL) = (end_reason IS NULL))
);
CREATE UNIQUE INDEX connection_log_open ON pgcsms.connection_log (charge_point_id) WHERE disconnected_at IS NULL;
CREATE INDEX connection_log_open_by_node ON pgcsms.connection_log (node_id) WHERE disconnected_at IS NULL;
-- Chargers connected while this migration runs: their open connection, from when it opened.
INSERT INTO pgcsms.connection_log (charge_point_id, epoch, node_id, connected_at)
SELECT id, connection_epoch, node_id, coalesce(connected_at, now()) FROM pgcsms.charge_points WHERE connected;

CREATE VIEW ocpp.connection_log AS
    SELECT charge_point_id, id, epoch, node_id, connected_at, disconnected_at, end_reason,
           coalesce(disconnected_at, now()) - connected_at AS duration
      FROM pgcsms.connection_log;
COMMENT ON VIEW ocpp.connection_log IS
    'Every WebSocket connection of a charger: when it opened and ended, on which node, and why it ended (closed: the socket closed; replaced: the charger connected again before we saw the old socket go; node_restarted: the proxy node holding it restarted). Open connections have disconnected_at NULL.';
GRANT SELECT ON ocpp.connection_log TO pgcsms_reader;

-- The time reports give an event the charger timestamped: the charger's own
-- time, unless it is unset (before 2010) or ahead of our receive time by more
-- than five minutes, then ours. IMMUTABLE and frozen here, since an index is
-- built on it (changing it means a new migration and a REINDEX).
CREATE FUNCTION reports.event_time(charger_at timestamptz, received_at timestamptz)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN charger_at >= '2010-01-01 00:00:00+00'::timestamptz
                     AND charger_at - received_at <= '00:05:00'::interval
                THEN charger_at ELSE received_at END
$$;
COMMENT ON FUNCTION reports.event_time(timestamptz, timestamptz) IS
    'When reports place an event the charger timestamped (status notification, security event): the charger time, unless unset (before 2010) or more than 5 minutes ahead of our receive time; then our receive time.';
REVOKE ALL ON FUNCTION reports.event_time(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reports.event_time(timestamptz, timestamptz) TO pgcsms_reader;

-- Indexes the reports need (measured, README "Reports and dashboards").
-- Sessions by start time across the fleet:
CREATE INDEX transactions_started_at ON pgcsms.transactions (started_at);
-- The status after a given one on the same connector (a fault's end), in report time:
CREATE INDEX status_history_by_connector_time ON pgcsms.status_history
    (charge_point_id, evse_id, connector_id, reports.event_time(charger_at, received_at), id);
-- Faults are few among statuses:
CREATE INDEX status_history_faults ON pgcsms.status_history (reports.event_time(charger_at, received_at))
    WHERE status = 'Faulted' OR coalesce(error_code, 'NoError') <> 'NoError';

-- ---------------------------------------------------------------------------
-- Row-level reports (plain views)

CREATE VIEW reports.chargers AS
    SELECT cp.id AS charge_point_id, cp.site_id AS site, s.name AS site_name, cp.registration_status,
           cp.connected, cp.ocpp_version, cp.vendor, cp.model, cp.firmware_version, cp.last_seen_at,
           CASE WHEN cp.connected THEN cp.connected_at END AS connected_since,
           CASE WHEN NOT cp.connected THEN cp.disconnected_at END AS disconnected_since,
           (SELECT count(*) FROM pgcsms.connectors AS c
             WHERE c.charge_point_id = cp.id AND c.evse_id > 0 AND c.connector_id > 0) AS connectors
      FROM pgcsms.charge_points AS cp
      LEFT JOIN pgcsms.sites AS s ON s.id = cp.site_id;
COMMENT ON VIEW reports.chargers IS
    'One row per charge point: its site (id) and site_name, registration status, whether it is connected now (connected_since / disconnected_since), the OCPP version it last connected with, what BootNotification said, last_seen_at, and how many connectors have reported a status (OCPP 1.6 connector 0, the charger itself, not counted).';

-- Energy of a session, one rule for every version, by what the session has:
-- the energy its handler derived (OCPP 2.0.1: ocpp._v201_transaction_energy,
-- from the register readings, kept up to date while it runs); else
-- meter_stop - meter_start (OCPP 1.6 StopTransaction); else the energy
-- register (Energy.Active.Import.Register, all phases together, at the
-- outlet, in Wh): its last reading minus meter_start, or minus its first
-- reading without one (an open or superseded 1.6 session: so far). Power: the
-- highest Power.Active.Import reading, the total, or the sum of the phases
-- sampled together when the charger only reports phases.
CREATE VIEW reports.sessions AS
    SELECT t.id AS transaction_id, t.charge_point_id, cp.site_id AS site, s.name AS site_name,
           t.evse_id, t.connector_id, t.id_tag, t.started_at, t.stopped_at,
           coalesce(t.stopped_at, now()) - t.started_at AS duration,
           -- CASE, so that the readings are only read for the sessions that need them.
           CASE WHEN t.energy_wh IS NOT NULL THEN t.energy_wh::numeric / 1000
                WHEN t.meter_stop IS NOT NULL AND t.meter_start IS NOT NULL
                THEN (t.meter_stop - t.meter_start)::numeric / 1000
                ELSE ((SELECT m.normalized_value FROM pgcsms.meter_values AS m
                        WHERE m.transaction_id = t.id AND m.transaction_known AND m.charge_point_id = t.charge_point_id
                          AND m.measurand = 'Energy.Active.Import.Register' AND m.phase IS NULL
                          AND coalesce(m.location, 'Outlet') = 'Outlet' AND m.normalized_unit = 'Wh'
                          AND m.normalized_value IS NOT NULL
                        ORDER BY m.sampled_at DESC, m.id DESC LIMIT 1)
                      - coalesce(t.meter_start::double precision,
                                 (SELECT m.normalized_value FROM pgcsms.meter_values AS m
                        WHERE m.transaction_id = t.id AND m.transaction_known AND m.charge_point_id = t.charge_point_id
                          AND m.measurand = 'Energy.Active.Import.Register' AND m.phase IS NULL
                          AND coalesce(m.location, 'Outlet') = 'Outlet' AND m.normalized_unit = 'Wh'
                          AND m.normalized_value IS NOT NULL
                                   ORDER BY m.sampled_at, m.id LIMIT 1)))::numeric / 1000
           END AS energy_kwh,
           (SELECT max(p.watts)::numeric / 1000
              FROM (SELECT coalesce(max(m.normalized_value) FILTER (WHERE m.phase IS NULL),
                                    sum(m.normalized_value) FILTER (
                                        WHERE m.phase IN ('L1', 'L2', 'L3', 'L1-N', 'L2-N', 'L3-N'))) AS watts
                      FROM pgcsms.meter_values AS m
                     WHERE m.transaction_id = t.id AND m.transaction_known AND m.charge_point_id = t.charge_point_id
                       AND m.measurand = 'Power.Active.Import' AND coalesce(m.location, 'Outlet') = 'Outlet'
                       AND m.normalized_unit = 'W'
                     GROUP BY m.sampled_at) AS p) AS max_power_kw,
           t.stop_reason,
           -- Priced sessions (tariffs, a later migration) have a total_cost; read
           -- by name, so that this view needs no column that does not exist yet.
           (to_jsonb(t) ->> 'total_cost')::numeric AS cost,
           to_jsonb(t) ->> 'currency' AS currency,
           coalesce(t.ocpp_version, cp.ocpp_version) AS ocpp_version,
           t.remote_id,
           CASE WHEN t.energy_wh IS NOT NULL THEN 'transaction'
                WHEN t.meter_stop IS NOT NULL AND t.meter_start IS NOT NULL THEN 'meter_stop'
                WHEN EXISTS (SELECT FROM pgcsms.meter_values AS m
                        WHERE m.transaction_id = t.id AND m.transaction_known AND m.charge_point_id = t.charge_point_id
                          AND m.measurand = 'Energy.Active.Import.Register' AND m.phase IS NULL
                          AND coalesce(m.location, 'Outlet') = 'Outlet' AND m.normalized_unit = 'Wh'
                          AND m.normalized_value IS NOT NULL) THEN 'meter_values' END AS energy_source
      FROM pgcsms.transactions AS t
      JOIN pgcsms.charge_points AS cp ON cp.id = t.charge_point_id
      LEFT JOIN pgcsms.sites AS s ON s.id = cp.site_id;
COMMENT ON VIEW reports.sessions IS
    'One row per charging session (transaction), OCPP 1.6 and 2.0.1 alike. transaction_id is ours (the 1.6 transactionId), remote_id the 2.0.1 transactionId. started_at/stopped_at are charger times; duration is stopped_at - started_at, for an open session the time so far. energy_kwh, by what the session has (energy_source): the energy its handler derived from the register readings (transaction: OCPP 2.0.1, see ocpp.transactions.energy_wh); else (meter_stop - meter_start) / 1000 (meter_stop: OCPP 1.6); else its Energy.Active.Import.Register readings (total, outlet, in Wh): the last minus meter_start, or minus the first reading without one (meter_values: an open or superseded session, so far); NULL with none of these. max_power_kw: the highest Power.Active.Import reading (the total, or the sum of L1..L3 sampled together). cost: what the session costs with taxes, in currency, where a tariff priced it (ocpp.transactions.total_cost), else NULL. ocpp_version: the transaction''s, else its charger''s.';

-- Faults: every Faulted status or status with an error code, lasting until
-- the next status of the same connector; and every security event (no duration).
CREATE VIEW reports.faults AS
    SELECT 'status'::text AS kind, h.charge_point_id, cp.site_id AS site, s.name AS site_name,
           h.evse_id, h.connector_id,
           reports.event_time(h.charger_at, h.received_at) AS started_at,
           n.ended_at,
           coalesce(n.ended_at, now()) - reports.event_time(h.charger_at, h.received_at) AS duration,
           n.ended_at IS NULL AS ongoing,
           h.status, h.error_code, h.info, h.vendor_id, h.vendor_error_code,
           NULL::text AS event_type, NULL::boolean AS critical, NULL::text AS tech_info
      FROM pgcsms.status_history AS h
      LEFT JOIN pgcsms.charge_points AS cp ON cp.id = h.charge_point_id
      LEFT JOIN pgcsms.sites AS s ON s.id = cp.site_id
      LEFT JOIN LATERAL (
          SELECT reports.event_time(x.charger_at, x.received_at) AS ended_at
            FROM pgcsms.status_history AS x
           WHERE x.charge_point_id = h.charge_point_id AND x.evse_id = h.evse_id
             AND x.connector_id = h.connector_id
             AND (reports.event_time(x.charger_at, x.received_at), x.id)
                 > (reports.event_time(h.charger_at, h.received_at), h.id)
           ORDER BY reports.event_time(x.charger_at, x.received_at), x.id
           LIMIT 1) AS n ON true
     WHERE h.status = 'Faulted' OR coalesce(h.error_code, 'NoError') <> 'NoError'
    UNION ALL
    SELECT 'security_event', e.charge_point_id, cp.site_id, s.name, NULL, NULL,
           reports.event_time(e.charger_at, e.received_at), NULL, NULL, false,
           NULL, NULL, NULL, NULL, NULL, e.type, e.critical, e.tech_info
      FROM pgcsms.security_events AS e
      LEFT JOIN pgcsms.charge_points AS cp ON cp.id = e.charge_point_id
      LEFT JOIN pgcsms.sites AS s ON s.id = cp.site_id;
COMMENT ON VIEW reports.faults IS
    'One row per fault. kind status: a StatusNotification with status Faulted or an error_code other than NoError (OCPP 1.6; connector 0 is the charger itself), from started_at until the next status of the same connector (ended_at; NULL and ongoing while none came, duration then runs to now), with status, error_code, info, vendor_id, vendor_error_code. kind security_event: a SecurityEventNotification (event_type, critical, tech_info), an instant: no duration. Times are reports.event_time (charger time unless implausible).';

-- ---------------------------------------------------------------------------
-- Daily reports: tables that reports.refresh() (sql/functions/reports.sql)
-- fills, recomputing only the days that changed since its previous run; days
-- are cut in the report_time_zone setting as it was at the refresh. Keyed by
-- charge point (the site is joined when read, so it is always the current one).

CREATE TABLE pgcsms.report_refresh (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    refreshed_at  timestamptz,
    took          interval,
    since         date,
    time_zone     text
);
INSERT INTO pgcsms.report_refresh DEFAULT VALUES;

CREATE VIEW reports.refreshed AS
    SELECT refreshed_at, took, since, time_zone FROM pgcsms.report_refresh;
COMMENT ON VIEW reports.refreshed IS
    'The last reports.refresh(): when (the daily reports are as of refreshed_at; NULL: never, they are empty), how long it took, the first day it recomputed (since; -infinity: all of them), and the time zone the days are in.';

CREATE TABLE pgcsms.report_energy_days (
    charge_point_id  text NOT NULL,
    day              date NOT NULL,
    day_start        timestamptz NOT NULL,
    sessions         bigint NOT NULL,
    energy_kwh       numeric,
    PRIMARY KEY (charge_point_id, day)
);
CREATE INDEX report_energy_days_start ON pgcsms.report_energy_days (day_start);

CREATE TABLE pgcsms.report_connector_days (
    charge_point_id  text NOT NULL,
    evse_id          integer NOT NULL,
    connector_id     integer NOT NULL,
    day              date NOT NULL,
    day_start        timestamptz NOT NULL,
    -- Seconds: observed, then in each status.
    observed         double precision NOT NULL CHECK (observed > 0),
    available        double precision NOT NULL,
    preparing        double precision NOT NULL,
    charging         double precision NOT NULL,
    suspended_ev     double precision NOT NULL,
    suspended_evse   double precision NOT NULL,
    finishing        double precision NOT NULL,
    reserved         double precision NOT NULL,
    unavailable      double precision NOT NULL,
    faulted          double precision NOT NULL,
    occupied         double precision NOT NULL,
    other            double precision NOT NULL,
    PRIMARY KEY (charge_point_id, evse_id, connector_id, day)
);
CREATE INDEX report_connector_days_start ON pgcsms.report_connector_days (day_start);

CREATE TABLE pgcsms.report_charger_days (
    charge_point_id  text NOT NULL,
    day              date NOT NULL,
    day_start        timestamptz NOT NULL,
    -- Seconds.
    observed         double precision NOT NULL,
    connected        double precision NOT NULL,
    disconnects      bigint NOT NULL,
    PRIMARY KEY (charge_point_id, day)
);
CREATE INDEX report_charger_days_start ON pgcsms.report_charger_days (day_start);

-- What a refresh looks for: rows received since the previous one (BRIN:
-- these columns grow with the table, and cost next to nothing to keep).
CREATE INDEX status_history_received_at ON pgcsms.status_history USING brin (received_at);
CREATE INDEX meter_values_received_at ON pgcsms.meter_values USING brin (received_at);
CREATE INDEX transactions_start_received_at ON pgcsms.transactions USING brin (start_received_at);
CREATE INDEX transactions_stop_received_at ON pgcsms.transactions (stop_received_at);
CREATE INDEX connection_log_disconnected_at ON pgcsms.connection_log (disconnected_at);

CREATE VIEW reports.energy_by_day AS
    SELECT e.day, e.day_start, e.charge_point_id, cp.site_id AS site, s.name AS site_name,
           e.sessions, e.energy_kwh
      FROM pgcsms.report_energy_days AS e
      LEFT JOIN pgcsms.charge_points AS cp ON cp.id = e.charge_point_id
      LEFT JOIN pgcsms.sites AS s ON s.id = cp.site_id;
COMMENT ON VIEW reports.energy_by_day IS
    'Sessions and energy per charger and day, as of the last reports.refresh() (reports.refreshed). A session counts on the day it STARTED, in the report_time_zone setting (day_start: that midnight as a timestamp), with all its energy (energy_kwh as in reports.sessions, open sessions so far): summed over days it gives the same totals as reports.sessions. site is the charger''s current site.';

CREATE VIEW reports.connector_utilization AS
    SELECT u.day, u.day_start, u.charge_point_id, cp.site_id AS site, s.name AS site_name, u.evse_id, u.connector_id,
           make_interval(secs => u.observed) AS observed,
           u.available / u.observed AS available, u.preparing / u.observed AS preparing,
           u.charging / u.observed AS charging, u.suspended_ev / u.observed AS suspended_ev,
           u.suspended_evse / u.observed AS suspended_evse, u.finishing / u.observed AS finishing,
           u.reserved / u.observed AS reserved, u.unavailable / u.observed AS unavailable,
           u.faulted / u.observed AS faulted, u.occupied / u.observed AS occupied, u.other / u.observed AS other,
           (u.preparing + u.charging + u.suspended_ev + u.suspended_evse + u.finishing + u.occupied)
               / u.observed AS in_use
      FROM pgcsms.report_connector_days AS u
      LEFT JOIN pgcsms.charge_points AS cp ON cp.id = u.charge_point_id
      LEFT JOIN pgcsms.sites AS s ON s.id = cp.site_id;
COMMENT ON VIEW reports.connector_utilization IS
    'Per connector and day (report_time_zone), the share (0 to 1) of the observed time spent in each status, as of the last reports.refresh(). Computed from status INTERVALS: each StatusNotification lasts until the next one of the same connector (the last one until the refresh), cut at midnight; observed is the part of the day covered (from the first status ever, up to the refresh), so the shares of a row add up to 1 (other: statuses outside the OCPP 1.6 and 2.0.1 lists). in_use = preparing + charging + suspended_ev + suspended_evse + finishing + occupied (2.0.1). OCPP 1.6 connector 0 (the charger itself) is left out.';

CREATE VIEW reports.charger_availability AS
    SELECT a.day, a.day_start, a.charge_point_id, cp.site_id AS site, s.name AS site_name,
           make_interval(secs => a.observed) AS observed,
           make_interval(secs => a.connected) AS connected,
           CASE WHEN a.observed > 0 THEN a.connected / a.observed END AS connected_share,
           a.disconnects
      FROM pgcsms.report_charger_days AS a
      LEFT JOIN pgcsms.charge_points AS cp ON cp.id = a.charge_point_id
      LEFT JOIN pgcsms.sites AS s ON s.id = cp.site_id;
COMMENT ON VIEW reports.charger_availability IS
    'Per charger and day (report_time_zone), as of the last reports.refresh(): connected, the time its WebSocket was up (from ocpp.connection_log intervals, cut at midnight); observed, the part of the day since its first recorded connection, up to the refresh; connected_share = connected / observed (0 on a day it never connected); disconnects, the connections that ended that day (closed, replaced by a reconnect, or lost with a node restart).';

GRANT SELECT ON ALL TABLES IN SCHEMA reports TO pgcsms_reader;
