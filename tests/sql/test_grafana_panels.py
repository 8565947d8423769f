"""Every Grafana panel query (conf/grafana/dashboards/*.json) runs, as pgcsms_reader, on real sessions.

The queries are read from the dashboards as Grafana stores them; the
``$charger`` variable and the macros are substituted as Grafana does (the
frontend quotes each selected value; the PostgreSQL datasource's macro engine,
pkg/tsdb/grafana-postgresql-datasource/macros.go, expands ``$__timeFilter``,
``$__timeFrom()``, ``$__timeTo()`` and ``$__timeGroupAlias``), over the last
30 days, then each must return rows with the columns its panel shows.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

pytestmark = pytest.mark.rollback

GRAFANA = Path(__file__).resolve().parents[2] / "conf" / "grafana"
MACROS = {"timeFilter", "timeFrom", "timeTo", "timeGroupAlias"}

# What each panel returns, by dashboard and title. A new panel needs its line here.
COLUMNS = {
    ("pgcsms-fleet", "Connected chargers"): ["connected", "chargers"],
    ("pgcsms-fleet", "Connector states now"): ["status", "connectors"],
    ("pgcsms-fleet", "Daily reports as of"): ["refreshed_at", "took", "time_zone"],
    ("pgcsms-fleet", "Sessions and energy per day"): ["time", "sessions", "energy (kWh)"],
    ("pgcsms-fleet", "Energy per site and day"): ["time", "metric", "value"],
    ("pgcsms-fleet", "Utilization: share of each day in use"): ["time", "metric", "value"],
    ("pgcsms-fleet", "Availability: connected share and disconnects per day"):
        ["time", "connected share", "disconnects"],
    ("pgcsms-fleet", "Least available chargers over the range"):
        ["charge_point_id", "site_name", "connected_share", "disconnects"],
    ("pgcsms-fleet", "Faults"): ["time", "charge_point_id", "site_name", "connector_id", "kind", "code", "status",
                                 "vendor_error_code", "info", "duration", "ongoing"],
    ("pgcsms-fleet", "Sessions started per hour"): ["time", "sessions", "energy (kWh)"],
    ("pgcsms-charger", "Charger"): ["charge_point_id", "site_name", "connected", "connected_since",
                                    "disconnected_since", "registration_status", "ocpp_version", "vendor", "model",
                                    "firmware_version", "last_seen_at"],
    ("pgcsms-charger", "Connectors now"): ["charge_point_id", "evse_id", "connector_id", "status", "error_code",
                                           "info", "vendor_error_code", "since"],
    ("pgcsms-charger", "Running sessions"): ["charge_point_id", "connector_id", "started_at", "duration",
                                             "energy_kwh", "max_power_kw"],
    ("pgcsms-charger", "Energy per day"): ["time", "sessions", "energy (kWh)"],
    ("pgcsms-charger", "Power during sessions"): ["time", "metric", "value"],
    ("pgcsms-charger", "Time in each status per day"): ["time", "Available", "Preparing", "Charging", "Suspended",
                                                        "Finishing", "Occupied", "Reserved", "Unavailable",
                                                        "Faulted", "other"],
    ("pgcsms-charger", "Utilization per connector"): ["time", "metric", "value"],
    ("pgcsms-charger", "Availability"): ["time", "connected share", "disconnects"],
    ("pgcsms-charger", "Sessions"): ["time", "charge_point_id", "connector_id", "id_tag", "stopped_at", "duration",
                                     "energy_kwh", "max_power_kw", "stop_reason", "ocpp_version"],
    ("pgcsms-charger", "Faults"): ["time", "charge_point_id", "connector_id", "kind", "code", "status",
                                   "vendor_error_code", "info", "tech_info", "duration", "ongoing"],
    ("pgcsms-charger", "Connections"): ["time", "charge_point_id", "disconnected_at", "duration", "end_reason",
                                        "node_id"],
}


def dashboards() -> list[dict[str, Any]]:
    return [json.loads(path.read_text(encoding="utf-8"))
            for path in sorted((GRAFANA / "dashboards").glob("*.json"))]


def panels() -> list[tuple[str, str, dict[str, Any]]]:
    return [(board["uid"], panel["title"], target)
            for board in dashboards() for panel in board["panels"] for target in panel["targets"]]


def rfc3339(moment: datetime) -> str:
    """Go's time.RFC3339Nano in UTC, as Grafana writes the range: trailing zeros of the fraction dropped."""
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return text + "Z"


def interpolate(sql: str, start: datetime, end: datetime, chargers: list[str]) -> str:
    """``$charger`` as the frontend formats a multi-value SQL variable, then the backend's macros."""
    sql = sql.replace("$charger", ",".join("'" + value.replace("'", "''") + "'" for value in chargers))

    def macro(match: re.Match[str]) -> str:  # the macro engine's regex: \$([_a-zA-Z0-9]+)\(([^\)]*)\)
        name, args = match.group(1), [arg.strip(" ") for arg in match.group(2).split(",")]
        if name == "__timeFilter":
            return f"{args[0]} BETWEEN '{rfc3339(start)}' AND '{rfc3339(end)}'"
        if name == "__timeFrom":
            return f"'{rfc3339(start)}'"
        if name == "__timeTo":
            return f"'{rfc3339(end)}'"
        if name == "__timeGroupAlias":
            amount, unit = re.fullmatch(r"'?(\d+)([smhd])'?", args[1]).groups()  # type: ignore[union-attr]
            seconds = int(amount) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
            return f'floor(extract(epoch from {args[0]})/{seconds})*{seconds} AS "time"'
        raise AssertionError(f"macro {name} is not one the dashboards may use")

    return re.sub(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)", macro, sql)


def test_every_panel_and_only_those_has_its_expected_columns():
    assert sorted((uid, title) for uid, title, _ in panels()) == sorted(COLUMNS)


@pytest.mark.parametrize(("uid", "title", "target"), panels(),
                         ids=lambda value: value if isinstance(value, str) else "")
def test_panel_queries_use_the_reports_api_the_standard_macros_and_the_charger_variable(uid, title, target):
    sql = target["rawSql"]
    assert target["rawQuery"] is True and target["format"] in ("table", "time_series")
    assert target["datasource"]["uid"] == "pgcsms"
    for schema, _relation in re.findall(r"\b(?:FROM|JOIN)\s+(\w+)\.(\w+)", sql, flags=re.IGNORECASE):
        assert schema in ("reports", "ocpp"), (title, schema)
    assert {name for name in re.findall(r"\$__(\w+)", sql)} <= MACROS, title
    assert set(re.findall(r"\$(?!__)(\w+)", sql)) <= {"charger"}, title
    assert sql.count("$charger") == sql.count("charge_point_id IN ($charger)"), title


def test_the_data_source_is_a_reader_login_with_its_password_from_the_environment():
    datasource = (GRAFANA / "provisioning" / "datasources" / "pgcsms.yaml").read_text(encoding="utf-8")
    assert re.search(r"^\s+uid: pgcsms\b", datasource, flags=re.MULTILINE)
    assert re.search(r"^\s+type: (grafana-postgresql-datasource|postgres)\b", datasource, flags=re.MULTILINE)
    assert re.search(r"^\s+password: \$\{PGCSMS_GRAFANA_PASSWORD\}\s*$", datasource, flags=re.MULTILINE)
    assert "IN ROLE pgcsms_reader" in datasource
    provider = (GRAFANA / "provisioning" / "dashboards" / "pgcsms.yaml").read_text(encoding="utf-8")
    assert re.search(r"^\s+type: file\s*$", provider, flags=re.MULTILINE)
    assert re.search(r"^\s+path: /\S+", provider, flags=re.MULTILINE)
    for board in dashboards():
        (variable,) = board["templating"]["list"]
        assert (variable["name"], variable["multi"], variable["datasource"]["uid"]) == ("charger", True, "pgcsms")


@pytest.fixture
async def fleet(db: asyncpg.Connection, parse) -> datetime:
    """Two chargers with a few days of real traffic; returns the database's now."""
    now: datetime = await db.fetchval("SELECT now()")

    def ago(days: float = 0, hours: float = 0) -> str:
        return (now - timedelta(days=days, hours=hours)).isoformat()

    async def call(cp: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        reply = await parse(cp, action, payload)
        assert reply.error_code is None, reply
        return reply.result

    await db.execute("SELECT ocpp.add_site('depot', 'Depot North')")
    await db.execute("SELECT ocpp.add_id_tag('TAG-G')")
    for cp in ("CP-G1", "CP-G2"):
        await db.execute("SELECT ocpp.add_charge_point($1), ocpp.set_site($1, 'depot')", cp)
        epoch = await db.fetchval("SELECT epoch FROM ocpp.connect($1, 'node-g')", cp)
        await call(cp, "BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "Volt"})
        for day in (3, 2, 1):
            await call(cp, "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Preparing",
                                                  "timestamp": ago(day, 1)})
            start = await call(cp, "StartTransaction", {"connectorId": 1, "idTag": "TAG-G", "meterStart": 1000 * day,
                                                        "timestamp": ago(day, 1)})
            await call(cp, "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Charging",
                                                  "timestamp": ago(day, 1)})
            await call(cp, "MeterValues", {"connectorId": 1, "transactionId": start["transactionId"], "meterValue": [
                {"timestamp": ago(day, 0.5), "sampledValue": [
                    {"value": str(1000 * day + 3000), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                    {"value": "7.4", "measurand": "Power.Active.Import", "unit": "kW"}]}]})
            await call(cp, "StopTransaction", {"transactionId": start["transactionId"], "meterStop": 1000 * day + 6000,
                                               "timestamp": ago(day), "reason": "EVDisconnected"})
            await call(cp, "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available",
                                                  "timestamp": ago(day)})
        # A session still running, a fault, a security event.
        await call(cp, "StartTransaction", {"connectorId": 2, "idTag": "TAG-G", "meterStart": 0,
                                            "timestamp": ago(hours=2)})
        await call(cp, "StatusNotification", {"connectorId": 2, "errorCode": "GroundFailure", "status": "Faulted",
                                              "timestamp": ago(hours=1)})
        await call(cp, "SecurityEventNotification", {"type": "StartupOfTheDevice", "timestamp": ago(hours=3)})
        # The connection has lasted three days (ocpp.connect stamps now(), which stands still here).
        await db.execute("UPDATE pgcsms.connection_log SET connected_at = now() - interval '3 days' "
                         "WHERE charge_point_id = $1 AND epoch = $2", cp, epoch)
    await db.execute("SELECT reports.refresh()")
    return now


async def test_every_panel_returns_rows_as_pgcsms_reader(db, fleet):
    start, end = fleet - timedelta(days=30), fleet
    await db.execute("SET ROLE pgcsms_reader")
    try:
        for board in dashboards():
            (variable,) = board["templating"]["list"]
            values = [row[0] for row in await db.fetch(variable["query"])]
            assert values == ["CP-G1", "CP-G2"]
            # The fleet with "All" selected, a charger's detail with the first one.
            chargers = values if variable["includeAll"] else values[:1]
            for panel in board["panels"]:
                for target in panel["targets"]:
                    sql = interpolate(target["rawSql"], start, end, chargers)
                    try:
                        rows = await db.fetch(sql)
                    except asyncpg.PostgresError as error:
                        raise AssertionError(f"{board['uid']} / {panel['title']}: {error}\n{sql}") from error
                    assert rows, f"{board['uid']} / {panel['title']} returned no row:\n{sql}"
                    assert list(rows[0].keys()) == COLUMNS[board["uid"], panel["title"]], panel["title"]
                    if target["format"] == "time_series":
                        times = [row["time"] for row in rows]
                        assert times == sorted(times), f"{panel['title']}: a time series is sorted by time"
    finally:
        await db.execute("RESET ROLE")
