"""A 2.0.1 station acts on the registration its last BootNotification answer told it (B01-B03)."""

from __future__ import annotations

import json

import pytest
from test_provisioning import BOOT, NODE, STATION, call, online

STATUS = {"timestamp": "2026-01-01T10:00:00Z", "connectorStatus": "Available", "evseId": 1, "connectorId": 1}


async def claimed_action(db, epoch: int) -> str | None:
    row = await db.fetchrow("SELECT action FROM ocpp.next_command($1, $2, $3)", STATION, NODE, epoch)
    return None if row is None else row["action"]


async def test_an_operator_s_change_does_not_refuse_what_a_station_told_accepted_sends(db):
    await online(db)
    assert (await call(db, "BootNotification", BOOT)).result["status"] == "Accepted"
    await db.execute("SELECT ocpp.add_charge_point($1, 'Rejected')", STATION)
    # The station still believes it is Accepted until it boots again: its messages are kept.
    assert (await call(db, "StatusNotification", STATUS)).error_code is None
    assert (await call(db, "BootNotification", BOOT)).result["status"] == "Rejected"
    assert (await call(db, "StatusNotification", STATUS)).error_code == "SecurityError"


async def test_nothing_is_sent_to_a_station_told_rejected_even_once_accepted(db):
    station = await online(db, status="Rejected")
    assert (await call(db, "BootNotification", BOOT)).result["status"] == "Rejected"
    await db.execute("SELECT ocpp.add_charge_point($1, 'Accepted')", STATION)  # B03.FR.03: it boots first
    await db.execute("SELECT ocpp.get_base_report($1)", STATION)
    assert await claimed_action(db, station.epoch) is None
    assert (await call(db, "BootNotification", BOOT)).result["status"] == "Accepted"
    assert await claimed_action(db, station.epoch) == "GetBaseReport"


async def test_a_station_told_pending_gets_only_what_b02_allows_until_it_boots_accepted(db):
    station = await online(db, status="Pending")
    assert (await call(db, "BootNotification", BOOT)).result["status"] == "Pending"
    await db.execute("SELECT ocpp.reset($1)", STATION)
    await db.execute("SELECT ocpp.add_charge_point($1, 'Accepted')", STATION)  # queues TriggerMessage(Boot)
    # The Reset, older, waits; the TriggerMessage (allowed while Pending) goes first.
    assert await claimed_action(db, station.epoch) == "TriggerMessage"
    trigger = await db.fetchval("SELECT id FROM ocpp.commands WHERE action = 'TriggerMessage'")
    await db.execute("SELECT ocpp.complete_command($1, $2, $3::jsonb, NULL, NULL, $4)", STATION, str(trigger),
                     json.dumps({"status": "Accepted"}), NODE)
    assert (await call(db, "BootNotification", {**BOOT, "reason": "Triggered"})).result["status"] == "Accepted"
    assert await claimed_action(db, station.epoch) == "Reset"


@pytest.mark.parametrize(("version", "ours", "told", "sending", "governs"), [
    ("1.6", "Rejected", "Accepted", False, "Rejected"),
    ("2.0.1", "Accepted", None, True, "Accepted"),
    ("2.0.1", "Rejected", "Accepted", False, "Accepted"),
    ("2.0.1", "Rejected", "Accepted", True, "Rejected"),
    ("2.0.1", "Accepted", "Pending", True, "Pending"),
    ("2.0.1", "Pending", "Accepted", True, "Pending"),
    ("2.0.1", "Accepted", "Rejected", True, "Rejected"),
])
async def test_registration_for(db, version, ours, told, sending, governs):
    assert await db.fetchval("SELECT ocpp._registration_for($1, $2, $3, $4)", version, ours, told, sending) == governs
