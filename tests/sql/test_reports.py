"""Reports (schema ``reports``): every figure, from real OCPP 1.6 messages through ocpp.parse.

Times are charger times in the past, so a status or a connection still open
lasts until the refresh (now). In this module ``now()`` stands still (each test
is one transaction, rolled back), which the figures of open intervals use.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

pytestmark = pytest.mark.rollback

TAG = "TAG-REPORTS"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def call(parse, cp: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    reply = await parse(cp, action, payload)
    assert reply.error_code is None, reply
    return reply.result


async def start(parse, cp: str, connector: int, meter_start: int, when: str) -> int:
    result = await call(parse, cp, "StartTransaction",
                        {"connectorId": connector, "idTag": TAG, "meterStart": meter_start, "timestamp": when})
    return result["transactionId"]


async def meter(parse, cp: str, connector: int, transaction_id: int | None, when: str, *values: dict) -> None:
    payload: dict[str, Any] = {"connectorId": connector,
                               "meterValue": [{"timestamp": when, "sampledValue": list(values)}]}
    if transaction_id is not None:
        payload["transactionId"] = transaction_id
    await call(parse, cp, "MeterValues", payload)


async def stop(parse, cp: str, transaction_id: int, meter_stop: int, when: str, reason: str = "EVDisconnected"):
    await call(parse, cp, "StopTransaction",
               {"transactionId": transaction_id, "meterStop": meter_stop, "timestamp": when, "reason": reason})


async def status(parse, cp: str, connector: int, state: str, when: str, error: str = "NoError", **extra) -> None:
    await call(parse, cp, "StatusNotification",
               {"connectorId": connector, "status": state, "errorCode": error, "timestamp": when, **extra})


def energy(value: str, unit: str = "Wh", **extra: str) -> dict[str, str]:
    return {"value": value, "measurand": "Energy.Active.Import.Register", "unit": unit, **extra}


def power(value: str, unit: str = "kW", **extra: str) -> dict[str, str]:
    return {"value": value, "measurand": "Power.Active.Import", "unit": unit, **extra}


async def refresh(db: asyncpg.Connection) -> None:
    await db.execute("SELECT reports.refresh()")


async def session(db: asyncpg.Connection, transaction_id: int) -> asyncpg.Record:
    return await db.fetchrow("SELECT * FROM reports.sessions WHERE transaction_id = $1", transaction_id)


@pytest.fixture(autouse=True)
async def tag(db: asyncpg.Connection) -> str:
    await db.execute("SELECT ocpp.add_id_tag($1)", TAG)
    return TAG


# -- reports.sessions ----------------------------------------------------------------


async def test_a_session_with_every_figure(db, parse, cp):
    await db.execute("SELECT ocpp.add_site('depot', 'Depot North', address => 'Quay 1')")
    await db.execute("SELECT ocpp.set_site($1, 'depot')", cp)
    await call(parse, cp, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
    tid = await start(parse, cp, 1, 1000, "2026-03-10T22:30:00Z")
    await meter(parse, cp, 1, tid, "2026-03-10T23:00:00Z", energy("1.5", "kWh"), power("7.2"))
    await meter(parse, cp, 1, tid, "2026-03-10T23:30:00Z", energy("3000"), power("11", "kW"),
                power("22000", "W", location="Inlet"))
    await stop(parse, cp, tid, 4500, "2026-03-11T00:30:00Z")

    row = await session(db, tid)
    assert dict(row) == {
        "transaction_id": tid, "charge_point_id": cp, "site": "depot", "site_name": "Depot North",
        "evse_id": 1, "connector_id": 1, "id_tag": TAG,
        "started_at": at("2026-03-10T22:30:00Z"), "stopped_at": at("2026-03-11T00:30:00Z"),
        "duration": timedelta(hours=2), "energy_kwh": Decimal("3.5"), "max_power_kw": Decimal("11"),
        "stop_reason": "EVDisconnected", "cost": None, "currency": None, "ocpp_version": "1.6", "remote_id": None,
        "energy_source": "meter_stop"}


async def test_sessions_without_meter_stop_take_their_energy_from_the_register(db, parse, cp):
    # Open: meterStart, then register readings (Wh and kWh): energy so far = last - meterStart.
    running = await start(parse, cp, 1, 2000, "2026-03-10T10:00:00Z")
    await meter(parse, cp, 1, running, "2026-03-10T10:10:00Z", energy("2600"),
                power("3.7", phase="L1"), power("3.7", phase="L2"), power("3.6", phase="L3"))
    await meter(parse, cp, 1, running, "2026-03-10T10:20:00Z", energy("3.1", "kWh"), power("7.4"),
                energy("900", phase="L1"), energy("99999", location="EV"))
    # Readings of a transaction we do not know, named like it, count for nothing.
    await meter(parse, cp, 1, running + 1000, "2026-03-10T10:25:00Z", energy("50000"))

    # Superseded: it never got its StopTransaction, a new one started on its connector.
    lost = await start(parse, cp, 2, 10_000, "2026-03-10T11:00:00Z")
    await meter(parse, cp, 2, lost, "2026-03-10T11:30:00Z", energy("10500"))
    after = await start(parse, cp, 2, 10_600, "2026-03-10T12:00:00Z")

    now = await db.fetchval("SELECT now()")
    row = await session(db, running)
    assert (row["stopped_at"], row["energy_kwh"], row["energy_source"]) == (None, Decimal("1.1"), "meter_values")
    assert row["duration"] == now - at("2026-03-10T10:00:00Z")
    # The phases sampled together add up (11.0 kW) when there is no total... and a total wins when there is.
    assert row["max_power_kw"] == Decimal("11")

    row = await session(db, lost)
    assert row["stopped_at"] == at("2026-03-10T12:00:00Z") and row["stop_reason"] is None
    assert (row["energy_kwh"], row["energy_source"], row["duration"]) == (
        Decimal("0.5"), "meter_values", timedelta(hours=1))

    # No meterStop and no reading: no energy figure rather than a wrong one.
    row = await session(db, after)
    assert (row["energy_kwh"], row["energy_source"], row["max_power_kw"]) == (None, None, None)


async def test_a_2_0_1_session_reads_like_a_1_6_one(db, parse, cp):
    """The row a 2.0.1 TransactionEvent handler leaves (its own transactionId, no meterStop from the
    protocol, energy derived from the register) reads like any other; written here directly, since
    these reports must not depend on which handler wrote it."""
    await db.execute("SELECT ocpp.add_charge_point('ST-201')")
    await db.execute("SELECT * FROM ocpp.connect('ST-201', 'node-1', NULL, '2.0.1')")
    tid = await db.fetchval("""
        INSERT INTO pgcsms.transactions (charge_point_id, remote_id, evse_id, connector_id, id_tag,
                                         authorization_status, meter_start, started_at, start_unique_id,
                                         ocpp_version, energy_wh)
        VALUES ('ST-201', 'b2c9-tx', 1, 1, $1, 'Accepted', 10000, '2026-03-10T10:00:00Z', 'u-1', '2.0.1', 4200)
        RETURNING id""", TAG)
    await db.execute("""
        INSERT INTO pgcsms.meter_values (charge_point_id, evse_id, connector_id, transaction_id, transaction_known,
                                         sampled_at, source, measurand, value, normalized_value, normalized_unit,
                                         location)
        VALUES ('ST-201', 1, 1, $1, true, '2026-03-10T10:30:00Z', 'TransactionEvent', 'Power.Active.Import',
                '22000', 22000, 'W', 'Outlet')""", tid)
    row = await session(db, tid)
    assert (row["remote_id"], row["ocpp_version"], row["energy_kwh"], row["energy_source"], row["max_power_kw"]) == (
        "b2c9-tx", "2.0.1", Decimal("4.2"), "transaction", Decimal("22"))
    # A session whose transaction does not say its version: its charger's.
    await db.execute("ALTER TABLE pgcsms.transactions ALTER COLUMN ocpp_version DROP NOT NULL")
    await db.execute("UPDATE pgcsms.transactions SET ocpp_version = NULL WHERE id = $1", tid)
    assert (await session(db, tid))["ocpp_version"] == "2.0.1"


async def test_a_priced_session_shows_its_cost(db, parse, cp):
    """Tariffs give a transaction total_cost and currency; the view reads them by name (they come in a
    migration after the reports), so it is tried with the columns added here if they are not there yet."""
    await db.execute("ALTER TABLE pgcsms.transactions ADD COLUMN IF NOT EXISTS total_cost numeric, "
                     "ADD COLUMN IF NOT EXISTS currency text")
    tid = await start(parse, cp, 1, 0, "2026-03-10T10:00:00Z")
    await stop(parse, cp, tid, 7000, "2026-03-10T11:00:00Z")
    assert ((await session(db, tid))["cost"], (await session(db, tid))["currency"]) == (None, None)
    await db.execute("UPDATE pgcsms.transactions SET total_cost = 2.45, currency = 'EUR' WHERE id = $1", tid)
    row = await session(db, tid)
    assert (row["cost"], row["currency"], row["energy_kwh"]) == (Decimal("2.45"), "EUR", Decimal("7"))


# -- reports.energy_by_day -----------------------------------------------------------


async def test_energy_by_day_counts_a_session_on_its_start_day_and_sums_to_sessions(db, parse, cp):
    night = await start(parse, cp, 1, 0, "2026-03-10T22:30:00Z")      # ends the next day
    await stop(parse, cp, night, 3500, "2026-03-11T00:30:00Z")
    morning = await start(parse, cp, 1, 3500, "2026-03-11T10:00:00Z")
    await stop(parse, cp, morning, 5500, "2026-03-11T11:00:00Z")
    late = await start(parse, cp, 2, 0, "2026-03-11T23:30:00Z")        # 00:30 the next day in Berlin
    await stop(parse, cp, late, 1000, "2026-03-12T00:10:00Z")
    running = await start(parse, cp, 1, 5500, "2026-03-12T09:00:00Z")
    await meter(parse, cp, 1, running, "2026-03-12T09:30:00Z", energy("5750"))

    async def by_day() -> dict[date, tuple[int, Decimal]]:
        rows = await db.fetch("SELECT day, day_start, sessions, energy_kwh FROM reports.energy_by_day "
                              "WHERE charge_point_id = $1 ORDER BY day", cp)
        return {r["day"]: (r["sessions"], r["energy_kwh"], r["day_start"]) for r in rows}

    async def totals_agree() -> None:
        days = await db.fetchrow("SELECT sum(sessions) AS n, sum(energy_kwh) AS kwh FROM reports.energy_by_day")
        sessions = await db.fetchrow("SELECT count(*) AS n, sum(energy_kwh) AS kwh FROM reports.sessions")
        assert (days["n"], days["kwh"]) == (sessions["n"], sessions["kwh"]) == (4, Decimal("6.75"))

    await refresh(db)
    assert await by_day() == {
        date(2026, 3, 10): (1, Decimal("3.5"), at("2026-03-10T00:00:00Z")),
        date(2026, 3, 11): (2, Decimal("3"), at("2026-03-11T00:00:00Z")),
        date(2026, 3, 12): (1, Decimal("0.25"), at("2026-03-12T00:00:00Z"))}
    await totals_agree()

    await db.execute("SELECT ocpp.set_setting('report_time_zone', 'Europe/Berlin')")
    await refresh(db)
    assert await by_day() == {
        date(2026, 3, 10): (1, Decimal("3.5"), at("2026-03-09T23:00:00Z")),
        date(2026, 3, 11): (1, Decimal("2"), at("2026-03-10T23:00:00Z")),
        date(2026, 3, 12): (2, Decimal("1.25"), at("2026-03-11T23:00:00Z"))}
    await totals_agree()
    assert await db.fetchval("SELECT time_zone FROM reports.refreshed") == "Europe/Berlin"


# -- reports.connector_utilization ---------------------------------------------------


async def test_utilization_is_time_in_each_status_split_at_midnight(db, parse, cp):
    await status(parse, cp, 0, "Available", "2026-03-10T19:00:00Z")   # the charger itself: no connector
    await status(parse, cp, 1, "Available", "2026-03-10T20:00:00Z")
    await status(parse, cp, 1, "Preparing", "2026-03-10T22:00:00Z")
    await status(parse, cp, 1, "Charging", "2026-03-10T22:30:00Z")    # crosses midnight
    await status(parse, cp, 1, "Finishing", "2026-03-11T02:00:00Z")
    await status(parse, cp, 1, "Available", "2026-03-11T02:30:00Z")   # lasts until now

    async def day(when: date) -> dict[str, Any]:
        row = await db.fetchrow("SELECT * FROM reports.connector_utilization "
                                "WHERE charge_point_id = $1 AND connector_id = 1 AND day = $2", cp, when)
        shares = {k: v for k, v in dict(row).items() if isinstance(v, float)}
        assert sum(v for k, v in shares.items() if k != "in_use") == pytest.approx(1.0)
        return {"observed": row["observed"], **{k: v for k, v in shares.items() if v}}

    await refresh(db)
    assert await db.fetchval("SELECT count(*) FROM reports.connector_utilization WHERE connector_id = 0") == 0
    assert await day(date(2026, 3, 10)) == {
        "observed": timedelta(hours=4), "available": 0.5, "preparing": 0.125, "charging": 0.375, "in_use": 0.5}
    assert await day(date(2026, 3, 11)) == {
        "observed": timedelta(hours=24), "available": pytest.approx(21.5 / 24), "charging": pytest.approx(2 / 24),
        "finishing": pytest.approx(0.5 / 24), "in_use": pytest.approx(2.5 / 24)}
    # Every day since, the last status lasts: today up to now.
    now = await db.fetchval("SELECT now()")
    today = now.astimezone(UTC).date()
    midnight = datetime(today.year, today.month, today.day, tzinfo=UTC)
    assert await day(today) == {"observed": now - midnight, "available": 1.0}
    days = await db.fetchval("SELECT count(*) FROM reports.connector_utilization WHERE charge_point_id = $1", cp)
    assert days == (today - date(2026, 3, 10)).days + 1

    # Days in the report time zone: Berlin is UTC+1 in March.
    await db.execute("SELECT ocpp.set_setting('report_time_zone', 'Europe/Berlin')")
    await refresh(db)
    assert await day(date(2026, 3, 10)) == {
        "observed": timedelta(hours=3), "available": pytest.approx(2 / 3), "preparing": pytest.approx(0.5 / 3),
        "charging": pytest.approx(0.5 / 3), "in_use": pytest.approx(1 / 3)}
    assert await day(date(2026, 3, 11)) == {
        "observed": timedelta(hours=24), "available": pytest.approx(20.5 / 24), "charging": pytest.approx(3 / 24),
        "finishing": pytest.approx(0.5 / 24), "in_use": pytest.approx(3.5 / 24)}


async def test_utilization_orders_by_charger_time_and_counts_2_0_1_occupied(db, parse, cp):
    # Replayed after an outage: received in another order than they happened.
    await status(parse, cp, 1, "Charging", "2026-03-10T14:00:00Z")
    await status(parse, cp, 1, "Available", "2026-03-10T12:00:00Z")
    await status(parse, cp, 1, "Available", "2026-03-10T20:00:00Z")
    # An unset clock (before 2010) is placed at our receive time (now), not in 2001.
    await status(parse, cp, 2, "Unavailable", "2001-01-01T00:00:00Z")
    # A 2.0.1 station's connector (evse 1, connector 1), as its StatusNotification handler stores it:
    # the history, and the connector's current state.
    await db.execute("SELECT ocpp.add_charge_point('ST-201')")
    await db.execute("""
        INSERT INTO pgcsms.status_history (charge_point_id, evse_id, connector_id, status, charger_at)
        VALUES ('ST-201', 1, 1, 'Available', '2026-03-10T00:00:00Z'),
               ('ST-201', 1, 1, 'Occupied', '2026-03-10T06:00:00Z'),
               ('ST-201', 1, 1, 'Available', '2026-03-10T12:00:00Z')""")
    await db.execute("INSERT INTO pgcsms.connectors (charge_point_id, evse_id, connector_id, status, status_at) "
                     "VALUES ('ST-201', 1, 1, 'Available', '2026-03-10T12:00:00Z')")
    await refresh(db)
    row = await db.fetchrow("SELECT * FROM reports.connector_utilization "
                            "WHERE charge_point_id = $1 AND connector_id = 1 AND day = '2026-03-10'", cp)
    assert (row["observed"], row["available"], row["charging"]) == (timedelta(hours=12), 0.5, 0.5)
    assert await db.fetchval("SELECT reports.event_time(charger_at, received_at) = now() FROM ocpp.status_history "
                             "WHERE charge_point_id = $1 AND connector_id = 2", cp) is True
    assert await db.fetchval("SELECT count(*) FROM reports.connector_utilization "
                             "WHERE charge_point_id = $1 AND connector_id = 2", cp) == 0  # no day in 2001
    row = await db.fetchrow("SELECT * FROM reports.connector_utilization "
                            "WHERE charge_point_id = 'ST-201' AND day = '2026-03-10'")
    assert (row["evse_id"], row["occupied"], row["in_use"], row["available"]) == (1, 0.25, 0.25, 0.75)


# -- reports.charger_availability and the connection log -----------------------------


async def test_connections_are_logged_with_how_they_ended(db, cp):
    async def log() -> list[tuple]:
        return [tuple(r) for r in await db.fetch(
            "SELECT epoch, node_id, disconnected_at IS NULL, end_reason FROM ocpp.connection_log "
            "WHERE charge_point_id = $1 ORDER BY id", cp)]

    first = await db.fetchval("SELECT epoch FROM ocpp.connect($1, 'node-a')", cp)
    second = await db.fetchval("SELECT epoch FROM ocpp.connect($1, 'node-b')", cp)   # before the old close
    assert await db.fetchval("SELECT ocpp.disconnect($1, $2)", cp, first) is False     # the late close of the old
    assert await log() == [(first, "node-a", False, "replaced"), (second, "node-b", True, None)]
    assert await db.fetchval("SELECT ocpp.disconnect($1, $2)", cp, second) is True
    third = await db.fetchval("SELECT epoch FROM ocpp.connect($1, 'node-a')", cp)
    assert await db.fetchval("SELECT ocpp.node_started('node-a')") == 1
    assert (await log())[1:] == [(second, "node-b", False, "closed"), (third, "node-a", False, "node_restarted")]
    # A refused handshake is no connection.
    await db.execute("SELECT ocpp.set_password($1, 'twenty characters!!!')", cp)
    assert await db.fetchval("SELECT accepted FROM ocpp.connect($1, 'node-a', password => 'wrong')", cp) is False
    assert len(await log()) == 3


async def test_availability_is_the_connected_share_of_each_day(db, cp):
    for node in ("node-a", "node-a", "node-b", "node-a"):
        await db.execute("SELECT * FROM ocpp.connect($1, $2)", cp, node)
    # Give the four connections a history (ocpp.connect records now(), which stands still here).
    for epoch, since, until in [(1, "2026-03-10T06:00Z", "2026-03-11T06:00Z"),
                                (2, "2026-03-11T08:00Z", "2026-03-11T09:00Z"),
                                (3, "2026-03-11T09:00Z", "2026-03-12T12:00Z"),
                                (4, "2026-03-12T18:00Z", None)]:
        await db.execute("UPDATE pgcsms.connection_log SET connected_at = $2, disconnected_at = $3 "
                         "WHERE charge_point_id = $1 AND epoch = $4",
                         cp, at(since), at(until) if until else None, epoch)
    await refresh(db)
    rows = await db.fetch("SELECT day, observed, connected, connected_share, disconnects "
                          "FROM reports.charger_availability WHERE charge_point_id = $1 ORDER BY day LIMIT 4", cp)
    assert [tuple(r) for r in rows] == [
        (date(2026, 3, 10), timedelta(hours=18), timedelta(hours=18), 1.0, 0),
        (date(2026, 3, 11), timedelta(hours=24), timedelta(hours=22), pytest.approx(22 / 24), 2),
        (date(2026, 3, 12), timedelta(hours=24), timedelta(hours=18), 0.75, 1),
        (date(2026, 3, 13), timedelta(hours=24), timedelta(hours=24), 1.0, 0)]
    # A charger off the whole day is 0 % available, not missing. (History rewritten by hand is no news
    # a refresh looks for: recompute everything.)
    await db.execute("UPDATE pgcsms.connection_log SET connected_at = '2026-03-15T00:00Z' "
                     "WHERE charge_point_id = $1 AND epoch = 4", cp)
    await db.execute("SELECT reports.refresh('-infinity')")
    assert tuple(await db.fetchrow(
        "SELECT connected, connected_share, disconnects FROM reports.charger_availability "
        "WHERE charge_point_id = $1 AND day = '2026-03-13'", cp)) == (timedelta(0), 0.0, 0)


# -- refreshing -------------------------------------------------------------------------


async def test_a_refresh_recomputes_the_days_that_news_belongs_to_and_no_others(db, parse, cp):
    for day in (9, 10, 11):
        await status(parse, cp, 1, "Charging", f"2026-03-{day:02}T08:00:00Z")
        await status(parse, cp, 1, "Available", f"2026-03-{day:02}T10:00:00Z")
        tid = await start(parse, cp, 1, 0, f"2026-03-{day:02}T08:00:00Z")
        await stop(parse, cp, tid, 1000 * day, f"2026-03-{day:02}T10:00:00Z")
    lost = await start(parse, cp, 2, 0, "2026-03-08T12:00:00Z")   # its stop comes late
    await db.execute("SELECT * FROM ocpp.connect($1, 'node-a')", cp)
    await refresh(db)
    assert await db.fetchval("SELECT since = '-infinity' FROM reports.refreshed") is True  # the first: everything

    async def refreshed_long_ago() -> None:
        """As if all of this had been received when it happened, and refreshed on the 12th."""
        await db.execute("UPDATE pgcsms.status_history SET received_at = charger_at")
        await db.execute("UPDATE pgcsms.transactions SET start_received_at = started_at, "
                         "stop_received_at = stopped_at")
        await db.execute("UPDATE pgcsms.report_refresh SET refreshed_at = '2026-03-12T00:05:00Z'")
        # A wrong figure on every day: only the days recomputed lose it.
        for table in ("report_energy_days", "report_connector_days", "report_charger_days"):
            column = {"report_energy_days": "sessions", "report_connector_days": "other",
                      "report_charger_days": "disconnects"}[table]
            await db.execute(f"UPDATE pgcsms.{table} SET {column} = 99")

    async def days_of(view: str, column: str) -> dict[date, Any]:
        return {r["day"]: r[column] for r in await db.fetch(
            f"SELECT day, {column} FROM reports.{view} WHERE charge_point_id = $1 AND day < '2026-03-13'", cp)}

    # A status replayed late, about the 10th: the 10th and after are recomputed, the 9th is not.
    await refreshed_long_ago()
    await status(parse, cp, 1, "Faulted", "2026-03-10T12:00:00Z", "GroundFailure")
    await refresh(db)
    assert await db.fetchval("SELECT since FROM reports.refreshed") == date(2026, 3, 10)
    assert await days_of("energy_by_day", "sessions") == {
        date(2026, 3, 9): 99, date(2026, 3, 10): 1, date(2026, 3, 11): 1, date(2026, 3, 8): 99}
    utilization = await days_of("connector_utilization", "faulted")
    assert utilization[date(2026, 3, 10)] == 0.5  # from 12:00 to midnight
    assert await db.fetchval("SELECT other FROM reports.connector_utilization "
                             "WHERE charge_point_id = $1 AND day = '2026-03-09'", cp) > 0  # 99 s, untouched

    # A stop received late, of a session that started on the 8th: from the 8th.
    await refreshed_long_ago()
    await stop(parse, cp, lost, 500, "2026-03-08T13:00:00Z")
    await refresh(db)
    assert await db.fetchval("SELECT since FROM reports.refreshed") == date(2026, 3, 8)
    incremental = {view: [tuple(r) for r in await db.fetch(f"SELECT * FROM reports.{view} ORDER BY 1, 3, 4")]
                   for view in ("energy_by_day", "connector_utilization", "charger_availability")}
    assert (await days_of("energy_by_day", "sessions"))[date(2026, 3, 9)] == 1

    # And it all agrees with recomputing everything.
    await db.execute("SELECT reports.refresh('-infinity')")
    assert await db.fetchval("SELECT since = '-infinity' FROM reports.refreshed") is True
    for view, rows in incremental.items():
        assert [tuple(r) for r in await db.fetch(f"SELECT * FROM reports.{view} ORDER BY 1, 3, 4")] == rows, view


# -- reports.faults --------------------------------------------------------------------


async def test_faults_with_their_durations_codes_and_security_events(db, parse, cp):
    await status(parse, cp, 1, "Faulted", "2026-03-10T10:00:00Z", "GroundFailure", info="earth leak",
                 vendorId="com.example", vendorErrorCode="E42")
    await status(parse, cp, 1, "Available", "2026-03-10T10:15:00Z")
    await status(parse, cp, 1, "Available", "2026-03-10T11:00:00Z", "HighTemperature")
    await status(parse, cp, 1, "Charging", "2026-03-10T11:20:00Z")
    await status(parse, cp, 0, "Faulted", "2026-03-10T12:00:00Z", "OtherError")   # still faulted
    await call(parse, cp, "SecurityEventNotification",
               {"type": "TamperDetectionActivated", "timestamp": "2026-03-10T13:00:00Z", "techInfo": "door open"})
    now = await db.fetchval("SELECT now()")
    rows = await db.fetch("SELECT kind, connector_id, started_at, ended_at, duration, ongoing, status, error_code, "
                          "info, vendor_id, vendor_error_code, event_type, critical, tech_info "
                          "FROM reports.faults WHERE charge_point_id = $1 ORDER BY started_at", cp)
    assert [tuple(r) for r in rows] == [
        ("status", 1, at("2026-03-10T10:00:00Z"), at("2026-03-10T10:15:00Z"), timedelta(minutes=15), False,
         "Faulted", "GroundFailure", "earth leak", "com.example", "E42", None, None, None),
        ("status", 1, at("2026-03-10T11:00:00Z"), at("2026-03-10T11:20:00Z"), timedelta(minutes=20), False,
         "Available", "HighTemperature", None, None, None, None, None, None),
        ("status", 0, at("2026-03-10T12:00:00Z"), None, now - at("2026-03-10T12:00:00Z"), True,
         "Faulted", "OtherError", None, None, None, None, None, None),
        ("security_event", None, at("2026-03-10T13:00:00Z"), None, None, False,
         None, None, None, None, None, "TamperDetectionActivated", True, "door open")]


# -- settings, sites -------------------------------------------------------------------


async def test_report_time_zone_is_a_time_zone_name(db, fails):
    assert await db.fetchval("SELECT value FROM ocpp.settings WHERE key = 'report_time_zone'") == "UTC"
    for wrong in ("Mars/Olympus_Mons", "", "+02"):
        async with fails(asyncpg.InvalidParameterValueError, match="report_time_zone"):
            await db.execute("SELECT ocpp.set_setting('report_time_zone', $1)", wrong)
    await db.execute("SELECT ocpp.set_setting('report_time_zone', 'America/New_York')")
    assert await db.fetchval("SELECT value FROM ocpp.settings WHERE key = 'report_time_zone'") == "America/New_York"


async def test_sites_group_the_reports(db, parse, cp, fails):
    await db.execute("SELECT ocpp.add_site('depot')")
    await db.execute("SELECT ocpp.add_site('depot', 'Depot North', 'the yard')")
    await db.execute("SELECT ocpp.add_site('depot', description => NULL, address => 'Quay 1')")
    assert tuple(await db.fetchrow("SELECT id, name, description, address, charge_points FROM ocpp.sites")) == (
        "depot", "Depot North", "the yard", "Quay 1", 0)
    async with fails(asyncpg.NoDataFoundError, match="no site"):
        await db.execute("SELECT ocpp.set_site($1, 'nowhere')", cp)
    async with fails(asyncpg.NoDataFoundError, match="no charge point"):
        await db.execute("SELECT ocpp.set_site('CP-NONE', 'depot')")
    async with fails(asyncpg.InvalidParameterValueError):
        await db.execute("SELECT ocpp.add_site('')")

    tid = await start(parse, cp, 1, 0, "2026-03-10T10:00:00Z")
    await stop(parse, cp, tid, 1000, "2026-03-10T11:00:00Z")
    await refresh(db)
    await db.execute("SELECT ocpp.set_site($1, 'depot')", cp)
    # The current site, for past days too, without a refresh.
    assert await db.fetchval("SELECT count(*) FROM ocpp.sites WHERE charge_points = 1") == 1
    for view in ("sessions", "energy_by_day", "chargers"):
        assert await db.fetchval(f"SELECT site || ' ' || site_name FROM reports.{view} "
                                 "WHERE charge_point_id = $1", cp) == "depot Depot North"
    assert await db.fetchval("SELECT ocpp.remove_site('depot')") is True
    assert await db.fetchval("SELECT site FROM reports.chargers WHERE charge_point_id = $1", cp) is None
    assert await db.fetchval("SELECT ocpp.remove_site('depot')") is False


# -- the status page's snapshot ----------------------------------------------------------


async def test_live_status_is_what_a_status_page_shows(db, parse, cp):
    await db.execute("SELECT ocpp.add_charge_point('CP-S')")
    await db.execute("SELECT * FROM ocpp.connect($1, 'node-a')", cp)
    await call(parse, cp, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
    await status(parse, cp, 1, "Charging", "2026-03-10T10:00:00Z")
    tid = await start(parse, cp, 1, 1000, "2026-03-10T10:00:00Z")
    await meter(parse, cp, 1, tid, "2026-03-10T10:30:00Z", energy("3250"))

    snapshot = json.loads(await db.fetchval("SELECT reports.live_status()::text"))
    assert snapshot["complete"] is True
    assert [c["id"] for c in snapshot["chargers"]] == [cp, "CP-S"]
    charger = snapshot["chargers"][0]
    assert (charger["connected"], charger["registration_status"], charger["ocpp_version"]) == (True, "Accepted", "1.6")
    assert charger["last_seen_at"] is not None
    assert charger["connectors"] == [{"evse_id": 1, "connector_id": 1, "status": "Charging", "error_code": "NoError",
                                      "since": "2026-03-10T10:00:00+00:00"}]
    assert charger["sessions"] == [{"transaction_id": tid, "evse_id": 1, "connector_id": 1,
                                    "started_at": "2026-03-10T10:00:00+00:00", "energy_kwh": 2.25}]
    assert TAG not in json.dumps(snapshot)
    only = json.loads(await db.fetchval("SELECT reports.live_status(ARRAY['CP-S'])::text"))
    assert (only["complete"], [c["id"] for c in only["chargers"]]) == (False, ["CP-S"])
    assert only["chargers"][0]["connectors"] == [] and only["chargers"][0]["sessions"] == []


# -- roles, documentation ----------------------------------------------------------------


async def report_relations(db: asyncpg.Connection) -> list[str]:
    return [r["name"] for r in await db.fetch(
        "SELECT c.oid::regclass::text AS name FROM pg_class AS c "
        "WHERE c.relnamespace = 'reports'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p', 'f') ORDER BY 1")]


async def test_the_reader_reads_every_report(db, parse, cp, fails):
    tid = await start(parse, cp, 1, 0, "2026-03-10T10:00:00Z")
    await stop(parse, cp, tid, 1000, "2026-03-10T11:00:00Z")
    await status(parse, cp, 1, "Faulted", "2026-03-10T10:30:00Z", "GroundFailure")
    await db.execute("SELECT * FROM ocpp.connect($1, 'node-a')", cp)
    await refresh(db)
    names = await report_relations(db)
    assert set(names) >= {"reports.sessions", "reports.energy_by_day", "reports.connector_utilization",
                          "reports.charger_availability", "reports.faults", "reports.chargers", "reports.refreshed"}
    await db.execute("SET ROLE pgcsms_reader")
    try:
        for name in names:
            assert await db.fetch(f"SELECT * FROM {name}"), f"{name} is empty"
        assert await db.fetchval("SELECT count(*) FROM ocpp.sites") == 0
        assert await db.fetchval("SELECT count(*) FROM ocpp.connection_log") == 1
        assert await db.fetchval("SELECT reports.live_status() IS NOT NULL")
        async with fails(asyncpg.InsufficientPrivilegeError):
            await db.execute("SELECT reports.refresh()")
        async with fails(asyncpg.InsufficientPrivilegeError):
            await db.execute("SELECT ocpp.add_site('x')")
        async with fails(asyncpg.InsufficientPrivilegeError):
            await db.execute("SELECT 1 FROM pgcsms.report_energy_days")
        await db.execute("RESET ROLE; SET ROLE pgcsms_operator")
        await db.execute("SELECT reports.refresh()")
        await db.execute("SELECT ocpp.add_site('x'), ocpp.set_site($1, 'x')", cp)
        # The proxy: its status page's snapshot, no report.
        await db.execute("RESET ROLE; SET ROLE pgcsms_proxy")
        assert await db.fetchval("SELECT reports.live_status() IS NOT NULL")
        for name in names:
            async with fails(asyncpg.InsufficientPrivilegeError):
                await db.execute(f"SELECT 1 FROM {name}")
    finally:
        await db.execute("RESET ROLE")


async def test_every_report_is_documented_and_no_function_is_public(db):
    assert await db.fetchval("SELECT obj_description('reports'::regnamespace, 'pg_namespace')")
    undocumented = await db.fetch("""
        SELECT c.oid::regclass::text AS name FROM pg_class AS c
         WHERE c.relnamespace = 'reports'::regnamespace AND c.relkind IN ('v', 'm')
           AND obj_description(c.oid, 'pg_class') IS NULL
        UNION ALL
        SELECT p.oid::regprocedure::text FROM pg_proc AS p
         WHERE p.pronamespace IN ('reports'::regnamespace, 'ocpp'::regnamespace)
           AND p.proname IN ('refresh', 'live_status', 'event_time', 'add_site', 'set_site', 'remove_site')
           AND obj_description(p.oid, 'pg_proc') IS NULL""")
    assert [r["name"] for r in undocumented] == []
    assert await db.fetch("SELECT relname FROM pg_class WHERE relnamespace = 'reports'::regnamespace "
                          "AND relkind = 'r'") == []
    loose = await db.fetch("""
        SELECT p.oid::regprocedure::text AS name FROM pg_proc AS p
         WHERE p.pronamespace = 'reports'::regnamespace
           AND (has_function_privilege('public', p.oid, 'EXECUTE')
                OR (p.prosecdef AND NOT EXISTS (SELECT FROM unnest(p.proconfig) AS c WHERE c LIKE 'search_path=%')))""")
    assert [r["name"] for r in loose] == []


async def test_a_charge_point_is_registered_at_its_site(db):
    await db.execute("SELECT ocpp.add_site('depot', 'The depot')")
    await db.execute("SELECT ocpp.add_charge_point('CP-S', site => 'depot')")
    assert await db.fetchval("SELECT site FROM reports.chargers WHERE charge_point_id = 'CP-S'") == "depot"
    await db.execute("SELECT ocpp.add_charge_point('CP-S', description => 'again')")  # NULL leaves it there
    assert await db.fetchval("SELECT charge_points FROM ocpp.sites WHERE id = 'depot'") == 1
    with pytest.raises(asyncpg.NoDataFoundError, match="no site"):
        await db.execute("SELECT ocpp.add_charge_point('CP-T', site => 'nowhere')")
