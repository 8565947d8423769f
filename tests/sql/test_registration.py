"""BootNotification, the unknown-charger policy, Heartbeat, connections, charger and setting management."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

pytestmark = pytest.mark.rollback

BOOT = {"chargePointVendor": "Vendor", "chargePointModel": "Model"}
FULL_BOOT = {**BOOT, "chargePointSerialNumber": "SN-1", "chargeBoxSerialNumber": "BOX-1",
             "firmwareVersion": "1.2.3", "iccid": "ICCID", "imsi": "IMSI", "meterType": "MT",
             "meterSerialNumber": "MSN"}


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# -- BootNotification ------------------------------------------------------------

@pytest.mark.parametrize(("status", "interval"), [("Accepted", 300), ("Pending", 60), ("Rejected", 60)])
async def test_boot_answers_the_registration_status(db, parse, status, interval):
    await db.execute("SELECT ocpp.add_charge_point('CP-1', $1)", status)
    reply = await parse("CP-1", "BootNotification", BOOT)
    assert reply.result["status"] == status
    assert reply.result["interval"] == interval
    assert abs(_time(reply.result["currentTime"]) - datetime.now(UTC)) < timedelta(seconds=5)
    assert reply.result["currentTime"].endswith("Z")


async def test_boot_interval_follows_the_settings(db, parse):
    await db.execute("SELECT ocpp.set_setting('heartbeat_interval', '900')")
    await db.execute("SELECT ocpp.set_setting('pending_retry_interval', '15')")
    await db.execute("SELECT ocpp.add_charge_point('CP-A'), ocpp.add_charge_point('CP-P', 'Pending')")
    assert (await parse("CP-A", "BootNotification", BOOT)).result["interval"] == 900
    assert (await parse("CP-P", "BootNotification", BOOT)).result["interval"] == 15


async def test_boot_stores_what_the_charger_says(db, parse, cp):
    assert (await parse(cp, "BootNotification", FULL_BOOT)).result["status"] == "Accepted"
    row = await db.fetchrow("SELECT * FROM ocpp.charge_points WHERE id = $1", cp)
    assert (row["vendor"], row["model"], row["serial_number"], row["charge_box_serial_number"],
            row["firmware_version"], row["iccid"], row["imsi"], row["meter_type"],
            row["meter_serial_number"]) == ("Vendor", "Model", "SN-1", "BOX-1", "1.2.3", "ICCID", "IMSI",
                                            "MT", "MSN")
    assert row["last_boot_at"] is not None
    # A later boot tells the new truth, including what is no longer said.
    await parse(cp, "BootNotification", {**BOOT, "firmwareVersion": "2.0"})
    row = await db.fetchrow("SELECT firmware_version, serial_number FROM ocpp.charge_points WHERE id = $1", cp)
    assert (row["firmware_version"], row["serial_number"]) == ("2.0", None)


@pytest.mark.parametrize(("policy", "status"), [("accept", "Accepted"), ("pending", "Pending")])
async def test_unknown_charger_is_registered_per_policy(db, parse, policy, status):
    await db.execute("SELECT ocpp.set_setting('unknown_charge_points', $1)", policy)
    reply = await parse("NEW-1", "BootNotification", BOOT)
    assert reply.result["status"] == status
    row = await db.fetchrow("SELECT registration_status, vendor FROM ocpp.charge_points WHERE id = 'NEW-1'")
    assert (row["registration_status"], row["vendor"]) == (status, "Vendor")


async def test_unknown_charger_is_pending_by_default(db, parse):
    assert (await parse("NEW-1", "BootNotification", BOOT)).result["status"] == "Pending"


async def test_unknown_charger_under_reject_is_refused_and_not_registered(db, parse):
    await db.execute("SELECT ocpp.set_setting('unknown_charge_points', 'reject')")
    reply = await parse("NEW-1", "BootNotification", BOOT)
    assert reply.error_code == "SecurityError"
    assert await db.fetchval("SELECT count(*) FROM ocpp.charge_points") == 0
    # ...but the attempt is journaled.
    assert await db.fetchval("SELECT count(*) FROM ocpp.message_log WHERE charge_point_id = 'NEW-1'") == 2


async def test_operator_accepting_a_pending_charger(db, parse):
    assert (await parse("NEW-1", "BootNotification", BOOT)).result["status"] == "Pending"
    await db.execute("SELECT ocpp.add_charge_point('NEW-1', 'Accepted', 'by the door')")
    assert (await parse("NEW-1", "BootNotification", BOOT)).result["status"] == "Accepted"
    row = await db.fetchrow("SELECT description, vendor FROM ocpp.charge_points WHERE id = 'NEW-1'")
    assert (row["description"], row["vendor"]) == ("by the door", "Vendor")


# -- Heartbeat and last_seen_at ------------------------------------------------------

async def test_heartbeat_answers_current_time(parse, cp):
    reply = await parse(cp, "Heartbeat", {})
    assert abs(_time(reply.result["currentTime"]) - datetime.now(UTC)) < timedelta(seconds=5)


async def test_any_message_refreshes_last_seen_at_at_most_every_few_seconds(db, parse, cp):
    await parse(cp, "Heartbeat")
    first = await db.fetchval("SELECT last_seen_at FROM ocpp.charge_points WHERE id = $1", cp)
    assert first is not None
    await db.execute("UPDATE pgcsms.charge_points SET last_seen_at = $2 WHERE id = $1",
                     cp, first - timedelta(seconds=2))
    await parse(cp, "Heartbeat")
    assert await db.fetchval("SELECT last_seen_at FROM ocpp.charge_points WHERE id = $1",
                             cp) == first - timedelta(seconds=2)
    await db.execute("UPDATE pgcsms.charge_points SET last_seen_at = $2 WHERE id = $1",
                     cp, first - timedelta(minutes=1))
    await parse(cp, "Heartbeat")
    assert await db.fetchval("SELECT last_seen_at FROM ocpp.charge_points WHERE id = $1", cp) > first - timedelta(
        seconds=1)


# -- connections -----------------------------------------------------------------------

async def test_connect_and_disconnect(db, cp):
    row = await db.fetchrow("SELECT * FROM ocpp.connect($1, 'node-a', '10.0.0.7', '1.6')", cp)
    assert (row["accepted"], row["http_status"], row["ping_interval"], row["has_commands"]) == (True, None, 60, False)
    state = await db.fetchrow("SELECT * FROM ocpp.charge_points WHERE id = $1", cp)
    assert (state["connected"], state["node_id"], state["remote_address"], state["ocpp_version"]) == (
        True, "node-a", "10.0.0.7", "1.6")
    assert state["connected_at"] is not None and state["last_seen_at"] is not None
    assert await db.fetchval("SELECT ocpp.disconnect($1, $2)", cp, row["epoch"]) is True
    state = await db.fetchrow("SELECT connected, disconnected_at FROM ocpp.charge_points WHERE id = $1", cp)
    assert state["connected"] is False and state["disconnected_at"] is not None
    assert await db.fetchval("SELECT ocpp.disconnect($1, $2)", cp, row["epoch"]) is False


async def test_a_stale_epoch_cannot_disconnect_a_newer_connection(db, cp):
    old = await db.fetchval("SELECT epoch FROM ocpp.connect($1, 'node-a')", cp)
    new = await db.fetchval("SELECT epoch FROM ocpp.connect($1, 'node-b')", cp)
    assert new > old
    assert await db.fetchval("SELECT ocpp.disconnect($1, $2)", cp, old) is False
    row = await db.fetchrow("SELECT connected, node_id FROM ocpp.charge_points WHERE id = $1", cp)
    assert (row["connected"], row["node_id"]) == (True, "node-b")
    assert await db.fetchval("SELECT ocpp.disconnect($1, $2)", cp, new) is True


async def test_connect_ping_interval_per_charger_or_setting(db):
    await db.execute("SELECT ocpp.add_charge_point('CP-Q', ping_interval => 0)")
    await db.execute("SELECT ocpp.add_charge_point('CP-D')")
    await db.execute("SELECT ocpp.set_setting('ping_interval', '25')")
    assert await db.fetchval("SELECT ping_interval FROM ocpp.connect('CP-Q', 'n')") == 0
    assert await db.fetchval("SELECT ping_interval FROM ocpp.connect('CP-D', 'n')") == 25


async def test_connect_applies_the_unknown_charger_policy(db):
    row = await db.fetchrow("SELECT * FROM ocpp.connect('NEW-1', 'n')")
    assert row["accepted"] is True
    assert await db.fetchval("SELECT registration_status FROM ocpp.charge_points WHERE id = 'NEW-1'") == "Pending"
    await db.execute("SELECT ocpp.set_setting('unknown_charge_points', 'reject')")
    row = await db.fetchrow("SELECT * FROM ocpp.connect('NEW-2', 'n')")
    assert (row["accepted"], row["http_status"], row["epoch"]) == (False, 404, None)
    assert await db.fetchval("SELECT count(*) FROM ocpp.charge_points WHERE id = 'NEW-2'") == 0
    # A registered charger is still let in under reject, even a Rejected one: it may boot.
    await db.execute("SELECT ocpp.add_charge_point('CP-R', 'Rejected')")
    assert await db.fetchval("SELECT accepted FROM ocpp.connect('CP-R', 'n')") is True


async def test_connect_and_disconnect_notify(fresh_db):
    db = fresh_db
    events: asyncio.Queue[dict] = asyncio.Queue()
    await db.add_listener("ocpp_event", lambda *args: events.put_nowait(json.loads(args[3])))
    await db.execute("SELECT ocpp.add_charge_point('CP-1')")
    epoch = await db.fetchval("SELECT epoch FROM ocpp.connect('CP-1', 'node-a')")
    assert await asyncio.wait_for(events.get(), 5) == {
        "event": "connected", "charge_point_id": "CP-1", "node_id": "node-a", "epoch": epoch}
    await db.fetchval("SELECT ocpp.disconnect('CP-1', $1)", epoch)
    assert await asyncio.wait_for(events.get(), 5) == {"event": "disconnected", "charge_point_id": "CP-1"}


async def test_node_started_releases_only_its_own_chargers(db):
    for cp, node in (("CP-1", "node-a"), ("CP-2", "node-a"), ("CP-3", "node-b")):
        await db.execute("SELECT ocpp.add_charge_point($1)", cp)
        await db.execute("SELECT ocpp.connect($1, $2)", cp, node)
    assert await db.fetchval("SELECT ocpp.node_started('node-a')") == 2
    rows = await db.fetch("SELECT id, connected FROM ocpp.charge_points ORDER BY id")
    assert [(r["id"], r["connected"]) for r in rows] == [("CP-1", False), ("CP-2", False), ("CP-3", True)]
    assert await db.fetchval("SELECT ocpp.node_started('node-a')") == 0


# -- management: add_charge_point, set_setting --------------------------------------

@pytest.mark.parametrize("identity", ["", "x" * 49, "CP\n1", "CP\x7f", None])
async def test_add_charge_point_refuses_bad_ids(db, fails, identity):
    async with fails(asyncpg.InvalidParameterValueError):
        await db.execute("SELECT ocpp.add_charge_point($1)", identity)


@pytest.mark.parametrize("status", ["accepted", "Blocked", ""])
async def test_add_charge_point_refuses_bad_status(db, fails, status):
    async with fails(asyncpg.InvalidParameterValueError, match="registration_status"):
        await db.execute("SELECT ocpp.add_charge_point('CP-1', $1)", status)


async def test_add_charge_point_updates_and_remove(db):
    await db.execute("SELECT ocpp.add_charge_point('CP-1', 'Pending', 'first', 30)")
    await db.execute("SELECT ocpp.add_charge_point('CP-1', 'Accepted')")
    row = await db.fetchrow("SELECT * FROM ocpp.charge_points WHERE id = 'CP-1'")
    assert (row["registration_status"], row["description"], row["ping_interval"]) == ("Accepted", "first", 30)
    assert await db.fetchval("SELECT ocpp.remove_charge_point('CP-1')") is True
    assert await db.fetchval("SELECT ocpp.remove_charge_point('CP-1')") is False


@pytest.mark.parametrize(("key", "value"), [
    ("unknown_charge_points", "maybe"),
    ("unknown_charge_points", "Accept"),
    ("heartbeat_interval", "-1"),
    ("heartbeat_interval", "5m"),
    ("heartbeat_interval", ""),
    ("pending_retry_interval", "1.5"),
    ("clock_skew_tolerance", "9999999999"),
    ("ping_interval", " 60"),
    ("call_timeout", "thirty"),
    ("no_such_setting", "1"),
])
async def test_set_setting_refuses_bad_values(db, fails, key, value):
    before = await db.fetchval("SELECT value FROM ocpp.settings WHERE key = $1", key)
    async with fails(asyncpg.InvalidParameterValueError):
        await db.execute("SELECT ocpp.set_setting($1, $2)", key, value)
    assert await db.fetchval("SELECT value FROM ocpp.settings WHERE key = $1", key) == before


async def test_set_setting_unknown_key_hints_at_the_list(db, fails):
    async with fails(asyncpg.InvalidParameterValueError) as caught:
        await db.execute("SELECT ocpp.set_setting('heartbeat', '60')")
    assert "ocpp.settings" in caught.value.hint


async def test_set_setting_changes_value(db):
    await db.execute("SELECT ocpp.set_setting('call_timeout', '45')")
    assert await db.fetchval("SELECT value FROM ocpp.settings WHERE key = 'call_timeout'") == "45"
