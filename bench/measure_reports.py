"""How fast the reports and the dashboards' panels are on a year of a 1,000-charger fleet.

A measurement, not a test: it fills a SCRATCH database (migrated, with no
charger in it: it refuses any other) with generated data shaped like a
fleet's year, then runs each query a few times with EXPLAIN (ANALYZE) and
prints the median time and the plan's top nodes::

    createdb pgcsms_scale && pgcsms migrate --dsn postgresql:///pgcsms_scale
    python bench/measure_reports.py --dsn postgresql:///pgcsms_scale [--chargers 1000 --days 365]

It times reports.refresh() recomputing everything (what a plain view of a
daily report would compute for every query) and then only what changed, the
row-level views with typical filters, and every panel query of
conf/grafana/dashboards/*.json over the last 30 days (the fleet overview with
all chargers selected, the charger detail with one; macros substituted as
Grafana does). JIT is off as README "Reports and dashboards" recommends for the
reporting role (``--jit`` to see it on).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

DASHBOARDS = Path(__file__).resolve().parent / "dashboards"

GENERATE = """
SELECT setseed(0.42);
INSERT INTO pgcsms.sites (id, name)
SELECT 'site-' || lpad(i::text, 3, '0'), 'Site ' || i FROM generate_series(1, greatest(%(chargers)s / 10, 1)) AS i;
INSERT INTO pgcsms.charge_points (id, registration_status, site_id, ocpp_version, vendor, model, connected,
                                  connection_epoch, connected_at, last_seen_at)
SELECT 'CP-' || lpad(i::text, 4, '0'), 'Accepted', 'site-' || lpad(((i - 1) / 10 + 1)::text, 3, '0'),
       CASE WHEN i %% 5 = 0 THEN '2.0.1' ELSE '1.6' END, 'Acme', 'Volt', i %% 50 <> 0, 1, now(), now()
  FROM generate_series(1, %(chargers)s) AS i;
INSERT INTO pgcsms.connectors (charge_point_id, evse_id, connector_id, status, error_code, status_at)
SELECT cp.id, c, c, 'Available', 'NoError', now() FROM pgcsms.charge_points AS cp, generate_series(1, 2) AS c;

-- Three sessions a day on each of two connectors: one in each third of the day.
CREATE TEMP TABLE gen AS
SELECT cp.id AS cp, c AS connector, cp.ocpp_version = '2.0.1' AS v201,
       d + make_interval(hours => 8 * k, mins => (random() * 300)::int) AS started_at,
       make_interval(mins => 30 + (random() * 90)::int) AS duration,
       (2000 + random() * 28000)::bigint AS wh, (random() * 1e6)::bigint AS register,
       3000 + random() * 19000 AS watts
  FROM pgcsms.charge_points AS cp, generate_series(1, 2) AS c,
       generate_series(date_trunc('day', now()) - make_interval(days => %(days)s),
                       date_trunc('day', now()) - interval '1 day', interval '1 day') AS d,
       generate_series(0, 2) AS k;

INSERT INTO pgcsms.transactions (charge_point_id, remote_id, evse_id, connector_id, id_tag, authorization_status,
                                 meter_start, meter_stop, started_at, start_received_at, start_unique_id, stopped_at,
                                 stop_received_at, stop_reason, stop_unique_id, ocpp_version, energy_wh)
SELECT cp, CASE WHEN v201 THEN md5(cp || connector || started_at::text) END, connector, connector,
       'TAG-' || (random() * 5000)::int, 'Accepted', register, register + wh, started_at, started_at,
       md5(random()::text), started_at + duration, started_at + duration, 'EVDisconnected', md5(random()::text),
       CASE WHEN v201 THEN '2.0.1' ELSE '1.6' END, CASE WHEN v201 THEN wh END
  FROM gen;

-- A register reading and a power reading every 15 minutes of each session.
INSERT INTO pgcsms.meter_values (charge_point_id, evse_id, connector_id, transaction_id, transaction_known,
                                 sampled_at, received_at, source, measurand, unit, context, location, value,
                                 normalized_value, normalized_unit)
SELECT t.charge_point_id, t.evse_id, t.connector_id, t.id, true, s.at, s.at, 'MeterValues', m.measurand,
       m.unit, 'Sample.Periodic', 'Outlet', m.value::text, m.value, m.unit
  FROM pgcsms.transactions AS t
 CROSS JOIN LATERAL generate_series(t.started_at, t.stopped_at, interval '15 minutes') AS s (at)
 CROSS JOIN LATERAL (VALUES
       ('Energy.Active.Import.Register', 'Wh',
        t.meter_start + (t.meter_stop - t.meter_start)
            * extract(epoch FROM s.at - t.started_at) / extract(epoch FROM t.stopped_at - t.started_at)),
       ('Power.Active.Import', 'W', 3000 + (t.id %% 19) * 1000)) AS m (measurand, unit, value);

-- Preparing, Charging, Finishing, Available around each session; a fault a week per charger.
INSERT INTO pgcsms.status_history (charge_point_id, evse_id, connector_id, status, error_code, charger_at, received_at)
SELECT cp, connector, connector, s.status, 'NoError', s.at, s.at
  FROM gen CROSS JOIN LATERAL (VALUES
       ('Preparing', started_at - interval '2 minutes'), ('Charging', started_at),
       ('Finishing', started_at + duration), ('Available', started_at + duration + interval '1 minute'))
       AS s (status, at);
INSERT INTO pgcsms.status_history (charge_point_id, evse_id, connector_id, status, error_code, charger_at, received_at)
SELECT cp.id, 1, 1, s.status, s.error_code, s.at, s.at
  FROM pgcsms.charge_points AS cp,
       generate_series(now() - make_interval(days => %(days)s), now() - interval '1 day', interval '7 days') AS w,
       LATERAL (SELECT w + make_interval(secs => random() * 86400) AS at) AS f,
       LATERAL (VALUES ('Faulted', 'GroundFailure', f.at), ('Available', 'NoError', f.at + interval '30 minutes'))
           AS s (status, error_code, at);
INSERT INTO pgcsms.security_events (charge_point_id, type, critical, tech_info, charger_at, received_at)
SELECT cp.id, 'StartupOfTheDevice', true, NULL, w, w
  FROM pgcsms.charge_points AS cp,
       generate_series(now() - make_interval(days => %(days)s), now(), interval '7 days') AS w;

-- One dropped connection a day per charger, back within half an hour.
INSERT INTO pgcsms.connection_log (charge_point_id, epoch, node_id, connected_at, disconnected_at, end_reason)
SELECT cp.id, row_number() OVER (PARTITION BY cp.id ORDER BY d), 'node-1',
       coalesce(lag(d + drop_at + back) OVER (PARTITION BY cp.id ORDER BY d), d), d + drop_at, 'closed'
  FROM pgcsms.charge_points AS cp,
       generate_series(date_trunc('day', now()) - make_interval(days => %(days)s),
                       date_trunc('day', now()) - interval '1 day', interval '1 day') AS d,
       LATERAL (SELECT make_interval(secs => random() * 86400) AS drop_at,
                       make_interval(secs => 60 + random() * 1800) AS back) AS r;
INSERT INTO pgcsms.connection_log (charge_point_id, epoch, node_id, connected_at)
SELECT cp.id, 100000, 'node-1', date_trunc('day', now()) FROM pgcsms.charge_points AS cp WHERE cp.connected;
"""

# What a BI tool asks most, on the plain views (their filters reach the indexes).
QUERIES = {
    "sessions, fleet, last 7 days: count, energy, max power":
        "SELECT count(*), sum(energy_kwh), max(max_power_kw) FROM reports.sessions "
        "WHERE started_at >= now() - interval '7 days'",
    "sessions, one charger, last 30 days, every column":
        "SELECT * FROM reports.sessions WHERE charge_point_id = 'CP-0042' "
        "AND started_at >= now() - interval '30 days' ORDER BY started_at",
    "sessions, fleet, a year: energy per site":
        "SELECT site, count(*), sum(energy_kwh) FROM reports.sessions GROUP BY site",
    "energy_by_day, fleet, last 30 days":
        "SELECT day, sum(sessions), sum(energy_kwh) FROM reports.energy_by_day "
        "WHERE day_start >= now() - interval '30 days' GROUP BY day ORDER BY day",
    "energy_by_day, fleet, a year, per site":
        "SELECT site, day, sum(energy_kwh) FROM reports.energy_by_day GROUP BY site, day",
    "connector_utilization, fleet, last 30 days":
        "SELECT charge_point_id, connector_id, avg(in_use) FROM reports.connector_utilization "
        "WHERE day_start >= now() - interval '30 days' GROUP BY 1, 2",
    "connector_utilization, one charger, a year":
        "SELECT * FROM reports.connector_utilization WHERE charge_point_id = 'CP-0042'",
    "charger_availability, fleet, last 30 days":
        "SELECT day, avg(connected_share), sum(disconnects) FROM reports.charger_availability "
        "WHERE day_start >= now() - interval '30 days' GROUP BY day",
    "faults, fleet, last 7 days":
        "SELECT * FROM reports.faults WHERE started_at >= now() - interval '7 days'",
    "faults, one charger, a year":
        "SELECT * FROM reports.faults WHERE charge_point_id = 'CP-0042'",
    "live_status(), the whole fleet (status page snapshot)":
        "SELECT reports.live_status()",
    "live_status(), one charger (after an event)":
        "SELECT reports.live_status(ARRAY['CP-0042'])",
}

def grafana_sql(sql: str, start: datetime, end: datetime, chargers: list[str]) -> str:
    """A panel query as Grafana's PostgreSQL datasource sends it (tests/sql/test_grafana_panels.py does the same)."""
    def stamp(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def group(match: re.Match[str]) -> str:
        column, interval = (part.strip() for part in match.group(2).split(","))
        seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[interval.strip("'")[-1]] * int(interval.strip("'")[:-1])
        alias = ' AS "time"' if match.group(1) == "Alias" else ""
        return f"floor(extract(epoch from {column})/{seconds})*{seconds}{alias}"

    sql = sql.replace("$charger", ",".join("'" + c.replace("'", "''") + "'" for c in chargers))
    sql = re.sub(r"\$__timeGroup(Alias)?\(([^)]*)\)", group, sql)
    sql = re.sub(r"\$__timeFilter\(([^)]*)\)", lambda m: f"{m.group(1)} BETWEEN '{stamp(start)}' AND '{stamp(end)}'",
                 sql)
    return sql.replace("$__timeFrom()", f"'{stamp(start)}'").replace("$__timeTo()", f"'{stamp(end)}'")


def panels() -> list[tuple[str, str, bool]]:
    """(dashboard: title, query, whether its variable offers All) of every panel."""
    found = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        every = dashboard["templating"]["list"][0]["includeAll"]
        for panel in dashboard.get("panels", []):
            for target in panel.get("targets", []):
                found.append((f"{path.stem}: {panel['title']}", target["rawSql"], every))
    return found


def measure(connection: psycopg.Connection, sql: str, runs: int) -> tuple[float, str]:
    """Median execution time (ms) of EXPLAIN ANALYZE, and the plan's top nodes."""
    times = []
    plan: dict = {}
    for _ in range(runs):
        row = connection.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}").fetchone()
        assert row is not None
        result = row[0][0]
        times.append(result["Planning Time"] + result["Execution Time"])
        plan = result["Plan"]
    nodes = []
    while plan and len(nodes) < 4:
        name = plan["Node Type"] + (f" on {plan['Relation Name']}" if "Relation Name" in plan else "")
        nodes.append(name + (f" using {plan['Index Name']}" if "Index Name" in plan else ""))
        children = plan.get("Plans") or []
        plan = max(children, key=lambda p: p.get("Actual Total Time", 0)) if children else {}
    return statistics.median(times), " > ".join(nodes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsn", required=True, help="a scratch database, migrated, without chargers")
    parser.add_argument("--chargers", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-generate", action="store_true", help="the data is there from an earlier run")
    parser.add_argument("--jit", action="store_true", help="leave PostgreSQL's JIT on (the server's default)")
    args = parser.parse_args()
    with psycopg.connect(args.dsn, autocommit=True) as connection:
        connection.execute("SET TIME ZONE 'UTC'")
        if not args.jit:
            connection.execute("SET jit = off")
        if not args.skip_generate:
            if connection.execute("SELECT count(*) FROM pgcsms.charge_points").fetchone() != (0,):
                print("refusing: this database has charge points; give a scratch database", file=sys.stderr)
                return 2
            started = time.perf_counter()
            with connection.transaction():
                connection.execute(GENERATE % {"chargers": int(args.chargers), "days": int(args.days)})
            connection.execute("VACUUM ANALYZE")
            print(f"generated in {time.perf_counter() - started:.0f} s")
        sizes = connection.execute("""
            SELECT (SELECT count(*) FROM pgcsms.charge_points), (SELECT count(*) FROM pgcsms.transactions),
                   (SELECT count(*) FROM pgcsms.meter_values), (SELECT count(*) FROM pgcsms.status_history),
                   (SELECT count(*) FROM pgcsms.connection_log),
                   pg_size_pretty(pg_database_size(current_database()))""").fetchone()
        assert sizes is not None
        print("chargers {}, sessions {}, meter values {}, statuses {}, connections {}, database {}".format(*sizes))

        print("\n| reports.refresh | s |\n|---|---:|")
        for name, sql in (("everything ('-infinity'), as after an upgrade or a change of time zone",
                           "SELECT reports.refresh('-infinity')"),
                          ("the last 7 days (current_date - 7)", "SELECT reports.refresh(current_date - 7)"),
                          ("what changed since the previous refresh (today): the scheduled call",
                           "SELECT reports.refresh()")):
            started = time.perf_counter()
            connection.execute(sql)
            print(f"| {name} | {time.perf_counter() - started:.2f} |")

        print("\n| query | ms | plan |\n|---|---:|---|")
        for name, sql in QUERIES.items():
            ms, plan = measure(connection, sql, args.runs)
            print(f"| {name} | {ms:,.1f} | {plan} |")
        now = datetime.now(UTC)
        every = [row[0] for row in connection.execute("SELECT charge_point_id FROM reports.chargers ORDER BY 1")]
        print("\n| panel (last 30 days; fleet: all chargers, detail: one) | ms | plan |\n|---|---:|---|")
        for name, sql, offers_all in panels():
            chosen = every if offers_all else [every[min(41, len(every) - 1)]]
            ms, plan = measure(connection, grafana_sql(sql, now - timedelta(days=30), now, chosen), args.runs)
            print(f"| {name} | {ms:,.1f} | {plan} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
