"""StatusNotification: current state and history; charger clocks that are far off."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pgcsms.proxy.ocppj import Validator

pytestmark = pytest.mark.rollback


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def status(parse, cp, state="Available", *, connector=1, timestamp=None, error="NoError", **extra):
    payload = {"connectorId": connector, "errorCode": error, "status": state, **extra}
    if timestamp is not None:
        payload["timestamp"] = timestamp
    reply = await parse(cp, "StatusNotification", payload)
    assert reply.result == {}, reply
    return reply


async def current(db, cp, connector=1):
    return await db.fetchrow("SELECT * FROM ocpp.connectors WHERE charge_point_id = $1 AND connector_id = $2",
                             cp, connector)


async def clock_skew(db, cp):
    return await db.fetchval("SELECT clock_skew FROM ocpp.charge_points WHERE id = $1", cp)


async def test_current_state_and_history(db, parse, cp):
    now = await db.fetchval("SELECT now()")
    await status(parse, cp, "Preparing", timestamp=iso(now - timedelta(minutes=2)))
    await status(parse, cp, "Faulted", timestamp=iso(now - timedelta(minutes=1)), error="GroundFailure",
                 info="earth leak", vendorId="com.example", vendorErrorCode="E42")
    await status(parse, cp, "Available", connector=0)
    row = await current(db, cp)
    assert (row["evse_id"], row["status"], row["error_code"], row["info"], row["vendor_id"],
            row["vendor_error_code"], row["status_at"]) == (
        1, "Faulted", "GroundFailure", "earth leak", "com.example", "E42", now - timedelta(minutes=1))
    assert (await current(db, cp, 0))["status"] == "Available"
    history = await db.fetch("SELECT * FROM ocpp.status_history WHERE charge_point_id = $1 ORDER BY id", cp)
    assert [(h["connector_id"], h["status"], h["error_code"]) for h in history] == [
        (1, "Preparing", "NoError"), (1, "Faulted", "GroundFailure"), (0, "Available", "NoError")]
    assert history[2]["charger_at"] is None and history[2]["received_at"] is not None


async def test_a_replayed_older_notification_goes_to_history_only(db, parse, cp):
    now = await db.fetchval("SELECT now()")
    await status(parse, cp, "Charging", timestamp=iso(now - timedelta(minutes=1)))
    await status(parse, cp, "Available", timestamp=iso(now - timedelta(hours=1)))
    assert (await current(db, cp))["status"] == "Charging"
    assert await db.fetchval("SELECT count(*) FROM ocpp.status_history") == 2


async def test_a_notification_without_time_always_applies(db, parse, cp):
    now = await db.fetchval("SELECT now()")
    await status(parse, cp, "Charging", timestamp=iso(now))
    await status(parse, cp, "Finishing")
    assert (await current(db, cp))["status"] == "Finishing"
    await status(parse, cp, "Available", timestamp=iso(now - timedelta(hours=1)))
    assert (await current(db, cp))["status"] == "Available"


async def test_a_later_notification_clears_error_fields(db, parse, cp):
    await status(parse, cp, "Faulted", error="OtherError", info="x", vendorErrorCode="E1")
    await status(parse, cp, "Available")
    row = await current(db, cp)
    assert (row["status"], row["error_code"], row["info"], row["vendor_error_code"]) == (
        "Available", "NoError", None, None)


async def test_status_of_each_charger_is_its_own(db, parse, cp):
    await db.execute("SELECT ocpp.add_charge_point('CP-2')")
    await status(parse, cp, "Charging")
    await status(parse, "CP-2", "Unavailable")
    assert (await current(db, cp))["status"] == "Charging"
    assert (await current(db, "CP-2"))["status"] == "Unavailable"


# -- charger clocks ---------------------------------------------------------------

async def test_a_clock_in_the_future_is_flagged_once_and_cleared_later(db, parse, cp):
    now = await db.fetchval("SELECT now()")
    await status(parse, cp, timestamp=iso(now + timedelta(hours=1)))
    skew = await clock_skew(db, cp)
    assert timedelta(minutes=59) < skew <= timedelta(hours=1)
    await status(parse, cp, timestamp=iso(now + timedelta(hours=2)))
    [anomaly] = await db.fetch("SELECT * FROM ocpp.anomalies")
    assert anomaly["kind"] == "clock_skew"
    assert json.loads(anomaly["detail"])["skew"].startswith("01:")
    await status(parse, cp, timestamp=iso(now))
    assert await clock_skew(db, cp) is None
    assert await db.fetchval("SELECT count(*) FROM ocpp.anomalies") == 1


async def test_an_unset_clock_is_flagged(db, parse, cp):
    await status(parse, cp, timestamp="1970-01-01T00:05:00Z")
    assert await clock_skew(db, cp) < -timedelta(days=365 * 50)
    assert await db.fetchval("SELECT kind FROM ocpp.anomalies") == "clock_skew"


async def test_within_tolerance_or_in_the_past_is_fine(db, parse, cp):
    now = await db.fetchval("SELECT now()")
    await status(parse, cp, timestamp=iso(now + timedelta(seconds=290)))
    await status(parse, cp, timestamp=iso(now - timedelta(days=3)))  # replayed after an outage
    assert await clock_skew(db, cp) is None
    assert await db.fetchval("SELECT count(*) FROM ocpp.anomalies") == 0


async def test_tolerance_is_a_setting(db, parse, cp):
    await db.execute("SELECT ocpp.set_setting('clock_skew_tolerance', '10')")
    now = await db.fetchval("SELECT now()")
    await status(parse, cp, timestamp=iso(now + timedelta(seconds=30)))
    assert await clock_skew(db, cp) is not None


@pytest.mark.parametrize("action", ["StartTransaction", "StopTransaction"])
async def test_transactions_check_the_clock_too(db, parse, cp, action):
    payload = {"StartTransaction": {"connectorId": 1, "idTag": "T", "meterStart": 0,
                                    "timestamp": "1970-01-01T00:00:00Z"},
               "StopTransaction": {"transactionId": 5, "meterStop": 0, "timestamp": "1970-01-01T00:00:00Z"}}
    await parse(cp, action, payload[action])
    assert await clock_skew(db, cp) is not None


async def test_a_charger_with_an_unset_clock_still_updates_its_state(db, parse, cp):
    now = await db.fetchval("SELECT now()")
    await status(parse, cp, "Available", timestamp=iso(now - timedelta(minutes=1)))
    # The clock resets after a power cut: notifications dated 1970 are news, not replays.
    await status(parse, cp, "Faulted", timestamp="1970-01-01T00:00:10Z", error="PowerSwitchFailure")
    assert (await current(db, cp))["status"] == "Faulted"


async def test_a_clock_set_right_after_running_ahead_still_updates_state(db, parse, cp):
    now = await db.fetchval("SELECT now()")
    await status(parse, cp, "Charging", timestamp=iso(now + timedelta(days=1)))
    await status(parse, cp, "Available", timestamp=iso(now))
    assert (await current(db, cp))["status"] == "Available"
    assert await clock_skew(db, cp) is None


# -- charger timestamps as the schema check lets them through ----------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00+00:00"),
    ("2024-05-01t12:00:00z", "2024-05-01T12:00:00+00:00"),
    ("2024-05-01T12:00:00.123456789Z", "2024-05-01T12:00:00.123457+00:00"),
    ("2024-05-01T14:00:00+02:00", "2024-05-01T12:00:00+00:00"),
    ("2024-05-01T14:00:00+0200", "2024-05-01T12:00:00+00:00"),
    ("2024-05-01T14:00:00+02", "2024-05-01T12:00:00+00:00"),
    ("2024-05-01T07:00:00-05:00", "2024-05-01T12:00:00+00:00"),
    ("2024-05-01T12:00:00", "2024-05-01T12:00:00+00:00"),  # no offset: UTC, whatever the session says
    ("2024-05-01 12:00", "2024-05-01T12:00:00+00:00"),
    ("2024-05-01T12:00", "2024-05-01T12:00:00+00:00"),
    ("2024-05-01t14:00+02:00", "2024-05-01T12:00:00+00:00"),
    ("2024-02-29T23:59:59.999Z", "2024-02-29T23:59:59.999000+00:00"),
    ("2024-05-01T12:00:00.5", "2024-05-01T12:00:00.500000+00:00"),
])
async def test_charger_timestamps(db, value, expected):
    # What the proxy's schema check lets through, PostgreSQL must read the same way.
    Validator("1.6").check_request("StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                                          "status": "Available", "timestamp": value})
    await db.execute("SET LOCAL timezone = 'America/New_York'")
    got = await db.fetchval("SELECT ocpp._ts($1)", value)
    assert got == datetime.fromisoformat(expected)
